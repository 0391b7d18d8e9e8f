"""Row seals: a sha256 over each ledger row's business fields, so an edit behind linectl shows.

Every row of work_orders, serials, serial_history, units, containers and outbox carries
``row_hash``, the seal of its fields as written by linectl (schema v2), and so does every row of
sscc_stock (schema v4). serial_history and
outbox are chained: a row's seal also covers the seal of the row before it (by id), so a row
removed from the middle breaks the next link. An outbox row's seal covers the event itself and
the serials it mentions (``outbox_serials``), never its delivery bookkeeping: delivering is a
legitimate change, sealed separately in ``delivery_hash`` over (id, row seal, delivery,
delivered_at). ``attempts`` and ``last_error`` (retry bookkeeping) are not sealed.

Encoding: a tag naming the table and the seal version, then each field in a fixed order: text
as ``<length>:<text>``, NULL as ``~``, integers in decimal, separated by ``|``. Fixed order and
length prefixes make the encoding unambiguous for any text. Each function is written out for
its table (rather than generically) because verification hashes millions of rows.

These are plain hashes, not keyed MACs: they catch edits made with the sqlite3 shell, not
someone who recomputes the seals with this module after an edit. Such a person still cannot
change what the hash-chained audit trail recorded (work orders and containers created, how many
serials were imported and verdicts recorded) without rewriting the chain, which an anchor kept
outside the file (``audit_head``) exposes.

linectl never reseals a row whose stored seal does not match what it read: such a row keeps its
stale seal through later legitimate updates, so an edit cannot be laundered by the next command.
"""

from __future__ import annotations

import hashlib
import sqlite3

GENESIS = "0" * 64
"""The link before the first row of a chained table."""

_sha = hashlib.sha256


def _text(value: str | None) -> str:
    """A nullable text field: ``~`` for NULL, else length-prefixed."""
    return "~" if value is None else f"{len(value)}:{value}"


def work_order_seal(
    batch: str,
    gtin: str,
    lot: str,
    expiry: str,
    quantity: int,
    target_market: str,
    materials: str,
    status: str,
    created_at: str,
    started_at: str | None,
    closed_at: str | None,
) -> str:
    """Seal of a work_orders row (``materials`` as stored: canonical JSON text)."""
    text = (
        f"work_orders/2|{len(batch)}:{batch}|{gtin}|{len(lot)}:{lot}|{expiry}|{quantity}|"
        f"{len(target_market)}:{target_market}|{len(materials)}:{materials}|{status}|"
        f"{created_at}|{_text(started_at)}|{_text(closed_at)}"
    )
    return _sha(text.encode()).hexdigest()


def serial_seal(
    row_id: int, gtin: str, serial: str, batch: str, state: int, updated_at: str
) -> str:
    """Seal of a serials row: identity, batch, OPEN-SCS state and when it last changed."""
    text = (
        f"serials/2|{row_id}|{len(gtin)}:{gtin}|{len(serial)}:{serial}|{len(batch)}:{batch}|"
        f"{state}|{len(updated_at)}:{updated_at}"
    )
    return _sha(text.encode()).hexdigest()


def history_seal(
    row_id: int,
    serial_id: int,
    from_state: int | None,
    to_state: int,
    at: str,
    reason: str,
    actor: str,
    prev: str | None,
) -> str:
    """Seal of a serial_history row, chained to the previous row's seal (``prev``)."""
    text = (
        f"serial_history/2|{row_id}|{serial_id}|{from_state}|{to_state}|{len(at)}:{at}|"
        f"{len(reason)}:{reason}|{len(actor)}:{actor}|{prev}"
    )
    return _sha(text.encode()).hexdigest()


def unit_seal(
    serial_id: int,
    seq: int,
    verdict: str,
    grade: str | None,
    reason: str | None,
    printed_at: str | None,
    verdict_at: str,
    container: str | None,
) -> str:
    """Seal of a units row, including the container it is packed in."""
    text = (
        f"units/2|{serial_id}|{seq}|{len(verdict)}:{verdict}|{_text(grade)}|{_text(reason)}|"
        f"{_text(printed_at)}|{len(verdict_at)}:{verdict_at}|{_text(container)}"
    )
    return _sha(text.encode()).hexdigest()


def container_seal(
    sscc: str,
    level: str,
    state: str,
    batch: str | None,
    parent: str | None,
    created_at: str,
    updated_at: str,
) -> str:
    """Seal of a containers row: level, state, batch, parent and times."""
    text = (
        f"containers/2|{len(sscc)}:{sscc}|{len(level)}:{level}|{len(state)}:{state}|"
        f"{_text(batch)}|{_text(parent)}|{len(created_at)}:{created_at}|"
        f"{len(updated_at)}:{updated_at}"
    )
    return _sha(text.encode()).hexdigest()


def sscc_stock_seal(row_id: int, sscc: str, added_at: str) -> str:
    """Seal of an sscc_stock row (schema v4): its place in the stock, the SSCC, when it came."""
    text = f"sscc_stock/4|{row_id}|{len(sscc)}:{sscc}|{len(added_at)}:{added_at}"
    return _sha(text.encode()).hexdigest()


def unit_tag_seal(serial_id: int, epc: str, epc_uri: str | None, tid: str | None) -> str:
    """Seal of a unit_tags row (schema v9): the RFID tag read on a unit."""
    text = f"unit_tags/1|{serial_id}|{_text(epc)}|{_text(epc_uri)}|{_text(tid)}"
    return _sha(text.encode()).hexdigest()


def nfc_tag_seal(serial_id: int, uid: str, audit_id: int) -> str:
    """Seal of an nfc_tags row (schema v10): the NFC tag UID imported for a unit."""
    return _sha(f"nfc_tags/1|{serial_id}|{len(uid)}:{uid}|{audit_id}".encode()).hexdigest()


def links_text(serial_ids: list[int]) -> str:
    """The serials an outbox event mentions, as sealed: ids ascending, comma separated."""
    return ",".join(map(str, sorted(serial_ids)))


def outbox_seal(
    row_id: int,
    event_id: str,
    batch: str | None,
    kind: str,
    body: str,
    created_at: str,
    links: str,
    prev: str | None,
) -> str:
    """Seal of an outbox event and its serial links (``links_text``), chained to the previous."""
    text = (
        f"outbox/2|{row_id}|{len(event_id)}:{event_id}|{_text(batch)}|{len(kind)}:{kind}|"
        f"{len(body)}:{body}|{len(created_at)}:{created_at}|{links}|{prev}"
    )
    return _sha(text.encode()).hexdigest()


def delivery_seal(
    row_id: int, row_hash: str | None, delivery: str, delivered_at: str | None
) -> str:
    """Seal of an outbox event's delivery state, bound to the event's own seal."""
    text = f"outbox.delivery/2|{row_id}|{row_hash}|{delivery}|{_text(delivered_at)}"
    return _sha(text.encode()).hexdigest()


def history_head(conn: sqlite3.Connection) -> tuple[int, str | None]:
    """(id, seal) of the newest serial_history row, or (0, GENESIS): where the chain continues."""
    row = conn.execute(
        "SELECT id, row_hash FROM serial_history ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return 0, GENESIS
    return int(row[0]), row[1]


def outbox_head(conn: sqlite3.Connection) -> tuple[int, str | None]:
    """(last id handed out, seal of the newest row), or (0, GENESIS) for an empty outbox.

    The outbox id is AUTOINCREMENT: the next one is one past both ``sqlite_sequence`` and the
    highest id present, which is what SQLite itself would pick.
    """
    seq, last_id, last_hash = conn.execute(
        "SELECT (SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), "
        "(SELECT id FROM outbox ORDER BY id DESC LIMIT 1), "
        "(SELECT row_hash FROM outbox ORDER BY id DESC LIMIT 1)"
    ).fetchone()
    if last_id is None:
        return int(seq or 0), GENESIS
    return max(int(seq or 0), int(last_id)), last_hash
