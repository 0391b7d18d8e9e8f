"""Line speed benchmark: raise the simulated line's speed until the daemon misses a verdict.

Each step is a fresh batch on a fresh ledger: the simulated line (``python -m simulators line``)
and the daemon (``linectl run``) as subprocesses on this machine, no injected defects, so every
rejected pack is a missed verdict (late, no read in time, printer ran dry, ...) - unless the
simulated line itself paused while that pack went from camera to gate (a GC pause of the
simulator process does that; the line then catches up with several ticks at once): those are
counted apart as "stalled", as the print log's per-pack times show. Per step it
prints the verdict latency the daemon measures (camera trigger - the frame's exposure stamp - to
the verdict written to the PLC; status ``verdict_latency_ms``), the daemon's and the simulators'
CPU time per pack (utime + stime from /proc/<pid>/stat between Start and Complete) and how they
loaded the machine. Then it re-renders frames of the fastest clean step with the camera
simulator's renderer (seeded per pack: byte-identical to what the daemon was sent) and times the
bare zxing-cpp call on them, with the daemon's reader settings. Figures only, never pass/fail.

    python bench/line_speed.py [--start 1500] [--step 1500] [--max 12000] [--seconds 15]
                               [--opcua-clients N]

With ``--opcua-clients N`` each step also runs ``linectl opcua`` and N OPC UA clients
(SignAndEncrypt) subscribed to the state, counts and speed (``opcua_clients.py``), to compare
the verdict latency with a run without them (``--opcua-clients 0``, the default).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import shutil
import statistics
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zxingcpp
from opcua_clients import Subscribers, start_opcua

from drivers.camera.decode import decode_image
from harness.demo import BATCH, DemoOptions, provision, simulator_config
from harness.processes import (
    REPO,
    DemoFiles,
    control_client,
    daemon_config,
    start_daemon,
    start_simulators,
    toml_text,
)
from harness.truth import read_print_log, stalled_around
from linectl.ledger.unit_rows import batch_unit_rows
from linectl.line.control import Command
from simulators.camera_scene import FrameRenderer
from simulators.virtual_line import line_layout

CLOCK_TICK = os.sysconf("SC_CLK_TCK")
WORKDIR = REPO / "var" / "bench" / "line-speed"


@dataclass
class Step:
    """What one speed step measured."""

    speed: float
    packs: int = 0
    missed: int = 0  # rejected packs the daemon had its full camera-to-gate time for
    stalled: int = 0  # rejected packs whose camera-to-gate time a simulator stall squeezed
    max_gap_ms: float = 0.0  # the longest pause between two ticks of the simulated line
    reasons: dict[str, int] | None = None
    latency: dict[str, Any] | None = None
    daemon_cpu_s: float = 0.0
    loop_cpu_s: float = 0.0  # of that, the daemon's main (event-loop) thread
    sim_cpu_s: float = 0.0
    seconds: float = 0.0
    print_log: Path | None = None
    idle_cpu_share: float | None = None  # daemon CPU / wall time with the line standing
    rejected: list[tuple[int, str]] | None = None  # (seq, reason) of every rejected pack
    opcua_notifications: int = 0  # data changes the OPC UA clients received
    opcua_errors: list[str] | None = None

    def marginal_ms_per_pack(self, idle_share: float) -> float:
        """Daemon CPU per pack beyond what it burns standing still (polling, heartbeats)."""
        busy = self.daemon_cpu_s - idle_share * self.seconds
        return 1000 * busy / max(self.packs, 1)

    @property
    def daemon_ms_per_pack(self) -> float:
        return 1000 * self.daemon_cpu_s / max(self.packs, 1)

    @property
    def loop_ms_per_pack(self) -> float:
        return 1000 * self.loop_cpu_s / max(self.packs, 1)

    @property
    def sim_ms_per_pack(self) -> float:
        return 1000 * self.sim_cpu_s / max(self.packs, 1)


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU time of process ``pid`` (all its threads) from /proc/<pid>/stat, or of
    its thread ``thread`` alone (the main thread's id is the pid)."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    with open(path, encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK  # utime, stime (fields 14 and 15)


def run_step(
    speed: float,
    seconds: float,
    source: dict[str, Any],
    workdir: Path,
    idle_s: float = 0.0,
    opcua_clients: int = 0,
) -> Step:
    """One batch of ``seconds`` of line time at ``speed`` packs/min; what it cost."""
    packs = max(100, round(speed * seconds / 60))
    files = DemoFiles(workdir / f"{speed:.0f}")
    files.root.mkdir(parents=True)
    options = DemoOptions(packs=packs, packs_per_minute=speed, defect_rate=0.0, workdir=files.root)
    sim_data = simulator_config(source, options, files)
    files.sim_config.write_text(toml_text(sim_data), encoding="utf-8")
    step = Step(speed, print_log=files.print_log)
    with contextlib.ExitStack() as stack:
        sim, ports = start_simulators(files)
        stack.callback(sim.stop)
        config = daemon_config(sim_data, ports, files)
        # measure verdict timing, not the hold policy: a burst of rejects (a simulator stall)
        # must not stop the step
        config["thresholds"]["consecutive_rejects_hold"] = 1000
        files.config.write_text(toml_text(config), encoding="utf-8")
        used = provision(files, options, io.StringIO())
        if opcua_clients:
            opcua, url, password = start_opcua(files, used[0])
            stack.callback(opcua.stop)
        daemon = start_daemon(files)
        stack.callback(daemon.stop)
        client = control_client(files.config)
        if opcua_clients:
            line_id = tomllib.loads(files.config.read_text(encoding="utf-8"))["line"]["id"]
            pki = files.root / "opcua" / "pki"
            subscribers = Subscribers(url, password, pki, opcua_clients, line_id)
            stack.callback(report_subscribers, step, subscribers)
            stack.callback(subscribers.stop)
            subscribers.ready.wait(90)
        if idle_s > 0:  # a measuring period with the line standing, not a wait for a state
            idle0, w0 = cpu_seconds(daemon.pid), time.monotonic()
            time.sleep(idle_s)
            step.idle_cpu_share = (cpu_seconds(daemon.pid) - idle0) / (time.monotonic() - w0)
        cpu0 = cpu_seconds(daemon.pid), cpu_seconds(sim.pid), cpu_seconds(daemon.pid, daemon.pid)
        t0 = time.monotonic()
        client.command(Command.START, reason="line speed bench", batch=BATCH)
        deadline = t0 + 3 * seconds + 60
        while True:
            status = client.status()
            if status["state"]["name"] == "COMPLETE":
                break
            if status["state"]["name"] in ("HELD", "STOPPED", "ABORTED", "SUSPENDED"):
                alarms = ", ".join(a["code"] for a in status["alarms"])
                print(f"    line went {status['state']['name']} ({alarms})")
                break
            if time.monotonic() > deadline:
                print(f"    no Complete within {deadline - t0:.0f} s")
                break
            time.sleep(0.5)
        step.seconds = time.monotonic() - t0
        step.daemon_cpu_s = cpu_seconds(daemon.pid) - cpu0[0]
        step.sim_cpu_s = cpu_seconds(sim.pid) - cpu0[1]
        step.loop_cpu_s = cpu_seconds(daemon.pid, daemon.pid) - cpu0[2]
        status = client.status()
        step.latency = status["verdict_latency_ms"]
        counters = status["counters"]
        step.packs = int(counters["packs_gated"])
        unserialised = int(counters["packs_unserialised"])
    units = batch_unit_rows(files.ledger, BATCH)
    rejects = [u.reason or "?" for u in units.values() if u.verdict != "good"]
    step.reasons = {r: rejects.count(r) for r in sorted(set(rejects))}
    step.rejected = sorted((u.seq, u.reason or "?") for u in units.values() if u.verdict != "good")
    if unserialised:
        step.reasons["no serial (printer had no job)"] = unserialised
    ticks = {e.seq: e.time for e in read_print_log(files.print_log).values()}
    times = [ticks[k] for k in sorted(ticks)]
    step.max_gap_ms = 1000 * max((b - a for a, b in itertools.pairwise(times)), default=0.0)
    layout = line_layout(sim_data)
    step.stalled = sum(stalled_around(seq, ticks, layout) is not None for seq, _ in step.rejected)
    step.missed = len(rejects) - step.stalled + unserialised + max(0, packs - step.packs)
    return step


def bare_decode(print_log: Path, frames: int) -> tuple[list[float], list[float], list[float], int]:
    """Per-frame CPU and wall ms of the bare zxing-cpp call on re-rendered frames, CPU ms of the
    daemon's decode step (decode + grade) on them, and how many read."""
    entries = [e for e in read_print_log(print_log).values() if e.data is not None]
    every = max(1, len(entries) // frames)
    renderer = FrameRenderer()  # the simulated line's camera: default size, seed 0
    images = [renderer.render(e.seq, e.data, None)[0] for e in entries[::every][:frames]]
    formats = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.DataMatrix)
    plain = zxingcpp.TextMode.Plain
    zxingcpp.read_barcode(images[0], formats, False, True, False, plain)  # warm up
    cpu_ms: list[float] = []
    wall_ms: list[float] = []
    step_ms: list[float] = []
    reads = 0
    for image in images:
        c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
        found = zxingcpp.read_barcode(image, formats, False, True, False, plain)
        cpu_ms.append((time.thread_time_ns() - c0) / 1e6)
        wall_ms.append((time.perf_counter_ns() - w0) / 1e6)
        reads += found is not None
        c0 = time.thread_time_ns()
        decode_image(image)  # what the daemon's Decoder runs per frame (grade included)
        step_ms.append((time.thread_time_ns() - c0) / 1e6)
    return cpu_ms, wall_ms, step_ms, reads


def report_subscribers(step: Step, subscribers: Subscribers) -> None:
    step.opcua_notifications = subscribers.notifications
    step.opcua_errors = list(subscribers.errors)


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--start", type=float, default=1500.0, help="first speed, packs/min")
    p.add_argument("--step", type=float, default=1500.0, help="speed increment, packs/min")
    p.add_argument("--max", type=float, default=12000.0, help="last speed tried, packs/min")
    p.add_argument("--seconds", type=float, default=15.0, help="line time per step")
    p.add_argument("--frames", type=int, default=400, help="frames for the bare decode")
    p.add_argument("--workdir", type=Path, default=WORKDIR, help="wiped first")
    p.add_argument(
        "--opcua-clients", type=int, default=0, help="OPC UA clients subscribed during each step"
    )
    args = p.parse_args()
    source = tomllib.loads((REPO / "config" / "demo-line.toml").read_text(encoding="utf-8"))
    shutil.rmtree(args.workdir, ignore_errors=True)
    print(
        f"line speed bench: {os.cpu_count()} CPUs, {args.seconds:.0f} s of line time per step, "
        f"no injected defects (any reject is a missed verdict); work dir {args.workdir}"
    )
    print(
        f"  {'packs/min':>9} {'packs':>6} {'missed':>6} {'stalled':>7} {'sim gap':>7}"
        f" {'lat p50':>8} {'p99':>7} {'max':>7}"
        f" {'daemon ms/pack':>15} {'daemon CPU':>10} {'sims ms/pack':>13}"
    )
    steps: list[Step] = []
    speed = args.start
    while speed <= args.max:
        idle_s = 3.0 if not steps else 0.0
        step = run_step(speed, args.seconds, source, args.workdir, idle_s, args.opcua_clients)
        steps.append(step)
        lat = step.latency or {}
        busy = 100 * step.daemon_cpu_s / max(step.seconds, 1e-9)
        print(
            f"  {speed:>9.0f} {step.packs:>6} {step.missed:>6} {step.stalled:>7}"
            f" {step.max_gap_ms:>5.0f}ms {lat.get('p50')!s:>8}"
            f" {lat.get('p99')!s:>7} {lat.get('max')!s:>7} {step.daemon_ms_per_pack:>15.2f}"
            f" {busy:>9.0f}% {step.sim_ms_per_pack:>13.2f}",
            flush=True,
        )
        if args.opcua_clients:
            print(
                f"    {args.opcua_clients} OPC UA clients received {step.opcua_notifications} "
                f"data changes; errors: {step.opcua_errors or 'none'}"
            )
        if step.stalled and not step.missed:
            print(f"    rejected after a simulator stall: {step.reasons}")
        if step.missed:
            first = ", ".join(f"pack {seq} {why}" for seq, why in (step.rejected or [])[:8])
            print(f"    missed at {speed:.0f} packs/min: {step.reasons}; {first}")
            break
        speed += args.step
    clean = [s for s in steps if not s.missed]
    if not clean:
        print("\nno speed ran without a missed verdict")
        return 0
    best = clean[-1]
    assert best.print_log is not None
    cpu_ms, wall_ms, step_ms, reads = bare_decode(best.print_log, args.frames)
    bare = statistics.fmean(cpu_ms)
    lat = best.latency or {}
    idle = steps[0].idle_cpu_share or 0.0
    stalled = f", {best.stalled} rejected after a simulator stall" if best.stalled else ""
    print(
        f"\nhighest sustained: {best.speed:.0f} packs/min ({best.packs} packs, no verdict "
        f"missed by the daemon{stalled})"
    )
    print(f"verdict latency at that speed: p50 {lat.get('p50')} ms, p99 {lat.get('p99')} ms")
    print(
        f"daemon CPU per pack: {best.daemon_ms_per_pack:.2f} ms; standing still it uses "
        f"{100 * idle:.0f}% of a core, beyond which a pack costs "
        f"{best.marginal_ms_per_pack(idle):.2f} ms; of the {best.daemon_ms_per_pack:.2f} ms, "
        f"{best.loop_ms_per_pack:.2f} ms on the event-loop thread and "
        f"{best.daemon_ms_per_pack - best.loop_ms_per_pack:.2f} ms on worker threads (decode, "
        "ledger)"
    )
    print(
        f"bare zxing-cpp decode of {len(cpu_ms)} of the same frames ({reads} read): "
        f"CPU mean {bare:.2f} ms, median {statistics.median(cpu_ms):.2f} ms; "
        f"wall median {statistics.median(wall_ms):.2f} ms; the daemon's decode step "
        f"(decode + grade) CPU mean {statistics.fmean(step_ms):.2f} ms"
    )
    print(f"daemon CPU per pack / bare decode: {best.daemon_ms_per_pack / bare:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
