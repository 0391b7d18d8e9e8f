"""The one permission matrix: what each role may do, and that every interface's commands map."""

from __future__ import annotations

from linectl.identity import CLI_PERMISSIONS, CONTROL_PERMISSIONS, MATRIX, Permission, Role
from linectl.identity.matrix import SIGNED_ACTIONS, allowed, cli_permission
from linectl.line.control import Command


def test_every_control_command_needs_a_permission_of_the_matrix() -> None:
    assert set(CONTROL_PERMISSIONS) == {c.value for c in Command}


def test_an_operator_runs_the_line_but_neither_releases_nor_administers_users() -> None:
    assert allowed("operator", Permission.LINE_RUN)
    assert not allowed("operator", Permission.BATCH_RELEASE)
    assert not allowed("operator", Permission.USER_ADMIN)
    assert not allowed("operator", Permission.BATCH_CLOSE)


def test_release_is_qa_only_and_administration_admin_only() -> None:
    assert {r for r in Role if allowed(r, Permission.BATCH_RELEASE)} == {Role.QA}
    assert {r for r in Role if allowed(r, Permission.USER_ADMIN)} == {Role.ADMIN}


def test_an_unknown_role_may_do_nothing() -> None:
    assert not any(allowed("superuser", p) for p in Permission)


def test_every_role_has_a_row_and_every_permission_a_holder() -> None:
    assert set(MATRIX) == set(Role)
    assert set().union(*MATRIX.values()) == set(Permission)


def test_cli_ledger_commands_map_to_permissions() -> None:
    assert cli_permission("batch", "release") is Permission.BATCH_RELEASE
    assert cli_permission("case", "remove") is Permission.REWORK
    assert cli_permission("user", "add") is Permission.USER_ADMIN
    assert cli_permission("decode", None) is None  # reads images, not the ledger
    assert set(CLI_PERMISSIONS.values()) <= set(Permission)


def test_signed_actions_are_permissions_and_have_meanings() -> None:
    for action, meanings in SIGNED_ACTIONS.items():
        assert Permission(action) and meanings
