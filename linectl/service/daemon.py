"""``linectl run``: the line daemon from a configuration file, until SIGTERM.

Start-up, in order: read the configuration, open the ledger, build every device from
``[devices.*]`` and connect them all in parallel (one error naming each device that failed),
run crash recovery (nothing is printed before it is done), start the upstream links when
``[upstream]`` is configured (:mod:`linectl.line.uplink`: EPCIS sync, pool refills, returns),
serve the control API, tell systemd READY=1 and feed its watchdog. SIGTERM (or SIGINT) stops
the line (PackML Stop), settles or scraps the packs in flight, flushes the ledger and closes the
devices; the exit code is then 0 (1 if a background task had died meanwhile: the line was held,
and systemd should know).

As a subprocess (demo, kill tests, benchmarks) the daemon prints one line to stdout once it is
ready: ``linectl ready: api=<url> batch=<batch or ->``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path

from linectl.config import load_config
from linectl.identity.setup import line_identity
from linectl.ledger import Ledger
from linectl.line.control import Command
from linectl.line.devices import connect_all, open_devices
from linectl.line.runtime import LineRuntime, RuntimeOptions
from linectl.line.uplink import Uplink
from linectl.service.api import ControlApi, start_control_api
from linectl.service.systemd import Notifier

log = logging.getLogger("linectl.daemon")


@dataclass(frozen=True)
class DaemonArgs:
    """What ``linectl run`` was asked to do."""

    config: Path
    batch: str | None = None
    start: bool = False  # send START (as ``user``) once recovery is done
    user: str = "linectl"
    options: RuntimeOptions = field(default_factory=RuntimeOptions)


async def run_daemon(args: DaemonArgs) -> int:
    """Run the daemon until SIGTERM/SIGINT; returns the exit code (0 after a clean stop)."""
    config = load_config(args.config)
    config.ledger.path.parent.mkdir(parents=True, exist_ok=True)
    ledger = await asyncio.to_thread(Ledger, config.ledger.path)
    try:  # the audit key first: recovery writes audit rows
        identity = await asyncio.to_thread(line_identity, ledger, config.identity)
    except BaseException:
        await asyncio.to_thread(ledger.close)
        raise
    notifier = Notifier()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    devices = open_devices(config)
    api: ControlApi | None = None
    uplink: Uplink | None = None
    try:
        await connect_all(devices)
        runtime = LineRuntime(config, ledger, devices, options=args.options)
        await runtime.start(args.batch)
        uplink = runtime.start_uplink()
        api = await start_control_api(runtime, config.control, identity=identity)
        notifier.ready(f"line {config.line.id}: {runtime.status()['state']['name']}")
        notifier.start_watchdog(lambda: not runtime.failures)
        if args.start:
            if uplink is not None:  # an empty pool is provisioned before START, if it can be
                await uplink.wait_for_serials(30.0)
            await runtime.command(
                Command.START, user=args.user, reason="linectl run --start", batch=args.batch
            )
        batch = runtime.batch.batch if runtime.batch else "-"
        print(f"linectl ready: api={api.url} batch={batch}", flush=True)
        await stop.wait()
        log.info("stop requested: shutting down")
        notifier.stopping("stopping the line")
        await api.close()
        if uplink is not None:
            await uplink.close()  # what is unsent stays in the outbox for the next start
        await runtime.shutdown()
        if runtime.failures:
            log.error("stopped, but background tasks had failed: %s", runtime.failures)
            return 1
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        if uplink is not None:
            await uplink.close()
        await devices.close()
        if api is not None:
            with contextlib.suppress(Exception):
                await api.close()
        await notifier.close()
        await asyncio.to_thread(ledger.close)
    return 0


def main(args: DaemonArgs) -> int:
    """Blocking entry point for the CLI."""
    return asyncio.run(run_daemon(args))
