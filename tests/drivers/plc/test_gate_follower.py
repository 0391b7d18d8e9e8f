"""PlcClient's gate event follower over a transport that serves the map from memory."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from drivers.interfaces import GateEvent, GateOutcome
from drivers.plc import signals as sig
from drivers.plc.client import PlcClient


class MemoryPlc(PlcClient):
    """The transport hooks over a dict of signal values; counts the reads."""

    def __init__(self, bulk: bool) -> None:
        super().__init__("memory plc")
        self.bulk_reads_are_cheap = bulk
        self.values = {s: 0 for s in sig.SIGNALS}
        self.values.update({sig.MAP_VERSION_SIGNAL: sig.MAP_VERSION})
        self.values.update({sig.VERDICT_SLOTS_SIGNAL: sig.VERDICT_SLOTS})
        self.values.update({sig.EVENT_SLOTS_SIGNAL: sig.EVENT_SLOTS})
        self.reads = 0

    def gate(self, seq: int, outcome: GateOutcome) -> None:
        """What the PLC does at the gate: the slot first, then the write index."""
        index = self.values[sig.EVENT_WRITE_INDEX]
        slot = sig.event_slot(index)
        self.values[slot.seq], self.values[slot.outcome] = seq, int(outcome)
        self.values[sig.EVENT_WRITE_INDEX] = index + 1

    async def _open(self) -> None:
        pass

    async def _drop(self) -> None:
        pass

    async def _read(self, signals: Sequence[sig.Signal]) -> list[int]:
        self.reads += 1
        return [self.values[s] for s in signals]

    async def _write(self, signals: Sequence[sig.Signal], values: Sequence[int]) -> None:
        self.values.update(zip(signals, values, strict=True))


def outcome_of(seq: int) -> GateOutcome:
    return GateOutcome.PASSED if seq % 3 else GateOutcome.REJECTED_CONFIRMED


@pytest.mark.parametrize("bulk", [True, False], ids=["ring in one read", "index then slots"])
async def test_events_across_the_ring_wrap_come_once_each_in_order(bulk: bool) -> None:
    plc = MemoryPlc(bulk)
    await plc.connect()
    assert await plc.gate_events() == []
    seen: list[GateEvent] = []
    for seq in range(1, 101):  # 2.5 laps of the 40-slot ring, read every 7 events
        plc.gate(seq, outcome_of(seq))
        if seq % 7 == 0:
            seen += await plc.gate_events()
    seen += await plc.gate_events()
    assert seen == [GateEvent(seq, outcome_of(seq)) for seq in range(1, 101)]
    assert plc.events_lost == 0


@pytest.mark.parametrize("bulk", [True, False], ids=["ring in one read", "index then slots"])
async def test_events_overwritten_before_the_read_are_counted_and_the_rest_returned(
    bulk: bool,
) -> None:
    plc = MemoryPlc(bulk)
    await plc.connect()
    await plc.gate_events()
    for seq in range(1, 51):
        plc.gate(seq, outcome_of(seq))
    events = await plc.gate_events()
    assert [e.seq for e in events] == list(range(11, 51))
    assert plc.events_lost == 10


async def test_a_poll_with_nothing_new_reads_once() -> None:
    for bulk in (True, False):
        plc = MemoryPlc(bulk)
        await plc.connect()
        await plc.gate_events()
        before = plc.reads
        assert await plc.gate_events() == []
        assert plc.reads == before + 1
