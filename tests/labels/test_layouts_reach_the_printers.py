"""The configuration's layouts and WSI letters reach the drivers the line opens: a ZPL printer
sends formats in the line's layouts, and a WSI printer speaks the configured command letters
(the simulated line's WSI printer, built from the same configuration, understands them)."""

from __future__ import annotations

import asyncio
from typing import Any

from drivers.interfaces import LogisticLabel, PrintJob
from drivers.wsi.client import WsiPrinter
from drivers.zpl.client import ZplPrinter
from linectl.config import parse_config
from linectl.line.devices import open_devices
from simulators.printer_wsi import WsiPrinterSimulator
from simulators.virtual_line import build_line
from tests.labels.lines import BASE_CONFIG

GS = "\x1d"
JOB = PrintJob(1, "0109506000134352" + "17281130" + "10L1" + GS + "21SN1", ("PC", "SN", "LOT"))
CASE = LogisticLabel("095060000000047110", "case", "09506000134352", "L1", "281130", 24)


def line(printer: dict[str, Any], **extra: Any) -> dict[str, Any]:
    devices = {
        "plc": {"kind": "plc", "protocol": "modbus", "host": "127.0.0.1", "port": 9},
        "printer": {"kind": "printer", "host": "127.0.0.1", "port": 9} | printer,
        "camera": {"kind": "camera", "protocol": "framepush", "host": "127.0.0.1", "port": 9},
    }
    return BASE_CONFIG | {"devices": devices} | extra


def test_a_zpl_printer_lays_out_its_labels_as_the_line_configures() -> None:
    change = {"unit": {"fields": {"text": {"x": 300}}}, "case": {"fields": {"sscc": {"x": 120}}}}
    config = parse_config(line({"protocol": "zpl"}, labels=change))
    printer = open_devices(config).printer
    assert isinstance(printer, ZplPrinter)
    assert printer.layouts == config.label_layouts()
    unit = printer.layouts.for_job(JOB)
    assert [(f.name, f.x) for f in unit.fields] == [("code", 24), ("text", 300)]
    case = {f.name: f for f in printer.layouts.for_label(CASE).fields}
    assert case["sscc"].x == 120


async def test_a_wsi_printer_speaks_the_configured_letters_and_its_simulator_too() -> None:
    options = {"commands": {"print_on": "Q1", "print_off": "Q0"}, "code_field": "DM"}
    data = line({"protocol": "wsi", "options": options}, simulation={"seed": 1})
    config = parse_config(data)
    simulated = build_line(data, ports_from_config=False)
    sim = simulated.devices["printer"]
    assert isinstance(sim, WsiPrinterSimulator)
    assert (sim.commands.print_on, sim.commands.print_off, sim.code_field) == ("Q1", "Q0", "DM")
    port = await sim.start()
    section = config.devices["printer"].model_copy(update={"port": port})
    config = config.model_copy(update={"devices": config.devices | {"printer": section}})
    printer = open_devices(config).printer
    assert isinstance(printer, WsiPrinter) and printer.commands.print_on == "Q1"
    try:
        async with asyncio.timeout(5):
            await printer.connect()
            await printer.set_printing(False)
            await printer.load(JOB)
            await sim.line.tick()
            assert await printer.print_count() == 0  # Q0 understood: nothing marked
            await printer.set_printing(True)
            await sim.line.tick()
            assert await printer.print_count() == 1
        assert sim.fields["DM"] == JOB.data  # the code went into the configured field
    finally:
        await printer.close()
        await sim.close()
