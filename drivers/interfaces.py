"""Device interfaces the daemon programs against, and the result types they return.

Every concrete driver (ZPL, WSI, DMCC, Keyence, frame sources, Modbus, OPC UA) implements one of
these protocols; the daemon never knows which one it holds.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class DeviceError(Exception):
    """A device refused a command or reported a fault (not a connection problem)."""


class DeviceUnavailable(DeviceError):
    """The device cannot be reached now (not connected, connection lost, timed out)."""


class ProtocolError(DeviceError):
    """Bytes on the wire that do not follow the protocol; names the offset and what was expected."""


# --- printers ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PrintJob:
    """What to mark on pack ``seq``: the code's data and the human-readable lines beside it."""

    seq: int
    data: str  # GS1 element string (GS as \x1d, no leading FNC1) or a GS1 Digital Link URI
    hri: tuple[str, ...] = ()
    symbology: str = "datamatrix"  # "datamatrix" | "qr" | "gs1-128"


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """A printer's self-reported state; ``ready`` is False whenever it cannot print."""

    ready: bool
    print_count: int
    faults: tuple[str, ...] = ()
    jobs_queued: int = 0


@runtime_checkable
class Printer(Protocol):
    """A marking device: load jobs ahead of the packs, learn how many it has printed."""

    async def connect(self) -> None: ...
    async def load(self, job: PrintJob) -> None: ...
    async def status(self) -> PrinterStatus: ...
    async def close(self) -> None: ...


# --- code readers and cameras --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadResult:
    """One read: the decoded text (None on a no-read), its symbology and quality grade."""

    text: str | None
    symbology: str | None = None
    grade: str | None = None  # ISO/IEC 15415 overall grade letter A-F, when the device reports it
    seq: int | None = None
    decode_ms: float | None = None
    detail: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class CodeReader(Protocol):
    """A smart reader: trigger it, get its read."""

    async def connect(self) -> None: ...
    async def read(self, seq: int | None = None) -> ReadResult: ...
    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Frame:
    """One grey-scale image (row-major bytes) taken for pack ``seq`` at ``timestamp_ns``."""

    seq: int
    width: int
    height: int
    pixels: bytes
    timestamp_ns: int = 0


@runtime_checkable
class Camera(Protocol):
    """A frame source: yields frames as the camera takes them."""

    async def connect(self) -> None: ...
    def frames(self) -> AsyncIterator[Frame]: ...
    async def close(self) -> None: ...


# --- PLC -----------------------------------------------------------------------------------------


class Verdict(enum.IntEnum):
    """Verdict codes written to the PLC's verdict ring. Anything but GOOD means reject."""

    NONE = 0
    GOOD = 1
    REJECT = 2


class GateOutcome(enum.IntEnum):
    """What the reject gate did with a pack, as the PLC reports it."""

    PASSED = 1
    REJECTED_CONFIRMED = 2
    REJECTED_UNCONFIRMED = 3


@dataclass(frozen=True, slots=True)
class GateEvent:
    """The gate's report for one pack."""

    seq: int
    outcome: GateOutcome


@dataclass(frozen=True, slots=True)
class PlcSnapshot:
    """The PLC's side of the signal map, read in one go."""

    heartbeat: int
    line_state: int
    last_seq_printer: int
    last_seq_camera: int
    last_seq_gate: int
    packs_in: int
    packs_passed: int
    packs_rejected: int
    fault: int


@runtime_checkable
class Plc(Protocol):
    """The line PLC: verdicts keyed by seq, gate reports, heartbeats, line state."""

    async def connect(self) -> None: ...
    async def write_verdict(self, seq: int, verdict: Verdict, reason: int = 0) -> None: ...
    async def read_snapshot(self) -> PlcSnapshot: ...
    async def gate_events(self) -> list[GateEvent]: ...
    async def write_heartbeat(self, value: int) -> None: ...
    async def command(self, packml_command: int) -> None: ...
    async def close(self) -> None: ...
