"""The daemon's decoder on rendered codes: GS1 text with GS separators, settings, threads, grade."""

from __future__ import annotations

import asyncio

import numpy as np
import numpy.typing as npt
import pytest

from drivers.camera.decode import (
    DecodeOptions,
    Decoder,
    Point,
    decode_frame,
    decode_image,
    frame_array,
)
from drivers.interfaces import DeviceUnavailable, Frame
from simulators.marking import render_code

GS = "\x1d"
DATA = "0109506000134352" + "17281231" + "10LOT42" + GS + "21SN0001"
LINK = "https://id.gs1.org/01/09506000134352/10/LOT42/21/SN0001"


def on_carton(
    code: npt.NDArray[np.uint8], at: tuple[int, int] = (150, 200), ink: int = 40, board: int = 200
) -> npt.NDArray[np.uint8]:
    """A plain 640x480 carton with ``code`` (0/255) printed at ``at`` (y, x)."""
    image = np.full((480, 640), board, dtype=np.uint8)
    y, x = at
    h, w = code.shape
    image[y : y + h, x : x + w] = np.where(code < 128, ink, board).astype(np.uint8)
    return image


def as_frame(image: npt.NDArray[np.uint8], seq: int = 1) -> Frame:
    return Frame(seq, image.shape[1], image.shape[0], image.tobytes())


def test_gs1_datamatrix_decodes_to_the_element_string_with_gs_separators() -> None:
    result = decode_image(on_carton(render_code(DATA, module_px=5, quiet_zone_modules=2)))
    sym = result.symbol
    assert sym is not None and result.text == DATA
    assert sym.raw == DATA.encode()
    assert (sym.symbology, sym.symbology_identifier, sym.content_type) == (
        "datamatrix",
        "]d2",
        "gs1",
    )
    assert sym.is_gs1 and sym.unused_ec == 1.0 and sym.ec_level is None
    rows, cols = sym.grid() or (0, 0)
    assert rows == cols and rows >= 10 and sym.version == f"{rows}x{cols}"
    # the symbol starts after the 2-module quiet zone at (200, 150) and is rows*5 pixels wide
    assert sym.corners[0] == Point(210, 160)
    assert sym.corners[2] == Point(210 + cols * 5 - 1, 160 + rows * 5 - 1)
    assert result.decode_ms > 0


def test_digital_link_in_qr_is_read_only_when_the_line_allows_qr() -> None:
    image = on_carton(render_code(LINK, "qr", module_px=4, quiet_zone_modules=4))
    assert not decode_image(image).ok
    result = decode_image(image, DecodeOptions(allow_qr=True))
    assert result.text == LINK
    assert result.symbol is not None and result.symbol.symbology == "qr"
    assert result.symbol.ec_level is not None and result.grade is not None


def test_light_on_dark_codes_are_not_read_because_there_is_no_inverted_pass() -> None:
    code = render_code(DATA, module_px=5, quiet_zone_modules=2)
    assert not decode_image(on_carton(255 - code, ink=40, board=200)).ok


def test_an_empty_carton_is_a_no_read() -> None:
    result = decode_image(np.full((480, 640), 200, dtype=np.uint8))
    assert not result.ok and result.text is None and result.grade is None
    read = result.to_read_result()
    assert read.text is None and read.grade is None and read.seq == 0


def test_frames_are_decoded_without_copying_their_pixels() -> None:
    frame = as_frame(on_carton(render_code(DATA, module_px=5)))
    view = frame_array(frame)
    assert view.shape == (480, 640) and not view.flags.owndata
    assert view.base is not None and view.base.base is frame.pixels
    assert decode_frame(frame).text == DATA


def test_a_frame_whose_pixels_do_not_match_its_size_is_refused() -> None:
    with pytest.raises(ValueError, match=r"frame seq 9: 640x480 needs 307200 pixel bytes, got 5"):
        frame_array(Frame(9, 640, 480, b"12345"))


def test_read_result_carries_grade_and_detail() -> None:
    result = decode_frame(as_frame(on_carton(render_code(DATA, module_px=5)), seq=12))
    read = result.to_read_result()
    assert read.text == DATA and read.seq == 12 and read.symbology == "datamatrix"
    assert result.grade is not None and read.grade == result.grade.overall
    assert read.detail["symbology_identifier"] == "]d2"
    assert read.detail["uec"].startswith("1.00")


def test_all_symbols_reports_every_code_in_view() -> None:
    image = on_carton(render_code(DATA, module_px=4), at=(40, 40))
    other = DATA.replace("SN0001", "SN0002")
    code = render_code(other, module_px=4)
    image[300 : 300 + code.shape[0], 400 : 400 + code.shape[1]] = np.where(code < 128, 40, 200)
    found = decode_image(image, DecodeOptions(all_symbols=True)).symbols
    assert sorted(s.text for s in found) == [DATA, other]


async def test_decoder_runs_frames_on_its_threads_and_keeps_each_result_with_its_frame() -> None:
    frames = [
        as_frame(on_carton(render_code(DATA.replace("SN0001", f"SN{i:04d}"), module_px=5)), i)
        for i in range(8)
    ]
    decoder = Decoder(threads=2)
    async with asyncio.timeout(20):
        results = await asyncio.gather(*(decoder.decode(f) for f in frames))
    assert [(r.seq, r.text) for r in results] == [
        (i, DATA.replace("SN0001", f"SN{i:04d}")) for i in range(8)
    ]
    assert decoder.in_flight == 0
    await decoder.close()
    await decoder.close()
    with pytest.raises(DeviceUnavailable, match="decoder is closed"):
        await decoder.decode(frames[0])


def test_decoder_needs_at_least_one_thread() -> None:
    with pytest.raises(ValueError, match="threads must be >= 1"):
        Decoder(threads=0)
