"""Scan to verify, end to end: a batch on the simulated line sends its EPCIS events straight to the
resolver (``linectl resolver`` as its own process), and the packs then verify as a consumer would.

Every commissioned serial is genuine on its first scan; a scrapped serial and a made-up one are
not; a second scan warns; a scan in a country outside the target market raises a diversion alert
that a test webhook receives; after ``linectl resolver recall`` the lot shows as recalled.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from linectl.config import EpcisSection, UpstreamSection
from linectl.line.control import Command
from linectl.line.devices import connect_all, open_devices
from linectl.line.runtime import LineRuntime, RuntimeOptions
from simulators.line import Defect
from standards.packml import PackMLState
from tests.e2e.rig import BATCH, GTIN, GUARD_S, LOT, ScriptedFaults, line_rig
from tests.resolver.kit import CAPTURE_TOKEN, write_config

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
PACKS = 70  # the three forced rejects and the good packs around them
PUBLIC = "http://id.example.test"
FORCED = {10: Defect.NO_PRINT, 30: Defect.WRONG_CONTENT, 50: Defect.NO_PRINT}


class Webhook:
    """The brand's alert receiver."""

    def __init__(self) -> None:
        self.alerts: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def handle(self, request: web.Request) -> web.Response:
        self.alerts.put_nowait((await request.json())["alert"])
        return web.Response(status=204)


async def _resolver_process(config: Path) -> AsyncIterator[str]:
    with (config.parent / "resolver.log").open("wb") as log:  # the child keeps its own copy
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "linectl.cli", "resolver", "--config", str(config),
            cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=log,
        )  # fmt: skip
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(GUARD_S):
            line = (await proc.stdout.readline()).decode()
        assert line.startswith("resolver: serving on "), line
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        proc.terminate()
        async with asyncio.timeout(GUARD_S):
            await proc.wait()


async def _cli(*argv: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "linectl.cli", *argv,
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(GUARD_S):
        out, _ = await proc.communicate()
    return int(proc.returncode or 0), out.decode()


async def test_a_batch_verifies_pack_by_pack_at_the_resolver_it_was_sent_to(
    tmp_path: Path, standards: Path
) -> None:
    hook = Webhook()
    app = web.Application()
    app.router.add_post("/alerts", hook.handle)
    hook_runner = web.AppRunner(app)
    await hook_runner.setup()
    await web.TCPSite(hook_runner, "127.0.0.1", 0).start()
    hook_port = hook_runner.addresses[0][1]
    webhooks = f'[[webhooks]]\nurl = "http://127.0.0.1:{hook_port}/alerts"\n'
    resolver_dir = tmp_path / "resolver"
    resolver_dir.mkdir()
    config = write_config(resolver_dir, "sqlite:///resolver.db", standards, webhooks=webhooks)
    products = resolver_dir / "products.json"
    products.write_text(json.dumps({"products": [
        {"gtin": GTIN, "names": {"en": "E2E tablets"}, "target_markets": ["DE"],
         "links": {"gs1:pip": {"en": "https://brand.example.com/e2e"}}},
    ]}))  # fmt: skip
    code, out = await _cli("resolver", "import-products", str(products), "--config", str(config))
    assert code == 0, out
    token = tmp_path / "capture.token"
    token.write_text(CAPTURE_TOKEN)

    resolver = _resolver_process(config)
    base = await resolver.__anext__()
    session = aiohttp.ClientSession()
    faults = ScriptedFaults(seed=5, forced=FORCED)
    try:
        async with line_rig(
            tmp_path, packs=PACKS, pool=PACKS + 40, faults=faults, daemon=False
        ) as rig:
            epcis = EpcisSection(
                base_url=base, token_file=token, backoff_initial_s=0.2, backoff_max_s=2,
                job_timeout_s=20, request_timeout_s=5,
            )  # fmt: skip
            line_config = rig.config.model_copy(update={"upstream": UpstreamSection(epcis=epcis)})
            devices = open_devices(line_config)
            await connect_all(devices)
            runtime = LineRuntime(line_config, rig.ledger, devices, options=RuntimeOptions())
            rig.devices, rig.runtime = devices, runtime
            try:
                await runtime.start(BATCH)
                assert runtime.start_uplink() is not None  # as the daemon does with [upstream]
                await runtime.command(Command.START, user="alice", reason="e2e resolver")
                await rig.wait_state(PackMLState.COMPLETE)
                await runtime.line_end_done()
                try:
                    await rig.wait(lambda: runtime.status()["upstream"]["backlog"] == 0)
                except TimeoutError:
                    raise AssertionError(
                        f"events not delivered: {runtime.status()['upstream']}"
                    ) from None
            finally:
                await runtime.shutdown()
                await devices.close()
            units = rig.units()

        good = sorted(s for s, v, _ in units.values() if v == "good")
        scrapped = sorted(s for s, v, _ in units.values() if v != "good")
        assert len(good) + len(scrapped) == PACKS and scrapped and good

        async def verify(serial: str, country: str = "DE") -> dict[str, Any]:
            code = f"{PUBLIC}/01/{GTIN}/10/{LOT}/21/{serial}"
            params = {"code": code, "country": country}
            async with session.get(f"{base}/api/v1/verify", params=params) as r:
                assert r.status == 200, await r.text()
                answer: dict[str, Any] = await r.json()
                return answer

        firsts = [await verify(s) for s in good]
        assert {a["verdict"] for a in firsts} == {"genuine"}
        assert (await verify(scrapped[0]))["verdict"] == "unknown"
        assert (await verify("MADEUP0001"))["verdict"] == "unknown"
        second = await verify(good[0])
        assert second["verdict"] == "scanned-before" and second["previous_scans"] == 1
        abroad = await verify(good[1], country="US")
        assert abroad["genuine"] is True and "diversion" in abroad["alerts"]
        async with asyncio.timeout(GUARD_S):
            while (alert := await hook.alerts.get())["kind"] != "diversion":
                pass  # counterfeit-suspect alerts of the unknown serials come first
        assert alert["serial"] == good[1] and alert["country"] == "US"

        code, out = await _cli("resolver", "recall", "--config", str(config), "--gtin", GTIN,
                               "--lot", LOT, "--reason", "label mix-up")  # fmt: skip
        assert code == 0, out
        recalled = await verify(good[2])
        assert recalled["verdict"] == "recalled" and recalled["recall_reason"] == "label mix-up"
    finally:
        await session.close()
        await resolver.aclose()
        await hook_runner.cleanup()
