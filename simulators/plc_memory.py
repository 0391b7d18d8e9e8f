"""The simulated PLC's register image, laid out by the signal map: the one store both servers use.

Modbus reads copy registers straight out of it; the OPC UA server is told which signals changed
(``take_dirty``) and republishes them. Host writes come in as register runs (Modbus) or as signal
values (OPC UA) and report which signals they touched, so the PLC logic can react.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from drivers.plc.signals import AREA_SIZE, SIGNALS, Area, Signal


class PlcMemory:
    """Input and holding registers; signals read and written by name through the map."""

    def __init__(self) -> None:
        self.registers: dict[Area, list[int]] = {area: [0] * AREA_SIZE[area] for area in Area}
        self._owner: dict[Area, list[Signal | None]] = {
            area: [None] * AREA_SIZE[area] for area in Area
        }
        for s in SIGNALS:
            for address in range(s.address, s.end):
                self._owner[s.area][address] = s
        self._dirty: dict[Signal, None] = {}

    def get(self, s: Signal) -> int:
        """The value of signal ``s``."""
        regs = self.registers[s.area]
        if s.words == 1:
            return regs[s.address]
        return (regs[s.address] << 16) | regs[s.address + 1]

    def set(self, s: Signal, value: int) -> None:
        """Set ``s`` (PLC side); marks it for republishing when the value changes."""
        words = s.encode(value)
        regs = self.registers[s.area]
        if regs[s.address : s.end] != words:
            regs[s.address : s.end] = words
            self._dirty[s] = None

    def read(self, area: Area, address: int, count: int) -> list[int]:
        """``count`` registers from ``address`` (the Modbus servers' read path)."""
        return self.registers[area][address : address + count]

    def write_host(
        self, address: int, words: Sequence[int], *, publish: bool = True
    ) -> list[Signal]:
        """Apply a host write of holding registers; returns the signals it touched, in order."""
        regs = self.registers[Area.HOLDING]
        if address < 0 or address + len(words) > len(regs):
            raise ValueError(f"holding registers {address}..{address + len(words) - 1} not in map")
        regs[address : address + len(words)] = [w & 0xFFFF for w in words]
        touched = self.signals_in(Area.HOLDING, address, len(words))
        if publish:
            self._dirty.update(dict.fromkeys(touched))
        return touched

    def write_values(self, pairs: Iterable[tuple[Signal, int]], *, publish: bool) -> list[Signal]:
        """Apply host writes given as signal values (the OPC UA path), in order."""
        touched: list[Signal] = []
        for s, value in pairs:
            if s.area is not Area.HOLDING:
                raise ValueError(f"{s.name} is written by the PLC, not the host")
            self.registers[Area.HOLDING][s.address : s.end] = s.encode(value)
            touched.append(s)
        if publish:
            self._dirty.update(dict.fromkeys(touched))
        return touched

    def signals_in(self, area: Area, address: int, count: int) -> list[Signal]:
        """The signals that registers ``address``..``address + count - 1`` belong to."""
        found: dict[Signal, None] = {}
        for owner in self._owner[area][address : address + count]:
            if owner is not None:
                found[owner] = None
        return list(found)

    def take_dirty(self) -> list[Signal]:
        """Signals changed since the last call, in the order they first changed."""
        dirty, self._dirty = list(self._dirty), {}
        return dirty
