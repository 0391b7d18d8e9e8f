"""Camera simulator: renders each pack reaching the camera and pushes the frame over LCFP (TCP).

In process it shares a VirtualLine with the other simulators: what the printer simulator marked on
a pack is what this camera renders (simulators.camera_scene), and ``truth`` keeps, per seq, what
was printed and what damage the frame got. Standalone (``python -m simulators camera``) it runs its
own line and marks the packs itself, so a daemon or ``linectl decode`` has something to read.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.camera.framepush import (
    CLOSED,
    NEED_DATA,
    Bye,
    FrameMessage,
    FramePushConnection,
    FramePushError,
    Hello,
    HelloAck,
    Keepalive,
    Role,
    encode,
)
from simulators.camera_scene import CameraTruth, FrameRenderer
from simulators.line import Defect, FaultPlan, LineLayout, Pack, Station, VirtualLine

log = logging.getLogger("simulators.camera")
GS = "\x1d"
_Rendered = tuple[npt.NDArray[np.uint8], CameraTruth, float]


@dataclass
class _Client:
    """One connected host that completed the handshake."""

    writer: asyncio.StreamWriter
    codec: FramePushConnection
    peer: str
    last_sent: float = 0.0
    dropped: int = 0
    ready: bool = False


@dataclass
class CameraStats:
    frames_rendered: int = 0
    frames_sent: int = 0  # frame deliveries (one per frame and connected host)
    frames_dropped: int = 0  # deliveries skipped because a host was not keeping up
    connections: int = 0
    render_ms: list[float] = field(default_factory=list)


class CameraSimulator:
    """Pushes a rendered frame to every connected host for each pack reaching Station.CAMERA."""

    def __init__(
        self,
        line: VirtualLine,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        renderer: FrameRenderer | None = None,
        keepalive_ms: int = 1000,
        max_backlog: int = 4 * 1024 * 1024,
        truth_limit: int = 100_000,
        name: str = "linectl camera simulator",
    ) -> None:
        self.line = line
        self.host = host
        self.port = port
        self.renderer = renderer or FrameRenderer()
        self.keepalive_ms = keepalive_ms
        self.max_backlog = max_backlog
        self.truth_limit = truth_limit
        self.name = name
        self.truth: OrderedDict[int, CameraTruth] = OrderedDict()
        self.stats = CameraStats()
        self._clients: dict[asyncio.StreamWriter, _Client] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: asyncio.Queue[tuple[Pack, int, asyncio.Future[_Rendered]]] = asyncio.Queue()
        self._pool: ThreadPoolExecutor | None = None
        self._client_connected = asyncio.Event()
        self._sent = asyncio.Event()
        self.last_seq = 0  # the last pack whose frame went out
        self._closed = False
        line.on(Station.CAMERA, self._on_pack)

    # --- life cycle ---------------------------------------------------------------------------

    async def start(self) -> int:
        """Listen and start pushing; returns the bound port (useful with port=0)."""
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="camera-sim-render")
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._spawn(self._send_loop(), "camera-sim-send")
        if self.keepalive_ms:
            self._spawn(self._keepalive_loop(), "camera-sim-keepalive")
        log.info("camera simulator listening on %s:%d", self.host, self.port)
        return self.port

    async def close(self) -> None:
        """Stop listening, say BYE to every host, stop the tasks. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        await self.drop_clients("camera simulator shutting down")
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pool is not None:
            await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)

    async def drop_clients(self, reason: str = "") -> None:
        """Close every host connection now (after a BYE when ``reason`` is given)."""
        for client in list(self._clients.values()):
            if reason and client.ready and not client.writer.is_closing():
                client.writer.write(encode(Bye(reason, time.time_ns())))
            client.writer.close()
        for client in list(self._clients.values()):
            try:
                async with asyncio.timeout(1.0):
                    await client.writer.wait_closed()
            except TimeoutError:  # a host that stopped reading: do not wait for the flush
                client.writer.transport.abort()
            except OSError:
                pass
        self._clients.clear()

    async def wait_client(self) -> None:
        """Wait until at least one host has completed the handshake."""
        while not any(c.ready for c in self._clients.values()):
            self._client_connected.clear()
            await self._client_connected.wait()

    async def wait_frame(self, seq: int) -> None:
        """Wait until the frame of pack ``seq`` (or a later one) has been pushed."""
        while self.last_seq < seq:
            await self._sent.wait()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("camera simulator task %s failed", task.get_name(), exc_info=task.exception())

    # --- frames -------------------------------------------------------------------------------

    def _on_pack(self, pack: Pack) -> None:
        """Station handler: render on the worker thread (keeps the line's tick quick), then send."""
        if self._pool is None or self._closed:
            return
        loop = asyncio.get_running_loop()
        printed = None if pack.defect is Defect.NO_PRINT else pack.printed
        future = loop.run_in_executor(
            self._pool, self._render, pack.seq, printed, pack.defect, pack.text
        )
        self._pending.put_nowait((pack, time.time_ns(), future))  # exposure time: arrival

    def _render(
        self, seq: int, printed: str | None, defect: Defect | None, text: tuple[str, ...]
    ) -> _Rendered:
        start = time.perf_counter()
        image, truth = self.renderer.render(seq, printed, defect, text or None)
        return image, truth, (time.perf_counter() - start) * 1000

    async def _send_loop(self) -> None:
        """Records the truth and sends each frame, in pack order."""
        while True:
            pack, exposed_ns, future = await self._pending.get()
            try:
                image, truth, render_ms = await future
            except Exception:
                log.exception("rendering the frame for pack %d failed", pack.seq)
                continue
            self.truth[pack.seq] = truth
            while len(self.truth) > self.truth_limit:
                self.truth.popitem(last=False)
            self.stats.frames_rendered += 1
            self.stats.render_ms.append(render_ms)
            del self.stats.render_ms[:-1000]
            self.broadcast(pack.seq, image, exposed_ns)
            self.last_seq = pack.seq
            self._sent.set()
            self._sent = asyncio.Event()

    def broadcast(self, seq: int, image: npt.NDArray[np.uint8], timestamp_ns: int = 0) -> None:
        """Push one frame to every ready host, skipping hosts whose backlog is over the limit."""
        height, width = image.shape
        stamp = timestamp_ns or time.time_ns()
        data = encode(FrameMessage(seq, width, height, image.tobytes(), stamp))
        now = time.monotonic()
        for client in list(self._clients.values()):
            if not client.ready or client.writer.is_closing():
                continue
            if client.writer.transport.get_write_buffer_size() > self.max_backlog:
                client.dropped += 1
                self.stats.frames_dropped += 1
                continue
            client.writer.write(data)
            client.last_sent = now
            self.stats.frames_sent += 1

    async def _keepalive_loop(self) -> None:
        interval = self.keepalive_ms / 1000.0
        while True:
            await asyncio.sleep(interval / 2)
            now = time.monotonic()
            for client in list(self._clients.values()):
                idle = now - client.last_sent >= interval
                if idle and client.ready and not client.writer.is_closing():
                    client.writer.write(client.codec.send(Keepalive(time.time_ns())))
                    client.last_sent = now

    # --- connections --------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        peer = str(writer.get_extra_info("peername"))
        client = _Client(writer, FramePushConnection(Role.CAMERA), peer)
        self._clients[writer] = client
        self.stats.connections += 1
        try:
            await self._serve_client(reader, client)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._clients.pop(writer, None)
            writer.close()
            if client.ready:
                log.info("camera simulator: host %s gone (%d frames dropped)", peer, client.dropped)
            if task is not None:
                self._tasks.discard(task)

    async def _serve_client(self, reader: asyncio.StreamReader, client: _Client) -> None:
        codec = client.codec
        while True:
            try:
                event = codec.next_event()
            except FramePushError as exc:
                log.warning("camera simulator: from %s: %s", client.peer, exc)
                continue
            if event is NEED_DATA:
                timeout = None if client.ready else 5.0
                async with asyncio.timeout(timeout):
                    codec.receive_data(await reader.read(65536))
            elif event is CLOSED or isinstance(event, Bye):
                return
            elif isinstance(event, Hello):
                ack = HelloAck(
                    self.renderer.width,
                    self.renderer.height,
                    self.keepalive_ms,
                    self.name,
                    time.time_ns(),
                )
                client.writer.write(codec.send(ack))
                client.last_sent = time.monotonic()
                client.ready = True
                log.info("camera simulator: host %s (%s) connected", client.peer, event.client)
                self._client_connected.set()


# --- standalone -----------------------------------------------------------------------------


class SelfPrinter:
    """Marks packs at the printer station when no printer simulator runs (standalone mode)."""

    def __init__(self, line: VirtualLine, gtin: str = "09506000134352", lot: str = "SIM1") -> None:
        self.gtin = gtin
        self.lot = lot
        self.last: str | None = None
        line.on(Station.PRINTER, self._mark)

    def data_for(self, seq: int) -> str:
        return f"01{self.gtin}17281231" + f"10{self.lot}{GS}21S{seq:011d}"

    def _mark(self, pack: Pack) -> None:
        pack.intended = self.data_for(pack.seq)
        if pack.defect is Defect.NO_PRINT:
            pack.printed = None
        elif pack.defect is Defect.WRONG_CONTENT:
            pack.printed = f"01{self.gtin}17281231" + f"10OTHER{GS}21X{pack.seq:011d}"
        elif pack.defect is Defect.DUPLICATE and self.last is not None:
            pack.printed = self.last
        else:
            pack.printed = pack.intended
        if pack.printed is not None:
            self.last = pack.printed


def parse_defects(spec: str) -> dict[Defect, float]:
    """``"blur=0.02,smudge=0.01"`` -> {Defect.BLUR: 0.02, ...}; ValueError names a bad item."""
    rates: dict[Defect, float] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, sep, value = item.partition("=")
        try:
            defect = Defect(name.strip())
            rate = float(value)
        except ValueError:
            known = ", ".join(d.value for d in Defect)
            raise ValueError(
                f"bad defect rate {item!r}: expected NAME=RATE, NAME in {known}"
            ) from None
        if not sep or not 0 <= rate <= 1:
            raise ValueError(f"bad defect rate {item!r}: RATE must be in 0..1")
        rates[defect] = rate
    return rates


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``python -m simulators camera``."""
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=19200, help="TCP port for LCFP (0 = any)")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--module-px", type=int, default=5, help="pixels per code module")
    p.add_argument("--symbology", choices=("datamatrix", "qr"), default="datamatrix")
    p.add_argument("--speed", type=float, default=600.0, help="packs per minute")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--defects",
        default="",
        help="per-pack defect rates, e.g. blur=0.02,smudge=0.01,no-print=0.005",
    )
    p.add_argument("--keepalive-ms", type=int, default=1000)
    p.add_argument("--packs", type=int, default=None, help="stop feeding packs after this many")


async def serve(args: argparse.Namespace) -> None:
    """Run a camera on its own virtual line (self-marked packs) until cancelled."""
    faults = FaultPlan(seed=args.seed, rates=parse_defects(args.defects))
    line = VirtualLine(LineLayout(packs_per_minute=args.speed), faults)
    line.packs_limit = args.packs
    SelfPrinter(line)
    renderer = FrameRenderer(
        args.width, args.height, module_px=args.module_px, seed=args.seed, symbology=args.symbology
    )
    camera = CameraSimulator(
        line, args.host, args.port, renderer=renderer, keepalive_ms=args.keepalive_ms
    )
    await camera.start()
    try:
        await line.run()
    finally:
        await camera.close()
