"""How the ledger package is put together: no import cycles, and the SQL stays inside it."""

from __future__ import annotations

import re
from pathlib import Path

import grimp

import linectl


def test_no_two_ledger_modules_import_each_other() -> None:
    graph = grimp.build_graph("linectl")
    modules = sorted(m for m in graph.modules if m.startswith("linectl.ledger."))
    cycles = [
        (a, b)
        for i, a in enumerate(modules)
        for b in modules[i + 1 :]
        if graph.chain_exists(a, b) and graph.chain_exists(b, a)
    ]
    assert cycles == []
    assert not graph.chain_exists("linectl.ledger.containers", "linectl.ledger.aggregation")


def test_aggregation_code_runs_no_sql_of_its_own() -> None:
    root = Path(linectl.__file__).parent
    sources = [
        *(root / "aggregation").glob("*.py"),
        root / "aggregation_cmd.py",
        root / "lifecycle.py",
    ]
    offending = [
        f"{path.relative_to(root)}:{number}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\bsqlite3\b|\.execute(many)?\(", line)
    ]
    assert offending == []
