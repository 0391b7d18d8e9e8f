"""The RFID tag read on each unit's pack: EPC bank, its pure identity URI, TID; sealed per row.

A line with an RFID reader station (linectl.line.rfid_station) records, with each judged unit,
the tag the station judged: one ``unit_tags`` row beside the ``units`` row (schema v9,
linectl.ledger.tag_schema), written in the same transaction. A unit without a tag read has no
row. The row carries its own seal (``unit_tags/1``), checked whenever it is read, so an EPC
edited behind linectl's back shows.
:meth:`UnitTags.holder` answers whether an EPC is already on a commissioned unit (a copied tag).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence

from linectl.ledger.connection import LedgerConnection
from linectl.ledger.errors import LedgerError, ValidationError
from linectl.ledger.models import UnitResult, UnitTag
from linectl.ledger.seals import unit_tag_seal
from linectl.ledger.serials import SerialRow
from standards.epc.binary import EpcEncodingError, Scheme, decode

HEX_WORDS = re.compile(r"^(?:[0-9A-F]{4})+$")  # whole 16-bit words, as a reader reports a bank


def tag_seal(serial_id: int, tag: UnitTag) -> str:
    """Seal of a unit_tags row (:func:`linectl.ledger.seals.unit_tag_seal`)."""
    return unit_tag_seal(serial_id, tag.epc, tag.epc_uri, tag.tid)


def check_tags(units: Sequence[UnitResult]) -> None:
    """Refuse a tag that is not hex in whole words (EPC) or hex (TID), naming the unit."""
    for index, unit in enumerate(units):
        tag = unit.tag
        if tag is None:
            continue
        if not isinstance(tag.epc, str) or not HEX_WORDS.match(tag.epc):
            raise ValidationError(
                "must be upper-case hex in whole 16-bit words", field="tag.epc", value=tag.epc,
                index=index,
            )  # fmt: skip
        if tag.tid is not None and (not isinstance(tag.tid, str) or not HEX_WORDS.match(tag.tid)):
            raise ValidationError(
                "must be upper-case hex in whole 16-bit words", field="tag.tid", value=tag.tid,
                index=index,
            )  # fmt: skip


def insert_tags(
    conn: sqlite3.Connection, units: Sequence[UnitResult], rows: Sequence[SerialRow]
) -> None:
    """Store the tag of each unit that has one (inside the caller's transaction)."""
    values = [
        (row.id, unit.tag.epc, unit.tag.epc_uri, unit.tag.tid, tag_seal(row.id, unit.tag))
        for unit, row in zip(units, rows, strict=True)
        if unit.tag is not None
    ]
    if values:
        conn.executemany(
            "INSERT INTO unit_tags (serial_id, epc, epc_uri, tid, row_hash) VALUES (?, ?, ?, ?, ?)",
            values,
        )


def load_tag(conn: sqlite3.Connection, serial_id: int) -> UnitTag | None:
    """The tag recorded with unit ``serial_id`` (None: none); LedgerError if it was edited."""
    row = conn.execute(
        "SELECT epc, epc_uri, tid, row_hash FROM unit_tags WHERE serial_id = ?", (serial_id,)
    ).fetchone()
    if row is None:
        return None
    tag = UnitTag(str(row[0]), row[1], row[2])
    if tag_seal(serial_id, tag) != row[3]:
        raise LedgerError(
            f"unit_tags row {serial_id} does not match its seal (edited behind linectl's back?)"
        )
    return tag


class UnitTags:
    """Reads of the tags recorded with units."""

    def __init__(self, db: LedgerConnection) -> None:
        self._db = db

    def holder(self, epc: str) -> str | None:
        """The serial of a commissioned unit that carries (or is) ``epc`` (hex), None if none.

        A commissioned unit carries it when its recorded tag has it, and is it when the EPC
        decodes as an SGTIN whose GTIN and serial are that unit's (a line that read no tags).
        """
        epc = epc.upper()
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT s.serial FROM unit_tags AS t JOIN units AS u ON u.serial_id = t.serial_id "
                "JOIN serials AS s ON s.id = t.serial_id WHERE t.epc = ? AND u.verdict = 'good' "
                "LIMIT 1",
                (epc,),
            ).fetchone()
            if row is not None:
                return str(row[0])
            try:
                decoded = decode(epc)
            except (EpcEncodingError, ValueError):
                return None
            if decoded.scheme is Scheme.SSCC_96:
                return None
            row = conn.execute(
                "SELECT s.serial FROM serials AS s JOIN units AS u ON u.serial_id = s.id "
                "WHERE s.gtin = ? AND s.serial = ? AND u.verdict = 'good'",
                (decoded.key, decoded.serial),
            ).fetchone()
        return None if row is None else str(row[0])
