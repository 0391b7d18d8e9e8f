"""Fault suite, wrong ledger paths: only ``ledger init`` creates a ledger, nothing else touches
a file that is not one (another application's SQLite file, an empty file, text, a directory, a
missing path), and the message names the path and what to do."""

from __future__ import annotations

import os
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from linectl.ledger.opening import create_ledger, open_ledger
from tests.faults.processes import (
    GTIN,
    contacted,
    line_config,
    linectl,
    silent_devices,
    snapshot,
)
from tests.people import People

COMMANDS = {
    "report": ("report", "B1"),
    "audit verify": ("audit", "verify"),
    "batch list": ("batch", "list"),
    "batch start": ("batch", "start", "B1"),
    "trace": ("trace", "S000001"),
    "contents": ("contents", "B1"),
}


def other_app_db(path: Path) -> Path:
    """Another application's SQLite file (rollback journal, its own tables and data)."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.executemany("INSERT INTO notes (text) VALUES (?)", [("a",), ("b",)])
    conn.commit()
    conn.close()
    return path


def other_app_wal_db(path: Path) -> Path:
    """Another application's SQLite file in WAL mode, checkpointed."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE settings (k TEXT PRIMARY KEY, v TEXT)")
    conn.execute("INSERT INTO settings VALUES ('theme', 'dark')")
    conn.commit()
    conn.close()
    return path


NOT_LEDGERS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "another application's SQLite file": (other_app_db, "not a linectl ledger"),
    "another application's WAL database": (other_app_wal_db, "not a linectl ledger"),
    "an empty file": (lambda p: (p.write_bytes(b""), p)[1], "empty file"),
    "a text file": (lambda p: (p.write_text("serials\nS1\n"), p)[1], "not an SQLite file"),
    "random bytes": (
        lambda p: (p.write_bytes(random.Random(15).randbytes(8192)), p)[1],
        "not an SQLite file",
    ),
}


@pytest.mark.parametrize("kind", sorted(NOT_LEDGERS))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_file_that_is_not_a_ledger_is_refused_and_left_byte_for_byte_unchanged(
    tmp_path: Path, kind: str, command: str
) -> None:
    make, said = NOT_LEDGERS[kind]
    path = make(tmp_path / "line.db")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = snapshot(tmp_path)

    result = linectl("--ledger", str(path), *COMMANDS[command])

    assert result.returncode == 2, result.stderr
    assert str(path) in result.stderr and said in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(tmp_path) == before  # no byte, no mtime, no -wal/-shm side file


def test_serials_import_into_another_applications_database_is_refused(tmp_path: Path) -> None:
    path = other_app_db(tmp_path / "app.db")
    serials = tmp_path / "serials.txt"
    serials.write_text("S000001\nS000002\n")
    before = snapshot(tmp_path)

    result = linectl("--ledger", str(path), "serials", "import", str(serials), "--batch", "B1")

    assert result.returncode == 2
    assert f"ledger {path}: is an SQLite database but not a linectl ledger" in result.stderr
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_missing_ledger_is_not_created_and_no_directory_appears(
    tmp_path: Path, command: str
) -> None:
    path = tmp_path / "typo" / "line.db"

    result = linectl("--ledger", str(path), *COMMANDS[command])

    assert result.returncode == 2
    assert f"ledger {path}: no such file" in result.stderr
    assert "linectl ledger init" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_directory_given_as_the_ledger_is_named_in_the_error(tmp_path: Path) -> None:
    result = linectl("--ledger", str(tmp_path), "report", "B1")

    assert result.returncode == 2
    assert f"ledger {tmp_path}: is a directory, not a ledger file" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_ledger_init_refuses_another_applications_database_but_creates_a_new_one(
    tmp_path: Path,
) -> None:
    app = other_app_db(tmp_path / "app.db")
    before = snapshot(tmp_path)
    refused = linectl("--ledger", str(app), "ledger", "init")
    assert refused.returncode == 2 and "not a linectl ledger" in refused.stderr
    assert snapshot(tmp_path) == before

    new = tmp_path / "lines" / "line.db"
    secret = tmp_path / "first-admin.secret"
    umask = os.umask(0o022)  # the usual umask: files 0644 unless linectl says otherwise
    try:
        created = linectl(
            "--ledger", str(new), "ledger", "init", "--admin", "ada",
            "--one-time-secret", str(secret),
        )  # fmt: skip
    finally:
        os.umask(umask)
    assert created.returncode == 0, created.stderr
    with open_ledger(new) as ledger:  # a linectl ledger, with its first admin
        assert ledger.list_work_orders() == []
    for file in new.parent.iterdir():  # the ledger and its -wal / -shm: never world-readable
        assert file.stat().st_mode & 0o007 == 0, f"{file.name}: {oct(file.stat().st_mode)}"


def damaged_ledger(tmp_path: Path) -> Path:
    """A ledger with 3,000 serials whose pages were then overwritten in three places."""
    path = tmp_path / "line.db"
    with create_ledger(path) as ledger:
        ledger.create_work_order(
            batch="B1", gtin=GTIN, lot="L1", expiry="281130", quantity=3000,
            target_market="DE", actor="qa.anna",
        )  # fmt: skip
        ledger.import_serials("B1", GTIN, [f"S{n:06d}" for n in range(3000)], "qa.anna")
    People(path).log_in("qa.anna", "qa")  # the commands get past the login to the damage
    rng = random.Random(7)
    page = 4096
    with open(path, "r+b") as file:
        for n in (3, 12, 25):
            file.seek(n * page + 64)
            file.write(rng.randbytes(page - 128))
    return path


@pytest.mark.parametrize("command", ["report", "audit verify", "trace"])
def test_a_ledger_with_corrupt_pages_gives_a_clear_error_not_a_traceback(
    tmp_path: Path, command: str
) -> None:
    path = damaged_ledger(tmp_path)

    result = linectl("--ledger", str(path), *COMMANDS[command])

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"ledger {path}: SQLite says 'database disk image is malformed'" in result.stderr
    assert "restore the last backup" in result.stderr


# --- linectl run with a mistyped ledger path ----------------------------------------------------


def test_run_with_a_mistyped_ledger_path_exits_2_before_any_device_and_creates_nothing(
    tmp_path: Path,
) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    typo = tmp_path / "var" / "lib" / "linectl" / "lien.db"
    with silent_devices() as socks:
        config = line_config(conf, typo, [s.getsockname()[1] for s in socks])
        before = snapshot(tmp_path)

        result = linectl("run", "--config", str(config), cwd=tmp_path)

        assert result.returncode == 2, result.stderr
        assert f"ledger {typo}: no such file" in result.stderr
        assert not (tmp_path / "var").exists()  # no directories, no ledger, no token
        assert snapshot(tmp_path) == before
        assert [contacted(s) for s in socks] == [False, False, False]


def test_run_on_another_applications_database_leaves_it_unchanged(tmp_path: Path) -> None:
    app = other_app_wal_db(tmp_path / "app.db")
    with silent_devices() as socks:
        config = line_config(tmp_path, app, [s.getsockname()[1] for s in socks])
        before = snapshot(tmp_path)

        result = linectl("run", "--config", str(config))

        assert result.returncode == 2
        assert "not a linectl ledger" in result.stderr
        assert snapshot(tmp_path) == before
        assert not any(contacted(s) for s in socks)


def test_run_on_a_ledger_with_corrupt_pages_exits_2_before_any_device(tmp_path: Path) -> None:
    path = damaged_ledger(tmp_path)
    with silent_devices() as socks:
        config = line_config(tmp_path, path, [s.getsockname()[1] for s in socks])

        result = linectl("run", "--config", str(config))

        assert result.returncode == 2, result.stderr
        assert f"ledger {path}: SQLite says 'database disk image is malformed'" in result.stderr
        assert "Traceback" not in result.stderr
        assert not any(contacted(s) for s in socks)
