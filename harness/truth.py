"""The demo's ground truth: the printer simulator's print log against the ledger, pack by pack.

The print log (one JSON line per print: ``seq``, ``data`` really marked, ``intended``, the pack's
injected ``defect``) says what is on every pack; the ledger's units say what the daemon decided
for each ``seq``. A pack may pass only if it carries exactly the code sent for it, once; a print
defect (nothing printed, another batch's code, a duplicate) must be rejected with its reason; an
image defect (smudge, low contrast, ...) must be rejected as unreadable or low grade unless the
code survived it intact, which is counted apart ("damaged but readable").
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from linectl.ledger.unit_rows import UnitRow
from simulators.line import PRINT_DEFECTS, Defect, LineLayout, Station
from standards.gs1.errors import Gs1Error
from standards.gs1.scan import parse_scan

IMAGE_DEFECTS = frozenset(d.value for d in Defect if d not in PRINT_DEFECTS)
"""Damage to the image only: the code may still read correctly, and then the pack is fine."""

EXPECTED_REASONS: dict[str, frozenset[str]] = {
    Defect.NO_PRINT.value: frozenset({"no-print"}),
    Defect.WRONG_CONTENT.value: frozenset({"wrong-content"}),
    Defect.DUPLICATE.value: frozenset({"duplicate"}),
    **dict.fromkeys(IMAGE_DEFECTS, frozenset({"no-read", "low-grade"})),
}
"""Reject reasons the daemon may give a pack with each injected defect: a print defect its own,
an image defect unreadable or low grade."""


@dataclass(frozen=True, slots=True)
class PrintEntry:
    """One line of the printer simulator's print log."""

    seq: int
    data: str | None
    intended: str | None
    defect: str | None
    time: float = 0.0  # when the simulator printed it (wall clock, s)


@dataclass(frozen=True, slots=True)
class Finding:
    """One pack where the daemon and the ground truth disagree."""

    seq: int
    defect: str | None
    verdict: str | None
    reason: str | None
    detail: str

    def __str__(self) -> str:
        outcome = f"{self.verdict or '-'} {self.reason or ''}".strip()
        return f"pack {self.seq} ({self.defect or 'clean'}): {outcome} {self.detail}".rstrip()


@dataclass
class TruthReport:
    """The pack-by-pack comparison; ``ok`` when nothing passed that should not have."""

    packs: int = 0  # packs the printer marked (or left unmarked on purpose: no-print)
    clean: int = 0
    clean_passed: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    rejected_as_expected: Counter[str] = field(default_factory=Counter)
    readable_passed: Counter[str] = field(default_factory=Counter)  # image defect, code intact
    false_accepts: list[Finding] = field(default_factory=list)
    false_rejects: list[Finding] = field(default_factory=list)
    wrong_reasons: list[Finding] = field(default_factory=list)
    mismatches: list[Finding] = field(default_factory=list)  # ledger and printer disagree on seq
    units_without_print: int = 0  # serials the ledger judged on packs the printer never marked

    @property
    def defects_rejected(self) -> int:
        return sum(self.rejected_as_expected.values())

    @property
    def ok(self) -> bool:
        """No false accept, every defect with its reason, ledger and printer agree per seq."""
        return not (self.false_accepts or self.wrong_reasons or self.mismatches)

    def summary(self) -> str:
        readable = sum(self.readable_passed.values())
        kept = f", {readable} damaged but readable passed" if readable else ""
        return (
            f"ground truth: {self.packs} packs, {self.clean_passed} clean passed, "
            f"{self.defects_rejected} defects rejected{kept}, "
            f"{len(self.false_accepts)} false accepts, {len(self.false_rejects)} false rejects"
        )

    def table(self) -> str:
        """Per injected defect: how many, rejected with the expected reason, passed intact."""
        lines = [f"  {'injected defect':<18}{'packs':>7}{'rejected':>10}{'readable':>10}"]
        for defect in sorted(self.injected):
            lines.append(
                f"  {defect:<18}{self.injected[defect]:>7}"
                f"{self.rejected_as_expected[defect]:>10}{self.readable_passed[defect]:>10}"
            )
        lines.append(f"  {'(clean)':<18}{self.clean:>7}{'':>10}{self.clean_passed:>10}")
        return "\n".join(lines)

    def problems(self, limit: int = 10) -> list[str]:
        """The disagreements, worst first, at most ``limit`` of each kind."""
        out: list[str] = []
        for title, items in (
            ("FALSE ACCEPT", self.false_accepts),
            ("mismatch", self.mismatches),
            ("wrong reason", self.wrong_reasons),
            ("false reject", self.false_rejects),
        ):
            out += [f"{title}: {item}" for item in items[:limit]]
            if len(items) > limit:
                out.append(f"{title}: ... and {len(items) - limit} more")
        return out


def serial_of(data: str | None) -> str | None:
    """The serial (AI 21) in an element string as the printer marked it; None if there is none."""
    if not data:
        return None
    try:
        return parse_scan("]d2" + data).serial
    except Gs1Error:
        return None


def read_print_log(path: Path) -> dict[int, PrintEntry]:
    """seq -> the last print on that pack (a pack is printed at most once by the simulator)."""
    entries: dict[int, PrintEntry] = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                entry = PrintEntry(
                    int(raw["seq"]),
                    raw["data"],
                    raw["intended"],
                    raw["defect"],
                    float(raw.get("time", 0.0)),
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path} line {number}: not a print record: {exc}") from None
            entries[entry.seq] = entry
    return entries


def pitches_after_printer(layout: LineLayout, station: Station) -> int:
    """How far ``station`` stands after the printer on the simulated conveyor, in pitches."""
    return layout.position(station) - layout.position(Station.PRINTER)


def stalled_around(seq: int, ticks: Mapping[int, float], layout: LineLayout) -> float | None:
    """The pause (s) of the simulated line while pack ``seq`` went from camera to gate, if any.

    The pack at the printer in the same tick as ``seq`` at a station tells when that tick was
    (``ticks``: seq -> print time; ``layout``: where the simulated line's stations stand and its
    pitch). A pause is two ticks more than two pitches apart, or the camera-to-gate time
    squeezed below 3/4 of nominal by the catch-up ticks after one. The frame, the verdict's
    write and the gate then all waited on the stalled simulator process (a GC pause of it, say),
    whatever the daemon did. None when no pause shows (or no ticks tell).
    """
    to_camera = pitches_after_printer(layout, Station.CAMERA)
    to_gate = pitches_after_printer(layout, Station.GATE)
    pitch_s = layout.pitch_seconds
    first, camera, gate = seq + to_camera - 1, seq + to_camera, seq + to_gate
    if any(k not in ticks for k in range(first, gate + 1)):
        return None  # the end of the batch: no ticks to tell by
    gaps = [ticks[k + 1] - ticks[k] for k in range(first, gate)]
    squeezed = ticks[gate] - ticks[camera] < 0.75 * (gate - camera) * pitch_s
    if max(gaps) <= 2 * pitch_s and not squeezed:
        return None
    before = range(seq - to_gate, first)  # the pause the catch-up ticks came after
    return max(gaps + [ticks[k + 1] - ticks[k] for k in before if k in ticks and k + 1 in ticks])


def compare(
    prints: dict[int, PrintEntry], units: dict[int, UnitRow], layout: LineLayout | None = None
) -> TruthReport:
    """Judge every pack the printer saw against the ledger's verdict for its seq.

    With the simulated line's ``layout`` a false reject says whether the line stalled around it.
    """
    ticks = {seq: entry.time for seq, entry in prints.items()}
    report = TruthReport()
    passed_codes: Counter[str] = Counter()
    for seq in sorted(prints):
        entry = prints[seq]
        unit = units.get(seq)
        report.packs += 1
        defect = entry.defect
        if defect is None:
            report.clean += 1
        else:
            report.injected[defect] += 1
        if unit is None:
            report.mismatches.append(
                Finding(seq, defect, None, None, "printed, but the ledger has no unit for it")
            )
            continue
        if serial_of(entry.intended) != unit.serial:
            report.mismatches.append(
                Finding(seq, defect, unit.verdict, unit.reason,
                        f"ledger serial {unit.serial}, printer job {entry.intended!r}")
            )  # fmt: skip
        if unit.verdict == "good":
            if entry.data is None or entry.data != entry.intended:
                report.false_accepts.append(
                    Finding(seq, defect, unit.verdict, None, f"carries {entry.data!r}")
                )
                continue
            passed_codes[entry.data] += 1
            if defect is None:
                report.clean_passed += 1
            elif defect in IMAGE_DEFECTS:
                report.readable_passed[defect] += 1
            else:
                report.false_accepts.append(Finding(seq, defect, unit.verdict, None, "passed"))
            continue
        if defect is None:
            pause = None if layout is None else stalled_around(seq, ticks, layout)
            note = "" if pause is None else f"(the simulated line paused {pause * 1000:.0f} ms)"
            report.false_rejects.append(Finding(seq, None, unit.verdict, unit.reason, note))
        elif unit.reason in EXPECTED_REASONS.get(defect, frozenset()):
            report.rejected_as_expected[defect] += 1
        else:
            expected = "/".join(sorted(EXPECTED_REASONS.get(defect, frozenset({"?"}))))
            report.wrong_reasons.append(
                Finding(seq, defect, unit.verdict, unit.reason, f"expected {expected}")
            )
    for code, times in passed_codes.items():
        if times > 1:
            report.false_accepts.append(
                Finding(0, None, "good", None, f"code {code!r} passed on {times} packs")
            )
    for seq, unit in units.items():
        if seq not in prints:
            report.units_without_print += 1
            if unit.verdict == "good":
                report.false_accepts.append(
                    Finding(seq, None, unit.verdict, None, "passed, but nothing was printed")
                )
    return report


# --- aggregation: the simulator's case packer against ``linectl contents`` -----------------------


@dataclass(frozen=True, slots=True)
class PalletTruth:
    """One physical pallet as the simulated case packer built it."""

    number: int
    sscc: str | None  # the label applied to it (None: never labelled)
    cases: tuple[int, ...]
    codes: tuple[str, ...]  # printed on the packs in its cases

    @property
    def serials(self) -> set[str]:
        return {s for s in map(serial_of, self.codes) if s is not None}


@dataclass(frozen=True, slots=True)
class PalletCheck:
    """``linectl contents`` of a pallet against the serials the simulator put on it."""

    pallet: PalletTruth
    listed: frozenset[str]  # serials ``linectl contents`` lists under the pallet

    @property
    def ok(self) -> bool:
        return self.pallet.sscc is not None and set(self.listed) == self.pallet.serials

    def line(self) -> str:
        truth, n = self.pallet, len(self.pallet.serials)
        where = f"its pallet {truth.number} ({len(truth.cases)} cases)"
        if self.ok:
            return (
                f"pallet check: linectl contents {truth.sscc} lists {len(self.listed)} serials, "
                f"exactly the {n} the simulator put on {where}: OK"
            )
        missing = len(truth.serials - self.listed)
        extra = len(self.listed - truth.serials)
        return (
            f"pallet check: linectl contents {truth.sscc or '(no label)'} lists "
            f"{len(self.listed)} serials; the simulator put {n} on {where}: {missing} missing, "
            f"{extra} not on it: FAILED"
        )


def read_case_log(path: Path) -> dict[int, PalletTruth]:
    """Pallet number -> what the case packer's log says is on it (cases, codes, label)."""
    cases: dict[int, tuple[str, ...]] = {}
    stacked: dict[int, list[int]] = {}
    labels: dict[int, str] = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                event = raw["event"]
                if event == "case":
                    cases[int(raw["case"])] = tuple(str(c) for c in raw["codes"])
                elif event == "stack":
                    stacked.setdefault(int(raw["pallet"]), []).append(int(raw["case"]))
                elif event == "label" and raw["level"] == "pallet":
                    labels[int(raw["number"])] = str(raw["sscc"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path} line {number}: not a case packer record: {exc}") from None
    return {
        n: PalletTruth(n, labels.get(n), tuple(on), tuple(c for k in on for c in cases.get(k, ())))
        for n, on in sorted(stacked.items())
    }


def listed_serials(contents: Mapping[str, object]) -> frozenset[str]:
    """Every unit serial in ``linectl contents --json`` output, through the child containers."""
    found: set[str] = set()
    stack = [contents]
    while stack:
        node = stack.pop()
        units = node.get("units", [])
        children = node.get("children", [])
        if isinstance(units, list):
            found.update(str(u["serial"]) for u in units if isinstance(u, dict))
        if isinstance(children, list):
            stack.extend(c for c in children if isinstance(c, dict))
    return frozenset(found)
