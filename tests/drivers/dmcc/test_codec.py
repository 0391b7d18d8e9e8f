"""DMCC codec: documented byte sequences both ways, resynchronisation, and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.dmcc.codec import (
    MAX_FRAME,
    Command,
    DmccDevice,
    DmccHost,
    DmccProtocolError,
    Response,
    Status,
)
from drivers.interfaces import ProtocolError
from drivers.reader_codec import NEED_DATA, CodeRead, format_read_text, parse_read_text

GS1 = "0109506000134352" + "17271231" + "10LOT7\x1d" + "21SN00012345"

# Extended-response frames and their meanings, as the Cognex Communications and Programming
# Guide ("Reader Response") lists the status codes.
STATUS_FRAMES = [
    (b"||[0]\r\n", 0, "no error"),
    (b"||[1]\r\n", 1, "reader initiated read-string"),
    (b"||[100]\r\n", 100, "unidentified error"),
    (b"||[101]\r\n", 101, "command invalid"),
    (b"||[102]\r\n", 102, "parameter invalid"),
    (b"||[103]\r\n", 103, "checksum incorrect"),
    (b"||[104]\r\n", 104, "parameter rejected/altered due to reader state"),
    (b"||[105]\r\n", 105, "reader unavailable"),
]


def drain(codec: DmccHost | DmccDevice) -> list[object]:
    """Every event and error the codec yields for what it has buffered, up to NEED_DATA."""
    out: list[object] = []
    for _ in range(100_000):
        try:
            event = codec.next_event()
        except DmccProtocolError as exc:
            out.append(exc)
            continue
        if event is NEED_DATA:
            return out
        out.append(event)
    raise AssertionError("codec did not settle on NEED_DATA")


def events(codec: DmccHost | DmccDevice) -> list[object]:
    return [e for e in drain(codec) if not isinstance(e, DmccProtocolError)]


def host_fed(data: bytes) -> DmccHost:
    host = DmccHost()
    host.receive_data(data)
    return host


@pytest.mark.parametrize(("wire", "status", "meaning"), STATUS_FRAMES)
def test_status_frames_decode_to_their_documented_meaning(
    wire: bytes, status: int, meaning: str
) -> None:
    assert drain(host_fed(wire)) == [Response(status)]
    assert Response(status).meaning == meaning
    assert Status(status) == status


def test_default_header_carries_no_options() -> None:
    assert DmccHost().send(Command("TRIGGER ON")) == b"||>TRIGGER ON\r\n"


def test_command_id_goes_after_the_checksum_field() -> None:
    # the guide's example header "||0:123>": no checksum, command id 123
    assert DmccHost().send(Command("TRIGGER ON", 123)) == b"||0:123>TRIGGER ON\r\n"


def test_response_carries_the_command_id_back() -> None:
    assert drain(host_fed(b"||0:123[0]\r\n")) == [Response(0, "", 123)]


def test_response_payload_follows_the_status() -> None:
    assert drain(host_fed(b"||0:5[0]ON\r\n")) == [Response(0, "ON", 5)]


def test_unknown_header_fields_are_tolerated() -> None:
    assert drain(host_fed(b"||:::2[0]\r\n")) == [Response(0)]


def test_checksum_mode_1_is_refused_and_the_stream_goes_on() -> None:
    out = drain(host_fed(b"||1:4[0]X\r\n||[0]\r\n"))
    assert isinstance(out[0], DmccProtocolError)
    assert out[0].offset == 0
    assert out[1:] == [Response(0)]


def test_noise_before_a_frame_is_skipped_naming_its_offset() -> None:
    out = drain(host_fed(b"\x00\xffab||[0]\r\n"))
    assert len(out) == 2
    error = out[0]
    assert isinstance(error, DmccProtocolError) and isinstance(error, ProtocolError)
    assert (error.offset, error.got) == (0, b"\x00\xffab")
    assert "'||'" in str(error)
    assert out[1] == Response(0)


def test_a_new_header_ends_an_unfinished_frame() -> None:
    out = drain(host_fed(b"||[1]half a read||0:5[0]\r\n"))
    assert isinstance(out[0], DmccProtocolError)
    assert out[0].got == b"||[1]half a read"
    assert out[1:] == [Response(0, "", 5)]


def test_half_a_header_waits_for_the_other_half() -> None:
    host = host_fed(b"ab|")
    out = drain(host)
    assert len(out) == 1 and isinstance(out[0], DmccProtocolError) and out[0].got == b"ab"
    host.receive_data(b"|[1]x\r\n")
    assert drain(host) == [Response(1, "x")]


def test_offsets_count_from_the_start_of_the_stream() -> None:
    out = drain(host_fed(b"||[0]\r\n" + b"junk" + b"||[0]\r\n"))
    assert isinstance(out[1], DmccProtocolError) and out[1].offset == 7


def test_a_frame_longer_than_the_limit_is_dropped() -> None:
    host = host_fed(b"||[1]" + b"x" * MAX_FRAME)
    out = drain(host)
    assert len(out) == 1 and isinstance(out[0], DmccProtocolError)
    host.receive_data(b"||[0]\r\n")
    assert drain(host) == [Response(0)]


def test_an_overlong_command_id_is_a_protocol_error() -> None:
    out = drain(host_fed(b"||0:" + b"9" * 5000 + b"[0]\r\n"))
    assert len(out) == 1 and isinstance(out[0], DmccProtocolError)


def test_read_string_carries_identifier_data_and_grade() -> None:
    wire = b"||[1]]d2" + GS1.encode() + b",B\r\n"
    (response,) = drain(host_fed(wire))
    assert isinstance(response, Response) and response.status == Status.READ_STRING
    read = parse_read_text(response.payload, separator=",", no_read="NoRead")
    assert read == CodeRead(GS1, "]d2", "B", "B")


def test_device_side_frames_a_read_string_the_host_reads_back() -> None:
    device = DmccDevice(extended=True)
    read = CodeRead(GS1, "]d2", "A")
    payload = format_read_text(read, separator=",", no_read="NoRead")
    wire = device.send(Response(Status.READ_STRING, payload))
    assert wire == b"||[1]]d2" + GS1.encode() + b",A\r\n"
    (response,) = drain(host_fed(wire))
    assert isinstance(response, Response)
    assert parse_read_text(response.payload, separator=",", no_read="NoRead") == CodeRead(
        GS1, "]d2", "A", "A"
    )


def test_device_answers_with_the_command_id() -> None:
    device = DmccDevice(extended=True)
    assert device.send(Response(0, "1", 42)) == b"||0:42[0]1\r\n"


def test_silent_mode_sends_bare_payloads_and_nothing_else() -> None:
    device = DmccDevice()
    assert device.send(Response(0, "ON")) == b"ON\r\n"
    assert device.send(Response(0)) == b""
    assert device.send(Response(101)) == b""


def test_device_parses_commands_with_and_without_ids() -> None:
    device = DmccDevice()
    device.receive_data(b"||>trigger on\r\n||0:9>GET COM.DMCC-RESPONSE\r\n")
    assert drain(device) == [Command("trigger on"), Command("GET COM.DMCC-RESPONSE", 9)]


def test_device_refuses_a_response_header_as_a_command() -> None:
    device = DmccDevice()
    device.receive_data(b"||[0]\r\n")
    out = drain(device)
    assert len(out) == 1 and isinstance(out[0], DmccProtocolError)


@pytest.mark.parametrize("text", ["TRIGGER ON\r\n", "A||B", "x\n"])
def test_send_refuses_what_would_break_the_framing(text: str) -> None:
    with pytest.raises(ValueError, match="CR, LF"):
        DmccHost().send(Command(text))
    with pytest.raises(ValueError, match="CR, LF"):
        DmccDevice(extended=True).send(Response(1, text))


# --- fuzzing ------------------------------------------------------------------------------------

VALID_STREAM = (
    b"||[0]\r\n||0:7[0]\r\n||[1]]d2" + GS1.encode() + b",A\r\n||0:8[105]\r\n||[1]NoRead\r\n"
)
SYNC = b"\r\n||0:77[0]\r\n"


def split_feed(codec: DmccHost, data: bytes, cuts: list[int]) -> list[object]:
    out: list[object] = []
    last = 0
    for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        codec.receive_data(data[last:cut])
        out += drain(codec)
        last = cut
    return out


@given(st.binary(max_size=400))
def test_random_bytes_give_events_or_protocol_errors_and_settle(data: bytes) -> None:
    for codec in (DmccHost(), DmccDevice()):
        codec.receive_data(data)
        for item in drain(codec):
            assert isinstance(item, (Response, Command, DmccProtocolError))


@given(st.lists(st.integers(min_value=0, max_value=len(VALID_STREAM)), max_size=12))
def test_any_split_of_a_valid_stream_gives_the_same_events(cuts: list[int]) -> None:
    whole = drain(host_fed(VALID_STREAM))
    assert all(isinstance(e, Response) for e in whole) and len(whole) == 5
    assert split_feed(DmccHost(), VALID_STREAM, cuts) == whole


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
def test_mutated_frames_never_swallow_the_next_frame(
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
    out = split_feed(DmccHost(), bytes(data) + SYNC, cuts)
    assert all(isinstance(item, (Response, DmccProtocolError)) for item in out)
    assert out[-1] == Response(0, "", 77)
