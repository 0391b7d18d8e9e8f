"""What ``linectl`` itself stores for a password: argon2id with the RFC 9106 low-memory
parameters (t=3, m=64 MiB, p=4). The test process makes its own hashes cheaply (tests/conftest.py),
so this runs the real command in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from linectl.ledger import Ledger
from tests.conftest import PRODUCTION_HASHER, REPO_ROOT
from tests.people import People, new_password

RFC9106_LOW_MEMORY = "$argon2id$v=19$m=65536,t=3,p=4$"


def test_linectl_stores_a_password_as_argon2id_with_the_rfc9106_low_memory_parameters(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "line.db"
    password = new_password()
    result = subprocess.run(
        [sys.executable, "-m", "linectl.cli", "--ledger", str(ledger), "--password-stdin",
         "ledger", "init", "--admin", "admin"],
        input=f"{password}\n{password}\n", capture_output=True, text=True, timeout=120,
        cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with Ledger(ledger) as opened, opened.identity.read() as rows:
        admin = rows.user("admin")
    assert admin is not None and admin.password_hash is not None
    assert admin.password_hash.startswith(RFC9106_LOW_MEMORY), admin.password_hash
    assert PRODUCTION_HASHER.verify(admin.password_hash, password)
    raw = b"".join(f.read_bytes() for f in tmp_path.glob("line.db*"))
    assert password.encode() not in raw


def test_a_login_through_linectl_rehashes_a_password_stored_with_weaker_parameters(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "line.db"
    people = People(ledger)  # this process hashes with cheap parameters (tests/conftest.py)
    password = people.add("op.olga", "operator", "Olga Operator")

    def stored() -> str:
        with Ledger(ledger) as opened, opened.identity.read() as rows:
            user = rows.user("op.olga")
        assert user is not None and user.password_hash is not None
        return user.password_hash

    weak = stored()
    assert not weak.startswith(RFC9106_LOW_MEMORY) and PRODUCTION_HASHER.verify(weak, password)
    result = subprocess.run(
        [sys.executable, "-m", "linectl.cli", "--ledger", str(ledger), "--password-stdin",
         "login", "op.olga"],
        input=f"{password}\n", capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT), LINECTL_SESSION_DIR=str(tmp_path)),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rehashed = stored()
    assert rehashed.startswith(RFC9106_LOW_MEMORY), rehashed
    assert PRODUCTION_HASHER.verify(rehashed, password)
