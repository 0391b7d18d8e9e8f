"""The LCFP codec: the documented byte layout, both roles, resynchronisation, limits, fuzzing."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.camera.framepush import (
    CLOSED,
    NEED_DATA,
    Bye,
    Event,
    FrameMessage,
    FramePushConnection,
    FramePushError,
    Hello,
    HelloAck,
    Keepalive,
    Limits,
    Role,
    encode,
)
from drivers.interfaces import ProtocolError


def host_after_handshake() -> FramePushConnection:
    """A host codec that has seen the camera's HELLO_ACK."""
    host = FramePushConnection(Role.HOST)
    host.send(Hello("linectl"))
    host.receive_data(encode(HelloAck(8, 4, 1000, "cam")))
    assert isinstance(host.next_event(), HelloAck)
    return host


def drain(conn: FramePushConnection) -> tuple[list[Event], list[FramePushError]]:
    """All events available now, and the errors raised on the way; fails if it would spin."""
    events: list[Event] = []
    errors: list[FramePushError] = []
    for _ in range(100_000):
        try:
            event = conn.next_event()
        except FramePushError as exc:
            errors.append(exc)
            continue
        if event is NEED_DATA or event is CLOSED:
            return events, errors
        assert not isinstance(event, type(NEED_DATA))
        events.append(event)
    raise AssertionError("next_event() neither consumed input nor asked for more")


def frame(seq: int, width: int = 8, height: int = 4, ts: int = 0) -> FrameMessage:
    pixels = bytes((seq * 7 + i) % 256 for i in range(width * height))
    return FrameMessage(seq, width, height, pixels, ts)


# --- the documented byte layout -------------------------------------------------------------


def test_frame_header_has_the_documented_byte_layout() -> None:
    msg = FrameMessage(0x0102030405060708, 3, 2, b"\x00\x10\x20\x30\x40\x50", 0x1122334455667788)
    data = encode(msg)
    assert len(data) == 40 + 6
    assert data[0:4] == b"LCFP"
    assert data[4] == 1  # version
    assert data[5] == 3  # FRAME
    assert data[6] == 1  # GREY8
    assert data[7] == 0x01  # PAYLOAD_CRC
    assert data[8:16] == bytes.fromhex("0102030405060708")
    assert data[16:24] == bytes.fromhex("1122334455667788")
    assert data[24:26] == b"\x00\x03" and data[26:28] == b"\x00\x02"
    assert data[28:32] == b"\x00\x00\x00\x06"
    assert data[32:36] == struct.pack(">I", zlib.crc32(msg.pixels))
    assert data[36:40] == struct.pack(">I", zlib.crc32(data[:36]))
    assert data[40:] == msg.pixels


def test_hello_ack_carries_keepalive_then_camera_name() -> None:
    data = encode(HelloAck(640, 480, 1500, "cam-1"))
    assert data[5] == 2 and data[6] == 1
    assert data[24:28] == struct.pack(">HH", 640, 480)
    assert data[28:32] == struct.pack(">I", 4 + 5)
    assert data[40:] == struct.pack(">I", 1500) + b"cam-1"


def test_keepalive_is_a_bare_header_without_crc_flag() -> None:
    data = encode(Keepalive(5))
    assert len(data) == 40 and data[5] == 4 and data[7] == 0 and data[28:36] == bytes(8)


def test_frame_without_payload_crc_has_flag_and_field_zero() -> None:
    data = encode(frame(1), payload_crc=False)
    assert data[7] == 0 and data[32:36] == bytes(4)
    host = host_after_handshake()
    host.receive_data(data)
    assert host.next_event() == frame(1)


# --- sessions --------------------------------------------------------------------------------


def test_handshake_and_frames_flow_between_the_two_roles() -> None:
    host, cam = FramePushConnection(Role.HOST), FramePushConnection(Role.CAMERA)
    cam.receive_data(host.send(Hello("linectl", 42)))
    assert cam.next_event() == Hello("linectl", 42)
    host.receive_data(cam.send(HelloAck(8, 4, 250, "sim")))
    host.receive_data(cam.send(frame(5, ts=9)))
    host.receive_data(cam.send(Keepalive(10)))
    host.receive_data(cam.send(Bye("going away")))
    events, errors = drain(host)
    assert errors == []
    assert events == [HelloAck(8, 4, 250, "sim"), frame(5, ts=9), Keepalive(10), Bye("going away")]
    assert isinstance(events[1], FrameMessage)
    as_frame = events[1].to_frame()
    assert (as_frame.seq, as_frame.width, as_frame.height, as_frame.timestamp_ns) == (5, 8, 4, 9)


def test_frame_before_hello_ack_is_a_protocol_error() -> None:
    host = FramePushConnection(Role.HOST)
    host.receive_data(encode(frame(1)) + encode(HelloAck(8, 4)) + encode(frame(2)))
    with pytest.raises(FramePushError, match="before HELLO_ACK at byte offset 0"):
        host.next_event()
    assert isinstance(host.next_event(), HelloAck)
    assert host.next_event() == frame(2)


def test_a_host_rejects_messages_only_a_host_sends() -> None:
    host = host_after_handshake()
    host.receive_data(encode(Hello("other")) + encode(frame(3)))
    with pytest.raises(FramePushError, match="HELLO: not expected from the camera"):
        host.next_event()
    assert drain(host) == ([frame(3)], [])


def test_a_camera_rejects_frames_from_the_host() -> None:
    cam = FramePushConnection(Role.CAMERA)
    cam.receive_data(encode(frame(1)))
    with pytest.raises(FramePushError, match="FRAME: not expected from the host"):
        cam.next_event()


def test_send_refuses_what_this_role_may_not_send_now() -> None:
    host, cam = FramePushConnection(Role.HOST), FramePushConnection(Role.CAMERA)
    with pytest.raises(ValueError, match="host does not send FrameMessage"):
        host.send(frame(1))
    host.send(Hello())
    with pytest.raises(ValueError, match="already sent"):
        host.send(Hello())
    with pytest.raises(ValueError, match="after the host's HELLO"):
        cam.send(HelloAck(8, 4))
    with pytest.raises(ValueError, match="FRAME before HELLO_ACK"):
        cam.send(frame(1))
    with pytest.raises(ValueError, match="needs 32 pixel bytes, got 3"):
        encode(FrameMessage(1, 8, 4, b"abc"))


# --- framing faults --------------------------------------------------------------------------


def test_every_split_of_a_stream_gives_the_same_frames() -> None:
    stream = b"".join(encode(frame(seq)) for seq in range(1, 4))
    for cut in range(1, len(stream)):
        host = host_after_handshake()
        host.receive_data(stream[:cut])
        first, _ = drain(host)
        host.receive_data(stream[cut:])
        rest, errors = drain(host)
        assert errors == [] and first + rest == [frame(1), frame(2), frame(3)], cut


def test_garbage_before_a_frame_raises_once_naming_the_offset_then_resyncs() -> None:
    host = host_after_handshake()
    start = host.bytes_received
    host.receive_data(b"\x00noise LC LCF" + encode(frame(1)) + encode(frame(2)))
    with pytest.raises(FramePushError) as caught:
        host.next_event()
    assert caught.value.offset == start
    assert f"bad magic at byte offset {start}" in str(caught.value)
    assert isinstance(caught.value, ProtocolError)
    assert drain(host) == ([frame(1), frame(2)], [])
    assert host.bytes_skipped == 13


def test_garbage_arriving_byte_by_byte_raises_only_once() -> None:
    host = host_after_handshake()
    errors = 0
    for byte in b"garbage without the magic at all" + encode(frame(7)):
        host.receive_data(bytes([byte]))
        events, raised = drain(host)
        errors += len(raised)
    assert errors == 1 and events == [frame(7)]


def test_magic_in_garbage_with_a_bad_header_crc_is_skipped() -> None:
    host = host_after_handshake()
    fake = b"LCFP" + bytes(36)
    host.receive_data(fake + encode(frame(4)))
    events, errors = drain(host)
    assert events == [frame(4)]
    assert [e.offset for e in errors] == [host.bytes_received - len(encode(frame(4))) - 40]
    assert "header CRC mismatch" in str(errors[0])


def test_a_corrupt_payload_drops_that_frame_and_keeps_the_next() -> None:
    host = host_after_handshake()
    bad = bytearray(encode(frame(1)))
    bad[45] ^= 0xFF
    host.receive_data(bytes(bad) + encode(frame(2)))
    events, errors = drain(host)
    assert events == [frame(2)]
    assert len(errors) == 1 and "FRAME seq 1: payload CRC mismatch" in str(errors[0])


def test_garbage_inside_a_payload_costs_that_frame_only() -> None:
    host = host_after_handshake()
    first = encode(frame(1))
    host.receive_data(first[:50] + b"JUNK" + first[50:] + encode(frame(2)))
    events, errors = drain(host)
    assert events == [frame(2)] and len(errors) == 1


def test_end_of_stream_inside_a_message_is_an_error_then_closed() -> None:
    host = host_after_handshake()
    data = encode(frame(1))
    host.receive_data(data[:-1])
    assert host.next_event() is NEED_DATA
    host.receive_data(b"")
    with pytest.raises(FramePushError, match="stream ended inside a message"):
        host.next_event()
    assert host.next_event() is CLOSED


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (4, 2, "unsupported version 2"),
        (5, 9, "unknown message type 9"),
        (6, 0, "pixel format 0 is not GREY8"),
        (7, 0x81, "reserved flag bits"),
        (24, 0, "frame size 0x4 is empty"),
        (31, 33, "payload_len 33 is not 8x4"),
    ],
)
def test_bad_header_fields_are_named(offset: int, value: int, message: str) -> None:
    raw = bytearray(encode(frame(1)))
    raw[offset] = value
    if offset == 24:
        raw[25] = 0
    raw[36:40] = struct.pack(">I", zlib.crc32(bytes(raw[:36])))
    host = host_after_handshake()
    host.receive_data(bytes(raw) + encode(frame(2)))
    events, errors = drain(host)
    assert message in str(errors[0]) and events == [frame(2)]


def test_frames_over_the_size_limit_are_refused_before_buffering_them() -> None:
    host = FramePushConnection(Role.HOST, limits=Limits(max_frame_bytes=16))
    host.receive_data(encode(HelloAck(8, 4)))
    host.next_event()
    host.receive_data(encode(frame(1))[:40])
    with pytest.raises(FramePushError, match="frame of 32 bytes exceeds 16"):
        host.next_event()


def test_texts_over_the_limit_and_bad_utf8_are_refused() -> None:
    with pytest.raises(ValueError, match="limit is 1024"):
        encode(Hello("x" * 1025))
    raw = bytearray(encode(Bye("ab")))
    raw[40] = 0xFF
    raw[32:36] = struct.pack(">I", zlib.crc32(bytes(raw[40:])))
    raw[36:40] = struct.pack(">I", zlib.crc32(bytes(raw[:36])))
    host = host_after_handshake()
    host.receive_data(bytes(raw))
    with pytest.raises(FramePushError, match="not UTF-8 at byte offset"):
        host.next_event()


# --- fuzzing ---------------------------------------------------------------------------------

STREAM = b"".join(encode(m) for m in (HelloAck(8, 4, 100, "c"), frame(1), Keepalive(), frame(2)))


def feed(conn: FramePushConnection, data: bytes, cuts: list[int]) -> list[Event]:
    """Feed ``data`` in pieces cut at ``cuts``; ProtocolError is the only exception allowed."""
    events: list[Event] = []
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    for piece in [*filter(None, pieces), b""]:  # b"" is end of stream, so only at the end
        conn.receive_data(piece)
        got, _ = drain(conn)
        events += got
    return events


@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=8))
def test_random_bytes_give_only_events_need_data_or_protocol_errors(
    data: bytes, cuts: list[int]
) -> None:
    for role in Role:
        feed(FramePushConnection(role), data, sorted(c for c in cuts if c <= len(data)))


@given(
    st.lists(st.tuples(st.integers(0, len(STREAM) - 1), st.integers(0, 255)), max_size=6),
    st.lists(st.integers(0, len(STREAM)), max_size=8),
    st.binary(max_size=50),
    st.integers(0, len(STREAM)),
)
@settings(max_examples=300)
def test_mutated_streams_never_raise_anything_else_or_hang(
    flips: list[tuple[int, int]], cuts: list[int], junk: bytes, at: int
) -> None:
    raw = bytearray(STREAM)
    for pos, value in flips:
        raw[pos] = value
    data = bytes(raw[:at]) + junk + bytes(raw[at:])
    events = feed(FramePushConnection(Role.HOST), data, sorted(c for c in cuts if c <= len(data)))
    for event in events:
        if isinstance(event, FrameMessage):
            assert event in (frame(1), frame(2))  # CRCs: a damaged frame is never delivered


@given(st.lists(st.integers(0, len(STREAM)), max_size=12), st.binary(max_size=40))
def test_frames_after_garbage_between_messages_all_arrive(cuts: list[int], junk: bytes) -> None:
    hello = encode(HelloAck(8, 4, 100, "c"))
    data = hello + junk + STREAM[len(hello) :]
    events = feed(FramePushConnection(Role.HOST), data, sorted(c for c in cuts if c <= len(data)))
    assert [e for e in events if isinstance(e, FrameMessage)] == [frame(1), frame(2)]
