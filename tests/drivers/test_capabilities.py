"""Every registered driver offers exactly the device protocol and the capabilities it declares.

The line asks ``isinstance(device, Capability)`` (drivers.interfaces), never for a driver class,
so a capability a driver loses, or one it seems to gain by a method of the same name, changes
what the line does with it: each such change must show here.
"""

from __future__ import annotations

import re

import pytest

from drivers.interfaces import (
    Camera,
    ClearablePrinter,
    CodeReader,
    LabelPrinter,
    Plc,
    Printer,
    Reconnecting,
    RfidPrinter,
    SeqlessFrames,
    SignalAccess,
    TagReader,
)
from drivers.registry import DRIVERS, DeviceParams, open_device

DEVICE_PROTOCOLS: tuple[type, ...] = (Printer, CodeReader, TagReader, Camera, Plc)
CAPABILITIES: tuple[type, ...] = (
    LabelPrinter,
    ClearablePrinter,
    RfidPrinter,
    Reconnecting,
    SignalAccess,
    SeqlessFrames,
)

OFFERS: dict[tuple[str, str], tuple[type, set[type]]] = {
    ("printer", "zpl"): (Printer, {LabelPrinter, ClearablePrinter, RfidPrinter, Reconnecting}),
    ("printer", "wsi"): (Printer, {LabelPrinter, Reconnecting}),  # WSI cannot cancel prints
    ("reader", "dmcc"): (CodeReader, {Reconnecting}),
    ("reader", "keyence"): (CodeReader, {Reconnecting}),
    ("rfid", "llrp"): (TagReader, {Reconnecting}),
    ("camera", "framepush"): (Camera, set()),
    ("camera", "opencv"): (Camera, {SeqlessFrames}),  # frames paired by the PLC trigger
    ("plc", "modbus"): (Plc, {SignalAccess}),
    ("plc", "opcua"): (Plc, {SignalAccess}),
}


def opened(kind: str, protocol: str) -> object:
    return open_device(
        DeviceParams(
            name=f"{kind}-1", kind=kind, protocol=protocol, host="127.0.0.1", port=1, url="0"
        )
    )


def test_the_table_names_every_registered_driver() -> None:
    assert set(OFFERS) == set(DRIVERS)


@pytest.mark.parametrize(("kind", "protocol"), sorted(OFFERS))
def test_a_driver_is_exactly_one_kind_of_device(kind: str, protocol: str) -> None:
    device = opened(kind, protocol)
    expected, _ = OFFERS[(kind, protocol)]
    assert [p for p in DEVICE_PROTOCOLS if isinstance(device, p)] == [expected]


@pytest.mark.parametrize(("kind", "protocol"), sorted(OFFERS))
def test_a_driver_offers_exactly_its_declared_capabilities(kind: str, protocol: str) -> None:
    device = opened(kind, protocol)
    _, expected = OFFERS[(kind, protocol)]
    assert {c for c in CAPABILITIES if isinstance(device, c)} == expected


# drivers/plc/** belongs to another part of this step: ModbusPlc and OpcUaPlc carry no
# "Offers:" sentence yet (their capabilities are still checked above).
@pytest.mark.parametrize(("kind", "protocol"), sorted(k for k in OFFERS if k[0] != "plc"))
def test_the_class_docstring_says_what_the_driver_offers(kind: str, protocol: str) -> None:
    """The ``Offers:`` sentence of the class docstring (asides in brackets left out)."""
    doc = type(opened(kind, protocol)).__doc__ or ""
    assert "Offers:" in doc
    sentence = re.sub(r"\([^)]*\)", "", doc.split("Offers:", 1)[1]).split(".", 1)[0]
    known = {p.__name__ for p in DEVICE_PROTOCOLS + CAPABILITIES}
    protocol_, capabilities = OFFERS[(kind, protocol)]
    said = set(re.findall(r"[A-Za-z]+", sentence)) & known
    assert said == {protocol_.__name__} | {c.__name__ for c in capabilities}
