"""docs/plc-signal-map.md against drivers/plc/signals.py: every signal, address, type and code.

A row written with ``Slot{kk}`` and addresses like ``102+3k`` stands for every slot k of the range
``(k = A..B)`` it names; the test expands it and compares the result signal by signal, so a
failure names each signal that is missing, extra or different, with the page line to fix.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

import pytest

from tests.docs.markdown import DOCS, Row, Table, code_spans, plain, read_tables, table_under
from tests.docs.sources import GateOutcome, PackMLCommand, PackMLState, Verdict, signals

PAGE = DOCS / "plc-signal-map.md"
_RANGE = re.compile(r"k = (\d+)\.\.(\d+)")
_ADDRESS = re.compile(r"^(\d+)(?:\+(\d+)k)?$")


@dataclass(frozen=True)
class DocSignal:
    """One signal as the page describes it (a template row gives one per slot)."""

    name: str
    area: signals.Area | None
    registers: tuple[int, ...]
    kind: str
    meaning: str
    template: bool
    where: str


def slot_range(row: Row) -> range:
    """The k range a ``Slot{kk}`` row names, e.g. ``(k = 0..39)``."""
    found = {m.groups() for cell in row.cells for m in _RANGE.finditer(cell)}
    if len(found) != 1:
        raise AssertionError(f"{row.where(PAGE)}: a Slot{{kk}} row must name one (k = A..B) range")
    low, high = (int(n) for n in found.pop())
    return range(low, high + 1)


def registers(cell: str, k: int) -> tuple[int, ...]:
    """Registers an Address cell names: ``13``, ``13-14`` or ``102+3k, 103+3k``."""
    text = plain(cell).replace(" ", "")
    if re.fullmatch(r"\d+-\d+", text):
        first, last = (int(n) for n in text.split("-"))
        return tuple(range(first, last + 1))
    out = []
    for part in text.split(","):
        match = _ADDRESS.match(part)
        if match is None:
            raise AssertionError(f"cannot read the address {cell!r}")
        base, step = match.groups()
        out.append(int(base) + (int(step) * k if step else 0))
    return tuple(out)


def reference(cell: str) -> tuple[int, ...]:
    """Registers a Ref cell names: ``30014`` or ``30014-15`` (the last digits of the second)."""
    text = plain(cell)
    first, _, tail = text.partition("-")
    if not tail:
        return (int(first),)
    last = int(first[: len(first) - len(tail)] + tail)
    return tuple(range(int(first), last + 1))


def modbus_signals(table: Table, area: signals.Area) -> list[DocSignal]:
    address, ref = table.column("Address"), table.column("Ref")
    name, kind, meaning = table.column("Signal"), table.column("Type"), table.column("Meaning")
    out: list[DocSignal] = []
    for row in table.rows:
        template = plain(row.cells[name])
        slots = slot_range(row) if "{kk}" in template else range(1)
        if "{kk}" not in template and plain(row.cells[ref]):
            base = 30001 if area is signals.Area.INPUT else 40001
            expected = tuple(base + r for r in registers(row.cells[address], 0))
            assert reference(row.cells[ref]) == expected, (
                f"{row.where(PAGE)}: Ref {row.cells[ref]} does not match Address "
                f"{row.cells[address]} (expected {expected})"
            )
        for k in slots:
            out.append(
                DocSignal(
                    name=template.replace("{kk}", f"{k:02d}"),
                    area=area,
                    registers=registers(row.cells[address], k),
                    kind=plain(row.cells[kind]),
                    meaning=row.cells[meaning],
                    template="{kk}" in template,
                    where=row.where(PAGE),
                )
            )
    return out


def differences(documented: list[DocSignal]) -> list[str]:
    """Every signal that is missing from the page, extra on it, or described differently."""
    problems: list[str] = []
    seen: dict[str, DocSignal] = {}
    for doc in documented:
        if doc.name in seen:
            problems.append(
                f"{doc.where}: {doc.name} is listed twice (also {seen[doc.name].where})"
            )
        seen[doc.name] = doc
    for sig in signals.SIGNALS:
        doc = seen.get(sig.name)
        if doc is None:
            problems.append(f"{sig.name} ({sig.area.value} {sig.address}) is not on the page")
            continue
        if doc.area is not sig.area:
            problems.append(f"{doc.where}: {sig.name} is in the {sig.area.value} registers")
        wanted = tuple(range(sig.address, sig.end))
        if doc.registers != wanted:
            problems.append(
                f"{doc.where}: {sig.name} occupies {wanted}, the page says {doc.registers}"
            )
        if doc.kind != sig.kind.name:
            problems.append(f"{doc.where}: {sig.name} is {sig.kind.name}, the page says {doc.kind}")
    for name, doc in seen.items():
        if name not in signals.BY_NAME:
            problems.append(f"{doc.where}: {name} is not in drivers/plc/signals.py")
    return problems


def area_table(heading: str) -> Table:
    return table_under(PAGE, heading)


def documented_modbus() -> list[DocSignal]:
    return modbus_signals(area_table("input registers"), signals.Area.INPUT) + modbus_signals(
        area_table("holding registers"), signals.Area.HOLDING
    )


def test_the_modbus_tables_list_every_signal_at_its_address_with_its_type() -> None:
    problems = differences(documented_modbus())
    assert not problems, "docs/plc-signal-map.md disagrees with the code:\n" + "\n".join(problems)


def test_the_numbers_in_each_signals_meaning_are_the_codes() -> None:
    """Sizes, versions and ranges the code states (ring size 64, version 1, 0-17) are on the page.

    A ``Slot{kk}`` row is checked when the code gives all its slots the same meaning (a meaning
    that names its own slot number cannot be written once for all slots).
    """
    by_row: dict[str, list[DocSignal]] = {}
    for doc in documented_modbus():
        by_row.setdefault(doc.where, []).append(doc)
    problems = []
    for where, docs in by_row.items():
        meanings = {signals.BY_NAME[d.name].meaning for d in docs if d.name in signals.BY_NAME}
        if len(meanings) != 1:
            continue
        meaning = meanings.pop()
        on_page = set(re.findall(r"\d+", plain(docs[0].meaning)))
        missing = [n for n in re.findall(r"\d+", meaning) if n not in on_page]
        if missing:
            problems.append(
                f"{where}: {docs[0].name}: the code says {meaning!r}; the page lacks {missing}"
            )
    assert not problems, "\n".join(problems)


def test_the_opcua_table_gives_every_node_its_data_type_and_access() -> None:
    table = table_under(PAGE, "OPC UA")
    node, data_type, access = (
        table.column("NodeId"),
        table.column("DataType"),
        table.column("Access"),
    )
    documented: dict[str, tuple[str, str, str]] = {}
    problems = []
    for row in table.rows:
        for name in code_spans(row.cells[node]):
            slots = slot_range(row) if "{kk}" in name else range(1)
            for k in slots:
                full = name.replace("{kk}", f"{k:02d}")
                if full in documented:
                    problems.append(f"{row.where(PAGE)}: {full} is listed twice")
                documented[full] = (
                    plain(row.cells[data_type]),
                    plain(row.cells[access]),
                    row.where(PAGE),
                )
    for sig in signals.SIGNALS:
        if sig.name not in documented:
            problems.append(f"node {sig.name} is not in the OPC UA table")
            continue
        shown_type, shown_access, where = documented[sig.name]
        wanted_access = "read" if sig.area is signals.Area.INPUT else "read/write"
        if shown_type != sig.kind.opcua_type:
            problems.append(
                f"{where}: {sig.name} is {sig.kind.opcua_type}, the page says {shown_type}"
            )
        if shown_access != wanted_access:
            problems.append(f"{where}: {sig.name} is {wanted_access}, the page says {shown_access}")
    problems += [
        f"{where}: {name} is not in drivers/plc/signals.py"
        for name, (_, _, where) in documented.items()
        if name not in signals.BY_NAME
    ]
    assert not problems, "docs/plc-signal-map.md (OPC UA) disagrees with the code:\n" + "\n".join(
        problems
    )


def test_the_page_names_the_opcua_namespace_and_root_object() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert f"`{signals.OPCUA_NAMESPACE}`" in text
    assert f"Objects/{signals.OPCUA_ROOT}" in text and f"s={signals.OPCUA_ROOT}" in text


def enum_rows(table: Table) -> dict[int, tuple[str, str]]:
    """value -> (name, where) from a table of ``value | name`` column pairs."""
    pairs = [i for i, cell in enumerate(table.header) if plain(cell).lower() == "value"]
    out: dict[int, tuple[str, str]] = {}
    for row in table.rows:
        for i in pairs:
            value = plain(row.cells[i]).split(" ")[0]
            if not value:
                continue
            number = int(value, 16) if value.startswith("0x") else int(value)
            out[number] = (plain(row.cells[i + 1]).upper().replace(" ", "_"), row.where(PAGE))
    return out


CODE_TABLES: list[tuple[str, type[enum.IntEnum] | type[enum.IntFlag]]] = [
    ("`Line.State`", PackMLState),
    ("`Line.Command`", PackMLCommand),
    ("`Line.CommandResult`", signals.CommandResult),
    ("`Plc.Fault`", signals.Fault),
    ("`VerdictRing.Slot{kk}.Verdict`", Verdict),
    ("`GateEvents.Slot{kk}.Outcome`", GateOutcome),
]


@pytest.mark.parametrize(("heading", "codes"), CODE_TABLES, ids=[h for h, _ in CODE_TABLES])
def test_each_code_table_lists_the_codes_numbers_and_names(
    heading: str, codes: type[enum.IntEnum] | type[enum.IntFlag]
) -> None:
    tables = [t for t in read_tables(PAGE) if t.heading == heading]
    assert len(tables) == 1, f"docs/plc-signal-map.md: no single table under ### {heading}"
    documented = enum_rows(tables[0])
    in_code = {int(member): str(member.name) for member in codes}
    problems = [
        f"{heading} {value} {name} is not on the page"
        for value, name in in_code.items()
        if value not in documented
    ]
    for value, (name, where) in documented.items():
        if value not in in_code:
            problems.append(f"{where}: {heading} {value} {name} is not in the code")
        elif in_code[value] != name:
            problems.append(f"{where}: {heading} {value} is {in_code[value]}, the page says {name}")
    assert not problems, "\n".join(problems)


def test_the_verdict_example_uses_the_ring_size() -> None:
    slot = signals.verdict_slot(1000)
    first = slot.verdict.address
    text = " ".join(PAGE.read_text(encoding="utf-8").split())
    expected = (
        f"slot 1000 mod {signals.VERDICT_SLOTS} = {1000 % signals.VERDICT_SLOTS}, "
        f"registers {first}-{slot.seq.end - 1}"
    )
    assert expected in text, f"docs/plc-signal-map.md: the verdict example should say {expected!r}"
