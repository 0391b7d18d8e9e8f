"""The LLRP codec and messages: framing, parameters, and each message built by one side and read
by the other (the byte layouts are LLRP 1.0.1 section 16's)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.llrp import messages as msg
from drivers.llrp.codec import (
    LlrpProtocolError,
    LlrpStream,
    Message,
    MessageType,
    ParamType,
    parse_params,
    tlv,
    tv,
)
from drivers.sansio import NEED_DATA, drain
from standards.epc.binary import Scheme, sgtin_epc


def test_keepalive_ack_header_is_version_1_type_72_length_10() -> None:
    assert Message(MessageType.KEEPALIVE_ACK, 1).encode() == bytes.fromhex("0448 0000000a 00000001")


def test_a_message_split_anywhere_is_reassembled() -> None:
    data = msg.spec_id_message(MessageType.START_ROSPEC, 7, 1).encode() * 2
    for cut in range(1, len(data)):
        stream = LlrpStream()
        stream.receive_data(data[:cut])
        got = list(drain(stream))
        stream.receive_data(data[cut:])
        got += list(drain(stream))
        assert got == [Message(MessageType.START_ROSPEC, 7, b"\x00\x00\x00\x01")] * 2


def test_noise_before_a_message_is_skipped_and_reported_once() -> None:
    stream = LlrpStream()
    message = Message(MessageType.KEEPALIVE, 9)
    stream.receive_data(b"\x00\xff\x13\x7f\xfe" + message.encode())
    with pytest.raises(LlrpProtocolError, match="at byte 0: expected an LLRP message header"):
        stream.next_event()
    assert stream.next_event() == message
    assert stream.next_event() is NEED_DATA and stream.skipped == 5


def test_a_header_with_an_unknown_type_or_absurd_length_is_noise() -> None:
    stream = LlrpStream()
    stream.receive_data(bytes.fromhex("07ff 0000000a 00000001") + bytes.fromhex("0448 ffffffff"))
    assert list(drain(stream)) == []
    assert stream.skipped > 0


def test_tv_and_tlv_parameters_parse_back() -> None:
    data = tv(ParamType.ANTENNA_ID, b"\x00\x02") + tlv(ParamType.EPC_DATA, b"\x00\x08\xaa")
    assert [(p.kind, p.value) for p in parse_params(data)] == [
        (1, b"\x00\x02"),
        (241, b"\x00\x08\xaa"),
    ]
    with pytest.raises(ValueError, match="does not fit"):
        parse_params(tlv(ParamType.EPC_DATA, b"\x00\x08\xaa")[:-1])


def test_add_rospec_reads_back_as_the_spec_the_host_asked_for() -> None:
    spec = msg.InventorySpec(rospec_id=3, antennas=(1, 4), duration_ms=250)
    assert msg.parse_add_rospec(msg.add_rospec(5, spec)) == spec
    everywhere = msg.InventorySpec(rospec_id=1)
    assert msg.parse_add_rospec(msg.add_rospec(5, everywhere)) == everywhere


def test_add_accessspec_reads_back_as_a_tid_read() -> None:
    spec = msg.TidReadSpec(access_spec_id=2, rospec_id=1, words=8, op_spec_id=5)
    assert msg.parse_add_accessspec(msg.add_accessspec_tid(6, spec)) == spec


def test_status_and_reader_events_read_back() -> None:
    response = msg.status_response(MessageType.START_ROSPEC_RESPONSE, 4, 400, "ROSpec 1 is off")
    assert msg.parse_status(response) == msg.LlrpStatus(400, "ROSpec 1 is off")
    event = msg.ReaderEvent(connection_status=0)
    assert msg.parse_reader_event(msg.reader_event(1, 10**15, event)) == event
    end = msg.ReaderEvent(rospec_event=(msg.ROSPEC_END, 1))
    assert msg.parse_reader_event(msg.reader_event(2, 10**15, end)) == end


def test_reports_carry_sgtin96_as_epc96_and_sgtin198_as_epcdata() -> None:
    short = sgtin_epc("09506000134352", "7", 7).encode()
    long = sgtin_epc("09506000134352", "A/7", 7, scheme=Scheme.SGTIN_198).encode()
    tags = [
        msg.TagReport(short, 1, -51, 2, 1, 123, bytes(12)),
        msg.TagReport(long, 2, -70, 1, 1, 124, None),
    ]
    report = msg.ro_access_report(3, tags)
    assert bytes([0x80 | ParamType.EPC_96]) + short in report.body
    assert msg.parse_ro_access_report(report) == tags


def test_a_report_without_an_epc_is_refused() -> None:
    bad = Message(
        MessageType.RO_ACCESS_REPORT, 1, tlv(ParamType.TAG_REPORT_DATA, b"", tv(1, b"\x00\x01"))
    )
    with pytest.raises(msg.MessageError, match="without EPC"):
        msg.parse_ro_access_report(bad)


def test_a_truncated_field_is_a_message_error_not_a_crash() -> None:
    bad = Message(MessageType.START_ROSPEC_RESPONSE, 1, tlv(ParamType.LLRP_STATUS, b"\x00"))
    with pytest.raises(msg.MessageError):
        msg.parse_status(bad)


@given(
    st.lists(
        st.tuples(
            st.binary(min_size=12, max_size=12) | st.binary(min_size=26, max_size=26),
            st.integers(1, 64),
            st.integers(-128, 127),
            st.binary(min_size=12, max_size=12) | st.none(),
        ),
        max_size=20,
    )
)
def test_any_report_round_trips(items: list[tuple[bytes, int, int, bytes | None]]) -> None:
    tags = [msg.TagReport(epc, ant, rssi, 1, 9, 5, tid) for epc, ant, rssi, tid in items]
    stream = LlrpStream()
    stream.receive_data(msg.ro_access_report(1, tags).encode())
    (message,) = list(drain(stream))
    assert msg.parse_ro_access_report(message) == tags
