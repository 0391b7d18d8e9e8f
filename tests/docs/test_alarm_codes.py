"""docs/alarms.md against the code: every alarm the line can raise, and whether it holds."""

from __future__ import annotations

from tests.docs.alarm_codes import raised_alarms
from tests.docs.markdown import DOCS, plain, tables_with_header

PAGE = DOCS / "alarms.md"


def test_every_alarm_the_line_raises_is_documented_with_whether_it_holds() -> None:
    tables = tables_with_header(PAGE, "code", "holds the line")
    assert len(tables) == 1, "docs/alarms.md: expected one table headed | code | holds the line |"
    documented: dict[str, tuple[str, str]] = {}
    problems = []
    for row in tables[0].rows:
        code, holds = plain(row.cells[0]), plain(row.cells[1])
        if code in documented:
            problems.append(f"{row.where(PAGE)}: {code} is listed twice")
        documented[code] = (holds, row.where(PAGE))
    raised = raised_alarms()
    assert len({r.code for r in raised}) >= 20  # the collector still finds the line's alarms
    for alarm in raised:
        if alarm.code not in documented:
            problems.append(f"{alarm.where} raises {alarm.code}, which is not on the page")
            continue
        holds, where = documented[alarm.code]
        if alarm.holds is None or holds != ("yes" if alarm.holds else "no"):
            problems.append(f"{where}: {alarm.code} holds={alarm.holds} at {alarm.where}")
    stale = set(documented) - {r.code for r in raised}
    problems += [
        f"{documented[c][1]}: {c} is raised nowhere in linectl/line" for c in sorted(stale)
    ]
    assert not problems, "\n".join(problems)
