"""Reading product master data for ``linectl products import``: CSV or JSON, bounded in size.

CSV: a header row naming the columns ``gtin, name, market, code_profile, label_layout`` (any
order, no others), then one product per row. JSON: ``{"products": [{...}, ...]}`` or a bare
list of such objects with the same keys. Each record comes back with where it was (``row 3``
is the third product; for CSV also its line in the file), so every later error can name it.
Nothing is checked for meaning here: :mod:`linectl.ledger.products` does that.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass

from linectl.ledger.errors import LedgerError, clipped

MAX_FILE_BYTES = 16 * 1024 * 1024
"""A product master file larger than this is not one (16 MB holds ~100,000 products)."""

FIELDS = ("gtin", "name", "market", "code_profile", "label_layout")
"""The fields of a product, in the order the documentation lists them."""


class ProductFileError(LedgerError):
    """The product file cannot be read as CSV or JSON; the message names the file and where."""


@dataclass(frozen=True)
class ProductRecord:
    """One product as the file gave it: ``row`` counts products from 1; ``line`` is the CSV
    line (None for JSON); ``values`` holds the raw field values (str, or anything JSON had)."""

    row: int
    line: int | None
    values: dict[str, object]

    @property
    def where(self) -> str:
        return f"row {self.row}" + (f" (line {self.line})" if self.line is not None else "")


def read_product_file(path: str | os.PathLike[str]) -> list[ProductRecord]:
    """The products in ``path`` (``.json`` is JSON, anything else CSV)."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ProductFileError(f"cannot read product file {name}: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ProductFileError(f"product file {name} is larger than {MAX_FILE_BYTES:,} bytes")
    try:
        text = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProductFileError(
            f"product file {name}: byte {exc.start + 1} is not UTF-8: save it as UTF-8 text"
        ) from None
    if name.lower().endswith(".json"):
        return products_from_json(text, name)
    return products_from_csv(text, name)


def products_from_json(text: str, source: str = "JSON") -> list[ProductRecord]:
    """Records of a JSON document: ``{"products": [...]}`` or a list of product objects."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProductFileError(
            f"{source}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    items = data.get("products") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ProductFileError(f'{source}: expected {{"products": [...]}} or a list of products')
    records: list[ProductRecord] = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ProductFileError(
                f"{source}: row {number}: a product is an object, not {clipped(item)}"
            )
        unknown = sorted(set(item) - set(FIELDS))
        if unknown:
            raise ProductFileError(
                f"{source}: row {number}: unknown field {unknown[0]!r} "
                f"(fields: {', '.join(FIELDS)})"
            )
        records.append(ProductRecord(number, None, dict(item)))
    return records


def products_from_csv(text: str, source: str = "CSV") -> list[ProductRecord]:
    """Records of a CSV text with a header row (comma or semicolon separated)."""
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ProductFileError(f"{source}: empty; the first line names the columns: {FIELDS}")
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except csv.Error as exc:
        raise ProductFileError(f"{source}: line 1: {exc}") from None
    unknown = [h for h in header if h not in FIELDS]
    if unknown:
        raise ProductFileError(
            f"{source}: line 1: unknown column {unknown[0]!r} (columns: {', '.join(FIELDS)})"
        )
    missing = [f for f in FIELDS if f not in header]
    if missing:
        raise ProductFileError(f"{source}: line 1: column {missing[0]!r} is missing")
    if len(set(header)) != len(header):
        raise ProductFileError(f"{source}: line 1: a column is named twice")
    records: list[ProductRecord] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue  # a blank line
            if len(cells) != len(header):
                raise ProductFileError(
                    f"{source}: row {len(records) + 1} (line {line}): {len(cells)} cells, "
                    f"the header has {len(header)}"
                )
            values: dict[str, object] = dict(zip(header, cells, strict=True))
            records.append(ProductRecord(len(records) + 1, line, values))
    except csv.Error as exc:
        raise ProductFileError(f"{source}: line {reader.line_num}: {exc}") from None
    return records
