"""docs/identity.md against the code: the permission matrix, which permission each CLI and
control command needs, and the signed actions with their meanings."""

from __future__ import annotations

import tomllib

from linectl.config.identity import LdapSection
from linectl.identity.matrix import (
    CLI_PERMISSIONS,
    CONTROL_PERMISSIONS,
    MATRIX,
    SIGNED_ACTIONS,
    Permission,
    Role,
)
from tests.docs.markdown import DOCS, Table, plain, tables_with_header

PAGE = DOCS / "identity.md"


def one_table(*columns: str) -> Table:
    tables = tables_with_header(PAGE, *columns)
    assert len(tables) == 1, f"docs/identity.md: expected one table headed | {' | '.join(columns)}"
    return tables[0]


def test_the_permission_matrix_on_the_page_is_the_one_in_the_code() -> None:
    table = one_table("permission", "what it covers")
    roles = [plain(c) for c in table.header[2:]]
    assert roles == [r.value for r in Role], f"role columns {roles}, the code has {list(Role)}"
    problems = []
    seen = set()
    for row in table.rows:
        name = plain(row.cells[0])
        try:
            permission = Permission(name)
        except ValueError:
            problems.append(f"{row.where(PAGE)}: {name} is not a Permission in the code")
            continue
        seen.add(permission)
        for role, cell in zip(Role, row.cells[2:], strict=True):
            says = plain(cell) == "yes"
            if says != (permission in MATRIX[role]):
                problems.append(
                    f"{row.where(PAGE)}: {role.value} / {name}: the page says "
                    f"{'yes' if says else 'no'}, the code {'yes' if not says else 'no'}"
                )
    problems += [f"permission {p.value} is not on the page" for p in Permission if p not in seen]
    assert not problems, "docs/identity.md disagrees with MATRIX:\n" + "\n".join(problems)


def mapping(table: Table, prefix: str = "") -> dict[str, str]:
    return {plain(r.cells[0]).removeprefix(prefix): plain(r.cells[1]) for r in table.rows}


def test_every_command_needs_the_permission_the_page_names() -> None:
    cli = mapping(one_table("CLI command", "permission"), "linectl ")
    assert cli == {k: v.value for k, v in CLI_PERMISSIONS.items()}
    control = mapping(one_table("control command", "permission"))
    assert control == {k: v.value for k, v in CONTROL_PERMISSIONS.items()}


def test_the_signed_actions_and_their_meanings_are_the_codes() -> None:
    table = one_table("signed action", "meanings")
    documented = {
        plain(r.cells[0]): tuple(m.strip() for m in plain(r.cells[1]).split(","))
        for r in table.rows
    }
    assert documented == SIGNED_ACTIONS


# every clause issue 10 asks the checklist to cover
CLAUSES = [f"11.10({letter})" for letter in "abcdefghijk"] + [
    "11.50",
    "11.70",
    "11.100",
    "11.200",
    "11.300",
    "Annex 11 §7",
    "Annex 11 §9",
    "Annex 11 §12",
    "Annex 11 §14",
]


def test_the_part_11_checklist_covers_every_clause_with_both_sides() -> None:
    table = one_table(
        "clause", "requirement (short)", "what linectl does", "what stays with the plant"
    )
    listed = [plain(r.cells[0]) for r in table.rows]
    assert listed == CLAUSES, f"the checklist lists {listed}"
    empty = [
        f"{row.where(PAGE)}: {plain(row.cells[0])} / {table.header[column]}"
        for row in table.rows
        for column in (2, 3)
        if plain(row.cells[column]) in ("", "-")
    ]
    assert not empty, "checklist cells without an answer:\n" + "\n".join(empty)


def test_the_ldap_set_up_on_the_page_is_a_valid_configuration() -> None:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index("    [identity.ldap]\n")
    block = []
    for line in text[start:].splitlines():
        if line and not line.startswith("    "):
            break
        block.append(line[4:])
    data = tomllib.loads("\n".join(block))
    ldap = LdapSection(**data["identity"]["ldap"])
    assert ldap.group_roles and set(ldap.group_roles.values()) <= {r.value for r in Role}
    assert "{name}" in ldap.user_dn and "{dn}" in ldap.group_filter
