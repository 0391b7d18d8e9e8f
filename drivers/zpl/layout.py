"""Label layouts as data: named fields (text lines, the pack's code, the SSCC symbols) placed in
dots, and the ZPL II format each layout makes of a print job or a logistic label.

linectl ships four layouts as TOML files in ``drivers/zpl/layouts/`` (``unit``,
``unit-digital-link``, ``case``, ``pallet``); a line's configuration changes them (``[labels]``,
validated by ``linectl.config.labels``). A unit layout has one ``code`` field (the job's
DataMatrix or QR) and text fields whose line ``{hri}`` stands for the job's human-readable lines;
a case or pallet layout has ``datamatrix`` and ``gs1-128`` fields carrying ``sscc`` ((00) alone)
or ``content`` (SSCC, GTIN, expiry, count, lot), and text lines with ``{sscc}``-style values.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from drivers.interfaces import LogisticLabel, PrintJob
from drivers.zpl.fielddata import DM_ESCAPE, encode_datamatrix, encode_gs1_128, field_data
from drivers.zpl.rfid import encode_commands

UNIT_LAYOUTS: Final = ("unit", "unit-digital-link")
LOGISTIC_LAYOUTS: Final = ("case", "pallet")
LAYOUT_NAMES: Final = UNIT_LAYOUTS + LOGISTIC_LAYOUTS
UNIT_KINDS: Final = ("text", "code")
LOGISTIC_KINDS: Final = ("text", "datamatrix", "gs1-128")
SYMBOL_DATA: Final = ("sscc", "content")
"""What a logistic label's symbol carries: (00) alone, or the SSCC with the content."""
LOGISTIC_VALUES: Final = ("sscc", "gtin", "lot", "expiry", "units", "cases")
"""The ``{name}`` values a case or pallet layout's text lines may use."""
HRI_LINE: Final = "{hri}"
"""A unit layout's text line that stands for the job's human-readable lines."""
PLACEHOLDER: Final = re.compile(r"\{([a-z]+)\}")
SSCC_128_MODULES: Final = 156
"""Width of a GS1-128 with (00) alone in modules: start C, FNC1, 10 digit pairs, check, stop."""


@dataclass(frozen=True, slots=True)
class LayoutField:
    """One named field: where it goes (``x``, ``y``: its top-left corner in dots) and what."""

    name: str
    kind: str  # "text" | "code" | "datamatrix" | "gs1-128"
    x: int
    y: int
    data: str = ""  # logistic symbols: "sscc" | "content"
    module: int = 4  # dots per module (DataMatrix, QR magnification, GS1-128 narrow bar)
    height: int = 200  # GS1-128 bar height in dots
    lines: tuple[str, ...] = ()
    font_height: int = 28
    line_height: int = 34


@dataclass(frozen=True, slots=True)
class LabelLayout:
    """A whole label: its size in dots, resolution and fields in the order they are sent."""

    name: str
    width: int
    height: int
    dpmm: int
    fields: tuple[LayoutField, ...]
    description: str = ""


def layout_from_data(name: str, data: Mapping[str, Any]) -> LabelLayout:
    """A layout from its TOML table (already validated: see ``linectl.config.labels``)."""
    fields = tuple(
        LayoutField(name=field_name, **(dict(table) | {"lines": tuple(table.get("lines", ()))}))
        for field_name, table in data["fields"].items()
    )
    return LabelLayout(
        name=name,
        width=data["width"],
        height=data["height"],
        dpmm=data["dpmm"],
        fields=fields,
        description=data.get("description", ""),
    )


def shipped_layout_data(name: str) -> dict[str, Any]:
    """The TOML table of a shipped layout (a fresh copy the caller may change)."""
    if name not in LAYOUT_NAMES:
        raise KeyError(f"no shipped label layout {name!r} (known: {', '.join(LAYOUT_NAMES)})")
    text = resources.files("drivers.zpl").joinpath("layouts", f"{name}.toml").read_text("utf-8")
    return tomllib.loads(text)


@dataclass(frozen=True, slots=True)
class LabelLayouts:
    """The layouts one printer uses: per unit code form, and per container level."""

    unit: LabelLayout
    unit_digital_link: LabelLayout
    case: LabelLayout
    pallet: LabelLayout

    def for_job(self, job: PrintJob) -> LabelLayout:
        """``unit-digital-link`` for a GS1 Digital Link URI, else ``unit``."""
        return self.unit_digital_link if _is_uri(job.data) else self.unit

    def for_label(self, label: LogisticLabel) -> LabelLayout:
        return self.pallet if label.level == "pallet" else self.case

    def by_name(self) -> dict[str, LabelLayout]:
        return {
            "unit": self.unit,
            "unit-digital-link": self.unit_digital_link,
            "case": self.case,
            "pallet": self.pallet,
        }

    @classmethod
    def of(cls, layouts: Mapping[str, LabelLayout]) -> LabelLayouts:
        return cls(
            unit=layouts["unit"],
            unit_digital_link=layouts["unit-digital-link"],
            case=layouts["case"],
            pallet=layouts["pallet"],
        )


@functools.cache
def shipped_layouts() -> LabelLayouts:
    """The layouts linectl ships, as they are in ``drivers/zpl/layouts/``."""
    return LabelLayouts.of({n: layout_from_data(n, shipped_layout_data(n)) for n in LAYOUT_NAMES})


# --- ZPL ----------------------------------------------------------------------------------------


def _is_uri(data: str) -> bool:
    return data.startswith(("https://", "http://"))


def _head(layout: LabelLayout, comment: str) -> list[str]:
    return ["^XA", "^CI28", f"^PW{layout.width}", f"^LL{layout.height}", f"^FX{comment}^FS"]


def _text(item: LayoutField, lines: tuple[str, ...]) -> list[str]:
    size = item.font_height
    return [
        f"^FO{item.x},{item.y + n * item.line_height}^A0N,{size},{size}{field_data(line)}"
        for n, line in enumerate(lines)
    ]


def _gs1_128(item: LayoutField, data: str) -> str:
    """GS1-128 without the printer's interpretation line: a layout prints its own ``(00)`` text."""
    return (
        f"^FO{item.x},{item.y}^BY{item.module}^BCN,{item.height},N,N,N"
        f"{field_data(encode_gs1_128(data))}"
    )


def _datamatrix(item: LayoutField, data: str, *, gs1: bool) -> str:
    return (
        f"^FO{item.x},{item.y}^BXN,{item.module},200,,,,{DM_ESCAPE}"
        f"{field_data(encode_datamatrix(data, gs1=gs1))}"
    )


def unit_label_zpl(job: PrintJob, layout: LabelLayout | None = None) -> bytes:
    """The ``^XA...^XZ`` format (``^PQ1``) of one pack's job in ``layout`` (default: the shipped
    one for the job's code form), the tag encoding first when the job has an EPC. Raises
    ValueError naming what cannot be expressed in ZPL.
    """
    if not job.data:
        raise ValueError(f"job {job.seq}: empty code data")
    layout = layout or shipped_layouts().for_job(job)
    parts = _head(layout, f"linectl seq={job.seq}")
    if job.epc is not None:
        parts += encode_commands(job.seq, job.epc)
    for item in layout.fields:
        if item.kind == "text":
            lines = tuple(
                out for line in item.lines for out in (job.hri if line == HRI_LINE else (line,))
            )
            parts += _text(item, lines)
        else:
            parts.append(_unit_code(job, item))
    parts += ["^PQ1", "^XZ"]
    return "\n".join(parts).encode("utf-8") + b"\n"


def _unit_code(job: PrintJob, item: LayoutField) -> str:
    if job.symbology == "datamatrix":
        return _datamatrix(item, job.data, gs1=not _is_uri(job.data))
    if job.symbology == "gs1-128":
        return _gs1_128(item, job.data)
    if job.symbology == "qr":
        if not _is_uri(job.data):
            raise ValueError(
                f"job {job.seq}: GS1 element strings in QR are not supported over ZPL; "
                "use a Digital Link URI or datamatrix"
            )
        return f"^FO{item.x},{item.y}^BQN,2,{item.module}{field_data(f'QA,{job.data}')}"
    raise ValueError(f"job {job.seq}: unknown symbology {job.symbology!r}")


def logistic_values(label: LogisticLabel) -> dict[str, str]:
    """The values a case or pallet layout's text lines may name."""
    return {
        "sscc": label.sscc,
        "gtin": label.gtin,
        "lot": label.lot,
        "expiry": label.expiry,
        "units": str(label.units),
        "cases": str(label.cases),
    }


def logistic_label_zpl(label: LogisticLabel, layout: LabelLayout | None = None) -> bytes:
    """The complete ZPL II format of a case or pallet label in ``layout`` (default: shipped)."""
    layout = layout or shipped_layouts().for_label(label)
    values = logistic_values(label)
    parts = _head(layout, f"linectl sscc={label.sscc} level={label.level}")
    for item in layout.fields:
        if item.kind == "text":
            lines = tuple(PLACEHOLDER.sub(lambda m: values[m.group(1)], x) for x in item.lines)
            parts += _text(item, lines)
            continue
        data = label.sscc_data if item.data == "sscc" else label.content_data
        if item.kind == "gs1-128":
            parts.append(_gs1_128(item, data))
        else:
            parts.append(_datamatrix(item, data, gs1=True))
    parts += ["^PQ1", "^XZ"]
    return "\n".join(parts).encode("utf-8") + b"\n"
