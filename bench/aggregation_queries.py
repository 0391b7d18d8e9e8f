"""Aggregation query benchmark: trace and contents on a ledger of a million packed units.

Prints figures only (no pass/fail). Builds the ledger through the ledger's own API in big
transactions, so every row is sealed and every event queued as on a line: serials imported,
encoded and verified good (commissioning events of 10,000 units), then per pallet one
transaction that opens its cases (SSCC commissioned), packs 24 units into each and closes it
(packing event), stacks them on the pallet and closes it (packing event). Then it times, over
units and pallets picked at random:

- ``trace``: ``Ledger.trace`` of a unit plus its chain (case, pallet, counts, their events),
  what ``linectl trace`` prints;
- ``contents``: the whole tree of a pallet (cases and every unit with its state), what
  ``linectl contents`` prints;
- the same two through the ``linectl`` command in a new process (Python start-up included).

    python bench/aggregation_queries.py [--units 1000000] [--ledger FILE] [--samples 200]

``--ledger`` keeps the built file and reuses it on the next run (building takes minutes).
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from linectl.aggregation.events import ContainerEvents
from linectl.aggregation.steps import close_container, open_container, put_in, put_on
from linectl.config import IdentitySection, LineSection
from linectl.identity import Identity, PasswordExpired, Principal
from linectl.identity.keyfiles import write_secret_file
from linectl.ledger import ContainerLevel, Ledger, UnitResult, Verdict
from linectl.ledger.hierarchy import chain, tree
from linectl.lifecycle import EventFactory, record_verdicts
from standards.gs1.checkdigit import make_sscc

GTIN = "09506000134352"
BATCH = "B-BENCH"
CASE, PALLET = 24, 40
LINE = LineSection(
    id="bench",
    read_point="urn:epc:id:sgln:9506000.00001.1",
    biz_location="urn:epc:id:sgln:9506000.00001.0",
    company_prefix_length=7,
)
CHUNK = 50_000


def build(path: Path, units: int) -> None:
    started = time.perf_counter()

    def say(what: str) -> None:
        print(f"  {time.perf_counter() - started:7.1f} s  {what}", flush=True)

    with Ledger(path) as ledger:
        ledger.create_work_order(
            batch=BATCH,
            gtin=GTIN,
            lot="LBENCH",
            expiry="281130",
            quantity=units,
            target_market="DE",
            actor="bench",
        )
        for first in range(0, units, CHUNK):
            serials = [f"S{i:09d}" for i in range(first, min(first + CHUNK, units))]
            ledger.import_serials(BATCH, GTIN, serials, "bench")
        say(f"{units:,} serials imported")
        ledger.start_work_order(BATCH, actor="bench")
        factory = EventFactory(LINE, ledger.get_work_order(BATCH))
        good: list[str] = []
        while taken := ledger.take_for_encoding(BATCH, CHUNK):
            for first in range(0, len(taken), 10_000):
                group = taken[first : first + 10_000]
                record_verdicts(
                    ledger,
                    factory,
                    [UnitResult(s, len(good) + i, Verdict.GOOD) for i, s in enumerate(group)],
                )
            good += taken
        say(f"{len(good):,} units verified good and commissioned")
        events = ContainerEvents(factory)
        per_pallet = CASE * PALLET
        for p, first in enumerate(range(0, len(good), per_pallet)):
            with ledger.containers.transaction() as tx:
                at = datetime.now(UTC)
                cases = []
                block = good[first : first + per_pallet]
                for c, start in enumerate(range(0, len(block), CASE)):
                    sscc = make_sscc(0, "9506000", p * PALLET + c + 1)
                    open_container(
                        tx, events, sscc, ContainerLevel.CASE, actor="line", reason="bench", at=at
                    )
                    rows = tx.resolve(block[start : start + CASE], GTIN)
                    put_in(tx, events, sscc, rows, actor="line", reason="bench")
                    close_container(tx, events, sscc, actor="line", reason="bench", at=at)
                    cases.append(sscc)
                pallet = make_sscc(3, "9506000", p + 1)
                open_container(
                    tx, events, pallet, ContainerLevel.PALLET, actor="line", reason="bench", at=at
                )
                put_on(tx, pallet, cases, actor="line", reason="bench")
                close_container(tx, events, pallet, actor="line", reason="bench", at=at)
            if p % 100 == 0:
                say(f"pallet {p + 1:,} of {-(-len(good) // per_pallet):,}")
        say("built")


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (
        f"median {statistics.median(values):6.2f} ms  p99 {p99:6.2f} ms  max {ordered[-1]:6.2f} ms"
    )


def bench_login(path: Path) -> Path:
    """A user for the CLI runs (every command needs a login): its session token in a file."""
    token_file = path.with_name("bench.session")
    with Ledger(path) as ledger:
        identity = Identity(ledger, IdentitySection())
        password = secrets.token_urlsafe(18)
        if not identity.has_users():
            identity.bootstrap_admin("bench", "bench", password, one_time=False)
        else:
            identity.reset_password(
                Principal(0, "bench", "bench", "admin", "bench"), "bench", password
            )
        try:
            _, token = identity.login("bench", password)
        except PasswordExpired:
            identity.change_password("bench", password, password + "-2")
            _, token = identity.login("bench", password + "-2")
    write_secret_file(token_file, token + "\n")
    return token_file


def measure(path: Path, samples: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with Ledger(path) as ledger:
        units = ledger.containers.read(
            lambda conn: int(conn.execute("SELECT count(*) FROM units").fetchone()[0])
        )
        pallets = [c.sscc for c in ledger.containers.find(level=ContainerLevel.PALLET)]
        serials = [f"S{int(i):09d}" for i in rng.integers(0, units, samples)]
        print(f"ledger {path}: {units:,} units, {len(pallets):,} pallets")
        traces, trees = [], []
        for serial in serials:
            start = time.perf_counter()
            trace = ledger.trace(serial, gtin=GTIN)
            links = ledger.containers.read(chain, trace.unit.container if trace.unit else None)
            traces.append((time.perf_counter() - start) * 1000)
            assert [link.container.level for link in links] == ["case", "pallet"]
        for pallet in rng.choice(pallets, samples):
            start = time.perf_counter()
            node = ledger.containers.read(tree, str(pallet))
            trees.append((time.perf_counter() - start) * 1000)
            assert node.unit_count > 0
        print(f"trace of a unit (API)        {ms(traces)}")
        print(f"contents of a pallet (API)   {ms(trees)}   ({node.unit_count} units)")
    token = bench_login(path)
    for name, arg in (("trace", serials[0]), ("contents", pallets[0])):
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "linectl.cli",
                    "--ledger",
                    str(path),
                    "--token-file",
                    str(token),
                    name,
                    arg,
                ],
                check=True,
                capture_output=True,
            )
            runs.append((time.perf_counter() - start) * 1000)
        print(f"linectl {name:<8} (process)   {ms(runs)}   (Python start-up included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--ledger", type=Path, help="keep the built ledger here and reuse it")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.ledger or Path(tmp) / "ledger.db"
        if not path.exists():
            print(f"building a ledger of {args.units:,} units in {path}")
            build(path, args.units)
        measure(path, args.samples, args.seed)


if __name__ == "__main__":
    main()
