"""Product master data: one row per GTIN and target market, with the product's name, the code
profile its packs are marked with and its label layout (names from the line configuration).

``linectl products import`` loads them from CSV or JSON: every record is checked first and the
file is refused whole, naming each bad row and field, or stored whole in one transaction (new
products added, changed ones replaced) with one audit row. A work order names a product by GTIN
and market; :func:`check_order` refuses one the master data does not know.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from linectl.ledger.audit import append_audit, canonical_json, summarise
from linectl.ledger.connection import LedgerConnection, check_actor
from linectl.ledger.errors import LedgerError, ValidationError, ValidationErrors, clipped
from linectl.ledger.product_file import ProductRecord
from linectl.ledger.validation import check_gtin, check_text

_MARKET = re.compile(r"^[A-Z]{2}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_LISTED_ERRORS = 20
"""A refused import names this many bad fields, then says how many more there are."""


@dataclass(frozen=True)
class Product:
    """A product the line makes for one market."""

    gtin: str
    market: str
    name: str
    code_profile: str
    label_layout: str
    updated_at: str = ""

    @property
    def key(self) -> str:
        return f"{self.gtin}/{self.market}"


class ProductRowError(ValidationError):
    """One field of one record is wrong; the message names the record, field and value."""

    def __init__(self, where: str, field: str, value: object, message: str) -> None:
        self.field, self.value, self.index = field, value, None
        self.where = where
        LedgerError.__init__(self, f"{where}: {field} {clipped(value)}: {message}")


class UnknownProduct(ValidationError):
    """A work order names a GTIN (or a GTIN for a market) that the master data does not hold."""


def _text(record: ProductRecord, field: str) -> str:
    value = record.values.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ProductRowError(record.where, field, value, "is required")
    if not isinstance(value, str):
        raise ProductRowError(record.where, field, value, "must be text")
    return value.strip()


def check_record(record: ProductRecord) -> tuple[Product | None, list[ProductRowError]]:
    """The product of one record, or every problem it has (each naming its field)."""
    problems: list[ProductRowError] = []
    fields: dict[str, str] = {}
    for field in ("gtin", "name", "market", "code_profile", "label_layout"):
        try:
            value = _text(record, field)
            if field == "gtin":
                value = check_gtin(value)
            elif field == "name":
                check_text(value, "name", max_len=200)
            elif field == "market" and not _MARKET.match(value):
                raise ProductRowError(
                    record.where, field, value, "must be an ISO 3166 country code like DE"
                )
            elif field in ("code_profile", "label_layout") and not _NAME.match(value):
                raise ProductRowError(
                    record.where, field, value, "must be a name of letters, digits, . _ - (1-64)"
                )
            fields[field] = value
        except ProductRowError as exc:
            problems.append(exc)
        except ValidationError as exc:  # from check_gtin / check_text: re-say it with the row
            detail = str(exc).split(": ", 1)[-1]
            problems.append(ProductRowError(record.where, field, record.values.get(field), detail))
    if problems:
        return None, problems
    return Product(**fields), []


def check_records(records: Sequence[ProductRecord]) -> list[Product]:
    """Every record checked, and no GTIN/market given twice; ValidationErrors lists the bad ones."""
    products: list[Product] = []
    problems: list[ProductRowError] = []
    seen: dict[str, str] = {}
    for record in records:
        product, wrong = check_record(record)
        problems += wrong
        if product is None:
            continue
        if product.key in seen:
            problems.append(
                ProductRowError(
                    record.where,
                    "gtin",
                    product.gtin,
                    f"GTIN {product.gtin} for market {product.market} is given twice "
                    f"(also {seen[product.key]})",
                )
            )
            continue
        seen[product.key] = record.where
        products.append(product)
    if not records:
        raise ValidationError("holds no product", field="products", value="")
    if len(problems) == 1:
        raise problems[0]
    if problems:
        shown: list[ValidationError] = list(problems[:MAX_LISTED_ERRORS])
        if len(problems) > MAX_LISTED_ERRORS:
            more = len(problems) - MAX_LISTED_ERRORS
            shown.append(ValidationError(f"{more} more problems", field="products", value=""))
        raise ValidationErrors(shown)
    return products


@dataclass(frozen=True)
class ImportResult:
    """What an import changed: products added, replaced and already as given."""

    added: int
    changed: int
    unchanged: int
    audit_id: int


_COLUMNS = "gtin, market, name, code_profile, label_layout, updated_at"


def _product(row: tuple[object, ...]) -> Product:
    gtin, market, name, profile, layout, updated = (str(v) for v in row)
    return Product(gtin, market, name, profile, layout, updated)


def products_for(conn: sqlite3.Connection, gtin: str) -> list[Product]:
    """The products with ``gtin``, one per market."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM products WHERE gtin = ? ORDER BY market", (gtin,)
    ).fetchall()
    return [_product(r) for r in rows]


def check_order(conn: sqlite3.Connection, gtin: str, market: str) -> Product:
    """The product a new work order makes: its GTIN must be known for its market."""
    known = products_for(conn, gtin)
    if not known:
        raise UnknownProduct(
            "is not a product of this line's master data (linectl products import)",
            field="gtin",
            value=gtin,
        )
    for product in known:
        if product.market == market:
            return product
    markets = ", ".join(p.market for p in known)
    raise UnknownProduct(
        f"product {gtin} ({known[0].name}) is made for {markets} only", field="market", value=market
    )


def has_products(conn: sqlite3.Connection) -> bool:
    """Whether the master data holds any product (False on a file older than schema 7, which
    only a test opens with the old migrations)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'products'").fetchone():
        return False
    return conn.execute("SELECT 1 FROM products LIMIT 1").fetchone() is not None


class Products:
    """The product master data of one ledger (``ledger.products``)."""

    def __init__(self, db: LedgerConnection) -> None:
        self._db = db

    def import_records(
        self, records: Sequence[ProductRecord], *, actor: str, source: str, reason: str = ""
    ) -> ImportResult:
        """Check every record, then add or replace the products in one transaction."""
        check_actor(actor)
        products = check_records(records)
        digest = hashlib.sha256(
            canonical_json([asdict(p) for p in products]).encode("utf-8")
        ).hexdigest()
        with self._db.write() as conn:
            at = self._db.now()
            added: list[str] = []
            changed: list[Product] = []
            unchanged = 0
            for p in products:
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM products WHERE gtin = ? AND market = ?",
                    (p.gtin, p.market),
                ).fetchone()
                old = None if row is None else _product(row)
                if old is not None and (old.name, old.code_profile, old.label_layout) == (
                    p.name,
                    p.code_profile,
                    p.label_layout,
                ):
                    unchanged += 1
                    continue
                conn.execute(
                    f"INSERT OR REPLACE INTO products ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                    (p.gtin, p.market, p.name, p.code_profile, p.label_layout, at),
                )
                if old is None:
                    added.append(p.key)
                else:
                    changed.append(old)
            before = {"changed": [asdict(p) for p in changed[:50]], "changed_count": len(changed)}
            after = {
                "source": source,
                "products_sha256": digest,
                "added": summarise(added, "products"),
                "changed": summarise([p.key for p in changed], "products"),
                "unchanged": unchanged,
            }
            entry = append_audit(
                conn,
                at=at,
                actor=actor,
                command="products.import",
                reason=reason,
                before=before,
                after=after,
            )
        return ImportResult(len(added), len(changed), unchanged, entry.id)

    def all(self) -> list[Product]:
        """Every product, by GTIN and market."""
        with self._db.read() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM products ORDER BY gtin, market")
            return [_product(r) for r in rows]

    def of_gtin(self, gtin: str) -> list[Product]:
        """The products with ``gtin`` (one per market; empty if none)."""
        with self._db.read() as conn:
            return products_for(conn, gtin)


def product_json(product: Product) -> dict[str, str]:
    """A product as the API and ``products list --json`` show it."""
    return dict(asdict(product))
