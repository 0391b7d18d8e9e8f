"""``linectl run``: the line daemon from a configuration file, until SIGTERM.

Start-up, in order: read the configuration and check the files it names, build every device
from ``[devices.*]``, open the ledger (never create one) and check its integrity (every seal; a
failing ledger starts only on findings an admin acknowledged): each of these exits 2 before any
device is contacted. Then connect the devices in parallel (one error naming each that failed),
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
import gc
import logging
import signal
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from linectl.config import load_config
from linectl.config.daemon_files import check_daemon_files
from linectl.identity.setup import line_identity
from linectl.ledger.opening import open_ledger
from linectl.line.control import Command
from linectl.line.devices import build_devices, connect_all
from linectl.line.runtime import LineRuntime, RuntimeOptions
from linectl.line.uplink import Uplink
from linectl.service.api import ControlApi, start_control_api
from linectl.service.connections import quiet_accept_errors, raise_open_files_limit
from linectl.service.systemd import Notifier
from linectl.upstream.chain_head import export_chain_head

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
    config = load_config(args.config)  # every configuration error exits 2 before any device
    quiet_accept_errors(asyncio.get_running_loop())
    raise_open_files_limit()
    check_daemon_files(config, args.config)
    devices = build_devices(config, args.config)  # built, not connected yet
    ledger = await asyncio.to_thread(open_ledger, config.ledger.path)  # never creates one
    try:  # the audit key first: the start check verifies the chain, recovery writes audit rows
        identity = await asyncio.to_thread(line_identity, ledger, config.identity)
    except BaseException:
        await asyncio.to_thread(ledger.close)
        raise
    notifier = Notifier()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    api: ControlApi | None = None
    uplink: Uplink | None = None
    try:
        ack = await asyncio.to_thread(ledger.integrity.require_for_start)  # before any device
        if ack is not None:
            log.warning(
                "ledger fails its integrity check; starting on findings acknowledged by %s at "
                "%s: %s",
                ack.actor,
                ack.at,
                ack.reason,
            )
        await connect_all(devices)
        runtime = LineRuntime(config, ledger, devices, options=args.options)
        await runtime.start(args.batch)
        uplink = runtime.start_uplink()
        sync = uplink.sync if uplink is not None else None

        async def export_head(batch: str, user: str) -> dict[str, Any]:
            """After a close-batch and its signature: the chain head goes upstream."""
            head = await asyncio.to_thread(
                export_chain_head, ledger, batch, actor=user, line=config.line
            )
            if sync is not None:
                sync.wake()
            return asdict(head)

        api = await start_control_api(
            runtime, config.control, identity=identity, line=config.line, after_close=export_head
        )
        # What start-up built (modules, configuration, standards tables, clients) lives as long as
        # the daemon: freeze it so that a full collection during the batch (which stalls the loop
        # for as long as it scans) passes over the run's own objects only.
        gc.collect()
        gc.freeze()
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
        await _stop_or_broken(stop, runtime.broken)
        if runtime.failures:  # a core task died: stop, exit 1, and let the service restart us
            log.error(
                "a core task failed, first cause: %s; stopping (exit 1) so that the service "
                "manager restarts linectl: recovery at the next start settles the packs in flight",
                runtime.failures[0],
            )
        else:
            log.info("stop requested: shutting down")
        notifier.stopping("stopping the line")
        await api.close()
        if uplink is not None:
            await uplink.close()  # what is unsent stays in the outbox for the next start
        await runtime.shutdown()
        if runtime.failures:
            log.error("stopped after background tasks had failed: %s", runtime.failures)
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


async def _stop_or_broken(stop: asyncio.Event, broken: asyncio.Event) -> None:
    """Wait for a stop request (SIGTERM/SIGINT) or for a core task to fail."""
    waits = [asyncio.create_task(stop.wait()), asyncio.create_task(broken.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


def main(args: DaemonArgs) -> int:
    """Blocking entry point for the CLI."""
    return asyncio.run(run_daemon(args))
