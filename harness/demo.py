"""``make demo``: the simulated line and the daemon run one batch; the ground truth checks it.

Everything happens in ``var/demo/`` (wiped first): a line configuration derived from
``config/demo-line.toml`` (free ports, the demo's speed, pack count and injected defects), the
simulated line (``python -m simulators line``) and the daemon (``linectl run``) as subprocesses
talking over real sockets, a batch with serials imported offline through the CLI, production
started over the control API, then close-batch. It prints the reconciliation (with every case
and pallet), the reject table and the pack-by-pack comparison with the printer simulator's print
log, then checks ``linectl contents`` of the first pallet against the serials the simulated case
packer put on it. It exits non-zero if the reconciliation does not balance, a pack was falsely
accepted, a defect got the wrong reason or the pallet check fails. Every subprocess is stopped
on the way out (also on Ctrl-C or an error).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import signal
import sys
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from harness.hmi_demo import start_demo_hmi
from harness.identity import set_up_identity
from harness.processes import (
    REPO,
    USER,
    Child,
    DemoError,
    DemoFiles,
    control_client,
    daemon_config,
    start_daemon,
    start_simulators,
    toml_text,
)
from harness.resolver_demo import ResolverDemo, run_resolver_demo
from harness.truth import (
    PalletCheck,
    TruthReport,
    compare,
    listed_serials,
    read_case_log,
    read_print_log,
)
from linectl.cli import main as cli_main
from linectl.ledger import Ledger, LedgerError
from linectl.ledger.unit_rows import batch_unit_rows
from linectl.line.control import Command
from linectl.service.client import ControlClient, ControlClientError
from simulators.central.config import standards_dir
from simulators.line import Defect
from simulators.virtual_line import line_layout
from standards.gs1.checkdigit import check_digit, make_sscc

COMPANY_PREFIX = "4012345"  # as the configuration's read point
SSCC_EXTENSION = 3
GTIN = "0401234500001" + check_digit("0401234500001")  # company prefix 4012345, as the config
LOT = "DEMO01"
EXPIRY = "281130"
BATCH = "DEMO-1"
DEMO_DEFECTS = (
    Defect.NO_PRINT.value,
    Defect.SMUDGE.value,
    Defect.WRONG_CONTENT.value,
    Defect.DUPLICATE.value,
    Defect.LOW_CONTRAST.value,
)
"""The defects the demo injects, each at ``defect_rate``."""
_SERIAL_CHARS = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


@dataclass(frozen=True)
class DemoOptions:
    """What to run: pack count, speed, defect rate per kind, seed, where."""

    packs: int = 2000
    packs_per_minute: float = 1500.0  # a real line runs 75-600; headroom for a busy PC
    defect_rate: float = 0.01  # per kind in DEMO_DEFECTS
    seed: int = 42
    workdir: Path = REPO / "var" / "demo"
    source_config: Path = REPO / "config" / "demo-line.toml"
    progress: bool | None = None  # a bar updated in place; None: when the output is a terminal
    max_unholds: int = 3  # holds the demo's operator clears before giving up

    @property
    def pool(self) -> int:
        """Serials imported: the batch plus room for the print-ahead queue."""
        return self.packs + max(50, self.packs // 20)


@dataclass
class DemoResult:
    """What the demo found; ``ok`` decides the exit code."""

    reconciliation: dict[str, Any]
    reject_reasons: dict[str, int]
    truth: TruthReport
    status: dict[str, Any] = field(default_factory=dict)
    unholds: int = 0
    line_seconds: float = 0.0
    packing: dict[str, Any] = field(default_factory=dict)  # close-batch's packing result
    pallet_check: PalletCheck | None = None  # None: the line builds no pallets
    resolver: ResolverDemo | None = None
    secrets: tuple[str, ...] = ()  # passwords and tokens the demo used (never in clear on disk)

    @property
    def ok(self) -> bool:
        pallets = self.pallet_check is None or self.pallet_check.ok
        resolver = self.resolver is not None and self.resolver.ok
        return bool(self.reconciliation.get("balanced")) and self.truth.ok and pallets and resolver


# --- configuration -------------------------------------------------------------------------------


def simulator_config(
    source: Mapping[str, Any], options: DemoOptions, files: DemoFiles
) -> dict[str, Any]:
    """The demo line for the simulators: every port 0 (the OS picks free ones), demo speed,
    pack count and defects."""
    data: dict[str, Any] = json.loads(json.dumps(source))  # a deep copy of plain data
    for device in data.get("devices", {}).values():
        device["port"] = 0
    sim = data.setdefault("simulation", {})
    sim.update(
        seed=options.seed,
        packs_per_minute=float(options.packs_per_minute),
        packs=options.packs,
        opcua_port=0,
        defects=dict.fromkeys(DEMO_DEFECTS, options.defect_rate),
    )
    data["ledger"] = {"path": str(files.ledger)}
    if "aggregation" in data:
        data["aggregation"]["sscc_stock"] = str(files.ssccs)
    return data


def generate_serials(n: int, seed: int) -> list[str]:
    """``n`` distinct random-looking 12-character serials (GS1 CSET 82), seeded.

    The generator is keyed apart from the simulators' own (which draw "another batch's" codes
    from ``seed`` alone), so a wrong-content code never carries one of these serials by chance.
    """
    rng = random.Random(f"linectl demo serials {seed}")
    out: dict[str, None] = {}
    while len(out) < n:
        out["".join(rng.choice(_SERIAL_CHARS) for _ in range(12))] = None
    return list(out)


def generate_ssccs(n: int) -> list[str]:
    """``n`` SSCCs of the demo's company prefix (extension digit 3), as a pool manager sends."""
    return [make_sscc(SSCC_EXTENSION, COMPANY_PREFIX, ref) for ref in range(1, n + 1)]


def ssccs_needed(config: Mapping[str, Any], packs: int) -> int:
    """SSCCs for every case and pallet ``packs`` good packs can fill, and a few to spare."""
    aggregation = config.get("aggregation")
    if not isinstance(aggregation, Mapping):
        return 0
    cases = -(-packs // int(aggregation.get("case_size", 24)))
    pallet_size = int(aggregation.get("pallet_size", 40))
    return cases + (-(-cases // pallet_size) if pallet_size else 0) + 10


def provision(files: DemoFiles, options: DemoOptions, out: TextIO) -> tuple[str, ...]:
    """Ledger, batch and serials through the CLI, as an operator would (offline provisioning);
    for a line that aggregates (``files.config``) SSCCs into the stock file, as the pool manager
    would send them."""
    files.serials.write_text("\n".join(generate_serials(options.pool, options.seed)) + "\n")
    daemon = tomllib.loads(files.config.read_text(encoding="utf-8"))
    ssccs = ssccs_needed(daemon, options.packs)
    if ssccs:
        stock = Path(daemon["aggregation"].get("sscc_stock") or files.ssccs)
        stock.write_text("\n".join(generate_ssccs(ssccs)) + "\n", encoding="ascii")
    identity = set_up_identity(files.config, files.root, USER, out)
    config = ["--config", str(files.config), "--token-file", str(files.token)]
    steps = [
        ["batch", "create", BATCH, "--gtin", GTIN, "--lot", LOT, "--expiry", EXPIRY,
         "--quantity", str(options.packs), "--market", "DE", "--reason", "make demo"],
        ["serials", "import", str(files.serials), "--batch", BATCH],
    ]  # fmt: skip
    for step in steps:
        print(f"$ linectl {' '.join(step)}", file=out)
        with contextlib.redirect_stdout(out):
            code = cli_main(config + step)
        if code != 0:
            raise DemoError(f"linectl {' '.join(step)} failed with exit code {code}")
    return identity.secrets


# --- the run -------------------------------------------------------------------------------------


class Progress:
    """Packs judged / passed / rejected and speed: a bar in place on a terminal, else lines."""

    def __init__(self, out: TextIO, total: int, in_place: bool, every_s: float = 5.0) -> None:
        self.out = out
        self.total = total
        self.in_place = in_place
        self.every_s = every_s
        self._last = 0.0

    def show(self, status: Mapping[str, Any], *, final: bool = False) -> None:
        now = time.monotonic()
        if not (self.in_place or final or now - self._last >= self.every_s):
            return
        self._last = now
        c = status.get("counters", {})
        reasons = status.get("reject_reasons", {})
        judged = int(c.get("packs_gated", 0))
        passed = int(c.get("commissioned", 0))
        not_packs = int(reasons.get("cancelled", 0)) + int(reasons.get("line-stopped", 0))
        rejected = int(c.get("scrapped", 0)) - not_packs
        speed = float(c.get("packs_per_minute") or 0.0)
        state = (status.get("state") or {}).get("name") or "?"
        text = (
            f"{judged:>5}/{self.total} judged  {passed:>5} passed  {rejected:>4} rejected  "
            f"{speed:>5.0f} packs/min  {state}"
        )
        if self.in_place:
            width = 24
            filled = min(width, width * judged // max(self.total, 1))
            bar = "#" * filled + "." * (width - filled)
            self.out.write(f"\r  [{bar}] {text}\x1b[K" + ("\n" if final else ""))
        else:
            self.out.write(f"  {text}\n")
        self.out.flush()


def run_batch(
    client: ControlClient,
    daemon: Child,
    options: DemoOptions,
    progress: Progress,
    out: TextIO,
) -> tuple[dict[str, Any], int]:
    """Start the batch and follow it to Complete; returns the last status and the unholds."""
    client.command(Command.START, reason="make demo", batch=BATCH)
    line_seconds = options.packs * 60.0 / options.packs_per_minute
    deadline = time.monotonic() + 3 * line_seconds + 60.0
    unholds = 0
    status = client.status()
    while True:
        if not daemon.alive:
            raise DemoError(f"the daemon died during the batch:\n{daemon.tail()}")
        status = client.status()
        progress.show(status)
        state = (status.get("state") or {}).get("name")
        if state == "COMPLETE":
            progress.show(status, final=True)
            return status, unholds
        if state in ("HELD", "SUSPENDED", "STOPPED", "ABORTED"):
            progress.show(status, final=True)
            alarms = "; ".join(f"{a['code']}: {a['message']}" for a in status.get("alarms", []))
            print(f"  line {state}: {alarms or 'no alarm'}", file=out)
            if state != "HELD" or unholds >= options.max_unholds:
                raise DemoError(f"the line went {state} and the demo gives up")
            unholds += 1
            with contextlib.suppress(ControlClientError):
                client.command(Command.UNHOLD, reason="demo operator: unhold")
                print("  demo operator: unhold", file=out)
        if time.monotonic() > deadline:
            raise DemoError(f"the batch did not complete in time (line is {state})")
        time.sleep(0.25 if progress.in_place else 0.5)


def run_demo(options: DemoOptions | None = None, out: TextIO | None = None) -> DemoResult:
    """The whole demo (see the module docstring); raises DemoError if it cannot run."""
    options = options or DemoOptions()
    out = out if out is not None else sys.stdout
    files = DemoFiles(options.workdir)
    shutil.rmtree(files.root, ignore_errors=True)
    files.root.mkdir(parents=True)
    source = tomllib.loads(options.source_config.read_text(encoding="utf-8"))
    sim_data = simulator_config(source, options, files)
    files.sim_config.write_text(toml_text(sim_data), encoding="utf-8")
    in_place = options.progress if options.progress is not None else out.isatty()
    started = time.monotonic()
    print(
        f"linectl demo: {options.packs} packs at {options.packs_per_minute:.0f} packs/min, "
        f"{options.defect_rate:.1%} of each defect ({', '.join(DEMO_DEFECTS)}), "
        f"seed {options.seed}, in {files.root}",
        file=out,
    )
    with contextlib.ExitStack() as stack:
        sim, ports = start_simulators(files)
        stack.callback(sim.stop)
        print(f"simulated line up: {', '.join(f'{k}={v}' for k, v in ports.items())}", file=out)
        files.config.write_text(toml_text(daemon_config(sim_data, ports, files)), encoding="utf-8")
        used = provision(files, options, out)
        hmi = start_demo_hmi(files, used[0], out)  # watch it in a browser while it runs
        stack.callback(hmi.stop)
        used = (*used, *hmi.secrets)
        daemon = start_daemon(files)
        stack.callback(daemon.stop)
        print(f"daemon up (pid {daemon.pid}): {daemon.lines[-1]}", file=out)
        client = control_client(files.config)
        line_started = time.monotonic()
        progress = Progress(out, options.packs, in_place)
        status, unholds = run_batch(client, daemon, options, progress, out)
        line_seconds = time.monotonic() - line_started
        closed = client.command(Command.CLOSE_BATCH, reason="demo batch done")
        reconciliation = closed["status"].get("result", {}).get("reconciliation") or {}
        packing = closed["status"].get("result", {}).get("packing") or {}
        code = daemon.stop()
        if code != 0:
            print(f"warning: the daemon exited with code {code} (see {files.daemon_log})", file=out)
    with Ledger(files.ledger) as ledger:
        reasons = ledger.reject_counts(BATCH)
        table = ledger.reconcile(BATCH).to_table()
    units = batch_unit_rows(files.ledger, BATCH)
    truth = compare(read_print_log(files.print_log), units, line_layout(sim_data))
    result = DemoResult(reconciliation, reasons, truth, status, unholds, line_seconds, packing)
    result.secrets = used
    if packing:
        result.pallet_check = check_first_pallet(files)
    work_order = {"gtin": GTIN, "lot": LOT, "market": "DE"}
    result.resolver = run_resolver_demo(files, units, work_order, standards_dir(), out)
    report(result, table, out, time.monotonic() - started)
    return result


def check_first_pallet(files: DemoFiles) -> PalletCheck | None:
    """``linectl contents`` of the simulator's first pallet against what it put on it."""
    pallets = read_case_log(files.case_log) if files.case_log.exists() else {}
    if not pallets:
        return None
    first = pallets[min(pallets)]
    listed: frozenset[str] = frozenset()
    if first.sscc is not None:
        step = ["contents", first.sscc, "--json"]
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            code = cli_main(
                ["--config", str(files.config), "--token-file", str(files.token), *step]
            )
        if code != 0:
            raise DemoError(f"linectl {' '.join(step)} failed with exit code {code}")
        listed = listed_serials(json.loads(text.getvalue()))
    return PalletCheck(first, listed)


def report(result: DemoResult, table: str, out: TextIO, seconds: float) -> None:
    """Reconciliation, reject table, ground truth and the verdict of the demo."""
    status = result.status
    latency = status.get("verdict_latency_ms", {})
    counters = status.get("counters", {})
    print("", file=out)
    print(table, file=out)
    print("\nReject reasons (scrapped serials by reason)", file=out)
    for reason, count in sorted(result.reject_reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {reason:<24}{count:>6}", file=out)
    print(f"  {'total':<24}{sum(result.reject_reasons.values()):>6}", file=out)
    print("\nGround truth (printer simulator's print log vs the ledger, pack by pack)", file=out)
    print(result.truth.table(), file=out)
    unserialised = int(counters.get("packs_unserialised", 0))
    if unserialised:
        print(f"  {unserialised} packs reached the gate with no serial and were rejected", file=out)
    for problem in result.truth.problems():
        print(f"  {problem}", file=out)
    if result.packing:
        p = result.packing
        print(
            f"\naggregation: {p.get('cases')} cases, {p.get('pallets')} pallets, "
            f"{p.get('orphans')} orphans (policy {p.get('orphan_policy')}), "
            f"{len(p.get('diverted', []))} diverted, {len(p.get('awaiting_label', []))} "
            "labels not verified",
            file=out,
        )
    check = result.pallet_check
    if check is not None and check.pallet.sscc is not None:
        print(f"$ linectl contents {check.pallet.sscc} --json", file=out)
        print(
            f"  {len(check.listed)} serials under the simulator's pallet {check.pallet.number}",
            file=out,
        )
    print(
        f"\nline: {result.line_seconds:.1f} s, verdict latency p50 {latency.get('p50')} ms "
        f"p99 {latency.get('p99')} ms, {result.unholds} unholds; demo {seconds:.1f} s",
        file=out,
    )
    balanced = "balanced" if result.reconciliation.get("balanced") else "NOT BALANCED"
    print(f"reconciliation: {balanced}", file=out)
    print(result.truth.summary(), file=out)
    if result.pallet_check is not None:
        print(result.pallet_check.line(), file=out)
    if result.resolver is not None:
        print("\n".join(result.resolver.lines()), file=out)
    print("demo: OK" if result.ok else "demo: FAILED", file=out)


# --- command line --------------------------------------------------------------------------------


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def parse_args(argv: Sequence[str] | None) -> DemoOptions:
    defaults = DemoOptions()
    p = argparse.ArgumentParser(prog="python -m harness.demo", description=__doc__)
    packs = int(os.environ.get("LINECTL_DEMO_PACKS", defaults.packs))
    p.add_argument("--packs", type=int, default=packs, help="batch size ($LINECTL_DEMO_PACKS)")
    p.add_argument("--speed", type=float, default=defaults.packs_per_minute, help="packs/min")
    p.add_argument("--defect-rate", type=float, default=defaults.defect_rate,
                   help="probability per pack of each injected defect")  # fmt: skip
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--workdir", type=Path, default=defaults.workdir)
    args = p.parse_args(argv)
    if args.packs < 1 or args.speed <= 0 or not 0 <= args.defect_rate * len(DEMO_DEFECTS) <= 1:
        p.error("--packs must be >= 1, --speed > 0, and the defect rates must sum to at most 1")
    return replace(
        defaults,
        packs=args.packs,
        packs_per_minute=args.speed,
        defect_rate=args.defect_rate,
        seed=args.seed,
        workdir=args.workdir,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = run_demo(options)
    except KeyboardInterrupt:
        print("\ndemo interrupted: subprocesses stopped", file=sys.stderr)
        return 130
    except (DemoError, ControlClientError, LedgerError, OSError) as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return 1
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
