"""PLC simulator benchmark: can it keep up with the line, and what does it cost?

Prints figures only (no pass/fail). Starts ``python -m simulators.plc --autostart`` at the given
speed in a subprocess, connects a host driver (Modbus or OPC UA) that does what the daemon does
(verdict GOOD for each pack seen at the camera, follows gate events, writes its heartbeat), and
reports: simulator start-up times, packs actually moved per second, the simulator process's CPU
share, verdict write latency, and how many packs passed (a late verdict shows as a reject).

    python bench/plc_sim.py [--speed 3000] [--seconds 10] [--transport modbus|opcua]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import time
from pathlib import Path

from drivers.interfaces import GateOutcome, Verdict
from drivers.plc.client import PlcClient
from drivers.plc.modbus import ModbusPlc
from drivers.plc.opcua import OpcUaPlc

ROOT = Path(__file__).resolve().parent.parent
BANNER = re.compile(r"modbus=([\d.]+):(\d+) opcua=(\S+) \(started: (.*)\)")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulators.plc",
        "--modbus-port",
        "0",
        "--opcua-port",
        "0",
        "--speed",
        str(args.speed),
        "--autostart",
        "--heartbeat-timeout-ms",
        "2000",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    banner = (await proc.stdout.readline()).decode()
    found = BANNER.search(banner)
    if not found:
        raise SystemExit(f"unexpected banner: {banner!r}")
    print(f"simulator up after {time.perf_counter() - t0:.2f} s wall ({found.group(4)})")
    plc: PlcClient = (
        ModbusPlc("127.0.0.1", int(found.group(2)))
        if args.transport == "modbus"
        else OpcUaPlc(found.group(3))
    )
    await plc.connect()
    latencies: list[float] = []
    outcomes: dict[GateOutcome, int] = dict.fromkeys(GateOutcome, 0)
    try:
        snap = await plc.read_snapshot()
        start_in, start_cpu, start = snap.packs_in, cpu_seconds(proc.pid), time.perf_counter()
        written = snap.last_seq_camera
        beat = 0
        while time.perf_counter() - start < args.seconds:
            snap = await plc.read_snapshot()
            for seq in range(written + 1, snap.last_seq_camera + 1):
                t = time.perf_counter()
                await plc.write_verdict(seq, Verdict.GOOD)
                latencies.append((time.perf_counter() - t) * 1000)
            written = max(written, snap.last_seq_camera)
            for event in await plc.gate_events():
                outcomes[event.outcome] += 1
            beat += 1
            await plc.write_heartbeat(beat)
            await asyncio.sleep(args.poll)
        wall = time.perf_counter() - start
        cpu = cpu_seconds(proc.pid) - start_cpu
        moved = (await plc.read_snapshot()).packs_in - start_in
    finally:
        await plc.close()
        proc.terminate()
        await proc.wait()
    rate = moved / wall
    print(f"line speed asked {args.speed:.0f}/min = {args.speed / 60:.1f} packs/s")
    print(f"packs moved       {moved} in {wall:.1f} s = {rate:.1f} packs/s ({rate * 60:.0f}/min)")
    print(f"simulator CPU     {cpu:.2f} s = {100 * cpu / wall:.0f}% of one core")
    if latencies:
        q = statistics.quantiles(latencies, n=100)
        print(
            f"verdict write     p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms, "
            f"max {max(latencies):.2f} ms ({len(latencies)} writes, {args.transport})"
        )
    print("gate outcomes     " + ", ".join(f"{o.name} {n}" for o, n in outcomes.items()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--speed", type=float, default=3000.0, help="packs per minute")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--transport", choices=["modbus", "opcua"], default="modbus")
    p.add_argument("--poll", type=float, default=0.01, help="host poll period, seconds")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
