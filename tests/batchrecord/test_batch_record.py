"""The batch record of a demo batch as HTML and PDF: the PDF's pages, converted to PNG with
pdftoppm (poppler-utils), show the reconciliation figures, the two charts and the signatures."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from linectl.batchrecord import charts
from linectl.ledger import Ledger, Reconciliation, UnitResult, Verdict
from linectl.lifecycle import EventFactory, record_verdicts
from tests.aggregation.conftest import LINE
from tests.batchrecord.demo import BATCH, GTIN, make_demo_batch, run


def poppler(tool: str, *args: str) -> str:
    path = shutil.which(tool)
    assert path is not None, (
        f"{tool} is missing: .ci/run installs it (Debian package poppler-utils)"
    )
    done = subprocess.run([path, *args], capture_output=True, text=True, check=True, timeout=120)
    return done.stdout


def rgb(hex_colour: str) -> tuple[int, int, int]:
    value = int(hex_colour.lstrip("#"), 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


def near(pixel: tuple[int, ...], colour: tuple[int, int, int], slack: int = 12) -> bool:
    return all(abs(a - b) <= slack for a, b in zip(pixel[:3], colour, strict=True))


@dataclass(frozen=True)
class Record:
    """The demo batch's record as PDF and HTML, the PDF's pages as PNG, and the ledger's figures."""

    pdf: Path
    html: str
    pages: list[Path]
    rec: Reconciliation
    rejects: dict[str, int]


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> Record:
    tmp = tmp_path_factory.mktemp("record")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("LINECTL_SESSION_DIR", str(tmp / "sessions"))
        config, _ = make_demo_batch(tmp, monkeypatch)
        pdf, html = tmp / "record.pdf", tmp / "record.html"
        run(monkeypatch, config, "report", BATCH, "--pdf", str(pdf), "--html", str(html))
    with Ledger(tmp / "line.db") as ledger:
        rec, rejects = ledger.reconcile(BATCH), ledger.reject_counts(BATCH)
    poppler("pdftoppm", "-png", "-r", "60", str(pdf), str(tmp / "page"))
    pages = sorted(tmp.glob("page-*.png"))
    return Record(pdf, html.read_text(encoding="utf-8"), pages, rec, rejects)


def text_of(record: Record) -> str:
    return re.sub(r"\s+", " ", poppler("pdftotext", str(record.pdf), "-"))


def test_the_pdf_pages_show_the_reconciliation_figures(record: Record) -> None:
    text, rec = text_of(record), record.rec
    assert f"Batch record {BATCH}" in text
    names = ("received", "commissioned", "scrapped", "sampled", "returned")
    figures = {name: getattr(rec, name) for name in names}
    assert rec.commissioned > 200 and rec.scrapped > 20 and rec.sampled == 1
    for label, value in figures.items():
        assert f"{label} {value:,}" in text, label
    assert "balanced yes" in text
    assert f"planned 300, made {rec.made}" in text
    assert len(record.rejects) >= 4
    for reason, count in record.rejects.items():
        assert f"{reason} {count:,}" in text
    assert "label-roll LR-777 batch start" in text and "label-roll LR-778" in text
    assert "reject-unconfirmed" in text and "sv.sam" in text


def test_the_pdf_pages_show_the_charts(record: Record) -> None:
    rows = [line.split() for line in poppler("pdfimages", "-list", str(record.pdf)).splitlines()]
    images = [r for r in rows[2:] if r[2] == "image"]  # (their alpha masks are "smask" rows)
    assert len(images) == 2  # the Pareto chart and the speed chart, nothing else
    pages = record.pages
    assert len(pages) >= 2
    colours: Counter[str] = Counter()
    for page in pages:
        with Image.open(page) as image:
            pixels = list(image.convert("RGB").get_flattened_data())
            non_white = sum(1 for p in pixels if p != (255, 255, 255))
            assert non_white > 1000, f"{page.name} is blank"
            colours["bar"] += sum(1 for p in pixels if near(p, rgb(charts.BAR)))
            colours["line"] += sum(1 for p in pixels if near(p, rgb(charts.LINE)))
    assert colours["bar"] > 500 and colours["line"] > 100, colours  # the bars and curves show


def test_the_pdf_pages_show_every_signature_with_name_time_and_meaning(record: Record) -> None:
    text = text_of(record)
    assert "Sam Supervisor sv.sam" in text and "batch.close performed" in text
    assert "Quinn Quality qa.quinn" in text and "batch.release released" in text
    assert "rework (unit sample)" in text
    assert re.search(r"Chain head: row \d+ [0-9a-f]{16}", text)


def test_the_html_is_the_same_record_with_the_charts_inline(record: Record) -> None:
    html = record.html
    assert html.count('src="data:image/png;base64,') == 2
    assert "Quinn Quality" in html and "LR-778" in html and "balanced" in html


def test_a_batch_record_shows_only_the_rework_signatures_of_its_own_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINECTL_SESSION_DIR", str(tmp_path / "sessions"))
    config, people = make_demo_batch(tmp_path, monkeypatch)
    with Ledger(tmp_path / "line.db") as ledger:  # a second batch, made after the first
        ledger.create_work_order(
            batch="OTHER-8", gtin=GTIN, lot="L2612B", expiry="281130", quantity=5,
            target_market="DE", actor="sv.sam",
        )  # fmt: skip
        ledger.import_serials("OTHER-8", GTIN, ["E00001", "E00002"], "sv.sam")
        ledger.start_work_order("OTHER-8", actor="sv.sam")
        taken = ledger.take_for_encoding("OTHER-8", 2)
        units = [UnitResult(s, n, Verdict.GOOD, "A") for n, s in enumerate(taken)]
        record_verdicts(ledger, EventFactory(LINE, ledger.get_work_order("OTHER-8")), units)
    people.session("qa.quinn")
    run(monkeypatch, config, "unit", "sample", "E00001", "--reason", "retained sample",
        stdin=people.passwords["qa.quinn"])  # fmt: skip
    with Ledger(tmp_path / "line.db") as ledger:
        demo = [s for s in ledger.batches.record(BATCH).signatures if s.action == "rework"]
        other = [s for s in ledger.batches.record("OTHER-8").signatures if s.action == "rework"]
    assert len(demo) == 1 and len(other) == 1 and demo[0].id < other[0].id
