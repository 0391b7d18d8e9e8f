"""Records the ledger takes and returns: work orders, unit verdicts, containers, outbox events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from drivers.interfaces import Verdict
from linectl.ledger.states import SerialState


class WorkOrderStatus(StrEnum):
    """Life of a work order: created, started (serials may be encoded), closed (reconciled)."""

    CREATED = "created"
    STARTED = "started"
    CLOSED = "closed"


@dataclass(frozen=True)
class WorkOrder:
    """A batch to pack: what to print on every pack and which packaging-material lots it uses."""

    batch: str
    gtin: str
    lot: str
    expiry: str
    quantity: int
    target_market: str
    materials: Mapping[str, str]
    status: WorkOrderStatus
    created_at: str
    started_at: str | None
    closed_at: str | None


VERDICT_TEXT: Mapping[Verdict, str] = MappingProxyType(
    {Verdict.GOOD: "good", Verdict.REJECT: "reject"}
)
"""How the ledger stores a verdict (``units.verdict``, unchanged since schema v1). A unit's
verdict is the line's :class:`drivers.interfaces.Verdict`; NONE (not judged) is never stored."""

_VERDICT_OF = {text: verdict for verdict, text in VERDICT_TEXT.items()}


def verdict_text(verdict: Verdict) -> str:
    """The text the ledger stores and shows for a verdict: ``good`` or ``reject``."""
    return VERDICT_TEXT[verdict]


def verdict_of(value: object) -> Verdict | None:
    """A verdict the ledger records (GOOD, REJECT, or their stored text); None for anything else."""
    if isinstance(value, Verdict):
        return value if value in VERDICT_TEXT else None
    if isinstance(value, str):
        return _VERDICT_OF.get(value)
    return None


@dataclass(frozen=True)
class UnitTag:
    """The RFID tag read on a unit's pack: its EPC bank (hex, upper case), the EPC's pure
    identity URI when the bank decodes as an EPC, and its TID (hex) when the reader read it."""

    epc: str
    epc_uri: str | None = None
    tid: str | None = None


@dataclass(frozen=True)
class UnitResult:
    """A verdict to record for one Encoded serial: GOOD commissions it, REJECT scraps its label.

    ``reason`` is the reject reason code (no-read, wrong-content, duplicate, low-grade, late,
    no-print-confirmation, ...) and is required for a reject. Times default to now.
    """

    serial: str
    seq: int
    verdict: Verdict
    grade: str | None = None
    reason: str | None = None
    printed_at: str | None = None
    verdict_at: str | None = None
    tag: UnitTag | None = None  # the pack's RFID tag, on a line with an RFID reader station


@dataclass(frozen=True)
class Unit:
    """A recorded pack: its serial, PLC sequence number, verdict and the case it was packed in."""

    gtin: str
    serial: str
    seq: int
    verdict: Verdict
    grade: str | None
    reason: str | None
    printed_at: str | None
    verdict_at: str
    container: str | None
    tag: UnitTag | None = None  # the RFID tag read on the pack (a line with a reader station)


class ContainerLevel(StrEnum):
    """Packaging level of a container with an SSCC."""

    CASE = "case"
    PALLET = "pallet"


class ContainerState(StrEnum):
    """open -> closed -> (reopened -> closed)*."""

    OPEN = "open"
    CLOSED = "closed"
    REOPENED = "reopened"


@dataclass(frozen=True)
class Container:
    """A case or pallet identified by its SSCC, optionally inside a parent (case on a pallet)."""

    sscc: str
    level: ContainerLevel
    state: ContainerState
    batch: str | None
    parent: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class ContainerContents:
    """What is packed directly in a container: unit serials and child containers."""

    sscc: str
    serials: tuple[str, ...]
    children: tuple[str, ...]


@dataclass(frozen=True)
class OutboxEvent:
    """An EPCIS event to queue upstream in the same transaction as the change that caused it.

    ``event_id`` is the EPCIS event hash (unique). ``body`` is the JSON document (text or a
    mapping). ``serials`` names the serials the event mentions, for ``trace``; None means "all
    serials of the command that carries the event" (none for a standalone append).
    """

    event_id: str
    kind: str
    body: str | Mapping[str, object]
    serials: Sequence[str] | None = None
    batch: str | None = None


class Delivery(StrEnum):
    """Delivery state of an outbox event."""

    PENDING = "pending"
    DELIVERED = "delivered"


@dataclass(frozen=True)
class OutboxEntry:
    """A queued event as stored, with its delivery bookkeeping."""

    id: int
    event_id: str
    batch: str | None
    kind: str
    body: str
    created_at: str
    delivery: Delivery
    attempts: int
    last_error: str | None
    delivered_at: str | None


@dataclass(frozen=True)
class HistoryEntry:
    """One state change of a serial; ``from_state`` is None for its arrival in the ledger."""

    from_state: SerialState | None
    to_state: SerialState
    at: str
    reason: str
    actor: str


@dataclass(frozen=True)
class SerialTrace:
    """Everything the ledger knows about one serial."""

    gtin: str
    serial: str
    batch: str
    state: SerialState
    history: tuple[HistoryEntry, ...]
    unit: Unit | None
    containers: tuple[Container, ...]
    """Innermost first: the case the unit is in, then the pallet that case is on, and so on."""
    events: tuple[OutboxEntry, ...]
