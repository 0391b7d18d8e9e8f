"""docs/labels.md against the shipped layouts: the table of layouts, and every configuration
example on the page is a valid configuration that does what it says."""

from __future__ import annotations

import re
import tomllib

from drivers.zpl.layout import LAYOUT_NAMES, shipped_layout_data, shipped_layouts
from linectl.config import parse_config
from tests.docs.markdown import DOCS, code_spans, plain, tables_with_header
from tests.labels.lines import BASE_CONFIG

PAGE = DOCS / "labels.md"


def test_the_shipped_layouts_table_gives_each_layouts_size_and_fields() -> None:
    (table,) = tables_with_header(PAGE, "layout", "used for", "size (dots at 8 dots/mm)", "fields")
    on_page = {}
    for row in table.rows:
        name, _, size, fields = row.cells
        width, height = re.findall(r"\d+", plain(size))[:2]
        on_page[plain(name)] = (int(width), int(height), code_spans(fields))
    in_code = {
        name: (layout.width, layout.height, [f.name for f in layout.fields])
        for name, layout in shipped_layouts().by_name().items()
    }
    assert on_page == in_code
    assert tuple(on_page) == LAYOUT_NAMES


def _toml_blocks() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)


def test_the_layout_file_shown_is_the_shipped_pallet_layout() -> None:
    shown = tomllib.loads(_toml_blocks()[0])
    shipped = shipped_layout_data("pallet")
    assert {k: v for k, v in shipped.items() if k != "description"} == shown


def test_each_change_on_the_page_is_a_valid_configuration_that_makes_that_change() -> None:
    changes = [tomllib.loads(block) for block in _toml_blocks()[1:]]
    assert len(changes) == 3  # the pallet change, the added case field, the WSI printer
    for change in changes:
        config = parse_config(BASE_CONFIG | change)
        if "labels" in change:
            layouts = config.label_layouts().by_name()
            for name, table in change["labels"].items():
                layout = layouts[name]
                for key in ("width", "height"):
                    if key in table:
                        assert getattr(layout, key) == table[key]
                by_name = {f.name: f for f in layout.fields}
                for field_name, keys in table.get("fields", {}).items():
                    for key, value in keys.items():
                        got = getattr(by_name[field_name], key)
                        assert (list(got) if key == "lines" else got) == value
        else:
            options = config.devices["printer"].options
            assert options["commands"]["print_on"] == "P1" and options["code_field"] == "CODE"
