"""Render GS1 codes as grey images, the way a printer marks them; used by printer and camera sims.

``data`` is linectl's element-string form: a GS1 element string without the leading FNC1, with ASCII
GS (0x1D) after each variable-length field that is not last. A GS1 Digital Link URI
(``https://...``) is accepted for "datamatrix" and "qr" and encoded as plain text.

How zxing-cpp 3.1 is driven here (facts checked against the installed binding):

* ``create_barcode(content, format, gs1=True, ...)``: keyword arguments become zint-backed
  ``CreatorOptions``. In GS1 mode the content must use zint's bracketed syntax
  ``[01]09506000134352[10]ABC`` (control characters such as GS are refused); zint then emits FNC1
  in first position and the separators itself. So the element string is first split into AIs (with
  biip) and rewritten bracketed; ``[`` and ``]`` are outside the GS1 character set, so that form is
  unambiguous where ``(01)`` would not be for data containing parentheses. zint checks AI data
  lengths and the character set, not check digits or dates.
* DataMatrix is created with ``forceSquare=True``: without it zint may choose a DMRE rectangle
  (e.g. 8x64), which zxing-cpp 3.1 reports with symbology identifier ``]d8`` instead of ``]d2``.
* Reading back: ``read_barcodes`` defaults to ``text_mode=TextMode.HRI`` whose ``.text`` for GS1
  content is the bracketed HRI ``(01)...(10)...``. ``text_mode=TextMode.Plain`` gives the element
  string with GS separators (exactly ``data`` for canonical input); ``.bytes`` holds the same bytes
  in every mode; ``TextMode.Escaped`` shows GS as ``<GS>``. ``content_type`` is ``ContentType.GS1``
  and ``symbology_identifier`` is ``]d2`` (DataMatrix), ``]Q3`` (QR), ``]C1`` (GS1-128).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import zxingcpp
from biip import ParseError
from biip.gs1_application_identifiers import GS1ApplicationIdentifier

SYMBOLOGIES = ("datamatrix", "qr", "gs1-128")
GS = "\x1d"


def is_digital_link(data: str) -> bool:
    """True when ``data`` is a URI (GS1 Digital Link) rather than an element string."""
    return data.startswith(("https://", "http://"))


def _fixed_length(ai: GS1ApplicationIdentifier) -> int | None:
    """Data length of an AI from the GS1 predefined-length table, None if variable-length."""
    if ai.separator_required:
        return None
    parts = ai.format.split("+")[1:]  # e.g. "N2+N6" -> ["N6"]; predefined ones are all fixed
    return sum(int(part[1:]) for part in parts)


def split_ais(data: str) -> list[tuple[str, str]]:
    """Split an element string into (AI, value) pairs by the GS1 AI table and GS separators.

    Only the AI table decides where fields end; values are not validated (a printer marks a bad
    date as readily as a good one). A GS after a fixed-length field or at the end is dropped.
    """
    if not data:
        raise ValueError("GS1 element string is empty")
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(data):
        if data[pos] == GS:
            pos += 1
            continue
        try:
            ai = GS1ApplicationIdentifier.extract(data[pos:])
        except ParseError as exc:
            raise ValueError(f"no GS1 AI at offset {pos} of {data!r}") from exc
        start = pos + len(ai.ai)
        length = _fixed_length(ai)
        if length is None:
            end = data.find(GS, start)
            end = len(data) if end < 0 else end
        else:
            end = start + length
            if end > len(data):
                raise ValueError(
                    f"AI ({ai.ai}) at offset {pos} of {data!r} needs {length} characters"
                )
        if end == start:
            raise ValueError(f"AI ({ai.ai}) at offset {pos} of {data!r} has no data")
        out.append((ai.ai, data[start:end]))
        pos = end
    if not out:
        raise ValueError(f"GS1 element string {data!r} holds no AI")
    return out


def join_ais(pairs: list[tuple[str, str]]) -> str:
    """Element string for (AI, value) pairs: GS after each variable-length field but the last."""
    parts: list[str] = []
    for n, (ai, value) in enumerate(pairs):
        parts.append(ai + value)
        fixed = _fixed_length(GS1ApplicationIdentifier.extract(ai))
        if fixed is None and n < len(pairs) - 1:
            parts.append(GS)
    return "".join(parts)


def drop_ais(data: str, ais: frozenset[str]) -> str:
    """``data`` without the fields of ``ais`` (element string, or a Digital Link's path
    segments and query attributes): what a printer template lacking those fields marks."""
    if not is_digital_link(data):
        return join_ais([(ai, value) for ai, value in split_ais(data) if ai not in ais])
    base, _, query = data.partition("?")
    parts = base.split("/")
    kept: list[str] = parts[:3]  # scheme, "", host
    rest = parts[3:]
    for index in range(0, len(rest) - 1, 2):
        if rest[index] not in ais:
            kept += rest[index : index + 2]
    pairs = [p for p in query.split("&") if p and p.partition("=")[0] not in ais]
    return "/".join(kept) + ("?" + "&".join(pairs) if pairs else "")


def bracketed_ais(data: str) -> str:
    """Rewrite an element string (GS separators, no leading FNC1) as ``[AI]value...`` for zint."""
    return "".join(f"[{ai}]{value}" for ai, value in split_ais(data))


def _create(data: str, symbology: str) -> zxingcpp.Barcode:
    if symbology == "datamatrix":
        fmt = zxingcpp.BarcodeFormat.DataMatrix
        if is_digital_link(data):
            return zxingcpp.create_barcode(data, fmt, forceSquare=True)
        return zxingcpp.create_barcode(bracketed_ais(data), fmt, gs1=True, forceSquare=True)
    if symbology == "qr":
        fmt = zxingcpp.BarcodeFormat.QRCode
        if is_digital_link(data):
            return zxingcpp.create_barcode(data, fmt)
        return zxingcpp.create_barcode(bracketed_ais(data), fmt, gs1=True)
    if symbology == "gs1-128":
        if is_digital_link(data):
            raise ValueError(f"gs1-128 cannot carry a Digital Link URI: {data!r}")
        return zxingcpp.create_barcode(
            bracketed_ais(data), zxingcpp.BarcodeFormat.Code128, gs1=True
        )
    raise ValueError(f"unknown symbology {symbology!r}; expected one of {', '.join(SYMBOLOGIES)}")


def render_code(
    data: str,
    symbology: str = "datamatrix",
    module_px: int = 4,
    quiet_zone_modules: int = 2,
) -> npt.NDArray[np.uint8]:
    """Return a uint8 grey image of the code (black modules 0, white 255) with a quiet zone.

    Raises ValueError naming the problem when ``data`` is not encodable in ``symbology``.
    """
    if module_px < 1:
        raise ValueError(f"module_px must be >= 1, got {module_px}")
    if quiet_zone_modules < 0:
        raise ValueError(f"quiet_zone_modules must be >= 0, got {quiet_zone_modules}")
    try:
        barcode = _create(data, symbology)
    except ValueError:
        raise
    except Exception as exc:  # zint reports bad content as RuntimeError-like errors
        raise ValueError(f"cannot encode {data!r} as {symbology}: {exc}") from exc
    image = zxingcpp.write_barcode_to_image(barcode, scale=module_px, add_quiet_zones=False)
    pixels = np.asarray(image, dtype=np.uint8)
    if pixels.ndim == 3:
        pixels = pixels[:, :, 0]
    pad = quiet_zone_modules * module_px
    if pad:
        pixels = np.pad(pixels, pad, mode="constant", constant_values=255)
    return np.ascontiguousarray(pixels)
