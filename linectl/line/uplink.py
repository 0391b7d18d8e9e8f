"""The running line's upstream links (DESIGN.md section 6): events out, serials in and back.

With ``[upstream]`` configured, ``LineRuntime.start_uplink()`` adds these tasks to a running
line. Each is named (``linectl uplink-*``) and runs under the line's task supervisor; a failure
inside one is logged, raises the non-holding ``uplink-task-failed`` alarm and the work is
restarted after a backoff (it never reaches the supervisor's holding ``task-failed``).
Nothing upstream ever holds or stops the line.

- ``uplink-epcis`` (``[upstream.epcis]``): :class:`EpcisSync` drains the ledger's outbox in queue
  order, retrying with capped, jittered backoff while the repository is unreachable.
- ``uplink-pool`` (``[upstream.provisioning]``): while a batch is active and its pool is below
  ``thresholds.pool_low_water``, it asks the pool manager for ``thresholds.pool_request_size``
  serials, in the background (the pipeline never waits for it; each page is in the ledger before
  the next is asked for). While the pool manager cannot be reached the non-holding alarm
  ``pool-unreachable`` ("pool manager unreachable") is up and the refill is retried with backoff;
  the line runs on from its pool, and an empty pool suspends it (starved) as always. A refill
  that lands while the line is suspended for want of serials resumes it.
- ``uplink-returns`` (``[upstream.provisioning]``): unused serials of closed batches go back with
  SNReturnAllocated and are recorded as returned (Allocated -> Unallocated), see
  :mod:`linectl.upstream.batch_serials`. Close-batch never waits for upstream: the batch closes
  with its unused serials counted as unused, and this task returns them right after; while the
  link is down it retries with backoff, so they go back once it is up (``linectl sync`` shows it).
  A return the pool manager refuses is not retried; the alarm ``serial-return-refused`` names it.
- ``uplink-status``: every ``check_s`` the outbox backlog (count and oldest event) for
  :meth:`Uplink.status`, which the line's status document shows under ``upstream``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from drivers.reconnect import Backoff
from linectl.config import ProvisioningSection, UpstreamSection
from linectl.ledger import Ledger, SerialState, WorkOrder
from linectl.line.alarms import Alarms, iso_now
from linectl.line.state import LineMirror, Tally
from linectl.line.supervisor import Supervisor
from linectl.upstream.batch_serials import (
    BatchClosedDuringRefill,
    PendingReturn,
    pending_returns,
    provisioner_for,
    return_batch,
)
from linectl.upstream.epcis_sync import EpcisSync, SyncStatus
from linectl.upstream.ledger_link import LedgerOutbox
from linectl.upstream.pool_client import PoolManagerClient
from linectl.upstream.pool_errors import PoolExhausted, PoolUnavailable, ProvisioningError
from linectl.upstream.provisioning import SerialProvisioner

log = logging.getLogger("linectl.uplink")

UNREACHABLE = "pool-unreachable"
RETURN_REFUSED = "serial-return-refused"
REFILL_REFUSED = "pool-refused"
TASK_FAILED = "uplink-task-failed"


def _iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class PoolLink:
    """Where serial provisioning stands, for status()."""

    state: str = "not contacted"  # ok, unreachable, refused, exhausted
    last_error: str | None = None
    last_error_at: str | None = None
    refills: int = 0
    received: int = 0
    last_refill_at: str | None = None
    returned: int = 0
    pending_batches: int = 0
    pending_serials: int = 0
    refused_returns: dict[str, str] = field(default_factory=dict)
    failing: dict[str, str] = field(default_factory=dict)  # refill/returns -> why unreachable


class Uplink:
    """The upstream tasks of one running line; ``close()`` is safe twice."""

    def __init__(
        self,
        section: UpstreamSection,
        ledger: Ledger,
        mirror: LineMirror,
        tally: Tally,
        alarms: Alarms,
        supervisor: Supervisor,
        *,
        low_water: int,
        request_size: int,
        pool_level: Callable[[int], None],
        pool_changed: Callable[[], None],
        check_s: float = 1.0,
        returns_idle_s: float = 60.0,
    ) -> None:
        self.section = section
        self.ledger = ledger
        self.mirror = mirror
        self.tally = tally
        self.alarms = alarms
        self.supervisor = supervisor
        self.low_water = low_water
        self.request_size = request_size
        self._pool_level = pool_level
        self._pool_changed = pool_changed
        self.check_s = check_s
        self.returns_idle_s = returns_idle_s
        self.outbox = LedgerOutbox(ledger)
        self.sync = EpcisSync(self.outbox, section.epcis.settings()) if section.epcis else None
        self.provisioning: ProvisioningSection | None = section.provisioning
        self.client: PoolManagerClient | None = (
            PoolManagerClient.from_section(section.provisioning) if section.provisioning else None
        )
        self.pool = PoolLink()
        self.failures: list[str] = []
        self._backlog: int | None = None
        self._oldest_at: datetime | None = None
        self._sync_status: SyncStatus | None = None
        self._provisioners: dict[str, SerialProvisioner] = {}
        self._wake_sync = asyncio.Event()
        self._closed = False

    # --- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the tasks (see the module docstring)."""
        self._spawn("status", self._status_loop)
        if self.sync is not None:
            self._spawn("epcis", self._epcis_loop)
        if self.client is not None:
            self._spawn("pool", self._pool_loop)
            self._spawn("returns", self._returns_loop)

    async def close(self) -> None:
        """Stop the tasks (what is unsent stays in the outbox) and the links; safe twice."""
        if self._closed:
            return
        self._closed = True
        await self.supervisor.cancel("uplink-")
        if self.sync is not None:
            await self.sync.close()
        if self.client is not None:
            await self.client.close()

    async def wait_for_serials(self, timeout_s: float) -> bool:
        """Wait (bounded) until the active batch's pool is no longer below its low-water mark.

        Without ``[upstream.provisioning]`` no refill can come: it answers at once.
        """
        if self.provisioning is None:
            return not self._needs_serials()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self.mirror.wait_for(lambda: not self._needs_serials())
        return not self._needs_serials()

    def _spawn(self, name: str, body: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.supervisor.spawn(self._supervise(name, body), f"uplink-{name}")

    async def _supervise(self, name: str, body: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``body``; if it fails, report it (never holding the line) and run it again."""
        backoff = Backoff(initial=1.0, maximum=60.0)
        while True:
            try:
                await body()
                return
            except Exception as exc:
                log.exception("upstream task %s failed; restarting it", name)
                self.failures.append(f"uplink-{name}: {exc!r}")
                self.alarms.raise_(
                    TASK_FAILED, f"upstream task {name} failed: {exc!r} (restarted)", holds=False
                )
                await asyncio.sleep(backoff.on_failure())

    # --- status ---------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The ``upstream`` part of the line's status document (JSON-ready)."""
        age = None
        if self._oldest_at is not None:
            age = round(max(0.0, (datetime.now(UTC) - self._oldest_at).total_seconds()), 1)
        backlog = self._backlog if self._backlog is not None else self.tally.outbox_pending
        return {
            "backlog": backlog,
            "oldest_undelivered_age_s": age,
            "oldest_undelivered_at": _iso(self._oldest_at),
            "epcis": self._epcis_status(),
            "provisioning": self._pool_status(),
        }

    def _epcis_status(self) -> dict[str, Any] | None:
        if self.sync is None:
            return None
        s = self._sync_status
        if s is None:
            return {"url": self.sync.settings.capture_url, "state": "starting"}
        return {
            "url": self.sync.settings.capture_url,
            "state": str(s.state),
            "delivered": s.delivered,
            "documents": s.documents,
            "last_success_at": _iso(s.last_success_at),
            "last_error": s.last_error,
            "last_error_at": _iso(s.last_error_at),
            "consecutive_failures": s.consecutive_failures,
            "next_attempt_at": _iso(s.next_attempt_at),
            "capture_limit": s.capture_limit,
            "file_size_limit": s.file_size_limit,
        }

    def _pool_status(self) -> dict[str, Any] | None:
        if self.client is None:
            return None
        p = self.pool
        return {
            "endpoint": self.client.endpoint,
            "state": p.state,
            "last_error": p.last_error,
            "last_error_at": p.last_error_at,
            "refills": p.refills,
            "received": p.received,
            "last_refill_at": p.last_refill_at,
            "returns_pending": {"batches": p.pending_batches, "serials": p.pending_serials},
            "returned": p.returned,
            "returns_refused": dict(p.refused_returns),
        }

    async def _status_loop(self) -> None:
        while True:
            if self.sync is not None:
                snapshot = await self.sync.status()
                self._sync_status = snapshot
                count, age = snapshot.backlog, snapshot.oldest_undelivered_age_s
                now = datetime.now(UTC)
                self._oldest_at = None if age is None else now - timedelta(seconds=age)
            else:
                backlog = await self.outbox.backlog()
                count, self._oldest_at = backlog.count, backlog.oldest_created_at
            self._backlog = count
            if count and self.sync is not None:
                self._wake_sync.set()
            await asyncio.sleep(self.check_s)

    # --- EPCIS ----------------------------------------------------------------------------------

    async def _epcis_loop(self) -> None:
        assert self.sync is not None
        while True:
            await self.sync.drain()  # until the outbox is empty, backing off while it fails
            self._wake_sync.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5 * self.check_s):
                    await self._wake_sync.wait()

    # --- serial provisioning --------------------------------------------------------------------

    def _needs_serials(self) -> bool:
        level = self.tally.pool_available
        return (
            self.mirror.phase == "running"
            and self.mirror.batch is not None
            and level is not None
            and level < max(1, self.low_water)
        )

    def _provisioner(self, order: WorkOrder) -> SerialProvisioner:
        assert self.client is not None and self.provisioning is not None
        provisioner = self._provisioners.get(order.batch)
        if provisioner is None:
            provisioner = provisioner_for(self.client, self.ledger, self.provisioning, order)
            self._provisioners = {order.batch: provisioner}  # only the active batch's
        return provisioner

    async def _pool_loop(self) -> None:
        assert self.provisioning is not None
        mirror = self.mirror
        backoff = self.provisioning.backoff()
        while True:
            if not self._needs_serials():
                self._resolved("refill")
                await mirror.wait_for(self._needs_serials)
            order = mirror.batch
            assert order is not None
            want = self.request_size
            provisioner = self._provisioner(order)
            received_before = provisioner.received
            delay = 0.0
            try:
                got = await provisioner.refill(want)
            except BatchClosedDuringRefill:  # wait for the runtime to let go of the batch
                delay = backoff.on_failure()
                got = 0
            except PoolUnavailable as exc:
                left = self.tally.pool_available
                self._unreachable("refill", f"{exc}; the line runs on from its pool ({left} left)")
                delay = backoff.on_failure()
                got = 0
            except PoolExhausted as exc:
                self._refused("exhausted", REFILL_REFUSED, f"serial pool exhausted: {exc}")
                delay = backoff.on_failure(fatal=True)
                got = 0
            except ProvisioningError as exc:
                self._refused("refused", REFILL_REFUSED, f"pool manager refused a refill: {exc}")
                delay = backoff.on_failure(fatal=True)
                got = 0
            else:
                backoff.on_success()
                self._reachable("refill")
                self.alarms.clear(REFILL_REFUSED)
                self.pool.refills += 1
                self.pool.last_refill_at = iso_now()
                if got < want:  # the collection ran short: do not ask again at once
                    self.pool.state = "exhausted"
                    delay = backoff.on_failure(fatal=True)
            self.pool.received += provisioner.received - received_before
            if provisioner.received > received_before or got:
                await self._recount(order)
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await mirror.wait_for(self._batch_changed(order))
            if mirror.batch is not order:
                self._resolved("refill")  # nothing to fetch for that batch any more

    def _batch_changed(self, since: WorkOrder | None) -> Callable[[], bool]:
        """A predicate: the active batch is no longer ``since`` (closed, or another one)."""
        return lambda: self.mirror.batch is not since

    async def _recount(self, order: WorkOrder) -> None:
        """The pool level from the ledger after a refill; resumes a starved line."""
        counts = await asyncio.to_thread(self.ledger.state_counts, order.batch)
        if self.mirror.batch is order:
            self._pool_level(counts.get(SerialState.ALLOCATED, 0))
            self._pool_changed()

    # --- returns after close --------------------------------------------------------------------

    async def _returns_loop(self) -> None:
        assert self.client is not None and self.provisioning is not None
        backoff = self.provisioning.backoff()
        while True:
            seen = self.mirror.batch
            delay = self.returns_idle_s
            for item in await self._pending():
                try:
                    returned = await return_batch(self.client, self.ledger, self.provisioning, item)
                except PoolUnavailable as exc:
                    self._unreachable(
                        "returns", f"{exc}; unused serials of batch {item.batch} wait to go back"
                    )
                    delay = backoff.on_failure()
                    break
                except ProvisioningError as exc:
                    self.pool.refused_returns[item.batch] = str(exc)
                    self._refused("refused", RETURN_REFUSED, f"batch {item.batch}: {exc}")
                else:
                    backoff.on_success()
                    self._reachable("returns")
                    self.pool.returned += returned
            else:
                self._resolved("returns")  # all went back, or nothing to return
            await self._pending()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self.mirror.wait_for(self._batch_changed(seen))

    async def _pending(self) -> list[PendingReturn]:
        """Closed batches with serials to return (refused ones left out), counted for status."""
        found = await asyncio.to_thread(pending_returns, self.ledger)
        pending = [p for p in found if p.batch not in self.pool.refused_returns]
        self.pool.pending_batches = len(pending)
        self.pool.pending_serials = sum(len(p.serials) for p in pending)
        return pending

    # --- alarms ---------------------------------------------------------------------------------

    def _unreachable(self, what: str, why: str) -> None:
        pool = self.pool
        pool.state, pool.last_error, pool.last_error_at = "unreachable", why, iso_now()
        pool.failing[what] = why
        self.alarms.raise_(UNREACHABLE, f"pool manager unreachable: {why}", holds=False)

    def _reachable(self, what: str) -> None:
        """The pool manager answered ``what`` (a refill or a return)."""
        self.pool.state = "ok"
        self._resolved(what)

    def _resolved(self, what: str) -> None:
        """``what`` no longer waits for the pool manager (done, or no longer needed)."""
        self.pool.failing.pop(what, None)
        if not self.pool.failing:
            self.alarms.clear(UNREACHABLE)

    def _refused(self, state: str, code: str, why: str) -> None:
        pool = self.pool
        pool.state, pool.last_error, pool.last_error_at = state, why, iso_now()
        self.alarms.raise_(code, why, holds=False)
