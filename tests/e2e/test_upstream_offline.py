"""DW3: upstream down for a whole batch at full speed; afterwards the line and the site agree.

The daemon runs as a process (``linectl run`` with ``[upstream]``) against the simulated line and
an in-process central simulator (pool manager on OPC UA, EPCIS repository). It provisions its pool
while the site is up; then the site goes down (both links) before START and stays down until the
batch is closed. The batch runs to the end from the local pool (a refill attempted meanwhile only
raises "pool manager unreachable"), close-batch leaves the unused serials as unused, and once the
site is back ``linectl sync`` follows the daemon until the backlog has drained and the unused
serials went back. Then the line's records and the simulator's agree serial for serial.

A second, in-process test starves a line while the pool manager is down: it suspends, saying
why in status and log, and resumes by itself once a refill lands.

Both end with the invariants of issue 15 (``Rig.check_invariants``): every event the ledger holds
reached the simulator's repository once, nothing else did, nothing was printed twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.processes import control_client
from linectl.config import EpcisSection, ProvisioningSection, UpstreamSection
from linectl.ledger import Ledger, SerialState
from linectl.line.control import Command
from linectl.service.client import ControlClient
from linectl.upstream.chain_head import HEAD_FIELD
from simulators.central import CentralSimulator, CollectionSpec
from standards.gs1.epc import sgtin_urn
from standards.packml import PackMLState
from tests.e2e.ground_truth import check_ground_truth
from tests.e2e.rig import BATCH as RIG_BATCH
from tests.e2e.rig import EXPIRY, GTIN, LOT, line_rig
from tests.people import machine_token
from tests.simulators.central.harness import central_config
from tests.upstream.epcis_helpers import check_event_ids, check_received_documents

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]

BATCH = "B-UPSTREAM-1"
PACKS = 300
SPEED = 1800.0  # packs/min
REFILL = 400  # thresholds.pool_request_size: one refill covers the batch
LOW_WATER = 360  # ... and the pool soon dips below this: a refill is tried while the site is down
COLLECTION = "ITEMS-E2E"
GUARD_S = 40.0


def line_config(tmp: Path, plc: int, printer: int, camera: int, sim: CentralSimulator) -> str:
    return f"""
[line]
id = "upstream-line"
read_point = "urn:epc:id:sgln:0950600.01343.1"
biz_location = "urn:epc:id:sgln:0950600.01343.0"
company_prefix_length = 7

[ledger]
path = "{tmp / "ledger.db"}"

[thresholds]
verdict_deadline_ms = 100
pool_low_water = {LOW_WATER}
pool_request_size = {REFILL}

[devices.plc]
kind = "plc"
protocol = "modbus"
host = "127.0.0.1"
port = {plc}
timeout_s = 0.5

[devices.printer]
kind = "printer"
protocol = "zpl"
host = "127.0.0.1"
port = {printer}
timeout_s = 0.5

[devices.camera]
kind = "camera"
protocol = "framepush"
host = "127.0.0.1"
port = {camera}

[control]
unix_socket = "{tmp / "control.sock"}"

[upstream.provisioning]
endpoint = "{sim.opcua_url}"
timeout_s = 2
attempts = 1
backoff_initial_s = 0.2
backoff_max_s = 2

[upstream.provisioning.collections]
"{GTIN}" = "{COLLECTION}"

[upstream.epcis]
base_url = "{sim.epcis_url}"
request_timeout_s = 5
job_timeout_s = 20
backoff_initial_s = 0.2
backoff_max_s = 2
"""


async def _status(client: ControlClient) -> dict[str, Any]:
    return await asyncio.to_thread(client.status)


async def _until(
    client: ControlClient, holds: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    """Poll the daemon's status (under a deadline) until ``holds``; the status that held."""
    status: dict[str, Any] = {}
    try:
        async with asyncio.timeout(GUARD_S):
            while True:
                status = await _status(client)
                if holds(status):
                    return status
                await asyncio.sleep(0.1)  # the daemon is another process: poll its API
    except TimeoutError:
        raise AssertionError(f"daemon never reached: {what}; last status {status}") from None


async def _cli(token: Path, *argv: str) -> tuple[int, str]:
    """The real command as the line's MES machine account (its API token file)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "linectl.cli", "--token-file", str(token), *argv,
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(GUARD_S + 20):
        out, _ = await proc.communicate()
    return int(proc.returncode or 0), out.decode()


def _alarm_codes(status: dict[str, Any]) -> set[str]:
    return {a["code"] for a in status.get("alarms", [])}


async def test_a_batch_runs_from_its_pool_with_upstream_down_and_syncs_serial_for_serial_after(
    tmp_path: Path, standards: Path
) -> None:
    spec = CollectionSpec(id=COLLECTION, kind="sgtin", gtin=GTIN, company_prefix_length=7)
    central = central_config(
        tmp_path / "central",
        standards,
        collections=(spec,),
        max_sn_requestable=250,  # the refill of 400 takes two requests, each paged
        page_size=100,
        max_sn_returnable=40,  # the returns go back in chunks
        capture_limit=50,
    )
    (tmp_path / "central").mkdir()
    sim = CentralSimulator(central, admin=False, record_documents=True)
    await sim.start()
    try:
        async with line_rig(
            tmp_path, packs=PACKS, pool=1, packs_per_minute=SPEED, daemon=False
        ) as rig:
            await asyncio.to_thread(_new_batch, rig.ledger)
            config = tmp_path / "line.toml"
            config.write_text(
                line_config(tmp_path, rig.plc.modbus_port, rig.printer.port, rig.camera.port, sim)
            )
            with (tmp_path / "daemon.log").open("wb") as log:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "linectl.cli", "run", "--config",
                    str(config), "--batch", BATCH, "--log-level", "INFO",
                    cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=log,
                )  # fmt: skip
            try:
                await _run(rig, sim, proc, config, tmp_path, standards)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    with contextlib.suppress(ProcessLookupError):
                        await proc.wait()
    finally:
        await sim.close()


def _new_batch(ledger: Ledger) -> None:
    ledger.create_work_order(
        batch=BATCH,
        gtin=GTIN,
        lot=LOT,
        expiry=EXPIRY,
        quantity=PACKS,
        target_market="DE",
        actor="anna",
    )


async def _run(
    rig: Any,
    sim: CentralSimulator,
    proc: asyncio.subprocess.Process,
    config: Path,
    tmp: Path,
    standards: Path,
) -> None:
    assert proc.stdout is not None and sim.pool is not None and sim.epcis is not None
    async with asyncio.timeout(GUARD_S):
        ready = (await proc.stdout.readline()).decode()
    assert ready.startswith("linectl ready:"), (ready, (tmp / "daemon.log").read_text()[-3000:])
    token = await asyncio.to_thread(machine_token, rig.ledger.path, "mes", tmp / "mes.token")
    client = control_client(config, token)

    # 1. The site is up: the empty pool is provisioned up front, in the background.
    status = await _until(client, lambda s: (s["pool"]["available"] or 0) >= REFILL, "pool full")
    assert status["upstream"]["provisioning"]["state"] == "ok"
    assert len(sim.pool.issued(COLLECTION)) == REFILL

    # 2. The site goes down for the whole batch; the line runs at full speed from its pool.
    await sim.set_faults(pool_down=True, epcis_down=True)
    await asyncio.to_thread(client.command, Command.START, reason="upstream down")
    seen_alarms: set[str] = set()
    states: set[str] = set()

    async def watch() -> None:
        while True:
            s = await _status(client)
            seen_alarms.update(_alarm_codes(s))
            states.add(str(s["state"]["name"]))
            await asyncio.sleep(0.1)

    watcher = asyncio.create_task(watch())
    try:
        ends = {PackMLState.COMPLETE, PackMLState.HELD, PackMLState.SUSPENDED}
        await rig.wait(lambda: rig.plc.state in ends, guard=GUARD_S)
        if rig.plc.state is not PackMLState.COMPLETE:
            alarms = (await _status(client))["alarms"]
            raise AssertionError(f"the line went {rig.plc.state.name}: {alarms}")
        # the dip below the low-water mark happened early: wait for its refill to have failed
        status = await _until(
            client, lambda s: "pool-unreachable" in _alarm_codes(s), "pool manager unreachable"
        )
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    assert "pool-unreachable" in seen_alarms | _alarm_codes(status)
    assert not {"HELD", "SUSPENDED", "ABORTED"} & states, states  # never starved, never held
    assert not any(a["holds"] for a in status["alarms"]), status["alarms"]
    assert len(sim.pool.issued(COLLECTION)) == REFILL  # nothing came while the site was down
    assert sim.store is not None and sim.store.count() == 0

    # 3. Close the batch while the site is still down: it closes, unused serials stay unused.
    answer = await asyncio.to_thread(client.command, Command.CLOSE_BATCH, reason="batch done")
    rec = answer["status"]["result"]["reconciliation"]
    assert rec["balanced"] and rec["received"] == REFILL and rec["returned"] == 0
    head = answer["chain_head"]  # the audit chain head, queued upstream behind the batch
    entries = await asyncio.to_thread(rig.ledger.audit_entries, after_id=head["row"] - 1, limit=1)
    assert (entries[0].command, entries[0].row_hash) == ("outbox.chain_head", head["row_hash"])
    assert entries[0].actor != "line"  # the account that closed the batch
    unused = rec["unused"]
    assert unused > 0 and rec["commissioned"] + rec["scrapped"] + unused == REFILL
    waiting = (await asyncio.to_thread(rig.ledger.outbox.counts))["pending"]
    assert waiting > 0  # the batch's events, none delivered: the repository is down

    def caught_up(s: dict[str, Any]) -> bool:  # status is refreshed every second
        up = s["upstream"]
        return (
            up["backlog"] == waiting and up["provisioning"]["returns_pending"]["serials"] == unused
        )

    status = await _until(client, caught_up, "backlog and returns pending in status")
    upstream = status["upstream"]
    assert upstream["oldest_undelivered_age_s"] > 0
    assert upstream["epcis"]["state"] == "backing-off" and upstream["epcis"]["last_error"]
    assert upstream["provisioning"]["state"] == "unreachable"
    code, text = await _cli(token, "--config", str(config), "status")
    assert code == 0, text
    assert f"events: {waiting:,} waiting to go upstream, oldest " in text
    assert f"{unused:,} unused serials of 1 closed batch wait to go back" in text
    assert "pool manager unreachable" in text

    # 4. The site is back: `linectl sync` follows the daemon until all is delivered and returned.
    await sim.set_faults(pool_down=False, epcis_down=False)
    code, text = await _cli(token, "sync", "--config", str(config), "--timeout", str(GUARD_S))
    assert code == 0, text + (tmp / "daemon.log").read_text()[-3000:]
    assert "following the daemon" in text and "sync done:" in text
    assert f"{unused:,} unused serials returned" in text
    status = await _status(client)
    assert status["upstream"]["backlog"] == 0
    assert "pool-unreachable" not in _alarm_codes(status)

    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(GUARD_S):
        assert await proc.wait() == 0, (tmp / "daemon.log").read_text()[-3000:]

    # 5. The line's records and the simulator's agree serial for serial.
    counts = check_ground_truth(rig)
    assert counts["packs"] == PACKS
    ledger = rig.ledger
    final = await asyncio.to_thread(ledger.reconcile, BATCH)
    assert final.balanced, final.problems
    assert final.received == REFILL and final.unused == 0 and final.returned == unused
    assert final.commissioned == rec["commissioned"] and final.commissioned == counts["good"]
    ours = set(await asyncio.to_thread(ledger.list_serials, BATCH))
    assert ours == set(sim.pool.issued(COLLECTION))
    returned = set(await asyncio.to_thread(ledger.list_serials, BATCH, SerialState.UNALLOCATED))
    assert returned == set(sim.pool.returned(COLLECTION)) and len(returned) == unused
    commissioned = await asyncio.to_thread(ledger.list_serials, BATCH, SerialState.COMMISSIONED)
    stored = sim.store.events()
    captured = [
        epc
        for e in stored
        if e.event.get("bizStep") == "commissioning"
        for epc in e.event.get("epcList", [])
    ]
    assert len(captured) == len(set(captured))
    assert set(captured) == {sgtin_urn(GTIN, s, 7) for s in commissioned}
    outbox = await asyncio.to_thread(ledger.outbox.counts)
    assert outbox.get("pending", 0) == 0 and outbox["delivered"] == len(stored)
    assert len({e.event_id for e in stored}) == len(stored)
    check_event_ids(stored)
    assert check_received_documents(sim.epcis.received, standards) >= 1
    (sent_head,) = [e.event for e in stored if HEAD_FIELD in e.event]
    assert sent_head["eventID"] == head["event_id"] and sent_head["linectl:batch"] == BATCH
    anchor = sent_head[HEAD_FIELD]["linectl:row"], sent_head[HEAD_FIELD]["linectl:rowHash"]
    assert anchor == (head["row"], head["row_hash"])
    report = await asyncio.to_thread(ledger.verify_audit, anchor=anchor)
    assert report.ok, str(report)
    await rig.check_invariants(sim)


async def test_a_line_starved_while_the_pool_manager_is_down_resumes_when_a_refill_lands(
    tmp_path: Path, standards: Path
) -> None:
    spec = CollectionSpec(id=COLLECTION, kind="sgtin", gtin=GTIN, company_prefix_length=7)
    (tmp_path / "central").mkdir()
    central = central_config(tmp_path / "central", standards, collections=(spec,))
    thresholds = {"pool_low_water": 50, "pool_request_size": 100}
    async with (
        CentralSimulator(central, admin=False, serve_opcua=True) as sim,
        line_rig(tmp_path, packs=100, pool=30, thresholds=thresholds) as rig,
    ):
        assert sim.pool is not None
        await sim.set_faults(pool_down=True)
        section = UpstreamSection(
            provisioning=ProvisioningSection(
                endpoint=sim.opcua_url,
                timeout_s=2,
                attempts=1,
                backoff_initial_s=0.1,
                backoff_max_s=0.5,
            ),
            epcis=EpcisSection(base_url=sim.epcis_url, backoff_initial_s=0.1, backoff_max_s=1.0),
        )
        uplink = rig.rt.start_uplink(section)
        assert uplink is not None
        try:
            await rig.rt.command(Command.START, user="alice")
            await rig.wait_state(PackMLState.SUSPENDED)  # the 30 serials of the pool are gone
            assert rig.alarm("starved") and rig.alarm("pool-unreachable")
            rig.assert_told("starved")  # import serials, or wait: it resumes on its own
            assert not rig.rt.alarm_set.holding
            assert rig.rt.status()["upstream"]["provisioning"]["state"] == "unreachable"

            await sim.set_faults(pool_down=False)  # the refill lands: Unsuspend on its own
            await rig.wait_state(PackMLState.COMPLETE)
            await rig.rt.line_end_done()
            assert not rig.alarm("starved") and not rig.alarm("pool-unreachable")
        finally:
            await uplink.close()
        counts = check_ground_truth(rig)
        assert counts["packs"] == 100 and counts["unserialised"] == 0
        issued = set(sim.pool.issued(COLLECTION))
        ours = set(await asyncio.to_thread(rig.ledger.list_serials, RIG_BATCH))
        assert issued <= ours and len(ours) == 30 + len(issued) and len(issued) >= 100
        await rig.check_invariants(sim)
