"""sd_notify to a real AF_UNIX datagram socket standing in for the service manager."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from linectl.service.systemd import Notifier, notify_address, watchdog_interval


class Manager:
    """The service manager's end: a bound datagram socket we read notifications from."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.setblocking(False)

    async def receive(self) -> str:
        async with asyncio.timeout(5):
            data = await asyncio.get_running_loop().sock_recv(self.sock, 4096)
        return data.decode()


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[Manager, str]]:
    path = tmp_path / "notify.sock"
    m = Manager(str(path))
    yield m, str(path)
    m.sock.close()


@pytest.fixture
async def notifier_factory() -> AsyncIterator[list[Notifier]]:
    made: list[Notifier] = []
    yield made
    for n in made:
        await n.close()


def make(made: list[Notifier], **env: str) -> Notifier:
    n = Notifier(env)
    made.append(n)
    return n


async def test_ready_and_status_go_in_one_datagram(
    manager: tuple[Manager, str], notifier_factory: list[Notifier]
) -> None:
    m, path = manager
    n = make(notifier_factory, NOTIFY_SOCKET=path)
    assert n.enabled
    assert n.ready("recovered 3 serials; line Idle")
    assert await m.receive() == "READY=1\nSTATUS=recovered 3 serials; line Idle"


async def test_status_stopping_and_extend_timeout(
    manager: tuple[Manager, str], notifier_factory: list[Notifier]
) -> None:
    m, path = manager
    n = make(notifier_factory, NOTIFY_SOCKET=path)
    n.status("Execute: 1,204 good\n3 rejected")
    assert await m.receive() == "STATUS=Execute: 1,204 good 3 rejected"  # one line only
    n.extend_timeout(90)
    assert await m.receive() == "EXTEND_TIMEOUT_USEC=90000000"
    n.stopping("finishing in-flight packs")
    assert await m.receive() == "STOPPING=1\nSTATUS=finishing in-flight packs"


async def test_an_abstract_namespace_socket_is_reached_through_at_sign(
    notifier_factory: list[Notifier],
) -> None:
    name = f"linectl-test-{os.getpid()}-{id(notifier_factory)}"
    m = Manager("\0" + name)
    try:
        n = make(notifier_factory, NOTIFY_SOCKET="@" + name)
        assert n.ready()
        assert await m.receive() == "READY=1"
    finally:
        m.sock.close()


def test_abstract_and_path_addresses_are_told_apart() -> None:
    assert notify_address("@sd-notify") == "\0sd-notify"
    assert notify_address("/run/systemd/notify") == "/run/systemd/notify"
    assert notify_address("") is None
    assert notify_address(None) is None
    assert notify_address("relative/notify") is None


async def test_outside_systemd_everything_is_a_quiet_no_op(
    notifier_factory: list[Notifier],
) -> None:
    n = make(notifier_factory)  # empty environment
    assert not n.enabled
    assert n.watchdog_interval is None
    assert not n.ready("x")
    assert not n.watchdog()
    assert not n.start_watchdog()


async def test_an_absent_listener_is_not_an_exception(
    tmp_path: Path, notifier_factory: list[Notifier]
) -> None:
    n = make(notifier_factory, NOTIFY_SOCKET=str(tmp_path / "nobody-here.sock"))
    assert n.enabled
    assert not n.ready()
    assert not n.status("still not")


async def test_the_watchdog_is_fed_at_half_the_watchdog_interval(
    manager: tuple[Manager, str], notifier_factory: list[Notifier]
) -> None:
    m, path = manager
    n = make(notifier_factory, NOTIFY_SOCKET=path, WATCHDOG_USEC="20000")
    assert n.watchdog_interval == pytest.approx(0.01)
    assert n.start_watchdog()
    assert not n.start_watchdog()  # one feeder only
    for _ in range(3):
        assert await m.receive() == "WATCHDOG=1"
    await n.close()
    await n.close()
    assert not n.watchdog()


async def test_an_unhealthy_daemon_is_not_vouched_for(
    manager: tuple[Manager, str], notifier_factory: list[Notifier]
) -> None:
    m, path = manager
    checks: list[int] = []

    def healthy() -> bool:
        checks.append(1)
        return len(checks) >= 3

    n = make(notifier_factory, NOTIFY_SOCKET=path, WATCHDOG_USEC="2000")
    n.start_watchdog(healthy)
    assert await m.receive() == "WATCHDOG=1"
    assert len(checks) >= 3


def test_a_watchdog_meant_for_another_process_is_ignored() -> None:
    env = {"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert watchdog_interval(env) is None
    env["WATCHDOG_PID"] = str(os.getpid())
    assert watchdog_interval(env) == 10.0


@pytest.mark.parametrize("value", ["", "0", "-5", "soon"])
def test_no_usable_watchdog_usec_means_no_watchdog(value: str) -> None:
    assert watchdog_interval({"WATCHDOG_USEC": value}) is None


async def test_without_a_notify_socket_the_watchdog_never_starts(
    notifier_factory: list[Notifier],
) -> None:
    n = make(notifier_factory, WATCHDOG_USEC="20000")
    assert n.watchdog_interval is None
    assert not n.start_watchdog()
