"""Renders the batch record: Jinja2 HTML with the charts inlined, and that HTML as a PDF."""

from __future__ import annotations

import base64
from dataclasses import asdict
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from linectl.batchrecord import charts
from linectl.ledger.batch_commands import BatchRecordData
from linectl.ledger.reconcile import Bucket

_ENV = Environment(
    loader=PackageLoader("linectl.batchrecord", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _data_uri(png: bytes | None) -> str | None:
    return None if png is None else "data:image/png;base64," + base64.b64encode(png).decode()


def context(data: BatchRecordData, line_id: str) -> dict[str, Any]:
    """What the template shows (the charts drawn now)."""
    rec = data.reconciliation
    pallets = sum(1 for c in rec.containers if c.level == "pallet")
    total_rejects = sum(data.rejects.values())
    return {
        "line_id": line_id,
        "order": data.order,
        "rec": rec,
        "buckets": [(b.value.replace("_", " "), getattr(rec, b.value)) for b in Bucket],
        "containers": {
            "pallets": pallets,
            "cases": len(rec.containers) - pallets,
            "orphans": len(rec.orphans),
        },
        "materials": data.materials,
        "states": data.states,
        "rejects": sorted(data.rejects.items(), key=lambda kv: (-kv[1], kv[0])),
        "total_rejects": total_rejects,
        "pareto": _data_uri(charts.pareto(data.rejects)),
        "speed": _data_uri(charts.speed(data.minutes)),
        "minutes": len(data.minutes),
        "alarms": data.alarms,
        "samples_total": data.samples_total,
        "samples": data.samples,
        "rework": data.rework,
        "shipments": data.shipments,
        "signatures": [asdict(s) for s in data.signatures],
        "audit_head": data.audit_head,
        "read_at": data.read_at,
    }


def render_html(data: BatchRecordData, line_id: str) -> str:
    """The batch record as one self-contained HTML page."""
    return _ENV.get_template("batch_record.html").render(context(data, line_id))


def render_pdf(data: BatchRecordData, line_id: str, path: Path) -> None:
    """The batch record as a PDF file (the HTML page laid out by WeasyPrint)."""
    from weasyprint import HTML  # imported here: it loads Pango

    HTML(string=render_html(data, line_id)).write_pdf(path)
