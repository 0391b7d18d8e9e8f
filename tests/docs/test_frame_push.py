"""docs/frame-push.md against drivers/camera/framepush.py: the header layout, byte by byte.

The test encodes real messages with the codec and reads each documented field at the documented
offset and size, so a wrong offset, size, name or code on the page fails and is named.
"""

from __future__ import annotations

import re
import zlib

from tests.docs.markdown import DOCS, Row, plain, tables_with_header
from tests.docs.sources import framepush

PAGE = DOCS / "frame-push.md"
PIXELS = bytes(range(6))
FRAME = framepush.FrameMessage(
    seq=0x0102030405060708, width=3, height=2, pixels=PIXELS, timestamp_ns=0x1112131415161718
)


def header_rows() -> list[Row]:
    tables = tables_with_header(PAGE, "offset", "size", "field")
    assert len(tables) == 1, (
        "docs/frame-push.md: expected one table headed | offset | size | field |"
    )
    return list(tables[0].rows)


def expected_fields(message: bytes) -> dict[str, bytes | int]:
    return {
        "magic": framepush.MAGIC,
        "version": framepush.VERSION,
        "type": framepush.MessageType.FRAME,
        "pixel_format": framepush.PixelFormat.GREY8,
        "flags": framepush.FLAG_PAYLOAD_CRC,
        "seq": FRAME.seq,
        "timestamp_ns": FRAME.timestamp_ns,
        "width": FRAME.width,
        "height": FRAME.height,
        "payload_len": len(PIXELS),
        "payload_crc": zlib.crc32(PIXELS),
        "header_crc": zlib.crc32(message[:36]),
        "payload": PIXELS,
    }


def test_each_header_field_sits_at_its_documented_offset_and_size() -> None:
    message = framepush.encode(FRAME)
    expected = expected_fields(message)
    problems = []
    end = 0
    for row in header_rows():
        offset, size, field = (plain(c) for c in row.cells[:3])
        start = int(offset)
        if start != end:
            problems.append(f"{row.where(PAGE)}: {field} starts at {start}, not right after {end}")
        length = len(message) - start if size == "n" else int(size)
        end = start + length
        if field not in expected:
            problems.append(f"{row.where(PAGE)}: the codec has no field {field!r}")
            continue
        raw = message[start:end]
        want = expected.pop(field)
        got: bytes | int = raw if isinstance(want, bytes) else int.from_bytes(raw, "big")
        if got != want:
            problems.append(
                f"{row.where(PAGE)}: bytes {start}-{end - 1} are {raw.hex()}, not {field} {want!r}"
            )
        if field == "payload" and start != framepush.HEADER_SIZE:
            problems.append(f"{row.where(PAGE)}: the header is {framepush.HEADER_SIZE} bytes")
    problems += [f"field {name} is not in the header table" for name in expected]
    assert not problems, "docs/frame-push.md disagrees with the codec:\n" + "\n".join(problems)


def _codes(row: Row) -> dict[str, int]:
    return {name: int(n) for n, name in re.findall(r"`(\d+)` ([A-Z_0-9]+)", row.cells[3])}


def test_the_type_and_pixel_format_codes_are_the_codecs() -> None:
    rows = {plain(row.cells[2]): row for row in header_rows()}
    problems = []
    for field, codes in (("type", framepush.MessageType), ("pixel_format", framepush.PixelFormat)):
        documented = _codes(rows[field])
        in_code = {member.name: int(member) for member in codes}
        if documented != in_code:
            problems.append(
                f"{rows[field].where(PAGE)}: {field} codes are {in_code}, not {documented}"
            )
    flags = plain(rows["flags"].cells[3])
    bit = framepush.FLAG_PAYLOAD_CRC.bit_length() - 1
    if f"bit {bit} PAYLOAD_CRC" not in flags:
        problems.append(f"{rows['flags'].where(PAGE)}: PAYLOAD_CRC is bit {bit}")
    assert not problems, "\n".join(problems)


def test_the_message_table_has_a_row_for_each_message_type() -> None:
    tables = tables_with_header(PAGE, "type", "direction")
    assert len(tables) == 1
    documented = {plain(row.cells[0]) for row in tables[0].rows}
    assert documented == {member.name for member in framepush.MessageType}


def test_the_limits_on_the_page_are_the_codecs_defaults() -> None:
    text = " ".join(PAGE.read_text(encoding="utf-8").split())
    limits = framepush.Limits()
    assert f"at most {limits.max_frame_bytes // (1024 * 1024)} MiB" in text
    assert f"at most {limits.max_text} bytes" in text
