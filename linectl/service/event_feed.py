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

A client's events go out in batches: what happened within :data:`BATCH_S` of the first waiting
event is one write, so at full speed a client that follows the per-pack events costs the daemon's
event loop some twenty wake-ups and writes a second, not a hundred; and each event is encoded
once for every client (:class:`SharedEncoding`). ``?batch_ms=0`` (up to 1000) asks for each
event as soon as it happens, for a client that dates events by their arrival. All of it happens
in the stream's own task, never in the pack path: publishing stays one queue append per client.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import re
import typing
from collections import OrderedDict
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

BATCH_S = 0.05
"""How long a client's stream gathers events after the first one before writing them at once."""


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


def _batch_ms(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 1000:
        raise BadInput("batch_ms", f"query 'batch_ms': {text[:20]!r} is not 0 to 1000 ms")
    return value


class SharedEncoding:
    """Each event encoded once, whichever clients send it: they all send the same bytes.

    Holds the last ``keep`` events it encoded (by identity, so a lagging client still finds
    the ones it has yet to send); a :class:`Missed` is one client's own and never kept."""

    def __init__(self, keep: int = 2 * SUBSCRIPTION_SIZE) -> None:
        self.keep = keep
        self._done: OrderedDict[int, tuple[LineEvent, bytes]] = OrderedDict()

    def __call__(self, event: LineEvent | Missed) -> bytes:
        if isinstance(event, Missed):
            return encode(event_name(event), event_fields(event))
        kept = self._done.get(id(event))
        if kept is not None and kept[0] is event:
            return kept[1]
        data = encode(event_name(event), event_fields(event))
        self._done[id(event)] = (event, data)  # the event held: its id is not reused meanwhile
        if len(self._done) > self.keep:
            self._done.popitem(last=False)
        return data


class EventFeeds:
    """The open event streams of one API, so that shutting the API down ends them.

    A client that goes away is noticed at the next write (an event or the keep-alive comment),
    which ends its stream and its subscription.
    """

    def __init__(
        self, control: LineControl, *, keepalive_s: float = 15.0, batch_s: float = BATCH_S
    ) -> None:
        self.control = control
        self.keepalive_s = keepalive_s
        self.batch_s = batch_s
        self.encoding = SharedEncoding()
        self._open: set[asyncio.Task[Any]] = set()

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """The handler of ``GET /v1/events``."""
        task = asyncio.current_task()
        assert task is not None
        self._open.add(task)
        try:
            return await serve_events(
                request,
                self.control,
                keepalive_s=self.keepalive_s,
                batch_s=self.batch_s,
                encoding=self.encoding,
            )
        finally:
            self._open.discard(task)

    async def close(self) -> None:
        """End every open stream (the API is shutting down)."""
        tasks = list(self._open)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def serve_events(
    request: web.Request,
    control: LineControl,
    *,
    keepalive_s: float = 15.0,
    batch_s: float = BATCH_S,
    encoding: SharedEncoding | None = None,
) -> web.StreamResponse:
    """Stream the line's events to one client until it goes away or the API shuts down."""
    encoded = encoding or SharedEncoding()
    if "batch_ms" in request.query:
        batch_s = _batch_ms(request.query["batch_ms"]) / 1000.0
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
                    event: LineEvent | Missed | None = await sub.get()
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            if batch_s > 0:
                await asyncio.sleep(batch_s)  # what else happens meanwhile joins this write
            chunks: list[bytes] = []
            while event is not None:
                chunks.append(encoded(event))
                if isinstance(event, Missed):
                    chunks.append(encode("snapshot", sub.snapshot()))
                event = sub.get_nowait()
            await response.write(b"".join(chunks))
    except ConnectionResetError:
        return response  # the client went away
    finally:
        sub.close()
