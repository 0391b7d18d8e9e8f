"""The central simulator as one object: pool manager (OPC UA), EPCIS repository (HTTP), admin API.

Usable in-process by tests (``async with CentralSimulator(config) as sim``) and by ``serve``. The
admin endpoint (its own port, so it still answers while the EPCIS port is "down"):

- ``GET /admin/faults`` -> the current faults and limits
- ``POST /admin/faults`` with a JSON object of changes, e.g. ``{"epcis_down": true}``,
  ``{"error_rate": 0.2}``, ``{"capture_limit": 50}``,
  ``{"fail_next_jobs": 1, "job_failure_keep": 3}``
- ``GET /admin/stats`` -> capture counters, stored events, pool statistics
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from simulators.central.capture import EpcisServer, problem
from simulators.central.config import CentralConfig, CentralConfigError
from simulators.central.event_store import EventStore
from simulators.central.faults import FaultError, Faults
from simulators.central.pool_manager import PoolManagerServer
from simulators.central.serial_pool import SerialPool
from simulators.opcua_security import EndpointSecurity
from standards.epcis.schema_check import SchemaChecker

log = logging.getLogger("simulators.central")

#: settings the admin endpoint may change besides the faults
_LIMITS = {
    "capture_limit": int,
    "file_size_limit": int,
    "advertise_limits": bool,
    "job_delay_s": float,
    "duplicates": str,
}


def _coerce(name: str, value: Any) -> Any:
    kind = _LIMITS[name]
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
    }[kind]
    if not ok:
        raise FaultError(f"{name}: {value!r} is not a {kind.__name__}")
    return kind(value)


def load_schema(path: Path) -> SchemaChecker:
    """The EPCIS JSON schema, compiled (refuses a missing or unreadable file clearly)."""
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FileNotFoundError(
            f"EPCIS JSON schema not readable at {path}: {exc.strerror}"
        ) from None
    return SchemaChecker(schema)


class CentralSimulator:
    """Serial-number authority and EPCIS repository of a site, with injectable faults."""

    def __init__(
        self,
        config: CentralConfig,
        *,
        serve_opcua: bool = True,
        admin: bool = True,
        record_documents: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.time,
        serial_rng: random.Random | None = None,
        opcua_security: EndpointSecurity | None = None,
    ) -> None:
        self.config = config
        self._clock, self._serial_rng = clock, serial_rng
        self.serve_opcua = serve_opcua
        self.admin_enabled = admin and config.admin_port is not None
        self.record_documents = record_documents
        self.ssl_context = ssl_context
        self.opcua_security = opcua_security
        self.pool: SerialPool | None = None
        self.store: EventStore | None = None
        self.pool_manager: PoolManagerServer | None = None
        self.epcis: EpcisServer | None = None
        self._admin: web.AppRunner | None = None
        self.admin_port = 0

    @property
    def faults(self) -> Faults:
        return self.config.faults

    @property
    def opcua_url(self) -> str:
        assert self.pool_manager is not None, "the simulator serves no OPC UA"
        return self.pool_manager.url

    @property
    def epcis_url(self) -> str:
        assert self.epcis is not None, "start the simulator first"
        return self.epcis.base_url

    @property
    def admin_url(self) -> str:
        return f"http://{self.config.host}:{self.admin_port}"

    async def __aenter__(self) -> CentralSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        cfg = self.config
        checker = await asyncio.to_thread(load_schema, cfg.schema)
        self.pool = await asyncio.to_thread(
            SerialPool,
            cfg.db_path,
            cfg.collections,
            max_sn_requestable=cfg.max_sn_requestable,
            max_sn_returnable=cfg.max_sn_returnable,
            page_size=cfg.page_size,
            token_ttl_s=cfg.token_ttl_s,
            clock=self._clock,
            rng=self._serial_rng,
        )
        self.store = await asyncio.to_thread(EventStore, cfg.db_path)
        try:
            if self.serve_opcua:
                self.pool_manager = PoolManagerServer(
                    self.pool,
                    cfg.faults,
                    cfg.nodeset,
                    cfg.host,
                    cfg.opcua_port,
                    security=self.opcua_security,
                )
                await self.pool_manager.start()
            self.epcis = EpcisServer(
                self.store,
                cfg,
                cfg.faults,
                checker,
                host=cfg.host,
                port=cfg.epcis_port,
                ssl_context=self.ssl_context,
                record_documents=self.record_documents,
            )
            await self.epcis.start()
            if self.admin_enabled:
                await self._start_admin()
            await self._apply_down()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop every listener and close the files; safe twice."""
        admin, self._admin = self._admin, None
        if admin is not None:
            await admin.cleanup()
        epcis, self.epcis = self.epcis, None
        if epcis is not None:
            await epcis.close()
        manager, self.pool_manager = self.pool_manager, None
        if manager is not None:
            await manager.close()
        for closable in (self.store, self.pool):
            if closable is not None:
                await asyncio.to_thread(closable.close)
        self.store = self.pool = None

    # -- faults ---------------------------------------------------------------------------

    async def set_faults(self, **changes: Any) -> dict[str, Any]:
        """Change faults (and capture limits) at run time; returns the new settings."""
        limits = {k: v for k, v in changes.items() if k in _LIMITS}
        faults = {k: v for k, v in changes.items() if k not in _LIMITS}
        before = {k: getattr(self.config, k) for k in limits}
        try:
            for name, value in limits.items():
                setattr(self.config, name, _coerce(name, value))
            self.config.check()
            self.faults.update(faults)
        except (FaultError, CentralConfigError):
            for name, value in before.items():
                setattr(self.config, name, value)
            raise
        await self._apply_down()
        return self.settings()

    def settings(self) -> dict[str, Any]:
        return self.faults.as_dict() | {k: getattr(self.config, k) for k in _LIMITS}

    async def _apply_down(self) -> None:
        if self.epcis is not None:
            await self.epcis.set_down(self.faults.epcis_down)
        if self.pool_manager is not None:
            await self.pool_manager.set_down(self.faults.pool_down)

    # -- admin endpoint -------------------------------------------------------------------

    async def _start_admin(self) -> None:
        app = web.Application()
        app.router.add_get("/admin/faults", self._get_faults)
        app.router.add_post("/admin/faults", self._post_faults)
        app.router.add_get("/admin/stats", self._get_stats)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.admin_port or 0)
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.admin_port = server.sockets[0].getsockname()[1]
        self._admin = runner
        log.info("central simulator admin endpoint on %s/admin/faults", self.admin_url)

    async def _get_faults(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.settings())

    async def _post_faults(self, request: web.Request) -> web.StreamResponse:
        try:
            changes = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return problem(400, "about:blank", "Body is not JSON", str(exc))
        if not isinstance(changes, dict):
            return problem(400, "about:blank", "Expected a JSON object of fault settings")
        try:
            settings = await self.set_faults(**changes)
        except (FaultError, CentralConfigError) as exc:
            return problem(400, "about:blank", "Fault setting refused", str(exc))
        log.info("faults changed: %s", changes)
        return web.json_response(settings)

    async def _get_stats(self, request: web.Request) -> web.StreamResponse:
        stats: dict[str, Any] = {}
        if self.epcis is not None and self.store is not None:
            stats["capture"] = vars(self.epcis.counters)
            stats["events"] = await asyncio.to_thread(self.store.count)
        if self.pool is not None:
            stats["pool"] = await asyncio.to_thread(self.pool.stats)
        return web.json_response(stats)


async def run_until_cancelled(sim: CentralSimulator) -> None:
    """Serve until the task is cancelled (Ctrl-C in ``serve``)."""
    async with sim:
        opcua = sim.opcua_url if sim.pool_manager is not None else "off"
        admin = sim.admin_url if sim.admin_enabled else "off"
        print(
            f"central simulator: opcua={opcua} epcis={sim.epcis_url} admin={admin} "
            f"db={sim.config.db_path}",
            flush=True,
        )
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
