"""docs/configuration.md against the configuration models: every key, its default and choices.

The key tables (headed ``| key | default | meaning |``) are compared with the keys walked from
``LineConfig`` and its sections; the failure lists every key that is undocumented, documented but
unknown to the code, or documented with another default or without one of its choices.
"""

from __future__ import annotations

import enum
import tomllib
from typing import Any

from pydantic import BaseModel

from tests.docs.config_keys import REQUIRED, config_keys
from tests.docs.markdown import DOCS, Row, code_spans, plain, tables_with_header
from tests.docs.sources import LineConfig

PAGE = DOCS / "configuration.md"


def documented_default(cell: str) -> Any:
    """``required``, ``none`` or the TOML value written in backticks."""
    text = plain(cell)
    if text.startswith(REQUIRED):
        return REQUIRED
    if text.startswith("none"):
        return None
    spans = code_spans(cell)
    if not spans:
        raise AssertionError(f"default {cell!r}: write required, none or a TOML value in backticks")
    return tomllib.loads(f"value = {spans[0]}")["value"]


def same_default(code: Any, page: Any) -> bool:
    if isinstance(code, enum.Enum):
        code = code.value
    if isinstance(code, bool) or isinstance(page, bool):
        return type(code) is type(page) and code == page
    return bool(code == page)


def documented_rows() -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for table in tables_with_header(PAGE, "key", "default", "meaning"):
        for row in table.rows:
            key = plain(row.cells[0])
            if key in rows:
                raise AssertionError(f"{row.where(PAGE)}: {key} is listed twice")
            rows[key] = row
    return rows


def test_every_configuration_key_is_documented_with_its_default() -> None:
    rows = documented_rows()
    keys = config_keys(LineConfig)
    problems = []
    for key in keys:
        row = rows.get(key.path)
        if row is None:
            problems.append(f"{key.path} (default {key.default!r}) is not documented")
            continue
        page = documented_default(row.cells[1])
        if not same_default(key.default, page):
            problems.append(
                f"{row.where(PAGE)}: {key.path} defaults to {key.default!r}, the page says {page!r}"
            )
        named = {span.strip('"') for span in code_spans(row.cells[2])}
        missing = [choice for choice in key.choices if choice not in named]
        if missing:
            problems.append(f"{row.where(PAGE)}: {key.path} does not name the choices {missing}")
    known = {key.path for key in keys}
    problems += [
        f"{row.where(PAGE)}: {path} is not a configuration key in the code"
        for path, row in rows.items()
        if path not in known
    ]
    assert not problems, "docs/configuration.md disagrees with the code:\n" + "\n".join(problems)


def _sections(model: type[BaseModel]) -> list[type[BaseModel]]:
    out = [model]
    for field in model.model_fields.values():
        for candidate in (field.annotation, *getattr(field.annotation, "__args__", ())):
            nested = getattr(candidate, "__args__", (candidate,))
            for item in (candidate, *nested):
                if isinstance(item, type) and issubclass(item, BaseModel) and item not in out:
                    out += [m for m in _sections(item) if m not in out]
    return out


def test_every_section_refuses_unknown_keys_as_the_page_says() -> None:
    assert "Unknown keys are errors" in PAGE.read_text(encoding="utf-8")
    lax = [m.__name__ for m in _sections(LineConfig) if m.model_config.get("extra") != "forbid"]
    assert not lax, f"these sections accept unknown keys, unlike what the page says: {lax}"
