"""Driver registry: a configuration's ``kind`` and ``protocol`` name a driver, imported on demand.

The table maps ``(kind, protocol)`` to ``module:factory``; the import happens only when a device of
that kind is opened, so a line without an OPC UA PLC never loads asyncua, and an import failure
becomes one clear error naming the device and the missing module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drivers.interfaces import DeviceError


class UnknownDriver(DeviceError):
    """No driver for this kind/protocol, or its module cannot be imported."""


@dataclass(frozen=True)
class DeviceParams:
    """Where a device is and how to talk to it, independent of the configuration format."""

    name: str
    kind: str
    protocol: str
    host: str | None = None
    port: int | None = None
    serial_port: str | None = None
    baudrate: int = 9600
    url: str | None = None
    timeout_s: float = 2.0
    options: dict[str, Any] = field(default_factory=dict)

    def require(self, attribute: str) -> Any:
        value = getattr(self, attribute)
        if value is None:
            raise UnknownDriver(
                f"device {self.name!r} ({self.kind}/{self.protocol}) needs {attribute}"
            )
        return value


def _zpl(p: DeviceParams) -> Any:
    from drivers.zpl.client import ZplPrinter

    return ZplPrinter(
        p.require("host"), p.require("port"), name=p.name, reply_timeout=p.timeout_s, **p.options
    )


def _wsi(p: DeviceParams) -> Any:
    from drivers.wsi.client import WsiPrinter

    if p.serial_port is not None:
        return WsiPrinter.serial(p.serial_port, p.baudrate, name=p.name, **p.options)
    return WsiPrinter.tcp(p.require("host"), p.require("port"), name=p.name, **p.options)


def _dmcc(p: DeviceParams) -> Any:
    from drivers.dmcc.client import DmccReader

    return DmccReader(
        p.require("host"), p.require("port"), name=p.name, read_timeout=p.timeout_s, **p.options
    )


def _keyence(p: DeviceParams) -> Any:
    from drivers.keyence.client import KeyenceReader

    return KeyenceReader(
        p.require("host"), p.require("port"), name=p.name, read_timeout=p.timeout_s, **p.options
    )


def _llrp(p: DeviceParams) -> Any:
    from drivers.llrp.client import DEFAULT_PORT, LlrpReader

    port = p.port if p.port is not None else DEFAULT_PORT
    return LlrpReader(p.require("host"), port, name=p.name, read_timeout=p.timeout_s, **p.options)


def _framepush(p: DeviceParams) -> Any:
    from drivers.camera.client import PushCamera

    return PushCamera(p.require("host"), p.require("port"), name=p.name, **p.options)


def _opencv(p: DeviceParams) -> Any:
    from drivers.camera.opencv_source import OpenCvCamera

    url: str = p.require("url")
    source: int | str = int(url) if url.isdigit() else url
    return OpenCvCamera(source, name=p.name, **p.options)


def _modbus(p: DeviceParams) -> Any:
    from drivers.plc.modbus import ModbusPlc

    return ModbusPlc(
        p.require("host"), p.require("port"), name=p.name, timeout=p.timeout_s, **p.options
    )


def _opcua(p: DeviceParams) -> Any:
    from drivers.plc.opcua import OpcUaPlc

    url = p.url or f"opc.tcp://{p.require('host')}:{p.require('port')}/linectl/plc"
    return OpcUaPlc(url, name=p.name, timeout=p.timeout_s, **p.options)


DRIVERS: dict[tuple[str, str], Callable[[DeviceParams], Any]] = {
    ("printer", "zpl"): _zpl,
    ("printer", "wsi"): _wsi,
    ("reader", "dmcc"): _dmcc,
    ("reader", "keyence"): _keyence,
    ("rfid", "llrp"): _llrp,
    ("camera", "framepush"): _framepush,
    ("camera", "opencv"): _opencv,
    ("plc", "modbus"): _modbus,
    ("plc", "opcua"): _opcua,
}


def open_device(params: DeviceParams) -> Any:
    """Build (not yet connect) the driver for ``params``; the caller awaits ``connect()``."""
    factory = DRIVERS.get((params.kind, params.protocol))
    if factory is None:
        known = ", ".join(f"{k}/{p}" for k, p in sorted(DRIVERS))
        raise UnknownDriver(
            f"device {params.name!r}: no driver for {params.kind}/{params.protocol} "
            f"(known: {known})"
        )
    try:
        return factory(params)
    except ImportError as exc:
        raise UnknownDriver(
            f"device {params.name!r}: the {params.protocol} driver cannot be loaded: {exc}"
        ) from exc
    except TypeError as exc:  # an unknown key in the device's options
        raise UnknownDriver(f"device {params.name!r}: bad options: {exc}") from exc
    except ValueError as exc:  # an option the driver refuses (a range, a window)
        raise UnknownDriver(f"device {params.name!r}: bad options: {exc}") from exc


def module_of(kind: str, protocol: str) -> str:
    """The module a driver lives in (for docs and error messages)."""
    factory = DRIVERS[(kind, protocol)]
    return importlib.import_module(factory.__module__).__name__
