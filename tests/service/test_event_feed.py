"""GET /v1/events over a real socket: the line's event stream as Server-Sent Events."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from drivers.interfaces import Verdict
from linectl.config import IdentitySection
from linectl.identity import Identity
from linectl.ledger import Ledger
from linectl.line.events import AlarmRaised, Counters, Missed, StateChanged, VerdictWritten
from linectl.service.api import ControlApi, start_control_api
from linectl.service.event_feed import SUBSCRIPTION_SIZE, SharedEncoding
from tests.people import People
from tests.service.standin_line import StandInLine
from tests.service.test_control_api import TCP_ANY_PORT

AUTH: dict[str, str] = {}  # an operator's session (any role with "view" may follow the events)


@pytest.fixture
def identity(tmp_path: Path) -> Iterator[Identity]:
    people = People(tmp_path / "line.db")
    people.add("op.eve", "operator", "Eve Operator")
    AUTH["Authorization"] = f"Bearer {people.session('op.eve')}"
    with Ledger(people.path) as ledger:
        yield Identity(ledger, IdentitySection())
    AUTH.clear()


@pytest.fixture
def line() -> StandInLine:
    return StandInLine()


@pytest.fixture
async def api(line: StandInLine, identity: Identity) -> AsyncIterator[ControlApi]:
    served = await start_control_api(line, TCP_ANY_PORT, identity=identity)
    yield served
    await served.close()


class SseReader:
    """Reads SSE messages (event name, JSON data) from a streaming response."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self) -> tuple[str, Any]:
        name, data = "", ""
        while True:
            line = (await self.response.content.readline()).decode()
            if line == "":
                raise EOFError("the stream ended")
            line = line.rstrip("\n")
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = line[len("data: ") :]
            elif line == "" and name:
                return name, json.loads(data)


@contextlib.asynccontextmanager
async def stream_past_snapshot(url: str) -> AsyncIterator[SseReader]:
    """The event stream at ``url`` (the control API's /v1/events), past its first message: the
    snapshot."""
    async with aiohttp.ClientSession() as http, http.get(url, headers=AUTH) as r:
        sse = SseReader(r)
        assert (await sse.next())[0] == "snapshot"
        yield sse


async def test_a_client_gets_the_snapshot_then_every_event_in_order(
    api: ControlApi, line: StandInLine
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{api.url}/v1/events?batch_ms=0", headers=AUTH) as r,
    ):
        assert r.status == 200 and r.content_type == "text/event-stream"
        sse = SseReader(r)
        assert await sse.next() == ("snapshot", json.loads(json.dumps(line.status())))
        line.events.publish(StateChanged("Idle", "Execute"))
        line.events.publish(VerdictWritten(17, Verdict.REJECT, "no-read", 4.5))
        line.events.publish(AlarmRaised("consecutive-rejects", "5 rejects in a row", True))
        assert await sse.next() == ("state-changed", {"old": "Idle", "new": "Execute"})
        assert await sse.next() == (
            "verdict-written",
            {"seq": 17, "verdict": "REJECT", "reason": "no-read", "latency_ms": 4.5},
        )
        assert await sse.next() == (
            "alarm-raised",
            {"code": "consecutive-rejects", "message": "5 rejects in a row", "holds": True},
        )


async def test_a_client_may_skip_the_per_pack_events_and_an_unknown_name_or_batch_is_refused(
    api: ControlApi, line: StandInLine
) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{api.url}/v1/events?skip=verdict-written,committed"
        async with http.get(url, headers=AUTH) as r:
            sse = SseReader(r)
            assert (await sse.next())[0] == "snapshot"
            line.events.publish(VerdictWritten(17, Verdict.GOOD, None, 4.5))
            line.events.publish(StateChanged("Execute", "Holding"))
            assert await sse.next() == ("state-changed", {"old": "Execute", "new": "Holding"})
        async with http.get(f"{api.url}/v1/events?skip=verdicts", headers=AUTH) as r:
            assert r.status == 400
            problem = await r.json()
            assert problem["field"] == "skip" and "verdicts" in problem["detail"]
        for wrong in ("-1", "1001", "soon"):
            async with http.get(f"{api.url}/v1/events?batch_ms={wrong}", headers=AUTH) as r:
                assert r.status == 400
                problem = await r.json()
                assert problem["field"] == "batch_ms" and wrong in problem["detail"]


async def test_a_client_that_fell_behind_is_told_what_it_missed_and_gets_a_new_snapshot(
    api: ControlApi, line: StandInLine
) -> None:
    async with stream_past_snapshot(f"{api.url}/v1/events") as sse:
        extra = 250
        for seq in range(SUBSCRIPTION_SIZE + extra):  # all at once: the feed cannot keep up
            line.events.publish(VerdictWritten(seq, Verdict.GOOD, None, 1.0))
        line.events.publish(Counters({"verdicts_good": SUBSCRIPTION_SIZE + extra}))
        assert await sse.next() == ("missed", {"count": extra})
        assert (await sse.next())[0] == "snapshot"
        seqs = []
        for _ in range(SUBSCRIPTION_SIZE):
            name, data = await sse.next()
            assert name == "verdict-written"
            seqs.append(data["seq"])
        assert seqs == list(range(SUBSCRIPTION_SIZE))  # the oldest kept, in order
        assert await sse.next() == (
            "counters",
            {"values": {"verdicts_good": SUBSCRIPTION_SIZE + extra}},
        )


async def test_closing_the_api_ends_open_streams_and_their_subscriptions(
    line: StandInLine, identity: Identity
) -> None:
    served = await start_control_api(line, TCP_ANY_PORT, identity=identity)
    async with stream_past_snapshot(f"{served.url}/v1/events") as sse:
        assert line.events.subscribers == 1
        await served.close()
        with pytest.raises((EOFError, aiohttp.ClientPayloadError)):
            await sse.next()
    assert line.events.subscribers == 0


async def test_a_burst_reaches_the_client_whole_in_order_and_ends_with_the_latest_counters(
    api: ControlApi, line: StandInLine
) -> None:
    async with stream_past_snapshot(f"{api.url}/v1/events") as sse:
        for seq in range(1, 41):  # a pack path at full speed: a verdict and the counters each
            line.events.publish(VerdictWritten(seq, Verdict.GOOD, None, 1.0))
            line.events.publish(Counters({"verdicts_good": seq}))
        line.events.publish(StateChanged("Execute", "Completing"))
        seqs, counts = [], []
        while len(seqs) < 40 or not counts or counts[-1] < 40:
            name, data = await sse.next()
            if name == "verdict-written":
                seqs.append(data["seq"])
            elif name == "counters":
                counts.append(data["values"]["verdicts_good"])
            else:
                assert (name, data) == ("state-changed", {"old": "Execute", "new": "Completing"})
        assert seqs == list(range(1, 41))  # none batched away
        assert counts == sorted(counts) and counts[-1] == 40  # coalesced, the last one kept


def test_every_client_sends_the_same_encoding_of_an_event_and_a_missed_count_is_its_own() -> None:
    encoded = SharedEncoding(keep=2)
    first = VerdictWritten(1, Verdict.REJECT, "no-read", 4.5)
    once = encoded(first)
    assert once == b'event: verdict-written\ndata: {"seq":1,"verdict":"REJECT",' + (
        b'"reason":"no-read","latency_ms":4.5}\n\n'
    )
    assert encoded(first) is once  # the second client: the same bytes, not encoded again
    equal = VerdictWritten(1, Verdict.REJECT, "no-read", 4.5)
    assert encoded(equal) == once
    assert encoded(Missed(3)) == b'event: missed\ndata: {"count":3}\n\n'
    assert encoded(Missed(5)) == b'event: missed\ndata: {"count":5}\n\n'
    for seq in range(2, 5):  # more than it keeps: the oldest is encoded afresh, still right
        encoded(VerdictWritten(seq, Verdict.GOOD, None, 1.0))
    again = encoded(first)
    assert again == once and again is not once
