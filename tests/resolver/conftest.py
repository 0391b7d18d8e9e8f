"""Fixtures of the resolver tests: every test that takes ``resolver`` runs on SQLite and on a real
PostgreSQL server (started once per session from Debian's binaries, one database per test).
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from harness.postgres import PostgresServer, postgres_server
from tests.resolver.digital_link_js import DigitalLinkJs, install
from tests.resolver.kit import Client, start_client, write_config


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        with postgres_server() as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'resolver.db'}"
        return
    yield from _new_database(request.getfixturevalue("pg_server"))


@pytest.fixture
def postgres_url(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh database on the PostgreSQL server, for what only PostgreSQL does."""
    yield from _new_database(pg_server)


def _new_database(server: PostgresServer) -> Iterator[str]:
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    yield server.url(name)
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")  # type: ignore[arg-type]


@pytest.fixture
async def resolver(tmp_path: Path, database_url: str, standards: Path) -> AsyncIterator[Client]:
    context, client = await start_client(write_config(tmp_path, database_url, standards))
    try:
        yield client
    finally:
        await client.session.close()
        await context.__aexit__(None, None, None)


@pytest.fixture(scope="session")
def digital_link_js() -> DigitalLinkJs:
    root = Path(__file__).resolve().parents[2] / "var" / "npm"
    try:
        install(root)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"digital-link.js could not be installed from npm: {exc}")
    return DigitalLinkJs(root)
