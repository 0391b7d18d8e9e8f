"""CPU per PLC request of the Modbus driver, per request kind the daemon makes.

Runs the PLC simulator in its own process (no line motion, ``--speed 0``) and times, in this
thread, ``n`` calls of each kind the daemon makes: the per-pack verdict write, the snapshot read
(every 20 ms), the gate ring read (every 50 ms) and the heartbeat write. ``--profile`` prints a
cProfile of the calls instead of figures. Figures only, never pass/fail.

    python bench/plc_requests.py [--n 3000] [--rounds 3] [--profile KIND]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import re
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from drivers.interfaces import Verdict
from drivers.plc.modbus import ModbusPlc

ROOT = Path(__file__).resolve().parent.parent
MODBUS = re.compile(r"modbus=[\d.]+:(\d+)")


def kinds(plc: ModbusPlc) -> dict[str, Callable[[int], Awaitable[object]]]:
    return {
        "write_verdict": lambda i: plc.write_verdict(i, Verdict.GOOD, 0),
        "read_snapshot": lambda i: plc.read_snapshot(),
        "gate_events": lambda i: plc.gate_events(),
        "write_heartbeat": lambda i: plc.write_heartbeat(i),
    }


async def cpu_us(n: int, call: Callable[[int], Awaitable[object]]) -> tuple[float, float]:
    """CPU microseconds of this thread per ``await call(i)``: in all, and in the kernel."""
    for i in range(200):
        await call(i + 1)
    r0 = resource.getrusage(resource.RUSAGE_THREAD)
    c0 = time.thread_time_ns()
    for i in range(n):
        await call(201 + i)
    cpu = (time.thread_time_ns() - c0) / 1e3 / n
    r1 = resource.getrusage(resource.RUSAGE_THREAD)
    return cpu, (r1.ru_stime - r0.ru_stime) * 1e6 / n


async def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--n", type=int, default=3000, help="calls per kind and round")
    p.add_argument("--rounds", type=int, default=3, help="rounds; the median is printed")
    p.add_argument("--profile", metavar="KIND", help="cProfile this kind instead")
    args = p.parse_args()
    _ballast = bytes(1 << 20)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulators", "plc", "--modbus-port", "0", "--no-opcua",
        "--speed", "0", cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    while not (found := MODBUS.search((await proc.stdout.readline()).decode())):
        pass
    asyncio.get_running_loop().create_task(proc.stdout.read())  # keep its pipe drained
    plc = ModbusPlc("127.0.0.1", int(found.group(1)))
    # glibc serves a 256 KiB recv buffer (asyncio's read size) by mmap until a freed mmap chunk
    # raises its threshold; the daemon frees bigger ones (camera frames) all the time. Without
    # this, whether each reply costs an mmap/mremap/munmap depends on start-up history.
    del _ballast
    gc.collect()
    gc.freeze()
    try:
        await plc.connect()
        calls = kinds(plc)
        if args.profile:
            call = calls[args.profile]
            await cpu_us(200, call)
            prof = cProfile.Profile()
            prof.enable()
            for i in range(args.n):
                await call(i + 1)
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)
            return
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in calls}
        for _ in range(args.rounds):
            for name, call in calls.items():
                figures[name].append(await cpu_us(args.n, call))
        print(f"CPU us per request, median of {args.rounds} rounds of {args.n} (kernel part):")
        for name, us in figures.items():
            spread = ", ".join(f"{u:.0f}" for u, _ in us)
            cpu = statistics.median(u for u, _ in us)
            kernel = statistics.median(k for _, k in us)
            print(f"  {name:16s} {cpu:6.0f} ({kernel:3.0f})  [{spread}]")
    finally:
        await plc.close()
        proc.terminate()
        await proc.wait()


if __name__ == "__main__":
    asyncio.run(main())
