"""Device interfaces the daemon programs against, their capabilities, and the result types.

Every concrete driver (ZPL, WSI, DMCC, Keyence, frame sources, Modbus, OPC UA) implements one of
the device protocols (``Printer``, ``CodeReader``, ``Camera``, ``Plc``); the daemon never knows
which one it holds. What only some drivers can do is a capability protocol declared here too
(``LabelPrinter``, ``ClearablePrinter``, ``RfidPrinter``, ``Reconnecting``, ``SignalAccess``,
``SeqlessFrames``): the line asks
``isinstance(device, Capability)``, never for a concrete driver class.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Sequence

    from drivers.plc.signals import Signal


class DeviceError(Exception):
    """A device refused a command or reported a fault (not a connection problem)."""


class DeviceUnavailable(DeviceError):
    """The device cannot be reached now (not connected, connection lost, timed out)."""


class ProtocolError(DeviceError):
    """Bytes on the wire that do not follow the protocol; names the offset and what was expected."""


class LinkState(enum.Enum):
    """Where a device link is in its life cycle (every driver reports it as ``link_state``)."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"


@runtime_checkable
class Reconnecting(Protocol):
    """A driver that can wait, through its reconnect policy, until its device answers."""

    async def wait_connected(self) -> None: ...


# --- printers ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PrintJob:
    """What to mark on pack ``seq``: the code's data, the human-readable lines beside it and,
    for a printer that encodes RFID tags (:class:`RfidPrinter`), the EPC for the label's tag."""

    seq: int
    data: str  # GS1 element string (GS as \x1d, no leading FNC1) or a GS1 Digital Link URI
    hri: tuple[str, ...] = ()
    symbology: str = "datamatrix"  # "datamatrix" | "qr" | "gs1-128"
    epc: str | None = None  # the tag's EPC bank after the PC word, hex (None: no tag to encode)


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

    @property
    def link_state(self) -> LinkState: ...
    async def connect(self) -> None: ...
    async def load(self, job: PrintJob) -> None: ...
    async def status(self) -> PrinterStatus: ...
    async def close(self) -> None: ...


@runtime_checkable
class ClearablePrinter(Protocol):
    """A printer that can cancel every queued job (ZPL ``~JA``; WSI has no such command)."""

    async def clear(self) -> None: ...


@dataclass(frozen=True, slots=True)
class EncodeOutcome:
    """What an RFID printer reported for the tag of pack ``seq``'s label: the EPC bank it read
    back after the write (hex; None or "" when it read nothing back: a void label)."""

    seq: int
    epc: str | None

    def encoded(self, epc: str) -> bool:
        """Whether the tag holds ``epc`` (hex) by the printer's own read-back."""
        return bool(self.epc) and self.epc is not None and self.epc.upper() == epc.upper()


@runtime_checkable
class RfidPrinter(Protocol):
    """A label printer with an RFID encoder (ZPL ``^RF``): when ``encodes_rfid`` it writes each
    job's ``epc`` into its label's tag, reads it back, and reports the read-back per label."""

    @property
    def encodes_rfid(self) -> bool: ...

    def encode_outcomes(self) -> list[EncodeOutcome]:
        """The outcomes reported since the last call, in print order (taken, not peeked)."""
        ...


@dataclass(frozen=True, slots=True)
class LogisticLabel:
    """What a case or pallet label says (GS1 logistic label); the layout is the driver's.

    The SSCC appears twice: a GS1-128 with (00) alone, and a GS1 DataMatrix with (00) SSCC,
    (02) GTIN of the units inside, (17) expiry, (37) count, (10) lot; the text lines repeat it.
    """

    sscc: str
    level: str  # "case" | "pallet"
    gtin: str  # of the units inside
    lot: str
    expiry: str  # YYMMDD, as on the units
    units: int
    cases: int = 0  # on a pallet

    @property
    def sscc_data(self) -> str:
        """Element string of the GS1-128 code: (00) only."""
        return f"00{self.sscc}"

    @property
    def content_data(self) -> str:
        """Element string of the DataMatrix: SSCC, content GTIN, expiry, count, lot."""
        return f"00{self.sscc}02{self.gtin}17{self.expiry}37{self.units}\x1d10{self.lot}"

    def hri(self) -> tuple[str, ...]:
        """The human-readable lines."""
        count = f"{self.units}" + (f" ({self.cases} cases)" if self.cases else "")
        return (
            f"{self.level.upper()} SSCC (00) {self.sscc}",
            f"CONTENT (02) {self.gtin}",
            f"COUNT (37) {count}",
            f"LOT (10) {self.lot}",
            f"EXPIRY (17) {self.expiry}",
        )


@runtime_checkable
class LabelPrinter(Protocol):
    """A printer that prints a whole logistic label in its own layout (print and apply)."""

    async def print_label(self, label: LogisticLabel) -> None: ...


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
    """A smart reader: trigger it, get its read.

    ``read_timeout`` (seconds a read may take before it fails unanswered) is part of the
    protocol also so that a PLC driver, whose ``read`` reads signals, is never taken for one.
    """

    read_timeout: float

    @property
    def link_state(self) -> LinkState: ...
    async def connect(self) -> None: ...
    async def read(self, seq: int | None = None) -> ReadResult: ...
    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class TagRead:
    """One RFID tag seen in a read: EPC bank (hex), TID (hex, where read), peak RSSI, antenna."""

    epc: str
    tid: str | None = None
    rssi_dbm: int | None = None
    antenna: int | None = None
    seen_count: int = 1


@dataclass(frozen=True, slots=True)
class TagReadResult:
    """The tags seen for one trigger; no tag is a no-read, a result and not an error."""

    tags: tuple[TagRead, ...]
    seq: int | None = None

    @property
    def no_read(self) -> bool:
        return not self.tags


@runtime_checkable
class TagReader(Protocol):
    """A fixed RFID reader station: trigger it, get every tag it saw (LLRP readers)."""

    read_timeout: float

    @property
    def link_state(self) -> LinkState: ...
    async def connect(self) -> None: ...
    async def read_tags(self, seq: int | None = None) -> TagReadResult: ...
    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Frame:
    """One grey-scale image (row-major bytes) taken for pack ``seq`` at ``timestamp_ns``."""

    seq: int
    width: int
    height: int
    pixels: bytes | memoryview  # row-major, read-only (a view when received without a copy)
    timestamp_ns: int = 0


@runtime_checkable
class Camera(Protocol):
    """A frame source: yields frames as the camera takes them."""

    @property
    def link_state(self) -> LinkState: ...
    @property
    def protocol_errors(self) -> int:
        """Stream errors since start (bad CRC, garbage skipped); 0 without a wire protocol."""
        ...

    async def connect(self) -> None: ...
    def frames(self) -> AsyncIterator[Frame]: ...
    async def close(self) -> None: ...


@runtime_checkable
class SeqlessFrames(Protocol):
    """A camera whose frames carry no pack seq (``Frame.seq`` counts frames): the line pairs them
    with packs by the PLC's camera triggers. ``frame_delay_ms`` = (min, max): a frame's
    ``timestamp_ns`` minus the moment the PLC's camera seq changed, in ms (min may be < 0);
    ``frame_arrival_ms``: how long after its stamp a frame is handed over at the latest."""

    frame_delay_ms: tuple[float, float]
    frame_arrival_ms: float


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


PACK_SEQ_MAX = 0xFFFF_FFFF
"""The largest pack seq: the PLC counts packs in 32-bit words (docs/plc-signals.md)."""


@runtime_checkable
class Plc(Protocol):
    """The line PLC: verdicts keyed by seq (at most :data:`PACK_SEQ_MAX`), gate reports,
    heartbeats, line state."""

    @property
    def link_state(self) -> LinkState: ...
    async def connect(self) -> None: ...
    async def write_verdict(self, seq: int, verdict: Verdict, reason: int = 0) -> None: ...
    async def read_snapshot(self) -> PlcSnapshot: ...
    async def gate_events(self) -> list[GateEvent]: ...
    async def write_heartbeat(self, value: int) -> None: ...
    async def command(self, packml_command: int) -> None: ...
    async def close(self) -> None: ...


@runtime_checkable
class SignalAccess(Protocol):
    """A PLC driver that reads and writes any signal of the map (``drivers.plc.signals``)."""

    async def read(self, signals: Sequence[Signal]) -> list[int]: ...
    async def write(self, signals: Sequence[Signal], values: Sequence[int]) -> None: ...
