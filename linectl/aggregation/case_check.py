"""Camera-tunnel aggregation: check one frame of a case's top layer against the ledger.

All codes in the frame are decoded in one zxing-cpp call (``DecodeOptions(all_symbols=True)``,
the daemon's reader settings otherwise), then looked up in one ledger snapshot. The case is
accepted only when the frame holds exactly ``expected_count`` codes and every one is a unit
that is Commissioned, of this batch, and in no container other than this case. Otherwise it
is rejected with every finding, each under a named reason:

- ``unreadable``: a symbol decoded but is not a GS1 product code with GTIN and serial;
- ``duplicate-in-frame``: the same GTIN and serial on two packs;
- ``not-commissioned``: unknown to the ledger, or in another state (named);
- ``other-batch``: a unit of another batch;
- ``in-other-container``: already packed in another case;
- ``missing``: fewer codes than expected (a pack absent, or its code not decodable); and,
  when the caller names the units the ledger ``packed`` into the case, each of them that the
  frame does not show;
- ``surplus``: more codes than expected;
- ``no-frame``: the case camera sent no frame of the case (:func:`no_frame`).

Blocking (zxing-cpp, SQLite): call it from a thread. zxing-cpp releases the GIL while decoding.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from drivers.camera.decode import DecodeOptions, Symbol, decode_image, frame_array
from drivers.interfaces import Frame
from linectl.ledger import Ledger, SerialState
from linectl.ledger.hierarchy import lookup_units
from standards.gs1.errors import Gs1Error
from standards.gs1.scan import parse_scan


class CaseProblem(enum.StrEnum):
    """Why a case frame was rejected."""

    UNREADABLE = "unreadable"
    DUPLICATE_IN_FRAME = "duplicate-in-frame"
    NOT_COMMISSIONED = "not-commissioned"
    OTHER_BATCH = "other-batch"
    IN_OTHER_CONTAINER = "in-other-container"
    MISSING = "missing"
    SURPLUS = "surplus"
    NO_FRAME = "no-frame"


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a case frame."""

    problem: CaseProblem
    detail: str
    serial: str | None = None
    code: str | None = None  # the decoded text, when there was one
    position: tuple[int, int] | None = None  # the symbol's top-left corner in the frame


@dataclass(frozen=True)
class CaseCheck:
    """The verdict on one case frame."""

    accepted: bool
    expected: int
    found: int  # symbols decoded
    serials: tuple[str, ...]  # serials of the good units, in the order decoded
    findings: tuple[Finding, ...]
    decode_ms: float
    check_ms: float

    @property
    def reasons(self) -> tuple[str, ...]:
        """The distinct problems, in the order first found."""
        return tuple(dict.fromkeys(f.problem.value for f in self.findings))


CASE_OPTIONS = DecodeOptions(all_symbols=True, grade=False)
"""The daemon's reader settings, reporting every symbol in view and skipping the grade."""


def check_case_frame(
    frame: Frame | npt.NDArray[np.uint8],
    expected_count: int,
    batch: str,
    ledger: Ledger,
    *,
    case: str | None = None,
    gtin: str | None = None,
    packed: Sequence[str] | None = None,
    options: DecodeOptions = CASE_OPTIONS,
) -> CaseCheck:
    """Decode every code in the frame at once and check the case (see the module docstring).

    ``case``: the case being checked, whose own units are not "in another container".
    ``gtin``: when given, a code of another GTIN is reported as ``other-batch``.
    ``packed``: the serials the ledger has in the case (line order); each one the frame does
    not show is ``missing``, by name.
    """
    if expected_count < 1:
        raise ValueError(f"expected_count must be at least 1, got {expected_count}")
    image = frame_array(frame) if isinstance(frame, Frame) else frame
    if not options.all_symbols:
        raise ValueError("a case frame needs DecodeOptions(all_symbols=True)")
    result = decode_image(image, options)
    start = time.perf_counter()
    findings: list[Finding] = []
    keys: list[tuple[str, str]] = []
    where: dict[tuple[str, str], Symbol] = {}
    for symbol in result.symbols:
        key, problem = _product(symbol)
        if key is None:
            findings.append(
                Finding(CaseProblem.UNREADABLE, problem, None, symbol.text, _at(symbol))
            )
        elif key in where:
            findings.append(
                Finding(
                    CaseProblem.DUPLICATE_IN_FRAME,
                    f"serial {key[1]} appears twice (also at {_at(where[key])})",
                    key[1],
                    symbol.text,
                    _at(symbol),
                )
            )
        else:
            where[key] = symbol
            keys.append(key)
    findings += _ledger_findings(ledger, keys, where, batch, case, gtin)
    seen = {serial for _, serial in keys}
    for serial in packed or ():
        if serial not in seen:
            detail = f"serial {serial}, packed into the case in line order, is not in the frame"
            findings.append(Finding(CaseProblem.MISSING, detail, serial))
    found = len(result.symbols)
    if found < expected_count:
        findings.append(
            Finding(CaseProblem.MISSING, f"{found} codes read, {expected_count} expected")
        )
    elif found > expected_count:
        findings.append(
            Finding(CaseProblem.SURPLUS, f"{found} codes read, {expected_count} expected")
        )
    bad = {f.serial for f in findings if f.serial is not None}
    good = tuple(serial for _, serial in keys if serial not in bad)
    return CaseCheck(
        accepted=not findings,
        expected=expected_count,
        found=found,
        serials=good,
        findings=tuple(findings),
        decode_ms=result.decode_ms,
        check_ms=(time.perf_counter() - start) * 1000,
    )


def no_frame(expected_count: int, detail: str) -> CaseCheck:
    """The verdict on a case whose frame never came: rejected, ``no-frame``."""
    finding = Finding(CaseProblem.NO_FRAME, detail)
    return CaseCheck(False, expected_count, 0, (), (finding,), 0.0, 0.0)


def _product(symbol: Symbol) -> tuple[tuple[str, str] | None, str]:
    """(GTIN, serial) of a decoded product code, or None and why it is not one."""
    if not symbol.is_gs1:
        return None, f"not a GS1 code ({symbol.content_type})"
    try:
        scan = parse_scan(symbol.symbology_identifier + symbol.text)
    except Gs1Error as exc:
        return None, f"not a valid GS1 code: {exc}"
    if scan.gtin is None or scan.serial is None:
        return None, "no GTIN (01) and serial (21)"
    return (scan.gtin, scan.serial), ""


def _ledger_findings(
    ledger: Ledger,
    keys: Sequence[tuple[str, str]],
    where: dict[tuple[str, str], Symbol],
    batch: str,
    case: str | None,
    gtin: str | None,
) -> list[Finding]:
    """Each code against the ledger: known and Commissioned, this batch, in no other container."""
    known = ledger.containers.read(lookup_units, keys)
    findings: list[Finding] = []
    for key in keys:
        serial, symbol = key[1], where[key]
        unit = known.get(key)

        def add(problem: CaseProblem, detail: str, _s: Symbol = symbol, _n: str = serial) -> None:
            findings.append(Finding(problem, detail, _n, _s.text, _at(_s)))

        if unit is None:
            add(
                CaseProblem.NOT_COMMISSIONED,
                f"serial {serial} (GTIN {key[0]}) is not in the ledger",
            )
            continue
        if unit.batch != batch or (gtin is not None and unit.gtin != gtin):
            add(CaseProblem.OTHER_BATCH, f"serial {serial} is of batch {unit.batch}, not {batch}")
        if unit.state is not SerialState.COMMISSIONED:
            add(CaseProblem.NOT_COMMISSIONED, f"serial {serial} is {unit.state.label}")
        if unit.container is not None and unit.container != case:
            add(CaseProblem.IN_OTHER_CONTAINER, f"serial {serial} is already in {unit.container}")
    return findings


def _at(symbol: Symbol) -> tuple[int, int]:
    corner = symbol.corners[0]
    return corner.x, corner.y
