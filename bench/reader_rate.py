"""Smart-reader benchmark: the highest rate each reader protocol sustains against its simulator.

Figures only, never pass/fail. Two measurements per protocol (Cognex DMCC, Keyence SR):

1. Reads back to back: ``python -m simulators reader`` as a subprocess and linectl's driver
   (``DmccReader`` / ``KeyenceReader``) triggering it as fast as each read comes back, for
   ``--seconds``: reads per second and the trigger-to-read latency (the simulator answers after
   its 2 ms decode time, as the line's reader simulator does).
2. The line: ``python -m simulators line`` with the reader at the camera station and the daemon
   (``linectl run``), both as subprocesses (``bench/line_speed.py``'s step), raising the speed
   until a clean pack is rejected (no defects injected: any reject is a missed verdict - late, a
   read the camera seq moved under, a pack that passed between two PLC polls).

    python bench/reader_rate.py [--protocol dmcc|keyence] [--seconds 10]
                                [--start 600] [--step 600] [--max 6000] [--line-seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from line_speed import Step, run_step

from drivers.dmcc.client import DmccReader
from drivers.interfaces import CodeReader
from drivers.keyence.client import KeyenceReader
from harness.processes import REPO, free_port

WORKDIR = REPO / "var" / "bench" / "reader-rate"


def start_simulator(protocol: str, port: int) -> subprocess.Popen[bytes]:
    """The stand-alone reader simulator on ``port``, once it accepts connections."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators", "reader",
         "--protocol", protocol, "--port", str(port), "--defect-rate", "0",
         "--no-print-rate", "0"],
        cwd=REPO,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"the {protocol} reader simulator did not listen on port {port}")


async def back_to_back(reader: CodeReader, seconds: float) -> tuple[list[float], int]:
    """Trigger-to-read times (ms) of reads one after the other for ``seconds``; no-reads."""
    await reader.connect()
    while (await reader.read()).text is None:  # until a pack stands at the camera
        pass
    times: list[float] = []
    no_reads = 0
    end = time.perf_counter() + seconds
    try:
        while (start := time.perf_counter()) < end:
            result = await reader.read()
            times.append((time.perf_counter() - start) * 1000)
            no_reads += result.text is None
    finally:
        await reader.close()
    return times, no_reads


def driver(protocol: str, port: int) -> CodeReader:
    if protocol == "dmcc":
        return DmccReader("127.0.0.1", port)
    return KeyenceReader("127.0.0.1", port)


def reads(protocol: str, seconds: float) -> None:
    port = free_port()
    proc = start_simulator(protocol, port)
    try:
        times, no_reads = asyncio.run(back_to_back(driver(protocol, port), seconds))
    finally:
        proc.terminate()
        proc.wait(10)
    cuts = statistics.quantiles(times, n=100)
    print(
        f"  {protocol}: {len(times) / seconds:.0f} reads/s back to back ({len(times)} reads, "
        f"{no_reads} no-reads); trigger to read p50 {cuts[49]:.2f} ms, p99 {cuts[98]:.2f} ms, "
        f"max {max(times):.2f} ms",
        flush=True,
    )


def reader_line(protocol: str) -> dict[str, Any]:
    """The demo line with the reader verifying in place of the camera (no aggregation)."""
    data = tomllib.loads((REPO / "config" / "demo-line.toml").read_text(encoding="utf-8"))
    camera = data["devices"].pop("camera")
    data["devices"] = {
        name: device
        for name, device in data["devices"].items()
        if "role" not in device.get("options", {})
    }
    data["devices"]["reader"] = {"kind": "reader", "protocol": protocol,
                                 "host": camera["host"], "port": 0, "timeout_s": 0.5}  # fmt: skip
    data.pop("aggregation", None)
    return data


def line(protocol: str, args: argparse.Namespace) -> None:
    source = reader_line(protocol)
    best: Step | None = None
    speed = args.start
    while speed <= args.max:
        step = run_step(speed, args.line_seconds, source, args.workdir / protocol)
        lat = step.latency or {}
        print(
            f"  {protocol} {speed:>6.0f} packs/min: {step.packs} packs, {step.missed} missed, "
            f"{step.stalled} after a simulator stall; verdict latency p50 {lat.get('p50')} ms, "
            f"p99 {lat.get('p99')} ms; daemon {step.daemon_ms_per_pack:.2f} ms CPU/pack",
            flush=True,
        )
        if step.missed:
            first = ", ".join(f"pack {seq} {why}" for seq, why in (step.rejected or [])[:6])
            print(f"    missed: {step.reasons}; {first}")
            break
        best = step
        speed += args.step
    if best is None:
        print(f"  {protocol}: no speed ran without a missed verdict")
    else:
        print(f"  {protocol}: highest sustained {best.speed:.0f} packs/min")


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--protocol", choices=("dmcc", "keyence"), action="append")
    p.add_argument("--seconds", type=float, default=10.0, help="back-to-back reads, per protocol")
    p.add_argument("--start", type=float, default=600.0, help="first line speed, packs/min")
    p.add_argument("--step", type=float, default=600.0, help="speed increment, packs/min")
    p.add_argument("--max", type=float, default=6000.0, help="last line speed tried")
    p.add_argument("--line-seconds", type=float, default=15.0, help="line time per step")
    p.add_argument("--no-line", action="store_true", help="only the back-to-back reads")
    p.add_argument("--workdir", type=Path, default=WORKDIR, help="wiped first")
    args = p.parse_args()
    protocols = args.protocol or ["dmcc", "keyence"]
    shutil.rmtree(args.workdir, ignore_errors=True)
    print("reads back to back (driver and simulator on this machine):")
    for protocol in protocols:
        reads(protocol, args.seconds)
    if not args.no_line:
        print("the simulated line verified by the reader (daemon and simulators as processes):")
        for protocol in protocols:
            line(protocol, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
