"""``linectl decode IMAGE...``: show what the daemon's camera decoder sees in saved frames.

Each image is read as 8-bit grey and decoded with the daemon's own settings (drivers.camera.decode:
DataMatrix, no inverted or 90-degree passes, downscaling on; QR too with ``allow_qr``). For every
image it prints the symbology, the GS1 fields as linectl parses them (check digits, dates, syntax),
the unused error correction, the approximate quality grade, the corners and the decode time.
Exit status: 0 when every image holds a symbol whose GS1 data parses, 1 otherwise.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, TextIO

import cv2
import numpy as np

from drivers.camera.decode import DecodeOptions, DecodeResult, Symbol, decode_image
from standards.gs1.ai import AI_TABLE
from standards.gs1.errors import Gs1Error
from standards.gs1.scan import ScanResult, parse_scan

GS = "\x1d"


@dataclass(frozen=True)
class ImageReport:
    """What one image gave: the decode, its GS1 parse, or why there is nothing."""

    path: str
    result: DecodeResult | None  # None when the file could not be read as an image
    scan: ScanResult | None = None
    gs1_error: Gs1Error | None = None
    read_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.ok and self.scan is not None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "ok": self.ok}
        if self.read_error is not None:
            out["error"] = self.read_error
            return out
        assert self.result is not None
        out["decode_ms"] = round(self.result.decode_ms, 3)
        sym = self.result.symbol
        out["symbol"] = None if sym is None else _symbol_json(sym)
        out["gs1"] = None
        if self.scan is not None:
            out["gs1"] = {"kind": self.scan.kind, "ai": dict(self.scan.ai)}
        if self.gs1_error is not None:
            err = self.gs1_error
            out["gs1_error"] = {"message": str(err), "ai": err.ai, "offset": err.offset}
        grade = self.result.grade
        out["grade"] = None if grade is None else asdict(grade)
        if sym is None:
            out["error"] = "no code found"
        return out


def _symbol_json(sym: Symbol) -> dict[str, Any]:
    return {
        "symbology": sym.symbology,
        "symbology_identifier": sym.symbology_identifier,
        "content_type": sym.content_type,
        "version": sym.version,
        "text": sym.text,
        "text_escaped": sym.text.replace(GS, "<GS>"),
        "unused_ec": sym.unused_ec,
        "ec_level": sym.ec_level,
        "corners": [[p.x, p.y] for p in sym.corners],
        "orientation": sym.orientation,
    }


def inspect_image(path: str, options: DecodeOptions) -> ImageReport:
    """Decode one saved frame and parse its GS1 content."""
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        return ImageReport(path, None, read_error=f"cannot open: {exc.strerror or exc}")
    image = cv2.imdecode(raw, cv2.IMREAD_GRAYSCALE) if raw.size else None
    if image is None:
        return ImageReport(path, None, read_error="not an image OpenCV can read")
    result = decode_image(np.ascontiguousarray(image, dtype=np.uint8), options)
    sym = result.symbol
    if sym is None:
        return ImageReport(path, result)
    try:
        scan = parse_scan(sym.symbology_identifier + sym.text)
    except Gs1Error as exc:
        return ImageReport(path, result, gs1_error=exc)
    return ImageReport(path, result, scan=scan)


def _describe(report: ImageReport) -> Iterator[str]:
    """Human-readable lines for one image."""
    if report.result is None:
        yield f"{report.path}: {report.read_error}"
        return
    result = report.result
    sym = result.symbol
    if sym is None:
        yield f"{report.path}: no code found (decode {result.decode_ms:.2f} ms)"
        return
    kind = "GS1 " if sym.is_gs1 else ""
    size = f", {sym.version}" if sym.version else ""
    grade = f", grade {result.grade.overall}" if result.grade else ""
    yield (
        f"{report.path}: {kind}{sym.symbology} {sym.symbology_identifier}{size}{grade}, "
        f"decoded in {result.decode_ms:.2f} ms"
    )
    if report.scan is not None:
        for ai, value in report.scan.ai.items():
            spec = AI_TABLE.get(ai)
            yield f"  ({ai}) {value:<24} {spec.name if spec else ''}".rstrip()
    else:
        yield f"  data: {sym.text.replace(GS, '<GS>')!r}"
    if report.gs1_error is not None:
        yield f"  GS1 error: {report.gs1_error}"
    quality = []
    if sym.unused_ec is not None:
        quality.append(f"unused EC {sym.unused_ec:.2f}")
    if sym.ec_level:
        quality.append(f"EC level {sym.ec_level}")
    if result.grade is not None:
        g = result.grade.as_dict()
        parts = [f"{key.upper()} {g[key]}" for key in ("sc", "mod", "an", "fpd", "uec") if key in g]
        quality.append("grade " + g["grade"] + ": " + ", ".join(parts))
        quality.append(f"module {g['module_px']} px")
    if quality:
        yield "  " + "; ".join(quality)
    corners = " ".join(f"({p.x},{p.y})" for p in sym.corners)
    yield f"  corners {corners}, turned {sym.orientation} deg"


def run_decode(
    paths: list[str],
    as_json: bool = False,
    *,
    allow_qr: bool = False,
    out: TextIO | None = None,
) -> int:
    """Decode each saved frame as the daemon would and print what it holds; 1 if any has no code."""
    stream = out if out is not None else sys.stdout
    options = DecodeOptions(allow_qr=allow_qr)
    reports = [inspect_image(path, options) for path in paths]
    if as_json:
        stream.write(json.dumps([r.as_json() for r in reports], indent=2, ensure_ascii=False))
        stream.write("\n")
    else:
        for report in reports:
            for line in _describe(report):
                stream.write(line + "\n")
    if not reports:
        return 1
    return 0 if all(r.ok for r in reports) else 1
