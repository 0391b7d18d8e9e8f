"""A scripted device on a real loopback socket, whose connections end with the test that uses it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def scripted_device(script: Script) -> AsyncIterator[int]:
    """Serve ``script`` on a free port (yielded); on exit, await the end of every connection.

    Close the client first: each connection's script then reads the end of the stream and
    returns. A script that fails (an assertion about what the client sent) fails the test here.
    """
    connections: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections.add(task)
        try:
            await script(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client hung up mid-command: the script is over
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
        async with asyncio.timeout(10):  # a script still waiting for data would hang the test
            await asyncio.gather(*connections)
