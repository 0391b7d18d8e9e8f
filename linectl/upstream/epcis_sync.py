"""Store-and-forward of the outbox to an EPCIS 2.0 repository over the REST capture interface.

Strictly in queue order, one document at a time: the head of the outbox goes into an
EPCISDocument no larger than the repository's capture limits (``OPTIONS /capture``:
``GS1-EPCIS-Capture-Limit`` events, ``GS1-EPCIS-Capture-File-Size-Limit`` bytes; a 413 answer's
limit headers lower them), ``POST /capture`` returns a capture job, and the job is polled until it
finishes. Events count as delivered only when the job reports success, or when the repository says
an event already exists (``ResourceAlreadyExistsException`` naming its eventID). Anything else
leaves them pending and the same head is sent again after a capped exponential backoff with
jitter; since every event carries its EPCIS event hash as ``eventID``, a re-sent event is
recognised upstream, so nothing is stored twice, lost or reordered.

Errors retrying cannot fix soon (400 invalid document, 401/403 credentials, 404/405/406/415 wrong
address or version, an event alone above the size limit) back off at the maximum delay and stay
visible in :meth:`EpcisSync.status` until fixed: the line keeps running, the backlog grows.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import json
import logging
import random
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import aiohttp

from linectl.upstream.backoff import Backoff
from linectl.upstream.outbox import Backlog, Outbox, OutboxItem
from standards.epcis.document import epcis_document

log = logging.getLogger("linectl.upstream.epcis")

EPCIS_VERSION = "2.0.0"
CBV_VERSION = "2.0.0"
ALREADY_EXISTS = "ResourceAlreadyExistsException"
_FATAL_STATUS = {400, 401, 403, 404, 405, 406, 415}


@dataclass(frozen=True)
class EpcisSyncSettings:
    """How to reach the repository and how patiently (``[upstream.epcis]`` of the line config)."""

    base_url: str
    token: str | None = None
    token_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    ca_file: Path | None = None
    verify_tls: bool = True
    capture_limit: int | None = None  # at most this many events per document (with the server's)
    file_size_limit: int | None = None  # at most this many bytes per document (with the server's)
    default_capture_limit: int = 500  # when the server advertises none
    default_file_size_limit: int = 4_000_000
    request_timeout_s: float = 30.0
    job_timeout_s: float = 300.0
    poll_initial_s: float = 0.2
    poll_max_s: float = 5.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 300.0
    idle_check_s: float = 5.0

    @property
    def capture_url(self) -> str:
        return self.base_url.rstrip("/") + "/capture"


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


class DeliveryError(Exception):
    """One delivery attempt failed; ``fatal``: retrying soon will not help."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        self.fatal = fatal
        super().__init__(message)


class _LimitHit(Exception):
    """413: the document was too large; the new limits are already applied."""


@dataclass
class _Limits:
    events: int
    size: int
    advertised: bool = False


@dataclass
class _Packed:
    items: list[OutboxItem]
    body: bytes
    ids: list[int] = field(default_factory=list)


def _read_limit(headers: Any, name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number >= 1 else None


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
        self._limits: _Limits | None = None
        self._learned_events: int | None = None
        self._learned_size: int | None = None
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closed = False
        self._encoded: dict[int, bytes] = {}

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
        session, self._session = self._session, None
        if session is not None:
            await session.close()
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
        if self._limits is not None:
            snapshot.capture_limit = self._effective_events()
            snapshot.file_size_limit = self._effective_size()
        return snapshot

    # -- one step -------------------------------------------------------------------------

    async def _step(self) -> float | None:
        """Deliver the head of the outbox: None when it is empty, else the delay before the next."""
        items = list(await self.outbox.pending(self._effective_events()))
        if any(b.id <= a.id for a, b in itertools.pairwise(items)):
            disorder = DeliveryError("the outbox returned events out of queue order", fatal=True)
            return await self._failed([i.id for i in items], disorder)
        if not items:
            self._status.state = SyncState.IDLE
            self._status.consecutive_failures = 0
            return None
        self._status.state = SyncState.SENDING
        packed: _Packed | None = None
        try:
            if self._limits is None:
                await self._discover()
                items = items[: self._effective_events()]
            packed = self._pack(items)
            delivered, job_error = await self._deliver(packed)
        except _LimitHit:
            return 0.0  # limits lowered: build a smaller document at once
        except DeliveryError as exc:
            return await self._failed(packed.ids if packed else [i.id for i in items], exc)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            ids = packed.ids if packed else [i.id for i in items]
            return await self._failed(ids, DeliveryError(text))
        if delivered:
            await self.outbox.mark_delivered(delivered)
            for outbox_id in delivered:
                self._encoded.pop(outbox_id, None)
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
        self._limits = None  # ask the repository for its limits again before the next try
        if error.fatal and self._session is not None:
            session, self._session = self._session, None
            await session.close()  # the next attempt reads the token and certificates again
        return delay

    # -- HTTP -----------------------------------------------------------------------------

    def _ssl(self) -> ssl.SSLContext | bool:
        s = self.settings
        if not s.base_url.startswith("https:"):
            return True
        context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
        if not s.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if s.client_cert is not None:
            context.load_cert_chain(str(s.client_cert), str(s.client_key) if s.client_key else None)
        return context

    def _headers(self) -> dict[str, str]:
        s = self.settings
        headers = {
            "GS1-EPCIS-Version": EPCIS_VERSION,
            "GS1-CBV-Version": CBV_VERSION,
            "Accept": "application/json, application/problem+json",
        }
        token = s.token
        if token is None and s.token_file is not None:
            token = s.token_file.read_text(encoding="utf-8").strip()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            try:
                connector = aiohttp.TCPConnector(ssl=self._ssl())
                headers = self._headers()
            except (OSError, ssl.SSLError) as exc:
                raise DeliveryError(f"TLS or token file: {exc}", fatal=True) from exc
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.settings.request_timeout_s),
            )
        return self._session

    async def _discover(self) -> None:
        """OPTIONS /capture: the capture limits (and that the server speaks EPCIS 2)."""
        s = self.settings
        session = await self._http()
        try:
            async with session.options(s.capture_url) as response:
                headers = response.headers
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DeliveryError(f"OPTIONS {s.capture_url}: {type(exc).__name__}: {exc}") from exc
        if status in (401, 403):
            raise DeliveryError(f"OPTIONS {s.capture_url}: {status}: check the token", fatal=True)
        if status >= 500:
            raise DeliveryError(f"OPTIONS {s.capture_url}: server error {status}")
        top = headers.get("GS1-EPCIS-Max") or headers.get("GS1-EPCIS-Version")
        if status < 300 and top and not top.strip().startswith("2"):
            raise DeliveryError(f"the repository speaks EPCIS {top}, not 2.x", fatal=True)
        events = _read_limit(headers, "GS1-EPCIS-Capture-Limit") if status < 300 else None
        size = _read_limit(headers, "GS1-EPCIS-Capture-File-Size-Limit") if status < 300 else None
        self._limits = _Limits(
            events or s.default_capture_limit,
            size or s.default_file_size_limit,
            advertised=events is not None or size is not None,
        )
        log.debug("capture limits: %d events, %d bytes", self._limits.events, self._limits.size)

    def _effective_events(self) -> int:
        limits = [self._limits.events if self._limits else self.settings.default_capture_limit]
        limits += [v for v in (self.settings.capture_limit, self._learned_events) if v]
        return max(1, min(limits))

    def _effective_size(self) -> int:
        limits = [self._limits.size if self._limits else self.settings.default_file_size_limit]
        limits += [v for v in (self.settings.file_size_limit, self._learned_size) if v]
        return max(1, min(limits))

    def _encode(self, item: OutboxItem) -> bytes:
        data = self._encoded.get(item.id)
        if data is None:
            text = json.dumps(dict(item.event), separators=(",", ":"), ensure_ascii=False)
            data = self._encoded[item.id] = text.encode("utf-8")
        return data

    def _pack(self, items: list[OutboxItem]) -> _Packed:
        """The longest head of ``items`` whose document fits both limits (at least one event)."""
        envelope = epcis_document([], creation_date=self._clock())
        text = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
        cut = text.rindex('"eventList":[]') + len('"eventList":[')
        prefix, suffix = text[:cut].encode(), text[cut:].encode()
        limit = self._effective_size()
        size = len(prefix) + len(suffix)
        chosen: list[bytes] = []
        taken: list[OutboxItem] = []
        for item in items[: self._effective_events()]:
            data = self._encode(item)
            extra = len(data) + (1 if chosen else 0)
            if size + extra > limit:
                break
            size += extra
            chosen.append(data)
            taken.append(item)
        if not taken:
            head = items[0]
            raise DeliveryError(
                f"event #{head.id} ({head.event_id}) alone makes a {size + len(self._encode(head))}"
                f"-byte document, above the repository's limit of {limit} bytes",
                fatal=True,
            )
        body = prefix + b",".join(chosen) + suffix
        return _Packed(taken, body, [i.id for i in taken])

    async def _deliver(self, packed: _Packed) -> tuple[list[int], DeliveryError | None]:
        """POST the document and follow its capture job: the ids delivered, and why not all."""
        session = await self._http()
        url = self.settings.capture_url
        headers = {
            "Content-Type": "application/json",
            "GS1-Capture-Error-Behaviour": "rollback",
        }
        async with session.post(url, data=packed.body, headers=headers) as response:
            status = response.status
            location = response.headers.get("Location")
            if status == 413:
                self._learn_limits(response.headers, packed)
                raise _LimitHit
            if status != 202 or not location:
                detail = await _problem_text(response)
                raise DeliveryError(
                    f"POST {url}: {status} {detail}".rstrip(),
                    fatal=status in _FATAL_STATUS,
                )
        return await self._follow_job(urljoin(url, location), packed)

    def _learn_limits(self, headers: Any, packed: _Packed) -> None:
        events = _read_limit(headers, "GS1-EPCIS-Capture-Limit")
        size = _read_limit(headers, "GS1-EPCIS-Capture-File-Size-Limit")
        sent_events, sent_size = len(packed.items), len(packed.body)
        if events is not None and events < sent_events:
            self._learned_events = events
        elif size is not None and size < sent_size:
            self._learned_size = size
        elif sent_events > 1:  # no usable header: halve the document
            self._learned_events = max(1, sent_events // 2)
        else:
            raise DeliveryError(
                f"the repository refuses a single event (#{packed.ids[0]}) as too large (413)",
                fatal=True,
            )
        log.info(
            "capture limits lowered by a 413: %d events, %d bytes",
            self._effective_events(),
            self._effective_size(),
        )

    async def _follow_job(
        self, job_url: str, packed: _Packed
    ) -> tuple[list[int], DeliveryError | None]:
        session = await self._http()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.job_timeout_s
        pause = self.settings.poll_initial_s
        last_error = "no answer"
        while True:
            try:
                async with session.get(job_url) as response:
                    if response.status == 404:
                        raise DeliveryError(f"capture job {job_url} vanished (404)")
                    if response.status == 200:
                        job = await response.json(content_type=None)
                        if isinstance(job, dict) and not job.get("running", True):
                            return self._job_outcome(job, job_url, packed)
                    else:
                        last_error = f"{response.status} {await _problem_text(response)}"
            except (aiohttp.ClientError, TimeoutError, OSError, json.JSONDecodeError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"  # the job may still finish: keep asking
            if loop.time() + pause > deadline:
                raise DeliveryError(
                    f"capture job {job_url} not finished after {self.settings.job_timeout_s:g} s "
                    f"({last_error})"
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.settings.poll_max_s)

    @staticmethod
    def _job_outcome(
        job: dict[str, Any], job_url: str, packed: _Packed
    ) -> tuple[list[int], DeliveryError | None]:
        """Delivered ids of a finished job: all on success, else those it says already exist."""
        if job.get("success") is True:
            return packed.ids, None
        raw = job.get("errors")
        errors = [e for e in raw if isinstance(e, dict)] if isinstance(raw, list) else []
        exists = [e for e in errors if str(e.get("type", "")).endswith(ALREADY_EXISTS)]
        others = [e for e in errors if e not in exists]
        known = {str(e.get("instance")) for e in exists}
        delivered = [item.id for item in packed.items if item.event_id in known]
        if exists and not others:
            return delivered, None  # duplicates only: the rest goes again at once
        summary = "; ".join(
            str(e.get("title") or e.get("type")) + (f": {e['detail']}" if e.get("detail") else "")
            for e in others[:3]
        )
        return delivered, DeliveryError(f"capture job {job_url} failed: {summary or 'no reason'}")


async def _problem_text(response: aiohttp.ClientResponse) -> str:
    """The title and detail of an RFC 7807 answer, or the start of whatever came back."""
    try:
        text = await response.text()
    except (aiohttp.ClientError, UnicodeDecodeError):
        return ""
    try:
        problem = json.loads(text)
    except json.JSONDecodeError:
        return text[:200]
    if isinstance(problem, dict):
        parts = [str(problem.get(k)) for k in ("type", "title", "detail") if problem.get(k)]
        return " - ".join(parts)
    return text[:200]
