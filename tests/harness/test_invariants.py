"""The invariant check of issue 15 finds each kind of breach, and passes what is whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.invariants import (
    check_containers,
    check_upstream,
    documented_actions,
    operator_view,
    serials_sent,
)
from simulators.central.event_store import StoredEvent
from standards.gs1.checkdigit import check_digit
from standards.gs1.epc import sgtin_urn, sscc_urn

GTIN = "0950600013435" + check_digit("0950600013435")


def _sscc(n: int) -> str:
    body = f"10950600{n:09d}"
    return body + check_digit(body)


CASE_A, CASE_B = _sscc(1), _sscc(2)


def _epc(serial: str) -> str:
    return sgtin_urn(GTIN, serial, 7)


def _pack(parent: str, *serials: str, action: str = "ADD") -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "AggregationEvent",
        "action": action,
        "bizStep": "packing" if action == "ADD" else "unpacking",
        "parentID": sscc_urn(parent, 7),
    }
    if serials:
        body["childEPCs"] = [_epc(s) for s in serials]
    return body


def _stored(*ids: str, bodies: dict[str, dict[str, Any]] | None = None) -> list[StoredEvent]:
    return [
        StoredEvent(n, i, "cj-1", (bodies or {}).get(i, {"eventID": i}), None)
        for n, i in enumerate(ids, start=1)
    ]


def _outbox(*rows: tuple[str, str]) -> list[tuple[int, str, str, str]]:
    return [(n, i, d, "{}") for n, (i, d) in enumerate(rows, start=1)]


def test_a_serial_sent_to_the_printer_twice_is_found_and_a_duplicate_defect_is_not(
    tmp_path: Path,
) -> None:
    log = tmp_path / "print-log.jsonl"
    code = f"01{GTIN}21E0000001"
    records = [
        {"seq": 1, "data": code, "intended": code, "defect": None},
        {"seq": 2, "data": code, "intended": f"01{GTIN}21E0000002", "defect": "duplicate"},
        {"seq": 3, "data": None, "intended": None, "defect": None},
    ]
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert sorted(serials_sent([log]).items()) == [("E0000001", 1), ("E0000002", 1)]
    with log.open("a") as out:
        out.write(json.dumps({"seq": 4, "data": code, "intended": code, "defect": None}) + "\n")
    assert serials_sent([log, tmp_path / "never-printed.jsonl"])["E0000001"] == 2


def test_packing_a_unit_into_a_second_case_without_unpacking_it_is_found() -> None:
    events = [_pack(CASE_A, "E1", "E2"), _pack(CASE_B, "E2")]
    parents, doubles = check_containers(events, {})
    assert parents == 2 and len(doubles) == 1 and "E2" in doubles[0], doubles


def test_unpacking_first_makes_a_move_legal_even_without_child_epcs() -> None:
    placed = {(GTIN, "E1"): CASE_B, (GTIN, "E2"): CASE_B}
    events = [_pack(CASE_A, "E1", "E2"), _pack(CASE_A, action="DELETE"), _pack(CASE_B, "E1", "E2")]
    assert check_containers(events, placed) == (1, [])


def test_events_and_ledger_rows_that_place_a_unit_apart_are_found() -> None:
    _, doubles = check_containers([_pack(CASE_A, "E1")], {(GTIN, "E1"): CASE_B})
    assert doubles and "events say" in doubles[0]
    _, doubles = check_containers([], {(GTIN, "E1"): CASE_B})
    assert doubles and "no packing event" in doubles[0]


def test_an_outbox_stored_once_and_in_order_upstream_passes() -> None:
    found = check_upstream(_outbox(("a", "delivered"), ("b", "delivered")), _stored("a", "b"))
    assert found.problems() == [] and (found.queued, found.stored) == (2, 2)


def test_lost_unknown_reordered_and_unsynced_events_are_each_named() -> None:
    outbox = _outbox(("a", "delivered"), ("b", "delivered"), ("c", "delivered"), ("d", "pending"))
    found = check_upstream(outbox, _stored("b", "a", "x"))
    assert found.lost == ["c"] and found.unknown == ["x"] and found.pending == ["d"]
    assert found.out_of_order == ["a"]
    assert len(found.problems()) == 4


def test_an_epc_commissioned_in_two_events_is_a_duplicate_upstream() -> None:
    body = {"bizStep": "commissioning", "action": "ADD", "epcList": [_epc("E1")]}
    found = check_upstream(
        _outbox(("a", "delivered"), ("b", "delivered")),
        _stored("a", "b", bodies={"a": body, "b": body}),
    )
    assert found.commissioned_twice == [_epc("E1")]


def test_every_alarm_code_in_the_docs_has_an_action() -> None:
    actions = documented_actions()
    assert {"device-lost:", "ledger", "task-failed", "starved"} <= actions.keys()
    assert all(action for action in actions.values())


def test_a_stopped_line_must_name_a_documented_alarm_that_the_log_shows() -> None:
    alarm = {"code": "device-lost:printer", "message": "printer: connection lost", "holds": True}
    held = {"state": {"name": "HELD"}, "alarms": [alarm]}
    logged = "ERROR linectl.runtime: alarm device-lost:printer: printer: connection lost"
    view = operator_view(held, logged)
    assert view.ok and not view.resumed and "Unhold" in view.told[0]
    assert not operator_view(held, "").ok  # status says it, the log does not
    assert not operator_view({"state": {"name": "HELD"}, "alarms": []}, logged).ok
    unknown = {"state": "HELD", "alarms": [alarm | {"code": "mystery"}]}
    assert not operator_view(unknown, "alarm mystery: x").ok
    assert operator_view({"state": {"name": "EXECUTE"}, "alarms": []}, "").resumed
    passing = operator_view({"state": {"name": "UNHOLDING"}, "alarms": []}, "")
    assert passing.ok and not passing.resumed  # on its way: nothing to judge yet


def test_a_unit_the_events_leave_in_a_closed_case_but_the_ledger_took_out_is_found() -> None:
    events = [_pack(CASE_A, "E1", "E2")]
    placed = {(GTIN, "E2"): CASE_A}  # E1's row left the case without an unpacking event
    _, doubles = check_containers(events, placed, {CASE_A})
    assert doubles == [f"{GTIN} E1: events say {CASE_A}, ledger: in no closed container"]
    assert check_containers(events, placed) == (1, doubles[:0])  # CASE_A not closed: still open


def test_a_case_on_a_closed_pallet_needs_its_packing_event_too() -> None:
    pallet = _sscc(9)
    placed = {(CASE_A, ""): pallet}
    _, doubles = check_containers([], placed, {pallet})
    assert doubles == [f"{CASE_A}: ledger {pallet}, no packing event"]
    event = {
        "type": "AggregationEvent",
        "action": "ADD",
        "parentID": sscc_urn(pallet, 7),
        "childEPCs": [sscc_urn(CASE_A, 7)],
    }
    assert check_containers([event], placed, {pallet}) == (1, [])
