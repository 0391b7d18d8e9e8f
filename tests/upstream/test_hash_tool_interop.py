"""The GS1 reference event-hash tool (PyPI ``epcis-event-hash-generator``) reproduces every
eventID of every EPCIS document exactly as linectl sends it, captured by the central simulator.

A repository that computes eventIDs with that tool must recognise linectl's re-sent events, so
each document must declare inline every prefix its events use (the tool expands only those).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from linectl.aggregation.events import ContainerEvents
from linectl.config import LineSection
from linectl.ledger import Ledger, UnitResult, Verdict
from linectl.lifecycle import (
    DECOMMISSION,
    DESTROY,
    SAMPLE,
    EventFactory,
    apply_step,
    record_verdicts,
)
from linectl.upstream.epcis_sync import EpcisSync
from linectl.upstream.ledger_link import LedgerOutbox
from simulators.central import CentralSimulator
from standards.epcis.hashing import event_hash
from standards.gs1.checkdigit import make_sscc
from standards.gs1.epc import IdentifierForm
from tests.simulators.central.harness import central_config
from tests.upstream.epcis_helpers import gs1_tool_event_ids, quick_settings
from tests.upstream.memory_outbox import MemoryOutbox

GTIN = "04012345000016"
START = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def line(form: IdentifierForm, offset: str) -> LineSection:
    return LineSection(
        id="interop-line",
        read_point="urn:epc:id:sgln:4012345.00001.1",
        biz_location="urn:epc:id:sgln:4012345.00001.0",
        company_prefix_length=7,
        identifier_form=form,
        timezone_offset=offset,
    )


def clock() -> Iterator[datetime]:
    moment = START
    while True:
        moment += timedelta(milliseconds=137)
        yield moment


def lifecycle_events(tmp: Path, form: IdentifierForm, offset: str) -> list[dict[str, Any]]:
    """Every kind of event linectl emits, built by linectl's own code paths, in queue order:
    unit commissioning (lot, expiry, material lots), rejects, decommissioning, sampling and
    its end of life, destroying, SSCC commissioning, packing and unpacking of cases and pallets."""
    ticks = clock()
    with Ledger(tmp / f"{form.value}.db") as ledger:
        ledger.create_work_order(
            batch="B-2611/A", gtin=GTIN, lot="L2611-A/7", expiry="281100", quantity=40,
            target_market="DE", materials={"carton": "CT-991", "leaflet": "LF 12/b"},
            actor="anna",
        )  # fmt: skip
        ledger.start_work_order("B-2611/A", actor="anna")
        ledger.import_serials("B-2611/A", GTIN, [f"S{n:04d}&x" for n in range(40)], "anna")
        factory = EventFactory(line(form, offset), ledger.get_work_order("B-2611/A"))
        taken = ledger.take_for_encoding("B-2611/A", 30)
        for first in range(0, 30, 10):
            units = [
                UnitResult(s, seq=first + i, verdict=Verdict.REJECT, reason="no-read")
                if i == 3
                else UnitResult(s, seq=first + i, verdict=Verdict.GOOD, grade="A")
                for i, s in enumerate(taken[first : first + 10])
            ]
            record_verdicts(ledger, factory, units, clock=ticks.__next__)
        good = [s for i, s in enumerate(taken) if i % 10 != 3]
        for step, serials in ((DECOMMISSION, good[:2]), (SAMPLE, good[2:4]), (DESTROY, good[4:5])):
            now = ticks.__next__
            apply_step(ledger, factory, step, serials, actor="qa", reason="r", clock=now)
        events = [item.event for item in asyncio.run(LedgerOutbox(ledger).pending(1000))]
    boxes = ContainerEvents(factory)
    case, case2, pallet = (make_sscc(d, "4012345", n) for d, n in ((1, 7), (1, 8), (3, 9)))
    built = [
        boxes.commission(case, next(ticks)),
        boxes.pack_units(case, good[5:11], next(ticks)),
        boxes.unpack_units(case, good[5:6], next(ticks)),
        boxes.commission(case2, next(ticks)),
        boxes.pack_units(case2, good[11:16], next(ticks)),
        boxes.commission(pallet, next(ticks)),
        boxes.pack_cases(pallet, [case, case2], next(ticks)),
        boxes.unpack_cases(pallet, [case2], next(ticks)),
        *boxes.step(DECOMMISSION, good[16:17], next(ticks)),
    ]
    return [dict(e) for e in events] + [dict(e.body) for e in built]


@pytest.mark.parametrize(
    ("form", "offset"),
    [(IdentifierForm.EPC_URN, "+01:00"), (IdentifierForm.DIGITAL_LINK, "-05:30")],
)
async def test_the_gs1_reference_tool_reproduces_every_event_id_linectl_sends(
    tmp_path: Path, standards: Path, form: IdentifierForm, offset: str
) -> None:
    events = await asyncio.to_thread(lifecycle_events, tmp_path, form, offset)
    kinds = {(e["type"], e.get("bizStep")) for e in events}
    assert len(kinds) == 6 and any("ilmd" in e for e in events)  # every kind linectl sends
    outbox = MemoryOutbox()
    for event in events:
        outbox.add(event, "B-2611/A")
    config = central_config(tmp_path, standards, capture_limit=7)
    async with CentralSimulator(config, serve_opcua=False, record_documents=True) as sim:
        assert sim.epcis is not None
        sync = EpcisSync(outbox, quick_settings(sim.epcis_url))
        async with asyncio.timeout(60):
            assert await sync.drain() == len(events)
        await sync.close()
        documents = [json.loads(d.body) for d in sim.epcis.received]

    assert len(documents) > 1  # several documents, each checked on its own
    sent = 0
    for n, document in enumerate(documents):
        listed = document["epcisBody"]["eventList"]
        ours = [e["eventID"] for e in listed]
        assert gs1_tool_event_ids(document) == ours, f"document {n}"
        context = document["@context"]
        bodies = [{k: v for k, v in e.items() if k != "eventID"} for e in listed]
        assert ours == [event_hash(body, context) for body in bodies]  # standards.epcis
        sent += len(listed)
    assert sent == len(events)


def test_without_the_inline_cbvmda_prefix_the_tool_disagrees(tmp_path: Path) -> None:
    """The check above can fail: the standard context alone is not enough for the tool."""
    events = lifecycle_events(tmp_path, IdentifierForm.EPC_URN, "+01:00")
    with_lot = [e for e in events if "ilmd" in e]
    document = {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                     {"linectl": "https://linectl.dev/ns/epcis#"}],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-11-21T06:00:00Z",
        "epcisBody": {"eventList": with_lot},
    }  # fmt: skip
    assert with_lot
    ours = [e["eventID"] for e in with_lot]
    assert all(a != b for a, b in zip(gs1_tool_event_ids(document), ours, strict=True))
