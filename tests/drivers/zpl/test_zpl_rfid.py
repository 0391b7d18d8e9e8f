"""ZPL RFID commands: the label format's tag encoding per Zebra's RFID Programming Guide, both
ways, and the printer's read-back lines taken out of the host's byte stream wherever they fall."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.interfaces import EncodeOutcome, PrintJob
from drivers.zpl.codec import (
    NEED_DATA,
    SgdValue,
    ZplDeviceConnection,
    ZplHostConnection,
    build_label,
)
from drivers.zpl.labelformat import Label
from drivers.zpl.rfid import (
    encode_commands,
    parse_readback,
    readback_line,
)
from drivers.zpl.status import HostStatus, build_status_reply
from standards.epc.binary import sgtin_epc

GS = "\x1d"
DATA = "0109506000134352" + "17271231" + "10LOT42" + GS + "21SN1"
# SGTIN-96 of (01) 09506000134352 (21) 1234, company prefix 9506000 (7 digits), filter 1
EPC96 = "30364433400D1EC0000004D2"

epc_words = st.integers(min_value=1, max_value=31).flatmap(
    lambda words: st.binary(min_size=2 * words, max_size=2 * words)
)


def parse_one(data: bytes) -> Label:
    conn = ZplDeviceConnection()
    conn.receive_data(data)
    event = conn.next_event()
    assert isinstance(event, Label), event
    return event


def test_the_commands_are_those_of_zebras_rfid_programming_guide() -> None:
    assert sgtin_epc("09506000134352", "1234", 7).hex == EPC96
    assert encode_commands(12, EPC96) == [
        "^RS8,,,1,N^FS",  # Gen 2, one label tried, a void drops the format
        f"^RFW,H,,,A^FD{EPC96}^FS",  # write the EPC bank (word 2 on), PC length adjusted
        "^FN1^RFR,H,2,12,1^FS",  # read 12 bytes of bank 1 from word 2 into field 1
        "^FH\\^HV1,24,RFID seq=12 epc=,\\0D\\0A,L^FS",  # field 1 to the host, per label
    ]


def test_a_job_with_an_epc_has_the_encoding_in_the_same_format() -> None:
    raw = build_label(PrintJob(seq=7, data=DATA, hri=("LOT42",), epc=EPC96))
    assert raw.count(b"^XA") == 1 and raw.count(b"^XZ") == 1
    label = parse_one(raw)
    assert label.seq == 7
    assert label.code is not None and label.code.data == DATA
    assert label.texts == ("LOT42",)  # the EPC is not taken for a text field
    rfid = label.rfid
    assert rfid is not None and rfid.write == EPC96 and rfid.adjust_pc
    assert (rfid.tries, rfid.on_error) == (1, "N")
    assert rfid.read_field == 1 and rfid.read_bytes == 12
    assert rfid.verify is not None and rfid.verify.field == 1 and rfid.verify.per_label
    assert rfid.verify.header == "RFID seq=7 epc=" and rfid.verify.terminator == "\r\n"


def test_a_job_without_an_epc_has_no_rfid_commands() -> None:
    raw = build_label(PrintJob(seq=7, data=DATA))
    assert b"^RF" not in raw and b"^HV" not in raw
    assert parse_one(raw).rfid is None


@pytest.mark.parametrize("epc", ["", "3034A", "XYZ0", "30" * 63])
def test_an_epc_that_is_not_hex_words_is_refused_naming_the_job(epc: str) -> None:
    with pytest.raises(ValueError, match="job 3"):
        build_label(PrintJob(seq=3, data=DATA, epc=epc))


@settings(max_examples=80, deadline=None)
@given(epc=epc_words, seq=st.integers(min_value=0, max_value=2**32 - 1))
def test_any_epc_survives_the_format_and_the_read_back(epc: bytes, seq: int) -> None:
    text = epc.hex().upper()
    label = parse_one(build_label(PrintJob(seq=seq, data=DATA, epc=text.lower())))
    assert label.rfid is not None and label.rfid.write == text
    assert label.rfid.read_bytes == len(epc)
    line = readback_line(seq, text)
    assert parse_readback(line).seq == seq and parse_readback(line).epc == text


def test_a_void_read_back_is_empty_and_never_counts_as_encoded() -> None:
    void = parse_readback(readback_line(4, ""))
    assert (void.seq, void.epc) == (4, "")
    outcome = EncodeOutcome(4, void.epc or None)
    assert not outcome.encoded(EPC96)
    assert not EncodeOutcome(4, "").encoded("")
    assert EncodeOutcome(4, EPC96.lower()).encoded(EPC96)


def host_feed(conn: ZplHostConnection, data: bytes, cuts: list[int]) -> list[object]:
    """Feed ``data`` split at ``cuts``; every event the codec returns on the way."""
    out: list[object] = []
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    for a, b in itertools.pairwise(bounds):
        conn.receive_data(data[a:b])
        while (event := conn.next_event()) is not NEED_DATA:
            out.append(event)
    return out


@settings(max_examples=120, deadline=None)
@given(
    epcs=st.lists(epc_words, min_size=1, max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
)
def test_read_backs_between_replies_are_taken_aside_however_the_bytes_are_cut(
    epcs: list[bytes], cuts: list[int]
) -> None:
    status = build_status_reply(HostStatus(formats_in_buffer=2))
    lines = [readback_line(n, e.hex()) for n, e in enumerate(epcs)]
    stream = lines[0] + status + b"".join(lines[1:]) + b'"17"'
    conn = ZplHostConnection()
    got = host_feed(conn, stream, cuts)
    assert [type(e) for e in got] == [HostStatus, SgdValue]  # the replies, in step
    assert [(r.seq, r.epc) for r in conn.readbacks] == [
        (n, e.hex().upper()) for n, e in enumerate(epcs)
    ]


@settings(max_examples=120, deadline=None)
@given(
    epcs=st.lists(epc_words, min_size=1, max_size=4),
    cut=st.integers(min_value=0, max_value=10_000),
)
def test_read_backs_in_discarded_input_are_salvaged_even_cut_in_two(
    epcs: list[bytes], cut: int
) -> None:
    """The link throws stale input away before a request; a read-back in it must survive, also
    when the stale part ends in the middle of one and the request's replies bring the rest."""
    stream = b"".join(readback_line(n, e.hex()) for n, e in enumerate(epcs))
    stream += b'"17"'
    at = cut % (len(stream) + 1)
    conn = ZplHostConnection()
    conn.salvage(stream[:at])
    got = host_feed(conn, stream[at:], [])
    assert [(r.seq, r.epc) for r in conn.readbacks] == [
        (n, e.hex().upper()) for n, e in enumerate(epcs)
    ]
    assert got == [SgdValue("17")] or at > len(stream) - 4  # the value itself was stale


def test_clear_keeps_a_read_back_and_forgets_a_half_reply() -> None:
    conn = ZplHostConnection()
    conn.receive_data(b"\x02030,1,0" + readback_line(9, EPC96) + b"RFID se")
    conn.clear()
    conn.receive_data(b"q=10 epc=\r\n" + build_status_reply(HostStatus()))
    assert isinstance(conn.next_event(), HostStatus)
    assert [(r.seq, r.epc) for r in conn.readbacks] == [(9, EPC96), (10, "")]


def test_a_malformed_read_back_is_skipped_and_counted() -> None:
    conn = ZplHostConnection()
    conn.receive_data(b"RFID seq=x epc=12\r\n" + b'"5"')
    assert conn.next_event() == SgdValue("5")
    assert conn.readbacks == [] and conn.skipped > 0
