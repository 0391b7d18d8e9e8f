"""A whole simulated line from a line configuration: PLC, printer, camera, readers, one conveyor.

``python -m simulators line --config config/demo-line.toml`` starts every device named in the
file's ``[devices.*]`` sections on the address given there, sharing one VirtualLine that the PLC
simulator drives while the line is in Execute. ``[simulation]`` sets the speed, the seed and the
injected defect rates. The simulators read the TOML themselves: they never import the daemon.

Devices with ``options.role = "case-label"`` (a printer and a reader) label cases and pallets:
they come with a case packer at the end of the line (:mod:`simulators.case_packer`) packing
``[aggregation] case_size`` packs per case and ``pallet_size`` cases per pallet;
``[simulation] case_label_no_read`` is the reader's seeded no-read rate; ``--case-log`` writes
the packer's ground truth. A camera with ``options.role = "case-camera"`` is the case camera
(:mod:`simulators.case_camera`): a frame of each case as it closes; ``[simulation.case_faults]``
(case number = ``"missing"``, ``"duplicate"`` or ``"other-batch"``) spoils given cases, an
other-batch fault putting in ``simulation.case_foreign_code``. ``[simulation.rfid]`` holds the
seeded inlay fault rates of an RFID printer (``encode_failure``, ``wrong_write``, ``weak_tag``:
:mod:`simulators.rfid_inlay`); the ZPL printer simulator encodes whatever EPC a format asks for.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from simulators.camera import CameraSimulator
from simulators.case_camera import CaseCameraSimulator
from simulators.case_packer import CaseFault, CaseLabelPrinter, CasePacker, case_label_reader
from simulators.line import Defect, FaultPlan, LineLayout, VirtualLine
from simulators.plc import PlcSimulator
from simulators.rfid_inlay import RATE_KEYS, InlayFault

READY = "simulated line ready:"
"""How the line's ready line begins; ``name=port`` pairs follow (the PLC's under PLC_PORT)."""

PLC_PORT = "plc"
"""The ready line's name for the PLC's Modbus port, whatever the PLC device is called."""


class SimulatorConfigError(ValueError):
    """The configuration cannot drive a simulated line; names the section and key."""


class _Service(Protocol):
    async def start(self) -> int: ...
    async def close(self) -> None: ...


@dataclass
class SimulatedLine:
    """Every simulator of one line, started and stopped together."""

    line: VirtualLine
    plc: PlcSimulator
    devices: dict[str, _Service] = field(default_factory=dict)
    packer: CasePacker | None = None

    async def start(self) -> dict[str, int]:
        ports = {PLC_PORT: await self.plc.start()}
        for name, device in self.devices.items():
            ports[name] = await device.start()
        return ports

    async def close(self) -> None:
        for device in reversed(list(self.devices.values())):
            with contextlib.suppress(Exception):
                await device.close()
        await self.plc.close()
        if self.packer is not None:
            self.packer.close()


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise SimulatorConfigError(f"[{key}] must be a table")
    return value


def _defects(sim: dict[str, Any]) -> dict[Defect, float]:
    rates: dict[Defect, float] = {}
    for name, rate in _section(sim, "defects").items():
        try:
            defect = Defect(name)
        except ValueError:
            known = ", ".join(d.value for d in Defect)
            raise SimulatorConfigError(
                f"simulation.defects.{name}: unknown defect (known: {known})"
            ) from None
        if not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise SimulatorConfigError(f"simulation.defects.{name}: {rate!r} is not in 0..1")
        rates[defect] = float(rate)
    return rates


def inlay_rates(sim: dict[str, Any]) -> dict[InlayFault, float]:
    """``[simulation.rfid]``: the printer-side inlay fault rates (a reader's keys are left to
    the reader simulator)."""
    rates: dict[InlayFault, float] = {}
    for key, rate in _section(sim, "rfid").items():
        if key not in RATE_KEYS:
            continue
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise SimulatorConfigError(f"simulation.rfid.{key}: {rate!r} is not in 0..1")
        rates[RATE_KEYS[key]] = float(rate)
    if sum(rates.values()) > 1:
        raise SimulatorConfigError("simulation.rfid: the inlay fault rates add up to more than 1")
    return rates


CASE_LABEL_ROLE = "case-label"
CASE_CAMERA_ROLE = "case-camera"


def _role(name: str, dev: dict[str, Any]) -> str | None:
    options = dev.get("options", {})
    if not isinstance(options, dict):
        raise SimulatorConfigError(f"devices.{name}.options must be a table")
    role = options.get("role")
    if role is not None and role not in (CASE_LABEL_ROLE, CASE_CAMERA_ROLE):
        raise SimulatorConfigError(
            f"devices.{name}.options.role: unknown role {role!r} (known: {CASE_LABEL_ROLE!r}, "
            f"{CASE_CAMERA_ROLE!r})"
        )
    return None if role is None else str(role)


def _case_faults(sim: dict[str, Any], packer: CasePacker) -> None:
    """``[simulation.case_faults]`` and ``case_foreign_code`` onto the packer."""
    for key, name in _section(sim, "case_faults").items():
        if not str(key).isdigit() or int(key) < 1:
            raise SimulatorConfigError(f"simulation.case_faults.{key}: not a case number")
        try:
            packer.faults[int(key)] = CaseFault(name)
        except ValueError:
            known = ", ".join(f.value for f in CaseFault)
            raise SimulatorConfigError(
                f"simulation.case_faults.{key}: unknown fault {name!r} (known: {known})"
            ) from None
    foreign = sim.get("case_foreign_code")
    if foreign is not None and not isinstance(foreign, str):
        raise SimulatorConfigError("simulation.case_foreign_code: an element string")
    packer.foreign = foreign
    if CaseFault.OTHER_BATCH in packer.faults.values() and foreign is None:
        raise SimulatorConfigError(
            "simulation.case_faults: an other-batch fault needs simulation.case_foreign_code"
        )


def _packer(
    data: dict[str, Any], line: VirtualLine, case_log: Path | None, seed: int = 0
) -> CasePacker:
    agg = _section(data, "aggregation")
    sizes = {"case_size": agg.get("case_size", 24), "pallet_size": agg.get("pallet_size", 40)}
    for key, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SimulatorConfigError(f"aggregation.{key}: {value!r} is not a count")
    try:
        return CasePacker(
            line, sizes["case_size"], sizes["pallet_size"], log_path=case_log, seed=seed
        )
    except ValueError as exc:
        raise SimulatorConfigError(f"[aggregation]: {exc}") from None


def line_layout(data: dict[str, Any]) -> LineLayout:
    """The conveyor a parsed line configuration gives: station positions and its speed."""
    sim = _section(data, "simulation")
    return LineLayout(packs_per_minute=float(sim.get("packs_per_minute", 600)))


def build_line(
    data: dict[str, Any],
    *,
    print_log: Path | None = None,
    case_log: Path | None = None,
    ports_from_config: bool = True,
) -> SimulatedLine:
    """The simulators for a parsed line configuration (``ports_from_config=False``: any port)."""
    sim = _section(data, "simulation")
    layout = line_layout(data)
    faults = FaultPlan(
        seed=int(sim.get("seed", 0)),
        rates=_defects(sim),
        gate_confirm_failure_rate=float(sim.get("gate_confirm_failure_rate", 0.0)),
    )
    line = VirtualLine(layout, faults)
    if "packs" in sim:
        line.packs_limit = int(sim["packs"])
    devices = _section(data, "devices")
    plcs = [(n, d) for n, d in devices.items() if d.get("kind") == "plc"]
    if len(plcs) != 1:
        raise SimulatorConfigError("[devices.*]: a simulated line needs exactly one kind = 'plc'")

    def port(name: str, dev: dict[str, Any]) -> int:
        if not ports_from_config:
            return 0
        if "port" not in dev:
            raise SimulatorConfigError(f"devices.{name}.port: needed to simulate it on TCP")
        return int(dev["port"])

    plc_name, plc_dev = plcs[0]
    opcua_port = int(sim.get("opcua_port", 4840)) if ports_from_config else 0
    plc = PlcSimulator(
        line, "127.0.0.1", port(plc_name, plc_dev), opcua_port=opcua_port, drive_line=True
    )
    built = SimulatedLine(line, plc)
    seed = faults.seed
    roles = {name: _role(name, dev) for name, dev in devices.items()}
    if any(roles.values()):
        built.packer = _packer(data, line, case_log, seed)
        _case_faults(sim, built.packer)
    no_read = sim.get("case_label_no_read", 0.0)
    if not isinstance(no_read, int | float) or not 0 <= no_read <= 1:
        raise SimulatorConfigError(f"simulation.case_label_no_read: {no_read!r} is not in 0..1")
    for name, dev in devices.items():
        kind, protocol = dev.get("kind"), dev.get("protocol")
        if kind == "plc":
            continue
        if roles[name] is not None:
            assert built.packer is not None
            if roles[name] == CASE_CAMERA_ROLE and kind == "camera" and protocol == "framepush":
                built.devices[name] = CaseCameraSimulator(
                    built.packer, "127.0.0.1", port(name, dev), seed=seed
                )
            elif roles[name] == CASE_CAMERA_ROLE:
                raise SimulatorConfigError(
                    f"devices.{name}: a case camera is simulated as kind 'camera', protocol "
                    "'framepush'"
                )
            elif kind == "printer" and protocol == "zpl":
                built.devices[name] = CaseLabelPrinter(
                    built.packer, "127.0.0.1", port(name, dev), name=f"{name} (case labels)"
                )
            elif kind == "reader" and protocol in ("dmcc", "keyence"):
                built.devices[name] = case_label_reader(
                    str(protocol),
                    built.packer,
                    "127.0.0.1",
                    port(name, dev),
                    seed=seed,
                    no_read_rate=float(no_read),
                )
            else:
                raise SimulatorConfigError(
                    f"devices.{name}: no case-label simulator for kind {kind!r} protocol "
                    f"{protocol!r} (a zpl printer, a dmcc or keyence reader)"
                )
            continue
        if kind == "printer" and protocol == "zpl":
            from simulators.printer_zpl import ZplPrinterSimulator

            built.devices[name] = ZplPrinterSimulator(
                line,
                "127.0.0.1",
                port(name, dev),
                log_path=print_log,
                seed=seed,
                rfid_faults=inlay_rates(sim),
            )
        elif kind == "printer" and protocol == "wsi":
            from drivers.wsi.codec import command_set
            from simulators.printer_wsi import WsiPrinterSimulator

            options = dev.get("options", {})  # the same letters and code field as the daemon
            try:
                commands = command_set(options.get("commands", {}))
            except ValueError as exc:
                raise SimulatorConfigError(f"devices.{name}.options.{exc}") from None
            built.devices[name] = WsiPrinterSimulator(
                line,
                "127.0.0.1",
                port(name, dev),
                log_path=print_log,
                seed=seed,
                commands=commands,
                code_field=str(options.get("code_field", "CODE")),
            )
        elif kind == "camera" and protocol == "framepush":
            built.devices[name] = CameraSimulator(line, "127.0.0.1", port(name, dev))
        elif kind == "reader" and protocol == "dmcc":
            from simulators.reader_dmcc import DmccReaderSimulator

            built.devices[name] = DmccReaderSimulator(line, "127.0.0.1", port(name, dev), seed=seed)
        elif kind == "reader" and protocol == "keyence":
            from simulators.reader_keyence import KeyenceReaderSimulator

            built.devices[name] = KeyenceReaderSimulator(
                line, "127.0.0.1", port(name, dev), seed=seed
            )
        else:
            raise SimulatorConfigError(
                f"devices.{name}: no simulator for kind {kind!r} protocol {protocol!r}"
            )
    return built


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="line configuration (TOML)")
    p.add_argument("--print-log", type=Path, help="JSON-lines log of every print (seq, data)")
    p.add_argument("--case-log", type=Path, help="JSON-lines log of cases, labels and pallets")
    p.add_argument("--autostart", action="store_true", help="Reset and Start without a host")


async def serve(args: argparse.Namespace) -> None:
    """Run the simulated line until SIGTERM / Ctrl-C."""
    try:
        text = await asyncio.to_thread(Path(args.config).read_text, encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SystemExit(f"{args.config}: {exc}") from None
    try:
        sim_line = build_line(data, print_log=args.print_log, case_log=args.case_log)
    except SimulatorConfigError as exc:
        raise SystemExit(f"{args.config}: {exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ports = await sim_line.start()
    # The OPC UA server leaves ~130k long-lived objects; a full GC pass over them stalls the
    # conveyor for 50-120 ms. Freeze what start-up built so collections skip it.
    gc.collect()
    gc.freeze()
    try:
        listing = " ".join(f"{name}={port}" for name, port in ports.items())
        opcua = sim_line.plc.opcua_url if sim_line.plc.opcua is not None else "off"
        print(f"{READY} {listing} opcua={opcua}", flush=True)
        if args.autostart:
            from standards.packml import PackMLCommand, PackMLState

            plc = sim_line.plc
            plc.command(PackMLCommand.RESET)
            await plc.wait_for(lambda: plc.state is PackMLState.IDLE)
            plc.command(PackMLCommand.START)
        await stop.wait()
    finally:
        await sim_line.close()
