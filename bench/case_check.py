"""Case-check benchmark: decode time of a case's top layer (24 and 100 codes) in one call.

Prints figures only (no pass/fail): for each layer size, the bare zxing-cpp call on the whole
frame (``decode_image`` with ``all_symbols``) and the whole check (decode, GS1 parsing, ledger
lookups of every code), median and p99 over the frames. Frames come from the camera simulator's
case renderer, each with its own pose and noise; they are rendered first, so rendering is not
mixed into the figures. The ledger is a real file with the units commissioned.

    python bench/case_check.py [--frames 100] [--seed 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from drivers.camera.decode import DecodeOptions, decode_image
from linectl.aggregation import check_case_frame
from linectl.config import LineSection
from linectl.ledger import Ledger, UnitResult, Verdict
from linectl.lifecycle import EventFactory, record_verdicts
from simulators.case_scene import CaseFrameRenderer
from standards.gs1.elements import ProductCode, element_string

GTIN = "09506000134352"
LINE = LineSection(
    id="bench",
    read_point="urn:epc:id:sgln:9506000.00001.1",
    biz_location="urn:epc:id:sgln:9506000.00001.0",
    company_prefix_length=7,
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ledger_with(path: Path, n: int) -> tuple[Ledger, list[str]]:
    ledger = Ledger(path)
    ledger.create_work_order(
        batch="B1",
        gtin=GTIN,
        lot="L1",
        expiry="281130",
        quantity=n,
        target_market="DE",
        actor="bench",
    )
    ledger.import_serials("B1", GTIN, [f"S{i:07d}" for i in range(n)], "bench")
    ledger.start_work_order("B1", actor="bench")
    taken = ledger.take_for_encoding("B1", n)
    factory = EventFactory(LINE, ledger.get_work_order("B1"))
    record_verdicts(ledger, factory, [UnitResult(s, i, Verdict.GOOD) for i, s in enumerate(taken)])
    return ledger, taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    renderer = CaseFrameRenderer(module_px=4, seed=args.seed)
    options = DecodeOptions(all_symbols=True, grade=False)
    with tempfile.TemporaryDirectory() as tmp:
        ledger, units = ledger_with(Path(tmp) / "ledger.db", 100 * 4)
        rng = np.random.default_rng(args.seed)
        print(f"{args.frames} frames per size; median / p99 in ms")
        for size in (24, 100):
            frames: list[npt.NDArray[np.uint8]] = []
            start = time.perf_counter()
            for seq in range(args.frames):
                chosen = [str(s) for s in rng.choice(units, size, replace=False)]
                codes = [element_string(ProductCode(GTIN, "281130", "L1", s)) for s in chosen]
                frames.append(renderer.render(codes, seq=seq)[0])
            render_ms = (time.perf_counter() - start) * 1000 / args.frames
            decode, check, failures = [], [], 0
            for image in frames:
                decode.append(decode_image(image, options).decode_ms)
                start = time.perf_counter()
                verdict = check_case_frame(image, size, "B1", ledger)
                check.append((time.perf_counter() - start) * 1000)
                failures += not verdict.accepted
            h, w = frames[0].shape
            bare = f"{statistics.median(decode):6.2f} / {percentile(decode, 0.99):6.2f}"
            whole = f"{statistics.median(check):6.2f} / {percentile(check, 0.99):6.2f}"
            print(
                f"{size:>4} codes  frame {w}x{h}  zxing-cpp decode {bare}  whole check {whole}"
                f"  rejected {failures}  (render {render_ms:.0f} ms/frame)"
            )
        ledger.close()


if __name__ == "__main__":
    main()
