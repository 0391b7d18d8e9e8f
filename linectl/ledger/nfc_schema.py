"""Schema v10: the ``nfc_tags`` table, NFC tag UIDs per unit (linectl.ledger.nfc_tags)."""

from __future__ import annotations

import sqlite3


def v9_to_v10(conn: sqlite3.Connection) -> None:
    """NFC tag UIDs of units, one per unit and unit per UID, sealed."""
    conn.execute(
        """
        CREATE TABLE nfc_tags (
            serial_id  INTEGER PRIMARY KEY REFERENCES serials (id),
            uid        TEXT NOT NULL UNIQUE,
            audit_id   INTEGER NOT NULL,
            row_hash   TEXT NOT NULL
        ) STRICT
        """
    )
