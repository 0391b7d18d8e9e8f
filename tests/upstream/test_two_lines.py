"""DW5: two lines sharing one central simulator never receive the same serial, across a restart."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from linectl.upstream.pool_client import PoolManagerClient
from linectl.upstream.provisioning import SerialProvisioner
from simulators.central import CentralSimulator, CollectionSpec
from tests.simulators.central.harness import GTIN_ITEMS, central_config
from tests.upstream.sinks import MemorySink

PER_REFILL = 1_200


async def test_two_lines_never_get_the_same_serial_even_after_a_restart(
    tmp_path: Path, standards: Path
) -> None:
    # the smallest serial space the EU rule allows for this capacity (9e7 = 10,000 x 9,000)
    small = CollectionSpec(
        id="SMALL", kind="sgtin", gtin=GTIN_ITEMS, serial_length=8, capacity=9_000
    )
    config = central_config(
        tmp_path, standards, collections=(small,), max_sn_requestable=500, page_size=150
    )
    sinks = {"line-1": MemorySink(), "line-2": MemorySink()}
    issued_per_run = []
    for run in range(2):
        # the same seed both times: after the restart the simulator draws the very same
        # candidates again, so only its persistent pool stands between them and the lines
        async with CentralSimulator(config, admin=False, serial_rng=random.Random(99)) as sim:
            clients = [PoolManagerClient(sim.opcua_url) for _ in sinks]
            provisioners = [
                SerialProvisioner(client, sink, batch=f"{line}-run{run}", gtin=GTIN_ITEMS)
                for client, (line, sink) in zip(clients, sinks.items(), strict=True)
            ]
            try:
                async with asyncio.timeout(60):
                    got = await asyncio.gather(*(p.refill(PER_REFILL) for p in provisioners))
            finally:
                for client in clients:
                    await client.close()
            assert got == [PER_REFILL, PER_REFILL]
            assert sim.pool is not None
            issued_per_run.append(sim.pool.issued("SMALL"))
    line_1, line_2 = sinks["line-1"].serials, sinks["line-2"].serials
    assert len(line_1) == len(line_2) == 2 * PER_REFILL
    everything = line_1 + line_2
    assert len(set(everything)) == len(everything) == 4 * PER_REFILL
    assert sorted(everything) == sorted(issued_per_run[-1])  # the pool knows every one of them
    assert len(issued_per_run[0]) == 2 * PER_REFILL
