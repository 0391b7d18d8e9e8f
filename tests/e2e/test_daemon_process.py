"""``linectl run`` as a real process against the simulators: control API, SIGTERM, SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path

import pytest

from drivers.interfaces import GateOutcome
from linectl.config import ControlSection
from linectl.ledger import SerialState
from linectl.line.control import Command
from linectl.line.devices import connect_all, open_devices
from linectl.line.runtime import LineRuntime
from linectl.service.client import ControlClient, Endpoint
from standards.packml import PackMLState
from tests.e2e.ground_truth import check_ground_truth, serial_of
from tests.e2e.rig import BATCH, line_rig
from tests.e2e.rig_upstream import epcis_toml
from tests.people import People

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def config_text(tmp: Path, plc: int, printer: int, camera: int) -> str:
    return f"""
[line]
id = "process-line"
read_point = "urn:epc:id:sgln:0950600.01343.1"
biz_location = "urn:epc:id:sgln:0950600.01343.0"
company_prefix_length = 7

[ledger]
path = "{tmp / "ledger.db"}"

[thresholds]
verdict_deadline_ms = 100

[devices.plc]
kind = "plc"
protocol = "modbus"
host = "127.0.0.1"
port = {plc}

[devices.zebra]
kind = "printer"
protocol = "zpl"
host = "127.0.0.1"
port = {printer}

[devices.cam]
kind = "camera"
protocol = "framepush"
host = "127.0.0.1"
port = {camera}

[control]
unix_socket = "{tmp / "control.sock"}"
"""


async def test_the_daemon_runs_a_batch_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    async with line_rig(tmp_path, packs=80, pool=120, daemon=False, upstream=True) as rig:
        assert rig.central is not None
        config = tmp_path / "line.toml"
        config.write_text(
            config_text(tmp_path, rig.plc.modbus_port, rig.printer.port, rig.camera.port)
            + epcis_toml(rig.central.epcis_url)
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "linectl.cli", "run", "--config",
            str(config), "--batch", BATCH, "--start", "--log-level", "WARNING",
            cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            async with asyncio.timeout(30):
                line = (await proc.stdout.readline()).decode()
            assert line.startswith("linectl ready: api=unix:"), line
            assert f"batch={BATCH}" in line
            await rig.wait_state(PackMLState.COMPLETE)

            section = ControlSection(unix_socket=tmp_path / "control.sock")
            people = People(rig.ledger.path)
            await asyncio.to_thread(people.add, "bob", "operator", "Bob Operator")
            token = await asyncio.to_thread(people.session, "bob")
            client = ControlClient(Endpoint.from_config(section), token)
            status = await asyncio.to_thread(client.status)
            assert status["batch"]["batch"] == BATCH
            assert status["counters"]["packs_gated"] == 80

            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                code = await proc.wait()
            assert code == 0, (await proc.stderr.read()).decode() if proc.stderr else ""
        finally:
            if proc.returncode is None:
                proc.kill()
                with contextlib.suppress(ProcessLookupError):
                    await proc.wait()

        counts = check_ground_truth(rig)
        assert counts["packs"] == 80 and counts["good"] >= 75
        states = await asyncio.to_thread(rig.ledger.state_counts, BATCH)
        assert SerialState.ENCODED not in states
        rec = await asyncio.to_thread(rig.ledger.reconcile, BATCH)
        assert rec.balanced and rec.commissioned == counts["good"]
        report = await asyncio.to_thread(rig.ledger.verify_audit)
        assert report.ok, str(report)
        await rig.check_invariants()


async def test_after_a_sigkill_recovery_commissions_the_packs_the_gate_passed_meanwhile(
    tmp_path: Path,
) -> None:
    async with line_rig(
        tmp_path, packs=120, pool=180, daemon=False, plc_watchdog_ms=400, upstream=True
    ) as rig:
        assert rig.central is not None
        config = tmp_path / "line.toml"
        config.write_text(  # the daemon sends its events upstream until it is killed
            config_text(tmp_path, rig.plc.modbus_port, rig.printer.port, rig.camera.port)
            + epcis_toml(rig.central.epcis_url)
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "linectl.cli", "run", "--config",
            str(config), "--batch", BATCH, "--start", "--log-level", "WARNING",
            cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            async with asyncio.timeout(30):
                await proc.stdout.readline()
            await rig.wait(lambda: len(rig.plc.events) >= 60)
            proc.kill()
            await proc.wait()
            killed_at = len(rig.plc.events)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await rig.wait(lambda: rig.plc.state is PackMLState.HELD)  # the PLC's watchdog
        went_by = [e for e in rig.plc.events[killed_at:] if e.outcome is GateOutcome.PASSED]
        assert went_by, "no pack passed the gate between the kill and the watchdog"

        devices = open_devices(rig.config)
        await connect_all(devices)
        runtime = LineRuntime(rig.config, rig.ledger, devices)
        rig.runtime, rig.devices = runtime, devices
        try:
            await runtime.start()
            report = runtime.recovery
            assert report is not None and report.gate_reports > 0
            assert report.committed[BATCH] >= len(went_by)
            states = rig.serial_states()
            for event in rig.plc.events:
                serial = serial_of(rig.line.history[event.seq].printed)
                if event.outcome is GateOutcome.PASSED:
                    assert states[serial] == SerialState.COMMISSIONED, event.seq
            assert SerialState.ENCODED not in set(states.values())
            view = rig.operator_view()  # held: status and log say why and what to do
            assert view.ok and not view.resumed, view
            await runtime.command(Command.UNHOLD, user="bob", reason="after the crash")
            await rig.wait_state(PackMLState.COMPLETE)
            await runtime.line_end_done()

            def judged() -> bool:  # the last gate reports are polled and committed in groups
                passed = {e.seq for e in rig.plc.events if e.outcome is GateOutcome.PASSED}
                return passed <= set(rig.units())

            await rig.wait(judged)
            counts = check_ground_truth(rig)
            assert counts["packs"] == 120
        finally:
            await runtime.shutdown()
        await rig.check_invariants()
