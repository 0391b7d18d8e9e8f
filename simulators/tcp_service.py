"""A TCP listener for device simulators that can drop every client on demand and close cleanly.

The handler gets (reader, writer) per client, like ``asyncio.start_server``; the service keeps
each connection's task and writer so a test can cut the link (``drop_all``) or stop the device
(``close``) and have every handler finish, with nothing left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

log = logging.getLogger("simulators")


class TcpService:
    """Serve ``handler`` on ``host:port`` (port 0: any free port, see ``port`` after start)."""

    def __init__(self, name: str, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self.name, self.host, self.port = name, host, port
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("%s listening on %s:%d", self.name, self.host, self.port)
        return self.port

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None:  # accepted by the kernel just before close(): refuse it
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._handler(reader, writer)
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            pass  # dropped by drop_all(); asyncio's stream callback must not see a cancelled task
        except Exception:
            log.exception("%s: connection handler failed", self.name)
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @property
    def clients(self) -> int:
        return len(self._writers)

    async def drop_all(self) -> None:
        """Cut every client connection now (the device stays up and accepts new ones)."""
        for writer in list(self._writers):
            writer.close()  # the handler's next read sees end of stream and returns
        tasks = list(self._tasks)
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=1.0)
            for task in stuck:
                task.cancel()
            if stuck:
                await asyncio.wait(stuck)

    async def close(self) -> None:
        """Stop listening and drop every client; safe twice."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        await self.drop_all()
        if server is not None:
            with contextlib.suppress(Exception):
                await server.wait_closed()


class TcpDevice:
    """A device simulator served by one :class:`TcpService` (``self.service``, set by the
    subclass): its port, start and close are the service's."""

    service: TcpService

    @property
    def port(self) -> int:
        return self.service.port

    async def start(self) -> int:
        return await self.service.start()

    async def close(self) -> None:
        """Stop listening and drop every client; safe twice."""
        await self.service.close()
