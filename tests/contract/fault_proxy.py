"""A TCP proxy between a driver and its simulator that can split, join, corrupt and cut replies.

Contract tests put it in the path so the real driver meets the wire faults real devices produce:
replies in single bytes, two replies in one read, garbage before a reply, a connection dropped
mid-reply. Faults apply to the device-to-host direction.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass


@dataclass
class FaultPlan:
    """What the proxy does to bytes flowing from the device to the host."""

    single_bytes: bool = False  # forward every byte as its own write, draining between
    join_replies: int = 1  # hold device bytes until this many device writes arrived, then send once
    garbage: bytes = b""  # sent to the host once, just before the next device bytes
    drop_after: int | None = None  # forward this many more device bytes, then cut both sides


class FaultProxy:
    """Listens on 127.0.0.1 (random port), forwards to ``target``; ``plan`` may change anytime."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.plan = FaultPlan()
        self.server: asyncio.Server | None = None
        self.port = 0
        self.connections = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> FaultProxy:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        await self.drop_all()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def drop_all(self) -> None:
        """Cut every open connection now (both sides)."""
        for writer in list(self._writers):
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        self._writers.clear()

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _accept(self, host_r: asyncio.StreamReader, host_w: asyncio.StreamWriter) -> None:
        try:
            dev_r, dev_w = await asyncio.open_connection(*self.target)
        except OSError:
            host_w.close()
            return
        self.connections += 1
        self._writers.update((host_w, dev_w))
        up = asyncio.create_task(self._pump_up(host_r, dev_w), name="proxy-up")
        down = asyncio.create_task(self._pump_down(dev_r, host_w, dev_w), name="proxy-down")
        for t in (up, down):
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def _pump_up(self, host_r: asyncio.StreamReader, dev_w: asyncio.StreamWriter) -> None:
        try:
            while data := await host_r.read(65536):
                dev_w.write(data)
                await dev_w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            dev_w.close()

    async def _pump_down(
        self, dev_r: asyncio.StreamReader, host_w: asyncio.StreamWriter, dev_w: asyncio.StreamWriter
    ) -> None:
        held: list[bytes] = []
        try:
            while data := await dev_r.read(65536):
                held.append(data)
                if len(held) < self.plan.join_replies:
                    continue
                payload, held = b"".join(held), []
                if self.plan.garbage:
                    payload, self.plan.garbage = self.plan.garbage + payload, b""
                if self.plan.drop_after is not None:
                    payload = payload[: self.plan.drop_after]
                    self.plan.drop_after = None
                    host_w.write(payload)
                    await host_w.drain()
                    host_w.close()
                    dev_w.close()
                    return
                if self.plan.single_bytes:
                    for i in range(len(payload)):
                        host_w.write(payload[i : i + 1])
                        await host_w.drain()
                        await asyncio.sleep(0)
                else:
                    host_w.write(payload)
                    await host_w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            host_w.close()
