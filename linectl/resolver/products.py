"""Product master data from JSON or CSV, checked before anything is stored.

JSON: ``{"products": [{"gtin", "names": {lang: name}, "descriptions": {...}, "image",
"links": {"gs1:pip": {lang: url}, ...}, "target_markets": ["DE", ...]}]}``.
CSV: one row per product and language, columns ``gtin, language, name, description, image,
pip, epil, target_markets`` (markets separated by spaces); rows of one GTIN are merged.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from linectl.resolver.model import Product
from standards.gs1.checkdigit import CheckDigitError, validate_gtin14

_URL = re.compile(r"^https?://\S+$")
_LANG = re.compile(r"^[a-z]{2}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_LINK_TYPE = re.compile(r"^gs1:[A-Za-z]+$")


class ProductDataError(ValueError):
    """Product data that cannot be imported; the message names the record and the field."""


def _check(product: Product, where: str) -> Product:
    try:
        validate_gtin14(product.gtin)
    except CheckDigitError as exc:
        raise ProductDataError(f"{where}: gtin: {exc}") from exc
    if not product.names:
        raise ProductDataError(f"{where}: names: at least one language is needed")
    for lang in [*product.names, *product.descriptions]:
        if not _LANG.match(lang):
            raise ProductDataError(f"{where}: language {lang!r} is not a two-letter code")
    for link_type, by_lang in product.links.items():
        if not _LINK_TYPE.match(link_type):
            raise ProductDataError(f"{where}: link type {link_type!r} is not like gs1:pip")
        for lang, url in by_lang.items():
            if not _LANG.match(lang) or not _URL.match(url):
                raise ProductDataError(f"{where}: links.{link_type}.{lang}: {url!r} is not a URL")
    if product.image is not None and not _URL.match(product.image):
        raise ProductDataError(f"{where}: image {product.image!r} is not a URL")
    for market in product.target_markets:
        if not _COUNTRY.match(market):
            raise ProductDataError(f"{where}: target market {market!r} is not like DE")
    return product


def products_from_json(text: str, source: str = "JSON") -> list[Product]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProductDataError(f"{source}: not JSON: {exc}") from exc
    items: Any = data.get("products") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ProductDataError(f"{source}: expected {{'products': [...]}}")
    out = []
    for index, item in enumerate(items):
        where = f"{source}: products[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("gtin"), str):
            raise ProductDataError(f"{where}: an object with a gtin is needed")
        try:
            product = Product(
                gtin=item["gtin"],
                names=dict(item.get("names", {})),
                descriptions=dict(item.get("descriptions", {})),
                image=item.get("image"),
                links={str(k): dict(v) for k, v in dict(item.get("links", {})).items()},
                target_markets=tuple(item.get("target_markets", ())),
            )
        except (TypeError, ValueError) as exc:
            raise ProductDataError(f"{where}: {exc}") from exc
        out.append(_check(product, where))
    return out


def products_from_csv(text: str, source: str = "CSV") -> list[Product]:
    reader = csv.DictReader(io.StringIO(text))
    missing = {"gtin", "language", "name"} - set(reader.fieldnames or [])
    if missing:
        raise ProductDataError(f"{source}: missing columns {', '.join(sorted(missing))}")
    merged: dict[str, dict[str, Any]] = {}
    for line, row in enumerate(reader, start=2):
        gtin, lang = (row.get("gtin") or "").strip(), (row.get("language") or "").strip()
        entry = merged.setdefault(
            gtin,
            {
                "names": {},
                "descriptions": {},
                "links": {},
                "image": None,
                "markets": set(),
                "line": line,
            },
        )
        entry["names"][lang] = (row.get("name") or "").strip()
        if row.get("description"):
            entry["descriptions"][lang] = row["description"].strip()
        for column in ("pip", "epil"):
            if row.get(column):
                entry["links"].setdefault(f"gs1:{column}", {})[lang] = row[column].strip()
        if row.get("image"):
            entry["image"] = row["image"].strip()
        entry["markets"].update((row.get("target_markets") or "").split())
    return [
        _check(
            Product(
                gtin,
                e["names"],
                e["descriptions"],
                e["image"],
                e["links"],
                tuple(sorted(e["markets"])),
            ),
            f"{source} line {e['line']}",
        )
        for gtin, e in merged.items()
    ]


def read_products(path: Path) -> list[Product]:
    """Products from a ``.json`` or ``.csv`` file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        return products_from_csv(text, str(path))
    return products_from_json(text, str(path))
