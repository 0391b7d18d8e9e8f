"""The simulated line's RFID reader: an LLRP simulator reading the inlay of the pack at the camera,
with its own seeded faults from ``[simulation.rfid]``, read through the real LLRP driver."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.llrp.client import LlrpReader
from simulators.line import Pack, Station
from simulators.rfid_reader import WEAK_RSSI_DBM, RfidReaderSimulator, TagFaultRates
from simulators.virtual_line import (
    GOOD_RSSI_DBM,
    SimulatorConfigError,
    build_line,
    inlay_tags,
    reader_rates,
)
from standards.epc.binary import sgtin_epc

EPC = sgtin_epc("09506000134352", "E0000001", 7).encode()


def rfid_line(**rfid: Any) -> dict[str, Any]:
    return {
        "simulation": {"seed": 3, "rfid": rfid},
        "devices": {
            "plc": {"kind": "plc", "protocol": "modbus", "port": 0},
            "gate-antenna": {"kind": "rfid", "protocol": "llrp", "host": "127.0.0.1"},
        },
    }


def test_a_pack_carries_the_inlay_its_printer_wrote_and_a_weak_one_answers_faintly() -> None:
    assert inlay_tags(Pack(1)) == []  # no label, or an encode failure: no tag
    (good,) = inlay_tags(Pack(2, inlay=EPC))
    (weak,) = inlay_tags(Pack(2, inlay=EPC, inlay_weak=True))
    assert good.epc == weak.epc == EPC and good.tid == weak.tid
    assert (good.rssi_dbm, weak.rssi_dbm) == (GOOD_RSSI_DBM, WEAK_RSSI_DBM)


def test_the_readers_rates_come_from_its_own_keys_beside_the_printers() -> None:
    rates = reader_rates(
        {"rfid": {"reader_no_read": 0.02, "reader_duplicate": 0.01, "encode_failure": 0.5}}
    )
    assert rates == TagFaultRates(no_read=0.02, duplicate=0.01)


@pytest.mark.parametrize(
    ("rfid", "says"),
    [
        ({"reader_noread": 0.1}, "simulation.rfid.reader_noread: unknown key"),
        ({"reader_weak": 2}, "simulation.rfid.reader_weak: 2 is not in 0..1"),
        ({"reader_weak": 0.6, "reader_no_read": 0.6}, "simulation.rfid: tag fault rates"),
    ],
)
def test_bad_reader_rates_are_named(rfid: dict[str, Any], says: str) -> None:
    with pytest.raises(SimulatorConfigError, match=says):
        reader_rates({"rfid": rfid})


async def test_the_reader_reads_the_inlay_of_the_pack_at_the_camera() -> None:
    built = build_line(rfid_line(reader_no_read=0.0), ports_from_config=False)
    sim = built.devices["gate-antenna"]
    assert isinstance(sim, RfidReaderSimulator)
    line = built.line
    port = await sim.start()
    reader = LlrpReader("127.0.0.1", port, inventory_ms=5, read_timeout=1.0)
    try:
        for _ in range(line.layout.position(Station.CAMERA) + 1):
            await line.tick()
        at_camera = line.pack_at(Station.CAMERA)
        assert at_camera is not None
        at_camera.inlay = EPC
        result = await reader.read_tags(at_camera.seq)
        at_camera.inlay_weak = True
        weak = await reader.read_tags(at_camera.seq)
    finally:
        await reader.close()
        await sim.close()
    (tag,) = result.tags
    assert tag.epc == EPC.hex().upper() and tag.rssi_dbm == GOOD_RSSI_DBM and tag.tid
    assert [t.rssi_dbm for t in weak.tags] == [WEAK_RSSI_DBM]
