"""A compiled JSON Schema (draft-07 subset) checker, fast enough to validate every captured event.

Pure (the caller reads the schema file): the central simulator and the resolver both use it.

The generic ``jsonschema`` validator spends about 2 ms per EPCIS event; a repository simulator that
receives tens of thousands of events in a test cannot afford that. This module turns the schema
into nested closures once, so each check is a few plain Python calls. It implements exactly the
keywords the EPCIS 2.0 JSON schema uses (plus a few neighbours) with draft-07 semantics, as the
``jsonschema`` package applies them by default: ``$ref`` hides its siblings, ``format`` is an
annotation only. An unknown keyword is refused when the schema is compiled, never ignored.
The tests check the verdicts against ``jsonschema`` on the published examples and on mutations.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

#: A compiled check: ``None`` when the instance is valid, else ``(path, message)``.
Check = Callable[[Any], tuple[str, str] | None]

_ANNOTATIONS = frozenset(
    {
        "$id",
        "$schema",
        "$comment",
        "title",
        "description",
        "default",
        "examples",
        "definitions",
        "format",
        "readOnly",
        "writeOnly",
        "contentMediaType",
        "contentEncoding",
    }
)


class SchemaCompileError(ValueError):
    """The schema uses something this checker does not implement; names the JSON pointer."""


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, int | float)
    raise SchemaCompileError(f"unknown type {name!r}")


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON means it: booleans are not numbers, 1 equals 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return bool(a == b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _sub(path: str, error: tuple[str, str] | None) -> tuple[str, str] | None:
    return None if error is None else (path + error[0], error[1])


class SchemaChecker:
    """Checks instances against one JSON schema document, compiled at construction."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._root = schema
        self._refs: dict[str, Check] = {}
        self._check = self._compile(schema, "#")

    def first_error(self, instance: Any) -> tuple[str, str] | None:
        """``(JSON pointer, message)`` of the first violation found, or ``None`` when valid."""
        error = self._check(instance)
        return None if error is None else (error[0] or "/", error[1])

    def is_valid(self, instance: Any) -> bool:
        return self._check(instance) is None

    # -- compilation ----------------------------------------------------------------------

    def _resolve(self, ref: str, where: str) -> Check:
        if not ref.startswith("#"):
            raise SchemaCompileError(f"{where}: only local $ref is supported, got {ref!r}")
        if ref in self._refs:
            return self._refs[ref]
        cell: list[Check] = []
        self._refs[ref] = lambda value: cell[0](value)  # recursion-safe forward reference
        node: Any = self._root
        for part in [p for p in ref[1:].split("/") if p]:
            key = unquote(part).replace("~1", "/").replace("~0", "~")
            try:
                node = node[int(key)] if isinstance(node, list) else node[key]
            except (KeyError, IndexError, ValueError):
                raise SchemaCompileError(f"{where}: $ref {ref!r} points nowhere") from None
        cell.append(self._compile(node, ref))
        return self._refs[ref]

    def _compile(self, schema: Any, where: str) -> Check:
        if schema is True or schema == {}:
            return lambda value: None
        if schema is False:
            return lambda value: ("", "no value is allowed here")
        if not isinstance(schema, Mapping):
            raise SchemaCompileError(f"{where}: a schema must be an object or a boolean")
        if "$ref" in schema:  # draft-07: siblings of $ref are ignored
            return self._resolve(str(schema["$ref"]), where)
        checks: list[Check] = []
        for key, arg in schema.items():
            if key in _ANNOTATIONS:
                continue
            build = getattr(self, "_kw_" + key.replace("$", "_"), None)
            if build is None:
                raise SchemaCompileError(f"{where}: keyword {key!r} is not implemented")
            check = build(arg, schema, f"{where}/{key}")
            if check is not None:
                checks.append(check)
        if not checks:
            return lambda value: None
        if len(checks) == 1:
            return checks[0]

        def all_checks(value: Any) -> tuple[str, str] | None:
            for check in checks:
                error = check(value)
                if error is not None:
                    return error
            return None

        return all_checks

    # -- keywords (each returns a Check, or None when another keyword handles it) ---------

    def _kw_type(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check:
        names = [arg] if isinstance(arg, str) else list(arg)
        for name in names:
            _is_type(None, name)  # refuses unknown type names at compile time

        def check(value: Any) -> tuple[str, str] | None:
            if any(_is_type(value, name) for name in names):
                return None
            return ("", f"{_short(value)} is not of type {' or '.join(names)}")

        return check

    def _kw_enum(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check:
        options = list(arg)
        fast = {o for o in options if isinstance(o, str)}

        def check(value: Any) -> tuple[str, str] | None:
            if isinstance(value, str) and value in fast:
                return None
            if any(json_equal(value, o) for o in options):
                return None
            return ("", f"{_short(value)} is not one of {_short(options)}")

        return check

    def _kw_const(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check:
        return lambda value: None if json_equal(value, arg) else ("", f"must be {_short(arg)}")

    def _kw_pattern(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check:
        regex = re.compile(arg)

        def check(value: Any) -> tuple[str, str] | None:
            if not isinstance(value, str) or regex.search(value):
                return None
            return ("", f"{_short(value)} does not match {arg!r}")

        return check

    def _kw_minLength(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check:
        def check(value: Any) -> tuple[str, str] | None:
            if isinstance(value, str) and len(value) < arg:
                return ("", f"{_short(value)} is shorter than {arg} characters")
            return None

        return check

    def _kw_maxLength(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check:
        def check(value: Any) -> tuple[str, str] | None:
            if isinstance(value, str) and len(value) > arg:
                return ("", f"{_short(value)} is longer than {arg} characters")
            return None

        return check

    def _kw_minimum(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check:
        def check(value: Any) -> tuple[str, str] | None:
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if number and not math.isnan(value) and value < arg:
                return ("", f"{value} is less than the minimum {arg}")
            return None

        return check

    def _kw_minItems(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check:
        def check(value: Any) -> tuple[str, str] | None:
            if isinstance(value, list) and len(value) < arg:
                return ("", f"has {len(value)} items, fewer than {arg}")
            return None

        return check

    def _kw_maxItems(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check:
        def check(value: Any) -> tuple[str, str] | None:
            if isinstance(value, list) and len(value) > arg:
                return ("", f"has {len(value)} items, more than {arg}")
            return None

        return check

    def _kw_uniqueItems(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check | None:
        if not arg:
            return None

        def check(value: Any) -> tuple[str, str] | None:
            if not isinstance(value, list):
                return None
            for i, item in enumerate(value):
                for j in range(i):
                    if json_equal(item, value[j]):
                        return (f"/{i}", f"{_short(item)} repeats item {j}")
            return None

        return check

    def _kw_required(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check:
        names = list(arg)

        def check(value: Any) -> tuple[str, str] | None:
            if isinstance(value, dict):
                for name in names:
                    if name not in value:
                        return ("", f"{name!r} is a required property")
            return None

        return check

    def _kw_properties(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check:
        props = {name: self._compile(sub, f"{where}/{name}") for name, sub in arg.items()}

        def check(value: Any) -> tuple[str, str] | None:
            if not isinstance(value, dict):
                return None
            for name, sub in props.items():
                if name in value:
                    error = sub(value[name])
                    if error is not None:
                        return ("/" + name + error[0], error[1])
            return None

        return check

    def _kw_patternProperties(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check:
        pats = [(re.compile(p), self._compile(sub, f"{where}/{p}")) for p, sub in arg.items()]

        def check(value: Any) -> tuple[str, str] | None:
            if not isinstance(value, dict):
                return None
            for name, item in value.items():
                for regex, sub in pats:
                    if regex.search(name):
                        error = _sub("/" + name, sub(item))
                        if error is not None:
                            return error
            return None

        return check

    def _kw_additionalProperties(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check:
        known = set(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        sub = self._compile(arg, where)

        def check(value: Any) -> tuple[str, str] | None:
            if not isinstance(value, dict):
                return None
            for name, item in value.items():
                if name in known or any(p.search(name) for p in patterns):
                    continue
                if arg is False:
                    return ("", f"additional property {name!r} is not allowed")
                error = _sub("/" + name, sub(item))
                if error is not None:
                    return error
            return None

        return check

    def _kw_propertyNames(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check:
        sub = self._compile(arg, where)

        def check(value: Any) -> tuple[str, str] | None:
            if not isinstance(value, dict):
                return None
            for name in value:
                error = sub(name)
                if error is not None:
                    return ("", f"property name {name!r} is not allowed: {error[1]}")
            return None

        return check

    def _kw_items(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check:
        if isinstance(arg, list):
            subs = [self._compile(s, f"{where}/{i}") for i, s in enumerate(arg)]
            rest = self._compile(schema.get("additionalItems", True), where)

            def check_tuple(value: Any) -> tuple[str, str] | None:
                if not isinstance(value, list):
                    return None
                for i, item in enumerate(value):
                    error = _sub(f"/{i}", (subs[i] if i < len(subs) else rest)(item))
                    if error is not None:
                        return error
                return None

            return check_tuple
        sub = self._compile(arg, where)

        def check(value: Any) -> tuple[str, str] | None:
            if not isinstance(value, list):
                return None
            for i, item in enumerate(value):
                error = sub(item)
                if error is not None:
                    return (f"/{i}" + error[0], error[1])
            return None

        return check

    def _kw_additionalItems(self, arg: Any, schema: Mapping[str, Any], where: str) -> None:
        return None  # applied by "items" (it has no effect without a list of items)

    def _kw_allOf(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check:
        subs = [self._compile(s, f"{where}/{i}") for i, s in enumerate(arg)]

        def check(value: Any) -> tuple[str, str] | None:
            for sub in subs:
                error = sub(value)
                if error is not None:
                    return error
            return None

        return check

    def _kw_anyOf(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check:
        subs = [self._compile(s, f"{where}/{i}") for i, s in enumerate(arg)]

        def check(value: Any) -> tuple[str, str] | None:
            first = None
            for sub in subs:
                error = sub(value)
                if error is None:
                    return None
                first = first or error
            assert first is not None
            return (first[0], f"matches none of the alternatives (first: {first[1]})")

        return check

    def _kw_oneOf(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check:
        subs = [self._compile(s, f"{where}/{i}") for i, s in enumerate(arg)]

        def check(value: Any) -> tuple[str, str] | None:
            matches = sum(1 for sub in subs if sub(value) is None)
            if matches == 1:
                return None
            return ("", f"matches {matches} of the alternatives, not exactly one")

        return check

    def _kw_not(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check:
        sub = self._compile(arg, where)
        return lambda value: ("", "matches a schema it must not") if sub(value) is None else None

    def _kw_if(self, arg: Any, schema: Mapping[str, Any], where: str) -> Check:
        condition = self._compile(arg, where)
        then = self._compile(schema.get("then", True), where.rsplit("/", 1)[0] + "/then")
        other = self._compile(schema.get("else", True), where.rsplit("/", 1)[0] + "/else")
        return lambda value: then(value) if condition(value) is None else other(value)

    def _kw_then(self, arg: Any, schema: Mapping[str, Any], where: str) -> None:
        return None  # applied by "if"

    def _kw_else(self, arg: Any, schema: Mapping[str, Any], where: str) -> None:
        return None  # applied by "if"
