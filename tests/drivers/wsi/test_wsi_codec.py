"""WSI codec: the documented check sequence, packet building, both parsers, fuzzing."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.interfaces import ProtocolError
from drivers.wsi.codec import (
    MAX_FRAME,
    NEED_DATA,
    Ack,
    Command,
    DataReply,
    Nak,
    WsiCommandSet,
    WsiDeviceConnection,
    WsiHostConnection,
    WsiProtocolError,
    checksum,
    command_set,
    error_status_request,
    fault_names,
    parse_error_status,
    parse_print_count,
    print_count_request,
    select_message,
    update_user_field,
)

GS = "\x1d"


def drain(conn: WsiHostConnection | WsiDeviceConnection) -> list[object]:
    out: list[object] = []
    for _ in range(10_000):
        try:
            event = conn.next_event()
        except WsiProtocolError as exc:
            out.append(exc)
            continue
        if event is NEED_DATA:
            return out
        out.append(event)
    raise AssertionError("parser did not settle")


def test_spec_example_ra_is_acknowledged_with_dollar_93() -> None:
    # the WSI document's example: command RA -> reply $93 (0x52 + 0x41 = 0x93)
    command = Command("RA")
    assert WsiHostConnection().send(command) == b"\x02RA\x03"
    assert command.checksum == 0x93
    assert WsiDeviceConnection().send(Ack(command.checksum)) == b"$93"
    assert WsiDeviceConnection().send(Nak(command.checksum)) == b"!93"


@pytest.mark.parametrize(
    ("command", "sequence"),
    [
        (print_count_request(), b"$88"),  # G 0x47 + A 0x41
        (error_status_request(), b"$45"),  # E
        (Command("M", b"A" * 4), b"$51"),  # 0x4D + 4 * 0x41 = 0x151 -> 0x51 (modulo 256)
    ],
)
def test_check_sequence_is_the_modulo_256_sum_in_upper_case_hex(
    command: Command, sequence: bytes
) -> None:
    assert WsiDeviceConnection().send(Ack(command.checksum)) == sequence


def test_checksum_wraps_and_counts_every_byte_between_stx_and_etx() -> None:
    assert checksum(b"\xff\x02") == 0x01
    assert checksum(b"") == 0


def test_user_field_update_separates_name_and_data_with_lf() -> None:
    packet = WsiHostConnection().send(update_user_field("CODE", "0109506000134352" + GS + "21A"))
    assert packet == b"\x02UCODE\n0109506000134352\x1d21A\x03"


@pytest.mark.parametrize("value", ["A\x02B", "A\x03", "A\nB", "€"])
def test_unsendable_field_values_are_refused_naming_the_offset(value: str) -> None:
    with pytest.raises(ValueError, match="offset"):
        update_user_field("CODE", value)


def test_command_letters_are_configurable() -> None:
    custom = WsiCommandSet(message_select="S")
    assert select_message("JOB1", custom) == Command("S", b"JOB1")
    device = WsiDeviceConnection(custom)
    device.receive_data(b"\x02SJOB1\x03")
    assert drain(device) == [Command("S", b"JOB1")]


def test_command_letters_from_a_configuration_keep_the_defaults_they_do_not_name() -> None:
    commands = command_set({"print_on": "Q1", "print_off": "Q0"})
    assert commands == WsiCommandSet(print_on="Q1", print_off="Q0")
    assert commands.print_count == "GA"


@pytest.mark.parametrize(
    ("letters", "problem"),
    [
        ({"print_on": "q1"}, "commands.print_on: one upper-case letter"),
        ({"print_on": "ABC"}, "commands.print_on: one upper-case letter"),
        ({"print_on": 1}, "commands.print_on: one upper-case letter"),
        ({"user_field": "M"}, "commands.user_field: 'M' is also the message_select command"),
        ({"jet": "J"}, "commands.jet: not a WSI command"),
    ],
)
def test_bad_command_letters_are_refused_naming_the_command(
    letters: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValueError) as caught:
        command_set(letters)  # type: ignore[arg-type]
    assert str(caught.value).startswith(problem)


def test_device_side_parses_packets_through_noise_and_splits() -> None:
    host = WsiHostConnection()
    stream = b"\xffnoise" + host.send(print_count_request()) + b"\r\n"
    stream += host.send(update_user_field("CODE", "X")) + host.send(Command("RA"))
    device = WsiDeviceConnection()
    got: list[object] = []
    for i in range(len(stream)):
        device.receive_data(stream[i : i + 1])
        got += drain(device)
    assert got == [Command("GA"), Command("U", b"CODE\nX"), Command("R", b"A")]
    assert device.skipped == 8


def test_host_side_parses_acks_naks_and_data() -> None:
    host = WsiHostConnection()
    host.receive_data(b"$93\r\n!0A\x02GA123\x03junk$")
    assert drain(host) == [Ack(0x93), Nak(0x0A), DataReply(b"GA123")]
    assert host.next_event() is NEED_DATA  # "$" waits for its two digits
    host.receive_data(b"5F")
    assert host.next_event() == Ack(0x5F)


def test_dollar_without_hex_is_an_error_at_its_offset_then_resync() -> None:
    host = WsiHostConnection()
    host.receive_data(b"ab$zz$45")
    with pytest.raises(WsiProtocolError, match="byte 2"):
        host.next_event()
    assert drain(host) == [Ack(0x45)]


def test_data_reply_interrupted_by_stx_keeps_the_second() -> None:
    host = WsiHostConnection()
    host.receive_data(b"\x02GA12\x02GA13\x03")
    got = drain(host)
    assert isinstance(got[0], WsiProtocolError) and got[1] == DataReply(b"GA13")


def test_frame_without_etx_is_dropped_after_the_limit() -> None:
    device = WsiDeviceConnection()
    device.receive_data(b"\x02U" + b"x" * MAX_FRAME + b"\x02GA\x03")
    got = drain(device)
    assert isinstance(got[0], WsiProtocolError)
    assert got[-1] == Command("GA")


def test_print_count_and_error_replies_parse() -> None:
    assert parse_print_count(DataReply(b"GA000123")) == 123
    assert parse_error_status(DataReply(b"E")) == ()
    assert parse_error_status(DataReply(b"E02,07")) == (2, 7)
    assert fault_names((2, 7, 42)) == ("head-open", "eht-trip", "error-42")
    with pytest.raises(ValueError, match="not a print-count reply"):
        parse_print_count(DataReply(b"E02"))
    with pytest.raises(ValueError, match="non-numeric"):
        parse_error_status(DataReply(b"E0x"))


# --- fuzz ---------------------------------------------------------------------------------------

VALID_TO_DEVICE = b"".join(
    WsiHostConnection().send(c)
    for c in (print_count_request(), update_user_field("CODE", "0109506000134352" + GS + "21A"))
)
VALID_TO_HOST = b"$93!0A\x02GA17\x03\x02E02\x03"


def mutate(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    buf = bytearray(data)
    for pos, value in edits:
        buf[pos % len(buf)] = value
    return bytes(buf)


def feed(conn: WsiHostConnection | WsiDeviceConnection, data: bytes, cuts: list[int]) -> None:
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


fuzz = given(
    noise=st.binary(max_size=300),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    cuts=st.lists(st.integers(0, 700), max_size=8),
)


@settings(max_examples=200)
@fuzz
def test_fuzzed_input_never_breaks_the_device_parser(
    noise: bytes, edits: list[tuple[int, int]], cuts: list[int]
) -> None:
    device = WsiDeviceConnection()
    feed(device, noise + mutate(VALID_TO_DEVICE, edits) + noise, cuts)
    device.receive_data(b"\x03\x02GA\x03")  # close anything pending, then a clean packet
    assert Command("GA") in drain(device)


@settings(max_examples=200)
@fuzz
def test_fuzzed_input_never_breaks_the_host_parser(
    noise: bytes, edits: list[tuple[int, int]], cuts: list[int]
) -> None:
    host = WsiHostConnection()
    feed(host, noise + mutate(VALID_TO_HOST, edits) + noise, cuts)
    host.receive_data(b"\x03\r\n$93")
    assert Ack(0x93) in drain(host)
