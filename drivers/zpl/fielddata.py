"""ZPL field-data escapes for GS1 codes, both directions (host encodes, printer side decodes).

``^BX`` Data Matrix, quality 200 (ZPL II Programming Guide 45541L-004, ``^BX``): parameter ``g``
sets the escape character (default ``~`` on current firmware, ``_`` on V60.13.0.12*; Zebra advises
setting it explicitly, so linectl always sends ``_``). In the field data:
``<esc>1`` FNC1 (first position marks GS1; later ones are the GS1 separator), ``<esc>2`` FNC2
(structured append, 9 digits follow), ``<esc>3`` FNC3, ``<esc>5NNN`` code page, ``<esc>dNNN``
code word NNN, ``<esc><esc>`` the escape character itself, ``<esc>X`` for X in ``@``..``_`` the
control character ord(X) - 64 (``_@`` NUL, ``_G`` BEL).

``^BC`` Code 128 invocation codes (same guide, table "Code 128 Invocation Characters"): ``>;``
start C, ``>:`` start B, ``>9`` start A, ``>5`` code C, ``>6`` code B, ``>7`` code A, ``>8`` FNC1,
``><`` the character ``>``. GS1-128 per Zebra's GS1 note: ``>;>8`` then the element string, with
``>8`` after each variable-length field. linectl uses subsets B and C only.

``^FH<indicator>`` (field hex): ``<indicator>HH`` is the byte 0xHH, applied before the escapes
above. linectl uses ``\\`` as indicator (``_`` would collide with the ^BX escape) and needs it only
for ``^``, ``~`` and ``\\`` themselves, which cannot appear raw in field data.
"""

from __future__ import annotations

import functools

GS = "\x1d"
DM_ESCAPE = "_"
FH_INDICATOR = "\\"
_RAW_FORBIDDEN = "^~" + FH_INDICATOR


def needs_field_hex(text: str) -> bool:
    """True when ``text`` holds characters that must go through ``^FH``."""
    return "^" in text or "~" in text or FH_INDICATOR in text


def field_data(text: str) -> str:
    """``^FD text ^FS``, through ``^FH`` when the text holds characters that cannot go raw."""
    if needs_field_hex(text):
        return f"^FH{FH_INDICATOR}^FD{encode_field_hex(text)}^FS"
    return f"^FD{text}^FS"


def encode_field_hex(text: str) -> str:
    """Hex-escape the characters that cannot appear raw in ``^FD`` (use with ``^FH\\``)."""
    return "".join(f"{FH_INDICATOR}{ord(c):02X}" if c in _RAW_FORBIDDEN else c for c in text)


def decode_field_hex(data: str, indicator: str) -> str:
    """Resolve ``^FH`` hex escapes; raises ValueError naming the offset of a bad one."""
    out: list[str] = []
    i = 0
    while i < len(data):
        c = data[i]
        if c == indicator:
            pair = data[i + 1 : i + 3]
            if len(pair) != 2 or any(h not in "0123456789abcdefABCDEF" for h in pair):
                raise ValueError(f"^FH escape at offset {i}: expected two hex digits, got {pair!r}")
            out.append(chr(int(pair, 16)))
            i += 3
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _check_ascii(data: str, what: str) -> None:
    if data.isascii() and "\x7f" not in data:
        return
    for i, c in enumerate(data):
        if ord(c) > 0x7E:
            raise ValueError(f"{what}: character {c!r} at offset {i} is not 7-bit ASCII")


def encode_datamatrix(data: str, *, gs1: bool, escape: str = DM_ESCAPE) -> str:
    """^BX quality-200 field data: FNC1 first when ``gs1``, GS -> FNC1, escape doubled."""
    _check_ascii(data, "Data Matrix data")
    return (escape + "1" if gs1 else "") + data.translate(_datamatrix_escapes(escape, gs1))


@functools.lru_cache(maxsize=8)
def _datamatrix_escapes(escape: str, gs1: bool) -> dict[int, str]:
    """str.translate table of encode_datamatrix: control characters as escape + chr(c + 64),
    the escape doubled, GS as FNC1 (escape + "1") in GS1 data."""
    table = {c: escape + chr(c + 64) for c in range(0x20)}
    if len(escape) == 1:
        table[ord(escape)] = escape + escape
    if gs1:
        table[ord(GS)] = escape + "1"
    return table


def decode_datamatrix(data: str, escape: str) -> tuple[bool, str]:
    """Resolve ^BX escapes: returns (GS1 i.e. FNC1 in first position, text with GS separators)."""
    out: list[str] = []
    gs1 = False
    i = 0
    while i < len(data):
        c = data[i]
        if c != escape:
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(data):
            raise ValueError(f"^BX escape at offset {i}: nothing follows the escape character")
        code = data[i + 1]
        if code == "1":
            if i == 0:
                gs1 = True
            else:
                out.append(GS)
            i += 2
        elif code == "3":
            raise ValueError(f"^BX escape at offset {i}: FNC3 (reader programming) not supported")
        elif code == "2":
            raise ValueError(f"^BX escape at offset {i}: FNC2 structured append not supported")
        elif code in "5d":
            digits = data[i + 2 : i + 5]
            if len(digits) != 3 or not digits.isdigit():
                raise ValueError(f"^BX escape at offset {i}: {code} needs three digits")
            if code == "d":
                value = int(digits)
                if value > 255:
                    raise ValueError(f"^BX escape at offset {i}: code word {value} > 255")
                out.append(chr(value))
            i += 5  # a code page switch changes no characters here
        elif code == escape:
            out.append(escape)
            i += 2
        elif "@" <= code <= "_":
            out.append(chr(ord(code) - 64))
            i += 2
        else:
            raise ValueError(f"^BX escape at offset {i}: unknown sequence {escape}{code}")
    return gs1, "".join(out)


def encode_gs1_128(data: str) -> str:
    """^BC field data for a GS1-128 element string: start C + FNC1, runs of digit pairs in C."""
    _check_ascii(data, "GS1-128 data")
    for i, c in enumerate(data):
        if c in "^~" or (ord(c) < 0x20 and c != GS):
            raise ValueError(f"GS1-128 data: character {c!r} at offset {i} cannot be encoded")
    out = [">;>8"]
    subset = "C"
    for field_no, field in enumerate(data.split(GS)):
        if field_no:
            out.append(">8")
        i = 0
        while i < len(field):
            run = len(field[i:]) - len(field[i:].lstrip("0123456789"))
            if subset == "C" and run >= 2:
                take = run - run % 2
                out.append(field[i : i + take])
                i += take
            elif subset == "B" and run >= 4:
                take = run - run % 2
                out.append(">5" + field[i : i + take])
                subset = "C"
                i += take
            else:
                if subset != "B":
                    out.append(">6")
                    subset = "B"
                out.append("><" if field[i] == ">" else field[i])
                i += 1
    return "".join(out)


def decode_code128(data: str) -> tuple[bool, str]:
    """Resolve ^BC invocation codes: returns (FNC1 first i.e. GS1-128, text with GS separators)."""
    out: list[str] = []
    subset = "B"
    gs1 = False
    seen_data = False
    i = 0
    while i < len(data):
        c = data[i]
        if c == ">":
            if i + 1 >= len(data):
                raise ValueError(f"^BC data at offset {i}: '>' needs an invocation code")
            code = data[i + 1]
            i += 2
            if code in ";:9":
                if seen_data or i > 2:
                    raise ValueError(f"^BC data at offset {i - 2}: start code not at the start")
                subset = {";": "C", ":": "B", "9": "A"}[code]
            elif code in "567":
                subset = {"5": "C", "6": "B", "7": "A"}[code]
            elif code == "8":
                if seen_data:
                    out.append(GS)
                else:
                    gs1 = True
            elif code == "<" and subset != "C":
                out.append(">")
                seen_data = True
            else:
                raise ValueError(f"^BC data at offset {i - 2}: unsupported invocation >{code}")
            continue
        if subset == "C":
            pair = data[i : i + 2]
            if len(pair) != 2 or not pair.isdigit():
                raise ValueError(
                    f"^BC data at offset {i}: subset C needs digit pairs, got {pair!r}"
                )
            out.append(pair)
            i += 2
        else:
            out.append(c)
            i += 1
        seen_data = True
    return gs1, "".join(out)
