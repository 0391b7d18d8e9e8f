"""Reads the pipe tables, headings and links of the markdown pages, for the docs-versus-code tests.

A table is found by its header row, or by the heading it sits under; each row keeps its line number
so a failing test can point at the line to fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = REPO_ROOT / "docs"
README = REPO_ROOT / "README.md"

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
_DIVIDER = re.compile(r"^\|(\s*:?-{3,}:?\s*\|)+\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


@dataclass(frozen=True)
class Row:
    """One body row of a table: its cells as written (trimmed) and where it is."""

    cells: tuple[str, ...]
    line: int

    def where(self, page: Path) -> str:
        return f"{page.relative_to(REPO_ROOT)}:{self.line}"


@dataclass(frozen=True)
class Table:
    """A pipe table with the headings it sits under (outermost first)."""

    page: Path
    headings: tuple[str, ...]
    header: tuple[str, ...]
    rows: tuple[Row, ...]
    line: int

    @property
    def heading(self) -> str:
        return self.headings[-1] if self.headings else ""

    def column(self, name: str) -> int:
        """Index of the header cell ``name`` (compared as plain text, case-insensitively)."""
        wanted = plain(name).lower()
        for index, cell in enumerate(self.header):
            if plain(cell).lower() == wanted:
                return index
        raise KeyError(f"{self.page.name}:{self.line}: no column {name!r} in {self.header}")


def _split_row(line: str) -> tuple[str, ...]:
    """Cells of ``| a | b |``; a pipe inside backticks or escaped as ``\\|`` stays in its cell."""
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    cells: list[str] = []
    current: list[str] = []
    in_code = False
    previous = ""
    for char in body:
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code and previous != "\\":
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(char)
        previous = char
    cells.append("".join(current).strip())
    return tuple(cells)


def read_tables(page: Path) -> list[Table]:
    """Every pipe table of ``page`` outside code fences, in page order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    tables: list[Table] = []
    headings: list[tuple[int, str]] = []
    in_fence = False
    index = 0
    while index < len(lines):
        line = lines[index]
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (match := _HEADING.match(line)):
            level = len(match.group(1))
            headings = [(lvl, text) for lvl, text in headings if lvl < level]
            headings.append((level, match.group(2)))
        elif (
            not in_fence
            and line.lstrip().startswith("|")
            and index + 1 < len(lines)
            and _DIVIDER.match(lines[index + 1].strip())
        ):
            header = _split_row(line)
            rows: list[Row] = []
            body = index + 2
            while body < len(lines) and lines[body].lstrip().startswith("|"):
                rows.append(Row(_split_row(lines[body]), body + 1))
                body += 1
            tables.append(
                Table(page, tuple(t for _, t in headings), header, tuple(rows), index + 1)
            )
            index = body
            continue
        index += 1
    return tables


def plain(cell: str) -> str:
    """A cell's text without markdown emphasis and code marks."""
    return cell.replace("`", "").replace("**", "").strip()


def code_spans(cell: str) -> list[str]:
    """The texts written in backticks in ``cell``, in order."""
    return re.findall(r"`([^`]+)`", cell)


def tables_with_header(page: Path, *columns: str) -> list[Table]:
    """The tables of ``page`` whose header starts with ``columns`` (plain text, any case)."""
    wanted = [plain(c).lower() for c in columns]
    return [
        t
        for t in read_tables(page)
        if [plain(c).lower() for c in t.header[: len(wanted)]] == wanted
    ]


def table_under(page: Path, heading: str) -> Table:
    """The one table sitting directly under the heading that contains ``heading``."""
    found = [t for t in read_tables(page) if heading.lower() in plain(t.heading).lower()]
    if len(found) != 1:
        raise LookupError(
            f"{page.relative_to(REPO_ROOT)}: expected one table under a heading containing "
            f"{heading!r}, found {len(found)}"
        )
    return found[0]


def relative_links(page: Path) -> list[tuple[int, str]]:
    """(line, target) of every link in ``page`` that is not a URL or a same-page anchor."""
    out: list[tuple[int, str]] = []
    in_fence = False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        for target in _LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue
            out.append((number, target))
    return out


def anchors(page: Path) -> set[str]:
    """GitHub-style anchors of the headings of ``page``."""
    out: set[str] = set()
    in_fence = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (match := _HEADING.match(line)):
            text = plain(match.group(2)).lower()
            slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
            out.add(slug)
    return out
