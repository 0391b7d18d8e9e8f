"""Two lines (two ``linectl run`` daemons) provisioned from one central simulator never share a
serial: each fills its pool over OPC UA from the same collection, and the sets are disjoint."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
from pathlib import Path

import pytest

from harness.processes import control_client
from simulators.central import CentralSimulator, CollectionSpec
from tests.e2e.rig import GTIN, line_rig
from tests.e2e.test_upstream_offline import (
    COLLECTION,
    GUARD_S,
    REFILL,
    REPO,
    _new_batch,
    _until,
    line_config,
)
from tests.people import machine_token
from tests.simulators.central.harness import central_config

pytestmark = pytest.mark.e2e


def _serials(ledger: Path) -> set[str]:
    conn = sqlite3.connect(ledger)
    try:
        return {r[0] for r in conn.execute("SELECT serial FROM serials WHERE gtin = ?", (GTIN,))}
    finally:
        conn.close()


async def test_two_daemons_sharing_one_pool_manager_never_receive_the_same_serial(
    tmp_path: Path, standards: Path
) -> None:
    spec = CollectionSpec(id=COLLECTION, kind="sgtin", gtin=GTIN, company_prefix_length=7)
    (tmp_path / "central").mkdir()
    central = central_config(tmp_path / "central", standards, collections=(spec,), page_size=100)
    sim = CentralSimulator(central, admin=False)
    await sim.start()
    procs: list[asyncio.subprocess.Process] = []
    try:
        async with contextlib.AsyncExitStack() as stack:
            ledgers = []
            for name in ("line-a", "line-b"):
                tmp = tmp_path / name
                tmp.mkdir()
                rig = await stack.enter_async_context(
                    line_rig(tmp, packs=10, pool=1, packs_per_minute=600, daemon=False)
                )
                await asyncio.to_thread(_new_batch, rig.ledger)
                config = tmp / "line.toml"
                config.write_text(
                    line_config(tmp, rig.plc.modbus_port, rig.printer.port, rig.camera.port, sim)
                )
                log = stack.enter_context((tmp / "daemon.log").open("wb"))
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "linectl.cli", "run", "--config",
                    str(config), "--batch", "B-UPSTREAM-1",
                    cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=log,
                )  # fmt: skip
                procs.append(proc)
                ledgers.append((proc, config, rig.ledger.path))
            for proc, config, path in ledgers:
                token = config.parent / "mes.token"
                await asyncio.to_thread(machine_token, path, "mes", token)
                assert proc.stdout is not None
                async with asyncio.timeout(GUARD_S):
                    assert (await proc.stdout.readline()).startswith(b"linectl ready:")
                client = control_client(config, token)
                await _until(client, lambda s: (s["pool"]["available"] or 0) >= REFILL, "pool")
            assert sim.pool is not None
            issued = set(sim.pool.issued(COLLECTION))
            # (the rig seeds each ledger with one serial of its own; only the pool's count here)
            a, b = (_serials(path) & issued for _, _, path in ledgers)
            assert len(a) == REFILL and len(b) == REFILL
            assert not a & b, f"{len(a & b)} serials went to both lines"
            assert a | b == issued
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                with contextlib.suppress(ProcessLookupError):
                    await proc.wait()
        await sim.close()
