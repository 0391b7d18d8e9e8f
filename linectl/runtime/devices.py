"""The line's devices built from the configuration, connected in parallel, tracked while running.

A line runs with exactly one PLC, one printer and one camera (``kind = "camera"``); the drivers
come from :mod:`drivers.registry`. :func:`connect_all` connects every device at once and raises
one :class:`DevicesUnavailable` naming each device that failed and why, so an engineer sees all
wiring mistakes in one go.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from drivers.interfaces import Camera, DeviceError, Plc, Printer
from drivers.plc import signals as sig
from drivers.registry import DeviceParams, open_device
from linectl.config import DeviceSection, LineConfig
from linectl.runtime.alarms import iso_now


class DeviceSetupError(Exception):
    """The configured devices cannot make a line (missing, doubled or of the wrong kind)."""


class DevicesUnavailable(DeviceError):
    """One or more devices could not be connected; ``failures`` maps device name to the reason."""

    def __init__(self, failures: Mapping[str, str]) -> None:
        self.failures = dict(failures)
        lines = "\n".join(f"  - {name}: {why}" for name, why in sorted(self.failures.items()))
        super().__init__(f"{len(self.failures)} device(s) could not be connected:\n{lines}")


@runtime_checkable
class ClearablePrinter(Protocol):
    """A printer that can cancel every queued job (ZPL ``~JA``)."""

    async def clear(self) -> None: ...


@runtime_checkable
class SignalAccess(Protocol):
    """A PLC driver that reads and writes any signal of the map (drivers.plc.client.PlcClient)."""

    async def read(self, signals: Sequence[sig.Signal]) -> list[int]: ...
    async def write(self, signals: Sequence[sig.Signal], values: Sequence[int]) -> None: ...


def device_params(name: str, section: DeviceSection) -> DeviceParams:
    """The registry's view of one ``[devices.NAME]`` section."""
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
        options=dict(section.options),
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
    """The three devices a line needs, by role, with the names the configuration gives them."""

    plc: Plc
    printer: Printer
    camera: Camera
    names: dict[str, str] = field(
        default_factory=lambda: {"plc": "plc", "printer": "printer", "camera": "camera"}
    )
    protocols: dict[str, str] = field(default_factory=dict)

    def by_name(self) -> Iterator[tuple[str, str, Any]]:
        """(role, configured name, driver) for each device."""
        yield "plc", self.names["plc"], self.plc
        yield "printer", self.names["printer"], self.printer
        yield "camera", self.names["camera"], self.camera

    async def close(self) -> None:
        """Close every driver (each close() is safe twice); never raises."""
        for _, _, device in self.by_name():
            with contextlib.suppress(Exception):
                await device.close()


_ROLES: dict[str, type[Any]] = {"plc": Plc, "printer": Printer, "camera": Camera}


def open_devices(config: LineConfig) -> LineDevices:
    """Build (not connect) the line's PLC, printer and camera from ``config.devices``."""
    found: dict[str, list[str]] = {role: [] for role in _ROLES}
    for name, section in config.devices.items():
        if section.kind in found:
            found[section.kind].append(name)
        else:
            raise DeviceSetupError(
                f"devices.{name}: kind {section.kind!r} is not supported by the line runtime yet "
                "(it needs one plc, one printer and one camera)"
            )
    problems = [
        f"needs exactly one device with kind = {role!r}, found "
        + (", ".join(f"devices.{n}" for n in names) or "none")
        for role, names in found.items()
        if len(names) != 1
    ]
    if problems:
        raise DeviceSetupError("; ".join(problems))
    built: dict[str, Any] = {}
    for role, protocol in _ROLES.items():
        name = found[role][0]
        device = open_device(device_params(name, config.devices[name]))
        if not isinstance(device, protocol):
            raise DeviceSetupError(f"devices.{name}: the driver is not a {role}")
        built[role] = device
    return LineDevices(
        plc=built["plc"],
        printer=built["printer"],
        camera=built["camera"],
        names={role: found[role][0] for role in _ROLES},
        protocols={role: config.devices[found[role][0]].protocol for role in _ROLES},
    )


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
