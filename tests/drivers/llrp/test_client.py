"""LlrpReader against a scripted LLRP reader: what the simulator never sends, and the tag merge."""

from __future__ import annotations

import asyncio

import pytest

from drivers.interfaces import DeviceError, TagRead
from drivers.llrp import messages as msg
from drivers.llrp.client import LlrpReader, merge
from drivers.llrp.codec import RESPONSES, LlrpStream, Message
from drivers.llrp.codec import MessageType as M
from drivers.sansio import drain
from tests.drivers.scripted_device import Script, scripted_device

EPC = bytes.fromhex("3074257BF7194E4000001A85")  # TDS Appendix E


def test_one_tag_seen_on_two_antennas_is_one_read_with_the_stronger_rssi() -> None:
    reports = [
        msg.TagReport(EPC, 1, -60, 2, 1, 0, b"\x01" * 12),
        msg.TagReport(EPC, 2, -48, 3, 1, 0, b"\x01" * 12),
        msg.TagReport(EPC, 1, -70, 1, 1, 0, b"\x02" * 12),  # a second tag, same EPC
    ]
    assert merge(reports) == (
        TagRead(EPC.hex().upper(), "01" * 12, -48, 2, 5),
        TagRead(EPC.hex().upper(), "02" * 12, -70, 1, 1),
    )


def test_a_tag_reported_with_and_without_its_tid_is_one_read() -> None:
    reports = [
        msg.TagReport(EPC, 1, -60, 2, 1, 0, None),
        msg.TagReport(EPC, 2, -50, 1, 1, 0, b"\x01" * 12),
        msg.TagReport(EPC, 1, -55, 1, 1, 0, None),
    ]
    assert merge(reports) == (TagRead(EPC.hex().upper(), "01" * 12, -50, 2, 4),)


def reader_script(
    on_start: list[Message | bytes],
) -> tuple[list[Message], Script]:
    """A reader that accepts every request and answers START_ROSPEC with ``on_start`` after the
    response; the messages the host sent are kept."""
    sent: list[Message] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stream = LlrpStream()
        writer.write(msg.reader_event(1, 0, msg.ReaderEvent(0)).encode())
        while data := await reader.read(4096):
            stream.receive_data(data)
            for request in drain(stream):
                sent.append(request)
                if request.kind not in RESPONSES:
                    continue
                writer.write(
                    msg.status_response(RESPONSES[request.kind], request.message_id).encode()
                )
                if request.kind == M.START_ROSPEC:
                    for item in on_start:
                        writer.write(item.encode() if isinstance(item, Message) else item)
                await writer.drain()

    return sent, script


def end_event() -> Message:
    return msg.reader_event(50, 0, msg.ReaderEvent(None, (msg.ROSPEC_END, 1)))


async def test_a_keepalive_during_a_read_is_acknowledged() -> None:
    report = msg.ro_access_report(40, [msg.TagReport(EPC, 1, -50, 1, 1)])
    sent, script = reader_script([Message(M.KEEPALIVE, 77), report, end_event()])
    async with scripted_device(script) as port:
        driver = LlrpReader("127.0.0.1", port, read_tid=False, inventory_ms=5)
        try:
            result = await driver.read_tags(3)
            await driver.read_tags()  # the ack went out before the next request
        finally:
            await driver.close()
    assert [t.epc for t in result.tags] == [EPC.hex().upper()]
    assert Message(M.KEEPALIVE_ACK, 77) in sent


async def test_a_malformed_report_is_skipped_and_counted() -> None:
    broken = Message(M.RO_ACCESS_REPORT, 41, bytes.fromhex("00f0000400f1"))  # truncated TLV
    _, script = reader_script([broken, end_event()])
    async with scripted_device(script) as port:
        driver = LlrpReader("127.0.0.1", port, read_tid=False, inventory_ms=5)
        try:
            result = await driver.read_tags()
        finally:
            await driver.close()
    assert result.no_read and driver.protocol_errors == 1


async def test_the_handshake_sets_up_the_reader_in_order_and_close_says_goodbye() -> None:
    sent, script = reader_script([end_event()])
    async with scripted_device(script) as port:
        driver = LlrpReader("127.0.0.1", port, antennas=(1, 3), inventory_ms=40, tid_words=4)
        try:
            assert (await driver.read_tags()).no_read
        finally:
            await driver.close()
    assert [m.kind for m in sent] == [
        M.DELETE_ACCESSSPEC, M.DELETE_ROSPEC, M.SET_READER_CONFIG, M.ADD_ROSPEC, M.ENABLE_ROSPEC,
        M.ADD_ACCESSSPEC, M.ENABLE_ACCESSSPEC, M.START_ROSPEC, M.CLOSE_CONNECTION,
    ]  # fmt: skip
    assert msg.parse_add_rospec(sent[3]) == msg.InventorySpec(1, (1, 3), 40)
    assert msg.parse_add_accessspec(sent[5]).words == 4
    assert len({m.message_id for m in sent}) == len(sent)


async def test_an_error_message_answering_a_request_is_a_device_error() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stream = LlrpStream()
        while data := await reader.read(4096):
            stream.receive_data(data)
            for request in drain(stream):
                text = "unsupported"
                writer.write(
                    msg.status_response(M.ERROR_MESSAGE, request.message_id, 109, text).encode()
                )

    async with scripted_device(script) as port:
        driver = LlrpReader("127.0.0.1", port, inventory_ms=5)
        try:
            with pytest.raises(DeviceError, match=r"refused: status 109 \(unsupported\)"):
                await driver.read_tags()
        finally:
            await driver.close()


def test_an_inventory_longer_than_the_read_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="shorter than read_timeout"):
        LlrpReader("127.0.0.1", 1, inventory_ms=2000, read_timeout=1.0)
