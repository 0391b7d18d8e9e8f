"""The PLC signal map: one table, no overlaps, one-request blocks, fail-safe verdict slot layout."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.interfaces import Verdict
from drivers.plc import signals as sig
from simulators.line import LineLayout, VirtualLine
from simulators.plc import PlcSimulator


def test_no_two_signals_share_a_register() -> None:
    for area in sig.Area:
        owners = Counter(
            address for s in sig.SIGNALS if s.area is area for address in range(s.address, s.end)
        )
        shared = {address: n for address, n in owners.items() if n > 1}
        assert not shared, f"{area.value} registers with two owners: {shared}"


def test_names_and_node_ids_are_unique_and_come_from_the_table() -> None:
    names = [s.name for s in sig.SIGNALS]
    assert len(names) == len(set(names))
    for s in sig.SIGNALS:
        assert s.node_id == s.name
        assert s.browse_path == (sig.OPCUA_ROOT, *s.name.split("."))
        assert sig.signal(s.name) is s
    # no variable's browse path is a prefix of another's (a node cannot be variable and folder)
    paths = {s.browse_path for s in sig.SIGNALS}
    assert not {p[:n] for p in paths for n in range(1, len(p))} & paths


def test_every_required_signal_is_in_the_map() -> None:
    required = {
        "Plc.Heartbeat",
        "Host.Heartbeat",
        "Host.HeartbeatTimeoutMs",
        "Line.State",
        "Line.Command",
        "Line.CommandCounter",
        "Line.CommandAck",
        "Line.CommandResult",
        "Stations.Printer.LastSeq",
        "Stations.Camera.LastSeq",
        "Stations.Gate.LastSeq",
        "GateEvents.WriteIndex",
        "Counters.PacksIn",
        "Counters.Passed",
        "Counters.Rejected",
        "Counters.Unconfirmed",
        "Plc.Fault",
    }
    assert required <= set(sig.BY_NAME)
    assert len(sig.VERDICT_RING) == sig.VERDICT_SLOTS
    assert len(sig.EVENT_RING) == sig.EVENT_SLOTS


def test_the_host_writes_holding_registers_and_the_plc_input_registers() -> None:
    host_prefixes = ("Host.", "VerdictRing.", "Line.Command", "Line.CommandCounter")
    for s in sig.SIGNALS:
        host_written = s.name.startswith(host_prefixes) and s.name not in {
            "Line.CommandAck",
            "Line.CommandResult",
        }
        assert (s.area is sig.Area.HOLDING) == host_written, s.name


def test_snapshot_and_gate_events_are_each_one_modbus_read() -> None:
    for block in (sig.SNAPSHOT, sig.EVENT_BLOCK):
        area, _, count = sig.span(block)
        assert area is sig.Area.INPUT
        assert count <= sig.MAX_MODBUS_READ


def test_a_verdict_slot_is_one_write_with_the_seq_last() -> None:
    for k, slot in enumerate(sig.VERDICT_RING):
        area, first, count = sig.span(slot.signals)
        assert area is sig.Area.HOLDING
        assert count == 4
        assert slot.verdict.address == first
        assert slot.seq.address == first + 2  # the seq words are written after verdict and reason
        assert sig.verdict_slot(k + 5 * sig.VERDICT_SLOTS) is slot


def test_u32_values_are_high_word_first() -> None:
    assert sig.PACKS_IN.encode(0x12345678) == [0x1234, 0x5678]
    assert sig.PACKS_IN.decode([0x1234, 0x5678]) == 0x12345678


@given(st.integers(min_value=0, max_value=0xFFFFFFFF))
def test_u32_round_trips(value: int) -> None:
    words = sig.GATE_SEQ.encode(value)
    assert all(0 <= w <= 0xFFFF for w in words)
    assert sig.GATE_SEQ.decode(words) == value


def test_a_value_that_does_not_fit_names_the_signal() -> None:
    with pytest.raises(ValueError, match=r"Line\.Command: value 65536"):
        sig.LINE_COMMAND.encode(0x10000)
    with pytest.raises(ValueError, match=r"Stations\.Gate\.LastSeq"):
        sig.GATE_SEQ.encode(-1)


def test_span_refuses_signals_that_are_not_back_to_back() -> None:
    with pytest.raises(ValueError, match=r"Line\.State does not follow"):
        sig.span((sig.COMMAND_ACK, sig.LINE_STATE))


@settings(max_examples=200)
@given(
    old_seq=st.integers(min_value=0, max_value=0xFFFFFFFF - 10 * sig.VERDICT_SLOTS),
    laps=st.integers(min_value=1, max_value=8),
    new_verdict=st.sampled_from([int(v) for v in Verdict]),
    words_applied=st.integers(min_value=0, max_value=4),
)
def test_a_torn_verdict_write_never_passes_a_pack(
    old_seq: int, laps: int, new_verdict: int, words_applied: int
) -> None:
    """The slot held an older pack's GOOD; the host's write for the new pack got only partly in.

    The gate passes the new pack only if the whole write landed and it says GOOD.
    """
    sim = PlcSimulator(VirtualLine(LineLayout()), opcua_port=None)
    slot = sig.verdict_slot(old_seq)
    sim.memory.write_host(slot.verdict.address, sig.encode_values(slot.signals, (1, 0, old_seq)))
    new_seq = old_seq + laps * sig.VERDICT_SLOTS
    words = sig.encode_values(slot.signals, (new_verdict, 7, new_seq))
    sim.memory.write_host(slot.verdict.address, words[:words_applied])  # address order
    passes, _ = sim.gate_decision(new_seq)
    assert passes == (words_applied == 4 and new_verdict == Verdict.GOOD)
