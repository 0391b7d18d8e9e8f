"""One ZPL II label format, both ways: :func:`build_label` writes a PrintJob as ``^XA...^XZ``
(laid out by :mod:`drivers.zpl.layout`),
:func:`parse_label` reads a format body back into :class:`Label` fields with escapes resolved.

The host side of :mod:`drivers.zpl.codec` sends what ``build_label`` writes; its device side (the
printer's view, used by the simulators) hands every received format to ``parse_label``.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.interfaces import PrintJob
from drivers.zpl.fielddata import decode_code128, decode_datamatrix, decode_field_hex
from drivers.zpl.layout import LabelLayouts, shipped_layouts, unit_label_zpl
from drivers.zpl.rfid import RfidFormat, RfidParts


@dataclass(frozen=True, slots=True)
class Field:
    """One ``^FO ... ^FS`` field of a label: text or a code, with the data as it will be marked."""

    x: int
    y: int
    kind: str  # "text" | "datamatrix" | "gs1-128" | "code128" | "qr"
    data: str  # escapes resolved; GS1 codes as element strings with GS separators
    gs1: bool = False
    raw: str = ""  # the ^FD data as received


@dataclass(frozen=True, slots=True)
class Label:
    """A parsed label format: its fields, print quantity, ``^FX`` comments and RFID commands."""

    fields: tuple[Field, ...]
    quantity: int = 1
    comments: tuple[str, ...] = ()
    rfid: RfidFormat | None = None  # the tag encoding (drivers.zpl.rfid), if the format has one

    @property
    def code(self) -> Field | None:
        """The first code (non-text) field, the one a serialization line cares about."""
        return next((f for f in self.fields if f.kind != "text"), None)

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(f.data for f in self.fields if f.kind == "text")

    @property
    def seq(self) -> int | None:
        """The pack sequence number linectl writes into a ``^FX`` comment, if present."""
        for comment in self.comments:
            if comment.startswith("linectl seq="):
                tail = comment.removeprefix("linectl seq=")
                if tail.isdigit():
                    return int(tail)
        return None


# --- building ----------------------------------------------------------------------------------


def build_label(job: PrintJob, layouts: LabelLayouts | None = None) -> bytes:
    """The complete ``^XA...^XZ`` format for one job (one label, ``^PQ1``), in the unit layout
    for its code form (``layouts``, else the shipped ones); with the job's EPC encoded into the
    label's tag when it has one (``job.epc``, see :mod:`drivers.zpl.rfid`).

    Raises ValueError naming the problem when the job cannot be expressed in ZPL.
    """
    return unit_label_zpl(job, (layouts or shipped_layouts()).for_job(job))


# --- parsing -----------------------------------------------------------------------------------


def _ints(params: str, count: int) -> list[int]:
    out: list[int] = []
    for part in params.split(",")[:count]:
        part = part.strip()
        out.append(int(part) if part.isdigit() else 0)
    return out + [0] * (count - len(out))


def _tokens(body: str) -> list[tuple[int, str, str]]:
    """Split a format body into (offset, command name, parameters)."""
    out: list[tuple[int, str, str]] = []
    i = body.find("^")
    while i >= 0:
        j = body.find("^", i + 1)
        chunk = body[i + 1 : j if j >= 0 else len(body)]
        if len(chunk) >= 2:
            out.append((i, chunk[:2].upper(), chunk[2:]))
        elif chunk:
            out.append((i, chunk.upper(), ""))
        i = j
    return out


def parse_label(body: str, base: int = 0) -> Label:
    """Parse the text between ``^XA`` and ``^XZ``; ValueError names the offset of a bad field."""
    fields: list[Field] = []
    comments: list[str] = []
    quantity = 1
    x = y = 0
    kind = "text"
    escape = "~"  # ^BX default on current firmware; linectl always sends its own
    hex_indicator: str | None = None
    data: str | None = None
    rfid = RfidParts()
    for offset, name, raw_params in _tokens(body):
        at = base + offset
        params = raw_params.replace("\r", "").replace("\n", "")  # printers ignore CR LF
        if name in ("FO", "FT"):
            x, y = _ints(params, 2)
        elif name == "FH":
            hex_indicator = params[:1] or "_"
        elif name == "BX":
            kind = "datamatrix"
            parts = params.split(",")
            if len(parts) < 3 or parts[2].strip() != "200":
                raise ValueError(f"^BX at offset {at}: only quality 200 (ECC 200) is supported")
            escape = parts[6][:1] if len(parts) > 6 and parts[6] else "~"
        elif name == "BC":
            kind = "code128"
        elif name == "BQ":
            kind = "qr"
        elif name == "FD":
            data = params
        elif name == "FX":
            comments.append(params.strip())
        elif name == "PQ":
            quantity = max(1, _ints(params, 1)[0])
        elif name == "RS":
            rfid.setup(params, at)
        elif name == "RF":
            rfid.operation(params, at)
        elif name == "FN":
            rfid.field_number(params)
        elif name == "HV":
            rfid.host_verify(params, hex_indicator, at)
        elif name == "FS":
            if not rfid.field_end(data, at) and data is not None:
                fields.append(_resolve_field(x, y, kind, data, escape, hex_indicator, at))
            kind, data, hex_indicator = "text", None, None
    return Label(
        fields=tuple(fields), quantity=quantity, comments=tuple(comments), rfid=rfid.result()
    )


def _resolve_field(
    x: int, y: int, kind: str, raw: str, escape: str, hex_indicator: str | None, at: int
) -> Field:
    try:
        text = decode_field_hex(raw, hex_indicator) if hex_indicator else raw
        if kind == "datamatrix":
            gs1, value = decode_datamatrix(text, escape)
            return Field(x, y, kind, value, gs1, raw)
        if kind == "code128":
            gs1, value = decode_code128(text)
            return Field(x, y, "gs1-128" if gs1 else "code128", value, gs1, raw)
        if kind == "qr":
            head, sep, value = text.partition(",")
            if not sep or len(head) != 2 or head[1] != "A":
                raise ValueError("^BQ data must be '<level>A,<data>' (automatic input mode)")
            return Field(x, y, kind, value, False, raw)
        return Field(x, y, kind, text, False, raw)
    except ValueError as exc:
        raise ValueError(f"field ending at offset {at}: {exc}") from exc
