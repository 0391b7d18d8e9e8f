"""``linectl report`` (the batch record: text, JSON, HTML, PDF) and ``linectl batch material``.

Kept out of cli.py so the parser file stays a table; cli.py calls
:func:`add_batch_record_commands`. The HTML and PDF forms import matplotlib and WeasyPrint only
when asked for.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from linectl.config import IdentitySection, load_config
from linectl.identity import Signatures
from linectl.identity.setup import line_identity
from linectl.ledger import Ledger, ValidationError

Handler = Callable[[argparse.Namespace], int]
AddCommand = Callable[..., argparse.ArgumentParser]
OpenLedger = Callable[[argparse.Namespace], Ledger]


def add_batch_record_commands(
    add: AddCommand, batch: Any, open_ledger: OpenLedger, parse_materials: Callable[..., Any]
) -> None:
    """Register ``report`` and ``batch material``."""

    def bound(handler: Callable[[argparse.Namespace, Ledger], int]) -> Handler:
        def run(args: argparse.Namespace) -> int:
            with open_ledger(args) as ledger:
                return handler(args, ledger)

        return run

    p = add("report", bound(cmd_report), "the batch record (exit 1 if it does not balance)")
    p.add_argument("batch")
    p.add_argument("--json", action="store_true")
    p.add_argument("--html", metavar="FILE", help="write the batch record as an HTML page")
    p.add_argument("--pdf", metavar="FILE", help="write the batch record as a PDF")

    def material(args: argparse.Namespace, ledger: Ledger) -> int:
        return cmd_batch_material(args, ledger, parse_materials(args.material))

    p = add(
        "material",
        bound(material),
        "record a packaging-material lot change during a batch (a new label roll, ...)",
        batch,
    )
    p.add_argument("batch")
    p.add_argument("--material", action="append", default=[], metavar="NAME=LOT", required=True)
    p.add_argument("--reason", default="")


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def _policy(args: argparse.Namespace) -> tuple[IdentitySection, str]:
    name = args.config or os.environ.get("LINECTL_CONFIG")
    if not name:
        return IdentitySection(), "(no configuration)"
    config = load_config(name)
    return config.identity, config.line.id


def cmd_report(args: argparse.Namespace, ledger: Ledger) -> int:
    policy, line_id = _policy(args)
    rec = ledger.reconcile(args.batch)
    if args.html or args.pdf:
        from linectl.batchrecord import render_html, render_pdf  # matplotlib, WeasyPrint

        data = ledger.batches.record(args.batch)
        if args.html:
            Path(args.html).write_text(render_html(data, line_id), encoding="utf-8")
            print(f"batch record of {args.batch} written to {args.html}", file=sys.stderr)
        if args.pdf:
            render_pdf(data, line_id, Path(args.pdf))
            print(f"batch record of {args.batch} written to {args.pdf}", file=sys.stderr)
        return 0 if rec.balanced else 1
    head = ledger.audit_head()
    signatures = Signatures(line_identity(ledger, policy)).of(args.batch)
    if args.json:
        data_json = json.loads(rec.to_json())
        data_json["audit_head"] = {"row": head[0], "row_hash": head[1]} if head else None
        data_json["signatures"] = [asdict(s) for s in signatures]
        _print_json(data_json)
    else:
        print(rec.to_table())
        for s in signatures:
            print(
                f"signed: {s.action} by {s.printed_name} ({s.user_name}) at {s.at}, "
                f"meaning {s.meaning}, record sha256 {s.record_sha256}"
            )
        shown = f"row {head[0]} {head[1]}" if head else "(empty)"
        print(f"audit chain head: {shown} (key {ledger.identity.keyed() or 'none'})")
    return 0 if rec.balanced else 1


def cmd_batch_material(args: argparse.Namespace, ledger: Ledger, materials: dict[str, str]) -> int:
    if not materials:
        raise ValidationError("needs NAME=LOT, e.g. label-roll=LR-778", field="material", value="")
    for name, lot in materials.items():
        change = ledger.batches.change_material(
            args.batch, name, lot, actor=args.user, reason=args.reason
        )
        print(
            f"batch {change.batch}: {name} lot {change.previous or '(none)'} -> {lot} "
            f"at {change.at} by {change.actor}; units judged from now on carry {lot}"
        )
    return 0
