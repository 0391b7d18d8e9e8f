"""The SSCC stock (``ledger.sscc_stock``): SSCCs provisioned by the pool manager, in arrival order.

An SSCC of the stock is used once a container carries it (``containers.sscc``); nothing else
marks it, so a crash between drawing an SSCC and creating its container loses nothing. Each row
is sealed (``linectl.ledger.seals.sscc_stock_seal``) and every addition is an audit row
``sscc_stock.add``, written in the transaction that stores the SSCCs: ``add`` returns once they
are committed (WAL, ``synchronous = FULL``), so a refill is durable before it is acknowledged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from linectl.ledger.audit import append_audit, summarise
from linectl.ledger.connection import LedgerConnection, check_actor
from linectl.ledger.errors import ValidationError
from linectl.ledger.seals import sscc_stock_seal
from standards.gs1.checkdigit import CheckDigitError, validate_sscc

_UNUSED = "NOT EXISTS (SELECT 1 FROM containers AS c WHERE c.sscc = s.sscc)"


def add(conn: sqlite3.Connection, ssccs: Sequence[str], at: str) -> list[str]:
    """Store the SSCCs not in stock yet, in order (in the caller's transaction); return them."""
    fresh = [
        s
        for s in dict.fromkeys(ssccs)
        if conn.execute("SELECT 1 FROM sscc_stock WHERE sscc = ?", (s,)).fetchone() is None
    ]
    (last,) = conn.execute("SELECT coalesce(max(id), 0) FROM sscc_stock").fetchone()
    rows = [(last + i, s, at, sscc_stock_seal(last + i, s, at)) for i, s in enumerate(fresh, 1)]
    conn.executemany(
        "INSERT INTO sscc_stock (id, sscc, added_at, row_hash) VALUES (?, ?, ?, ?)", rows
    )
    return fresh


def next_unused(conn: sqlite3.Connection, after: int = 0) -> tuple[int, str] | None:
    """(stock id, SSCC) of the first SSCC after stock id ``after`` that no container carries."""
    row = conn.execute(
        f"SELECT s.id, s.sscc FROM sscc_stock AS s WHERE s.id > ? AND {_UNUSED} "
        "ORDER BY s.id LIMIT 1",
        (after,),
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def unused_count(conn: sqlite3.Connection) -> int:
    """SSCCs in stock that no container carries yet."""
    (count,) = conn.execute(f"SELECT count(*) FROM sscc_stock AS s WHERE {_UNUSED}").fetchone()
    return int(count)


class SsccStock:
    """The ledger's SSCC stock (see the module docstring). Blocking: call it off the loop."""

    def __init__(self, db: LedgerConnection) -> None:
        self._db = db

    def add(self, ssccs: Sequence[str], *, actor: str, reason: str = "") -> list[str]:
        """Store new SSCCs durably, in order; refuses a bad one, storing none. Returns the new.

        SSCCs already in stock are skipped, so adding the same block again changes nothing.
        """
        check_actor(actor)
        if isinstance(ssccs, str):
            raise ValidationError("expected a list of SSCCs", field="ssccs", value=ssccs)
        checked = []
        for index, sscc in enumerate(ssccs):
            try:
                checked.append(validate_sscc(sscc))
            except CheckDigitError as exc:
                raise ValidationError(str(exc), field="sscc", value=sscc, index=index) from None
        if not checked:
            return []
        with self._db.write() as conn:
            at = self._db.now()
            fresh = add(conn, checked, at)
            if fresh:
                append_audit(
                    conn,
                    at=at,
                    actor=actor,
                    command="sscc_stock.add",
                    reason=reason,
                    before=None,
                    after={"ssccs": summarise(fresh, "ssccs")},
                )
        return fresh

    def next_unused(self, after: int = 0) -> tuple[int, str] | None:
        """(stock id, SSCC) of the first SSCC after stock id ``after`` no container carries."""
        with self._db.read() as conn:
            return next_unused(conn, after)

    def unused(self) -> int:
        """How many SSCCs of the stock no container carries yet."""
        with self._db.read() as conn:
            return unused_count(conn)

    def all(self) -> list[str]:
        """Every SSCC in stock, used or not, in the order it came."""
        with self._db.read() as conn:
            return [str(r[0]) for r in conn.execute("SELECT sscc FROM sscc_stock ORDER BY id")]
