"""docs/markets.md against the code: the shipped market code profiles, row by row, and the
README names exactly those profiles."""

from __future__ import annotations

from linectl.config import BUILTIN_PROFILES
from tests.docs.markdown import DOCS, REPO_ROOT, code_spans, plain, tables_with_header

PAGE = DOCS / "markets.md"


def test_the_shipped_profiles_on_the_page_are_the_ones_in_the_code() -> None:
    (table,) = tables_with_header(PAGE, "profile", "market", "AIs, in marking order")
    on_page = {}
    for row in table.rows:
        name, market, ais, form, symbol, language, lines, randomised = row.cells
        on_page[plain(name)] = {
            "market": plain(market),
            "ais": plain(ais).split(),
            "form": plain(form),
            "symbology": plain(symbol),
            "language": plain(language),
            "hri": code_spans(lines),
            "randomised_serials": {"yes": True, "no": False}[plain(randomised)],
        }
    in_code = {
        name: profile.model_dump(exclude={"description"})
        for name, profile in BUILTIN_PROFILES.items()
    }
    assert on_page == in_code


def test_the_readme_names_the_shipped_profiles() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    paragraphs = [" ".join(p.split()) for p in readme.split("\n\n")]
    text = next(p for p in paragraphs if "market code profile:" in p)
    assert set(BUILTIN_PROFILES) <= set(code_spans(text)), text
