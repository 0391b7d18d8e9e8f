"""RFC 7807 problem documents and request-body parsing shared by the control API's routes."""

from __future__ import annotations

import functools
import json
from typing import Any

from aiohttp import web

PROBLEM_JSON = "application/problem+json"
MAX_REASON = 1000
_PROBLEM_BASE = "urn:linectl:problem:"

dumps = functools.partial(json.dumps, default=str, ensure_ascii=False)


class BadInput(Exception):
    """A request the API cannot act on; ``field`` names the culprit."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    kind: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    body: dict[str, Any] = {
        "type": _PROBLEM_BASE + kind,
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    return web.Response(status=status, text=dumps(body), content_type=PROBLEM_JSON, headers=headers)


async def json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        raise BadInput("(body)", 'the body is empty; send a JSON object like {"command": ...}')
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput("(body)", f"the body is not UTF-8 (byte offset {exc.start})") from None
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(
            "(body)",
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from None
    except RecursionError:  # the decoder recurses per level: thousands of [ or {
        raise BadInput("(body)", "the body's JSON is nested too deeply") from None
    if not isinstance(body, dict):
        raise BadInput("(body)", f"the body must be a JSON object, not {type(body).__name__}")
    return body
