"""Directory login against a real OpenLDAP server (slapd) started by the test: bind as the user,
groups mapped to roles, a ledger record on first login; wrong passwords refused and audited."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from linectl.cli import main
from linectl.config import IdentitySection, LdapSection
from linectl.identity import AuthenticationFailed, Identity
from linectl.identity.directory import LdapDirectory
from linectl.ledger import Ledger
from tests.identity.slapd import SUFFIX, Directory, running_slapd
from tests.people import new_password


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    people = {
        "anna": ("Anna Svensson", new_password()),
        "otto": ("Otto Operator", new_password()),
        "nora": ("Nora Nogroup", new_password()),
    }
    groups = {"line-qa": ["anna"], "line-operators": ["otto", "anna"], "canteen": ["nora"]}
    with running_slapd(tmp_path_factory.mktemp("slapd"), Directory(people, groups)) as served:
        yield served


def ldap_section(directory: Directory) -> LdapSection:
    return LdapSection(
        url=directory.url,
        user_dn=f"uid={{name}},ou=people,{SUFFIX}",
        group_base=f"ou=groups,{SUFFIX}",
        group_roles={"line-qa": "qa", "line-operators": "operator"},  # first match wins
    )


@pytest.fixture
def identity(tmp_path: Path, directory: Directory) -> Iterator[Identity]:
    policy = IdentitySection(ldap=ldap_section(directory))
    with Ledger(tmp_path / "line.db") as ledger:
        yield Identity(ledger, policy, LdapDirectory(ldap_section(directory)))


def password(directory: Directory, uid: str) -> str:
    return directory.users[uid][1]


def test_a_directory_user_logs_in_with_the_role_of_their_group_and_gets_a_ledger_record(
    identity: Identity, directory: Directory
) -> None:
    principal, token = identity.login("anna", password(directory, "anna"))
    assert (principal.name, principal.role, principal.full_name) == ("anna", "qa", "Anna Svensson")
    assert identity.resolve(token).name == "anna"
    otto, _ = identity.login("otto", password(directory, "otto"))
    assert otto.role == "operator"
    with identity.ledger.identity.read() as rows:
        record = rows.user("anna")
    assert record is not None and record.source == "directory"
    assert record.password_hash is None  # the directory keeps the password, not the ledger
    adds = [e for e in identity.ledger.audit_entries() if e.command == "user.add"]
    assert [e.actor for e in adds] == ["anna", "otto"]
    assert all(e.reason == "first directory login" for e in adds)


def test_a_wrong_directory_password_is_refused_and_audited(
    identity: Identity, directory: Directory
) -> None:
    with pytest.raises(AuthenticationFailed) as refused:
        identity.login("anna", "not-" + password(directory, "anna"))
    assert refused.value.reason == "wrong-password"
    assert "directory refused the password of anna" in refused.value.message
    with pytest.raises(AuthenticationFailed) as empty:  # an anonymous bind would succeed
        identity.login("anna", "")
    assert empty.value.reason == "wrong-password"
    failed = [e for e in identity.ledger.audit_entries() if e.command == "login.failed"]
    assert [e.actor for e in failed] == ["anna", "anna"]
    with identity.ledger.identity.read() as rows:
        assert rows.user("anna") is None  # nothing else changed


def test_a_user_in_no_mapped_group_and_an_unknown_user_are_refused(
    identity: Identity, directory: Directory
) -> None:
    with pytest.raises(AuthenticationFailed) as nogroup:
        identity.login("nora", password(directory, "nora"))
    assert nogroup.value.reason == "no-role" and "line-qa" in nogroup.value.message
    with pytest.raises(AuthenticationFailed) as unknown:
        identity.login("zed", new_password())
    assert unknown.value.reason == "wrong-password"  # the directory does not say which


def test_linectl_login_binds_to_the_directory(
    tmp_path: Path,
    directory: Directory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "line.toml"
    config.write_text(
        '[line]\nid = "ldap-line"\nread_point = "urn:epc:id:sgln:4012345.00001.1"\n'
        'biz_location = "urn:epc:id:sgln:4012345.00001.0"\ncompany_prefix_length = 7\n'
        '[ledger]\npath = "line.db"\n'
        f'[identity.ldap]\nurl = "{directory.url}"\n'
        f'user_dn = "uid={{name}},ou=people,{SUFFIX}"\ngroup_base = "ou=groups,{SUFFIX}"\n'
        '[identity.ldap.group_roles]\nline-qa = "qa"\nline-operators = "operator"\n'
    )
    base = ["--config", str(config), "--password-stdin"]
    with Ledger(tmp_path / "line.db"):
        pass
    monkeypatch.setattr(sys, "stdin", io.StringIO("wrong-password-for-otto\n"))
    assert main([*base, "login", "otto"]) == 2
    assert "directory refused the password of otto" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO(password(directory, "otto") + "\n"))
    assert main([*base, "login", "otto"]) == 0
    assert "logged in as otto (operator)" in capsys.readouterr().out
    assert main([*base, "batch", "list"]) == 0  # the session works for ledger commands
