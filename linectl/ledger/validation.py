"""Checks on what enters the ledger: serials and lots in GS1 CSET 82, GTINs, expiry dates, names.

The GS1 rules themselves live in :mod:`standards.gs1`; this module turns their errors into the
ledger's ``ValidationError`` that names the field, value and input line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from linectl.ledger.errors import ValidationError
from standards.gs1.checkdigit import CheckDigitError, validate_gtin14, validate_sscc
from standards.gs1.cset82 import first_outside_cset82
from standards.gs1.dates import parse_yymmdd
from standards.gs1.errors import Gs1Error

SERIAL_MAX = 20
"""AI (21) serial number: up to 20 characters of CSET 82."""

LOT_MAX = 20
"""AI (10) batch/lot number: up to 20 characters of CSET 82."""

BATCH_ID_MAX = 64
"""Work-order (batch) id: up to 64 characters of CSET 82, so it can be printed or sent anywhere."""


def cset82_problem(value: str, max_len: int) -> str | None:
    """Why ``value`` is not 1..max_len characters of CSET 82, or None when it is."""
    if not value:
        return "must not be empty"
    if len(value) > max_len:
        return f"is {len(value)} characters long, at most {max_len} allowed"
    pos = first_outside_cset82(value)
    if pos is not None:
        return f"character {value[pos]!r} at position {pos + 1} is not in GS1 CSET 82"
    return None


def check_serial(serial: object, *, index: int | None = None) -> str:
    """Return ``serial`` when it is a GS1 serial (AI 21), else raise naming index and value."""
    if not isinstance(serial, str):
        raise ValidationError("must be a string", field="serial", value=serial, index=index)
    problem = cset82_problem(serial, SERIAL_MAX)
    if problem is not None:
        raise ValidationError(problem, field="serial", value=serial, index=index)
    return serial


def check_lot(lot: str) -> str:
    """Return ``lot`` when it is a GS1 batch/lot number (AI 10)."""
    problem = cset82_problem(lot, LOT_MAX)
    if problem is not None:
        raise ValidationError(problem, field="lot", value=lot)
    return lot


def check_batch_id(batch: str) -> str:
    """Return ``batch`` when it is a usable work-order id."""
    problem = cset82_problem(batch, BATCH_ID_MAX)
    if problem is not None:
        raise ValidationError(problem, field="batch", value=batch)
    return batch


def check_gtin(gtin: str) -> str:
    """The GTIN as 14 digits with a correct check digit (GTIN-8/12/13 are zero-padded)."""
    try:
        return validate_gtin14(gtin)
    except CheckDigitError as exc:
        raise ValidationError(str(exc), field="gtin", value=gtin) from exc


def check_sscc(sscc: str) -> str:
    """The SSCC when it has 18 digits and a correct check digit."""
    try:
        return validate_sscc(sscc)
    except CheckDigitError as exc:
        raise ValidationError(str(exc), field="sscc", value=sscc) from exc


def check_expiry(expiry: str) -> str:
    """Return ``expiry`` when it is a GS1 YYMMDD date; DD 00 means the last day of the month."""
    try:
        parse_yymmdd(expiry, allow_day_zero=True)
    except Gs1Error as exc:
        raise ValidationError(str(exc), field="expiry", value=expiry) from exc
    return expiry


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # what check_text refuses


def check_text(value: str, field: str, *, max_len: int = 200) -> str:
    """Return ``value`` when it is non-blank, at most ``max_len`` long and free of control chars."""
    if not value.strip():
        raise ValidationError("must not be empty", field=field, value=value)
    if len(value) > max_len:
        raise ValidationError(f"longer than {max_len} characters", field=field, value=value)
    if _CONTROL.search(value):
        raise ValidationError("contains control characters", field=field, value=value)
    return value


def check_quantity(quantity: int) -> int:
    """Return ``quantity`` when it is a positive whole number."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise ValidationError("must be a positive integer", field="quantity", value=quantity)
    return quantity


_LINE_EVENT = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+$")
_LEDGER_NAMESPACES = frozenset(
    {"work_order", "serials", "units", "containers", "outbox", "sscc_stock", "products"}
)


@dataclass(frozen=True)
class LineNote:
    """A line event to append to the audit trail with a ledger change (``after``: JSON)."""

    command: str
    reason: str
    after: object


def check_line_event(command: str, reason: str) -> None:
    """A line event's command is a dotted lower-case name outside the ledger's own namespaces
    (work_order, serials, units, containers, outbox, sscc_stock, products); its reason has no
    control characters."""
    if not _LINE_EVENT.match(command) or len(command) > 100:
        raise ValidationError(
            "must be a dotted lower-case name like 'line.state'", field="command", value=command
        )
    if command.split(".", 1)[0] in _LEDGER_NAMESPACES:
        raise ValidationError(
            "is a ledger command; record_event is for events outside the ledger tables",
            field="command",
            value=command,
        )
    if reason and any(ord(c) < 0x20 or ord(c) == 0x7F for c in reason):
        raise ValidationError("contains control characters", field="reason", value=reason)
