"""The RFID printer's inlay on the virtual line: seeded faults per label, forced ones, and the
``[simulation.rfid]`` rates of a line configuration."""

from __future__ import annotations

from collections import Counter

import pytest

from simulators.line import Pack
from simulators.printer_zpl import ZplPrinterSimulator
from simulators.rfid_inlay import InlayFault, InlayFaults, wrong_epc
from simulators.virtual_line import SimulatorConfigError, build_line, inlay_rates

EPC = "30364433400D1EC0000004D2"
PLC = {"plc": {"kind": "plc", "protocol": "modbus", "port": 0}}


def test_each_fault_leaves_the_inlay_and_the_read_back_it_says() -> None:
    faults = InlayFaults(
        forced={
            1: InlayFault.ENCODE_FAILURE,
            2: InlayFault.WRONG_WRITE,
            3: InlayFault.WEAK_TAG,
        }
    )
    packs = [Pack(seq) for seq in (1, 2, 3, 4)]
    got = [faults.encode(p, EPC, labelled=True) for p in packs]
    assert [(g.inlay, g.readback) for g in got] == [
        (None, ""),
        (wrong_epc(EPC), EPC),
        (EPC, EPC),
        (EPC, EPC),
    ]
    assert [p.inlay for p in packs] == [None, bytes.fromhex(wrong_epc(EPC))] + [
        bytes.fromhex(EPC)
    ] * 2
    assert [p.inlay_weak for p in packs] == [False, False, True, False]
    assert wrong_epc(EPC) != EPC and len(wrong_epc(EPC)) == len(EPC)


def test_seeded_rates_repeat_and_come_near_their_rates() -> None:
    def draws(seed: int) -> list[InlayFault | None]:
        faults = InlayFaults(seed=seed, rates={InlayFault.ENCODE_FAILURE: 0.1})
        return [faults.draw(seq) for seq in range(2000)]

    assert draws(3) == draws(3) != draws(4)
    assert 140 < Counter(draws(3))[InlayFault.ENCODE_FAILURE] < 260


def test_a_forced_fault_does_not_shift_the_seeded_ones() -> None:
    rates = {InlayFault.WEAK_TAG: 0.2}
    plain = InlayFaults(seed=1, rates=rates)
    forced = InlayFaults(seed=1, rates=rates, forced={5: InlayFault.ENCODE_FAILURE})
    a = [plain.draw(s) for s in range(50)]
    b = [forced.draw(s) for s in range(50)]
    assert b[5] is InlayFault.ENCODE_FAILURE and a[:5] + a[6:] == b[:5] + b[6:]


def test_rates_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="inlay fault rates"):
        InlayFaults(rates={InlayFault.WEAK_TAG: 1.5})


def test_the_line_configuration_gives_the_printer_its_inlay_rates() -> None:
    data = {
        "simulation": {"rfid": {"encode_failure": 0.05, "weak_tag": 0.01, "no_read_rate": 0.2}},
        "devices": PLC | {"printer": {"kind": "printer", "protocol": "zpl", "port": 0}},
    }
    built = build_line(data, ports_from_config=False)
    printer = built.devices["printer"]
    assert isinstance(printer, ZplPrinterSimulator)
    assert printer.engine.inlays.rates == {
        InlayFault.ENCODE_FAILURE: 0.05,
        InlayFault.WEAK_TAG: 0.01,
    }  # a reader's keys in the same table are left to the reader simulator


@pytest.mark.parametrize(
    ("rfid", "message"),
    [
        ({"encode_failure": 2}, "simulation.rfid.encode_failure"),
        ({"wrong_write": "often"}, "simulation.rfid.wrong_write"),
        ({"encode_failure": 0.6, "weak_tag": 0.6}, "add up to more than 1"),
    ],
)
def test_bad_inlay_rates_name_their_key(rfid: dict[str, object], message: str) -> None:
    with pytest.raises(SimulatorConfigError, match=message):
        inlay_rates({"rfid": rfid})
