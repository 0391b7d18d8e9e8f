"""The device session on a real loopback socket: what counts as a failed attempt."""

from __future__ import annotations

import asyncio
import logging

import pytest

from drivers.interfaces import DeviceUnavailable
from drivers.links import DeviceLink, TcpLink
from tests.drivers.scripted_device import scripted_device


async def ask(link: DeviceLink) -> bytes:
    """One request: send a line, read the reply."""
    async with link.exchange() as io:
        await io.write(b"PING\n")
        return await io.read()


async def test_a_device_that_accepts_and_closes_at_once_is_backed_off_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    accepted = 0

    async def device(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1  # ... and the connection ends at once

    caplog.set_level(logging.DEBUG, "linectl.devices")
    async with scripted_device(device) as port:
        link = DeviceLink("printer", lambda: TcpLink("127.0.0.1", port))
        refused = []
        for _ in range(50):  # requests as fast as the line would make them
            with pytest.raises(DeviceUnavailable) as exc:
                await ask(link)
            refused.append(str(exc.value))
        await link.close()
    # the first session failed, the next attempt waits out the backoff: no reconnect storm
    assert accepted <= 3, accepted
    assert sum("next attempt in" in text for text in refused) >= 45
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "dropped before any reply" in warnings[0].getMessage()


async def test_a_link_dropped_after_good_requests_reconnects_at_the_next_request() -> None:
    accepted = 0

    async def device(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        await r.readline()
        w.write(b"PONG\n")  # one answer per connection, then it hangs up
        await w.drain()

    async with scripted_device(device) as port:
        link = DeviceLink("printer", lambda: TcpLink("127.0.0.1", port))
        answers = 0
        for _ in range(4):
            answers += await ask(link) == b"PONG\n"
            with pytest.raises(DeviceUnavailable, match="connection lost"):
                await ask(link)  # the drop is found by the next request ...
        await link.close()
    assert answers == 4 and accepted == 4  # ... and the one after reconnects without waiting
