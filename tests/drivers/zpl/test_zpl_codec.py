"""ZPL codec: documented escape rules and status layout, label round trips, fuzzed parsers."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.interfaces import PrintJob, ProtocolError
from drivers.zpl.codec import (
    NEED_DATA,
    ControlCommand,
    HostStatusRequest,
    Label,
    SgdCommand,
    SgdValue,
    ZplDeviceConnection,
    ZplHostConnection,
    ZplProtocolError,
    build_label,
)
from drivers.zpl.fielddata import (
    decode_code128,
    decode_datamatrix,
    decode_field_hex,
    encode_datamatrix,
    encode_gs1_128,
)
from drivers.zpl.status import HostStatus, build_status_reply

GS = "\x1d"

# A ~HS reply laid out per the ZPL II guide (45541L-004 "~HS"): string 1 has paper out (field 2)
# and 2 formats in the buffer (field 5); string 2 has head up (field 3), applicator mode (field 6)
# and 1 label remaining (field 9); string 3 password 1234, static RAM installed.
HS_SAMPLE = (
    b"\x02030,1,0,1245,002,0,0,0,000,0,0,0\x03\r\n"
    b"\x02001,0,1,0,1,4,0,0,00000001,1,000\x03\r\n"
    b"\x021234,1\x03\r\n"
)


def events(conn: ZplHostConnection | ZplDeviceConnection) -> list[object]:
    out: list[object] = []
    for _ in range(10_000):
        try:
            event = conn.next_event()
        except ZplProtocolError as exc:
            out.append(exc)
            continue
        if event is NEED_DATA:
            return out
        out.append(event)
    raise AssertionError("parser did not settle")


def device_parse(data: bytes) -> list[object]:
    conn = ZplDeviceConnection()
    conn.receive_data(data)
    return events(conn)


# --- documented escape rules ---------------------------------------------------------------------


def test_zebra_gs1_128_example_is_what_the_encoder_produces() -> None:
    # Zebra's GS1 note: GTIN + serial + batch as ">;>8011234567890123421123456>810>6ABC123"
    data = "01123456789012342112345" + "6" + GS + "10ABC123"
    assert encode_gs1_128(data) == ">;>8011234567890123421123456>810>6ABC123"
    assert decode_code128(">;>8011234567890123421123456>810>6ABC123") == (True, data)


def test_sscc_is_start_c_fnc1_then_digit_pairs() -> None:
    assert encode_gs1_128("00106141411234567897") == ">;>800106141411234567897"


def test_greater_than_sign_in_subset_b_is_escaped() -> None:
    assert encode_gs1_128("10A>B") == ">;>810>6A><B"
    assert decode_code128(">;>810>6A><B") == (True, "10A>B")


def test_datamatrix_fnc1_first_then_as_separator() -> None:
    data = "0109506000134352" + "10AB1" + GS + "21X_Y"
    assert encode_datamatrix(data, gs1=True) == "_10109506000134352" + "10AB1_121X__Y"
    assert decode_datamatrix("_10109506000134352" + "10AB1_121X__Y", "_") == (True, data)


@pytest.mark.parametrize(
    ("field", "text"),
    [("_G", "\x07"), ("_@", "\x00"), ("_d065", "A"), ("a__b", "a_b"), ("_5009x", "x")],
)
def test_datamatrix_documented_escape_sequences(field: str, text: str) -> None:
    assert decode_datamatrix(field, "_") == (False, text)


def test_escape_character_is_the_one_named_in_bx() -> None:
    assert decode_datamatrix("~1019~1", "~") == (True, "019" + GS)


@pytest.mark.parametrize("field", ["_", "_2123", "_d9", "_d999", "_9"])
def test_bad_datamatrix_escapes_name_their_offset(field: str) -> None:
    with pytest.raises(ValueError, match="offset 0"):
        decode_datamatrix(field, "_")


def test_field_hex_resolves_before_escapes() -> None:
    assert decode_field_hex("A\\5EB\\7e", "\\") == "A^B~"
    with pytest.raises(ValueError, match="offset 1"):
        decode_field_hex("A\\5", "\\")


# --- host status ---------------------------------------------------------------------------------


def test_host_status_sample_fields_land_where_the_guide_puts_them() -> None:
    host = ZplHostConnection()
    host.receive_data(HS_SAMPLE)
    (status,) = events(host)
    assert isinstance(status, HostStatus)
    assert status.comm_settings == 30 and status.label_length_dots == 1245
    assert status.paper_out and not status.paused
    assert status.formats_in_buffer == 2
    assert status.head_up and not status.ribbon_out and status.thermal_transfer
    assert status.print_mode == 4 and status.labels_remaining == 1
    assert status.password == 1234 and status.static_ram_installed
    assert status.faults == ("paper-out", "head-open")
    assert not status.ready


def test_host_status_round_trips_through_the_device_encoder() -> None:
    status = HostStatus(paused=True, formats_in_buffer=17, ribbon_out=True, labels_remaining=3)
    host = ZplHostConnection()
    host.receive_data(build_status_reply(status))
    assert events(host) == [status]


def test_status_split_into_single_bytes_gives_one_event() -> None:
    host = ZplHostConnection()
    got: list[object] = []
    for i in range(len(HS_SAMPLE)):
        host.receive_data(HS_SAMPLE[i : i + 1])
        got += events(host)
    assert len(got) == 1 and isinstance(got[0], HostStatus)


def test_noise_and_sgd_value_around_a_status() -> None:
    host = ZplHostConnection()
    host.receive_data(b"\x00\xff junk" + HS_SAMPLE + b'"1234"\r\n')
    got = events(host)
    assert isinstance(got[0], HostStatus) and got[1] == SgdValue("1234")
    assert host.skipped == 7


def test_truncated_status_then_fresh_one_is_an_error_then_a_status() -> None:
    host = ZplHostConnection()
    host.receive_data(HS_SAMPLE[:40] + HS_SAMPLE)
    got = events(host)
    assert isinstance(got[0], ZplProtocolError)
    assert isinstance(got[-1], HostStatus)


def test_wrong_field_count_names_the_string_and_offset() -> None:
    host = ZplHostConnection()
    host.receive_data(b"xx\x02030,1,0\x03")
    with pytest.raises(ZplProtocolError, match=r"byte 2.*12 fields"):
        host.next_event()


# --- labels --------------------------------------------------------------------------------------


def test_label_round_trip_keeps_data_hri_and_seq() -> None:
    job = PrintJob(
        seq=42, data="0109506000134352" + "17261231" + "10L_1" + GS + "21S^~1", hri=("A^B", "ü")
    )
    (label,) = device_parse(build_label(job))
    assert isinstance(label, Label)
    assert label.seq == 42 and label.quantity == 1
    assert label.code is not None and label.code.kind == "datamatrix" and label.code.gs1
    assert label.code.data == job.data
    assert label.texts == ("A^B", "ü")


def test_sscc_label_is_gs1_128() -> None:
    (label,) = device_parse(build_label(PrintJob(1, "00106141411234567897", symbology="gs1-128")))
    assert isinstance(label, Label) and label.code is not None
    assert (label.code.kind, label.code.data) == ("gs1-128", "00106141411234567897")


def test_digital_link_goes_into_a_plain_qr() -> None:
    uri = "https://id.gs1.org/01/09506000134352/21/A1"
    (label,) = device_parse(build_label(PrintJob(1, uri, symbology="qr")))
    assert isinstance(label, Label) and label.code is not None
    assert (label.code.kind, label.code.data) == ("qr", uri)


def test_gs1_element_string_in_qr_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="Digital Link"):
        build_label(PrintJob(1, "0109506000134352", symbology="qr"))


def test_device_stream_mixes_formats_control_and_sgd() -> None:
    job = build_label(PrintJob(1, "0109506000134352"))
    stream = b"~HS" + job + b'! U1 getvar "odometer.total_label_count"\r\n~JA~HQES'
    got = device_parse(b"\r\nnoise" + stream)
    assert got[0] == HostStatusRequest()
    assert isinstance(got[1], Label)
    assert got[2] == SgdCommand("getvar", "odometer.total_label_count")
    assert got[3:] == [ControlCommand("JA"), ControlCommand("HQES")]


def test_format_without_xz_is_dropped_at_the_next_xa() -> None:
    job = build_label(PrintJob(2, "0109506000134352"))
    got = device_parse(b"^XA^FO1,1^FDcut off" + job)
    assert isinstance(got[0], ZplProtocolError) and "^XZ" in str(got[0])
    assert isinstance(got[1], Label) and got[1].seq == 2


def test_bad_datamatrix_data_is_an_error_naming_the_offset() -> None:
    conn = ZplDeviceConnection()
    conn.receive_data(b"~HS^XA^FO0,0^BXN,4,200,,,,_^FD_9^FS^XZ~HS")
    assert conn.next_event() == HostStatusRequest()
    with pytest.raises(ZplProtocolError, match=r"ZPL at byte 3: .*offset 0: unknown sequence _9"):
        conn.next_event()
    assert conn.next_event() == HostStatusRequest()


gs1_chars = st.sampled_from("ABCXYZ0123456789-./_%&*+(),:;<=>?")


@given(
    gtin=st.from_regex(r"\A[0-9]{14}\Z"),
    lot=st.text(gs1_chars, min_size=1, max_size=20),
    serial=st.text(gs1_chars, min_size=1, max_size=20),
)
def test_any_gs1_datamatrix_job_survives_the_round_trip(gtin: str, lot: str, serial: str) -> None:
    data = f"01{gtin}10{lot}{GS}21{serial}"
    for symbology in ("datamatrix", "gs1-128"):
        (label,) = device_parse(build_label(PrintJob(1, data, symbology=symbology)))
        assert isinstance(label, Label) and label.code is not None
        assert label.code.data == data and label.code.gs1


# --- fuzz: parsers return events, NEED_DATA or ZplProtocolError, and always settle --------------


def feed_in_splits(
    conn: ZplHostConnection | ZplDeviceConnection, data: bytes, cuts: list[int]
) -> None:
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    for a, b in itertools.pairwise(points):
        conn.receive_data(data[a:b])
        for _ in range(10_000):
            try:
                if conn.next_event() is NEED_DATA:
                    break
            except ProtocolError:
                continue
        else:
            raise AssertionError("parser did not settle")


VALID_DEVICE_INPUT = b"~HS" + build_label(PrintJob(1, "0109506000134352" + "10A" + GS + "21B"))
VALID_HOST_INPUT = HS_SAMPLE + b'"42"'


def mutate(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    buf = bytearray(data)
    for pos, value in edits:
        if buf:
            buf[pos % len(buf)] = value
    return bytes(buf)


@settings(max_examples=200)
@given(
    noise=st.binary(max_size=300),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    cuts=st.lists(st.integers(0, 400), max_size=8),
)
def test_fuzzed_input_never_breaks_the_device_parser(
    noise: bytes, edits: list[tuple[int, int]], cuts: list[int]
) -> None:
    conn = ZplDeviceConnection()
    feed_in_splits(conn, noise + mutate(VALID_DEVICE_INPUT, edits) + noise, cuts)
    conn.receive_data(b"\n^XZ\n~HS")  # whatever was pending, the stream resynchronises
    for _ in range(100):
        try:
            event = conn.next_event()
        except ProtocolError:
            continue
        if event == HostStatusRequest():
            break
    else:
        raise AssertionError("no resynchronisation on ~HS")


@settings(max_examples=200)
@given(
    noise=st.binary(max_size=300),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    cuts=st.lists(st.integers(0, 400), max_size=8),
)
def test_fuzzed_input_never_breaks_the_host_parser(
    noise: bytes, edits: list[tuple[int, int]], cuts: list[int]
) -> None:
    conn = ZplHostConnection()
    feed_in_splits(conn, noise + mutate(VALID_HOST_INPUT, edits) + noise, cuts)
    assert len(conn._buf) < 256 + 2  # at most one unfinished reply is held


@settings(max_examples=200)
@given(st.text(max_size=60), st.sampled_from(["_", "~"]))
def test_escape_decoders_raise_only_value_errors(text: str, escape: str) -> None:
    for decode in (lambda t: decode_datamatrix(t, escape), decode_code128):
        with contextlib.suppress(ValueError):
            decode(text)
