"""Every key of the line configuration file, with its default, read from the pydantic models.

``devices`` is a table of named device sections, so its keys are written ``devices.NAME.kind``;
a mapping of plain values (``options``, ``collections``, ``simulation``) is one key.
"""

from __future__ import annotations

import enum
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

REQUIRED = "required"


@dataclass(frozen=True)
class Key:
    """One key: its dotted path, its default (or REQUIRED) and the choices it allows, if few."""

    path: str
    default: Any
    choices: tuple[str, ...]


def _members(annotation: Any) -> list[Any]:
    """The alternatives of a union (``X | None``), or the annotation itself."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def _model(annotation: Any) -> type[BaseModel] | None:
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def _choices(annotation: Any) -> tuple[str, ...]:
    """The values a Literal or an enum allows; empty for any other type."""
    out: list[str] = []
    for member in _members(annotation):
        if typing.get_origin(member) is typing.Literal:
            out += [str(v) for v in typing.get_args(member)]
        elif isinstance(member, type) and issubclass(member, enum.Enum):
            out += [str(m.value) for m in member]
    return tuple(out)


def config_keys(model: type[BaseModel], prefix: str = "") -> list[Key]:
    """The keys of ``model`` and of every section below it, in declaration order."""
    keys: list[Key] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        section = _model(field.annotation)
        if section is not None:
            keys += config_keys(section, f"{path}.")
            continue
        if typing.get_origin(field.annotation) is dict:
            value = typing.get_args(field.annotation)[1]
            if (named := _model(value)) is not None:
                keys += config_keys(named, f"{path}.NAME.")
                continue
        if field.is_required():
            default: Any = REQUIRED
        elif field.default_factory is not None:
            default = field.default_factory()
        else:
            default = field.default
        keys.append(Key(path, default, _choices(field.annotation)))
    return keys
