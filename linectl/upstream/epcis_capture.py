"""One EPCIS 2.0 repository's REST capture interface: its limits, documents that fit, capture jobs.

``OPTIONS /capture`` gives the limits (``GS1-EPCIS-Capture-Limit`` events,
``GS1-EPCIS-Capture-File-Size-Limit`` bytes; a 413 answer's limit headers lower them),
``POST /capture`` returns a capture job, and the job is polled until it finishes. Events count as
delivered only when the job reports success, or when the repository says an event already exists
(``ResourceAlreadyExistsException`` naming its eventID).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

import aiohttp

from linectl.config import EpcisSyncSettings
from linectl.upstream.outbox import OutboxItem
from standards.epcis.document import epcis_document

log = logging.getLogger("linectl.upstream.epcis")

EPCIS_VERSION = "2.0.0"
CBV_VERSION = "2.0.0"
ALREADY_EXISTS = "ResourceAlreadyExistsException"
_FATAL_STATUS = {400, 401, 403, 404, 405, 406, 415}


class DeliveryError(Exception):
    """One delivery attempt failed; ``fatal``: retrying soon will not help."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        self.fatal = fatal
        super().__init__(message)


class LimitHit(Exception):
    """413: the document was too large; the new limits are already applied."""


@dataclass
class CaptureLimits:
    """What the repository accepts in one document (advertised, or the configured defaults)."""

    events: int
    size: int
    advertised: bool = False


@dataclass
class Document:
    """One EPCISDocument ready to POST: the outbox items in it, its body and their ids."""

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


class CaptureClient:
    """HTTP client of one repository's capture interface; ``close()`` is safe twice."""

    def __init__(self, settings: EpcisSyncSettings, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self._clock = clock
        self.limits: CaptureLimits | None = None  # None: ask OPTIONS /capture before the next POST
        self._learned_events: int | None = None
        self._learned_size: int | None = None
        self._session: aiohttp.ClientSession | None = None
        self._encoded: dict[int, bytes] = {}

    async def close(self) -> None:
        """Close the HTTP session; the next request opens one anew (reading token and TLS files)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def forget(self, ids: Sequence[int]) -> None:
        """Drop the cached encoding of delivered events."""
        for outbox_id in ids:
            self._encoded.pop(outbox_id, None)

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

    async def discover(self) -> None:
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
        self.limits = CaptureLimits(
            events or s.default_capture_limit,
            size or s.default_file_size_limit,
            advertised=events is not None or size is not None,
        )
        log.debug("capture limits: %d events, %d bytes", self.limits.events, self.limits.size)

    def effective_events(self) -> int:
        limits = [self.limits.events if self.limits else self.settings.default_capture_limit]
        limits += [v for v in (self.settings.capture_limit, self._learned_events) if v]
        return max(1, min(limits))

    def effective_size(self) -> int:
        limits = [self.limits.size if self.limits else self.settings.default_file_size_limit]
        limits += [v for v in (self.settings.file_size_limit, self._learned_size) if v]
        return max(1, min(limits))

    def _encode(self, item: OutboxItem) -> bytes:
        data = self._encoded.get(item.id)
        if data is None:
            text = json.dumps(dict(item.event), separators=(",", ":"), ensure_ascii=False)
            data = self._encoded[item.id] = text.encode("utf-8")
        return data

    def pack(self, items: list[OutboxItem]) -> Document:
        """The longest head of ``items`` whose document fits both limits (at least one event)."""
        envelope = epcis_document([], creation_date=self._clock())
        text = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
        cut = text.rindex('"eventList":[]') + len('"eventList":[')
        prefix, suffix = text[:cut].encode(), text[cut:].encode()
        limit = self.effective_size()
        size = len(prefix) + len(suffix)
        chosen: list[bytes] = []
        taken: list[OutboxItem] = []
        for item in items[: self.effective_events()]:
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
        return Document(taken, body, [i.id for i in taken])

    async def deliver(self, packed: Document) -> tuple[list[int], DeliveryError | None]:
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
                raise LimitHit
            if status != 202 or not location:
                detail = await _problem_text(response)
                raise DeliveryError(
                    f"POST {url}: {status} {detail}".rstrip(),
                    fatal=status in _FATAL_STATUS,
                )
        return await self._follow_job(urljoin(url, location), packed)

    def _learn_limits(self, headers: Any, packed: Document) -> None:
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
            self.effective_events(),
            self.effective_size(),
        )

    async def _follow_job(
        self, job_url: str, packed: Document
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
        job: dict[str, Any], job_url: str, packed: Document
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
