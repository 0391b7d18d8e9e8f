"""Errors the ledger raises; each names what was wrong and where, so an operator can act on it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from linectl.ledger.states import SerialState


EXCERPT = 60
"""Characters of a bad value shown in a message; a 10 MB line is named, never echoed."""


def clipped(value: object) -> str:
    """``repr(value)``, cut to about EXCERPT characters with the full length said."""
    text = repr(value)
    if len(text) <= EXCERPT + 2:
        return text
    size = f"{len(value):,} characters" if isinstance(value, str | bytes) else "cut"
    return f"{text[:EXCERPT]}... ({size})"


class LedgerError(Exception):
    """Base class of every error the ledger raises on purpose."""


class LedgerUnavailable(LedgerError):
    """A write failed for a reason outside the data: the disk is full, an I/O error, the file is
    locked. Nothing of it was written; the same write may succeed once the cause is gone."""


class SchemaTooNew(LedgerError):
    """The file was written by a newer linectl; opening it with this one could corrupt it."""

    def __init__(self, path: str, found: int, known: int) -> None:
        self.path = path
        self.found = found
        self.known = known
        super().__init__(
            f"ledger {path} has schema version {found}, but this linectl knows versions up to "
            f"{known}; upgrade linectl (never downgrade a ledger file)"
        )


class MigrationFailed(LedgerError):
    """A forward migration raised; the file stays at the version it had before that step."""


class ValidationError(LedgerError, ValueError):
    """Bad input: names the field, the item index and 1-based line (in a list) and the value."""

    def __init__(
        self, message: str, *, field: str, value: object, index: int | None = None
    ) -> None:
        self.field = field
        self.value = value
        self.index = index
        where = f"{field} at index {index} (line {index + 1})" if index is not None else field
        super().__init__(f"{where} {clipped(value)}: {message}")


class ValidationErrors(ValidationError):
    """Several fields of one command are wrong; ``errors`` holds each, the message lists all."""

    def __init__(self, errors: list[ValidationError]) -> None:
        self.errors = errors
        LedgerError.__init__(self, "; ".join(str(e) for e in errors))
        self.field = ",".join(e.field for e in errors)
        self.value = tuple(e.value for e in errors)
        self.index = None


class DuplicateSerial(ValidationError):
    """A serial given twice in one import, or already in the ledger for the same GTIN."""


class UnknownSerial(LedgerError, KeyError):
    """A serial the ledger does not hold (for that GTIN, when one was given)."""

    def __init__(self, serial: str, gtin: str | None, index: int) -> None:
        self.serial = serial
        self.gtin = gtin
        self.index = index
        scope = f" for GTIN {gtin}" if gtin else ""
        super().__init__(f"serial {serial!r} at index {index} is not in the ledger{scope}")

    def __str__(self) -> str:
        return str(self.args[0])


class AmbiguousSerial(LedgerError):
    """A serial held under more than one GTIN, named without a GTIN."""

    def __init__(self, serial: str, gtins: list[str]) -> None:
        self.serial = serial
        self.gtins = gtins
        super().__init__(
            f"serial {serial!r} exists for GTINs {', '.join(gtins)}; name the GTIN to act on it"
        )


class IllegalTransition(LedgerError):
    """A serial state change the OPEN-SCS model (as the ledger enforces it) does not allow."""

    def __init__(
        self, serial: str, from_state: SerialState, to_state: SerialState, *, others: int = 0
    ) -> None:
        self.serial = serial
        self.from_state = from_state
        self.to_state = to_state
        self.others = others
        more = f" ({others} more illegal in this command)" if others else ""
        super().__init__(
            f"serial {serial!r}: illegal transition {from_state.label} -> {to_state.label}"
            f"{more}; nothing changed"
        )


class UnknownWorkOrder(LedgerError, KeyError):
    """A batch id with no work order."""

    def __init__(self, batch: str) -> None:
        self.batch = batch
        super().__init__(f"no work order for batch {batch!r}")

    def __str__(self) -> str:
        return str(self.args[0])


class WorkOrderExists(LedgerError):
    """A work order with this batch id exists already."""


class WorkOrderStateError(LedgerError):
    """A command the work order's status (created/started/closed) does not allow."""


class EncodedSerialsRemain(WorkOrderStateError):
    """Closing a batch while serials are still Encoded (printed or in flight, not yet judged)."""

    def __init__(self, batch: str, count: int, examples: list[str]) -> None:
        self.batch = batch
        self.count = count
        self.examples = examples
        super().__init__(
            f"batch {batch!r} cannot close: {count} serials are still Encoded "
            f"(e.g. {', '.join(examples)}); record their verdicts or scrap them first"
        )


class MaterialsChanged(WorkOrderStateError):
    """The batch's packaging-material lots changed after the events were built; ``current``
    holds them, so the caller rebuilds its events and tries again."""

    def __init__(self, batch: str, current: dict[str, str]) -> None:
        super().__init__(f"the material lots of batch {batch!r} changed: {current}")
        self.batch = batch
        self.current = current


class ContainerError(LedgerError):
    """A container command that its state, level or contents do not allow."""


class DuplicateEvent(LedgerError):
    """An outbox event whose event_id (its EPCIS event hash) is already queued."""
