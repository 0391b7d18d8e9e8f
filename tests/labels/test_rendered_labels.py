"""Every label layout linectl ships, rendered from the exact ZPL linectl sends by an independent
renderer (zpl-renderer-js, npm): each symbol decodes to the intended data with independent
decoders (zxing-cpp; dmtxread for the DataMatrix), and no text overlaps a symbol or its quiet zone
(pixel analysis, see tests/labels/label_image.py).

The formats are what the ZPL printer driver writes to a TCP socket, as to a printer: a unit
label for every shipped market profile (code and text lines made by the line's own
``CodeContent``), a case and a pallet label (``ContainerLabel``). Everything is rendered once per
session, in one node process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp

from drivers.interfaces import PrintJob
from drivers.zpl.client import ZplPrinter
from drivers.zpl.codec import parse_label
from drivers.zpl.layout import LabelLayout, logistic_label_zpl, shipped_layouts
from linectl.aggregation import ContainerLabel
from linectl.config import BUILTIN_PROFILES, CodeForm
from linectl.ledger import ContainerLevel
from linectl.line.verify import CodeContent
from standards.gs1.checkdigit import make_sscc
from tests.labels.label_image import INK, Format, Image, Segment, ink_box, overlaps, widened
from tests.labels.zpl_renderer import RenderJob, ZplRenderer, install

GTIN = "09506000134352"
LOT = "LOT2611/A7"  # 10 characters, with a character Digital Link escapes
EXPIRY = "281130"
SERIAL = "Kx7Q2mR9vB4nW8pL3zT6"  # 20 characters, the longest AI (21) allows
NATIONAL = {"de-pzn": {"710": "12345678"}, "fr-cip": {"711": "3400930000001"}}
SSCC = make_sscc(0, "9506000", 4711)
CASE = ContainerLabel(SSCC, ContainerLevel.CASE, GTIN, LOT, EXPIRY, units=24)
PALLET = ContainerLabel(
    make_sscc(0, "9506000", 4712), ContainerLevel.PALLET, GTIN, LOT, EXPIRY, 960, cases=40
)
REPO = Path(__file__).resolve().parents[2]


def unit_job(profile_name: str, seq: int) -> PrintJob:
    content = CodeContent(
        CodeForm.ELEMENT_STRING_DATAMATRIX,
        gtin=GTIN,
        lot=LOT,
        expiry=EXPIRY,
        profile=BUILTIN_PROFILES[profile_name],
        code_fields=NATIONAL.get(profile_name),
    )
    return PrintJob(seq, content.data(SERIAL), content.hri(SERIAL), content.symbology)


async def sent_formats(jobs: list[PrintJob], labels: list[ContainerLabel]) -> list[str]:
    """What the ZPL printer driver writes for each job and label, cut into its formats."""
    received = bytearray()
    done = asyncio.Event()

    async def printer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            received.extend(data)
        writer.close()
        done.set()

    server = await asyncio.start_server(printer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    driver = ZplPrinter("127.0.0.1", port)
    try:
        await driver.connect()
        for job in jobs:
            await driver.load(job)
        for label in labels:
            await driver.print_label(label)
    finally:
        await driver.close()
    async with asyncio.timeout(10):
        await done.wait()
    server.close()
    await server.wait_closed()
    text = received.decode("utf-8")
    formats = [f"^XA{part.split('^XZ')[0]}^XZ\n" for part in text.split("^XA")[1:]]
    assert "".join(formats) == text, "the driver sent something besides the formats"
    return formats


@dataclass
class Rendered:
    """One label: the exact format, what its symbols must carry, and its rendered images."""

    name: str
    zpl: str
    layout: LabelLayout
    expected: dict[str, str]  # symbology identifier + decoded text -> what
    full: Image = dataclasses.field(default_factory=lambda: np.zeros(0, np.uint8))
    texts: Image = dataclasses.field(default_factory=lambda: np.zeros(0, np.uint8))
    texts_enlarged: Image = dataclasses.field(default_factory=lambda: np.zeros(0, np.uint8))
    symbols: list[tuple[Segment, Image]] = dataclasses.field(default_factory=list)
    png: Path = REPO

    @property
    def format(self) -> Format:
        return Format.cut(self.zpl)


def expected_codes(job: PrintJob) -> dict[str, str]:
    if job.data.startswith("https://"):
        return {"]d1" + job.data: "the Digital Link DataMatrix"}
    return {"]d2" + job.data: "the GS1 DataMatrix"}


def logistic_codes(label: ContainerLabel) -> dict[str, str]:
    return {
        "]d2" + label.content_data: "the content DataMatrix",
        "]C1" + label.sscc_data: "the SSCC GS1-128",
    }


def render_all(renderer: ZplRenderer, labels: list[Rendered], folder: Path) -> None:
    """Every label's whole format, its texts alone (also on a doubled canvas) and each symbol
    alone, in one renderer run."""
    jobs: list[RenderJob] = []
    for item in labels:
        cut, lay = item.format, item.layout
        jobs.append(RenderJob(item.zpl, lay.width, lay.height, lay.dpmm))
        jobs.append(RenderJob(cut.only(cut.texts), lay.width, lay.height, lay.dpmm))
        jobs.append(RenderJob(cut.enlarged_texts(), 2 * lay.width, 2 * lay.height, lay.dpmm))
        jobs += [RenderJob(cut.only([s]), lay.width, lay.height, lay.dpmm) for s in cut.symbols]
    images = iter(renderer.render(jobs))
    for item in labels:
        item.full, item.texts, item.texts_enlarged = next(images), next(images), next(images)
        item.symbols = [(s, next(images)) for s in item.format.symbols]
        item.png = folder / f"{item.name.replace(' ', '-')}.png"
        cv2.imwrite(str(item.png), item.full)


@pytest.fixture(scope="session")
def renderer() -> ZplRenderer:
    try:
        return ZplRenderer(install(REPO / "var" / "npm"))
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"zpl-renderer-js could not be installed from npm: {exc}")


@pytest.fixture(scope="session")
def rendered(
    renderer: ZplRenderer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Rendered]]:
    jobs = [unit_job(name, seq) for seq, name in enumerate(BUILTIN_PROFILES, start=1)]
    formats = asyncio.run(sent_formats(jobs, [CASE, PALLET]))
    layouts = shipped_layouts()
    labels = [
        Rendered(f"unit {name}", zpl, layouts.for_job(job), expected_codes(job))
        for name, job, zpl in zip(BUILTIN_PROFILES, jobs, formats[: len(jobs)], strict=True)
    ]
    labels += [
        Rendered(label.level, zpl, layouts.for_label(label), logistic_codes(label))
        for label, zpl in zip([CASE, PALLET], formats[len(jobs) :], strict=True)
    ]
    # the old fault, made on purpose: the content text moved over the DataMatrix
    moved = dataclasses.replace(
        layouts.pallet,
        fields=tuple(
            dataclasses.replace(f, y=300) if f.name == "content" else f
            for f in layouts.pallet.fields
        ),
    )
    bad = logistic_label_zpl(PALLET, moved).decode()
    labels.append(Rendered("pallet text over the matrix", bad, moved, logistic_codes(PALLET)))
    render_all(renderer, labels, tmp_path_factory.mktemp("labels"))
    yield {item.name: item for item in labels}


SHIPPED = [f"unit {name}" for name in BUILTIN_PROFILES] + ["case", "pallet"]


def test_every_shipped_layout_is_rendered(rendered: dict[str, Rendered]) -> None:
    used = {r.layout.name for r in rendered.values() if r.name in SHIPPED}
    assert used == set(shipped_layouts().by_name())


@pytest.mark.parametrize("name", SHIPPED)
def test_each_symbol_decodes_to_the_intended_data_with_zxing_cpp(
    rendered: dict[str, Rendered], name: str
) -> None:
    item = rendered[name]
    formats = [zxingcpp.BarcodeFormat.DataMatrix, zxingcpp.BarcodeFormat.Code128]
    found = zxingcpp.read_barcodes(
        item.full, formats, try_rotate=False, text_mode=zxingcpp.TextMode.Plain
    )
    decoded = sorted(b.symbology_identifier + b.text for b in found)
    assert decoded == sorted(item.expected), f"{name}: zxing-cpp read {decoded}"


def dmtxread(image: Path) -> str:
    tool = shutil.which("dmtxread")
    if tool is None:
        pytest.fail("dmtxread is missing: .ci/run installs Debian's dmtx-utils (apt-get install)")
    done = subprocess.run(
        [tool, "--gs1=29", "--stop-after=1", str(image)], capture_output=True, timeout=60
    )
    assert done.returncode == 0, f"dmtxread found no DataMatrix in {image.name}: {done.stderr!r}"
    return done.stdout.decode("ascii")


@pytest.mark.parametrize("name", SHIPPED)
def test_the_datamatrix_decodes_to_the_intended_data_with_dmtxread(
    rendered: dict[str, Rendered], name: str
) -> None:
    item = rendered[name]
    (wanted,) = [code for code in item.expected if code.startswith(("]d1", "]d2"))]
    read = dmtxread(item.png)
    if wanted.startswith("]d2"):  # GS1: dmtxread shows the leading FNC1 as GS too
        assert read == "\x1d" + wanted[3:], f"{name}: dmtxread read {read!r}"
    else:
        assert read == wanted[3:], f"{name}: dmtxread read {read!r}"


@pytest.mark.parametrize("name", SHIPPED)
def test_the_parts_drawn_alone_make_up_the_whole_label(
    rendered: dict[str, Rendered], name: str
) -> None:
    item = rendered[name]
    union = item.texts.copy()
    for _, image in item.symbols:
        union = np.minimum(union, image)
    differ = int((union != item.full).sum())
    assert differ == 0, f"{name}: {differ} pixels differ between the parts and the whole label"


@pytest.mark.parametrize("name", SHIPPED)
def test_no_text_overlaps_a_symbol_or_its_quiet_zone(
    rendered: dict[str, Rendered], name: str
) -> None:
    item = rendered[name]
    assert overlaps(item.texts, item.symbols) == []


@pytest.mark.parametrize("name", SHIPPED)
def test_no_text_runs_off_the_label(rendered: dict[str, Rendered], name: str) -> None:
    item = rendered[name]
    big = item.texts_enlarged
    height, width = item.full.shape
    outside = int((big < INK).sum()) - int((big[:height, :width] < INK).sum())
    assert outside == 0, f"{name}: {outside} text pixels beyond the label's edges"
    assert (big[:height, :width] == item.texts).all()


@pytest.mark.parametrize("name", ["case", "pallet"])
def test_the_sscc_bar_code_is_at_the_bottom_with_its_bracketed_line_under_it(
    rendered: dict[str, Rendered], name: str
) -> None:
    item = rendered[name]
    (bars, bar_image), *others = sorted(item.symbols, key=lambda s: s[0].kind != "gs1-128")
    assert bars.kind == "gs1-128"
    box = ink_box(bar_image)
    assert all(ink_box(image)[3] <= box[1] for _, image in others), "a symbol below the SSCC"
    below = item.texts[box[3] :, :]
    assert (below < INK).any(), "no text under the bars"
    sscc = CASE.sscc if name == "case" else PALLET.sscc
    body = item.zpl[item.zpl.index("^XA") + 3 : item.zpl.index("^XZ")]
    lines = [(f.y, f.data) for f in parse_label(body).fields if f.kind == "text"]
    under = [data for y, data in lines if y >= box[3]]
    assert under == [f"(00) {sscc}"]  # the only text below the bars, with its AI in brackets
    hri_box = ink_box(np.where(np.arange(item.texts.shape[0])[:, None] >= box[3], item.texts, 255))
    quiet = widened(box, bars.quiet)
    assert quiet[0] <= hri_box[0] and hri_box[2] <= quiet[2], "the (00) line is not under the bars"
    assert (item.texts[box[1] : box[3], :] >= INK).all(), "text beside the bars"


def test_the_check_finds_text_printed_over_a_datamatrix(rendered: dict[str, Rendered]) -> None:
    """The fault the shipped layouts had, put back on purpose: the check must name it."""
    found = overlaps(rendered["pallet text over the matrix"].texts,
                     rendered["pallet text over the matrix"].symbols)  # fmt: skip
    assert found and "datamatrix at (40,340)" in found[0], found
