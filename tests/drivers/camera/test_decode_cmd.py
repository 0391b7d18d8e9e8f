"""``linectl decode`` on saved frames: what the daemon's decoder sees, and the exit status."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from linectl.decode_cmd import run_decode
from simulators.camera_scene import FrameRenderer
from simulators.line import Defect
from simulators.marking import render_code

GS = "\x1d"
DATA = "0109506000134352" + "17281231" + "10LOT42" + GS + "21SN0001"


def save_frame(path: Path, data: str | None, defect: Defect | None = None) -> str:
    image, _ = FrameRenderer(seed=2).render(1, data, defect)
    cv2.imwrite(str(path), image)
    return str(path)


def run(paths: list[str], **kwargs: bool) -> tuple[int, str]:
    out = io.StringIO()
    status = run_decode(paths, out=out, **kwargs)
    return status, out.getvalue()


def test_a_good_frame_shows_symbology_fields_quality_and_corners(tmp_path: Path) -> None:
    status, text = run([save_frame(tmp_path / "good.png", DATA)])
    assert status == 0
    first, *rest = text.splitlines()
    assert first.startswith(f"{tmp_path / 'good.png'}: GS1 datamatrix ]d2, ")
    assert "grade " in first and " ms" in first
    assert [line.split()[:2] for line in rest[:4]] == [
        ["(01)", "09506000134352"],
        ["(17)", "281231"],
        ["(10)", "LOT42"],
        ["(21)", "SN0001"],
    ]
    assert "unused EC 1.00" in text and "corners (" in text


def test_any_frame_without_a_code_makes_the_exit_status_nonzero(tmp_path: Path) -> None:
    good = save_frame(tmp_path / "good.png", DATA)
    empty = save_frame(tmp_path / "empty.png", None)
    status, text = run([good, empty])
    assert status == 1
    assert f"{empty}: no code found" in text


def test_json_output_carries_the_same_facts(tmp_path: Path) -> None:
    good = save_frame(tmp_path / "good.png", DATA)
    empty = save_frame(tmp_path / "empty.png", DATA, Defect.NO_PRINT)
    status, text = run([good, empty], as_json=True)
    first, second = json.loads(text)
    assert status == 1
    assert first["ok"] is True and first["symbol"]["symbology_identifier"] == "]d2"
    assert first["symbol"]["text"] == DATA and first["symbol"]["text_escaped"].count("<GS>") == 1
    assert first["gs1"] == {
        "kind": "element_string",
        "ai": {"01": "09506000134352", "17": "281231", "10": "LOT42", "21": "SN0001"},
    }
    assert len(first["symbol"]["corners"]) == 4 and first["decode_ms"] > 0
    assert first["grade"]["overall"] in "ABCDF" and 0 < first["grade"]["symbol_contrast"] <= 1
    assert second == {**second, "ok": False, "symbol": None, "error": "no code found"}


def test_a_wrong_check_digit_is_reported_and_fails(tmp_path: Path) -> None:
    bad = DATA.replace("09506000134352", "09506000134353")
    code = render_code(bad, module_px=5, quiet_zone_modules=4)
    path = tmp_path / "bad-check-digit.png"
    cv2.imwrite(str(path), np.pad(code, 40, constant_values=255))
    status, text = run([str(path)])
    assert status == 1
    assert "GS1 error: AI (01)" in text and "check digit" in text
    assert "09506000134353" in text


def test_a_digital_link_in_qr_needs_the_qr_option(tmp_path: Path) -> None:
    link = "https://id.gs1.org/01/09506000134352/10/LOT42/21/SN0001?17=281231"
    path = tmp_path / "qr.png"
    cv2.imwrite(str(path), np.pad(render_code(link, "qr", 4, 4), 40, constant_values=255))
    assert run([str(path)])[0] == 1
    status, text = run([str(path)], allow_qr=True, as_json=True)
    (report,) = json.loads(text)
    assert status == 0 and report["gs1"]["kind"] == "digital_link"
    assert report["gs1"]["ai"]["21"] == "SN0001" and report["symbol"]["symbology"] == "qr"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.png", None, "cannot open: No such file or directory"),
        ("notes.png", b"not an image", "not an image OpenCV can read"),
    ],
)
def test_unreadable_files_are_named_and_fail(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    status, text = run([str(path)])
    assert status == 1 and text.strip() == f"{path}: {message}"


def test_no_images_is_a_failure() -> None:
    assert run([])[0] == 1
