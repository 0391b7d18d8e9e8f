"""Shared fixtures: where the standards files live, and a leak check for tasks and threads.

Every test runs under the leak check: no asyncio task and no thread may outlive it. A task still
pending on the test's event loop once the test and its fixtures are done fails the test (an error
at teardown naming it): the loop's runner would otherwise cancel it without a word. A thread the
test started and still alive after its teardown (given a short join to end) fails it too: a stray
thread shows only as a hung or flaky run much later.

Some things cannot be blamed on one test and are checked when their scope ends instead: tasks left
on a module-scoped loop (they may belong to a module fixture, such as a server the test restarted)
are checked when that loop closes; threads started while fixtures were set up, and the
default-executor threads (``asyncio_N``) of a loop that outlives the test, when the session ends.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from pytest_asyncio import is_async_test

from linectl.identity import passwords

REPO_ROOT = Path(__file__).resolve().parent.parent


def standards_root() -> Path:
    """The publishers' data files: ../shared/standards beside the clone (CI has it there)."""
    override = os.environ.get("LINECTL_STANDARDS")
    root = Path(override) if override else REPO_ROOT.parent / "shared" / "standards"
    if not root.is_dir():
        raise RuntimeError(
            f"standards directory not found at {root}; set LINECTL_STANDARDS to its path"
        )
    return root


@pytest.fixture(scope="session")
def standards() -> Path:
    return standards_root()


PRODUCTION_HASHER = passwords.HASHER
"""linectl's own argon2id hasher (RFC 9106 low-memory: t=3, m=64 MiB, p=4)."""


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashes() -> Iterator[None]:
    """argon2id at its smallest cost for hashes made in the test process.

    The suite makes and checks a few thousand passwords; at linectl's parameters each fills
    64 MiB three times on four lanes (tests/service and tests/identity: 128 s of CPU, 10 s
    without). Hashes made here carry their own small parameters, so the daemons the tests start
    verify them cheaply too and re-hash them at linectl's own at the next successful login, as
    for any older hash. What linectl stores when no test lowered the cost is checked by
    tests/identity/test_hash_parameters.py, through the ``linectl`` command.
    """
    passwords.HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    passwords.HASHER = PRODUCTION_HASHER


@pytest.fixture(autouse=True)
def _session_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """CLI login sessions of a test go to a directory of its own, never the user's home."""
    path = tmp_path_factory.mktemp("sessions")
    monkeypatch.setenv("LINECTL_SESSION_DIR", str(path))
    monkeypatch.delenv("LINECTL_TOKEN_FILE", raising=False)
    return path


# -- the leak check ---------------------------------------------------------------------------

#: how long threads that are ending anyway get to finish, in all, before they count as leaked
JOIN_GRACE_S = 2.0

_before_setup = pytest.StashKey[set[threading.Thread]]()
_after_setup = pytest.StashKey[set[threading.Thread]]()
_outliving_loop = pytest.StashKey[bool]()

#: threads to look at when the session ends, with the test that was running when they started
_deferred: dict[threading.Thread, str] = {}
#: tasks a test left on a loop that outlives it, with that test: looked at when the loop closes
_task_origin: dict[asyncio.Task[Any], str] = {}


def _loop_scope(item: pytest.Function) -> str:
    """The scope of the event loop an async test runs in (its asyncio mark, else the default)."""
    marker = item.get_closest_marker("asyncio")
    scope = marker.kwargs.get("loop_scope") if marker is not None else None
    return str(scope or item.config.getini("asyncio_default_test_loop_scope") or "function")


def _cancel_pending(runner: asyncio.Runner, tasks: set[asyncio.Task[Any]]) -> list[str]:
    """Name the tasks of ``tasks`` still pending, then cancel them and let them end."""
    pending = {task for task in tasks if not task.done()}
    names = []
    for task in pending:
        origin = _task_origin.pop(task, None)
        started = f", left by {origin}" if origin else ""
        names.append(f"{task.get_name()} ({task.get_coro()!r}{started})")
        task.cancel()
    if pending:
        runner.run(asyncio.wait(pending))  # they end before anything else uses the loop
    return sorted(names)


@pytest.fixture(autouse=True)
def no_leaked_tasks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail an async test that leaves tasks pending on its event loop after its fixtures' teardown.

    The fixture asks for pytest-asyncio's runner of the test's loop scope (the fixture
    ``_<scope>_scoped_runner`` of pytest-asyncio 1.x), so it is set up after the runner and before
    any function-scoped async fixture, and torn down after those and before the runner closes the
    loop. On a loop that outlives the test (a module-scoped one), a task the test started may
    belong to a longer-lived fixture (a server the test restarted): it is noted with the test's
    name and must have ended when the loop closes (:func:`pytest_fixture_setup`).
    """
    item = request.node
    if not (isinstance(item, pytest.Function) and is_async_test(item)):
        yield
        return
    scope = _loop_scope(item)
    item.stash[_outliving_loop] = scope != "function"
    runner = request.getfixturevalue(f"_{scope}_scoped_runner")
    loop = runner.get_loop()
    before = asyncio.all_tasks(loop)
    yield
    started = asyncio.all_tasks(loop) - before
    if scope != "function":
        _task_origin.update((task, item.nodeid) for task in started if not task.done())
        return
    leaked = _cancel_pending(runner, started)
    if leaked:
        pytest.fail(
            f"the test left {len(leaked)} asyncio task(s) pending: {'; '.join(leaked)}",
            pytrace=False,
        )


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    """Every pytest-asyncio runner checks its loop once every fixture on it is gone.

    The check is registered right after the runner starts, before any async fixture registers its
    teardown with the runner, so it runs after all of those and before the runner closes the loop
    (cancelling what is left without a word). It catches what sync tests with async fixtures and
    tests on module-scoped loops leave behind.
    """
    result = yield
    if fixturedef.argname.startswith("_") and fixturedef.argname.endswith("_scoped_runner"):
        runner = result
        where = request.node.nodeid or "the session"

        def no_tasks_left() -> None:
            leaked = _cancel_pending(runner, asyncio.all_tasks(runner.get_loop()))
            if leaked:
                pytest.fail(
                    f"tasks still pending when the event loop of {where} closes: "
                    + "; ".join(leaked),
                    pytrace=False,
                )

        fixturedef.addfinalizer(no_tasks_left)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    item.stash[_before_setup] = set(threading.enumerate())
    try:
        return (yield)
    finally:
        item.stash[_after_setup] = set(threading.enumerate())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    result = yield
    before = item.stash.get(_before_setup, set())
    from_fixtures = item.stash.get(_after_setup, before) - before
    suspects = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    leaked = []
    for thread in suspects:
        if thread in from_fixtures:
            _deferred[thread] = item.nodeid
        elif item.stash.get(_outliving_loop, False) and thread.name.startswith("asyncio_"):
            _deferred[thread] = item.nodeid  # the loop's default executor, joined when it closes
        else:
            leaked.append(thread)
    leaked = _alive_after_grace(leaked)
    if leaked:
        names = ", ".join(sorted(f"{t.name} (daemon={t.daemon})" for t in leaked))
        pytest.fail(f"the test left {len(leaked)} thread(s) running: {names}", pytrace=False)
    return result


def _alive_after_grace(threads: list[threading.Thread]) -> list[threading.Thread]:
    """The threads still alive after each got its share of :data:`JOIN_GRACE_S` to end."""
    deadline = time.monotonic() + JOIN_GRACE_S
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [t for t in threads if t.is_alive()]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Threads of fixtures and of longer-lived loops must be gone once every scope has ended."""
    leaked = _alive_after_grace([t for t in _deferred if t.is_alive()])
    if not leaked:
        return
    lines = "\n".join(f"  {t.name} (daemon={t.daemon}), started in {_deferred[t]}" for t in leaked)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"leak check: threads still running after the session:\n{lines}")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
