"""THE PLC signal map: one table from which the Modbus addresses and the OPC UA nodes both come.

Every signal has a dotted name (which is also its OPC UA string NodeId in ``urn:linectl:plc``), a
Modbus area and 0-based PDU address, and a type. Rules, for whoever programs the PLC:

- Input registers (FC 04) are written by the PLC only; holding registers (FC 03 read, FC 06/16
  write) by the host only. No register has two writers.
- U32 values take two registers, high word first (big-endian word order, mbpoll ``-B``); over
  OPC UA they are one UInt32 node. U16 values are one register / one UInt16 node.
- Verdict slot ``seq mod VERDICT_SLOTS`` holds Verdict, Reason, Seq (hi, lo) in that address order.
  The host writes a slot in ONE request (FC 16 / one OPC UA Write, in that order), so the Seq words
  are the last to change: a half-written slot never carries the arriving pack's seq, and the gate
  passes a pack only if the slot's Seq equals the pack's seq AND its Verdict is GOOD.
- The gate event ring is written slot first, then ``GateEvents.WriteIndex`` (events ever written,
  U32); event ``i`` lives in slot ``i mod EVENT_SLOTS``. The host reads the index and the ring in
  one FC 04 request (122 registers) and follows the index.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

OPCUA_NAMESPACE = "urn:linectl:plc"
OPCUA_ROOT = "LinePlc"  # the object under Objects that holds the tree; NodeId ``s=LinePlc``
MAP_VERSION = 1
VERDICT_SLOTS = 64
EVENT_SLOTS = 40
DEFAULT_HEARTBEAT_TIMEOUT_MS = 1000
MIN_HEARTBEAT_TIMEOUT_MS = 50
MAX_MODBUS_READ = 125  # registers per FC 03/04 request (Modbus application protocol limit)


class Area(enum.Enum):
    """Which Modbus table a signal lives in, and so who writes it."""

    INPUT = "input"  # FC 04; the PLC writes
    HOLDING = "holding"  # FC 03 / FC 06 / FC 16; the host writes

    @property
    def writer(self) -> str:
        return "PLC" if self is Area.INPUT else "host"


class Kind(enum.Enum):
    """Value type: unsigned 16 bits (one register) or 32 bits (two registers, high word first)."""

    U16 = 1
    U32 = 2

    @property
    def words(self) -> int:
        return self.value

    @property
    def maximum(self) -> int:
        return (1 << (16 * self.value)) - 1

    @property
    def opcua_type(self) -> str:
        return "UInt16" if self is Kind.U16 else "UInt32"


_U16, _U32 = Kind.U16, Kind.U32


@dataclass(frozen=True, slots=True)
class Signal:
    """One entry of the map."""

    name: str
    area: Area
    address: int
    kind: Kind
    meaning: str

    def __hash__(self) -> int:
        # the name is unique in the map and its str hash is cached: the generated hash over all
        # five fields made dict(zip(EVENT_BLOCK, values)) cost 45 us per gate ring read
        return hash(self.name)

    @property
    def words(self) -> int:
        return self.kind.words

    @property
    def end(self) -> int:
        """One past the last register this signal occupies."""
        return self.address + self.kind.words

    @property
    def node_id(self) -> str:
        """The OPC UA string identifier (namespace ``urn:linectl:plc``)."""
        return self.name

    @property
    def browse_path(self) -> tuple[str, ...]:
        """Browse names from Objects down to this variable."""
        return (OPCUA_ROOT, *self.name.split("."))

    @property
    def modbus_reference(self) -> str:
        """Classic 1-based reference (30001.. for input, 40001.. for holding registers)."""
        base = 30001 if self.area is Area.INPUT else 40001
        return str(base + self.address)

    def encode(self, value: int) -> list[int]:
        """Registers for ``value``; raises ValueError naming the signal if it does not fit."""
        if self.kind is _U16:  # the limits inline: Kind.maximum costs two enum look-ups
            if 0 <= value <= 0xFFFF:
                return [value]
        elif 0 <= value <= 0xFFFFFFFF:
            return [value >> 16, value & 0xFFFF]
        raise ValueError(f"{self.name}: value {value} outside 0..{self.kind.maximum}")

    def decode(self, registers: Sequence[int]) -> int:
        """The value held in ``registers`` (exactly this signal's words)."""
        if len(registers) != self.kind.words:
            raise ValueError(
                f"{self.name}: needs {self.kind.words} registers, got {len(registers)}"
            )
        if self.kind is Kind.U16:
            return registers[0]
        return (registers[0] << 16) | registers[1]


class Fault(enum.IntFlag):
    """Bits of ``Plc.Fault``; latched until a Reset, Unhold or Clear command is accepted."""

    HOST_HEARTBEAT_LOST = 0x0001
    REJECT_UNCONFIRMED = 0x0002


class CommandResult(enum.IntEnum):
    """``Line.CommandResult``: what the PLC did with the command it acknowledged."""

    NONE = 0
    ACCEPTED = 1
    NOT_ALLOWED_IN_STATE = 2
    UNKNOWN_COMMAND = 3


def _block(area: Area, base: int, fields: Iterable[tuple[str, Kind, str]]) -> list[Signal]:
    """Lay ``fields`` out one after another from ``base`` (so a block cannot overlap itself)."""
    out: list[Signal] = []
    address = base
    for name, kind, meaning in fields:
        out.append(Signal(name, area, address, kind, meaning))
        address += kind.words
    return out


U16, U32 = Kind.U16, Kind.U32

_MAP_INFO = _block(
    Area.INPUT,
    0,
    [
        ("Map.Version", U16, f"signal map version, {MAP_VERSION}; the host refuses another"),
        ("Map.VerdictSlots", U16, f"verdict ring size N = {VERDICT_SLOTS}"),
        ("Map.EventSlots", U16, f"gate event ring size M = {EVENT_SLOTS}"),
        ("Line.CommandAck", U16, "echo of Line.CommandCounter once the PLC handled that command"),
        ("Line.CommandResult", U16, "CommandResult of the acknowledged command"),
    ],
)
_STATUS = _block(
    Area.INPUT,
    10,
    [
        ("Plc.Heartbeat", U16, "incremented by the PLC every 100 ms, wraps 65535 -> 0"),
        ("Line.State", U16, "PackML state number 0-17"),
        ("Plc.Fault", U16, "fault word, Fault bits, latched"),
        ("Stations.Printer.LastSeq", U32, "seq of the last pack that reached the printer"),
        ("Stations.Camera.LastSeq", U32, "seq of the last pack that reached the camera"),
        ("Stations.Gate.LastSeq", U32, "seq of the last pack the gate decided on"),
        ("Counters.PacksIn", U32, "packs that reached the printer (infeed)"),
        ("Counters.Passed", U32, "packs the gate let pass"),
        ("Counters.Rejected", U32, "packs the gate rejected (confirmed or not)"),
        ("Counters.Unconfirmed", U32, "rejects the confirmation sensor did not confirm"),
    ],
)
_EVENTS = _block(
    Area.INPUT,
    100,
    [("GateEvents.WriteIndex", U32, "gate events ever written; slot = index mod M")]
    + [
        field
        for k in range(EVENT_SLOTS)
        for field in (
            (f"GateEvents.Slot{k:02d}.Seq", U32, f"seq of the pack of event slot {k}"),
            (f"GateEvents.Slot{k:02d}.Outcome", U16, "GateOutcome 1 passed, 2/3 rejected"),
        )
    ],
)
_HOST = _block(
    Area.HOLDING,
    0,
    [
        ("Host.Heartbeat", U16, "incremented by linectl; the PLC holds the line if it stalls"),
        ("Host.HeartbeatTimeoutMs", U16, "stall limit in ms (0 = 1000, minimum 50)"),
        ("Line.Command", U16, "PackML command number 1-9"),
        ("Line.CommandCounter", U16, "host increments with each command; the PLC acts on change"),
    ],
)
_VERDICTS = _block(
    Area.HOLDING,
    100,
    [
        field
        for k in range(VERDICT_SLOTS)
        for field in (
            (f"VerdictRing.Slot{k:02d}.Verdict", U16, "Verdict 0 none, 1 GOOD, 2 reject"),
            (f"VerdictRing.Slot{k:02d}.Reason", U16, "reject reason code (for the HMI)"),
            (f"VerdictRing.Slot{k:02d}.Seq", U32, f"pack seq with seq mod {VERDICT_SLOTS} = {k}"),
        )
    ],
)

#: Every signal, in area then address order.
SIGNALS: tuple[Signal, ...] = tuple(_MAP_INFO + _STATUS + _EVENTS + _HOST + _VERDICTS)
BY_NAME = MappingProxyType({s.name: s for s in SIGNALS})
AREA_SIZE = MappingProxyType({area: max(s.end for s in SIGNALS if s.area is area) for area in Area})


def signal(name: str) -> Signal:
    """The signal called ``name``; KeyError names it if there is none."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no PLC signal named {name!r}") from None


MAP_VERSION_SIGNAL = signal("Map.Version")
VERDICT_SLOTS_SIGNAL = signal("Map.VerdictSlots")
EVENT_SLOTS_SIGNAL = signal("Map.EventSlots")
COMMAND_ACK = signal("Line.CommandAck")
COMMAND_RESULT = signal("Line.CommandResult")
PLC_HEARTBEAT = signal("Plc.Heartbeat")
LINE_STATE = signal("Line.State")
FAULT = signal("Plc.Fault")
PRINTER_SEQ = signal("Stations.Printer.LastSeq")
CAMERA_SEQ = signal("Stations.Camera.LastSeq")
GATE_SEQ = signal("Stations.Gate.LastSeq")
PACKS_IN = signal("Counters.PacksIn")
PACKS_PASSED = signal("Counters.Passed")
PACKS_REJECTED = signal("Counters.Rejected")
PACKS_UNCONFIRMED = signal("Counters.Unconfirmed")
EVENT_WRITE_INDEX = signal("GateEvents.WriteIndex")
HOST_HEARTBEAT = signal("Host.Heartbeat")
HEARTBEAT_TIMEOUT = signal("Host.HeartbeatTimeoutMs")
LINE_COMMAND = signal("Line.Command")
COMMAND_COUNTER = signal("Line.CommandCounter")


@dataclass(frozen=True, slots=True)
class VerdictSlot:
    """The three signals of one verdict ring slot, in write order."""

    verdict: Signal
    reason: Signal
    seq: Signal
    #: (verdict, reason, seq): one tuple per slot, so span() finds it in its cache
    signals: tuple[Signal, Signal, Signal] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "signals", (self.verdict, self.reason, self.seq))


@dataclass(frozen=True, slots=True)
class EventSlot:
    """The two signals of one gate event ring slot."""

    seq: Signal
    outcome: Signal


VERDICT_RING = tuple(
    VerdictSlot(
        signal(f"VerdictRing.Slot{k:02d}.Verdict"),
        signal(f"VerdictRing.Slot{k:02d}.Reason"),
        signal(f"VerdictRing.Slot{k:02d}.Seq"),
    )
    for k in range(VERDICT_SLOTS)
)
EVENT_RING = tuple(
    EventSlot(signal(f"GateEvents.Slot{k:02d}.Seq"), signal(f"GateEvents.Slot{k:02d}.Outcome"))
    for k in range(EVENT_SLOTS)
)

#: What ``Plc.read_snapshot`` reads: one contiguous run of input registers.
SNAPSHOT = (
    PLC_HEARTBEAT,
    LINE_STATE,
    FAULT,
    PRINTER_SEQ,
    CAMERA_SEQ,
    GATE_SEQ,
    PACKS_IN,
    PACKS_PASSED,
    PACKS_REJECTED,
    PACKS_UNCONFIRMED,
)
#: The gate event index and ring: one contiguous run of input registers.
EVENT_BLOCK = (EVENT_WRITE_INDEX, *(s for slot in EVENT_RING for s in (slot.seq, slot.outcome)))


def verdict_slot(seq: int) -> VerdictSlot:
    """The verdict ring slot for pack ``seq``."""
    return VERDICT_RING[seq % VERDICT_SLOTS]


def event_slot(index: int) -> EventSlot:
    """The gate event ring slot for event number ``index``."""
    return EVENT_RING[index % EVENT_SLOTS]


#: span() of the tuples read again and again (SNAPSHOT, EVENT_BLOCK, ...), by identity; the entry
#: holds the tuple itself, so its id stays its own while cached.
_SPANS: dict[int, tuple[Sequence[Signal], tuple[Area, int, int]]] = {}


def span(signals: Sequence[Signal]) -> tuple[Area, int, int]:
    """(area, first address, register count) of signals that sit back to back in one area.

    Raises ValueError naming the first signal that breaks the run, so a Modbus driver can read or
    write them in one request.
    """
    cached = _SPANS.get(id(signals))
    if cached is not None and cached[0] is signals:
        return cached[1]
    result = _span(signals)
    if isinstance(signals, tuple) and len(signals) > 3:  # the map's blocks, not a fresh pair
        if len(_SPANS) >= 64 + VERDICT_SLOTS:
            _SPANS.clear()
            _SPANS.update(_SLOT_SPANS)
        _SPANS[id(signals)] = (signals, result)
    return result


def _span(signals: Sequence[Signal]) -> tuple[Area, int, int]:
    if not signals:
        raise ValueError("no signals")
    first = signals[0]
    address = first.address
    for s in signals:
        if s.area is not first.area or s.address != address:
            raise ValueError(f"{s.name} does not follow on from the signal before it")
        address = s.end
    return first.area, first.address, address - first.address


def encode_values(signals: Sequence[Signal], values: Sequence[int]) -> list[int]:
    """Registers for ``values`` of back-to-back ``signals``."""
    if len(signals) != len(values):
        raise ValueError(f"{len(signals)} signals but {len(values)} values")
    words: list[int] = []
    for s, v in zip(signals, values, strict=True):
        if s.kind is _U16 and 0 <= v <= 0xFFFF:  # the common case inline (as decode_values)
            words.append(v)
        else:
            words += s.encode(v)
    return words


def decode_values(signals: Sequence[Signal], registers: Sequence[int]) -> list[int]:
    """Values of back-to-back ``signals`` from the registers read for them."""
    values: list[int] = []
    offset = 0
    available = len(registers)
    for s in signals:
        # the common cases inline (Signal.decode per signal made reading the ring cost 90 us)
        if s.kind is _U16 and offset < available:
            values.append(registers[offset])
            offset += 1
            continue
        if s.kind is _U32 and offset + 1 < available:
            values.append((registers[offset] << 16) | registers[offset + 1])
            offset += 2
            continue
        values.append(s.decode(registers[offset : offset + s.words]))
        offset += s.words
    if offset != len(registers):
        raise ValueError(f"{len(registers)} registers for signals needing {offset}")
    return values


#: The verdict slots' spans, computed once: write_verdict asks for one with every pack.
_SLOT_SPANS = {id(slot.signals): (slot.signals, _span(slot.signals)) for slot in VERDICT_RING}
_SPANS.update(_SLOT_SPANS)
