"""Alerts reach a webhook (retried with backoff after failures); the dashboard needs a login."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.resolver.kit import (
    BRAND_PASSWORD,
    Client,
    commissioning,
    document,
    start_client,
    write_config,
)


class Receiver:
    """A test webhook: answers 503 to the first ``fail`` POSTs, then 200; keeps what it got."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.posts: list[tuple[bytes, str]] = []
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.posts.append((body, request.headers.get("X-Linectl-Signature", "")))
        if len(self.posts) <= self.fail:
            return web.Response(status=503)
        self.received.put_nowait(json.loads(body))
        return web.Response(status=204)


async def test_a_diversion_alert_reaches_the_webhook_after_retries(
    tmp_path: Path, database_url: str, standards: Path
) -> None:
    receiver = Receiver(fail=2)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    secret = tmp_path / "hook.secret"
    secret.write_text("s3cret-for-signing")
    hooks = f"""
[[webhooks]]
url = "http://127.0.0.1:{port}/hook"
secret_file = "{secret}"
backoff_initial_s = 0.05
backoff_max_s = 0.2
"""
    context, client = await start_client(
        write_config(tmp_path, database_url, standards, webhooks=hooks)
    )
    try:
        await client.capture(document(commissioning(["H1"])))
        result = await client.verify("H1", country="BR")
        assert result["alerts"] == ["diversion"]
        async with asyncio.timeout(30):
            delivered = await receiver.received.get()
        alert = delivered["alert"]
        assert alert["kind"] == "diversion" and alert["serial"] == "H1" and alert["country"] == "BR"
        assert delivered["attempt"] == 3 and len(receiver.posts) == 3
        body, signature = receiver.posts[-1]
        expected = hmac.new(b"s3cret-for-signing", body, hashlib.sha256)
        assert signature == "sha256=" + expected.hexdigest()
        async with asyncio.timeout(30):  # the resolver records the 204 after the receiver sent it
            await client.resolver.sender.wait_recorded(3)
        deliveries = await client.resolver.services.store.deliveries()
        assert [(d[3], d[4]) for d in deliveries] == [(3, "delivered")]
    finally:
        await client.session.close()
        await context.__aexit__(None, None, None)
        await runner.cleanup()


async def test_the_dashboard_needs_a_login_and_then_shows_charts_and_alerts(
    resolver: Client,
) -> None:
    await resolver.capture(document(commissioning(["B1"])))
    await resolver.verify("B1", country="US")
    async with resolver.session.get(f"{resolver.base}/brand", allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/brand/login"
    async with resolver.session.get(f"{resolver.base}/brand/alerts") as r:
        assert r.status == 401
    form = {"user": "brand", "password": "wrong password"}
    async with resolver.session.post(f"{resolver.base}/brand/login", data=form) as r:
        assert "Wrong user name or password" in await r.text()
    form["password"] = BRAND_PASSWORD
    async with resolver.session.post(f"{resolver.base}/brand/login", data=form) as r:
        page = await r.text()
        assert r.status == 200 and "Scans of the last 30 days: 1" in page
    assert page.count("<svg") == 4 and "Scans by country" in page and "diversion" in page
    async with resolver.session.get(f"{resolver.base}/brand/alerts") as r:
        assert [a["kind"] for a in await r.json()] == ["diversion"]
