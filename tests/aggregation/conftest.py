"""Fixtures for aggregation tests: a real ledger file, commissioned units, the EPCIS schema."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from linectl.aggregation import PackingService, RangeSsccSource, Rework
from linectl.config import LineSection, PackingSettings, SsccRange
from linectl.ledger import Ledger, UnitResult, Verdict
from linectl.lifecycle import EventFactory, record_verdicts
from standards.epcis.document import epcis_document
from tests.ledger.conftest import GTIN, step_clock

LINE = LineSection(
    id="agg-line",
    read_point="urn:epc:id:sgln:9506000.00001.1",
    biz_location="urn:epc:id:sgln:9506000.00001.0",
    company_prefix_length=7,
)
CASE_RANGE = SsccRange("9506000", 0, 1, 99_999)


def event_clock() -> Callable[[], datetime]:
    """Event times one millisecond apart, so no two events hash alike."""
    moment = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

    def now() -> datetime:
        nonlocal moment
        moment += timedelta(milliseconds=1)
        return moment

    return now


@dataclass
class Line:
    """A ledger with one started batch, its event factory and a packer and rework on it."""

    ledger: Ledger
    factory: EventFactory
    packer: PackingService
    rework: Rework
    clock: Callable[[], datetime]
    batch: str = "B1"

    def commission(self, n: int, batch: str | None = None) -> list[str]:
        """Print and verify ``n`` units of the batch good (commissioning events queued)."""
        batch = batch or self.batch
        factory = EventFactory(LINE, self.ledger.get_work_order(batch))
        taken = self.ledger.take_for_encoding(batch, n)
        units = [UnitResult(s, i, Verdict.GOOD, grade="A") for i, s in enumerate(taken)]
        record_verdicts(self.ledger, factory, units, clock=self.clock)
        return taken

    def bodies(self, after_id: int = 0) -> list[dict[str, Any]]:
        """Every queued event body after outbox id ``after_id``, in queue order."""
        entries = self.ledger.outbox.peek(100_000)
        return [json.loads(e.body) for e in entries if e.id > after_id]

    def head(self) -> int:
        """The id of the newest queued event (0: none)."""
        entries = self.ledger.outbox.peek(100_000)
        return entries[-1].id if entries else 0


def make_batch(ledger: Ledger, batch: str, n: int, lot: str | None = None) -> None:
    ledger.create_work_order(
        batch=batch,
        gtin=GTIN,
        lot=lot or f"LOT{batch}",
        expiry="281130",
        quantity=n,
        target_market="DE",
        actor="alice",
    )
    ledger.import_serials(batch, GTIN, [f"{batch}-{i:05d}" for i in range(n)], "alice")
    ledger.start_work_order(batch, actor="alice")


def make_line(path: Path, *, case_size: int = 4, pallet_size: int = 3, serials: int = 200) -> Line:
    ledger = Ledger(path, clock=step_clock())
    make_batch(ledger, "B1", serials)
    clock = event_clock()
    factory = EventFactory(LINE, ledger.get_work_order("B1"))
    settings = PackingSettings(case_size=case_size, pallet_size=pallet_size)
    packer = PackingService(
        ledger, factory, RangeSsccSource(ledger, CASE_RANGE), settings, clock=clock
    )
    packer.resume()
    return Line(ledger, factory, packer, Rework(ledger, LINE, clock=clock), clock)


@pytest.fixture
def line(tmp_path: Path) -> Iterator[Line]:
    made = make_line(tmp_path / "ledger.db")
    try:
        yield made
    finally:
        made.ledger.close()


# -- EPCIS schema -----------------------------------------------------------------------------


def _uri(value: object) -> bool:
    return not isinstance(value, str) or bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:\S+", value))


def _date_time(value: object) -> bool:
    pattern = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"
    return not isinstance(value, str) or bool(re.fullmatch(pattern, value))


@pytest.fixture(scope="session")
def schema(standards: Path) -> jsonschema.Draft7Validator:
    """The EPCIS 2.0 JSON schema, $refs resolved from its own directory, never the network."""
    schema_dir = standards / "epcis"
    document = json.loads((schema_dir / "EPCIS-JSON-Schema.json").read_text(encoding="utf-8"))

    def retrieve(uri: str) -> Resource[Any]:
        local = schema_dir / uri.rsplit("/", 1)[-1]
        if not local.is_file():
            raise NoSuchResource(ref=uri)
        return Resource.from_contents(json.loads(local.read_text(encoding="utf-8")))

    registry: Registry[Any] = Registry(retrieve=retrieve).with_resource(
        document["$id"], Resource.from_contents(document)
    )
    formats = jsonschema.FormatChecker()
    formats.checks("uri")(_uri)
    formats.checks("date-time")(_date_time)
    return jsonschema.Draft7Validator(document, registry=registry, format_checker=formats)


def schema_errors(schema: jsonschema.Draft7Validator, events: list[dict[str, Any]]) -> list[str]:
    """Problems of each event as its own EPCIS document (empty: all valid)."""
    when = datetime(2026, 3, 1, tzinfo=UTC)
    problems = []
    for index, event in enumerate(events):
        document = epcis_document([event], creation_date=when)
        problems += [
            f"event {index} ({event.get('bizStep')}): {list(e.absolute_path)}: {e.message}"
            for e in schema.iter_errors(document)
        ]
    return problems
