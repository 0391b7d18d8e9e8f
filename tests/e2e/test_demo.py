"""``make demo`` works: the demo's own machinery on a small batch, subprocesses and all.

The simulated line and the daemon run as subprocesses over real sockets, exactly as in
``make demo``; only the batch is smaller (``LINECTL_DEMO_TEST_PACKS``, default 200) and the
defect rate higher, so every kind of defect shows up in it. The line packs cases and pallets:
``linectl contents`` of the first pallet must list exactly the serials the simulated case packer
put on it. One run serves both tests: what the demo found, and what it left on disk (no secret in
clear, the accounts each step ran as).
"""

from __future__ import annotations

import io
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.demo import DEMO_DEFECTS, DemoOptions, DemoResult, run_demo
from linectl.ledger import Ledger

pytestmark = pytest.mark.e2e

PACKS = int(os.environ.get("LINECTL_DEMO_TEST_PACKS", "200"))
PRINT_DEFECTS = ("no-print", "wrong-content", "duplicate")


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains ``text`` (the demo's children name their work dir)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            pids.append(int(entry.name))
    return pids


@dataclass(frozen=True)
class DemoRun:
    options: DemoOptions
    result: DemoResult
    text: str  # what the demo printed


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One run of the demo, read by both tests: what it found, and what it left on disk."""
    workdir = tmp_path_factory.mktemp("demo-run") / "demo"
    options = DemoOptions(
        packs=PACKS, packs_per_minute=2000.0, defect_rate=0.03, workdir=workdir, progress=False
    )
    out = io.StringIO()
    result = run_demo(options, out)
    return DemoRun(options, result, out.getvalue())


def test_the_demo_balances_and_its_ground_truth_agrees_pack_by_pack(demo: DemoRun) -> None:
    options, result, text = demo.options, demo.result, demo.text
    workdir = options.workdir
    assert result.ok, text
    assert result.resolver is not None and result.resolver.ok, text  # scan to verify, three links
    assert text.count("/verify/01/") == 3 and "resolver: OK" in text, text
    rec = result.reconciliation
    assert rec["balanced"] and rec["status"] == "closed" and rec["in_process"] == 0, text
    assert rec["received"] == options.pool == rec["accounted"]
    truth = result.truth
    assert truth.packs == PACKS and truth.units_without_print == 0, text
    assert not truth.false_accepts and not truth.mismatches and not truth.wrong_reasons, text
    assert set(truth.injected) == set(DEMO_DEFECTS), text  # every kind occurred
    for defect in PRINT_DEFECTS:
        assert truth.rejected_as_expected[defect] == truth.injected[defect], (defect, text)
    assert rec["commissioned"] == truth.clean_passed + sum(truth.readable_passed.values())
    # a clean pack may only be rejected as late (the fail-safe under CPU load), and rarely
    assert all(f.reason == "late" for f in truth.false_rejects), text
    assert len(truth.false_rejects) <= max(2, PACKS // 100), text
    assert result.reject_reasons.get("no-print") == truth.injected["no-print"]

    # aggregation: every good unit in a case, cases on pallets, the first pallet as simulated
    packing = result.packing
    case_size, pallet_size = 12, 10  # config/demo-line.toml
    cases = -(-rec["commissioned"] // case_size)
    assert packing["cases"] == cases and packing["pallets"] == -(-cases // pallet_size), text
    assert packing["orphans"] == 0 and not packing["diverted"] and not packing["awaiting_label"]
    listed = rec["containers"]
    assert sum(c["units"] for c in listed if c["level"] == "case") == rec["commissioned"]
    assert all(c["state"] == "closed" for c in listed), text
    check = result.pallet_check
    assert check is not None and check.ok, text
    first = check.pallet
    assert first.number == 1 and len(first.cases) == min(cases, pallet_size)
    assert check.listed == first.serials and len(first.serials) == len(first.codes)
    assert check.line() in text and f"linectl contents {first.sscc}" in text

    assert truth.summary() in text and "reconciliation: balanced" in text
    assert "demo: OK" in text and (workdir / "prints.jsonl").exists()
    assert not processes_mentioning(str(workdir)), "the demo left a subprocess running"


# the secrets' own 0600 files
OWN_FILES = ("demo.token", "demo-admin.password", "audit.key", "hmi.token")
# every session or API token linectl makes starts so (linectl.identity.principal)
TOKEN_LIKE = re.compile(rb"lc[st]_[A-Za-z0-9_-]{16,}")
# what must be searched: the ledger, every process's log, the configuration files
MUST_SEARCH = {"ledger.db", "daemon.log", "simulators.log", "hmi.log", "line.toml"}


def test_the_demo_runs_as_its_accounts_and_leaves_no_secret_in_clear(demo: DemoRun) -> None:
    result, text, workdir = demo.result, demo.text, demo.options.workdir
    assert result.ok, text
    # the one-time secret, the admin's password and the machine account's API token; the HMI's
    # token and its viewer's two passwords
    assert len(result.secrets) == 6 and all(len(s) >= 16 for s in result.secrets)
    searched: set[str] = set()
    for path in workdir.rglob("*"):
        if path.is_dir() or path.name in OWN_FILES:
            continue
        name = path.relative_to(workdir).as_posix()
        data = path.read_bytes()
        searched.add(name)
        for secret in result.secrets:
            assert secret.encode() not in data, f"a secret in clear in {name}"
        if not name.startswith("sessions/"):  # a login's own 0600 session file holds its token
            leaked = TOKEN_LIKE.findall(data)
            assert not leaked, f"a session or API token in clear in {name}: {leaked[0][:8]!r}..."
    assert searched >= MUST_SEARCH, f"not searched: {MUST_SEARCH - searched}"
    # the logs recorded the run (a secret logged on the way would be in them)
    assert "command accepted" in (workdir / "daemon.log").read_text(encoding="utf-8")
    # what the demo printed: only the HMI viewer's password, shown on purpose to the person
    shown = re.findall(r"log in as \S+ with the one-time password (\S+)", text)
    assert len(shown) == 1 and shown[0] in result.secrets, text
    for secret in result.secrets:
        assert secret == shown[0] or secret not in text, "a secret in what the demo printed"
    assert not TOKEN_LIKE.findall(text.encode()), "a token in what the demo printed"
    for name in OWN_FILES:
        assert stat.S_IMODE((workdir / name).stat().st_mode) == 0o600
    for path in (workdir / "sessions").glob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with Ledger(workdir / "ledger.db") as ledger:
        entries = ledger.audit_entries(limit=1_000_000)
        with ledger.identity.read() as rows:
            users = {u.name: u for u in rows.users()}
    assert users["demo-admin"].password_hash.startswith("$argon2id$")
    assert users["demo"].role == "machine" and users["demo"].password_hash is None
    by = {(e.command, e.actor) for e in entries}
    assert ("user.add", "demo-admin") in by and ("login", "demo-admin") in by
    assert ("work_order.create", "demo") in by  # through the CLI, with the API token
    commands = [e for e in entries if e.command == "line.command" and '"start"' in e.before]
    assert commands and {e.actor for e in commands} == {"demo"}  # through the control API
