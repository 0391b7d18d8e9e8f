"""Batch record benchmark: the PDF of a batch of a million units (DESIGN.md section 9: < 60 s).

Prints figures only (no pass/fail). Builds the batch through the ledger's own API in big
transactions (every row sealed, every event queued as on a line): serials imported, encoded and
judged in groups of 10,000 with about 2 % rejects of five reasons, the ledger's clock moving on a
minute per group so the speed chart has a few hundred points; a label-roll change half-way; then
the batch is closed. It then times, separately, reading the record from the ledger
(``ledger.batches.record``), drawing the HTML with its charts, and laying out the PDF, which
together are what ``linectl report B --pdf FILE`` does.

    python bench/batch_record.py [--units 1000000] [--ledger FILE] [--out FILE.pdf]

``--ledger`` keeps the built file and reuses it on the next run (building takes minutes).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from linectl.batchrecord import render_html, render_pdf
from linectl.config import LineSection
from linectl.ledger import Ledger, UnitResult, Verdict
from linectl.lifecycle import EventFactory, record_verdicts, return_unused

GTIN = "09506000134352"
BATCH = "B-RECORD"
GROUP = 10_000
REASONS = ("no-read", "low-grade", "wrong-content", "late", "no-print-confirmation")
LINE = LineSection(
    id="bench",
    read_point="urn:epc:id:sgln:9506000.00001.1",
    biz_location="urn:epc:id:sgln:9506000.00001.0",
    company_prefix_length=7,
)


def moving_clock() -> Callable[[], datetime]:
    """Ledger time: five seconds on per reading (a group of units takes about a minute)."""
    moment = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)

    def now() -> datetime:
        nonlocal moment
        moment += timedelta(seconds=5)
        return moment

    return now


def build(path: Path, units: int) -> None:
    started = time.perf_counter()

    def say(what: str) -> None:
        print(f"  {time.perf_counter() - started:7.1f} s  {what}", flush=True)

    with Ledger(path, clock=moving_clock()) as ledger:
        ledger.create_work_order(
            batch=BATCH, gtin=GTIN, lot="LREC", expiry="281130", quantity=units,
            target_market="DE", materials={"label-roll": "LR-1", "carton": "CT-1"},
            actor="bench",
        )  # fmt: skip
        for first in range(0, units, 50_000):
            serials = [f"R{i:09d}" for i in range(first, min(first + 50_000, units))]
            ledger.import_serials(BATCH, GTIN, serials, "bench")
        say(f"{units:,} serials imported")
        ledger.start_work_order(BATCH, actor="bench")
        factory = EventFactory(LINE, ledger.get_work_order(BATCH))
        seq = 0
        while taken := ledger.take_for_encoding(BATCH, GROUP):
            results = []
            for serial in taken:
                bad = seq % 50 == 7
                reason = REASONS[(seq // 50) % len(REASONS)] if bad else None
                verdict = Verdict.REJECT if bad else Verdict.GOOD
                results.append(UnitResult(serial, seq, verdict, "A", reason))
                seq += 1
            record_verdicts(ledger, factory, results)
            if seq == units // 2:
                ledger.batches.change_material(BATCH, "label-roll", "LR-2", actor="bench")
            if seq % 100_000 == 0:
                say(f"{seq:,} units judged")
        return_unused(ledger, BATCH, actor="bench", reason="batch end")
        ledger.close_work_order(BATCH, actor="bench")
        say("built and closed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--ledger", type=Path, help="keep (and reuse) the built ledger here")
    parser.add_argument("--out", type=Path, help="where to write the PDF (default: a temp file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.ledger or Path(tmp) / "record.db"
        if not path.exists():
            print(f"building a batch of {args.units:,} units in {path}")
            build(path, args.units)
        out = args.out or Path(tmp) / "record.pdf"
        with Ledger(path) as ledger:
            t0 = time.perf_counter()
            data = ledger.batches.record(BATCH)
            t1 = time.perf_counter()
            html = render_html(data, LINE.id)
            t2 = time.perf_counter()
            render_pdf(data, LINE.id, out)
            t3 = time.perf_counter()
        rec = data.reconciliation
        print(f"batch {BATCH}: {rec.received:,} serials, {rec.made:,} made, "
              f"{sum(data.rejects.values()):,} rejects, {len(data.minutes)} minutes")  # fmt: skip
        print(f"  read the record from the ledger  {t1 - t0:6.2f} s")
        print(f"  HTML with its two charts         {t2 - t1:6.2f} s  ({len(html):,} bytes)")
        print(
            f"  PDF (charts drawn again)         {t3 - t2:6.2f} s  ({out.stat().st_size:,} bytes)"
        )
        print(f"  read + PDF, as 'report --pdf'    {t1 - t0 + t3 - t2:6.2f} s (bar: < 60 s)")


if __name__ == "__main__":
    main()
