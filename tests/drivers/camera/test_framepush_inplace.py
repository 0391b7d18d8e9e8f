"""LCFP frames received in place (get_buffer/buffer_updated): the socket's copy is the only one,
and every way the bytes can fall into reads gives the same events and errors as copied bytes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.camera.framepush import (
    NEED_DATA,
    Event,
    FrameMessage,
    FramePushConnection,
    HelloAck,
    Keepalive,
    Role,
    encode,
)
from tests.drivers.camera.test_framepush import STREAM, drain, frame, host_after_handshake


def receive(conn: FramePushConnection, data: bytes) -> list[memoryview]:
    """Deliver ``data`` the way a socket does: into the memory ``get_buffer`` gives, as many reads
    as that takes. Returns the memory of each read."""
    reads = []
    while data:
        area = conn.get_buffer(-1)
        n = min(len(area), len(data))
        area[:n] = data[:n]
        conn.buffer_updated(n)
        reads.append(area)
        data = data[n:]
    return reads


def pixels_memory(event: Event) -> object:
    """The object whose memory a received frame's pixels are a view of."""
    assert isinstance(event, FrameMessage) and isinstance(event.pixels, memoryview)
    assert event.pixels.readonly
    return event.pixels.obj


def test_a_frame_received_whole_is_a_read_only_view_of_the_memory_it_was_received_into() -> None:
    host = host_after_handshake()
    (area,) = receive(host, encode(frame(1)))
    event = host.next_event()
    assert event == frame(1) and pixels_memory(event) is area.obj


def test_several_frames_in_one_read_are_all_read_in_place() -> None:
    host = host_after_handshake()
    (area,) = receive(host, b"".join(encode(frame(seq)) for seq in (1, 2, 3)))
    events, errors = drain(host)
    assert errors == [] and events == [frame(1), frame(2), frame(3)]
    assert all(pixels_memory(e) is area.obj for e in events)


def test_a_frame_split_at_every_byte_arrives_whole_without_a_copy() -> None:
    message = encode(frame(1))
    for cut in range(1, len(message)):
        host = host_after_handshake()
        (first,) = receive(host, message[:cut])
        assert host.next_event() is NEED_DATA
        receive(host, message[cut:])
        events, errors = drain(host)
        assert errors == [] and events == [frame(1)], cut
        assert pixels_memory(events[0]) is first.obj, cut  # the rest went into the same memory


def test_a_stream_split_at_every_byte_gives_the_same_frames() -> None:
    stream = b"".join(encode(m) for m in (frame(1), Keepalive(5), frame(2), frame(3)))
    for cut in range(1, len(stream)):
        host = host_after_handshake()
        receive(host, stream[:cut])
        first, _ = drain(host)
        receive(host, stream[cut:])
        rest, errors = drain(host)
        assert errors == [] and first + rest == [frame(1), Keepalive(5), frame(2), frame(3)], cut


def test_a_frame_bigger_than_one_read_is_received_into_memory_of_its_own_size() -> None:
    host = host_after_handshake()  # HELLO_ACK said 8x4: the frames are bigger
    big = [frame(seq, 640, 480) for seq in (1, 2, 3)]
    events: list[Event] = []
    for seq in (1, 2, 3):  # the consumer keeps up: it asks for more after every read
        for at in range(0, 40 + 640 * 480, 4096):
            receive(host, encode(big[seq - 1])[at : at + 4096])
            got, errors = drain(host)
            assert errors == []
            events += got
    assert events == big
    for event in events:  # the header told the size: the pixels are a view of one fresh area
        memory = pixels_memory(event)
        assert isinstance(memory, bytearray) and len(memory) < 2 * 40 + 2 * 640 * 480


def test_memory_is_sized_for_the_next_frame_like_the_last_one() -> None:
    host = host_after_handshake()
    receive(host, encode(frame(1, 640, 480)))
    assert host.next_event() == frame(1, 640, 480)
    assert len(host.get_buffer(-1)) == 40 + 640 * 480  # one read can take the next frame whole
    receive(host, encode(Keepalive()))
    assert host.next_event() == Keepalive()
    assert len(host.get_buffer(-1)) >= 40 + 640 * 480  # not the keepalive's leftover room


def test_pixels_received_in_place_stay_as_they_were_while_more_is_received() -> None:
    host = host_after_handshake()
    receive(host, encode(frame(1)) + encode(frame(2))[:30])
    first = host.next_event()
    assert host.next_event() is NEED_DATA and host.buffered == 30
    receive(host, encode(frame(2))[30:] + b"\xa5" * 70_000 + encode(frame(3)))
    assert drain(host)[0][-2:] == [frame(2), frame(3)] and first == frame(1)


def test_a_handshake_received_in_place_sets_the_frame_size() -> None:
    host = FramePushConnection(Role.HOST)
    receive(host, encode(HelloAck(640, 480, 1000, "cam")))
    assert host.next_event() == HelloAck(640, 480, 1000, "cam")
    assert len(host.get_buffer(-1)) >= 40 + 640 * 480


def feed_in_place(
    conn: FramePushConnection, data: bytes, cuts: list[int], drain_each: bool
) -> tuple[list[Event], list[str]]:
    """Like test_framepush's ``feed``, through get_buffer; also returns the errors."""
    events: list[Event] = []
    errors: list[str] = []
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    for piece in filter(None, pieces):
        receive(conn, piece)
        if drain_each:
            got, raised = drain(conn)
            events += got
            errors += [str(e) for e in raised]
    conn.receive_data(b"")
    got, raised = drain(conn)
    return events + got, errors + [str(e) for e in raised]


def outcome(conn: FramePushConnection, data: bytes, cuts: list[int]) -> tuple[object, ...]:
    events: list[Event] = []
    errors: list[str] = []
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    for piece in [*filter(None, pieces), b""]:
        conn.receive_data(piece)
        got, raised = drain(conn)
        events += got
        errors += [str(e) for e in raised]
    return events, errors, conn.bytes_received, conn.bytes_skipped


@given(
    st.lists(st.tuples(st.integers(0, len(STREAM) - 1), st.integers(0, 255)), max_size=4),
    st.lists(st.integers(0, len(STREAM)), max_size=8),
    st.binary(max_size=40),
    st.integers(0, len(STREAM)),
    st.booleans(),
)
@settings(max_examples=300, deadline=None)  # two codecs per example: no timing on a busy machine
def test_received_in_place_gives_the_same_events_and_errors_as_copied_bytes(
    flips: list[tuple[int, int]], cuts: list[int], junk: bytes, at: int, drain_each: bool
) -> None:
    raw = bytearray(STREAM)
    for pos, value in flips:
        raw[pos] = value
    data = bytes(raw[:at]) + junk + bytes(raw[at:])
    cuts = sorted(c for c in cuts if c <= len(data))
    in_place = FramePushConnection(Role.HOST)
    events, errors = feed_in_place(in_place, data, cuts, drain_each)
    copied = FramePushConnection(Role.HOST)
    # not drained between pieces: everything is buffered first, the same as one piece
    expected = outcome(copied, data, cuts if drain_each else [])
    assert (events, errors, in_place.bytes_received, in_place.bytes_skipped) == expected
