"""The resolver's aiohttp application and its life cycle (one worker process).

Run several workers on one database behind any proxy: no worker keeps state of its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from linectl.resolver import capture, dashboard, resolve, verify_api
from linectl.resolver.config import ResolverConfig
from linectl.resolver.page import PageRenderer
from linectl.resolver.services import SERVICES, Services
from linectl.resolver.store import Store, open_store
from linectl.resolver.webhooks import WebhookSender
from standards.epcis.schema_check import SchemaChecker

log = logging.getLogger("linectl.resolver")


def load_checker(config: ResolverConfig) -> SchemaChecker:
    """The EPCIS JSON schema named in the configuration, compiled."""
    path = config.resolver.epcis_schema
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RuntimeError(f"EPCIS JSON schema not readable at {path}: {exc}") from exc
    return SchemaChecker(schema)


def build_app(services: Services) -> web.Application:
    app = web.Application(client_max_size=services.config.resolver.file_size_limit + 1)
    app[SERVICES] = services
    app[verify_api.PAGES] = PageRenderer(list(services.config.resolver.languages))
    r = app.router
    r.add_route("OPTIONS", "/capture", capture.options_capture)
    r.add_post("/capture", capture.post_capture)
    r.add_get("/capture", capture.list_jobs)
    r.add_get("/capture/{capture_id}", capture.get_job)
    r.add_get("/.well-known/gs1resolver", resolve.well_known)
    r.add_get("/recall-status/{tail:.*}", resolve.recall_status)
    r.add_get("/verify/{tail:.*}", verify_api.verify_page)
    r.add_get("/api/v1/verify", verify_api.verify_api)
    r.add_post("/api/v1/decommission", verify_api.decommission)
    r.add_post("/api/v1/decommission/undo", verify_api.undo_decommission)
    r.add_get("/brand/login", dashboard.login_page)
    r.add_post("/brand/login", dashboard.login)
    r.add_get("/brand/logout", dashboard.logout)
    r.add_get("/brand", dashboard.dashboard)
    r.add_get("/brand/alerts", dashboard.alerts_json)
    r.add_post("/brand/alerts/{alert_id}/close", dashboard.close_alert)
    r.add_get("/{tail:.*}", resolve.resolve)
    return app


@dataclass
class RunningResolver:
    """A started resolver worker: its services, the bound port, and how to stop it."""

    services: Services
    port: int
    runner: web.AppRunner
    sender: WebhookSender

    @property
    def base_url(self) -> str:
        return f"http://{self.services.config.resolver.listen_host}:{self.port}"


@asynccontextmanager
async def running(
    config: ResolverConfig,
    *,
    store: Store | None = None,
    clock_ms: Callable[[], int] | None = None,
    port: int | None = None,
) -> AsyncIterator[RunningResolver]:
    """Open the store (unless given), serve HTTP, deliver webhooks; undo all on exit."""
    checker = await asyncio.to_thread(load_checker, config)
    own_store = store is None
    if store is None:
        store = await open_store(config.resolver.database, config.resolver.pool_size)
    services = Services(config, store, checker)
    if clock_ms is not None:
        services.clock_ms = clock_ms
    runner = web.AppRunner(build_app(services), access_log=None, shutdown_timeout=1.0)
    sender = WebhookSender(services)
    try:
        await runner.setup()
        site = web.TCPSite(
            runner, config.resolver.listen_host,
            config.resolver.listen_port if port is None else port,
            reuse_port=config.resolver.reuse_port or None,
        )  # fmt: skip
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else config.resolver.listen_port
        sender.start()
        log.info(
            "resolver listening on %s:%d (%s)", config.resolver.listen_host, bound, store.dialect
        )
        yield RunningResolver(services, int(bound), runner, sender)
    finally:
        await sender.close()
        await runner.cleanup()
        if own_store:
            await store.close()


async def serve(
    config: ResolverConfig, ready: Callable[[RunningResolver], None] | None = None
) -> None:
    """Run one worker until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running(config) as resolver:
        if ready is not None:
            ready(resolver)
        await stop.wait()
