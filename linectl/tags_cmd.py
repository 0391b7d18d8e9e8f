"""``linectl tags ndef`` and ``linectl tags import``: NFC tags encoded by the label supplier.

``ndef`` writes, for each commissioned unit of a batch, its GS1 Digital Link (the line's
``digital_link_domain``, ``/01/GTIN/10/LOT/21/SERIAL``) and the NDEF message holding it as an NFC
Forum Type 2 tag's TLV in hex, as a CSV the supplier encodes the tags from. ``import`` records the
UIDs the supplier reports per serial (``serial,uid`` CSV): all rows or none, each bad row named by
line and column (exit 2). Kept out of cli.py so the parser file stays a table.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from linectl.config import load_config
from linectl.ledger import Ledger
from linectl.ledger.nfc_tags import read_uid_file
from linectl.ledger.states import SerialState
from standards.gs1.digital_link import build_digital_link
from standards.ndef import ndef_message, type2_tlv

AddLedgerCommand = Callable[..., argparse.ArgumentParser]
COLUMNS = ("serial", "digital_link", "ndef_type2_hex")
"""The columns ``tags ndef`` writes."""


def add_tags_commands(sub: Any, add_ledger: AddLedgerCommand) -> None:
    """Register ``tags ndef`` and ``tags import`` (``add_ledger``: cli's, handlers get the
    open ledger with an authenticated caller)."""
    tags = sub.add_parser("tags", help="NFC tags encoded by the label supplier").add_subparsers(
        dest="sub", required=True, metavar="ACTION"
    )
    p = add_ledger(
        "ndef",
        cmd_tags_ndef,
        "each commissioned unit's Digital Link as an NDEF message, CSV for the tag encoder",
        tags,
    )
    p.add_argument("--batch", required=True)
    p.add_argument(
        "--config", required=True, help="the line configuration (its Digital Link domain)"
    )
    p.add_argument("--out", help="the CSV file to write (default: standard output)")
    p = add_ledger(
        "import",
        cmd_tags_import,
        "record the NFC tag UIDs per serial the supplier reports (all rows or none)",
        tags,
    )
    p.add_argument("file", help="a CSV file with the columns serial and uid")
    p.add_argument("--batch", required=True)
    p.add_argument("--reason", default="NFC tag UIDs from the label supplier")


def ndef_rows(ledger: Ledger, batch: str, domain: str) -> Iterator[tuple[str, str, str]]:
    """(serial, Digital Link, Type 2 TLV hex) of each commissioned or released unit of ``batch``."""
    order = ledger.get_work_order(batch)
    for state in (SerialState.COMMISSIONED, SerialState.RELEASED):
        for serial in ledger.list_serials(batch, state):
            qualifiers = {"10": order.lot, "21": serial}
            uri = build_digital_link(domain, "01", order.gtin, qualifiers)
            yield serial, uri, type2_tlv(ndef_message(uri)).hex().upper()


def cmd_tags_ndef(args: argparse.Namespace, ledger: Ledger) -> int:
    domain = load_config(Path(args.config)).line.digital_link_domain
    rows = list(ndef_rows(ledger, args.batch, domain))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    if not args.out:
        sys.stdout.write(text.getvalue())
        return 0
    try:
        Path(args.out).write_text(text.getvalue(), encoding="utf-8")
    except OSError as exc:
        print(f"linectl: error: --out {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"{len(rows)} units of batch {args.batch} written to {args.out}")
    return 0


def cmd_tags_import(args: argparse.Namespace, ledger: Ledger) -> int:
    path = Path(args.file)
    result = ledger.nfc.import_uids(
        args.batch, read_uid_file(path), actor=args.user, source=path.name, reason=args.reason
    )
    print(
        f"NFC tag UIDs from {path}: {result.imported} recorded for batch {args.batch} "
        f"(audit row {result.audit_id})"
    )
    return 0
