"""Fault suite, a ledger edited behind linectl's back: rows whose seals fail are never used.

The attack reproduced: Commissioned serials set back to Allocated with plain SQL were printed a
second time. Now the take for encoding skips them (checking only the rows it takes), and the
daemon does not start on a ledger that fails ``audit verify`` unless an admin acknowledged
exactly its findings. A line run on such a ledger (with an EPCIS upstream) keeps every other
invariant of issue 15; ``audit verify`` alone fails, naming the edit it was given.
"""

from __future__ import annotations

import asyncio
import select
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from linectl.ledger import Ledger, SerialState, UnitResult, ValidationError, Verdict, seal_guard
from linectl.ledger.seal_guard import IntegrityRefused
from linectl.line.control import Command
from standards.packml import PackMLState
from tests.e2e.ground_truth import check_ground_truth, serial_of
from tests.e2e.rig import BATCH, line_rig
from tests.faults.processes import REPO, contacted, line_config, linectl, silent_devices
from tests.ledger.conftest import new_batch
from tests.people import People

S = SerialState


def set_back_to_allocated(path: Path, serials: list[str]) -> None:
    """What a person with the sqlite3 shell did: Commissioned -> Allocated, seal left alone."""
    conn = sqlite3.connect(path)
    conn.executemany(
        "UPDATE serials SET state = ? WHERE serial = ?", [(int(S.ALLOCATED), s) for s in serials]
    )
    conn.commit()
    conn.close()


def commission(ledger: Ledger, batch: str, n: int) -> list[str]:
    taken = ledger.take_for_encoding(batch, n)
    ledger.record_units([UnitResult(s, seq=i, verdict=Verdict.GOOD) for i, s in enumerate(taken)])
    return taken


def tampered_ledger(tmp_path: Path, pool: int = 20, edited: int = 3) -> tuple[Path, list[str]]:
    path = tmp_path / "line.db"
    with Ledger(path) as ledger:
        new_batch(ledger, "B1", n=pool)
        printed = commission(ledger, "B1", edited)
    set_back_to_allocated(path, printed)
    return path, printed


def test_serials_edited_back_to_allocated_are_never_taken_for_encoding(tmp_path: Path) -> None:
    path, printed = tampered_ledger(tmp_path, pool=20, edited=3)
    with Ledger(path) as ledger:
        assert ledger.state_counts("B1")[S.ALLOCATED] == 20  # what the edit claims

        taken = ledger.take_for_encoding("B1", 10) + ledger.take_for_encoding("B1", 10)

        assert not set(taken) & set(printed)
        assert len(taken) == 17 and len(set(taken)) == 17  # every other serial, once
        assert ledger.take_for_encoding("B1", 5) == []  # the edited rows stay refused
        assert ledger.state_counts("B1")[S.ALLOCATED] == 3
        assert not ledger.verify_audit().ok  # still visible: never resealed


def test_the_take_checks_the_seals_of_the_rows_it_takes_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Ledger(tmp_path / "line.db") as ledger:
        new_batch(ledger, "B1", n=5000)
        checked: list[int] = []
        real = seal_guard.serial_seal

        def counting(row_id: int, *args: object) -> str:
            checked.append(row_id)
            return real(row_id, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(seal_guard, "serial_seal", counting)

        assert len(ledger.take_for_encoding("B1", 16)) == 16
        assert len(checked) == 16  # not the 5,000-row table


def test_the_start_check_refuses_a_tampered_ledger_until_an_admin_acknowledges_it(
    tmp_path: Path,
) -> None:
    path, _ = tampered_ledger(tmp_path)
    with Ledger(path) as ledger:
        with pytest.raises(IntegrityRefused) as refused:
            ledger.integrity.require_for_start()
        message = str(refused.value)
        assert f"ledger {path} fails its integrity check, so the line does not start" in message
        assert "'linectl audit acknowledge --reason TEXT'" in message
        with pytest.raises(ValidationError, match="reason"):
            ledger.integrity.acknowledge("admin.eva", "  ")

        report = ledger.integrity.acknowledge("admin.eva", "edit by the validation team, CAPA-7")

        ack = ledger.integrity.require_for_start()
        assert ack is not None and ack.actor == "admin.eva"
        assert ack.problems == report.problems and ack.reason.endswith("CAPA-7")
        entry = ledger.audit_entries(after_id=0, limit=1000)[-1]
        assert (entry.command, entry.actor) == ("ledger.acknowledge", "admin.eva")

    with Ledger(path) as ledger:
        new = commission(ledger, "B1", 1)
    set_back_to_allocated(path, new)  # a new edit: the acknowledgement does not cover it
    with Ledger(path) as ledger, pytest.raises(IntegrityRefused, match="covers other findings"):
        ledger.integrity.require_for_start()


def test_linectl_run_does_not_start_on_a_tampered_ledger_and_starts_once_acknowledged(
    tmp_path: Path,
) -> None:
    path, _ = tampered_ledger(tmp_path)
    with silent_devices() as socks:
        config = line_config(tmp_path, path, [s.getsockname()[1] for s in socks])

        refused = linectl("run", "--config", str(config))

        assert refused.returncode == 2
        assert "fails its integrity check, so the line does not start" in refused.stderr
        assert "serials" in refused.stderr and "Traceback" not in refused.stderr
        assert not any(contacted(s) for s in socks)

        people = People(path)
        people.log_in("sam", "supervisor")
        refused = linectl("--ledger", str(path), "audit", "acknowledge", "--reason", "CAPA-7")
        assert refused.returncode != 0 and "audit.acknowledge" in refused.stderr
        people.session("admin")  # only an admin may accept findings, and signs for it
        done = linectl(
            "--ledger", str(path), "--password-stdin", "audit", "acknowledge", "--reason",
            "CAPA-7", stdin=people.passwords["admin"] + "\n",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "acknowledged by admin" in done.stdout
        assert "signed by Ada Admin (admin)" in done.stdout

        cmd = [sys.executable, "-m", "linectl.cli", "run", "--config", str(config)]
        with subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.PIPE, text=True) as proc:
            try:
                ready, _, _ = select.select(socks, [], [], 60)  # the daemon goes on to the devices
                assert ready, "the daemon never tried its devices after the acknowledgement"
            finally:
                proc.kill()
                _, err = proc.communicate()
        assert "starting on findings acknowledged by admin" in err


@pytest.mark.e2e
async def test_the_line_never_prints_a_serial_edited_back_to_allocated(tmp_path: Path) -> None:
    printed_before: list[str] = []

    async def commission_then_edit(ledger: Ledger, *_: object) -> None:
        await asyncio.to_thread(ledger.start_work_order, BATCH, actor="tester")
        printed_before.extend(await asyncio.to_thread(commission, ledger, BATCH, 5))
        await asyncio.to_thread(set_back_to_allocated, Path(ledger.path), printed_before)

    async with line_rig(
        tmp_path, packs=30, pool=60, prepare=commission_then_edit, upstream=True
    ) as rig:
        await rig.rt.command(Command.START, user="alice")
        await rig.wait_state(PackMLState.COMPLETE)
        await rig.rt.line_end_done()

        assert check_ground_truth(rig)["good"] == 30
        printed = [serial_of(r.data) for r in rig.printer.engine.log]
        assert printed and not set(printed) & set(printed_before)
        report = await rig.invariants()  # all but the audit: the edit is still in the ledger
        assert report.problems() == [f"audit verify fails: {report.audit}"], report.problems()
        assert report.upstream is not None and report.upstream.stored > 0
