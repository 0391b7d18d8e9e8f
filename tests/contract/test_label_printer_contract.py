"""print_label, the LabelPrinter capability, against the printer simulators on real sockets.

ZPL: the simulator receives one logistic label format; both of its codes, rendered as the printer
marks them and decoded, carry the SSCC data, and its text lines are the label's. WSI (over TCP
and over a pty serial pair): the code field gets ``00`` + SSCC, the HRI fields the text lines,
and that queues exactly one print.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import zxingcpp

from drivers.interfaces import LabelPrinter, LogisticLabel
from drivers.reconnect import ReconnectPolicy
from drivers.wsi.client import WsiPrinter
from drivers.zpl.client import ZplPrinter
from simulators.line import FaultPlan, LineLayout, VirtualLine
from simulators.marking import render_code
from simulators.printer_wsi import WsiPrinterSimulator
from simulators.printer_zpl import ZplPrinterSimulator
from standards.gs1.checkdigit import check_digit, make_sscc
from standards.gs1.scan import parse_scan

GTIN = "0950600013435" + check_digit("0950600013435")
CASE = LogisticLabel(make_sscc(0, "9506000", 4711), "case", GTIN, "L2611/A", "281130", units=24)
PALLET = LogisticLabel(make_sscc(1, "9506000", 88), "pallet", GTIN, "L1", "281100", 960, cases=40)
HRI_FIELDS = ("HRI1", "HRI2", "HRI3", "HRI4", "HRI5")  # a logistic label has five text lines
GUARD = 5.0  # seconds before a broken case fails instead of hanging


def fast_policy(name: str) -> ReconnectPolicy:
    return ReconnectPolicy(name, initial=0.01, maximum=0.05)


def line() -> VirtualLine:
    return VirtualLine(LineLayout(packs_per_minute=6000), FaultPlan(seed=17))


def decoded_ais(data: str, kind: str) -> dict[str, str]:
    """Render ``data`` as the printer marks a ``kind`` field, decode it, return its AIs."""
    image = render_code(data, kind, module_px=3, quiet_zone_modules=10)
    (symbol,) = zxingcpp.read_barcodes(image)
    return dict(parse_scan(symbol.symbology_identifier + symbol.text).ai)


@contextlib.asynccontextmanager
async def connected(
    sim: ZplPrinterSimulator | WsiPrinterSimulator, driver: ZplPrinter | WsiPrinter
) -> AsyncIterator[None]:
    """The driver connected to the started simulator; both closed afterwards."""
    try:
        async with asyncio.timeout(GUARD):
            await driver.connect()
        yield
    finally:
        await driver.close()
        await sim.close()


@pytest.fixture
async def zpl() -> AsyncIterator[tuple[ZplPrinterSimulator, ZplPrinter]]:
    sim = ZplPrinterSimulator(line())
    driver = ZplPrinter("127.0.0.1", await sim.start(), policy=fast_policy("zpl"))
    async with connected(sim, driver):
        yield sim, driver


@pytest.fixture(params=["wsi-tcp", "wsi-serial"])
async def wsi(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[WsiPrinterSimulator, WsiPrinter]]:
    driver: WsiPrinter
    if request.param == "wsi-tcp":
        sim = WsiPrinterSimulator(line())
        port = await sim.start()
        driver = WsiPrinter.tcp(
            "127.0.0.1", port, policy=fast_policy("wsi"), hri_fields=HRI_FIELDS, message="SSCC"
        )
    else:
        link = tmp_path / "ttyWSI0"
        sim = WsiPrinterSimulator(line(), port=None, serial_link=link)
        await sim.start()
        driver = WsiPrinter.serial(
            str(link), 19200, policy=fast_policy("wsi"), hri_fields=HRI_FIELDS, message="SSCC"
        )
    async with connected(sim, driver):
        yield sim, driver


async def test_both_printers_are_label_printers(
    zpl: tuple[ZplPrinterSimulator, ZplPrinter], wsi: tuple[WsiPrinterSimulator, WsiPrinter]
) -> None:
    assert isinstance(zpl[1], LabelPrinter) and isinstance(wsi[1], LabelPrinter)


@pytest.mark.parametrize("label", [CASE, PALLET], ids=["case", "pallet"])
async def test_zpl_label_arrives_as_one_format_whose_two_codes_decode_to_the_sscc(
    zpl: tuple[ZplPrinterSimulator, ZplPrinter], label: LogisticLabel
) -> None:
    sim, driver = zpl
    async with asyncio.timeout(GUARD):
        await driver.print_label(label)
        status = await driver.status()  # answered after the format: the printer has parsed it
    assert sim.protocol_errors == []
    (received,) = sim.labels
    assert status.jobs_queued == 1 and received.quantity == 1
    codes = {f.kind: f.data for f in received.fields if f.kind != "text"}
    assert set(codes) == {"gs1-128", "datamatrix"}
    assert decoded_ais(codes["gs1-128"], "gs1-128") == {"00": label.sscc}
    assert decoded_ais(codes["datamatrix"], "datamatrix") == {
        "00": label.sscc,
        "02": label.gtin,
        "17": label.expiry,
        "37": str(label.units),
        "10": label.lot,
    }
    assert received.texts == (*label.hri(), f"(00) {label.sscc}")  # the SSCC line under the bars


async def test_zpl_labels_queue_in_the_order_they_were_sent(
    zpl: tuple[ZplPrinterSimulator, ZplPrinter],
) -> None:
    sim, driver = zpl
    async with asyncio.timeout(GUARD):
        await driver.print_label(CASE)
        await driver.print_label(PALLET)
        status = await driver.status()
    assert status.jobs_queued == 2
    assert [job.data for job in sim.engine.queue] == [CASE.content_data, PALLET.content_data]


@pytest.mark.parametrize("label", [CASE, PALLET], ids=["case", "pallet"])
async def test_wsi_label_fills_the_code_field_with_the_sscc_and_the_hri_fields_with_its_text(
    wsi: tuple[WsiPrinterSimulator, WsiPrinter], label: LogisticLabel
) -> None:
    sim, driver = wsi
    async with asyncio.timeout(GUARD):
        await driver.print_label(label)
        status = await driver.status()
    assert sim.message == "SSCC"
    assert sim.fields == {"CODE": f"00{label.sscc}"} | dict(
        zip(HRI_FIELDS, label.hri(), strict=True)
    )
    (job,) = sim.engine.queue
    assert job.data == f"00{label.sscc}" and job.hri == label.hri()
    assert status.jobs_queued == 1


async def test_wsi_refuses_a_label_with_more_text_lines_than_hri_fields() -> None:
    sim = WsiPrinterSimulator(line())
    driver = WsiPrinter.tcp("127.0.0.1", await sim.start(), policy=fast_policy("wsi"))
    async with connected(sim, driver):
        with pytest.raises(ValueError, match="5 HRI lines"):
            await driver.print_label(CASE)
        assert sim.fields == {} and len(sim.engine.queue) == 0
