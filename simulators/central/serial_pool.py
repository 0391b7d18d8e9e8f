"""The serial-number authority behind the simulated OPEN-SCS pool manager: a persistent SQLite pool.

Every serial it hands out is committed to disk before the answer leaves, under a UNIQUE key per
namespace (the GTIN, or the SSCC company prefix), so no restart and no second line ever gets it
again; returned serials are kept out of circulation for good. Item serials are drawn at random
from a space at least 10,000 times the collection's capacity (EU 2016/161 art. 4); SSCC serial
references are issued in sequence.

Paging: one request may ask for at most ``max_sn_requestable`` serials (MaxSNRequestable); it
reserves its whole count (or what is left) at once and hands it out in pages of ``page_size``.
Each page's answer carries a token for the next page; calling again
with the same token replays the same page (an answer lost on the wire costs nothing), and using the
next token retires the previous one. A request left alone for ``token_ttl_s`` expires: its tokens
become invalid and the part never handed out goes back to the pool (those serials were never drawn).
"""

from __future__ import annotations

import json
import random
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from simulators.central.config import ALPHABETS, CollectionSpec
from simulators.central.serial_formats import SN_FORMATS, format_serial, parse_serial
from standards.openscs import ReturnStatus
from standards.openscs import SerialNumberState as SerialState

CRITERIA_KEYS = ("GTIN", "LOT", "MARKET")
_LOT = re.compile(r"[!-~]{1,20}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    id TEXT PRIMARY KEY, committed INTEGER NOT NULL DEFAULT 0, next_reference INTEGER
);
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY, collection TEXT NOT NULL, state INTEGER NOT NULL,
    lot TEXT, market TEXT, reserved INTEGER NOT NULL, delivered INTEGER NOT NULL DEFAULT 0,
    short INTEGER NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, request TEXT NOT NULL, page INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS serials (
    namespace TEXT NOT NULL, serial TEXT NOT NULL, collection TEXT NOT NULL,
    state INTEGER NOT NULL, request TEXT NOT NULL, page INTEGER NOT NULL,
    lot TEXT, market TEXT, issued_at REAL NOT NULL, returned_at REAL,
    PRIMARY KEY (namespace, serial)
);
CREATE INDEX IF NOT EXISTS serials_by_page ON serials (request, page);
"""


class TooManySerials(ValueError):
    """A request or return names more serials than MaxSNRequestable / MaxSNReturnable allow."""


@dataclass
class PoolAnswer:
    """What a pool-manager method answers; ``detail`` says why, for the log."""

    status: ReturnStatus
    collection: CollectionSpec | None = None
    serials: list[str] = field(default_factory=list)
    token: str = ""
    detail: str = ""
    lot: str = ""
    market: str = ""


@dataclass(frozen=True)
class _Selection:
    spec: CollectionSpec
    lot: str
    market: str


class SerialPool:
    """The persistent pool; thread-safe (calls are serialised), meant to run off the event loop."""

    def __init__(
        self,
        path: Path | str,
        collections: Sequence[CollectionSpec],
        *,
        max_sn_requestable: int = 1000,
        max_sn_returnable: int = 1000,
        page_size: int = 250,
        token_ttl_s: float = 600.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.collections = {c.id: c for c in collections}
        self.default = next((c for c in collections if c.default), collections[0])
        self.max_sn_requestable = max_sn_requestable
        self.max_sn_returnable = max_sn_returnable
        self.page_size = page_size
        self.token_ttl_s = token_ttl_s
        self._clock = clock
        self._rng = rng or secrets.SystemRandom()  # tests pass a seeded one
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        for spec in collections:
            start = spec.first_reference if spec.kind == "sscc" else None
            self._db.execute(
                "INSERT OR IGNORE INTO collections (id, next_reference) VALUES (?, ?)",
                (spec.id, start),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- requests -------------------------------------------------------------------------

    def request(
        self,
        state: SerialState,
        collection_id: str,
        count: int,
        sn_format: str,
        criteria: Sequence[tuple[str, str]],
        token: str,
    ) -> PoolAnswer:
        """One call of SNRequestUnassigned / SNRequestUnallocated / SNRequestAllocated."""
        if count > self.max_sn_requestable and not token:
            raise TooManySerials(
                f"Count {count} exceeds MaxSNRequestable {self.max_sn_requestable}"
            )
        fmt = (sn_format or "SERIALONLY").upper()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                answer = self._request(state, collection_id, count, fmt, criteria, token)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")  # durable before the serials leave the server
            return answer

    def _request(
        self,
        state: SerialState,
        collection_id: str,
        count: int,
        fmt: str,
        criteria: Sequence[tuple[str, str]],
        token: str,
    ) -> PoolAnswer:
        now = self._clock()
        self._expire(now)
        if token:
            row = self._db.execute(
                "SELECT r.id, r.collection, r.state, r.lot, r.market, t.page FROM tokens t "
                "JOIN requests r ON r.id = t.request WHERE t.token = ?",
                (token,),
            ).fetchone()
            if row is None:
                return PoolAnswer(ReturnStatus.InvalidRequestToken5, detail="unknown or expired")
            request_id, coll, req_state, lot, market, page = row
            if req_state != state or (collection_id and collection_id != coll):
                return PoolAnswer(
                    ReturnStatus.InvalidRequestToken5,
                    detail=f"token belongs to another request ({coll}, state {req_state})",
                )
            spec = self.collections[coll]
            if fmt not in SN_FORMATS:
                return PoolAnswer(ReturnStatus.InvalidSerialNumbersFormat4, spec, detail=fmt)
            selection = _Selection(spec, lot or "", market or "")
        else:
            chosen = self._select(collection_id, criteria)
            if isinstance(chosen, PoolAnswer):
                return chosen
            selection = chosen
            if fmt not in SN_FORMATS:
                return PoolAnswer(
                    ReturnStatus.InvalidSerialNumbersFormat4, selection.spec, detail=fmt
                )
            request_id = self._open_request(state, selection, count, now)
            page = 1
        return self._page(request_id, page, selection, fmt, now)

    def _select(
        self, collection_id: str, criteria: Sequence[tuple[str, str]]
    ) -> _Selection | PoolAnswer:
        """The collection, lot and market a request or return is about, from its arguments."""
        given: dict[str, str] = {}
        for key, value in criteria:
            name = (key or "").strip().upper()
            if name not in CRITERIA_KEYS:
                return PoolAnswer(
                    ReturnStatus.InvalidSelectionCriteria6,
                    detail=f"unknown criterion {key!r} (known: {', '.join(CRITERIA_KEYS)})",
                )
            if name in given:
                return PoolAnswer(ReturnStatus.InvalidSelectionCriteria6, detail=f"{name} twice")
            given[name] = (value or "").strip()
        gtin, lot, market = given.get("GTIN", ""), given.get("LOT", ""), given.get("MARKET", "")
        if collection_id:
            spec = self.collections.get(collection_id)
            if spec is None:
                return PoolAnswer(
                    ReturnStatus.InvalidSerialNumberCollection2,
                    detail=f"no collection {collection_id!r}",
                )
        elif gtin or market:
            matches = [
                c
                for c in self.collections.values()
                if (not gtin or (c.kind == "sgtin" and c.gtin == gtin))
                and (not market or not c.markets or market in c.markets)
            ]
            if not matches:
                return PoolAnswer(
                    ReturnStatus.InvalidSelectionCriteria6,
                    detail=f"no collection for GTIN {gtin!r} market {market!r}",
                )
            spec = next((c for c in matches if c.default), matches[0])
        else:
            spec = self.default
        if gtin and (spec.kind != "sgtin" or spec.gtin != gtin):
            return PoolAnswer(
                ReturnStatus.InvalidSelectionCriteria6, spec, detail=f"GTIN {gtin!r} not served"
            )
        if market and spec.markets and market not in spec.markets:
            return PoolAnswer(
                ReturnStatus.InvalidSelectionCriteria6, spec, detail=f"market {market!r}"
            )
        if "LOT" in given and not _LOT.fullmatch(lot):
            return PoolAnswer(ReturnStatus.InvalidSelectionCriteria6, spec, detail=f"lot {lot!r}")
        if spec.locked:
            return PoolAnswer(ReturnStatus.InsufficientPrivilegeToExecute11, spec, detail="locked")
        return _Selection(spec, lot, market)

    def _available(self, spec: CollectionSpec) -> int:
        (committed,) = self._db.execute(
            "SELECT committed FROM collections WHERE id = ?", (spec.id,)
        ).fetchone()
        return max(0, spec.capacity - int(committed))

    def _open_request(self, state: SerialState, sel: _Selection, count: int, now: float) -> str:
        available = self._available(sel.spec)
        reserved = min(count, available)
        request_id = secrets.token_hex(8)
        self._db.execute(
            "INSERT INTO requests (id, collection, state, lot, market, reserved, short, "
            "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                request_id,
                sel.spec.id,
                int(state),
                sel.lot,
                sel.market,
                reserved,
                int(reserved < count),
                now,
                now + self.token_ttl_s,
            ),
        )
        self._db.execute(
            "UPDATE collections SET committed = committed + ? WHERE id = ?",
            (reserved, sel.spec.id),
        )
        return request_id

    def _page(
        self, request_id: str, page: int, sel: _Selection, fmt: str, now: float
    ) -> PoolAnswer:
        reserved, delivered, short, state = self._db.execute(
            "SELECT reserved, delivered, short, state FROM requests WHERE id = ?", (request_id,)
        ).fetchone()
        serials = [
            s
            for (s,) in self._db.execute(
                "SELECT serial FROM serials WHERE request = ? AND page = ? ORDER BY rowid",
                (request_id, page),
            )
        ]
        if not serials and delivered < reserved:
            size = min(self.page_size, self.max_sn_requestable, reserved - delivered)
            serials = self._draw(sel, SerialState(state), request_id, page, size, now)
            delivered += len(serials)
        self._db.execute(
            "UPDATE requests SET delivered = ?, expires_at = ? WHERE id = ?",
            (delivered, now + self.token_ttl_s, request_id),
        )
        # the token that asked for this page stays valid (a replay) until the next one is used
        self._db.execute("DELETE FROM tokens WHERE request = ? AND page < ?", (request_id, page))
        next_token = ""
        row = self._db.execute(
            "SELECT token FROM tokens WHERE request = ? AND page = ?", (request_id, page + 1)
        ).fetchone()
        if row is not None:
            next_token = row[0]
        elif delivered < reserved:
            next_token = secrets.token_urlsafe(18)
            self._db.execute(
                "INSERT INTO tokens (token, request, page) VALUES (?, ?, ?)",
                (next_token, request_id, page + 1),
            )
        status = ReturnStatus.InsufficientSerialNumbers3 if short else ReturnStatus.NoError1
        return PoolAnswer(
            status,
            sel.spec,
            [format_serial(sel.spec, s, fmt) for s in serials],
            next_token,
            detail=f"request {request_id} page {page}: {len(serials)} of {reserved}",
            lot=sel.lot,
            market=sel.market,
        )

    def _draw(
        self,
        sel: _Selection,
        state: SerialState,
        request_id: str,
        page: int,
        size: int,
        now: float,
    ) -> list[str]:
        spec = sel.spec
        out: list[str] = []
        insert = (
            "INSERT OR IGNORE INTO serials (namespace, serial, collection, state, request, page, "
            "lot, market, issued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        if spec.kind == "sscc":
            (start,) = self._db.execute(
                "SELECT next_reference FROM collections WHERE id = ?", (spec.id,)
            ).fetchone()
            for reference in range(start, start + size):
                serial = spec.sscc(reference)
                args = (spec.namespace, serial, spec.id, int(state), request_id, page)
                self._db.execute(insert, (*args, sel.lot, sel.market, now))
                out.append(serial)
            self._db.execute(
                "UPDATE collections SET next_reference = ? WHERE id = ?", (start + size, spec.id)
            )
            return out
        alphabet = ALPHABETS[spec.alphabet]
        while len(out) < size:
            serial = "".join(self._rng.choice(alphabet) for _ in range(spec.serial_length))
            if spec.alphabet == "numeric" and serial[0] == "0":
                continue  # no leading zero: the serial also fits an SGTIN-96 EPC
            args = (spec.namespace, serial, spec.id, int(state), request_id, page)
            cursor = self._db.execute(insert, (*args, sel.lot, sel.market, now))
            if cursor.rowcount == 1:
                out.append(serial)
        return out

    def _expire(self, now: float) -> None:
        stale = self._db.execute(
            "SELECT id, collection, reserved - delivered FROM requests WHERE expires_at < ? "
            "AND (reserved > delivered OR id IN (SELECT request FROM tokens))",
            (now,),
        ).fetchall()
        for request_id, collection, unused in stale:
            self._db.execute(
                "UPDATE collections SET committed = committed - ? WHERE id = ?",
                (unused, collection),
            )
            self._db.execute("UPDATE requests SET reserved = delivered WHERE id = ?", (request_id,))
            self._db.execute("DELETE FROM tokens WHERE request = ?", (request_id,))

    # -- returns --------------------------------------------------------------------------

    def give_back(
        self,
        state: SerialState,
        collection_id: str,
        serials: Sequence[str],
        sn_format: str,
        criteria: Sequence[tuple[str, str]],
    ) -> PoolAnswer:
        """SNReturnAllocated / SNReturnUnallocated: all serials go back or none (see the status)."""
        if len(serials) > self.max_sn_returnable:
            raise TooManySerials(f"{len(serials)} serials, at most {self.max_sn_returnable}")
        fmt = (sn_format or "SERIALONLY").upper()
        with self._lock:
            chosen = self._select(collection_id, criteria)
            if isinstance(chosen, PoolAnswer):
                return chosen
            spec = chosen.spec
            if fmt not in SN_FORMATS:
                return PoolAnswer(ReturnStatus.InvalidSerialNumbersFormat4, spec, detail=fmt)
            wanted: list[str] = []
            for text in serials:
                serial, refused = parse_serial(spec, text, fmt)
                if refused is not None:
                    return PoolAnswer(refused, spec, detail=f"{text!r} ({fmt})")
                wanted.append(serial)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                answer = self._give_back(spec, state, wanted)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT" if answer.status == ReturnStatus.NoError1 else "ROLLBACK")
            return answer

    def _give_back(self, spec: CollectionSpec, state: SerialState, wanted: list[str]) -> PoolAnswer:
        now = self._clock()
        for serial in wanted:
            row = self._db.execute(
                "SELECT collection, state FROM serials WHERE namespace = ? AND serial = ?",
                (spec.namespace, serial),
            ).fetchone()
            if row is None or row[0] != spec.id or row[1] != int(state):
                why = "never issued" if row is None else f"issued by {row[0]} in state {row[1]}"
                return PoolAnswer(
                    ReturnStatus.InvalidSerialNumberCollection2,
                    spec,
                    detail=f"serial {serial!r}: {why}",
                )
            self._db.execute(  # a second return of the same serial changes nothing
                "UPDATE serials SET returned_at = ? WHERE namespace = ? AND serial = ? "
                "AND returned_at IS NULL",
                (now, spec.namespace, serial),
            )
        return PoolAnswer(ReturnStatus.NoError1, spec, detail=f"{len(wanted)} returned")

    # -- inspection (tests, admin) --------------------------------------------------------

    def issued(self, collection_id: str | None = None) -> list[str]:
        """Every serial ever handed out (returned ones included), in issue order."""
        with self._lock:
            if collection_id is None:
                rows = self._db.execute("SELECT serial FROM serials ORDER BY rowid")
            else:
                rows = self._db.execute(
                    "SELECT serial FROM serials WHERE collection = ? ORDER BY rowid",
                    (collection_id,),
                )
            return [r[0] for r in rows]

    def returned(self, collection_id: str) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT serial FROM serials WHERE collection = ? AND returned_at IS NOT NULL "
                "ORDER BY rowid",
                (collection_id,),
            )
            return [r[0] for r in rows]

    def stats(self) -> dict[str, dict[str, int]]:
        with self._lock:
            out: dict[str, dict[str, int]] = {}
            for spec in self.collections.values():
                issued, returned = self._db.execute(
                    "SELECT count(*), count(returned_at) FROM serials WHERE collection = ?",
                    (spec.id,),
                ).fetchone()
                out[spec.id] = {
                    "capacity": spec.capacity,
                    "available": self._available(spec),
                    "issued": int(issued),
                    "returned": int(returned),
                }
            return out

    def describe(self) -> str:
        return json.dumps(self.stats())
