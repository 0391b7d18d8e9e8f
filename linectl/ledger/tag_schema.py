"""Schema v9: the ``unit_tags`` table, the RFID tag read on each unit (linectl.ledger.unit_tags)."""

from __future__ import annotations

import sqlite3


def v8_to_v9(conn: sqlite3.Connection) -> None:
    """RFID tags of units: EPC (hex, indexed for the copied-tag check), EPC URI, TID, sealed."""
    conn.execute(
        """
        CREATE TABLE unit_tags (
            serial_id  INTEGER PRIMARY KEY REFERENCES units (serial_id),
            epc        TEXT NOT NULL,
            epc_uri    TEXT,
            tid        TEXT,
            row_hash   TEXT NOT NULL
        ) STRICT
        """
    )
    conn.execute("CREATE INDEX unit_tags_by_epc ON unit_tags (epc)")
