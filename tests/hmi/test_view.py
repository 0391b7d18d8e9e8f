"""LineView: the daemon's snapshot with its events applied, as every screen shows it."""

from __future__ import annotations

import asyncio

from linectl.hmi.view import LineView

SNAPSHOT = {
    "line": {"id": "L1", "name": "Line 1"},
    "state": {"name": "EXECUTE", "number": 6},
    "batch": {"batch": "B1", "gtin": "09506000134352"},
    "counters": {"verdicts_good": 90, "verdicts_reject": 10, "packs_per_minute": 600.0},
    "reject_reasons": {"no-read": 10},
    "pool": {"available": 400, "low": False},
    "devices": {"cam": {"kind": "camera", "state": "connected"}},
    "alarms": [],
    "upstream": {"backlog": 3},
}


def test_events_update_the_snapshot_and_the_summary() -> None:
    view = LineView()
    view.apply("snapshot", dict(SNAPSHOT))
    view.apply("counters", {"values": {"verdicts_good": 190, "verdicts_reject": 10}})
    view.apply("verdict-written", {"seq": 201, "verdict": "REJECT", "reason": "no-print"})
    view.apply("device-lost", {"role": "camera", "name": "cam", "error": "timeout"})
    view.apply("alarm-raised", {"code": "camera-lost", "message": "camera lost", "holds": True})
    view.apply("state-changed", {"old": "EXECUTE", "new": "HELD"})
    s = view.summary()
    assert (s["state"], s["batch"], s["good"], s["reject"]) == ("HELD", "B1", 190, 10)
    assert s["rate"] == 0.05
    assert s["reasons"] == {"no-read": 10, "no-print": 1}
    assert s["devices"] == [{"name": "cam", "kind": "camera", "state": "lost"}]
    assert s["alarms"] == [{"code": "camera-lost", "message": "camera lost", "holds": True}]
    assert s["rejects"][0]["seq"] == 201
    view.apply("alarm-cleared", {"code": "camera-lost"})
    assert view.summary()["alarms"] == []
    assert [h["raised"] for h in view.alarm_history] == [False, True]  # newest first


async def test_a_browser_waits_for_a_change_and_gets_the_newest_summary_once() -> None:
    view = LineView()
    view.apply("snapshot", dict(SNAPSHOT))
    seen = view.version
    waiter = asyncio.create_task(view.changed_since(seen))
    await asyncio.sleep(0)
    assert not waiter.done()
    for n in range(100):  # a burst of counters: one wake-up, the latest value
        view.apply("counters", {"values": {"verdicts_good": 100 + n}})
    assert await waiter > seen
    assert b'"good":199' in view.summary_json()
    assert view.summary_json() is view.summary_json()  # encoded once per version


def test_the_view_says_disconnected_until_the_daemon_answers() -> None:
    view = LineView()
    assert view.summary()["connected"] is False
    view.set_connected(True)
    assert view.summary()["connected"] is True


def _changed(view: LineView, name: str, data: dict[str, object]) -> set[str]:
    before = dict(view.screens)
    view.apply(name, data)
    return {screen for screen, version in view.screens.items() if version != before[screen]}


def test_each_event_marks_the_screens_whose_content_it_changes() -> None:
    view = LineView()
    view.apply("snapshot", dict(SNAPSHOT))
    assert _changed(view, "verdict-written", {"seq": 1, "verdict": "GOOD", "reason": None}) == set()
    assert _changed(view, "verdict-written", {"seq": 2, "verdict": "REJECT", "reason": "late"}) == {
        "rejects"
    }
    assert _changed(view, "committed", {"good": 12, "scrapped": 0}) == {"aggregation"}
    raised = {"code": "pool-low", "message": "pool low", "holds": False}
    assert _changed(view, "alarm-raised", raised) == {"alarms", "audit"}
    assert _changed(view, "counters", {"values": {"verdicts_good": 5}}) == set()
    assert "batch" in _changed(view, "state-changed", {"old": "EXECUTE", "new": "COMPLETE"})
    assert view.screens["rejects"] < view.version  # the overview moved on; rejects did not
    view.touch()  # a user's action at the HMI: every screen reads again
    assert set(view.screens.values()) == {view.version}
    assert view.summary()["screens"] == view.screens


def test_reconnecting_to_the_daemon_marks_every_screen_to_read_again() -> None:
    view = LineView()
    view.set_connected(True)
    view.apply("snapshot", dict(SNAPSHOT))
    view.set_connected(False)
    down = view.version
    view.set_connected(True)
    assert all(version > down for version in view.screens.values())
