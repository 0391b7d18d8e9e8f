"""The PLC simulator run alone (``python -m simulators.plc``), poked by external Modbus clients.

A plain pymodbus sync client (and mbpoll, when installed) reads and writes registers by the
published map only, as a controls engineer's tool would. The simulator is another process, so the
test polls it (bounded by deadlines) instead of awaiting its events.
"""

from __future__ import annotations

import re
import selectors
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pymodbus.client import ModbusTcpClient

from drivers.interfaces import GateOutcome, Verdict
from drivers.plc import signals as sig
from standards.packml import PackMLCommand, PackMLState

REPO_ROOT = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"PLC simulator listening: modbus=([\d.]+):(\d+) opcua=(\S+)")


@dataclass
class Standalone:
    modbus_port: int
    opcua_url: str
    banner: str


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[Standalone]:
    log = (tmp_path / "plc-sim.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulators.plc",
            "--modbus-port",
            "0",
            "--opcua-port",
            "0",
            "--speed",
            "600",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = _read_line(proc.stdout, timeout=30.0)
        found = LISTENING.search(banner)
        assert found, (
            f"unexpected first line {banner!r}; log: {(tmp_path / 'plc-sim.log').read_text()}"
        )
        yield Standalone(int(found.group(2)), found.group(3), banner)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode == 0, (tmp_path / "plc-sim.log").read_text()


def _read_line(stream: object, timeout: float) -> str:
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)  # type: ignore[arg-type]
        if not sel.select(timeout):
            raise AssertionError(f"the simulator printed nothing within {timeout} s")
    return stream.readline()  # type: ignore[attr-defined, no-any-return]


def _until(what: str, check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.02)


class MapClient:
    """A plain pymodbus client that knows nothing but the published register map."""

    def __init__(self, port: int) -> None:
        self.client = ModbusTcpClient("127.0.0.1", port=port, timeout=2)
        assert self.client.connect()

    def read(self, *signals: sig.Signal) -> list[int]:
        area, address, count = sig.span(signals)
        if area is sig.Area.INPUT:
            reply = self.client.read_input_registers(address, count=count, device_id=1)
        else:
            reply = self.client.read_holding_registers(address, count=count, device_id=1)
        assert not reply.isError(), reply
        return sig.decode_values(signals, reply.registers)

    def write(self, signals: tuple[sig.Signal, ...], values: tuple[int, ...]) -> None:
        _, address, _ = sig.span(signals)
        reply = self.client.write_registers(
            address, sig.encode_values(signals, values), device_id=1
        )
        assert not reply.isError(), reply

    def command(self, command: PackMLCommand) -> None:
        (counter,) = self.read(sig.COMMAND_COUNTER)
        self.write((sig.LINE_COMMAND, sig.COMMAND_COUNTER), (int(command), counter + 1))
        _until(f"ack of {command.name}", lambda: self.read(sig.COMMAND_ACK)[0] == counter + 1)
        assert self.read(sig.COMMAND_RESULT) == [sig.CommandResult.ACCEPTED]

    def events(self) -> dict[int, int]:
        values = dict(zip(sig.EVENT_BLOCK, self.read(*sig.EVENT_BLOCK), strict=True))
        index = values[sig.EVENT_WRITE_INDEX]
        return {
            values[sig.event_slot(i).seq]: values[sig.event_slot(i).outcome]
            for i in range(max(0, index - sig.EVENT_SLOTS), index)
        }


def test_an_external_modbus_client_reads_and_writes_per_the_map(standalone: Standalone) -> None:
    assert standalone.opcua_url.startswith("opc.tcp://127.0.0.1:")
    plc = MapClient(standalone.modbus_port)
    try:
        assert plc.read(
            sig.MAP_VERSION_SIGNAL, sig.VERDICT_SLOTS_SIGNAL, sig.EVENT_SLOTS_SIGNAL
        ) == [
            sig.MAP_VERSION,
            sig.VERDICT_SLOTS,
            sig.EVENT_SLOTS,
        ]
        (beat,) = plc.read(sig.PLC_HEARTBEAT)
        _until("PLC heartbeat changes", lambda: plc.read(sig.PLC_HEARTBEAT) != [beat])

        assert plc.read(sig.LINE_STATE) == [PackMLState.STOPPED]
        plc.command(PackMLCommand.RESET)
        _until("Idle", lambda: plc.read(sig.LINE_STATE) == [PackMLState.IDLE])
        plc.command(PackMLCommand.START)
        _until("Execute", lambda: plc.read(sig.LINE_STATE) == [PackMLState.EXECUTE])

        (printed,) = plc.read(sig.PRINTER_SEQ)
        target = printed + 2  # not on the conveyor yet: the verdict is surely in time
        slot = sig.verdict_slot(target)
        plc.write(slot.signals, (int(Verdict.GOOD), 0, target))
        assert plc.read(*slot.signals) == [Verdict.GOOD, 0, target]

        _until(f"gate event of pack {target}", lambda: target in plc.events())
        events = plc.events()
        assert events[target] == GateOutcome.PASSED
        assert events[target - 1] == GateOutcome.REJECTED_CONFIRMED  # no verdict: fail-safe
        passed, rejected = plc.read(sig.PACKS_PASSED, sig.PACKS_REJECTED)
        assert passed == 1
        assert rejected >= target - 1
    finally:
        plc.client.close()


def _mbpoll(*args: str) -> str:
    done = subprocess.run(
        ["mbpoll", "-m", "tcp", "-0", *args], capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.skipif(shutil.which("mbpoll") is None, reason="mbpoll is not installed")
def test_mbpoll_reads_and_writes_per_the_map(standalone: Standalone) -> None:
    port = str(standalone.modbus_port)
    out = _mbpoll("-p", port, "-1", "-t", "3", "-r", "0", "-c", "3", "127.0.0.1")
    assert re.findall(r"\[(\d+)\]:\s+(\d+)", out) == [("0", "1"), ("1", "64"), ("2", "40")]
    slot = sig.verdict_slot(70000)
    first = str(slot.verdict.address)
    _mbpoll("-p", port, "-t", "4", "-r", first, "127.0.0.1", "1", "3", "1", "4464")
    out = _mbpoll("-p", port, "-1", "-t", "4:int", "-B", "-r", str(slot.seq.address), "127.0.0.1")
    assert re.findall(r"\[(\d+)\]:\s+(\d+)", out) == [(str(slot.seq.address), "70000")]
