"""linectl's embedded AI table agrees with the GS1 Barcode Syntax Dictionary, row by row."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from biip.gs1_application_identifiers import GS1ApplicationIdentifier

from standards.gs1.ai import AI_TABLE, DL_PRIMARY_KEYS, AiSpec

# Header of the dictionary: "AIs [Flags] Specification [Attributes...] [# Title]"; flags are
# drawn from the characters below; a component is Type[,linter...], "[...]" when optional.
FLAG_CHARS = frozenset("*!?\"$%&'()+,-./:;<=>@[\\]^_`{|}~")
COMPONENT = re.compile(
    r"^(?P<optional>\[)?(?P<type>[NXYZ])(?P<variable>\.\.)?(?P<length>\d+)\]?(?P<linters>(,\w+)*)$"
)


@dataclass(frozen=True)
class Entry:
    flags: str
    components: tuple[str, ...]
    attributes: tuple[str, ...]
    title: str


def parse_dictionary(path: Path) -> dict[str, Entry]:
    """Every AI of the dictionary (ranges such as 3100-3105 expanded) to its entry."""
    entries: dict[str, Entry] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        body, _, title = line.partition("#")
        tokens = body.split()
        if not tokens:
            continue
        ais, rest = tokens[0], tokens[1:]
        assert re.fullmatch(r"\d{2,4}(-\d{2,4})?", ais), f"line {number}: AI column {ais!r}"
        flags = rest.pop(0) if rest and set(rest[0]) <= FLAG_CHARS else ""
        components: list[str] = []
        while rest and COMPONENT.match(rest[0]):
            components.append(rest.pop(0))
        assert components, f"line {number}: no specification"
        entry = Entry(flags, tuple(components), tuple(rest), title.strip())
        first, _, last = ais.partition("-")
        for ai in range(int(first), int(last or first) + 1):
            entries[str(ai).zfill(len(first))] = entry
    return entries


@pytest.fixture(scope="module")
def dictionary(standards: Path) -> dict[str, Entry]:
    return parse_dictionary(standards / "gs1" / "gs1-syntax-dictionary.txt")


def test_dictionary_parser_reads_every_kind_of_line(dictionary: dict[str, Entry]) -> None:
    assert len(dictionary) > 400
    assert dictionary["3103"].components == ("N6",)  # from the range 3100-3105
    assert dictionary["8008"].components == ("N6,yymmdd", "N2,hh", "[N2],mi", "[N2],ss")
    assert dictionary["21"].flags == ""
    assert dictionary["255"].attributes[0] == "dlpkey"


def test_table_holds_the_ais_linectl_marks() -> None:
    assert {"00", "01", "10", "17", "21"} <= set(AI_TABLE)
    assert all(ai == spec.ai for ai, spec in AI_TABLE.items())


@pytest.mark.parametrize("spec", AI_TABLE.values(), ids=lambda spec: spec.ai)
def test_flags_match_the_dictionary(spec: AiSpec, dictionary: dict[str, Entry]) -> None:
    entry = dictionary[spec.ai]
    assert set(spec.flags()) == set(entry.flags)
    assert spec.predefined_length == ("*" in entry.flags)
    assert spec.needs_separator == ("*" not in entry.flags)


@pytest.mark.parametrize("spec", AI_TABLE.values(), ids=lambda spec: spec.ai)
def test_component_spec_matches_the_dictionary(spec: AiSpec, dictionary: dict[str, Entry]) -> None:
    assert (spec.spec(),) == dictionary[spec.ai].components


@pytest.mark.parametrize("spec", AI_TABLE.values(), ids=lambda spec: spec.ai)
def test_derived_facts_follow_the_dictionary(spec: AiSpec, dictionary: dict[str, Entry]) -> None:
    (component,) = dictionary[spec.ai].components
    match = COMPONENT.match(component)
    assert match is not None
    linters = tuple(filter(None, match["linters"].split(",")))
    assert spec.charset == match["type"]
    assert spec.max_length == int(match["length"])
    assert spec.fixed_length == (match["variable"] is None)
    assert spec.min_length == (1 if match["variable"] else int(match["length"]))
    assert spec.has_check_digit == ("csum" in linters)
    assert spec.is_date == any(linter.startswith("yymmd") for linter in linters)
    assert spec.linters == linters


@pytest.mark.parametrize("spec", AI_TABLE.values(), ids=lambda spec: spec.ai)
def test_title_matches_the_dictionary(spec: AiSpec, dictionary: dict[str, Entry]) -> None:
    assert spec.title == dictionary[spec.ai].title


def test_digital_link_primary_keys_match_the_dictionary(dictionary: dict[str, Entry]) -> None:
    keys = {
        ai
        for ai, entry in dictionary.items()
        if any(a == "dlpkey" or a.startswith("dlpkey=") for a in entry.attributes)
    }
    assert keys == DL_PRIMARY_KEYS


@pytest.mark.parametrize("spec", AI_TABLE.values(), ids=lambda spec: spec.ai)
def test_biip_agrees_on_the_separator(spec: AiSpec) -> None:
    assert GS1ApplicationIdentifier.extract(spec.ai).separator_required == spec.needs_separator
