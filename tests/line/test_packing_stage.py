"""The packing stage against fake case-label devices and a real ledger: units in line order,
labels printed, read back and verified; a lost device is waited for."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from drivers.interfaces import LinkState, LogisticLabel, PrinterStatus, ReadResult
from linectl.config import SsccSection, UpstreamSection
from linectl.ledger import UnitResult
from linectl.line.devices import LineDevices
from linectl.line.packing_link import PackingLink
from linectl.line.packs import unit_verdict
from tests.aggregation.conftest import make_line
from tests.line.fakes import FakeCamera, FakePlc, FakePrinter, Seams
from tests.line.test_packing_link import config, tcp

LABEL = {"role": "case-label"}


class FakeLabeller(FakePrinter):
    """A case-label printer (LabelPrinter): each label counts as applied at once."""

    def __init__(self) -> None:
        super().__init__()
        self.labels: list[LogisticLabel] = []

    async def print_label(self, label: LogisticLabel) -> None:
        self.labels.append(label)
        self.state = PrinterStatus(ready=True, print_count=self.state.print_count + 1)


class FakeReader:
    """A case-label reader that reads back the last label printed, GS1 DataMatrix."""

    link_state = LinkState.CONNECTED

    def __init__(self, labeller: FakeLabeller) -> None:
        self.labeller = labeller

    async def connect(self) -> None: ...
    async def close(self) -> None: ...

    async def read(self, seq: int | None = None) -> ReadResult:
        label = self.labeller.labels[-1]
        return ReadResult(text=label.sscc_data, detail={"symbology_id": "]d2"})


def packing(tmp_path: Path) -> tuple[PackingLink, Any, Seams, FakeLabeller]:
    line = make_line(tmp_path / "ledger.db")
    seams = Seams()
    labeller = FakeLabeller()
    devices = LineDevices(
        plc=FakePlc(), printer=FakePrinter(), camera=FakeCamera(),  # type: ignore[arg-type]
        names={"plc": "plc", "printer": "printer", "camera": "camera",
               "case_printer": "labeller", "case_reader": "scanner"},
        case_printer=labeller, case_reader=FakeReader(labeller),  # type: ignore[arg-type]
    )  # fmt: skip
    seams.health.names.update({"case_printer": "labeller", "case_reader": "scanner"})
    seams.health.health.update(
        {r: seams.health.health["plc"] for r in ("case_printer", "case_reader")}
    )
    cfg = config(
        {
            "labeller": tcp("printer", "zpl", 9101, options=LABEL),
            "scanner": tcp("reader", "dmcc", 2300, options=LABEL),
        }
    )
    assert cfg.aggregation is not None
    sscc = SsccSection(source="range", company_prefix="9506000", first_reference=1,
                       last_reference=99_999)  # fmt: skip
    cfg = cfg.model_copy(
        update={
            "aggregation": cfg.aggregation.model_copy(update={"case_size": 4}),
            "upstream": UpstreamSection(sscc=sscc),
        }
    )
    link = PackingLink(
        cfg, line.ledger, devices, seams.alarms, seams.health, seams.mirror, seams.supervisor
    )
    return link, line, seams, labeller


async def test_good_units_are_packed_in_line_order_and_each_closed_case_labelled(
    tmp_path: Path,
) -> None:
    link, line, seams, labeller = packing(tmp_path)
    await link.activate(line.ledger.get_work_order(line.batch))
    serials = line.commission(5)
    units = [UnitResult(s, i, unit_verdict(True), grade="A") for i, s in enumerate(serials)]
    link.committed(units)
    async with asyncio.timeout(30):
        await link.settled()
    assert link.counters["labels_accepted"] == 1 and link.counters["labels_printed"] == 1
    assert link.counters["cases_closed"] == 1 and len(labeller.labels) == 1
    assert link.status()["case_units"] == 1  # the fifth unit opened the next case
    assert seams.failed == []
    await seams.supervisor.cancel()


async def test_reject_units_never_reach_the_packer(tmp_path: Path) -> None:
    link, line, _, _ = packing(tmp_path)
    link.batch, link.service = line.batch, object()  # type: ignore[assignment]
    link.committed([UnitResult("X1", 1, unit_verdict(False), reason="no-read")])
    assert link.status()["units_queued"] == 0


async def test_a_case_reworked_while_its_frame_was_checked_is_named_in_an_alarm(
    tmp_path: Path,
) -> None:
    from linectl.ledger import ContainerError

    class ReworkedMeanwhile:
        async def check(self, service: object, sscc: str) -> Any:
            raise ContainerError(f"case {sscc} changed while it was checked: check it again")

    link, _, seams, _ = packing(tmp_path)
    link.checks = ReworkedMeanwhile()  # type: ignore[assignment]
    assert await link._case_check(object(), "095060000000000015") is False  # type: ignore[arg-type]
    assert seams.alarms.active("case-diverted") and not seams.alarms.holding
    (message,) = [a["message"] for a in seams.alarms.as_list()]
    assert "095060000000000015 was not checked" in message
    assert message.endswith("to rework: 095060000000000015")
