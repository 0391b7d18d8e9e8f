"""drain: the device-side loop every simulator runs after a read, over any sans-IO codec."""

from __future__ import annotations

from drivers.interfaces import ProtocolError
from drivers.sansio import drain
from drivers.wsi.codec import Command, WsiDeviceConnection, WsiHostConnection


def test_drain_yields_every_complete_event_in_order_and_keeps_a_partial_one() -> None:
    host, device = WsiHostConnection(), WsiDeviceConnection()
    wire = host.send(Command("GA")) + host.send(Command("E"))
    device.receive_data(wire + host.send(Command("Q", b"1"))[:2])
    assert list(drain(device)) == [Command("GA"), Command("E")]
    device.receive_data(host.send(Command("Q", b"1"))[2:])
    assert list(drain(device)) == [Command("Q", b"1")]


def test_drain_hands_each_malformed_frame_to_on_error_and_goes_on() -> None:
    host, device = WsiHostConnection(), WsiDeviceConnection()
    errors: list[ProtocolError] = []
    device.receive_data(b"\x02GA" + host.send(Command("E")))  # a frame cut by a new STX
    assert list(drain(device, errors.append)) == [Command("E")]
    assert len(errors) == 1 and "new STX" in str(errors[0])
