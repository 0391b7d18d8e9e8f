"""The camera simulator's case frames: seeded, truthful, and readable in one decode."""

from __future__ import annotations

import numpy as np

from drivers.camera.decode import DecodeOptions, decode_image
from simulators.case_scene import CaseFrameRenderer

GS = "\x1d"
ALL = DecodeOptions(all_symbols=True, grade=False)


def codes(n: int, start: int = 0) -> list[str | None]:
    return [f"0109506000134352172811301010L7{GS}21C{i:08d}" for i in range(start, start + n)]


def test_a_frame_is_the_same_for_the_same_seed_and_seq() -> None:
    a, _ = CaseFrameRenderer(seed=5).render(codes(6), seq=3)
    b, _ = CaseFrameRenderer(seed=5).render(codes(6), seq=3)
    c, _ = CaseFrameRenderer(seed=5).render(codes(6), seq=4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_every_code_of_a_full_layer_decodes_in_one_call() -> None:
    for seq, n in enumerate((24, 60, 100)):
        printed = codes(n, start=1000 * seq)
        image, truth = CaseFrameRenderer(seed=11).render(printed, seq=seq)
        assert truth.printed == tuple(printed)
        decoded = sorted(s.text for s in decode_image(image, ALL).symbols)
        assert decoded == sorted(c for c in printed if c is not None)


def test_an_empty_slot_is_in_the_truth_and_not_in_the_frame() -> None:
    printed = codes(12)
    printed[4] = None
    image, truth = CaseFrameRenderer(seed=2).render(printed, columns=4)
    assert (truth.rows, truth.columns) == (3, 4)
    assert len(truth.printed) == 11
    assert len(decode_image(image, ALL).symbols) == 11
