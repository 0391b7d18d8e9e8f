"""``[labels]``: the ZPL label layouts, the shipped ones with this line's changes merged in.

linectl ships four layouts (``drivers/zpl/layouts/*.toml``: ``unit``, ``unit-digital-link``,
``case``, ``pallet``). ``[labels.NAME]`` changes keys of one of them (a table is merged key by
key, so ``[labels.case.fields.sscc] x = 120`` moves only that field), and the merged set is
checked at start: each key's range, which fields a layout must have, that every field and text
line stays on the label, that a GS1-128 keeps its quiet zones, and that no text line runs into a
symbol's box (largest symbol the line's profiles can make) or its quiet zone. Every problem names
its key, e.g. ``labels.case.fields.sscc.x``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from drivers.zpl.layout import (
    HRI_LINE,
    LAYOUT_NAMES,
    LOGISTIC_KINDS,
    LOGISTIC_VALUES,
    SSCC_128_MODULES,
    UNIT_KINDS,
    LabelLayout,
    LabelLayouts,
    layout_from_data,
    shipped_layout_data,
)
from linectl.config.markets import CodeProfile
from linectl.config.section import FieldError, Section
from standards.gs1.ai import spec_for

_KIND_KEYS: dict[str, frozenset[str]] = {
    "text": frozenset({"lines", "font_height", "line_height"}),
    "code": frozenset({"module"}),
    "datamatrix": frozenset({"data", "module"}),
    "gs1-128": frozenset({"data", "module", "height"}),
}
_COMMON_KEYS = frozenset({"kind", "x", "y"})
_BRACES = re.compile(r"\{([^{}]*)\}")
LINEAR_QUIET_MODULES = 10
"""GS1-128 quiet zone left and right, in modules (GS1 General Specifications 5.4.4.3)."""
MATRIX_QUIET_MODULES = 1
"""DataMatrix quiet zone on every side, in modules (ISO/IEC 16022)."""
DATAMATRIX_CAPACITY = (
    (10, 3), (12, 5), (14, 8), (16, 12), (18, 18), (20, 22), (22, 30), (24, 36), (26, 44),
    (32, 62), (36, 86), (40, 114), (44, 144), (48, 174), (52, 204), (64, 280), (72, 368),
    (80, 456), (88, 576), (96, 696), (104, 816), (120, 1050), (132, 1304), (144, 1558),
)  # fmt: skip
"""Square ECC 200 symbols: (modules per side, data codewords) from ISO/IEC 16022."""


class LabelFieldSection(Section):
    """``[labels.NAME.fields.FIELD]``: one text block or symbol, its top-left corner in dots."""

    kind: Literal["text", "code", "datamatrix", "gs1-128"]
    x: Annotated[int, Field(ge=0, le=32_000)]
    y: Annotated[int, Field(ge=0, le=32_000)]
    data: Literal["sscc", "content"] | None = None
    module: Annotated[int, Field(ge=1, le=30)] = 4
    height: Annotated[int, Field(ge=10, le=2_000)] = 200
    lines: Annotated[list[Annotated[str, Field(max_length=80)]], Field(max_length=12)] = Field(
        default_factory=list
    )
    font_height: Annotated[int, Field(ge=10, le=300)] = 28
    line_height: Annotated[int, Field(ge=10, le=400)] = 34

    @model_validator(mode="after")
    def _keys_fit_the_kind(self) -> LabelFieldSection:
        allowed = _COMMON_KEYS | _KIND_KEYS[self.kind]
        for key in sorted(self.model_fields_set - allowed):
            default = type(self).model_fields[key].get_default(call_default_factory=True)
            if getattr(self, key) != default:  # a dump of the whole model sets every key
                raise FieldError(
                    key, f"not a key of a {self.kind} field (it takes {_listed(allowed)})"
                )
        if self.kind == "text":
            if not self.lines:
                raise FieldError("lines", "a text field needs at least one line")
            if self.line_height < self.font_height:
                raise FieldError(
                    "line_height",
                    f"{self.line_height} dots is less than font_height {self.font_height}: "
                    "the lines would overlap",
                )
        elif self.kind in ("datamatrix", "gs1-128") and self.data is None:
            raise FieldError("data", f'a {self.kind} field needs data = "sscc" or "content"')
        return self


class LabelLayoutSection(Section):
    """``[labels.NAME]``: one label's size and fields (merged onto the shipped layout)."""

    description: str = ""
    width: Annotated[int, Field(ge=50, le=32_000)]
    height: Annotated[int, Field(ge=50, le=32_000)]
    dpmm: Literal[6, 8, 12, 24]
    fields: Annotated[dict[str, LabelFieldSection], Field(min_length=1)]


def _listed(keys: Iterable[str]) -> str:
    return ", ".join(sorted(keys))


def _merged(base: dict[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in change.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def merge_shipped(value: Any) -> Any:
    """Every layout linectl uses: the shipped table, this line's ``[labels.NAME]`` merged in."""
    if not isinstance(value, Mapping):
        return value  # pydantic names the type problem
    unknown = [name for name in value if name not in LAYOUT_NAMES]
    if unknown:
        raise FieldError(
            str(unknown[0]), f"not a label layout linectl uses (known: {', '.join(LAYOUT_NAMES)})"
        )
    merged: dict[str, Any] = {}
    for name in LAYOUT_NAMES:
        change = value.get(name, {})
        shipped = shipped_layout_data(name)
        merged[name] = _merged(shipped, change) if isinstance(change, Mapping) else change
    return merged


def check_layouts(
    layouts: Mapping[str, LabelLayoutSection], profiles: Mapping[str, CodeProfile], domain: str
) -> None:
    """What is wrong with the merged layouts, as a FieldError naming ``labels.NAME...``."""
    for name, layout in layouts.items():
        unit = name != "case" and name != "pallet"
        kinds = UNIT_KINDS if unit else LOGISTIC_KINDS
        for field_name, item in layout.fields.items():
            where = f"labels.{name}.fields.{field_name}"
            if item.kind not in kinds:
                raise FieldError(
                    f"{where}.kind", f"{item.kind!r} is not for a {name} label (use {kinds})"
                )
            _check_text(where, item, name, unit)
        _check_required(name, layout, unit)
        _check_geometry(name, layout, _form_profiles(profiles, name) if unit else None, domain)


def _check_text(where: str, item: LabelFieldSection, name: str, unit: bool) -> None:
    for number, line in enumerate(item.lines):
        for value in _BRACES.findall(line):
            known = [v for v in LOGISTIC_VALUES if name == "pallet" or v != "cases"]
            if unit and line == HRI_LINE:
                continue
            if unit:
                raise FieldError(
                    f"{where}.lines[{number}]",
                    f"{{{value}}}: a unit label's text is {HRI_LINE} (a whole line: the "
                    "profile's human-readable lines) or plain text",
                )
            if value not in known:
                raise FieldError(
                    f"{where}.lines[{number}]",
                    f"{{{value}}} is not a {name} label value (use {_listed(known)})",
                )


def _check_required(name: str, layout: LabelLayoutSection, unit: bool) -> None:
    fields = layout.fields.values()
    if unit:
        codes = [f for f in fields if f.kind == "code"]
        if len(codes) != 1:
            raise FieldError(
                f"labels.{name}.fields",
                f'needs exactly one kind = "code" field, found {len(codes)}',
            )
        if sum(line == HRI_LINE for f in fields for line in f.lines) != 1:
            raise FieldError(
                f"labels.{name}.fields",
                f"needs exactly one text line {HRI_LINE} (the profile's text)",
            )
    elif not any(f.kind == "gs1-128" and f.data == "sscc" for f in fields):
        raise FieldError(
            f"labels.{name}.fields",
            'needs a kind = "gs1-128" field with data = "sscc" '
            "(the GS1 logistic label's SSCC bar code)",
        )


Box = tuple[int, int, int, int]  # left, top, right, bottom in dots


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _check_geometry(
    name: str, layout: LabelLayoutSection, profiles: list[CodeProfile] | None, domain: str
) -> None:
    hri_lines = max((len(p.hri) for p in profiles), default=3) if profiles is not None else 0
    symbols: list[tuple[str, Box]] = []
    texts: list[tuple[str, Box]] = []
    for field_name, item in layout.fields.items():
        where = f"labels.{name}.fields.{field_name}"
        for key, at, size in (("x", item.x, layout.width), ("y", item.y, layout.height)):
            if at >= size:
                raise FieldError(f"{where}.{key}", f"{at} is off the label ({size} dots)")
        if item.kind == "text":
            count = sum(hri_lines if line == HRI_LINE else 1 for line in item.lines)
            bottom = item.y + (count - 1) * item.line_height + item.font_height
            if bottom > layout.height:
                raise FieldError(
                    f"{where}.y",
                    f"{count} line(s) from y = {item.y} end at {bottom}, below the label's "
                    f"height {layout.height}",
                )
            texts.append((where, (item.x, item.y, layout.width, bottom)))
            continue
        box = _symbol_box(where, item, layout, profiles, domain)
        if box is not None:
            symbols.append((where, box))
    for text_at, text in texts:
        for symbol_at, box in symbols:
            if _overlaps(text, box):
                raise FieldError(
                    f"{text_at}.y" if text[1] < box[1] else f"{text_at}.x",
                    f"the text (from x = {text[0]}, y = {text[1]} to the label's right edge) runs "
                    f"into {symbol_at.rsplit('.', 1)[1]}, its largest symbol with its quiet zone "
                    f"spanning x {box[0]}..{box[2]}, y {box[1]}..{box[3]}",
                )


def _symbol_box(
    where: str,
    item: LabelFieldSection,
    layout: LabelLayoutSection,
    profiles: list[CodeProfile] | None,
    domain: str,
) -> Box | None:
    """The largest box the symbol (with its quiet zone) can take; None when it cannot be known."""
    m = item.module
    if item.kind == "gs1-128":
        quiet = LINEAR_QUIET_MODULES * m
        right = item.x + SSCC_128_MODULES * m + quiet
        if item.data != "sscc":
            return None  # the content's width depends on the lot: checked on the rendered label
        if item.x < quiet or right > layout.width:
            raise FieldError(
                f"{where}.x",
                f"the GS1-128 and its quiet zones ({LINEAR_QUIET_MODULES} modules each side) "
                f"need x from {quiet} to {layout.width - right + item.x}",
            )
        if item.y + item.height > layout.height:
            raise FieldError(f"{where}.height", f"bars from y = {item.y} run off the label")
        return (item.x - quiet, item.y - m, right, item.y + item.height + m)
    if item.kind == "datamatrix":
        codewords = _codewords(_SSCC_ONLY if item.data == "sscc" else _CONTENT)
    elif profiles is not None and all(p.symbology == "datamatrix" for p in profiles):
        codewords = max((_code_codewords(p, domain) for p in profiles), default=0)
        codewords = codewords or _code_codewords(None, domain)
    else:
        return None  # QR: its size is checked on the rendered label only
    side = next((s for s, cap in DATAMATRIX_CAPACITY if cap >= codewords), 144) * m
    quiet = MATRIX_QUIET_MODULES * m
    box = (item.x - quiet, item.y - quiet, item.x + side + quiet, item.y + side + quiet)
    if box[0] < 0 or box[1] < 0 or box[2] > layout.width or box[3] > layout.height:
        raise FieldError(
            f"{where}.module",
            f"the largest DataMatrix ({side // m} x {side // m} modules of {m} dots, with its "
            f"quiet zone) spans x {box[0]}..{box[2]}, y {box[1]}..{box[3]}: off the "
            f"{layout.width} x {layout.height} label",
        )
    return box


_SSCC_ONLY = (("00", 18, True),)
_CONTENT = (("00", 18, True), ("02", 14, True), ("17", 6, True), ("37", 8, True), ("10", 20, False))


def _codewords(fields: Iterable[tuple[str, int, bool]]) -> int:
    """Most ECC 200 data codewords (ASCII encodation: a digit pair or another character is one)
    of a GS1 element string: FNC1, each AI and value at their longest, a separator between."""
    out = 0
    for ai, longest, numeric in fields:
        out += (len(ai) + longest + 1) // 2 if numeric else (len(ai) + 1) // 2 + longest
        out += 1  # FNC1 first, then a GS separator before each next field (at most)
    return out


def _code_codewords(profile: CodeProfile | None, domain: str) -> int:
    """Most data codewords of a pack code of the profile (Digital Link: without %-escapes)."""
    ais = profile.ais if profile is not None else ["01", "17", "10", "21"]
    fields = [(ai, spec_for(ai).max_length, spec_for(ai).charset == "N") for ai in ais]
    if profile is not None and profile.form == "digital-link":
        return len(domain) + sum(
            2 + (len(ai) + 1) // 2 + ((n + 1) // 2 if numeric else n) for ai, n, numeric in fields
        )
    return _codewords(fields)


def _form_profiles(profiles: Mapping[str, CodeProfile], name: str) -> list[CodeProfile]:
    link = name == "unit-digital-link"
    return [p for p in profiles.values() if (p.form == "digital-link") == link]


def label_layouts(layouts: Mapping[str, LabelLayoutSection]) -> LabelLayouts:
    """The drivers' view of the merged layouts."""
    built: dict[str, LabelLayout] = {
        name: layout_from_data(name, section.model_dump(exclude_none=True))
        for name, section in layouts.items()
    }
    return LabelLayouts.of(built)
