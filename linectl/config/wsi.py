"""A WSI printer's options checked at start: its command letters and the message fields linectl
fills (the message itself, its layout and symbology, is set up on the printer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drivers.wsi.codec import command_problem
from linectl.config.section import FieldError

MAX_HRI_FIELDS = 6


def _field_name(where: str, value: object) -> None:
    if not isinstance(value, str) or not value or not value.isprintable() or len(value) > 32:
        raise FieldError(
            where, f"a printer field or message name (1-32 printable characters), not {value!r}"
        )
    if not value.isascii():
        raise FieldError(where, f"{value!r}: use ASCII for printer field and message names")


def check_wsi_options(where: str, options: Mapping[str, Any]) -> None:
    """FieldError naming ``devices.NAME.options.KEY...`` for the first bad WSI option."""
    commands = options.get("commands")
    if commands is not None:
        if not isinstance(commands, Mapping):
            raise FieldError(f"{where}.commands", "a table of command letters by name")
        problem = command_problem(commands)
        if problem is not None:
            raise FieldError(f"{where}.commands.{problem[0]}", problem[1])
    for key in ("code_field", "message"):
        if key in options:
            _field_name(f"{where}.{key}", options[key])
    if "hri_fields" in options:
        fields = options["hri_fields"]
        if not isinstance(fields, list) or not 1 <= len(fields) <= MAX_HRI_FIELDS:
            raise FieldError(f"{where}.hri_fields", f"a list of 1 to {MAX_HRI_FIELDS} field names")
        for n, name in enumerate(fields):
            _field_name(f"{where}.hri_fields[{n}]", name)
        if len(set(fields)) != len(fields):
            raise FieldError(f"{where}.hri_fields", "a field is named twice")
