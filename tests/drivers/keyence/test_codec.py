"""Keyence SR codec: documented byte sequences both ways, noise skipping, and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.interfaces import ProtocolError
from drivers.keyence.codec import (
    MAX_LINE,
    Ack,
    Command,
    ErrorReply,
    KeyenceDevice,
    KeyenceHost,
    KeyenceProtocolError,
)
from drivers.reader_codec import NEED_DATA, CodeRead

GS1 = "0109506000134352" + "17271231" + "10LOT7\x1d" + "21SN00012345"
GS1_WIRE = GS1.encode()


def drain(codec: KeyenceHost | KeyenceDevice) -> list[object]:
    """Every event and error the codec yields for what it has buffered, up to NEED_DATA."""
    out: list[object] = []
    for _ in range(100_000):
        try:
            event = codec.next_event()
        except KeyenceProtocolError as exc:
            out.append(exc)
            continue
        if event is NEED_DATA:
            return out
        out.append(event)
    raise AssertionError("codec did not settle on NEED_DATA")


def host_fed(data: bytes, **settings: object) -> KeyenceHost:
    host = KeyenceHost(**settings)  # type: ignore[arg-type]
    host.receive_data(data)
    return host


def test_trigger_commands_are_bare_lines_ending_in_cr() -> None:
    host = KeyenceHost()
    assert host.send(Command("LON")) == b"LON\r"
    assert host.send(Command("LOFF")) == b"LOFF\r"
    assert host.send(Command("LON", ("02",))) == b"LON,02\r"


def test_acknowledgements_name_the_command() -> None:
    assert drain(host_fed(b"OK,LON\rOK,LOFF\r")) == [Ack("LON"), Ack("LOFF")]


def test_acknowledgement_values_are_kept() -> None:
    assert drain(host_fed(b"OK,NUM,5,0,1,4,6\r")) == [Ack("NUM", ("5", "0", "1", "4", "6"))]


# ER,<command>,<ee> and the SR-1000 manual's wording for the codes
@pytest.mark.parametrize(
    ("wire", "code", "meaning"),
    [
        (b"ER,LON,00\r", 0, "undefined command received"),
        (b"ER,LON,01\r", 1, "mismatched command format (invalid number of parameters)"),
        (b"ER,LON,02\r", 2, "the parameter 1 value exceeds the set value"),
        (b"ER,LON,20\r", 20, "this command is not executable in the current status"),
        (b"ER,LON,21\r", 21, "the buffer has overflowed, so commands cannot be executed"),
        (b"ER,LON,99\r", 99, "the reader may be faulty (contact KEYENCE)"),
    ],
)
def test_error_replies_decode_to_their_documented_meaning(
    wire: bytes, code: int, meaning: str
) -> None:
    (reply,) = drain(host_fed(wire))
    assert reply == ErrorReply("LON", code)
    assert isinstance(reply, ErrorReply) and reply.meaning.startswith(meaning)


def test_an_undocumented_error_code_is_named_unknown() -> None:
    assert ErrorReply("LON", 77).meaning == "unknown error code 77"


def test_a_malformed_error_reply_is_a_protocol_error() -> None:
    out = drain(host_fed(b"ER,LON\rOK,LON\r"))
    assert isinstance(out[0], KeyenceProtocolError) and out[0].offset == 0
    assert out[1:] == [Ack("LON")]


def test_the_read_error_string_is_a_no_read() -> None:
    assert drain(host_fed(b"ERROR\r")) == [CodeRead(None)]
    assert drain(host_fed(b"ERROR:20270101\r")) == [CodeRead(None)]
    assert drain(host_fed(b"NOREAD\r", no_read="NOREAD")) == [CodeRead(None)]


def test_read_data_with_identifier_and_letter_grade() -> None:
    (read,) = drain(host_fed(b"]d2" + GS1_WIRE + b":A\r"))
    assert read == CodeRead(GS1, "]d2", "A", "A")


@pytest.mark.parametrize(
    ("grade", "letter"), [(b"4", "A"), (b"3", "B"), (b"2", "C"), (b"1", "D"), (b"0", "F")]
)
def test_numeric_grades_map_to_iso_15415_letters(grade: bytes, letter: str) -> None:
    (read,) = drain(host_fed(b"]d2" + GS1_WIRE + b":" + grade + b"\r"))
    assert isinstance(read, CodeRead) and (read.text, read.grade) == (GS1, letter)


def test_grade_details_after_the_overall_grade_are_kept() -> None:
    (read,) = drain(host_fed(b"]d2" + GS1_WIRE + b":B/A/B/C\r"))
    assert read == CodeRead(GS1, "]d2", "B", "B/A/B/C", ("A", "B", "C"))
    assert isinstance(read, CodeRead)
    assert read.to_result(5).detail == {
        "symbology_id": "]d2",
        "grade_raw": "B/A/B/C",
        "extra": "A|B|C",
    }


def test_data_may_contain_the_delimiter_the_grade_is_the_last_field() -> None:
    (read,) = drain(host_fed(b"]d20109506000134352\x1d21A:B:C\r"))
    assert read == CodeRead("0109506000134352\x1d21A:B", "]d2", "C", "C")


def test_without_appended_grades_the_colon_is_data() -> None:
    (read,) = drain(host_fed(b"]d2" + GS1_WIRE + b":A\r", grades=False))
    assert read == CodeRead(GS1 + ":A", "]d2")


def test_read_without_identifier_has_no_symbology() -> None:
    (read,) = drain(host_fed(GS1_WIRE + b":A\r"))
    assert isinstance(read, CodeRead) and read.to_result().symbology is None
    assert read.text == GS1


def test_line_noise_is_skipped_naming_its_offset() -> None:
    out = drain(host_fed(b"OK,LON\r\xff\x00OK,LOFF\r"))
    assert out[0] == Ack("LON")
    error = out[1]
    assert isinstance(error, KeyenceProtocolError) and isinstance(error, ProtocolError)
    assert (error.offset, error.got) == (7, b"\xff\x00")
    assert out[2:] == [Ack("LOFF")]


def test_cr_lf_terminators_and_empty_lines_are_quietly_accepted() -> None:
    assert drain(host_fed(b"OK,LON\r\n\r\nERROR\r\n")) == [Ack("LON"), CodeRead(None)]


def test_a_line_longer_than_the_limit_is_dropped() -> None:
    host = host_fed(b"x" * (MAX_LINE + 1))
    out = drain(host)
    assert len(out) == 1 and isinstance(out[0], KeyenceProtocolError)
    host.receive_data(b"\rOK,LON\r")
    assert drain(host)[-1] == Ack("LON")


def test_device_parses_commands_and_parameters() -> None:
    device = KeyenceDevice()
    device.receive_data(b"LON\rLON,01\rlon\r")
    assert drain(device) == [Command("LON"), Command("LON", ("01",)), Command("lon")]


def test_device_sends_documented_replies() -> None:
    device = KeyenceDevice()
    assert device.send(Ack("LON")) == b"OK,LON\r"
    assert device.send(ErrorReply("LON", 2)) == b"ER,LON,02\r"
    assert device.send(CodeRead(None)) == b"ERROR\r"
    assert device.send(CodeRead(GS1, "]d2", "B")) == b"]d2" + GS1_WIRE + b":B\r"
    assert KeyenceDevice(grades=False).send(CodeRead(GS1, "]d2", "B")) == b"]d2" + GS1_WIRE + b"\r"


def test_send_refuses_what_would_break_a_line() -> None:
    with pytest.raises(ValueError):
        KeyenceHost().send(Command("LON", ("0\r1",)))
    with pytest.raises(ValueError):
        KeyenceDevice().send(CodeRead("bad\rdata"))


def test_the_delimiter_is_one_character() -> None:
    with pytest.raises(ValueError, match="one character"):
        KeyenceHost(delimiter="::")


# --- fuzzing ------------------------------------------------------------------------------------

VALID_STREAM = (
    b"OK,LON\r]d2" + GS1_WIRE + b":A\rOK,LON\rERROR\rER,LON,20\rOK,LON\r" + GS1_WIRE + b":3\r"
)
SYNC = b"\rOK,SYNC\r"


def split_feed(codec: KeyenceHost, data: bytes, cuts: list[int]) -> list[object]:
    out: list[object] = []
    last = 0
    for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        codec.receive_data(data[last:cut])
        out += drain(codec)
        last = cut
    return out


@given(st.binary(max_size=400))
def test_random_bytes_give_events_or_protocol_errors_and_settle(data: bytes) -> None:
    for codec in (KeyenceHost(), KeyenceDevice()):
        codec.receive_data(data)
        for item in drain(codec):
            assert isinstance(item, (Ack, ErrorReply, CodeRead, Command, KeyenceProtocolError))


@given(st.lists(st.integers(min_value=0, max_value=len(VALID_STREAM)), max_size=12))
def test_any_split_of_a_valid_stream_gives_the_same_events(cuts: list[int]) -> None:
    whole = drain(host_fed(VALID_STREAM))
    assert len(whole) == 7 and not any(isinstance(e, KeyenceProtocolError) for e in whole)
    assert split_feed(KeyenceHost(), VALID_STREAM, cuts) == whole


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0), st.sampled_from(["flip", "drop", "insert"])),
        min_size=1,
        max_size=6,
    ),
    st.binary(min_size=1, max_size=3),
    st.lists(st.integers(min_value=0), max_size=6),
)
def test_mutated_lines_never_swallow_the_next_line(
    mutations: list[tuple[int, str]], noise: bytes, cuts: list[int]
) -> None:
    data = bytearray(VALID_STREAM)
    for position, kind in mutations:
        at = position % len(data)
        if kind == "flip":
            data[at] ^= noise[0] or 0x55
        elif kind == "drop":
            del data[at]
        else:
            data[at:at] = noise
    out = split_feed(KeyenceHost(), bytes(data) + SYNC, cuts)
    assert all(isinstance(i, (Ack, ErrorReply, CodeRead, KeyenceProtocolError)) for i in out)
    assert out[-1] == Ack("SYNC")
