"""EPCIS 2.0 capture, as the line's upstream expects it (``shared/standards/epcis/openapi.yaml``).

``OPTIONS /capture`` advertises the limits; ``POST /capture`` (Bearer token) takes an
EPCISDocument: not JSON or not valid against the EPCIS JSON schema is a 400
``ValidationException`` naming the JSON pointer, too large a 413. The job runs before the answer
(so no worker holds a job in memory) and the 202's ``Location`` names its finished capture job.
Events are keyed by their Event Hash ID: an event without ``eventID`` gets its hash, and an event
captured before is counted as a duplicate and skipped, so re-sending is harmless.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from aiohttp import web

from linectl.resolver.feed import changes_of, event_time_ms
from linectl.resolver.model import CaptureJob
from linectl.resolver.services import SERVICES, Services, problem
from standards.epcis.hashing import EventHashError, event_hash

log = logging.getLogger("linectl.resolver.capture")

EPCIS_VERSION = "2.0.0"
_JSON_TYPES = ("application/json", "application/ld+json")


def _limit_headers(services: Services) -> dict[str, str]:
    section = services.config.resolver
    return {
        "GS1-EPCIS-Capture-Limit": str(section.capture_limit),
        "GS1-EPCIS-Capture-File-Size-Limit": str(section.file_size_limit),
    }


def _epcis_headers() -> dict[str, str]:
    return {"GS1-EPCIS-Version": EPCIS_VERSION, "GS1-CBV-Version": EPCIS_VERSION}


def _authorised(services: Services, request: web.Request) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and bool(token) and services.config.capture_allowed(token)


def _unauthorised() -> web.Response:
    return problem(
        401,
        "epcisException:SecurityException",
        "Unauthorised request",
        "send Authorization: Bearer <token> of a configured capture client",
        headers={"WWW-Authenticate": 'Bearer realm="linectl-resolver capture"'},
    )


async def options_capture(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    headers = {
        "Allow": "OPTIONS, POST, GET",
        "GS1-EPCIS-Min": EPCIS_VERSION,
        "GS1-EPCIS-Max": EPCIS_VERSION,
        "GS1-CBV-Min": EPCIS_VERSION,
        "GS1-CBV-Max": EPCIS_VERSION,
        "GS1-EPC-Format": "No_Preference",
        "GS1-Capture-Error-Behaviour": "rollback",
        **_epcis_headers(),
        **_limit_headers(services),
    }
    return web.Response(status=204, headers=headers)


def _event_list(document: Any) -> list[Any] | str:
    if not isinstance(document, dict):
        return "/: an EPCIS document is a JSON object"
    body = document.get("epcisBody")
    if not isinstance(body, dict) or not isinstance(body.get("eventList"), list):
        return "/epcisBody/eventList: missing or not a list"
    return list(body["eventList"])


async def post_capture(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    if not _authorised(services, request):
        return _unauthorised()
    invalid = "epcisException:ValidationException"
    if request.content_type not in _JSON_TYPES:
        return problem(
            415,
            "epcisException:UnsupportedMediaTypeException",
            "Unsupported media type",
            f"send {' or '.join(_JSON_TYPES)}, not {request.content_type!r}",
        )
    behaviour = request.headers.get("GS1-Capture-Error-Behaviour", "rollback")
    if behaviour not in ("rollback", "proceed"):
        return problem(
            400, invalid, "Invalid request", f"GS1-Capture-Error-Behaviour {behaviour!r}"
        )
    limit = services.config.resolver.file_size_limit
    body = await request.read()
    if len(body) > limit:
        return problem(
            413,
            "epcisException:CaptureLimitExceededException",
            "Capture Payload too large",
            f"{len(body)} bytes, the limit is {limit}",
            headers=_limit_headers(services),
        )
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return problem(400, invalid, "Invalid EPCIS document", f"not JSON: {exc}")
    except RecursionError:
        return problem(400, invalid, "Invalid EPCIS document", "JSON nested too deeply")
    events = _event_list(document)
    if isinstance(events, str):
        return problem(400, invalid, "Invalid EPCIS document", events)
    if len(events) > services.config.resolver.capture_limit:
        return problem(
            413,
            "epcisException:CaptureLimitExceededException",
            "Capture Payload too large",
            f"{len(events)} events, the limit is {services.config.resolver.capture_limit}",
            headers=_limit_headers(services),
        )
    error = await services.check_schema(document)
    if error is not None:
        return problem(400, invalid, "Invalid EPCIS document", f"{error[0]}: {error[1]}")
    context = document.get("@context")
    prepared = []
    for index, event in enumerate(events):
        event_id = event.get("eventID")
        if not isinstance(event_id, str) or not event_id:
            try:
                event_id = event_hash(event, context)
            except EventHashError as exc:
                return problem(
                    400, invalid, "Invalid EPCIS event", f"/epcisBody/eventList/{index}: {exc}"
                )
        prepared.append((event_id, str(event.get("type")), event_time_ms(event), changes_of(event)))
    job_id = "cj-" + uuid.uuid4().hex
    now = services.now_ms()
    await services.store.open_job(job_id, len(events), behaviour, now)
    try:
        outcome = await services.store.apply_events(job_id, prepared)
    except Exception as exc:
        log.exception("capture job %s failed", job_id)
        errors = [
            {"type": "epcisException:ImplementationException", "title": str(exc), "status": 500}
        ]
        await services.store.finish_job(job_id, False, errors, services.now_ms())
    else:
        await services.store.finish_job(job_id, True, [], services.now_ms())
        log.info(
            "capture job %s: %d events stored, %d duplicates skipped",
            job_id,
            outcome.stored,
            outcome.duplicates,
        )
    return web.Response(status=202, headers={"Location": f"/capture/{job_id}", **_epcis_headers()})


def _job_document(services: Services, job: CaptureJob) -> dict[str, Any]:
    document: dict[str, Any] = {
        "captureID": job.id,
        "createdAt": services.iso(job.created_ms),
        "running": job.running,
        "success": job.success,
        "captureErrorBehaviour": job.behaviour,
        "errors": job.errors,
    }
    if job.finished_ms is not None:
        document["finishedAt"] = services.iso(job.finished_ms)
    return document


async def get_job(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    if not _authorised(services, request):
        return _unauthorised()
    job = await services.store.job(request.match_info["capture_id"])
    if job is None:
        return problem(404, "epcisException:NoSuchResourceException", "No such capture job")
    return web.json_response(_job_document(services, job), headers=_epcis_headers())


async def list_jobs(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    if not _authorised(services, request):
        return _unauthorised()
    jobs = [_job_document(services, job) for job in await services.store.jobs()]
    return web.json_response(jobs, headers=_epcis_headers())
