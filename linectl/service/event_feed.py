"""``GET /v1/events``: the line event stream as Server-Sent Events, for the HMI and machine clients.

Each connection is one bounded subscription to the line's event stream
(:mod:`linectl.line.events`), so a client that reads slowly, or not at all, never delays the pack
path: its events are dropped and it is told so. The stream starts with ``snapshot`` (the status
document); then one message per event, named after it (``state-changed``, ``alarm-raised``,
``alarm-cleared``, ``device-lost``, ``device-back``, ``verdict-written``, ``committed``,
``counters``, ``pool-level``, ``upstream-level``), its fields as a JSON object; after an overflow
``missed`` (``{"count": n}``) and a fresh ``snapshot``. A comment line every ``keepalive_s`` keeps
proxies from closing an idle stream. ``?skip=verdict-written,committed`` leaves out the events a
client does not use (the per-pack ones are 100 a second at full speed): they never reach the
client's subscription. Level events (``counters``, ``pool-level``, ``upstream-level``) go out at
most :data:`LEVELS_PER_S` times a second each, the latest when due: at full speed the counters
change with every pack, and no screen or SCADA needs them 100 times a second.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import re
import typing
from typing import Any

from aiohttp import web

from linectl.line.control import LineControl
from linectl.line.events import LineEvent, Missed
from linectl.service.problems import BadInput

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")

EVENT_CLASSES: dict[str, type] = {
    _CAMEL.sub("-", cls.__name__).lower(): cls for cls in typing.get_args(LineEvent)
}
SKIPPABLE = frozenset(EVENT_CLASSES)
"""Event names a client may leave out with ``?skip=`` (never ``snapshot`` or ``missed``)."""

LEVELS_PER_S = 10.0
"""How often each level event (counters, pool, upstream) may reach one stream client."""

SUBSCRIPTION_SIZE = 1000
"""Events held for one client before it is told that it missed some."""


def event_name(event: LineEvent | Missed) -> str:
    """The SSE event name of ``event``: its class name in kebab case (``VerdictWritten`` ->
    ``verdict-written``)."""
    return _CAMEL.sub("-", type(event).__name__).lower()


def event_fields(event: LineEvent | Missed) -> dict[str, Any]:
    """The event's fields, JSON-ready (enums by name)."""
    return {f.name: _plain(getattr(event, f.name)) for f in dataclasses.fields(event)}


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, dict):
        return dict(value)
    return value


def encode(name: str, data: Any) -> bytes:
    """One SSE message (``event:`` and a single ``data:`` line of JSON)."""
    text = json.dumps(data, default=str, ensure_ascii=False, separators=(",", ":"))
    return f"event: {name}\ndata: {text}\n\n".encode()


class EventFeeds:
    """The open event streams of one API, so that shutting the API down ends them.

    A client that goes away is noticed at the next write (an event or the keep-alive comment),
    which ends its stream and its subscription.
    """

    def __init__(self, control: LineControl, *, keepalive_s: float = 15.0) -> None:
        self.control = control
        self.keepalive_s = keepalive_s
        self._open: set[asyncio.Task[Any]] = set()

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """The handler of ``GET /v1/events``."""
        task = asyncio.current_task()
        assert task is not None
        self._open.add(task)
        try:
            return await serve_events(request, self.control, keepalive_s=self.keepalive_s)
        finally:
            self._open.discard(task)

    async def close(self) -> None:
        """End every open stream (the API is shutting down)."""
        tasks = list(self._open)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def serve_events(
    request: web.Request, control: LineControl, *, keepalive_s: float = 15.0
) -> web.StreamResponse:
    """Stream the line's events to one client until it goes away or the API shuts down."""
    skip = {name.strip() for name in request.query.get("skip", "").split(",") if name.strip()}
    if skip - SKIPPABLE:
        unknown = ", ".join(sorted(skip - SKIPPABLE))
        raise BadInput(
            "skip",
            f"query 'skip': unknown event {unknown} (allowed: {', '.join(sorted(SKIPPABLE))})",
        )
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    sub = control.subscribe(SUBSCRIPTION_SIZE)
    sub.skip = frozenset(EVENT_CLASSES[name] for name in skip)
    sub.level_interval_s = 1.0 / LEVELS_PER_S
    try:
        await response.write(encode("snapshot", sub.snapshot()))
        while True:
            try:
                async with asyncio.timeout(keepalive_s):
                    event = await sub.get()
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            name = event_name(event)
            await response.write(encode(name, event_fields(event)))
            if isinstance(event, Missed):
                await response.write(encode("snapshot", sub.snapshot()))
    except ConnectionResetError:
        return response  # the client went away
    finally:
        sub.close()
