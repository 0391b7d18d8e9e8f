"""Workers hold no state: two workers on one database answer alike, whichever gets the request."""

from __future__ import annotations

from pathlib import Path

from tests.resolver.kit import BRAND_PASSWORD, commissioning, document, start_client, write_config


async def test_two_workers_share_captures_scans_and_brand_sessions(
    tmp_path: Path, database_url: str, standards: Path
) -> None:
    config = write_config(tmp_path, database_url, standards)
    context_a, a = await start_client(config)
    context_b, b = await start_client(config)
    try:
        await a.capture(document(commissioning(["M1"])))
        assert (await b.verify("M1", country="DE"))["verdict"] == "genuine"
        second = await a.verify("M1", country="AT")
        assert second["verdict"] == "scanned-before" and second["first_scan_country"] == "DE"
        assert "several-countries" in second["alerts"]
        form = {"user": "brand", "password": BRAND_PASSWORD}
        async with a.session.post(f"{a.base}/brand/login", data=form, allow_redirects=False) as r:
            assert r.status == 303
            cookie = r.cookies["linectl_resolver_session"].value
        cookies = {"linectl_resolver_session": cookie}
        async with b.session.get(f"{b.base}/brand/alerts", cookies=cookies) as r:
            assert r.status == 200
            assert {alert["kind"] for alert in await r.json()} == {"several-countries"}
    finally:
        for client, context in ((a, context_a), (b, context_b)):
            await client.session.close()
            await context.__aexit__(None, None, None)
