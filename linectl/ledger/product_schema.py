"""Schema step 6 -> 7: product master data (``linectl products import``).

Kept beside :mod:`linectl.ledger.migrations`, which lists it in ``MIGRATIONS``; like every
released step it is never edited, only followed by new ones.
"""

from __future__ import annotations

import sqlite3

_V7 = (
    """
    CREATE TABLE products (
        gtin          TEXT NOT NULL CHECK (length(gtin) = 14),
        market        TEXT NOT NULL CHECK (length(market) = 2),
        name          TEXT NOT NULL,
        code_profile  TEXT NOT NULL,
        label_layout  TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        PRIMARY KEY (gtin, market)
    ) STRICT
    """,
)


def v6_to_v7(conn: sqlite3.Connection) -> None:
    """Products: one row per GTIN and target market, with its name, the code profile its packs
    are marked with and its label layout; a work order names one, and is checked against it."""
    for statement in _V7:
        conn.execute(statement)
