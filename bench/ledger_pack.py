"""Ledger CPU per pack on the running line: the calls the daemon's worker threads make per pack.

Prints figures only (no pass/fail). On a real ledger file (``synchronous=FULL``, WAL, as the
daemon opens it; its audit trail keyed) it drives, for ``--packs`` packs of one batch, the same
functions in the same grouping as the daemon at 6,000 packs/min with the bench line's packing
(case 12, pallet 10):

- ``take``: ``Ledger.take_for_encoding`` in chunks of 16 with the ``line.assign`` note, as
  ``linectl.line.feeder`` refills its reserve;
- ``verdicts``: ``lifecycle.record_verdicts`` per commit group of 5 units (100 packs/s, one
  commit every 50 ms), every 50th pack a reject (no read);
- ``pack``: ``PackingService.add_units`` with the group's GOOD units, then ``status()``, as
  ``PackingLink._pack`` does;
- ``label``: per closed case or pallet ``verify_label`` with a good read, then ``status()``, as
  ``PackingLink._label`` does.

Per part and in all it prints CPU microseconds per pack (``time.thread_time``: everything runs
in this one thread) and the wall time (fsyncs included). Run it several times, alternating
builds, on a noisy machine. ``--group`` and ``--chunk`` show what other commit groupings and
write-ahead chunks would cost (the daemon's are 50 ms / 100 units and 16).

    python bench/ledger_pack.py [--packs 2400] [--runs 3] [--ledger-dir DIR] [--group 5]
                                [--chunk 16]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's code and test helpers, whatever is installed

from linectl.aggregation import PackingService, RangeSsccSource  # noqa: E402
from linectl.aggregation.packing import ClosedContainer, LabelOutcome  # noqa: E402
from linectl.config import LineSection, PackingSettings, SsccRange  # noqa: E402
from linectl.ledger import Ledger, UnitResult, Verdict  # noqa: E402
from linectl.lifecycle import EventFactory, record_verdicts  # noqa: E402
from linectl.line.assignments import assignment  # noqa: E402
from tests.aggregation.conftest import make_batch  # noqa: E402

LINE = LineSection(
    id="bench-line",
    read_point="urn:epc:id:sgln:9506000.00001.1",
    biz_location="urn:epc:id:sgln:9506000.00001.0",
    company_prefix_length=7,
)
BATCH = "B-PACK"
CASE_SIZE, PALLET_SIZE = 12, 10
TAKE_CHUNK = 16  # linectl.line.runtime: take_chunk
GROUP = 5  # 100 packs/s, a commit every 50 ms
REJECT_EVERY = 50
AUDIT_KEY = bytes(range(32))
PARTS = ("take", "verdicts", "pack", "label")
T = TypeVar("T")


class Meter:
    """CPU and wall seconds spent per part."""

    def __init__(self) -> None:
        self.cpu = dict.fromkeys(PARTS, 0.0)
        self.wall = dict.fromkeys(PARTS, 0.0)

    def run(self, part: str, call: Callable[..., T], *args: object) -> T:
        cpu, wall = time.thread_time(), time.perf_counter()
        result = call(*args)
        self.cpu[part] += time.thread_time() - cpu
        self.wall[part] += time.perf_counter() - wall
        return result


def gs1_128(sscc: str) -> str:
    """What the case-label reader sends for a label's GS1-128 code."""
    return f"]C100{sscc}"


def one_run(path: Path, packs: int, per_group: int = GROUP, chunk: int = TAKE_CHUNK) -> Meter:
    """``packs`` packs through the ledger on a fresh file; the time each part took."""
    meter = Meter()
    with Ledger(path) as ledger:
        ledger.identity.attach_audit_key(AUDIT_KEY, create=True)  # keyed, as `ledger init` makes it
        make_batch(ledger, BATCH, packs + chunk)
        factory = EventFactory(LINE, ledger.get_work_order(BATCH))
        settings = PackingSettings(case_size=CASE_SIZE, pallet_size=PALLET_SIZE)
        source = RangeSsccSource(ledger, SsccRange("9506000", 0, 1, 99_999))
        packer = PackingService(ledger, factory, source, settings)
        packer.resume()
        reserve: list[str] = []
        seq = 0

        def take() -> list[str]:
            first = seq + 1
            return ledger.take_for_encoding(
                BATCH, chunk, then=lambda serials: assignment(BATCH, first, serials)
            )

        def pack(good: list[str]) -> list[ClosedContainer]:
            closed = packer.add_units(good)
            packer.status()
            return closed

        def verify(sscc: str) -> LabelOutcome:
            outcome = packer.verify_label(sscc, gs1_128(sscc))
            packer.status()
            return outcome

        while seq < packs:
            group: list[UnitResult] = []
            for _ in range(per_group):
                if not reserve:
                    reserve += meter.run("take", take)
                seq += 1
                if seq % REJECT_EVERY:
                    group.append(UnitResult(reserve.pop(0), seq, Verdict.GOOD, grade="A"))
                else:
                    group.append(UnitResult(reserve.pop(0), seq, Verdict.REJECT, reason="no-read"))
            meter.run("verdicts", record_verdicts, ledger, factory, group)
            good = [u.serial for u in group if u.verdict is Verdict.GOOD]
            todo = [c.label for c in meter.run("pack", pack, good)]
            while todo:
                outcome = meter.run("label", verify, todo.pop(0).sscc)
                assert outcome.accepted, outcome
                if outcome.closed_pallet is not None:
                    todo.append(outcome.closed_pallet.label)
    return meter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packs", type=int, default=2400)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ledger-dir", type=Path, default=None)
    parser.add_argument(
        "--group", type=int, default=GROUP, help="packs per commit group (5: 50 ms at 100/s)"
    )
    parser.add_argument("--chunk", type=int, default=TAKE_CHUNK, help="serials per write-ahead")
    args = parser.parse_args()
    runs: list[Meter] = []
    with tempfile.TemporaryDirectory(dir=args.ledger_dir) as tmp:
        for run in range(args.runs):
            meter = one_run(Path(tmp) / f"ledger-{run}.db", args.packs, args.group, args.chunk)
            runs.append(meter)
            cpu = {p: meter.cpu[p] / args.packs * 1e6 for p in PARTS}
            wall = sum(meter.wall.values()) / args.packs * 1e6
            parts = "  ".join(f"{p} {cpu[p]:6.1f}" for p in PARTS)
            print(
                f"run {run + 1}: CPU us/pack  {parts}  all {sum(cpu.values()):6.1f}"
                f"   (wall {wall:6.1f} us/pack)",
                flush=True,
            )
    print(f"median of {args.runs} runs of {args.packs} packs, CPU us/pack:")
    for part in PARTS:
        print(f"  {part:9s} {statistics.median(m.cpu[part] for m in runs) / args.packs * 1e6:7.1f}")
    total = statistics.median(sum(m.cpu.values()) for m in runs) / args.packs * 1e6
    print(f"  {'all':9s} {total:7.1f}")


if __name__ == "__main__":
    main()
