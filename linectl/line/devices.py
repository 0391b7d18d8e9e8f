"""The line's devices built from the configuration, connected in parallel, tracked while running.

A line runs with exactly one PLC, one printer and one verification source: a camera
(``kind = "camera"``) or a smart reader (``kind = "reader"`` without a role, see
:mod:`linectl.line.reader_station`); the drivers come from :mod:`drivers.registry`. A line with
``[aggregation]`` also has a case-label printer and a case-label reader: devices whose
``options`` say ``role = "case-label"`` (the option is the runtime's; the driver never sees it);
with ``[aggregation] case_check = "camera"`` also a case camera (``kind = "camera"``,
``role = "case-camera"``). A line may also have one RFID reader station (``kind = "rfid"``,
``protocol = "llrp"``, :mod:`linectl.line.rfid_station`) checking the tag its printer encodes:
the printer must say ``options.rfid = true``; the station's ``options.min_rssi_dbm`` is the
runtime's, the other options (``antennas``, ``inventory_ms``, ``read_tid``) the driver's.
:func:`connect_all` connects every device at once and raises one
:class:`DevicesUnavailable` naming each device that failed and why, so an engineer sees all
wiring mistakes in one go.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from drivers.interfaces import (
    Camera,
    CodeReader,
    DeviceError,
    Plc,
    Printer,
    SeqlessFrames,
    TagReader,
)
from drivers.registry import DeviceParams, UnknownDriver, open_device
from linectl.config import ConfigError, DeviceSection, LineConfig
from linectl.line.alarms import iso_now


class DeviceSetupError(Exception):
    """The configured devices cannot make a line (missing, doubled or of the wrong kind)."""


class DevicesUnavailable(DeviceError):
    """One or more devices could not be connected; ``failures`` maps device name to the reason."""

    def __init__(self, failures: Mapping[str, str]) -> None:
        self.failures = dict(failures)
        lines = "\n".join(f"  - {name}: {why}" for name, why in sorted(self.failures.items()))
        super().__init__(f"{len(self.failures)} device(s) could not be connected:\n{lines}")


ROLE_OPTION = "role"
CASE_LABEL_ROLE = "case-label"
CASE_CAMERA_ROLE = "case-camera"
MIN_RSSI_OPTION = "min_rssi_dbm"
DEFAULT_MIN_RSSI_DBM = -70.0
DEFAULT_INVENTORY_MS = 40  # drivers.llrp.client.LlrpReader's
RFID_PRINTER_OPTION = "rfid"  # a printer that encodes each pack's tag (ZPL ^RF)
_RUNTIME_OPTIONS = {"rfid": (MIN_RSSI_OPTION,)}  # options the line reads, not the driver


def device_role(name: str, section: DeviceSection) -> str | None:
    """The ``role`` option of a device (``"case-label"``, ``"case-camera"``), None if none."""
    role = section.options.get(ROLE_OPTION)
    if role is not None and role not in (CASE_LABEL_ROLE, CASE_CAMERA_ROLE):
        raise DeviceSetupError(
            f"devices.{name}.options.role: unknown role {role!r} (known: {CASE_LABEL_ROLE!r}, "
            f"{CASE_CAMERA_ROLE!r})"
        )
    return None if role is None else str(role)


def device_params(name: str, section: DeviceSection) -> DeviceParams:
    """The registry's view of one ``[devices.NAME]`` section (the runtime's ``role`` left out)."""
    runtime = (ROLE_OPTION, *_RUNTIME_OPTIONS.get(section.kind, ()))
    options = {k: v for k, v in section.options.items() if k not in runtime}
    return DeviceParams(
        name=name,
        kind=section.kind,
        protocol=section.protocol,
        host=section.host,
        port=section.port,
        serial_port=section.serial_port,
        baudrate=section.baudrate,
        url=section.url,
        timeout_s=section.timeout_s,
        options=options,
    )


@dataclass
class DeviceHealth:
    """Whether a device answers, and the last problem it had."""

    kind: str
    protocol: str
    connected: bool = False
    error: str | None = None
    since: str = field(default_factory=iso_now)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "protocol": self.protocol,
            "state": "connected" if self.connected else "lost",
            "error": self.error,
            "since": self.since,
        }


@dataclass
class LineDevices:
    """The devices of a line by role, with the names the configuration gives them: the three a
    line needs (its verification source is a camera or a reader), and the case-label printer
    and reader of a line that aggregates."""

    plc: Plc
    printer: Printer
    camera: Camera | None
    names: dict[str, str] = field(
        default_factory=lambda: {"plc": "plc", "printer": "printer", "camera": "camera"}
    )
    protocols: dict[str, str] = field(default_factory=dict)
    case_printer: Printer | None = None
    case_reader: CodeReader | None = None
    case_camera: Camera | None = None
    reader: CodeReader | None = None  # the verification source when there is no camera
    rfid: TagReader | None = None  # the RFID reader station checking each pack's tag
    min_rssi_dbm: float = DEFAULT_MIN_RSSI_DBM  # the station's weak-tag limit

    def by_name(self) -> Iterator[tuple[str, str, Any]]:
        """(role, configured name, driver) for each device."""
        yield "plc", self.names["plc"], self.plc
        yield "printer", self.names["printer"], self.printer
        for role in ("camera", "reader", "case_printer", "case_reader", "case_camera", "rfid"):
            device = getattr(self, role)
            if device is not None:
                yield role, self.names.get(role, role), device

    async def close(self) -> None:
        """Close every driver (each close() is safe twice); never raises."""
        for _, _, device in self.by_name():
            with contextlib.suppress(Exception):
                await device.close()


_ROLES: dict[str, type[Any]] = {
    "plc": Plc,
    "printer": Printer,
    "camera": Camera,
    "reader": CodeReader,
    "rfid": TagReader,
}
_SOURCES = ("camera", "reader")  # exactly one of them verifies the packs
_OPTIONAL = ("rfid",)  # at most one


_CASE_ROLES: dict[tuple[str, str], tuple[str, type[Any]]] = {
    (CASE_LABEL_ROLE, "printer"): ("case_printer", Printer),
    (CASE_LABEL_ROLE, "reader"): ("case_reader", CodeReader),
    (CASE_CAMERA_ROLE, "camera"): ("case_camera", Camera),
}


def open_devices(config: LineConfig) -> LineDevices:
    """Build (not connect) the line's PLC, printer and camera or reader from ``config.devices``,
    and with ``[aggregation]`` its case-label printer and reader."""
    found: dict[str, list[str]] = {role: [] for role in _ROLES}
    labelling: dict[str, list[str]] = {role: [] for role, _ in _CASE_ROLES.values()}
    for name, section in config.devices.items():
        role = device_role(name, section)
        if role is not None:
            if (role, section.kind) not in _CASE_ROLES:
                kinds = " or a ".join(k for r, k in _CASE_ROLES if r == role)
                raise DeviceSetupError(
                    f"devices.{name}: a {role} device is a {kinds}, not a {section.kind}"
                )
            labelling[_CASE_ROLES[role, section.kind][0]].append(name)
        elif section.kind in found:
            found[section.kind].append(name)
        else:
            raise DeviceSetupError(
                f"devices.{name}: kind {section.kind!r} is not supported by the line runtime "
                "(it needs one plc, one printer and one camera or reader)"
            )
    problems = [
        f"needs exactly one device with kind = {role!r}, found "
        + (", ".join(f"devices.{n}" for n in names) or "none")
        for role, names in found.items()
        if len(names) != 1 and role not in _SOURCES + _OPTIONAL
    ]
    problems += [
        f"at most one device with kind = {role!r}, found "
        + ", ".join(f"devices.{n}" for n in names)
        for role, names in found.items()
        if len(names) > 1 and role in _OPTIONAL
    ]
    sources = [n for role in _SOURCES for n in found[role]]
    if len(sources) != 1:
        problems.append(
            "needs exactly one verification source (a device with kind = 'camera', or one with "
            "kind = 'reader' and no role), found "
            + (", ".join(f"devices.{n}" for n in sources) or "none")
        )
    problems += _labelling_problems(config, labelling)
    if found["rfid"] and len(found["printer"]) == 1:
        problems += _rfid_problems(config, found["rfid"][0], found["printer"][0])
    if problems:
        raise DeviceSetupError("; ".join(problems))
    wanted = dict(_ROLES) | dict(_CASE_ROLES.values())
    names = {role: names[0] for role, names in (found | labelling).items() if names}
    built: dict[str, Any] = {}
    for role, name in names.items():
        device = _open(name, config.devices[name], _line_options(config, config.devices[name]))
        if not isinstance(device, wanted[role]):
            raise DeviceSetupError(f"devices.{name}: the driver is not a {role.replace('_', ' ')}")
        built[role] = device
    if isinstance(built.get("case_camera"), SeqlessFrames):
        raise DeviceSetupError(
            f"devices.{names['case_camera']}: a case camera's frames must carry the case's last "
            "pack seq; a camera without a pack seq (OpenCV) cannot be paired with cases"
        )
    return LineDevices(
        plc=built["plc"],
        printer=built["printer"],
        camera=built.get("camera"),
        reader=built.get("reader"),
        names=names,
        protocols={role: config.devices[name].protocol for role, name in names.items()},
        case_printer=built.get("case_printer"),
        case_reader=built.get("case_reader"),
        case_camera=built.get("case_camera"),
        rfid=built.get("rfid"),
        min_rssi_dbm=(
            float(config.devices[names["rfid"]].options.get(MIN_RSSI_OPTION, DEFAULT_MIN_RSSI_DBM))
            if "rfid" in names
            else DEFAULT_MIN_RSSI_DBM
        ),
    )


def build_devices(config: LineConfig, source: Path | str) -> LineDevices:
    """``open_devices``, with every setup problem as a ConfigError on the file (exit 2)."""
    try:
        return open_devices(config)
    except (DeviceSetupError, UnknownDriver) as exc:
        raise ConfigError(source, [str(exc)]) from None


def _line_options(config: LineConfig, section: DeviceSection) -> dict[str, Any]:
    """Driver options that come from other sections: a ZPL printer's label layouts."""
    return {"layouts": config.label_layouts()} if section.protocol == "zpl" else {}


def _open(name: str, section: DeviceSection, extra: Mapping[str, Any] | None = None) -> Any:
    """The driver for one device; option mistakes name ``devices.NAME.options.KEY``."""
    params = device_params(name, section)
    if extra:
        params = replace(params, options=params.options | dict(extra))
    try:
        device = open_device(params)
    except UnknownDriver as exc:
        if not isinstance(exc.__cause__, TypeError):
            raise
        raise DeviceSetupError(_option_problem(name, section, str(exc.__cause__))) from None
    accepted = _driver_options(type(device))
    for key, value in params.options.items():
        expected = accepted.get(key)
        if expected is not None and not _fits(value, expected):
            raise DeviceSetupError(
                f"devices.{name}.options.{key}: expected {_KIND_TEXT[expected]}, got {value!r}"
            )
    return device


_KIND_TEXT = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}


def _fits(value: object, expected: type) -> bool:
    if expected is bool or isinstance(value, bool):
        return isinstance(value, bool) and expected is bool
    if expected is float:
        return isinstance(value, int | float)
    return isinstance(value, expected)


def _driver_options(cls: type) -> dict[str, type]:
    """Keyword options of a driver class that a TOML file can set, by their default's type."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {
        p.name: type(p.default)
        for p in parameters
        if p.kind is p.KEYWORD_ONLY and p.name != "name" and type(p.default) in _KIND_TEXT
    }


def _option_problem(name: str, section: DeviceSection, error: str) -> str:
    """The configuration field a driver's TypeError is about, never the Python call itself."""
    driver = f"the {section.protocol} {section.kind} driver"
    unknown = re.search(r"unexpected keyword argument '(\w+)'", error)
    if unknown:
        cls = re.match(r"(\w+)\.", error)
        known = sorted(_driver_options(_driver_class(cls.group(1)))) if cls else []
        listed = f" (it takes: {', '.join(known)})" if known else ""
        return f"devices.{name}.options.{unknown.group(1)}: {driver} has no such option{listed}"
    twice = re.search(r"multiple values for keyword argument '(\w+)'", error)
    if twice:
        return (
            f"devices.{name}.options.{twice.group(1)}: set by linectl from the device section; "
            "remove it from options"
        )
    return f"devices.{name}.options: {driver} refuses them"


def _driver_class(class_name: str) -> type:
    """The driver class the registry's factory called (its module is loaded by then)."""
    for module_name, module in list(sys.modules.items()):
        found = getattr(module, class_name, None) if module_name.startswith("drivers.") else None
        if isinstance(found, type):
            return found
    return object


def _rfid_problems(config: LineConfig, name: str, printer: str) -> list[str]:
    """What is wrong with the RFID reader station ``name`` (nothing: [])."""
    options = config.devices[name].options
    problems = []
    if config.devices[printer].options.get(RFID_PRINTER_OPTION) is not True:
        problems.append(
            f"devices.{name}: an RFID reader station checks the tag the printer encodes, but "
            f"devices.{printer} does not encode tags: set devices.{printer}.options."
            f"{RFID_PRINTER_OPTION} = true (a ZPL printer with an RFID encoder)"
        )
    rssi = options.get(MIN_RSSI_OPTION, DEFAULT_MIN_RSSI_DBM)
    if isinstance(rssi, bool) or not isinstance(rssi, int | float) or not -128 <= rssi <= 0:
        problems.append(
            f"devices.{name}.options.{MIN_RSSI_OPTION}: expected a number of dBm from -128 to 0, "
            f"got {rssi!r}"
        )
    inventory = options.get("inventory_ms", DEFAULT_INVENTORY_MS)
    deadline = config.thresholds.verdict_deadline_ms
    if isinstance(inventory, int | float) and inventory >= deadline:
        problems.append(
            f"devices.{name}.options.inventory_ms: {inventory} ms of inventory leave no time for "
            f"the tag's verdict within thresholds.verdict_deadline_ms ({deadline:g} ms): every "
            "pack would be rfid-no-read; make it shorter"
        )
    speed = config.line.target_packs_per_minute
    if speed is not None and isinstance(inventory, int | float) and inventory >= 60_000 / speed:
        problems.append(
            f"devices.{name}.options.inventory_ms: {inventory} ms is not shorter than a pack's "
            f"pitch at line.target_packs_per_minute {speed} ({60_000 / speed:g} ms): the next "
            "pack would reach the reader during the read, which then pairs with no pack"
        )
    antennas = options.get("antennas", [])
    if not isinstance(antennas, list) or not all(
        isinstance(a, int) and not isinstance(a, bool) and 1 <= a <= 65535 for a in antennas
    ):
        problems.append(
            f"devices.{name}.options.antennas: expected a list of antenna ids 1-65535 (empty: "
            f"all), got {antennas!r}"
        )
    return problems


def _labelling_problems(config: LineConfig, labelling: dict[str, list[str]]) -> list[str]:
    """What is wrong with the case-label devices for this configuration (nothing: [])."""
    named = [n for names in labelling.values() for n in names]
    if config.aggregation is None:
        if named:
            listed = ", ".join(f"devices.{n}" for n in named)
            return [f"{listed}: case-label devices, but the line has no [aggregation]"]
        return []
    cameras = labelling["case_camera"]
    problems = [
        f"[aggregation] needs exactly one case-label {role.removeprefix('case_')} (a device "
        f'with options.role = "{CASE_LABEL_ROLE}"), found '
        + (", ".join(f"devices.{n}" for n in names) or "none")
        for role, names in labelling.items()
        if role != "case_camera" and len(names) != 1
    ]
    wanted = 1 if config.aggregation.case_check == "camera" else 0
    if len(cameras) != wanted:
        listed = ", ".join(f"devices.{n}" for n in cameras) or "none"
        problems.append(
            f'[aggregation] case_check = "{config.aggregation.case_check}" needs {wanted} case '
            f'camera(s) (a camera with options.role = "{CASE_CAMERA_ROLE}"), found {listed}'
        )
    return problems


async def connect_all(devices: LineDevices, within_s: float = 10.0) -> None:
    """Connect every device in parallel; DevicesUnavailable names each one that failed."""

    async def one(device: Any) -> None:
        async with asyncio.timeout(within_s):
            await device.connect()

    named = list(devices.by_name())
    results = await asyncio.gather(*(one(d) for _, _, d in named), return_exceptions=True)
    failures: dict[str, str] = {}
    for (role, name, _), result in zip(named, results, strict=True):
        if isinstance(result, TimeoutError):
            failures[name] = f"{role}: no connection within {within_s:.0f} s"
        elif isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result
            failures[name] = f"{role}: {result}"
    if failures:
        raise DevicesUnavailable(failures)
