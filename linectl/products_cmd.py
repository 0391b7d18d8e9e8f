"""``linectl products import FILE`` and ``linectl products list``: the ledger's product master data.

Kept out of cli.py so the parser file stays a table; cli.py calls :func:`add_products_commands`.
A refused import prints every bad row and field and changes nothing (exit 2).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from linectl.ledger import Ledger
from linectl.ledger.product_file import read_product_file
from linectl.ledger.products import product_json

OpenLedger = Callable[[argparse.Namespace], Ledger]
AddCommand = Callable[..., argparse.ArgumentParser]


def add_products_commands(sub: Any, add: AddCommand, open_ledger: OpenLedger) -> None:
    """Register ``products import`` and ``products list``."""
    products = sub.add_parser("products", help="product master data").add_subparsers(
        dest="sub", required=True, metavar="ACTION"
    )

    def bound(handler: Callable[[argparse.Namespace, Ledger], int]) -> Callable[..., int]:
        def run(args: argparse.Namespace) -> int:
            with open_ledger(args) as ledger:
                return handler(args, ledger)

        return run

    p = add(
        "import",
        bound(cmd_products_import),
        "add or replace products from a CSV or JSON file (all rows or none)",
        products,
    )
    p.add_argument("file", help="products.csv, or products.json")
    p.add_argument("--reason", default="product master data import")
    p = add("list", bound(cmd_products_list), "the products work orders may name", products)
    p.add_argument("--json", action="store_true")


def cmd_products_import(args: argparse.Namespace, ledger: Ledger) -> int:
    path = Path(args.file)
    records = read_product_file(path)
    result = ledger.products.import_records(
        records, actor=args.user, source=path.name, reason=args.reason
    )
    print(
        f"products from {path}: {result.added} added, {result.changed} changed, "
        f"{result.unchanged} unchanged (audit row {result.audit_id})"
    )
    return 0


def cmd_products_list(args: argparse.Namespace, ledger: Ledger) -> int:
    products = ledger.products.all()
    if args.json:
        print(json.dumps([product_json(p) for p in products], indent=2, ensure_ascii=False))
    elif not products:
        print("no products: import them with 'linectl products import FILE'")
    else:
        for p in products:
            print(f"{p.gtin}  {p.market}  {p.code_profile:<12} {p.label_layout:<16} {p.name}")
    return 0
