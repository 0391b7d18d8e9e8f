"""The per-pack floor: what one pack costs the daemon at the least, part by part, on this machine.

The project's bar is daemon CPU per pack (bench/line_speed.py) of at most 1.2 ms. This measures,
each alone and through the same drivers and libraries the daemon uses, the work no design of the
daemon can leave out for a pack at 6,000 packs/min, so that the figure of line_speed.py can be
read against what the parts cost by themselves:

* decode: zxing-cpp reading the pack's frame (DataMatrix, full resolution, as the decoder's
  first pass), on frames rendered by the camera simulator;
* grade: the approximate ISO/IEC 15415 grade of the decoded symbol (every pack is graded against
  the line's minimum);
* frame in: one 640x480 LCFP frame received over loopback TCP from the camera simulator (in its
  own process) by the camera driver, socket to ``Frame`` (this process's CPU per frame);
* verdict out: one ``write_verdict`` through pymodbus to the PLC simulator (own process);
* job out: one label format built and sent to the ZPL printer simulator (own process);
* and, for scale, what receiving a frame's bytes costs a bare asyncio protocol that neither
  frames nor parses them (the platform's part of "frame in": wake-up, copies, loopback TCP);
* ledger: not measured here (bench/ledger_pack.py measures the ledger's per-pack work).

Polls (PLC snapshot, gate ring, printer status) and the verification logic are design choices
with a cost of their own and are left out: the sum is a floor, not an estimate. CPU is thread
or process CPU time (user + system), so the kernel's share of loopback TCP is included.
Figures only, never pass/fail.

    python bench/pack_floor.py [--n 2000] [--frames 600]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import zxingcpp

from drivers.camera.client import PushCamera
from drivers.camera.decode import _grade, _symbol
from drivers.interfaces import PrintJob, Verdict
from drivers.plc.modbus import ModbusPlc
from drivers.zpl.client import ZplPrinter
from simulators.camera_scene import FrameRenderer

ROOT = Path(__file__).resolve().parent.parent
GS = "\x1d"
LISTENING = re.compile(r"listening on [\d.]+:(\d+)")
MODBUS = re.compile(r"modbus=[\d.]+:(\d+)")


def pack_data(n: int) -> str:
    return f"0104012345000019{GS}17281231{GS}10LOT42{GS}21S{n:011d}"


Simulator = tuple[asyncio.subprocess.Process, int]


async def simulator(args: list[str], banner: re.Pattern[str]) -> Simulator:
    """A simulator in its own process, and the port its banner names."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulators", *args,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    while True:
        line = (await proc.stdout.readline()).decode()
        if not line:
            raise SystemExit(f"simulator {args[0]} ended before it listened")
        found = banner.search(line)
        if found:
            asyncio.get_running_loop().create_task(proc.stdout.read())  # keep its pipe drained
            return proc, int(found.group(1))


async def per_call(n: int, call: Callable[[int], Awaitable[object]]) -> float:
    """CPU microseconds of this thread per ``await call(i)`` (after 200 warm-up calls)."""
    for i in range(200):
        await call(i)
    c0 = time.thread_time_ns()
    for i in range(n):
        await call(200 + i)
    return (time.thread_time_ns() - c0) / 1e3 / n


async def verdict_out(n: int) -> float:
    proc, port = await simulator(["plc", "--modbus-port", "0", "--opcua-port", "0"], MODBUS)
    plc = ModbusPlc("127.0.0.1", port)
    try:
        await plc.connect()
        return await per_call(n, lambda i: plc.write_verdict(i + 1, Verdict.GOOD, 0))
    finally:
        await plc.close()
        proc.terminate()
        await proc.wait()


async def job_out(n: int) -> float:
    proc, port = await simulator(["printer", "--protocol", "zpl", "--port", "0"], LISTENING)
    printer = ZplPrinter("127.0.0.1", port)
    hri = ("GTIN 04012345000019", "EXP 281231", "LOT LOT42", "SN S00000000001")
    try:
        await printer.connect()
        return await per_call(n, lambda i: printer.load(PrintJob(i + 1, pack_data(i), hri)))
    finally:
        await printer.close()
        proc.terminate()
        await proc.wait()


async def frame_in(frames: int) -> float:
    """Process CPU per frame received while the camera simulator sends at 6,000 packs/min."""
    args = ["camera", "--port", "0", "--speed", "6000", "--packs", str(frames + 100)]
    proc, port = await simulator(args, LISTENING)
    camera = PushCamera("127.0.0.1", port)
    got, c0 = 0, 0.0
    try:
        await camera.connect()
        async for _frame in camera.frames():
            got += 1
            if got == 100:  # the first ones warm up the link and the buffers
                c0 = time.process_time()
            if got == frames + 100:
                break
        return (time.process_time() - c0) * 1e6 / frames
    finally:
        await camera.close()
        proc.terminate()
        await proc.wait()


_SENDER = """
import os, socket, sys, time
port, count, size = (int(a) for a in sys.argv[1:4])
s = socket.create_connection(("127.0.0.1", port))
message, due = os.urandom(size), time.monotonic()
for _ in range(count):
    due += 0.01
    time.sleep(max(0.0, due - time.monotonic()))
    s.sendall(message)
time.sleep(0.5)
"""


class _Sink(asyncio.BufferedProtocol):
    """Counts ``size``-byte messages into one reused buffer: no parsing, no copy of its own."""

    def __init__(self, size: int, frames: int, done: asyncio.Future[float]) -> None:
        self.size, self.frames, self.done = size, frames, done
        self.area = memoryview(bytearray(1 << 20))
        self.pending = self.count = 0
        self.cpu0 = 0.0

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.area

    def buffer_updated(self, nbytes: int) -> None:
        self.pending += nbytes
        while self.pending >= self.size:
            self.pending -= self.size
            self.count += 1
            if self.count == 100:
                self.cpu0 = time.process_time()
            if self.count == self.frames + 100 and not self.done.done():
                self.done.set_result((time.process_time() - self.cpu0) * 1e6 / self.frames)


async def bare_socket_in(frames: int, size: int = 640 * 480 + 40) -> float:
    """Process CPU per message of a frame's size received by a bare asyncio protocol (no
    framing, no parsing) from a sender process at 100 a second: the platform's share of
    "frame in" (wake-up, kernel copy, loopback TCP)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()
    server = await loop.create_server(lambda: _Sink(size, frames, done), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    argv = [str(port), str(frames + 100), str(size)]
    sender = await asyncio.create_subprocess_exec(sys.executable, "-c", _SENDER, *argv)
    try:
        return await done
    finally:
        server.close()
        await sender.wait()


def decode_and_grade(frames: int) -> tuple[float, float]:
    """CPU microseconds per frame of the bare zxing-cpp read and of the grade after it."""
    renderer = FrameRenderer()
    images = [renderer.render(i, pack_data(i), None)[0] for i in range(frames)]
    formats = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.DataMatrix)
    plain = zxingcpp.TextMode.Plain
    decode_us: list[float] = []
    grade_us: list[float] = []
    for image in images:
        c0 = time.thread_time_ns()
        found = zxingcpp.read_barcode(image, formats, False, False, False, plain)
        decode_us.append((time.thread_time_ns() - c0) / 1e3)
        symbol = None if found is None else _symbol(found)
        if symbol is not None:
            c0 = time.thread_time_ns()
            _grade(np.asarray(image), symbol)
            grade_us.append((time.thread_time_ns() - c0) / 1e3)
    return statistics.fmean(decode_us[20:]), statistics.fmean(grade_us[20:])


async def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--n", type=int, default=2000, help="calls per device part")
    p.add_argument("--frames", type=int, default=600, help="frames decoded and received")
    args = p.parse_args()
    gc.collect()
    gc.freeze()  # as the daemon does after start-up: collections scan only what runs create
    decode, grade = decode_and_grade(args.frames)
    parts = {
        "decode (zxing-cpp)": decode,
        "grade": grade,
        "frame in (LCFP, 300 KiB)": await frame_in(args.frames),
        "verdict out (pymodbus)": await verdict_out(args.n),
        "job out (ZPL)": await job_out(args.n),
    }
    print("per-pack floor, each part alone (CPU microseconds per pack):")
    for name, us in parts.items():
        print(f"  {name:28s} {us:7.0f}")
    total = sum(parts.values())
    print(f"  {'sum (before ledger, polls, logic)':28s} {total:7.0f}  = {total / 1000:.2f} ms")
    bare = await bare_socket_in(args.frames)
    print(f"  (of frame in, a bare asyncio protocol receiving as many bytes: {bare:.0f})")
    print(f"the bar is 1200 us per pack in all: {1200 - total:.0f} us left for the rest")
    gc.unfreeze()  # (frozen objects are never freed: nanobind would report them as leaked)


if __name__ == "__main__":
    asyncio.run(main())
