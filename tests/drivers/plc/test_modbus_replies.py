"""ModbusPlc's own pymodbus reply classes decode exactly as pymodbus's do, only faster."""

from __future__ import annotations

import logging
import random
import struct

import pytest
from pymodbus.exceptions import ModbusIOException
from pymodbus.pdu import DecodePDU

from drivers.plc import signals as sig
from drivers.plc.modbus import _REPLIES, _InputRegisters, _layout


def decoders() -> tuple[DecodePDU, DecodePDU]:
    """pymodbus's client-side decoder, and one with ModbusPlc's reply classes registered."""
    ours = DecodePDU(False)
    for reply in _REPLIES:
        ours.register(reply)
    return DecodePDU(False), ours


@pytest.mark.parametrize("function_code", [3, 4])
def test_register_replies_decode_as_pymodbus_decodes_them(function_code: int) -> None:
    theirs, ours = decoders()
    rng = random.Random(9)
    for count in (1, 2, 17, 122, 125):
        words = [rng.randrange(0x10000) for _ in range(count)]
        frame = bytes([function_code, 2 * count]) + struct.pack(f">{count}H", *words)
        mine = ours.decode(frame)
        assert type(mine) in _REPLIES  # the registration took
        assert mine is not None and mine.function_code == function_code
        assert list(mine.registers) == list(theirs.decode(frame).registers) == words


def test_a_byte_count_beyond_the_packet_is_refused_as_pymodbus_refuses_it() -> None:
    theirs, ours = decoders()
    frame = bytes([4, 10, 0, 1, 0, 2])  # says 10 bytes, carries 4
    assert theirs.decode(frame) is None and ours.decode(frame) is None  # pymodbus logs it
    with pytest.raises(ModbusIOException, match="byte_count 10"):
        _InputRegisters().decode(frame[1:])


def test_write_reply_decodes_as_pymodbus_decodes_it() -> None:
    theirs, ours = decoders()
    frame = bytes([16, 0, 100, 0, 4])
    mine, pymodbus = ours.decode(frame), theirs.decode(frame)
    assert mine is not None and pymodbus is not None
    assert (mine.address, mine.count) == (pymodbus.address, pymodbus.count) == (100, 4)


def test_reply_text_is_pymodbus_text_when_its_debug_log_is_on() -> None:
    theirs, ours = decoders()
    frame = bytes([4, 4, 0, 1, 0, 2])
    mine, pymodbus = ours.decode(frame), theirs.decode(frame)
    assert mine is not None and pymodbus is not None
    logger = logging.getLogger("pymodbus.logging")
    level = logger.level
    try:
        logger.setLevel(logging.DEBUG)
        full = str(mine)
        logger.setLevel(logging.INFO)
        brief = str(mine)
    finally:
        logger.setLevel(level)
    assert full.endswith(str(pymodbus).split("(", 1)[1]) and "registers=[1, 2]" in full
    assert "registers" not in brief and "transaction_id" in brief


@pytest.mark.parametrize("block", [sig.SNAPSHOT, sig.EVENT_BLOCK], ids=["snapshot", "gate ring"])
def test_values_from_reply_bytes_equal_decode_values(block: tuple[sig.Signal, ...]) -> None:
    _, _, count = sig.span(block)
    rng = random.Random(15)
    words = [rng.randrange(0x10000) for _ in range(count)]
    raw = struct.pack(f">{count}H", *words)
    assert list(_layout(block).unpack_from(raw)) == sig.decode_values(block, words)
