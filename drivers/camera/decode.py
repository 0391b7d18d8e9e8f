"""Decode grey frames with zxing-cpp the way the daemon verifies every pack, on a thread pool.

Reader settings (DESIGN.md section 7): DataMatrix only (QR as well when the line's code form is a
GS1 Digital Link in QR), no inverted pass, no 90/270-degree pass, downscaled passes on. Text is
taken in zxing-cpp's ``TextMode.Plain``: for GS1 content that is the element string with GS (0x1D)
separators and no leading FNC1, the same form as ``PrintJob.data``; the default ``TextMode.HRI``
would give ``(01)...(21)...`` instead. zxing-cpp releases the GIL while decoding, so a small thread
pool decodes frames in parallel without blocking the event loop.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import zxingcpp

from drivers.camera.grade import QualityGrade, grade_symbol
from drivers.interfaces import DeviceUnavailable, Frame, ReadResult

_SYMBOLOGY_NAMES = {
    zxingcpp.BarcodeFormat.DataMatrix: "datamatrix",
    zxingcpp.BarcodeFormat.QRCode: "qr",
}


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """How the decoder reads a frame; the defaults are the daemon's production settings."""

    allow_qr: bool = False  # the line's code form is a GS1 Digital Link in QR
    try_downscale: bool = True
    all_symbols: bool = False  # report every symbol in view (twice the cost); else the first found
    grade: bool = True  # compute the approximate quality grade (drivers.camera.grade)

    def formats(self) -> zxingcpp.BarcodeFormats:
        return _FORMATS[self.allow_qr]


#: The symbologies read, by ``allow_qr``: built once, not per frame.
_FORMATS = {
    False: zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.DataMatrix),
    True: zxingcpp.BarcodeFormats(
        [zxingcpp.BarcodeFormat.DataMatrix, zxingcpp.BarcodeFormat.QRCode]
    ),
}


@dataclass(frozen=True, slots=True)
class Point:
    """A pixel position in the frame."""

    x: int
    y: int


@dataclass(frozen=True, slots=True)
class Symbol:
    """One decoded symbol, as zxing-cpp reports it."""

    text: str  # GS1 element string with GS separators (or the URI for a Digital Link)
    raw: bytes  # the symbol's data bytes, uninterpreted
    symbology: str  # "datamatrix" | "qr"
    symbology_identifier: str  # e.g. "]d2" (GS1 DataMatrix), "]d1", "]Q1", "]Q3"
    content_type: str  # "gs1", "text", "binary", "mixed", "iso15434", "unknowneci"
    corners: tuple[Point, Point, Point, Point]  # top-left, top-right, bottom-right, bottom-left
    orientation: int  # degrees the symbol is turned in the frame
    version: str | None  # e.g. "22x22" (rows x columns) for DataMatrix, "3" for QR
    ec_level: str | None  # QR error-correction level; None for DataMatrix (fixed ECC 200)
    unused_ec: float | None  # share of Reed-Solomon capacity left unused (1.0 = no errors)

    @property
    def is_gs1(self) -> bool:
        return self.content_type == "gs1"

    def grid(self) -> tuple[int, int] | None:
        """(rows, columns) of the module grid, when the version tells it."""
        if self.version is None:
            return None
        if self.symbology == "datamatrix":
            rows, _, cols = self.version.partition("x")
            if rows.isdigit() and cols.isdigit():
                return int(rows), int(cols)
            return None
        if self.symbology == "qr" and self.version.isdigit():
            side = 17 + 4 * int(self.version)
            return side, side
        return None


@dataclass(frozen=True, slots=True)
class DecodeResult:
    """What the decoder made of one frame: the symbols found (none on a no-read) and timings."""

    seq: int
    symbols: tuple[Symbol, ...]
    decode_ms: float  # zxing-cpp's time on the frame
    grade: QualityGrade | None = None  # of the first symbol, when grading is on
    grade_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.symbols)

    @property
    def symbol(self) -> Symbol | None:
        return self.symbols[0] if self.symbols else None

    @property
    def text(self) -> str | None:
        return self.symbols[0].text if self.symbols else None

    def to_read_result(self) -> ReadResult:
        """The same outcome in the shape a smart code reader returns."""
        sym = self.symbol
        detail: dict[str, str] = {}
        if sym is not None:
            detail["symbology_identifier"] = sym.symbology_identifier
            detail["content_type"] = sym.content_type
            if sym.unused_ec is not None:
                detail["unused_ec"] = f"{sym.unused_ec:.2f}"
            if len(self.symbols) > 1:
                detail["symbols_in_view"] = str(len(self.symbols))
        if self.grade is not None:
            detail.update(self.grade.as_dict())
        return ReadResult(
            text=None if sym is None else sym.text,
            symbology=None if sym is None else sym.symbology,
            grade=None if self.grade is None else self.grade.overall,
            seq=self.seq,
            decode_ms=self.decode_ms,
            detail=detail,
        )


def frame_array(frame: Frame) -> npt.NDArray[np.uint8]:
    """A (height, width) uint8 view over ``frame.pixels`` without copying."""
    expected = frame.width * frame.height
    if frame.width <= 0 or frame.height <= 0 or len(frame.pixels) != expected:
        raise ValueError(
            f"frame seq {frame.seq}: {frame.width}x{frame.height} needs {expected} pixel bytes, "
            f"got {len(frame.pixels)}"
        )
    return np.frombuffer(frame.pixels, dtype=np.uint8).reshape(frame.height, frame.width)


def _unused_ec(extra: object) -> float | None:
    if isinstance(extra, dict):
        value = extra.get("UEC")
        if isinstance(value, int | float):
            return float(value)
    return None


def _version(extra: object) -> str | None:
    if isinstance(extra, dict):
        value = extra.get("Version")
        if value is not None:
            return str(value)
    return None


def _symbol(barcode: zxingcpp.Barcode) -> Symbol | None:
    name = _SYMBOLOGY_NAMES.get(barcode.symbology)
    if not barcode.valid or name is None:
        return None
    pos = barcode.position
    corners = tuple(
        Point(int(p.x), int(p.y))
        for p in (pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left)
    )
    extra = barcode.extra
    return Symbol(
        text=barcode.text,
        raw=barcode.bytes,
        symbology=name,
        symbology_identifier=barcode.symbology_identifier,
        content_type=barcode.content_type.name.lower(),
        corners=(corners[0], corners[1], corners[2], corners[3]),
        orientation=int(barcode.orientation),
        version=_version(extra),
        ec_level=barcode.ec_level or None,
        unused_ec=_unused_ec(extra),
    )


def _grade(image: npt.NDArray[np.uint8], sym: Symbol) -> QualityGrade | None:
    grid = sym.grid()
    if grid is None:
        return None
    corners = tuple((float(p.x), float(p.y)) for p in sym.corners)
    return grade_symbol(
        image,
        (corners[0], corners[1], corners[2], corners[3]),
        grid[0],
        grid[1],
        unused_ec=sym.unused_ec,
        datamatrix=sym.symbology == "datamatrix",
    )


def decode_image(
    image: npt.NDArray[np.uint8], options: DecodeOptions = DecodeOptions(), seq: int = 0
) -> DecodeResult:
    """Decode a (height, width) uint8 grey image; blocking, safe to call from any thread."""
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 grey image, got {image.dtype} {image.shape}")
    formats = options.formats()
    plain = zxingcpp.TextMode.Plain
    start = time.perf_counter_ns()
    if options.all_symbols:
        found = zxingcpp.read_barcodes(image, formats, False, options.try_downscale, False, plain)
    else:
        # Full resolution first, the downscaled passes only when it finds nothing: zxing-cpp
        # tries the full-resolution layer first anyway and stops at the first symbol, so the
        # result is the same, without building the downscaled layers for every readable frame.
        first = zxingcpp.read_barcode(image, formats, False, False, False, plain)
        if first is None and options.try_downscale:
            first = zxingcpp.read_barcode(image, formats, False, True, False, plain)
        found = [] if first is None else [first]
    decode_ms = (time.perf_counter_ns() - start) / 1e6
    symbols = tuple(s for s in (_symbol(b) for b in found) if s is not None)
    grade: QualityGrade | None = None
    grade_ms = 0.0
    if options.grade and symbols:
        start = time.perf_counter_ns()
        grade = _grade(image, symbols[0])
        grade_ms = (time.perf_counter_ns() - start) / 1e6
    return DecodeResult(seq, symbols, decode_ms, grade, grade_ms)


def warm_up_frame(width: int = 320, height: int = 240) -> Frame:
    """A frame holding one DataMatrix, for a first decode before the first pack.

    The first pass through zxing-cpp, the grader and the decode threads costs several times a
    normal one; decoding this once per thread at start keeps the first pack of a run in time.
    """
    barcode = zxingcpp.create_barcode("linectl warm-up", zxingcpp.BarcodeFormat.DataMatrix)
    symbol = np.asarray(barcode.to_image(scale=5, add_quiet_zones=True), dtype=np.uint8)
    image = np.full((height, width), 200, dtype=np.uint8)
    image[20 : 20 + symbol.shape[0], 20 : 20 + symbol.shape[1]] = symbol
    return Frame(0, width, height, image.tobytes())


def decode_frame(frame: Frame, options: DecodeOptions = DecodeOptions()) -> DecodeResult:
    """Decode one frame (zero-copy view over its pixels); blocking."""
    return decode_image(frame_array(frame), options, frame.seq)


class Decoder:
    """Decodes frames on a small thread pool so the event loop never waits on zxing-cpp."""

    def __init__(self, options: DecodeOptions = DecodeOptions(), threads: int = 2) -> None:
        if threads < 1:
            raise ValueError(f"decoder threads must be >= 1, got {threads}")
        self.options = options
        self.threads = threads
        self.in_flight = 0
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="linectl-decode")
        self._closed = False

    async def decode(self, frame: Frame) -> DecodeResult:
        """Decode ``frame`` on the pool; raises DeviceUnavailable once the decoder is closed."""
        if self._closed:
            raise DeviceUnavailable("decoder is closed")
        loop = asyncio.get_running_loop()
        self.in_flight += 1
        try:
            return await loop.run_in_executor(self._pool, decode_frame, frame, self.options)
        finally:
            self.in_flight -= 1

    async def close(self) -> None:
        """Stop the pool after the frames in flight; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)

    async def __aenter__(self) -> Decoder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
