"""An MES work order over HTTP runs to completion on a line whose outgoing OPC UA links are both
secured: the PLC (OPC UA driver) and the pool manager (provisioning) each on Basic256Sha256
SignAndEncrypt with the line's client certificate and a user login, the simulators offering no
None endpoint. Everything the MES did is in the audit trail under its machine account. A client
certificate the PLC does not trust keeps the line from connecting, with a message naming it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from linectl.config import ControlSection, IdentitySection, LineConfig, parse_config
from linectl.identity import Identity
from linectl.ledger import Ledger
from linectl.ledger.product_file import products_from_csv
from linectl.line.devices import DevicesUnavailable, connect_all, open_devices
from linectl.line.runtime import LineRuntime, RuntimeOptions
from linectl.service.api import ControlApi, start_control_api
from simulators.camera import CameraSimulator
from simulators.central import CentralSimulator, CollectionSpec
from simulators.line import FaultPlan, LineLayout, VirtualLine
from simulators.plc import PlcSimulator
from simulators.printer_zpl import ZplPrinterSimulator
from standards.packml import PackMLState
from tests.e2e.ground_truth import check_ground_truth
from tests.e2e.rig import EXPIRY, GTIN, GUARD_S, TEST_GUARD_S, Rig
from tests.people import People
from tests.simulators.central.harness import central_config
from tests.ua_certs import SecureSite, secure_site

pytestmark = pytest.mark.e2e

WORK_ORDER = "WO-E2E-4711"
LOT = "L2612S"
QUANTITY = 40
COLLECTION = "ITEMS-SECURE"


@dataclass
class SecureLine:
    rig: Rig
    central: CentralSimulator
    api: ControlApi
    people: People


def _config(tmp: Path, plc: PlcSimulator, plc_site: SecureSite, printer: int, camera: int,
            central: CentralSimulator, central_site: SecureSite) -> LineConfig:  # fmt: skip
    plc_port = plc.opcua_port
    assert plc_port is not None
    return parse_config({
        "line": {"id": "secure-line", "read_point": "urn:epc:id:sgln:0950600.01343.1",
                 "biz_location": "urn:epc:id:sgln:0950600.01343.0", "company_prefix_length": 7},
        "ledger": {"path": str(tmp / "ledger.db")},
        "thresholds": {"min_grade": "C", "verdict_deadline_ms": 250.0, "pool_low_water": 50,
                       "pool_request_size": 100},
        "devices": {
            "plc": {"kind": "plc", "protocol": "opcua", "host": "127.0.0.1", "port": plc_port,
                    "timeout_s": 5.0,
                    "options": {"security": plc_site.line.security(), "username": plc_site.user,
                                "password_file": str(plc_site.password_file)}},
            "printer": {"kind": "printer", "protocol": "zpl", "host": "127.0.0.1",
                        "port": printer, "timeout_s": 0.5},
            "camera": {"kind": "camera", "protocol": "framepush", "host": "127.0.0.1",
                       "port": camera},
        },
        "upstream": {"provisioning": {
            "endpoint": central.opcua_url, "security": central_site.line.security(),
            "username": central_site.user, "password_file": str(central_site.password_file),
            "timeout_s": 10, "collections": {GTIN: COLLECTION}}},
    })  # fmt: skip


@contextlib.asynccontextmanager
async def secure_line(tmp: Path, standards: Path) -> AsyncIterator[SecureLine]:
    plc_site = secure_site(tmp / "plc-pki", "plc")
    central_site = secure_site(tmp / "central-pki", "central")
    line = VirtualLine(LineLayout(packs_per_minute=600.0), FaultPlan(seed=3))
    plc = PlcSimulator(line, opcua_port=0, drive_line=True, acting_time=0.02,
                       heartbeat_timeout_ms=3000, opcua_security=plc_site.endpoint)  # fmt: skip
    printer = ZplPrinterSimulator(line, log_path=tmp / "print-log.jsonl", seed=1)
    camera = CameraSimulator(line)
    spec = CollectionSpec(id=COLLECTION, kind="sgtin", gtin=GTIN, company_prefix_length=7)
    (tmp / "central").mkdir()
    central_cfg = central_config(tmp / "central", standards, collections=(spec,))
    central = CentralSimulator(central_cfg, admin=False, opcua_security=central_site.endpoint)
    async with contextlib.AsyncExitStack() as stack:
        for server in (plc, printer, camera, central):
            await server.start()
            stack.push_async_callback(server.close)
        config = _config(tmp, plc, plc_site, printer.port, camera.port, central, central_site)
        ledger = Ledger(config.ledger.path)
        stack.callback(ledger.close)
        people = People(ledger.path)
        await asyncio.to_thread(_master_data, people, ledger)
        devices = open_devices(config)
        stack.push_async_callback(devices.close)
        await connect_all(devices)
        runtime = LineRuntime(config, ledger, devices, options=RuntimeOptions())
        stack.push_async_callback(runtime.shutdown)
        async with asyncio.timeout(GUARD_S):
            await runtime.start()
        uplink = runtime.start_uplink()  # as the daemon does: provisioning from the pool manager
        assert uplink is not None
        stack.push_async_callback(uplink.close)
        api = await start_control_api(
            runtime,
            ControlSection().model_copy(update={"port": 0}),
            identity=Identity(ledger, IdentitySection()),
            line=config.line,
        )
        stack.push_async_callback(api.close)
        rig = Rig(tmp, line, plc, printer, camera, ledger, config, devices, runtime)
        async with asyncio.timeout(TEST_GUARD_S):
            yield SecureLine(rig, central, api, people)


def _master_data(people: People, ledger: Ledger) -> None:
    people.add("mes", "machine")
    people.add("sv.sam", "supervisor", "Sam Supervisor")
    csv = f"gtin,name,market,code_profile,label_layout\n{GTIN},Paracetamol,DE,eu-fmd,carton\n"
    ledger.products.import_records(products_from_csv(csv), actor="sv.sam", source="products.csv")


async def _call(http: aiohttp.ClientSession, api: ControlApi, token: str, method: str, path: str,
                body: Any = None) -> tuple[int, Any]:  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    async with http.request(method, api.url + path, json=body, headers=headers) as r:
        return r.status, await r.json(content_type=None)


def _command_of(before: str) -> str | None:
    """The control command an audit row records (None for ledger commands)."""
    value = json.loads(before or "null")
    return value.get("command") if isinstance(value, dict) else None


async def test_an_http_work_order_runs_to_completion_over_secure_plc_and_provisioning_links(
    tmp_path: Path, standards: Path
) -> None:
    async with secure_line(tmp_path, standards) as s, aiohttp.ClientSession() as http:
        rig = s.rig
        token = await asyncio.to_thread(s.people.token, "mes")
        order = {"id": WORK_ORDER, "gtin": GTIN, "lot": LOT, "expiry": EXPIRY,
                 "quantity": QUANTITY, "materials": {"carton": "C-9"}, "start": True,
                 "reason": "ERP order 4711"}  # fmt: skip
        status, made = await _call(http, s.api, token, "POST", "/v1/work-orders", order)
        assert status == 201, made
        assert "start_refused" not in made, made.get("start_refused")  # waited for serials
        assert not rig.alarm("starved")  # the first, refused START's alarm ended with the start
        assert made["market"] == "DE" and made["product"]["name"] == "Paracetamol"

        def stopped_at_quantity() -> bool:
            stopped = rig.rt.plc_state is PackMLState.STOPPED is rig.plc.state
            return rig.rt.quantity_reached == WORK_ORDER and stopped

        await rig.wait(stopped_at_quantity)
        await rig.rt.line_end_done()
        status, read = await _call(http, s.api, token, "GET", f"/v1/work-orders/{WORK_ORDER}")
        assert status == 200 and read["line"]["active"] and read["status"] == "started"

        status, closed = await _call(
            http, s.api, token, "POST", f"/v1/work-orders/{WORK_ORDER}/close", {"reason": "done"}
        )
        assert status == 200, closed
        rec = closed["reconciliation"]
        assert closed["status"] == "closed" and rec["balanced"], rec
        assert QUANTITY <= rec["commissioned"] <= QUANTITY + 4, rec
        counts = check_ground_truth(rig)
        assert counts["good"] == rec["commissioned"]

        # both links were the secured ones, as the line's user
        assert s.central.pool is not None
        assert len(s.central.pool.issued(COLLECTION)) >= rec["commissioned"]
        assert "line-1" in rig.plc.opcua.security.logins  # type: ignore[union-attr]
        assert s.central.opcua_security is not None
        assert "line-1" in s.central.opcua_security.logins
        assert rig.rt.status()["devices"]["plc"]["state"] == "connected"

        await rig.rt.audit_trail.drain()  # the line's audit rows are written by a task
        entries = await asyncio.to_thread(rig.ledger.audit_entries, limit=100_000)
        by_mes = {(e.command, _command_of(e.before)) for e in entries if e.actor == "mes"}
        assert ("work_order.create", None) in by_mes
        assert ("line.command", "start") in by_mes
        assert ("line.command", "close-batch") in by_mes
        assert ("work_order.close", None) in by_mes
        starved = [json.loads(e.after) for e in entries if e.command == "line.alarm"]
        starved = [a for a in starved if isinstance(a, dict) and a.get("code") == "starved"]
        raised = [a for a in starved if not a.get("cleared")]
        assert len(raised) == len(starved) - len(raised), starved  # no alarm left open


async def test_a_plc_client_certificate_the_plc_does_not_trust_is_refused_naming_it(
    tmp_path: Path,
) -> None:
    site = secure_site(tmp_path / "pki", "plc")
    plc = PlcSimulator(VirtualLine(LineLayout()), opcua_port=0, opcua_security=site.endpoint)
    await plc.start()
    try:
        config = parse_config({
            "line": {"id": "l", "read_point": "urn:epc:id:sgln:0950600.01343.1",
                     "biz_location": "urn:epc:id:sgln:0950600.01343.0",
                     "company_prefix_length": 7},
            "ledger": {"path": str(tmp_path / "ledger.db")},
            "devices": {
                "plc": {"kind": "plc", "protocol": "opcua", "host": "127.0.0.1",
                        "port": plc.opcua_port, "timeout_s": 5.0,
                        "options": {"security": site.stranger.security(), "username": site.user,
                                    "password_file": str(site.password_file)}},
                "printer": {"kind": "printer", "protocol": "zpl", "host": "127.0.0.1",
                            "port": 1},
                "camera": {"kind": "camera", "protocol": "framepush", "host": "127.0.0.1",
                           "port": 1},
            },
        })  # fmt: skip
        devices = open_devices(config)
        try:
            with pytest.raises(DevicesUnavailable) as caught:
                await connect_all(devices, within_s=10.0)
        finally:
            await devices.close()
    finally:
        await plc.close()
    message = str(caught.value)
    assert "refused the client certificate" in message
    assert str(site.stranger.cert) in message and site.stranger.thumbprint in message
