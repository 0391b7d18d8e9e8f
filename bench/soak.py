"""Soak: the simulated line runs for N minutes while a random fault hits it every few seconds.

The demo's set-up (``harness.demo``: simulators and daemon as processes, a batch imported through
the CLI, cases and pallets) with relays between the daemon and its PLC, printer and camera, and
the central simulator (``python -m simulators.central``, its EPCIS repository) as the line's
upstream. Every ``--mean-fault-s`` on average (seeded, exponential gaps) one fault, weighted: the
daemon SIGKILLed and started again at once (as systemd does), the daemon stopped with SIGTERM and
started again, one device link cut for 0.5-3 s, or the central simulator SIGKILLed and started
again (mid-drain, as often as not). A robot operator keeps the line going as a person would:
Unhold a held line, Start a stopped one. Each fault's recovery time runs from the fault to the
line producing again. When the time is up the line is stopped, the batch closed and the outbox
drained upstream, and the invariants are checked (``harness.invariants``): no serial printed
twice (the printer simulator's log), every batch balanced, ``audit verify`` passes, no unit in
two containers, no event lost or duplicated upstream (the central simulator's store against the
ledger's outbox); and no false accept (the ground truth).

    .venv/bin/python bench/soak.py --minutes 30 --mean-fault-s 10

It prints the faults by kind, the recovery times (p50, p95, max) and the invariants, and exits
non-zero when an invariant fails. Figures from it go in the notes; it is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import shutil
import statistics
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.demo import (  # noqa: E402
    BATCH,
    DemoOptions,
    provision,
    simulator_config,
)
from harness.invariants import (  # noqa: E402
    WAITING,
    InvariantReport,
    OperatorView,
    central_events,
    check_invariants,
    operator_view,
)
from harness.processes import (  # noqa: E402
    Child,
    DemoFiles,
    control_client,
    daemon_config,
    free_port,
    start_daemon,
    start_simulators,
    toml_text,
)
from harness.relay import LinkCutter  # noqa: E402
from harness.truth import compare, read_print_log  # noqa: E402
from linectl.config import load_config  # noqa: E402
from linectl.identity.keyfiles import audit_key_path, load_audit_key  # noqa: E402
from linectl.ledger import Ledger  # noqa: E402
from linectl.ledger.unit_rows import batch_unit_rows  # noqa: E402
from linectl.line.control import Command  # noqa: E402
from linectl.service.client import ControlClient, ControlClientError  # noqa: E402
from simulators.central.config import standards_dir  # noqa: E402
from simulators.virtual_line import line_layout  # noqa: E402

FAULTS = {
    "sigkill": 5, "sigterm": 1, "cut-plc": 1, "cut-printer": 1, "cut-camera": 1, "kill-central": 1,
}  # fmt: skip
RELAYED = ("plc", "printer", "camera")


@dataclass
class Soak:
    """What happened: faults, recoveries, operator actions."""

    faults: Counter[str] = field(default_factory=Counter)
    recoveries: list[float] = field(default_factory=list)
    unrecovered: int = 0  # faults followed by the next one before the line ran again
    unholds: int = 0
    starts: int = 0
    daemon_starts: int = 1
    told: Counter[str] = field(default_factory=Counter)  # stopped after a fault: what it said
    silent: list[str] = field(default_factory=list)  # stopped, and status or log said nothing
    unanswered: int = 0  # status gave no answer a second after the fault


class Central:
    """The central simulator as a process (EPCIS only), restartable on its port and database."""

    def __init__(self, root: Path) -> None:
        self.db = root / "central.db"
        self.log = root / "central.log"
        self.port = free_port()
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [sys.executable, "-m", "simulators.central", "--no-opcua", "--db", str(self.db),
                "--epcis-port", str(self.port), "--admin-port", str(free_port()),
                "--schema", str(standards_dir() / "epcis" / "EPCIS-JSON-Schema.json")]  # fmt: skip
        self.child = Child("central simulator", argv, self.log)
        self.child.wait_line("central simulator:", timeout=60)

    def kill(self) -> None:
        if self.child is not None:
            self.child.kill()
            self.child = None

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(20.0)
            self.child = None


class Line:
    """The daemon (restartable), the relays to its devices and its central system."""

    def __init__(self, files: DemoFiles, relays: dict[str, LinkCutter], central: Central) -> None:
        self.files = files
        self.relays = relays
        self.central = central
        self.daemon: Child | None = None
        self.client: ControlClient | None = None

    async def start_daemon(self) -> None:
        self.daemon = await asyncio.to_thread(start_daemon, self.files, 120.0)
        self.client = control_client(self.files.config)

    async def view(self) -> OperatorView | None:
        """What status and this daemon's log tell the operator now (None: no answer)."""
        status = await self.status()
        if status is None or self.daemon is None:
            return None
        return operator_view(status, "\n".join(self.daemon.log_lines))

    async def status(self) -> dict[str, object] | None:
        if self.client is None:
            return None
        try:
            return await asyncio.to_thread(self.client.status)
        except ControlClientError:
            return None

    async def command(self, command: Command, reason: str, batch: str | None = None) -> bool:
        client = self.client
        if client is None:
            return False
        try:
            await asyncio.to_thread(lambda: client.command(command, reason=reason, batch=batch))
        except ControlClientError:
            return False
        return True


def _state(status: dict[str, object] | None) -> str | None:
    state = status.get("state") if status else None
    return str(state.get("name")) if isinstance(state, dict) and state.get("name") else None


async def operator(line: Line, soak: Soak, producing: asyncio.Event, end: asyncio.Event) -> None:
    """Unhold a held line, Start a stopped one; set ``producing`` while it runs."""
    while not end.is_set():
        status = await line.status()
        state = _state(status)
        if state == "EXECUTE":
            producing.set()
        else:
            producing.clear()
        if state == "HELD" and await line.command(Command.UNHOLD, reason="soak operator"):
            soak.unholds += 1
        elif state in ("STOPPED", "IDLE") and await line.command(
            Command.START, reason="soak operator", batch=BATCH
        ):
            soak.starts += 1
        elif state == "ABORTED":
            await line.command(Command.CLEAR, reason="soak operator")
        await asyncio.sleep(0.5)


async def inject(kind: str, line: Line, rnd: random.Random, soak: Soak) -> None:
    soak.faults[kind] += 1
    if kind in ("sigkill", "sigterm"):
        assert line.daemon is not None
        if kind == "sigkill":
            line.daemon.kill()
        else:
            await asyncio.to_thread(line.daemon.stop, 60.0)
        line.client = None
        await line.start_daemon()
        soak.daemon_starts += 1
    elif kind == "kill-central":
        await asyncio.to_thread(line.central.kill)
        await asyncio.sleep(rnd.uniform(0.5, 3.0))
        await asyncio.to_thread(line.central.start)
    else:
        relay = line.relays[kind.removeprefix("cut-")]
        await relay.cut()
        await asyncio.sleep(rnd.uniform(0.5, 3.0))
        relay.restore()


async def soak_run(args: argparse.Namespace, files: DemoFiles, line: Line, soak: Soak) -> None:
    rnd = random.Random(args.seed)
    producing, end = asyncio.Event(), asyncio.Event()
    assert await line.command(Command.START, reason="soak", batch=BATCH)
    robot = asyncio.create_task(operator(line, soak, producing, end))
    deadline = time.monotonic() + args.minutes * 60.0
    kinds, weights = list(FAULTS), list(FAULTS.values())
    next_at = time.monotonic() + rnd.expovariate(1.0 / args.mean_fault_s)
    try:
        while next_at < deadline:  # faults on their own clock, whether or not the line is back
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            kind = rnd.choices(kinds, weights)[0]
            at = time.monotonic()
            next_at = at + rnd.expovariate(1.0 / args.mean_fault_s)
            await inject(kind, line, rnd, soak)
            producing.clear()
            await asyncio.sleep(1.0)  # the operator sees the fault's state first
            view = await line.view()
            if view is None:
                soak.unanswered += 1  # the daemon still starting again (after a kill)
            elif view.state in WAITING:
                if view.ok:
                    soak.told.update(t.split(": ", 1)[0] for t in view.told)
                else:
                    soak.silent.append(f"{kind}: {view.state} {list(view.problems)}")
            try:
                async with asyncio.timeout(max(0.1, next_at - time.monotonic())):
                    await producing.wait()
                soak.recoveries.append(time.monotonic() - at)
                back = f"running again after {soak.recoveries[-1]:.1f} s"
            except TimeoutError:
                soak.unrecovered += 1
                back = "not running again before the next fault"
            print(f"  {sum(soak.faults.values()):4d} faults: {kind}, {back}", flush=True)
    finally:
        end.set()
        await robot
    await line.command(Command.STOP, reason="soak over")
    for _ in range(120):
        if _state(await line.status()) == "STOPPED":
            break
        await asyncio.sleep(0.5)
    assert line.client is not None
    await asyncio.to_thread(line.client.command, Command.CLOSE_BATCH, reason="soak over")
    await synced(line)


def _backlog(status: Mapping[str, object] | None) -> object:
    upstream = status.get("upstream") if status else None
    return upstream.get("backlog") if isinstance(upstream, dict) else None


async def synced(line: Line, guard_s: float = 300.0) -> None:
    """Wait until the daemon has sent every queued event upstream (status: backlog 0)."""
    deadline = time.monotonic() + guard_s
    while time.monotonic() < deadline:
        if _backlog(await line.status()) == 0:
            return
        await asyncio.sleep(1.0)  # another process: poll its status, as ``linectl sync`` does
    print(f"soak: the backlog did not drain in {guard_s:.0f} s; the invariants will say so")


def final_sync(files: DemoFiles) -> str:
    """``linectl sync`` once the daemon has stopped: it sends what the outbox still holds
    (events queued at close or at the stop, after the status last showed a backlog)."""
    argv = [sys.executable, "-m", "linectl.cli", "--token-file", str(files.token), "sync",
            "--config", str(files.config), "--timeout", "120"]  # fmt: skip
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=180)
    lines = (done.stdout + done.stderr).strip().splitlines()
    return f"exit {done.returncode}: {lines[-1] if lines else ''}"


def invariants(files: DemoFiles, sim_data: dict[str, object], central: Central) -> InvariantReport:
    key = load_audit_key(audit_key_path(load_config(files.config).identity, files.ledger))
    with Ledger(files.ledger) as ledger:
        return check_invariants(
            ledger, [files.print_log], central=central_events(central.db), key=key
        )


def truth_figures(files: DemoFiles, sim_data: dict[str, object]) -> dict[str, object]:
    prints = read_print_log(files.print_log)
    truth = compare(prints, batch_unit_rows(files.ledger, BATCH), line_layout(sim_data))
    return {
        "packs printed": len(prints),
        "false accepts": len(truth.false_accepts),
        "wrong reasons": len(truth.wrong_reasons),
        "printed, no unit (settled by recovery)": sum(m.verdict is None for m in truth.mismatches),
        "unit and print on different packs": sum(m.verdict is not None for m in truth.mismatches),
        "truth": truth.summary(),
    }


async def main_async(args: argparse.Namespace) -> int:
    files = DemoFiles(args.workdir)
    shutil.rmtree(files.root, ignore_errors=True)
    files.root.mkdir(parents=True)
    packs = int(args.minutes * args.speed) + 1000
    options = DemoOptions(packs=packs, packs_per_minute=args.speed, defect_rate=args.defect_rate,
                          seed=args.seed, workdir=files.root, progress=False)  # fmt: skip
    source = tomllib.loads(options.source_config.read_text(encoding="utf-8"))
    sim_data = simulator_config(source, options, files)
    files.sim_config.write_text(toml_text(sim_data), encoding="utf-8")
    soak = Soak()
    started = time.monotonic()
    sim, ports = await asyncio.to_thread(start_simulators, files)
    relays = {name: LinkCutter(ports[name]) for name in RELAYED if name in ports}
    central = Central(files.root)
    try:
        await asyncio.to_thread(central.start)
        relayed = dict(ports)
        for name, relay in relays.items():
            relayed[name] = await relay.start()
        data = daemon_config(sim_data, relayed, files)
        data.setdefault("upstream", {})["epcis"] = {
            "base_url": central.url, "request_timeout_s": 10, "job_timeout_s": 30,
            "backoff_initial_s": 0.5, "backoff_max_s": 5,
        }  # fmt: skip
        files.config.write_text(toml_text(data), "utf-8")
        await asyncio.to_thread(provision, files, options, io.StringIO())
        line = Line(files, relays, central)
        await line.start_daemon()
        print(f"soak: {args.minutes:g} min at {args.speed:.0f} packs/min, a fault every "
              f"{args.mean_fault_s:g} s on average, seed {args.seed}, in {files.root}")  # fmt: skip
        try:
            await soak_run(args, files, line, soak)
        finally:
            if line.daemon is not None:
                await asyncio.to_thread(line.daemon.stop, 60.0)
        synced_after = await asyncio.to_thread(final_sync, files)
    finally:
        for relay in relays.values():
            await relay.close()
        await asyncio.to_thread(sim.stop)
        await asyncio.to_thread(central.stop)
    report = await asyncio.to_thread(invariants, files, sim_data, central)
    found = report.figures() | await asyncio.to_thread(truth_figures, files, sim_data)
    rec = sorted(soak.recoveries)
    figures = {
        "minutes": round((time.monotonic() - started) / 60.0, 1),
        "faults": sum(soak.faults.values()),
        "by kind": dict(soak.faults),
        "daemon starts": soak.daemon_starts,
        "operator unholds": soak.unholds,
        "operator starts": soak.starts,
        "recovery s p50": round(statistics.median(rec), 1) if rec else None,
        "recovery s p95": round(rec[int(0.95 * (len(rec) - 1))], 1) if rec else None,
        "recovery s max": round(rec[-1], 1) if rec else None,
        "faults not recovered before the next": soak.unrecovered,
        "linectl sync after the daemon stopped": synced_after,
        "stopped after a fault, alarms told (status and log)": dict(soak.told),
        "stopped after a fault, nothing told": len(soak.silent),
        "no status a second after the fault": soak.unanswered,
        "nothing told, e.g.": soak.silent[:5],
        **found,
        "audit": report.audit,
    }
    print(json.dumps(figures, indent=2))
    print(report.summary())
    for problem in report.problems():
        print(f"  {problem}")
    ok = report.ok and found["false accepts"] == 0 and not soak.silent
    print("soak: invariants hold" if ok else "soak: AN INVARIANT FAILED")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--mean-fault-s", type=float, default=10.0)
    parser.add_argument("--speed", type=float, default=600.0, help="packs per minute")
    parser.add_argument("--defect-rate", type=float, default=0.005)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--workdir", type=Path, default=REPO / "var" / "soak")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
