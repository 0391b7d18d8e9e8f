"""``linectl hmi``: the HMI process. Serves the pages over HTTPS and follows the daemon.

It starts even when the daemon is down (the screens say "disconnected" until it answers), and
stops cleanly on SIGTERM. Its ready line, ``linectl hmi ready: url=https://...``, is printed
once it listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
from dataclasses import dataclass
from pathlib import Path

import structlog
from aiohttp import web

from linectl.config import LineConfig, load_config
from linectl.daemon_client import yield_cpu_to_the_line
from linectl.hmi import actions, aggregation, batches, i18n, pages, records, screens
from linectl.hmi.daemon_link import DaemonLink
from linectl.hmi.messages import TRANSLATIONS
from linectl.hmi.security import MAX_BODY, SESSIONS, security
from linectl.hmi.sessions import LoginLimit, Sessions
from linectl.hmi.tls import server_context
from linectl.hmi.view import LineView

log = structlog.get_logger(__name__)

DEFAULT_TOKEN_NAME = "hmi.token"


class HmiError(Exception):
    """The HMI cannot start; the message says why."""


def observer_token(config: LineConfig) -> str:
    """The HMI's own credential at the control API (blocking: reads a file)."""
    path = config.hmi.token_file or state_dir(config) / DEFAULT_TOKEN_NAME
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    except OSError as exc:
        raise HmiError(
            f"cannot read the HMI's control API token {path}: {exc.strerror or exc} (give the "
            "HMI a machine account: linectl user add hmi --role machine; linectl user token "
            "create hmi, into that file)"
        ) from None
    token = next((ln for ln in lines if ln), "")
    if len(token) < 16:
        raise HmiError(f"the token file {path} holds no token (16 characters at least)")
    return token


def state_dir(config: LineConfig) -> Path:
    """Where the HMI keeps its certificate and users' languages."""
    return config.hmi.state_dir or config.ledger.path.parent / "hmi"


def build_app(config: LineConfig, link: DaemonLink, token: str) -> web.Application:
    hmi = config.hmi
    app = web.Application(
        middlewares=[security, actions.login_required, pages.seen_version],
        client_max_size=MAX_BODY,
    )
    app[pages.VIEW] = link.view
    app[screens.LINK] = link
    app[screens.OBSERVER] = token
    translations = i18n.load_translations()
    app[TRANSLATIONS] = translations
    app[pages.RENDER] = pages.Renderer(translations)
    app[pages.PUSH_INTERVAL] = 1.0 / hmi.push_per_s
    app[pages.TARGET_SPEED] = config.line.target_packs_per_minute or 0
    app[SESSIONS] = Sessions(
        idle_s=hmi.idle_logout_min * 60.0,
        default_language=hmi.language,
        languages_file=state_dir(config) / "languages.json",
    )
    app[actions.LIMIT] = LoginLimit(hmi.login_attempts_per_min)
    pages.add_routes(app)
    screens.add_screen_routes(app)
    actions.add_action_routes(app)
    batches.add_batch_routes(app)
    records.add_record_routes(app)
    aggregation.add_aggregation_routes(app)
    return app


@dataclass
class RunningHmi:
    runner: web.AppRunner
    link: DaemonLink
    follower: asyncio.Task[None]
    url: str

    async def close(self) -> None:
        self.follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.follower
        await self.runner.cleanup()
        await self.link.close()


async def start_hmi(config: LineConfig) -> RunningHmi:
    """Start the HMI for ``config``: follow the daemon, serve HTTPS."""
    token = await asyncio.to_thread(observer_token, config)
    context: ssl.SSLContext
    context, _cert = await asyncio.to_thread(server_context, config.hmi, state_dir(config))
    link = DaemonLink(config.control, token, LineView())
    app = build_app(config, link, token)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.hmi.host, config.hmi.port, ssl_context=context)
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise HmiError(
            f"the HMI cannot listen on {config.hmi.host}:{config.hmi.port}: {exc.strerror or exc}"
        ) from None
    host, port = runner.addresses[0][:2]
    shown = "localhost" if host in ("0.0.0.0", "127.0.0.1", "::") else host
    follower = asyncio.create_task(link.run(), name="hmi: daemon events")
    url = f"https://{shown}:{port}/"
    log.info("HMI listening", url=url, daemon=link.where)
    return RunningHmi(runner, link, follower, url)


async def run_hmi(config_path: Path) -> int:
    config = await asyncio.to_thread(load_config, config_path)
    yield_cpu_to_the_line(config.hmi.nice)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    hmi = await start_hmi(config)
    try:
        print(f"linectl hmi ready: url={hmi.url} daemon={hmi.link.where}", flush=True)
        await stop.wait()
    finally:
        await hmi.close()
    return 0


def main(config_path: Path) -> int:
    return asyncio.run(run_hmi(config_path))
