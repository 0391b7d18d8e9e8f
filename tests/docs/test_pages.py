"""The README stays a front door and every link between the pages leads somewhere."""

from __future__ import annotations

from pathlib import Path

from tests.docs.markdown import DOCS, README, REPO_ROOT, anchors, code_spans, relative_links

MAX_README_LINES = 300


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def test_the_readme_is_at_most_300_lines() -> None:
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_README_LINES, (
        f"README.md has {lines} lines; move reference material into docs/ "
        f"(at most {MAX_README_LINES})"
    )


def broken_links(page: Path) -> list[str]:
    """Each relative link of ``page`` whose file, or heading anchor, does not exist."""
    problems = []
    for line, target in relative_links(page):
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        where = f"{page.relative_to(REPO_ROOT)}:{line}"
        if not resolved.exists():
            problems.append(f"{where}: {target} does not exist")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{where}: {target}: no heading with anchor #{anchor}")
    return problems


def test_every_relative_link_leads_to_an_existing_file_and_heading() -> None:
    problems = [problem for page in pages() for problem in broken_links(page)]
    assert not problems, "\n".join(problems)


def test_the_index_and_the_readme_link_every_reference_page() -> None:
    reference = {p.name for p in DOCS.glob("*.md")} - {"README.md"}
    indexed = {
        Path(target.partition("#")[0]).name for _, target in relative_links(DOCS / "README.md")
    }
    from_readme = {
        Path(target.partition("#")[0]).name
        for _, target in relative_links(README)
        if target.startswith("docs/")
    }
    assert reference <= indexed, f"docs/README.md does not list {sorted(reference - indexed)}"
    assert reference <= from_readme, f"README.md does not link {sorted(reference - from_readme)}"


TOP_LEVEL = ("standards/", "drivers/", "linectl/", "simulators/", "harness/", "config/", "systemd/")
TOP_LEVEL += ("bench/", "tests/", "docs/")


def test_every_repository_path_the_pages_name_exists() -> None:
    """A module or file named in backticks (``drivers/plc/signals.py``) is still where it says."""
    problems = []
    for page in pages():
        in_fence = False
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
            if line.lstrip().startswith("```"):
                in_fence = not in_fence
            if in_fence:
                continue
            for span in code_spans(line):
                path = span.split(" ")[0].split("::")[0]
                named = path.startswith(TOP_LEVEL) and not path.endswith("/") and "*" not in path
                if named and not (REPO_ROOT / path).exists():
                    where = f"{page.relative_to(REPO_ROOT)}:{number}"
                    problems.append(f"{where}: {path} does not exist")
    assert not problems, "\n".join(problems)
