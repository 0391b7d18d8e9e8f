"""Store-and-forward of the outbox to an EPCIS 2.0 repository over the REST capture interface.

Strictly in queue order, one document at a time: the head of the outbox goes into an
EPCISDocument no larger than the repository's capture limits, and is captured through the
:class:`~linectl.upstream.epcis_capture.CaptureClient` (``POST /capture``, then its capture job).
Events count as delivered only when the job reports success, or when the repository says an event
already exists. Anything else leaves them pending and the same head is sent again after a capped
exponential backoff with jitter; since every event carries its EPCIS event hash as ``eventID``, a
re-sent event is recognised upstream, so nothing is stored twice, lost or reordered.

Errors retrying cannot fix soon (400 invalid document, 401/403 credentials, 404/405/406/415 wrong
address or version, an event alone above the size limit) back off at the maximum delay and stay
visible in :meth:`EpcisSync.status` until fixed: the line keeps running, the backlog grows.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp

from drivers.reconnect import Backoff
from linectl.config import EpcisSyncSettings
from linectl.upstream.epcis_capture import CaptureClient, DeliveryError, Document, LimitHit
from linectl.upstream.outbox import Backlog, Outbox

log = logging.getLogger("linectl.upstream.epcis")


class SyncState(enum.StrEnum):
    """What the sync is doing."""

    IDLE = "idle"  # nothing to send
    SENDING = "sending"
    BACKING_OFF = "backing-off"  # the last attempt failed; waiting before the next
    STOPPED = "stopped"


@dataclass
class SyncStatus:
    """For ``linectl status``: where the upstream link stands."""

    state: SyncState = SyncState.STOPPED
    backlog: int = 0
    oldest_undelivered_age_s: float | None = None
    delivered: int = 0
    documents: int = 0
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0
    next_attempt_at: datetime | None = None
    capture_limit: int | None = None
    file_size_limit: int | None = None


def _now() -> datetime:
    return datetime.now(UTC)


class EpcisSync:
    """Drains an :class:`Outbox` into an EPCIS 2.0 repository; ``close()`` is safe twice."""

    def __init__(
        self,
        outbox: Outbox,
        settings: EpcisSyncSettings,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.outbox = outbox
        self.settings = settings
        self._clock = clock
        self.backoff = Backoff(
            settings.backoff_initial_s, settings.backoff_max_s, rng=rng or random.Random()
        )
        self._status = SyncStatus()
        self._capture = CaptureClient(settings, clock)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closed = False

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Run in the background until ``close()`` (the daemon's way)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="epcis-sync")
            self._task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("EPCIS sync stopped: %r", task.exception())
            self._status.state = SyncState.STOPPED

    def wake(self) -> None:
        """New events were queued: look at the outbox now rather than at the next idle check."""
        self._wake.set()

    async def close(self) -> None:
        """Stop sending (an unfinished document simply stays pending); safe twice."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._capture.close()
        self._status.state = SyncState.STOPPED

    async def _run(self) -> None:
        while not self._closed:
            try:
                delay = await self._step()
            except Exception as exc:  # e.g. the outbox failed: report, wait, try again
                log.exception("EPCIS sync step failed")
                delay = await self._failed([], DeliveryError(f"{type(exc).__name__}: {exc}"))
            if delay is None:  # nothing pending
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.idle_check_s)
            elif delay > 0:
                await asyncio.sleep(delay)

    async def drain(self, *, max_failures: int | None = None) -> int:
        """Send until the outbox is empty (retrying with backoff); return the events delivered.

        ``max_failures``: give up (raise the last :class:`DeliveryError`) after this many
        consecutive failed attempts; by default keep trying.
        """
        before = self._status.delivered
        while True:
            delay = await self._step()
            if delay is None:
                return self._status.delivered - before
            if max_failures is not None and self._status.consecutive_failures >= max_failures:
                raise DeliveryError(self._status.last_error or "delivery failed")
            if delay > 0:
                await asyncio.sleep(delay)

    async def status(self) -> SyncStatus:
        """A snapshot for ``linectl status``, with the backlog read from the outbox."""
        backlog: Backlog = await self.outbox.backlog()
        snapshot = SyncStatus(**vars(self._status))
        snapshot.backlog = backlog.count
        snapshot.oldest_undelivered_age_s = backlog.oldest_age_s(self._clock())
        if self._capture.limits is not None:
            snapshot.capture_limit = self._capture.effective_events()
            snapshot.file_size_limit = self._capture.effective_size()
        return snapshot

    # -- one step -------------------------------------------------------------------------

    async def _step(self) -> float | None:
        """Deliver the head of the outbox: None when it is empty, else the delay before the next."""
        capture = self._capture
        items = list(await self.outbox.pending(capture.effective_events()))
        if any(b.id <= a.id for a, b in itertools.pairwise(items)):
            disorder = DeliveryError("the outbox returned events out of queue order", fatal=True)
            return await self._failed([i.id for i in items], disorder)
        if not items:
            self._status.state = SyncState.IDLE
            self._status.consecutive_failures = 0
            return None
        self._status.state = SyncState.SENDING
        packed: Document | None = None
        try:
            if capture.limits is None:
                await capture.discover()
                items = items[: capture.effective_events()]
            packed = capture.pack(items)
            delivered, job_error = await capture.deliver(packed)
        except LimitHit:
            return 0.0  # limits lowered: build a smaller document at once
        except DeliveryError as exc:
            return await self._failed(packed.ids if packed else [i.id for i in items], exc)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            ids = packed.ids if packed else [i.id for i in items]
            return await self._failed(ids, DeliveryError(text))
        if delivered:
            await self.outbox.mark_delivered(delivered)
            capture.forget(delivered)
            self._status.delivered += len(delivered)
        if job_error is not None:
            done = set(delivered)
            return await self._failed([i for i in packed.ids if i not in done], job_error)
        if len(delivered) == len(packed.ids):
            self._status.documents += 1
            self._status.last_success_at = self._clock()
        # else: the repository already had some; the rest goes again at once
        self._status.consecutive_failures = 0
        self._status.next_attempt_at = None
        failures = self.backoff.on_success()
        if failures:
            log.warning("EPCIS repository: delivering again after %d failed attempts", failures)
        return 0.0

    async def _failed(self, ids: Sequence[int], error: DeliveryError) -> float:
        if ids:
            await self.outbox.record_failure(ids, str(error))
        delay = self.backoff.on_failure(fatal=error.fatal)
        if self.backoff.failures == 1:
            log.warning("EPCIS delivery failed (retrying in %.1f s): %s", delay, error)
        else:
            log.debug("EPCIS delivery still failing (%d): %s", self.backoff.failures, error)
        now = self._clock()
        self._status.state = SyncState.BACKING_OFF
        self._status.last_error = str(error)
        self._status.last_error_at = now
        self._status.consecutive_failures += 1
        self._status.next_attempt_at = now + timedelta(seconds=delay)
        self._capture.limits = None  # ask the repository for its limits again before the next try
        if error.fatal:
            await self._capture.close()  # the next attempt reads the token and certificates again
        return delay
