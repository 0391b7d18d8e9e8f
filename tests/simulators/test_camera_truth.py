"""The camera simulator's frames against its ground truth, read by the daemon's decoder.

The invariant that matters: no frame ever decodes to a code other than the one printed on the
pack. Clean frames (with their nuisance pose, light and noise) always decode; damaged ones either
still decode to the right data or do not decode at all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from drivers.camera.client import PushCamera
from drivers.camera.decode import DecodeOptions, DecodeResult, decode_frame
from drivers.interfaces import Frame
from simulators.camera import CameraSimulator, SelfPrinter, parse_defects
from simulators.camera_scene import FrameRenderer, hri_lines
from simulators.line import Defect, FaultPlan, LineLayout, VirtualLine

GS = "\x1d"
IMAGE_DEFECTS = [
    Defect.BLUR,
    Defect.SMUDGE,
    Defect.LOW_CONTRAST,
    Defect.MISSING_MODULES,
    Defect.NO_PRINT,
]
PER_DEFECT = 200
CLEAN = 900
PRINT_ONLY = [Defect.WRONG_CONTENT, Defect.DUPLICATE]  # the image is clean, the data is not
PER_PRINT_DEFECT = 60


def printed_data(seq: int) -> str:
    """Varied, realistic element strings: serial and lot lengths change with seq."""
    serial = f"{seq * 7919 % 10**9:0{6 + seq % 9}d}"
    lot = f"L{seq % 97:02d}" + "ABCDEFGH"[: seq % 6]
    return "0109506000134352" + f"1728{1 + seq % 12:02d}31" + f"10{lot}{GS}21{serial}"


def corpus() -> list[tuple[int, str, Defect | None]]:
    """(seq, printed data, defect) for every frame of the run, in a seeded mixed order."""
    plan: list[Defect | None] = [None] * CLEAN
    plan += [d for d in IMAGE_DEFECTS for _ in range(PER_DEFECT)]
    plan += [d for d in PRINT_ONLY for _ in range(PER_PRINT_DEFECT)]
    rng = np.random.default_rng(2024)
    order = rng.permutation(len(plan))
    frames: list[tuple[int, str, Defect | None]] = []
    for seq, index in enumerate(order, start=1):
        defect = plan[index]
        data = printed_data(seq)
        if defect is Defect.WRONG_CONTENT:
            data = data.replace("09506000134352", "04012345678901")
        elif defect is Defect.DUPLICATE and seq > 1:
            data = printed_data(seq - 1)
        frames.append((seq, data, defect))
    return frames


@pytest.fixture(scope="module")
def decoded() -> list[tuple[int, str, Defect | None, DecodeResult]]:
    renderer = FrameRenderer(seed=7)
    options = DecodeOptions()

    def job(item: tuple[int, str, Defect | None]) -> tuple[int, str, Defect | None, DecodeResult]:
        seq, data, defect = item
        image, truth = renderer.render(seq, data, defect)
        assert truth.printed == data and truth.code_visible == (defect is not Defect.NO_PRINT)
        frame = Frame(seq, image.shape[1], image.shape[0], image.tobytes())
        return seq, data, defect, decode_frame(frame, options)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(job, corpus()))


def test_the_run_covers_two_thousand_frames_of_every_kind(
    decoded: list[tuple[int, str, Defect | None, DecodeResult]],
) -> None:
    kinds = Counter(defect for _, _, defect, _ in decoded)
    assert sum(kinds.values()) >= 2000
    assert set(kinds) == {None, *IMAGE_DEFECTS, *PRINT_ONLY}


def test_no_frame_ever_decodes_to_a_code_other_than_the_one_printed(
    decoded: list[tuple[int, str, Defect | None, DecodeResult]],
) -> None:
    wrong = [(seq, data, r.text) for seq, data, _, r in decoded if r.ok and r.text != data]
    assert wrong == []
    assert all(len(r.symbols) <= 1 for *_, r in decoded)


def test_clean_frames_always_decode_with_a_passing_grade(
    decoded: list[tuple[int, str, Defect | None, DecodeResult]],
) -> None:
    clean = [(seq, r) for seq, _, d, r in decoded if d is None or d in PRINT_ONLY]
    missed = [seq for seq, r in clean if not r.ok]
    assert missed == [] and len(clean) == CLEAN + len(PRINT_ONLY) * PER_PRINT_DEFECT
    low = [(seq, r.grade.overall) for seq, r in clean if r.grade is None or not r.grade.meets("C")]
    assert low == []
    assert all(r.symbol is not None and r.symbol.symbology_identifier == "]d2" for _, r in clean)


def test_damaged_frames_either_decode_correctly_or_not_at_all(
    decoded: list[tuple[int, str, Defect | None, DecodeResult]],
) -> None:
    outcomes: dict[Defect, Counter[bool]] = defaultdict(Counter)
    for _, _, defect, result in decoded:
        if defect in IMAGE_DEFECTS:
            outcomes[defect][result.ok] += 1
    assert outcomes[Defect.NO_PRINT][True] == 0
    for defect in (Defect.BLUR, Defect.MISSING_MODULES):
        # the severity range spans both sides of what Reed-Solomon and the reader can recover
        assert outcomes[defect][True] >= PER_DEFECT // 10, (defect, outcomes[defect])
        assert outcomes[defect][False] >= PER_DEFECT // 10, (defect, outcomes[defect])
    # a smudge is a print-quality failure: it wipes out more than error correction restores
    assert outcomes[Defect.SMUDGE][False] == PER_DEFECT, outcomes[Defect.SMUDGE]


def test_faded_prints_that_still_decode_fail_a_grade_c_minimum(
    decoded: list[tuple[int, str, Defect | None, DecodeResult]],
) -> None:
    faded = [r for _, _, d, r in decoded if d is Defect.LOW_CONTRAST and r.ok]
    assert len(faded) >= PER_DEFECT // 2
    assert all(r.grade is not None and r.grade.symbol_contrast_grade in "DF" for r in faded)
    assert not any(r.grade is not None and r.grade.meets("C") for r in faded)


def test_a_frame_depends_only_on_seed_seq_data_and_defect() -> None:
    one, two = FrameRenderer(seed=3), FrameRenderer(seed=3)
    a, truth = one.render(42, printed_data(42), Defect.SMUDGE)
    two.render(41, printed_data(41), None)  # rendering other frames first changes nothing
    b, _ = two.render(42, printed_data(42), Defect.SMUDGE)
    assert np.array_equal(a, b) and truth.detail.startswith("blob")
    c, _ = FrameRenderer(seed=4).render(42, printed_data(42), Defect.SMUDGE)
    assert not np.array_equal(a, c)


def test_hri_lines_are_the_bracketed_fields() -> None:
    assert hri_lines("0109506000134352" + "10AB" + GS + "21X") == [
        "(01) 09506000134352",
        "(10) AB",
        "(21) X",
    ]


def test_defect_rates_parse_and_bad_ones_are_named() -> None:
    assert parse_defects("blur=0.02, no-print=0.5") == {Defect.BLUR: 0.02, Defect.NO_PRINT: 0.5}
    with pytest.raises(ValueError, match=r"'fuzz=0\.1'"):
        parse_defects("fuzz=0.1")
    with pytest.raises(ValueError, match=r"RATE must be in 0\.\.1"):
        parse_defects("blur=2")


async def test_the_simulator_keeps_the_truth_of_each_pack_it_shows() -> None:
    rates = {Defect.NO_PRINT: 0.2, Defect.BLUR: 0.2, Defect.WRONG_CONTENT: 0.2}
    line = VirtualLine(LineLayout(), FaultPlan(seed=9, rates=rates))
    printer = SelfPrinter(line)
    sim = CameraSimulator(line, renderer=FrameRenderer(seed=9))
    await sim.start()
    cam = PushCamera("127.0.0.1", sim.port)
    await cam.connect()
    for _ in range(LineLayout().camera + 20):
        await line.tick()
    frames: list[Frame] = []
    async with asyncio.timeout(20), contextlib.aclosing(cam.frames()) as stream:  # type: ignore[type-var]
        async for frame in stream:
            frames.append(frame)
            if len(frames) == 20:
                break
    await cam.close()
    await sim.close()
    assert [f.seq for f in frames] == list(range(1, 21))
    for frame in frames:
        pack, truth = line.history[frame.seq], sim.truth[frame.seq]
        assert truth.defect == pack.defect
        assert truth.printed == (None if pack.defect is Defect.NO_PRINT else pack.printed)
        result = decode_frame(frame)
        if pack.defect is Defect.WRONG_CONTENT:
            assert pack.printed != printer.data_for(frame.seq) and result.text == pack.printed
        if result.ok:
            assert result.text == truth.printed
    assert {line.history[f.seq].defect for f in frames} >= {None, Defect.NO_PRINT}
