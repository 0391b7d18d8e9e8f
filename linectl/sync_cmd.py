"""``linectl sync``: wait for the upstream backlog to drain, with a progress bar.

- The daemon is running (its control API answers): it does the sending; ``sync`` follows its
  status until no event waits in the outbox and no unused serial of a closed batch waits to go
  back to the pool manager.
- No daemon: ``sync`` drains the ledger's outbox itself with :class:`EpcisSync` (the config's
  ``[upstream.epcis]``, in queue order, with the same backoff) and returns the unused serials of
  closed batches (``[upstream.provisioning]``, SNReturnAllocated), recording them as returned.

On a terminal the bar is redrawn in place; otherwise a line is printed every few seconds.
Exit codes: 0 drained; 1 not drained within ``--timeout``, or a return the pool manager refused;
2 configuration or authorisation problem (e.g. events waiting and no ``[upstream.epcis]``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from linectl.config import ConfigError, LineConfig, ProvisioningSection
from linectl.control_cmd import (
    EXIT_CONFIG,
    EXIT_REFUSED,
    AddCommand,
    age_text,
    client_for,
    line_config,
)
from linectl.identity import IdentityError, Permission
from linectl.identity.keyfiles import find_credential
from linectl.identity.setup import line_identity
from linectl.ledger import Ledger, LedgerError
from linectl.service.client import ControlClient, ControlClientError, DaemonUnreachable

if TYPE_CHECKING:
    from linectl.upstream.epcis_sync import EpcisSync
    from linectl.upstream.pool_client import PoolManagerClient

POLL_S = 0.25  # how often the daemon's status (or the direct sync) is looked at
LINE_EVERY_S = 5.0  # without a terminal: one progress line this often


def add_sync_command(add: AddCommand) -> None:
    """Register ``linectl sync`` on the CLI."""
    p = add("sync", cmd_sync, "wait for the upstream backlog to drain (a progress bar)")
    p.add_argument("--config", dest="sync_config", metavar="FILE", help="line configuration")
    p.add_argument(
        "--timeout", type=float, default=None, metavar="S", help="give up after S seconds (exit 1)"
    )


@dataclass
class Progress:
    """What is left upstream, drawn as a bar (terminal) or as periodic lines."""

    out: TextIO
    in_place: bool
    every_s: float = LINE_EVERY_S
    sent: int = 0
    waiting: int | None = None
    oldest_s: float | None = None
    returns_waiting: int = 0
    returned: int = 0
    note: str = ""
    _started: float = field(default_factory=time.monotonic)
    _last: float = 0.0

    def text(self) -> str:
        waiting = "?" if self.waiting is None else f"{self.waiting:,}"
        total = self.sent + (self.waiting or 0)
        rate = self.sent / max(time.monotonic() - self._started, 1e-3)
        parts = [f"{self.sent:,}/{total:,} events sent ({waiting} waiting, {rate:.0f}/s)"]
        if self.oldest_s is not None and self.waiting:
            parts.append(f"oldest {age_text(self.oldest_s)}")
        if self.returns_waiting or self.returned:
            parts.append(f"serials: {self.returned:,} returned, {self.returns_waiting:,} waiting")
        if self.note:
            parts.append(self.note)
        return "  ".join(parts)

    def show(self, *, final: bool = False) -> None:
        now = time.monotonic()
        if not (self.in_place or final or self._last == 0.0 or now - self._last >= self.every_s):
            return
        self._last = now
        if self.in_place:
            total = self.sent + (self.waiting or 0)
            width = 24
            filled = width if total == 0 else min(width, width * self.sent // total)
            bar = "#" * filled + "." * (width - filled)
            self.out.write(f"\r[{bar}] {self.text()}\x1b[K" + ("\n" if final else ""))
        else:
            self.out.write(self.text() + "\n")
        self.out.flush()


def cmd_sync(args: argparse.Namespace) -> int:
    if args.sync_config:
        args = argparse.Namespace(**(vars(args) | {"config": args.sync_config}))
    out = sys.stdout
    progress = Progress(out, in_place=out.isatty())
    try:
        config = line_config(args)
        try:
            client = client_for(args)
        except DaemonUnreachable:
            client = None
        if client is not None:
            try:
                return follow_daemon(client, progress, args.timeout)
            except DaemonUnreachable:
                print("linectl sync: the daemon went away; draining directly", file=out)
        return asyncio.run(drain_directly(config, args, progress, args.timeout))
    except ConfigError as exc:
        print(f"linectl: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ControlClientError as exc:
        print(f"linectl sync: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        progress.show(final=True)
        print("linectl sync: interrupted; what is left stays in the outbox", file=sys.stderr)
        return 130


# --- following the daemon ------------------------------------------------------------------------


def _daemon_view(status: dict[str, Any], progress: Progress, delivered_at_start: int) -> bool:
    """Update ``progress`` from the daemon's status; True when nothing waits any more."""
    upstream = status.get("upstream") or {}
    epcis = upstream.get("epcis") or {}
    prov = upstream.get("provisioning") or {}
    progress.waiting = upstream.get("backlog")
    progress.oldest_s = upstream.get("oldest_undelivered_age_s")
    progress.sent = max(0, int(epcis.get("delivered") or 0) - delivered_at_start)
    pending = prov.get("returns_pending") or {}
    progress.returns_waiting = int(pending.get("serials") or 0)
    progress.returned = int(prov.get("returned") or 0)
    notes = []
    if epcis.get("state") == "backing-off" and epcis.get("last_error"):
        notes.append(f"EPCIS retrying: {epcis['last_error']}")
    if prov.get("state") == "unreachable" and progress.returns_waiting:
        notes.append("pool manager unreachable")
    progress.note = "; ".join(notes)
    return progress.waiting == 0 and progress.returns_waiting == 0


def follow_daemon(client: ControlClient, progress: Progress, timeout: float | None) -> int:
    """Follow the running daemon's status until its backlog and pending returns are zero."""
    status = client.status()
    upstream = status.get("upstream") or {}
    if upstream.get("epcis") is None and (upstream.get("backlog") or 0) > 0:
        print(
            f"linectl sync: {upstream.get('backlog')} events wait, but the daemon has no "
            "[upstream.epcis]: nothing sends them (configure it and restart the daemon)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    delivered_at_start = int((upstream.get("epcis") or {}).get("delivered") or 0)
    deadline = None if timeout is None else time.monotonic() + timeout
    print(f"following the daemon at {client.endpoint.url}", file=progress.out)
    while True:
        done = _daemon_view(status, progress, delivered_at_start)
        progress.show(final=done)
        if done:
            refused = (upstream.get("provisioning") or {}).get("returns_refused") or {}
            return _finish(progress, refused)
        if deadline is not None and time.monotonic() >= deadline:
            progress.show(final=True)
            print(f"linectl sync: not drained within {timeout:g} s", file=sys.stderr)
            return EXIT_REFUSED
        time.sleep(POLL_S)
        status = client.status()
        upstream = status.get("upstream") or {}


def _finish(progress: Progress, refused: dict[str, str]) -> int:
    for batch, why in refused.items():
        print(f"linectl sync: returns of batch {batch} refused: {why}", file=sys.stderr)
    print(
        f"sync done: {progress.sent:,} events delivered, {progress.returned:,} unused serials "
        "returned",
        file=progress.out,
    )
    return EXIT_REFUSED if refused else 0


# --- without a daemon ----------------------------------------------------------------------------


async def drain_directly(
    config: LineConfig, args: argparse.Namespace, progress: Progress, limit_s: float | None
) -> int:
    """Drain the outbox and return unused serials from the ledger itself (no daemon running)."""
    from linectl.upstream.epcis_sync import EpcisSync
    from linectl.upstream.ledger_link import LedgerOutbox

    upstream = config.upstream
    path = args.ledger or config.ledger.path
    try:
        ledger = await asyncio.to_thread(Ledger, path)
    except (LedgerError, OSError) as exc:
        print(f"linectl sync: cannot open the ledger {path}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        try:  # the caller, as for every ledger command: logged in, with the sync permission
            identity = await asyncio.to_thread(line_identity, ledger, config.identity)
            token = find_credential(args.token_file, config.identity, Path(path))
            principal = await asyncio.to_thread(identity.resolve, token)
            await asyncio.to_thread(identity.require, principal, Permission.SYNC, "sync")
        except (IdentityError, LedgerError) as exc:
            print(f"linectl sync: refused: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        outbox = LedgerOutbox(ledger)
        backlog = await outbox.backlog()
        progress.waiting = backlog.count
        if backlog.count and (upstream is None or upstream.epcis is None):
            print(
                f"linectl sync: {backlog.count} events wait in the outbox, but the configuration "
                "has no [upstream.epcis] to send them to",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        print(f"no daemon running: syncing from the ledger {path}", file=progress.out)
        sync: EpcisSync | None = None
        if upstream is not None and upstream.epcis is not None:
            sync = EpcisSync(outbox, upstream.epcis.settings())
        returner = _Returns(ledger, config)
        try:
            async with asyncio.timeout(limit_s):
                return await _run_direct(sync, returner, progress)
        except TimeoutError:
            progress.show(final=True)
            print(f"linectl sync: not drained within {limit_s:g} s", file=sys.stderr)
            return EXIT_REFUSED
        finally:
            if sync is not None:
                await sync.close()
            await returner.close()
    finally:
        await asyncio.to_thread(ledger.close)


async def _run_direct(sync: EpcisSync | None, returner: _Returns, progress: Progress) -> int:
    jobs: set[asyncio.Task[Any]] = set()
    if sync is not None:
        jobs.add(asyncio.create_task(sync.drain(), name="linectl sync epcis"))
    jobs.add(asyncio.create_task(returner.run(), name="linectl sync returns"))
    try:
        while True:
            if sync is not None:
                state = await sync.status()
                progress.waiting, progress.sent = state.backlog, state.delivered
                progress.oldest_s = state.oldest_undelivered_age_s
                retrying = state.backlog and state.consecutive_failures
                progress.note = f"EPCIS retrying: {state.last_error}" if retrying else ""
            else:
                progress.waiting = 0
            progress.returns_waiting, progress.returned = returner.waiting, returner.returned
            if returner.note:
                progress.note = "; ".join(n for n in (progress.note, returner.note) if n)
            for job in jobs:
                if job.done() and job.exception() is not None:
                    progress.show(final=True)
                    job.result()  # the ledger failed (or a bug): raise it
            done = all(job.done() for job in jobs)
            progress.show(final=done)
            if done:
                return _finish(progress, returner.refused)
            await asyncio.wait(jobs, timeout=POLL_S)
    finally:
        for job in jobs:
            job.cancel()
        for job in jobs:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await job


class _Returns:
    """Unused serials of closed batches back to the pool manager, retrying while it is down."""

    def __init__(self, ledger: Ledger, config: LineConfig) -> None:
        self.ledger = ledger
        upstream = config.upstream
        self.section = upstream.provisioning if upstream is not None else None
        self.client: PoolManagerClient | None = None
        self.waiting = 0
        self.returned = 0
        self.note = ""
        self.refused: dict[str, str] = {}

    async def run(self) -> None:
        from linectl.upstream.batch_serials import pending_returns, return_batch
        from linectl.upstream.pool_client import PoolManagerClient
        from linectl.upstream.pool_errors import PoolUnavailable, ProvisioningError

        if self.section is None:
            return
        pending = await asyncio.to_thread(pending_returns, self.ledger)
        self.waiting = sum(len(p.serials) for p in pending)
        if not pending:
            return
        section = replace_attempts(self.section)
        self.client = client = PoolManagerClient.from_section(section)
        backoff = section.backoff()
        for item in pending:
            while True:
                try:
                    n = await return_batch(client, self.ledger, section, item, actor="linectl sync")
                except PoolUnavailable as exc:
                    self.note = f"pool manager unreachable: {exc}"
                    await asyncio.sleep(backoff.on_failure())
                    continue
                except ProvisioningError as exc:
                    self.refused[item.batch] = str(exc)
                    self.waiting -= len(item.serials)
                    break
                self.note = ""
                backoff.on_success()
                self.returned += n
                self.waiting -= n
                break

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()


def replace_attempts(section: ProvisioningSection) -> ProvisioningSection:
    """One attempt per call: ``sync`` retries with its own backoff (and shows why meanwhile)."""
    return section.model_copy(update={"attempts": 1})
