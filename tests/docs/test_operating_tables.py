"""docs/operating.md against the code: reject reasons and their PLC numbers, serial transitions.

Each test names every row that differs from the code, with the page line to fix.
"""

from __future__ import annotations

import re

from tests.docs.markdown import DOCS, plain, table_under, tables_with_header
from tests.docs.sources import (
    SERIAL_TRANSITIONS,
    PackMLState,
    RejectReason,
    SerialState,
    control_api_routes,
)

PAGE = DOCS / "operating.md"


def test_the_reject_reason_table_lists_every_reason_with_its_plc_number() -> None:
    tables = tables_with_header(PAGE, "reason", "PLC number")
    assert len(tables) == 1, "docs/operating.md: expected one table headed | reason | PLC number |"
    documented: dict[str, tuple[str, str]] = {}
    problems = []
    for row in tables[0].rows:
        reason, number = plain(row.cells[0]), plain(row.cells[1])
        if reason in documented:
            problems.append(f"{row.where(PAGE)}: {reason} is listed twice")
        documented[reason] = (number, row.where(PAGE))
    for member in RejectReason:
        if member.value not in documented:
            problems.append(f"reject reason {member.value} ({member.plc_code}) is not on the page")
        elif documented[member.value][0] != str(member.plc_code):
            number, where = documented[member.value]
            problems.append(
                f"{where}: {member.value} is PLC number {member.plc_code}, the page says {number}"
            )
    known = {m.value for m in RejectReason}
    problems += [
        f"{where}: {reason} is not a RejectReason in the code"
        for reason, (_, where) in documented.items()
        if reason not in known
    ]
    assert not problems, "docs/operating.md disagrees with RejectReason:\n" + "\n".join(problems)


def _states(cell: str) -> list[SerialState]:
    """The serial states a cell names, without the notes in parentheses."""
    names = re.sub(r"\([^)]*\)", "", plain(cell))
    return [SerialState.parse(name) for name in names.split(",") if name.strip()]


def test_the_serial_state_table_is_the_ledgers_transition_table() -> None:
    table = table_under(PAGE, "The ledger")
    documented: dict[tuple[SerialState, SerialState], str] = {}
    for row in table.rows:
        for source in _states(row.cells[0]):
            for target in _states(row.cells[1]):
                documented[(source, target)] = row.where(PAGE)
    in_code = {(s, t) for s, targets in SERIAL_TRANSITIONS.items() for t in targets}
    problems = [
        f"{where}: {s.label} -> {t.label} is refused by the ledger"
        for (s, t), where in documented.items()
        if (s, t) not in in_code
    ]
    problems += [
        f"the ledger allows {s.label} -> {t.label}; the table does not list it"
        for s, t in sorted(in_code - documented.keys())
    ]
    assert not problems, "docs/operating.md disagrees with linectl/ledger/states.py:\n" + "\n".join(
        problems
    )


def test_the_packml_mapping_gives_each_state_its_number() -> None:
    table = table_under(PAGE, "PackML mapping")
    problems = []
    for row in table.rows:
        match = re.fullmatch(r"(\w+) \((\d+)\)", plain(row.cells[0]))
        if match is None:
            problems.append(f"{row.where(PAGE)}: write the state as 'Name (number)'")
            continue
        name, number = match.group(1), int(match.group(2))
        state = PackMLState[name.upper()]
        if state != number:
            problems.append(f"{row.where(PAGE)}: {name} is state {state.value}, not {number}")
    assert not problems, "\n".join(problems)


def test_the_control_api_table_lists_every_route_the_api_serves() -> None:
    tables = tables_with_header(PAGE, "method and path", "body", "success", "answer")
    assert len(tables) == 1, "docs/operating.md: expected one table headed | method and path | ..."
    documented = {plain(row.cells[0]): row.where(PAGE) for row in tables[0].rows}
    served = control_api_routes()
    problems = [f"{where}: {route} is not served" for route, where in documented.items()
                if route not in served]  # fmt: skip
    problems += [f"{route} is served but not on the page" for route in served - documented.keys()]
    assert not problems, "docs/operating.md disagrees with the control API:\n" + "\n".join(problems)
