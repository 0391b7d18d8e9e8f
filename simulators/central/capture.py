"""The EPCIS 2.0 REST capture interface of the central simulator (aiohttp), per GS1's openapi.yaml.

- ``OPTIONS /capture``: 204 with the GS1 discovery headers, including ``GS1-EPCIS-Capture-Limit``
  (events per document) and ``GS1-EPCIS-Capture-File-Size-Limit`` (bytes) unless told not to
  advertise them.
- ``POST /capture``: an EPCISDocument (or EPCISQueryDocument). Too large: 413
  ``CaptureLimitExceededException`` with both limit headers. Not JSON or not valid against the
  EPCIS JSON schema: 400 ``ValidationException`` naming the JSON pointer. Otherwise 202 with the
  capture job's ``Location``; one worker runs the jobs in arrival order.
- ``GET /capture`` and ``GET /capture/{captureID}``: capture jobs (``running``, ``success``,
  ``errors``).
- ``GET /events``: a SimpleEventQuery subset (eventType, GE/LT_eventTime, GE/LT_recordTime,
  EQ_bizStep, EQ_action, EQ_eventID, MATCH_epc with exact EPCs) with ``perPage`` /
  ``nextPageToken`` paging and a ``Link: <...>; rel="next"`` header.

Errors are RFC 7807 problem details (``application/problem+json``). Faults (down, slow, 500s,
jobs failing part-way) come from :class:`simulators.central.faults.Faults`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

from aiohttp import web

from simulators.central.config import CentralConfig
from simulators.central.event_store import EventStore, QueryError, now_text
from simulators.central.faults import Faults
from standards.epcis.schema_check import SchemaChecker

log = logging.getLogger("simulators.central.epcis")

EPCIS_VERSION = "2.0.0"
CBV_VERSION = "2.0.0"
PROBLEM = "application/problem+json"
_JSON_TYPES = ("application/json", "application/ld+json")
_QUERY_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class ReceivedDocument:
    """A document the repository accepted (202), kept when ``record_documents`` is on."""

    capture_id: str
    body: bytes


@dataclass
class CaptureCounters:
    """What the capture interface has seen, for tests and the admin endpoint."""

    posts: int = 0
    accepted: int = 0
    invalid: int = 0
    too_large: int = 0
    injected_errors: int = 0
    failed_jobs: int = 0
    unauthorised: int = 0


def problem(
    status: int, kind: str, title: str, detail: str = "", headers: dict[str, str] | None = None
) -> web.Response:
    body: dict[str, Any] = {"type": kind, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    return web.Response(
        status=status, text=json.dumps(body), content_type=PROBLEM, headers=headers or {}
    )


class EpcisServer:
    """Serves the capture and query interface over HTTP(S) on ``host:port`` (0: any port)."""

    def __init__(
        self,
        store: EventStore,
        config: CentralConfig,
        faults: Faults,
        checker: SchemaChecker,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        record_documents: bool = False,
    ) -> None:
        self.store, self.config, self.faults, self.checker = store, config, faults, checker
        self.host, self.port = host, port
        self.ssl_context = ssl_context
        self.record_documents = record_documents
        self.received: list[ReceivedDocument] = []
        self.counters = CaptureCounters()
        self._runner: web.AppRunner | None = None
        self._queue: asyncio.Queue[tuple[str, list[Any], str] | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._job_done = asyncio.Condition()
        self._busy = False

    @property
    def base_url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> int:
        """Listen and start the job worker; return the bound port."""
        if self._worker is None:
            self._worker = asyncio.create_task(self._run_jobs(), name="central-capture-jobs")
        await self._listen()
        log.info("EPCIS capture interface listening on %s", self.base_url)
        return self.port

    async def _listen(self) -> None:
        app = web.Application(middlewares=[self._faults_and_auth], client_max_size=2**30)
        app.router.add_route("OPTIONS", "/capture", self._options_capture)
        app.router.add_post("/capture", self._post_capture)
        app.router.add_get("/capture", self._list_jobs)
        app.router.add_get("/capture/{capture_id}", self._get_job)
        app.router.add_get("/events", self._get_events)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=self.ssl_context)
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        self._runner = runner

    async def set_down(self, down: bool) -> None:
        """Stop listening and drop every connection, or listen again on the same port."""
        if down and self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
            log.info("EPCIS capture interface down")
        elif not down and self._runner is None and self._worker is not None:
            await self._listen()
            log.info("EPCIS capture interface up again on %s", self.base_url)

    async def close(self) -> None:
        """Stop listening and the job worker; safe twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def wait_idle(self) -> None:
        """Return once every accepted capture job has finished."""
        async with self._job_done:
            await self._job_done.wait_for(lambda: self._queue.empty() and not self._busy)

    # -- middleware -----------------------------------------------------------------------

    @web.middleware
    async def _faults_and_auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        faults: Faults = self.faults
        if faults.delay_s > 0:
            await asyncio.sleep(faults.delay_s)
        if faults.draw_error():
            self.counters.injected_errors += 1
            response: web.StreamResponse = problem(
                500, "epcisException:ImplementationException", "injected server error"
            )
        elif self.config.bearer_token and (
            request.headers.get("Authorization") != f"Bearer {self.config.bearer_token}"
        ):
            self.counters.unauthorised += 1
            response = problem(
                401,
                "epcisException:SecurityException",
                "Unauthorised request",
                "send Authorization: Bearer <token>",
            )
        else:
            response = await handler(request)
        response.headers["GS1-EPCIS-Version"] = EPCIS_VERSION
        response.headers["GS1-CBV-Version"] = CBV_VERSION
        return response

    # -- capture --------------------------------------------------------------------------

    def _limit_headers(self) -> dict[str, str]:
        return {
            "GS1-EPCIS-Capture-Limit": str(self.config.capture_limit),
            "GS1-EPCIS-Capture-File-Size-Limit": str(self.config.file_size_limit),
        }

    async def _options_capture(self, request: web.Request) -> web.StreamResponse:
        headers = {
            "Allow": "OPTIONS, POST, GET",
            "GS1-EPCIS-Min": EPCIS_VERSION,
            "GS1-EPCIS-Max": EPCIS_VERSION,
            "GS1-CBV-Min": CBV_VERSION,
            "GS1-CBV-Max": CBV_VERSION,
            "GS1-EPC-Format": "No_Preference",
            "GS1-Capture-Error-Behaviour": "all",
        }
        if self.config.advertise_limits:
            headers |= self._limit_headers()
        return web.Response(status=204, headers=headers)

    def _too_large(self, detail: str) -> web.Response:
        self.counters.too_large += 1
        return problem(
            413,
            "epcisException:CaptureLimitExceededException",
            "Capture Payload too large",
            detail,
            headers=self._limit_headers(),
        )

    def _invalid(self, detail: str) -> web.Response:
        self.counters.invalid += 1
        return problem(400, "epcisException:ValidationException", "Invalid EPCIS document", detail)

    async def _post_capture(self, request: web.Request) -> web.StreamResponse:
        self.counters.posts += 1
        if request.content_type not in _JSON_TYPES:
            return problem(
                415,
                "epcisException:UnsupportedMediaTypeException",
                "Unsupported media type",
                f"send {' or '.join(_JSON_TYPES)}, not {request.content_type!r}",
            )
        version = request.headers.get("GS1-EPCIS-Version", EPCIS_VERSION)
        if not version.startswith("2"):
            return problem(
                406,
                "epcisException:NotAcceptableException",
                "EPCIS version not supported",
                f"GS1-EPCIS-Version {version!r}; this repository speaks {EPCIS_VERSION}",
            )
        behaviour = request.headers.get("GS1-Capture-Error-Behaviour", "rollback")
        if behaviour not in ("rollback", "proceed"):
            return self._invalid(f"GS1-Capture-Error-Behaviour {behaviour!r}")
        limit = self.config.file_size_limit
        if request.content_length is not None and request.content_length > limit:
            return self._too_large(f"{request.content_length} bytes, the limit is {limit}")
        body = await request.read()
        if len(body) > limit:
            return self._too_large(f"{len(body)} bytes, the limit is {limit}")
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            where = f" at byte {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
            return self._invalid(f"not JSON{where}: {exc}")
        events = self._event_list(document)
        if isinstance(events, str):
            return self._invalid(events)
        if len(events) > self.config.capture_limit:
            return self._too_large(
                f"{len(events)} events, the limit is {self.config.capture_limit}"
            )
        error = await asyncio.to_thread(self.checker.first_error, document)
        if error is not None:
            return self._invalid(f"{error[0]}: {error[1]}")
        capture_id = await asyncio.to_thread(
            self.store.open_job, len(events), behaviour, document.get("@context")
        )
        self.counters.accepted += 1
        if self.record_documents:
            self.received.append(ReceivedDocument(capture_id, body))
        await self._queue.put((capture_id, events, behaviour))
        return web.Response(status=202, headers={"Location": f"/capture/{capture_id}"})

    @staticmethod
    def _event_list(document: Any) -> list[Any] | str:
        if not isinstance(document, dict):
            return "/: an EPCIS document is a JSON object"
        body = document.get("epcisBody")
        if document.get("type") == "EPCISQueryDocument" and isinstance(body, dict):
            results = body.get("queryResults", {})
            body = results.get("resultsBody") if isinstance(results, dict) else None
        if not isinstance(body, dict) or not isinstance(body.get("eventList"), list):
            return "/epcisBody/eventList: missing or not a list"
        return list(body["eventList"])

    async def _run_jobs(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            capture_id, events, behaviour = item
            self._busy = True
            try:
                if self.config.job_delay_s > 0:
                    await asyncio.sleep(self.config.job_delay_s)
                fail_after = None
                if self.faults.draw_job_failure():
                    fail_after = min(self.faults.job_failure_keep, max(0, len(events) - 1))
                outcome = await asyncio.to_thread(
                    self.store.run_job,
                    capture_id,
                    events,
                    behaviour=_behaviour(behaviour),
                    duplicates=self.config.duplicates,
                    fail_after=fail_after,
                )
                if outcome.errors:
                    self.counters.failed_jobs += 1
            except Exception:
                log.exception("capture job %s failed unexpectedly", capture_id)
            finally:
                self._busy = False
                async with self._job_done:
                    self._job_done.notify_all()

    async def _get_job(self, request: web.Request) -> web.StreamResponse:
        job = await asyncio.to_thread(self.store.job, request.match_info["capture_id"])
        if job is None:
            return problem(404, "epcisException:NoSuchResourceException", "No such capture job")
        return web.json_response(job)

    async def _list_jobs(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(await asyncio.to_thread(self.store.jobs))

    # -- query ----------------------------------------------------------------------------

    async def _get_events(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        try:
            per_page = int(params.pop("perPage", "30"))
            after = int(params.pop("nextPageToken", "0"))
        except ValueError:
            return problem(400, "epcisException:QueryParameterException", "Bad paging parameter")
        if not 1 <= per_page <= 10_000:
            return problem(
                400, "epcisException:QueryParameterException", "perPage must be 1 to 10000"
            )
        try:
            page, next_after = await asyncio.to_thread(self.store.query, params, per_page, after)
        except QueryError as exc:
            return problem(400, "epcisException:QueryParameterException", "Bad query", str(exc))
        contexts: list[Any] = [_QUERY_CONTEXT]
        for stored in page:
            items = stored.context if isinstance(stored.context, list) else [stored.context]
            for item in items:
                if isinstance(item, dict) and item not in contexts:
                    contexts.append(item)
        document = {
            "@context": contexts,
            "type": "EPCISQueryDocument",
            "schemaVersion": "2.0",
            "creationDate": now_text(),
            "epcisBody": {
                "queryResults": {
                    "queryName": "SimpleEventQuery",
                    "resultsBody": {"eventList": [s.event for s in page]},
                }
            },
        }
        headers = {}
        if next_after is not None:
            query = {**request.query, "nextPageToken": str(next_after), "perPage": str(per_page)}
            headers["Link"] = f'<{request.path}?{urlencode(query)}>; rel="next"'
        return web.json_response(document, headers=headers, content_type="application/ld+json")


def _behaviour(value: str) -> Literal["rollback", "proceed"]:
    return "proceed" if value == "proceed" else "rollback"
