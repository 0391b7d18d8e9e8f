"""A cancel that reaches ModbusPlc together with the PLC's reply is never lost (SIGTERM hang)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import pytest

from drivers.plc.modbus import ModbusPlc


@dataclass
class _Reply:
    """The part of a pymodbus PDU that ModbusPlc looks at."""

    registers: tuple[int, ...] = (0,)
    function_code: int = 4

    def isError(self) -> bool:  # pymodbus's name
        return False


async def test_a_cancel_arriving_with_the_reply_cancels_the_caller() -> None:
    plc = ModbusPlc("127.0.0.1", 1, timeout=0.1)
    caller: asyncio.Task[object] | None = None
    reply = _Reply()

    async def reply_while_cancelled() -> _Reply:
        # What pymodbus does under Python 3.11: its asyncio.wait_for sees the reply and the
        # cancel in the same loop iteration and returns the reply, swallowing the cancel.
        assert caller is not None
        caller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0)
        return reply

    caller = asyncio.create_task(plc._execute(reply_while_cancelled))  # type: ignore[arg-type]
    async with asyncio.timeout(5):
        with pytest.raises(asyncio.CancelledError):
            await caller
    assert caller.cancelled()


async def test_a_reply_without_a_cancel_is_returned() -> None:
    plc = ModbusPlc("127.0.0.1", 1, timeout=0.1)
    reply = _Reply()

    async def answer() -> _Reply:
        await asyncio.sleep(0)
        return reply

    async with asyncio.timeout(5):
        assert await plc._execute(answer) is reply  # type: ignore[arg-type]


async def test_a_loop_polling_the_plc_ends_when_cancelled_with_a_reply_in_flight() -> None:
    plc = ModbusPlc("127.0.0.1", 1, timeout=0.1)
    polls = 0
    loop_task: asyncio.Task[None] | None = None

    async def poll() -> _Reply:
        nonlocal polls
        polls += 1
        if polls == 3:  # SIGTERM's cancel lands exactly as the third reply arrives
            assert loop_task is not None
            loop_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0)
        return _Reply()

    async def plc_loop() -> None:
        while True:
            await plc._execute(poll)  # type: ignore[arg-type]
            await asyncio.sleep(0)

    loop_task = asyncio.create_task(plc_loop())
    done, _ = await asyncio.wait({loop_task}, timeout=5)
    assert loop_task in done, "the polling loop swallowed its cancel and kept running"
    assert loop_task.cancelled() and polls == 3
