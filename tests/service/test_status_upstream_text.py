"""What ``linectl status`` prints for the pool and the upstream links: readable lines, not dicts."""

from __future__ import annotations

from typing import Any

from linectl.control_cmd import age_text, format_status


def _status(upstream: dict[str, Any]) -> dict[str, Any]:
    return {
        "line": {"id": "l1", "name": ""},
        "state": {"name": "EXECUTE", "number": 6},
        "pool": {"available": 412, "written_ahead": 16, "low_water": 500, "low": True},
        "upstream": upstream,
        "alarms": [],
    }


def test_an_outage_shows_backlog_age_link_errors_and_serials_waiting_to_go_back() -> None:
    text = format_status(
        _status(
            {
                "backlog": 1234,
                "oldest_undelivered_age_s": 133.4,
                "epcis": {
                    "state": "backing-off",
                    "delivered": 5000,
                    "documents": 12,
                    "last_success_at": "2026-03-02T06:00:00.000Z",
                    "last_error": "POST http://repo/capture: 503",
                    "consecutive_failures": 4,
                    "next_attempt_at": "2026-03-02T06:02:10.000Z",
                },
                "provisioning": {
                    "state": "unreachable",
                    "last_error": "cannot connect",
                    "last_error_at": "2026-03-02T06:02:00.000Z",
                    "refills": 2,
                    "received": 4000,
                    "returns_pending": {"batches": 1, "serials": 388},
                    "returned": 0,
                    "returns_refused": {},
                },
            }
        )
    )
    lines = text.splitlines()
    assert "pool: 412 serials available (low water 500: LOW), 16 written ahead" in lines
    assert "  events: 1,234 waiting to go upstream, oldest 2 min 13 s old" in lines
    epcis = next(line for line in lines if "EPCIS" in line)
    assert "backing-off" in epcis and "4 failed attempts in a row" in epcis
    assert "last error: POST http://repo/capture: 503" in epcis
    serials = next(line for line in lines if "serials:" in line)
    assert "pool manager unreachable" in serials and "cannot connect" in serials
    assert "2 refills brought 4,000 serials" in serials
    assert "  returns: 388 unused serials of 1 closed batch wait to go back (0 returned)" in lines


def test_a_line_in_step_with_upstream_says_so_briefly() -> None:
    text = format_status(
        _status(
            {
                "backlog": 0,
                "oldest_undelivered_age_s": None,
                "epcis": {"state": "idle", "delivered": 10, "documents": 2, "last_error": "old"},
                "provisioning": {"state": "ok", "returned": 50, "returns_pending": {}},
            }
        )
    )
    assert "  events: all delivered" in text
    assert "last error" not in text  # an old error is not news once the link works
    assert "  returns: 50 unused serials returned, none waiting" in text


def test_without_upstream_only_the_backlog_shows() -> None:
    text = format_status(_status({"backlog": 7}))
    assert "upstream:\n  events: 7 waiting to go upstream" in text
    assert "EPCIS" not in text and "serials:" not in text


def test_ages_read_like_an_operator_would_say_them() -> None:
    assert [age_text(s) for s in (None, 4.9, 61, 3725, 90000)] == [
        "-",
        "4 s",
        "1 min 1 s",
        "1 h 2 min",
        "1 d 1 h",
    ]
