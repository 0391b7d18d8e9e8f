"""The audit chain head goes upstream with the batch's events (issue 10): closing a batch, through
the CLI or the control API, queues one EPCIS event that carries the head of the audit trail; the
central simulator's repository receives it, valid against the EPCIS 2.0 schema, with an eventID
the GS1 reference hash tool reproduces; and its head is the one ``linectl report`` prints."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from linectl.cli import main
from linectl.config import ControlSection
from linectl.identity.setup import line_identity
from linectl.ledger import UnitResult, Verdict
from linectl.lifecycle import EventFactory, record_verdicts
from linectl.service.api import start_control_api
from linectl.upstream.chain_head import HEAD_FIELD, export_chain_head
from linectl.upstream.epcis_sync import EpcisSync
from linectl.upstream.ledger_link import LedgerOutbox
from simulators.central import CentralSimulator
from standards.gs1.epc import IdentifierForm
from tests.people import People, new_password
from tests.service.standin_line import StandInLine
from tests.simulators.central.harness import central_config
from tests.upstream.epcis_helpers import check_received_documents, quick_settings
from tests.upstream.test_hash_tool_interop import line

GTIN = "04012345000016"
BATCH = "B-HEAD/1"


def cli(people: People, *argv: str, stdin: str = "") -> tuple[int, str]:
    saved, sys.stdin = sys.stdin, io.StringIO(stdin)
    out = io.StringIO()
    saved_out, sys.stdout = sys.stdout, out
    try:
        code = main(["--ledger", str(people.path), "--password-stdin", *argv])
    finally:
        sys.stdin, sys.stdout = saved, saved_out
    return code, out.getvalue()


@pytest.fixture
def people(tmp_path: Path) -> Iterator[People]:
    """A keyed ledger made by ``linectl ledger init``, a supervisor logged in, a batch of 20
    serials running on it, 12 packs judged by the line (10 commissioned)."""
    path = tmp_path / "line.db"
    admin_password = new_password()
    saved = sys.stdin
    sys.stdin = io.StringIO(f"{admin_password}\n{admin_password}\n")
    try:
        assert (
            main(["--ledger", str(path), "--password-stdin", "ledger", "init", "--admin", "admin"])
            == 0
        )
    finally:
        sys.stdin = saved
    people = People(path)
    people.log_in("sv.sam", "supervisor", "Sam Supervisor")
    create = ["batch", "create", BATCH, "--gtin", GTIN, "--lot", "L7", "--expiry", "281130"]
    assert cli(people, *create, "--quantity", "20", "--market", "DE")[0] == 0
    assert cli(people, "batch", "start", BATCH)[0] == 0
    with people.identity() as identity:
        ledger = identity.ledger
        ledger.import_serials(BATCH, GTIN, [f"S{n:03d}" for n in range(20)], "sv.sam")
        factory = EventFactory(line(IdentifierForm.EPC_URN, "+01:00"), ledger.get_work_order(BATCH))
        taken = ledger.take_for_encoding(BATCH, 12)
        units = [
            UnitResult(
                s,
                seq=i,
                verdict=Verdict.REJECT if i in (3, 7) else Verdict.GOOD,
                reason="no-read" if i in (3, 7) else None,
                grade=None if i in (3, 7) else "A",
            )
            for i, s in enumerate(taken)
        ]
        record_verdicts(ledger, factory, units)
    yield people


async def deliver(people: People, tmp_path: Path, standards: Path) -> list[dict[str, Any]]:
    """Drain the ledger's outbox into the central simulator; the documents it received."""
    config = central_config(tmp_path, standards)
    async with CentralSimulator(config, serve_opcua=False, record_documents=True) as sim:
        assert sim.epcis is not None
        with people.identity() as identity:
            sync = EpcisSync(LedgerOutbox(identity.ledger), quick_settings(sim.epcis_url))
            try:
                async with asyncio.timeout(60):
                    await sync.drain()
            finally:
                await sync.close()
        assert check_received_documents(sim.epcis.received, standards) >= 1
        return [json.loads(d.body) for d in sim.epcis.received]


def received_heads(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events = [e for d in documents for e in d["epcisBody"]["eventList"]]
    return [e for e in events if HEAD_FIELD in e]


def report_head(people: People) -> tuple[int, str]:
    _, out = cli(people, "report", BATCH, "--json")  # exit 1 while the batch is open
    head = json.loads(out)["audit_head"]
    return head["row"], head["row_hash"]


async def test_a_batch_closed_through_the_cli_sends_the_head_its_report_prints(
    people: People, tmp_path: Path, standards: Path
) -> None:
    code, out = await asyncio.to_thread(
        cli, people, "batch", "close", BATCH, stdin=people.passwords["sv.sam"] + "\n"
    )
    assert code == 0, out
    assert "signed by Sam Supervisor" in out and "queued upstream" in out
    row, row_hash = await asyncio.to_thread(report_head, people)
    assert f"audit chain head: row {row} {row_hash}" in out

    documents = await deliver(people, tmp_path, standards)
    (event,) = received_heads(documents)
    events = [e for d in documents for e in d["epcisBody"]["eventList"]]
    assert events[-1] is event  # behind every other event of the batch
    head = event[HEAD_FIELD]
    assert (head["linectl:row"], head["linectl:rowHash"]) == (row, row_hash)
    with people.identity() as identity:
        assert head["linectl:keyFingerprint"] == identity.ledger.identity.keyed()
        rows = identity.ledger.audit_entries(after_id=row - 1, limit=1)
    assert rows[0].command == "outbox.chain_head" and rows[0].after == f'{{"batch":"{BATCH}"}}'
    assert event["linectl:batch"] == BATCH and event["action"] == "OBSERVE"
    assert event["quantityList"] == [
        {"epcClass": "https://id.gs1.org/01/04012345000016/10/L7", "quantity": 10}
    ]
    # the head anchors the trail: audit verify checks the ledger against it
    code, out = await asyncio.to_thread(
        cli, people, "audit", "verify", "--anchor", f"{row}:{row_hash}"
    )
    assert code == 0, out
    code, out = await asyncio.to_thread(
        cli, people, "audit", "verify", "--anchor", f"{row}:{'0' * 64}"
    )
    assert code == 1


async def test_a_batch_closed_through_the_api_answers_and_sends_the_head(
    people: People, tmp_path: Path, standards: Path
) -> None:
    session = people.session("sv.sam")
    with people.identity() as identity:
        ledger = identity.ledger
        config = line(IdentifierForm.EPC_URN, "+01:00")

        async def after_close(batch: str, user: str) -> dict[str, Any]:
            head = await asyncio.to_thread(
                export_chain_head, ledger, batch, actor=user, line=config
            )
            return {"row": head.row, "row_hash": head.row_hash, "event_id": head.event_id}

        api = await start_control_api(
            StandInLine(batch=BATCH, state=6),
            ControlSection().model_copy(update={"port": 0}),
            identity=line_identity(ledger, people.policy),
            after_close=after_close,
        )
        try:
            body = {
                "command": "close-batch",
                "batch": BATCH,
                "signature": {"password": people.passwords["sv.sam"]},
            }
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    f"{api.url}/v1/commands",
                    json=body,
                    headers={"Authorization": f"Bearer {session}"},
                ) as response,
            ):
                answer = await response.json()
        finally:
            await api.close()
        assert response.status == 200, answer
        assert answer["signature"]["user"] == "sv.sam"
        head = answer["chain_head"]
        assert (head["row"], head["row_hash"]) == await asyncio.to_thread(ledger.audit_head)
        signed = [
            e for e in ledger.audit_entries(limit=10_000) if e.command == "batch.close.signed"
        ]
        assert signed and signed[-1].id < head["row"]  # the head covers the close's signature

    assert (head["row"], head["row_hash"]) == await asyncio.to_thread(report_head, people)
    documents = await deliver(people, tmp_path, standards)
    (event,) = received_heads(documents)
    assert event["eventID"] == head["event_id"]
    assert event["readPoint"] == {"id": "urn:epc:id:sgln:4012345.00001.1"}
    assert event["quantityList"][0]["epcClass"] == "urn:epc:class:lgtin:4012345.000001.L7"
    got = event[HEAD_FIELD]
    assert (got["linectl:row"], got["linectl:rowHash"]) == (head["row"], head["row_hash"])
