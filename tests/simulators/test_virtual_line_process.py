"""``python -m simulators line --config ...`` as a controls engineer meets it: another process,
poked over Modbus by a plain client using only the published signal map."""

from __future__ import annotations

import re
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymodbus.client import ModbusTcpClient

from drivers.interfaces import GateOutcome, Verdict
from drivers.plc import signals as sig
from standards.packml import PackMLState

REPO = Path(__file__).resolve().parents[2]
READY = re.compile(r"simulated line ready: (.*) opcua=(\S+)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read(client: ModbusTcpClient, name: str) -> int:
    s = sig.signal(name)
    read = (
        client.read_input_registers if s.area is sig.Area.INPUT else client.read_holding_registers
    )
    result = read(s.address, count=s.words)
    assert not result.isError(), result
    return s.decode(result.registers)


@pytest.fixture
def line_process(tmp_path: Path) -> Iterator[dict[str, int]]:
    text = (REPO / "config" / "demo-line.toml").read_text()
    ports = {"plc": _free_port(), "printer": _free_port(), "camera": _free_port()}
    for old, new in (
        ("15020", ports["plc"]),
        ("19100", ports["printer"]),
        ("19200", ports["camera"]),
    ):
        text = text.replace(f"port = {old}", f"port = {new}")
    text = text.replace("opcua_port = 14840", f"opcua_port = {_free_port()}")
    config = tmp_path / "line.toml"
    config.write_text(text)
    log = (tmp_path / "sim.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators", "line", "--config", str(config), "--autostart"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            assert sel.select(60), f"no ready line; log: {(tmp_path / 'sim.log').read_text()}"
        banner = proc.stdout.readline()
        assert READY.search(banner), banner
        yield ports
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode == 0, (tmp_path / "sim.log").read_text()


def _until(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def test_external_modbus_client_reads_and_writes_the_virtual_line(
    line_process: dict[str, int],
) -> None:
    for device in ("printer", "camera"):
        socket.create_connection(("127.0.0.1", line_process[device]), timeout=5).close()
    client = ModbusTcpClient("127.0.0.1", port=line_process["plc"], timeout=3)
    assert client.connect()
    try:
        assert _read(client, "Map.Version") == sig.MAP_VERSION
        _until(lambda: _read(client, "Line.State") == PackMLState.EXECUTE)
        beat = _read(client, "Plc.Heartbeat")
        _until(lambda: _read(client, "Plc.Heartbeat") != beat)

        # GOOD verdicts for packs that have not reached the camera yet: they must pass the gate
        ahead = _read(client, "Stations.Printer.LastSeq") + 1
        wanted = list(range(ahead, ahead + 5))
        for seq in wanted:
            slot = sig.verdict_slot(seq)
            fields = [slot.verdict, slot.reason, slot.seq]
            _, first, _ = sig.span(fields)
            words = sig.encode_values(fields, [Verdict.GOOD, 0, seq])
            assert not client.write_registers(first, words).isError()
        _until(lambda: _read(client, "Stations.Gate.LastSeq") >= wanted[-1] + 1)

        outcomes: dict[int, int] = {}
        index = _read(client, "GateEvents.WriteIndex")
        for i in range(max(0, index - sig.EVENT_SLOTS), index):
            slot = sig.event_slot(i)
            outcomes[_read(client, slot.seq.name)] = _read(client, slot.outcome.name)
        for seq in wanted:
            assert outcomes[seq] == GateOutcome.PASSED, (seq, outcomes.get(seq))
        # and a pack without a verdict was rejected, fail-safe
        assert outcomes[wanted[-1] + 1] != GateOutcome.PASSED
        assert _read(client, "Counters.Passed") >= len(wanted)
    finally:
        client.close()
