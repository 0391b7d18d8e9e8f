"""``[labels]`` in the line configuration: merged onto the shipped layouts, checked at start,
every mistake named by its key; and a WSI printer's command letters and fields."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.zpl.layout import shipped_layouts
from linectl.config import ConfigError, parse_config
from tests.labels.lines import BASE_CONFIG


def problems(extra: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE_CONFIG | extra)
    return caught.value.problems


def labels(**layouts: Any) -> dict[str, Any]:
    return {"labels": layouts}


def test_without_labels_the_line_uses_the_shipped_layouts() -> None:
    assert parse_config(BASE_CONFIG).label_layouts() == shipped_layouts()


def test_a_dump_of_the_validated_configuration_reads_back_as_the_same_configuration() -> None:
    config = parse_config(BASE_CONFIG | labels(case={"fields": {"sscc": {"x": 120}}}))
    again = parse_config(config.model_dump(mode="json", exclude_none=True))
    assert again.label_layouts() == config.label_layouts()


def test_a_change_moves_one_field_and_keeps_the_rest_of_the_shipped_layout() -> None:
    config = parse_config(BASE_CONFIG | labels(case={"fields": {"sscc": {"x": 120}}}))
    case = config.label_layouts().case
    shipped = shipped_layouts().case
    moved = {f.name: f for f in case.fields}["sscc"]
    assert (moved.x, moved.y, moved.module) == (120, 790, 4)
    assert [f for f in case.fields if f.name != "sscc"] == [
        f for f in shipped.fields if f.name != "sscc"
    ]
    assert config.label_layouts().pallet == shipped_layouts().pallet


CASE_SSCC = "labels.case.fields.sscc"
QUIET = "the GS1-128 and its quiet zones (10 modules each side) need x from 40 to 148"
LAYOUT_MISTAKES: list[tuple[dict[str, Any], str]] = [
    (labels(case={"fields": {"sscc": {"x": "left"}}}), f"{CASE_SSCC}.x: Input should"),
    (labels(case={"fields": {"sscc": {"x": 10}}}), f"{CASE_SSCC}.x: {QUIET}"),
    (labels(case={"width": 500}), f"{CASE_SSCC}.x: the GS1-128"),
    (labels(case={"fields": {"sscc": {"height": 600}}}), f"{CASE_SSCC}.height: bars from y"),
    (
        labels(pallet={"fields": {"content": {"y": 300}}}),
        "labels.pallet.fields.content.y: the text (from x = 40, y = 300 to the label's right "
        "edge) runs into matrix",
    ),
    (labels(unit={"fields": {"text": {"x": 100}}}), "labels.unit.fields.text.x: the text"),
    (
        labels(crate={}),
        "labels.crate: not a label layout linectl uses (known: unit, unit-digital-link, case, "
        "pallet)",
    ),
    (
        labels(case={"fields": {"content": {"lines": ["{cases}"]}}}),
        "labels.case.fields.content.lines[0]: {cases} is not a case label value",
    ),
    (
        labels(unit={"fields": {"text": {"lines": ["{hri}", "SN {21}"]}}}),
        "labels.unit.fields.text.lines[1]: {21}: a unit label's text is {hri}",
    ),
    (
        labels(case={"fields": {"content": {"module": 3}}}),
        "labels.case.fields.content.module: not a key of a text field",
    ),
    (
        labels(case={"fields": {"logo": {"x": 1, "y": 2}}}),
        "labels.case.fields.logo.kind: Field required",
    ),
    (
        labels(case={"fields": {"extra": {"kind": "code", "x": 500, "y": 700}}}),
        "labels.case.fields.extra.kind: 'code' is not for a case label",
    ),
    (
        labels(case={"fields": {"sscc": {"data": "content"}}}),
        'labels.case.fields: needs a kind = "gs1-128" field with data = "sscc"',
    ),
    (
        labels(unit={"fields": {"more": {"kind": "code", "x": 400, "y": 200}}}),
        'labels.unit.fields: needs exactly one kind = "code" field, found 2',
    ),
    (
        labels(pallet={"fields": {"sscc_text": {"y": 1200}}}),
        "labels.pallet.fields.sscc_text.y: 1 line(s) from y = 1200 end at 1240, below the "
        "label's height 1218",
    ),
    (
        labels(pallet={"fields": {"content": {"line_height": 20}}}),
        "labels.pallet.fields.content.line_height: 20 dots is less than font_height 34",
    ),
    (labels(pallet={"dpmm": 7}), "labels.pallet.dpmm: Input should be 6, 8, 12 or 24"),
    (labels(pallet=5), "labels.pallet: Input should be a valid dictionary"),
    (labels(pallet={"fields": {"sscc": 5}}), "labels.pallet.fields.sscc: Input should be"),
    (labels(pallet={"colour": "red"}), "labels.pallet.colour: Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("change", "expected"), LAYOUT_MISTAKES)
def test_a_layout_mistake_is_refused_at_start_naming_its_key(
    change: dict[str, Any], expected: str
) -> None:
    found = problems(change)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_a_profile_with_more_text_lines_than_the_unit_label_holds_is_refused() -> None:
    six = {"market": "IT", "ais": ["01", "17", "10", "21"], "language": "it",
           "hri": [f"line {n}" for n in range(6)]}  # fmt: skip
    change = {"line": BASE_CONFIG["line"] | {"profiles": {"it-long": six}}}
    (found,) = problems(change)
    expected = "labels.unit.fields.text.y: 6 line(s) from y = 40 end at 266, below the label's"
    assert found.startswith(expected), found


def wsi(options: dict[str, Any]) -> dict[str, Any]:
    return {"devices": {"printer": {"kind": "printer", "protocol": "wsi", "host": "10.0.0.21",
                                    "port": 3100, "options": options}}}  # fmt: skip


def test_wsi_command_letters_come_from_the_printers_options() -> None:
    config = parse_config(BASE_CONFIG | wsi({"commands": {"print_on": "Q1", "print_off": "Q0"}}))
    assert config.devices["printer"].options["commands"] == {"print_on": "Q1", "print_off": "Q0"}


OPTIONS = "devices.printer.options"
WSI_MISTAKES: list[tuple[dict[str, Any], str]] = [
    ({"commands": {"print_on": "p1"}}, f"{OPTIONS}.commands.print_on: one upper-case letter"),
    (
        {"commands": {"print_on": "GA"}},
        f"{OPTIONS}.commands.print_on: 'GA' is also the print_count command",
    ),
    ({"commands": {"jet_on": "J"}}, f"{OPTIONS}.commands.jet_on: not a WSI command"),
    ({"commands": "M"}, f"{OPTIONS}.commands: a table of command letters by name"),
    ({"hri_fields": ["H1", "H1"]}, f"{OPTIONS}.hri_fields: a field is named twice"),
    ({"hri_fields": ["H1", 2]}, f"{OPTIONS}.hri_fields[1]: a printer field or message name"),
    ({"code_field": ""}, f"{OPTIONS}.code_field: a printer field or message name"),
]


def test_a_zpl_printers_layouts_are_not_set_in_its_options() -> None:
    zpl = {"kind": "printer", "protocol": "zpl", "host": "10.0.0.20", "port": 9100}
    change = {"devices": {"zebra": zpl | {"options": {"layouts": {}}}}}
    assert problems(change) == [
        "devices.zebra.options.layouts: a ZPL printer's layouts come from [labels] "
        "(docs/labels.md); change them there"
    ]


@pytest.mark.parametrize(("options", "expected"), WSI_MISTAKES)
def test_a_wsi_option_mistake_is_refused_naming_its_key(
    options: dict[str, Any], expected: str
) -> None:
    found = problems(wsi(options))
    assert len(found) == 1 and found[0].startswith(expected), found
