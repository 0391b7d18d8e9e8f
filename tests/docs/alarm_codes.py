"""Every alarm code linectl's line can raise, read from the source: each ``alarms.raise_(code,
message, holds=...)`` call, with ``code`` a literal, an f-string (``device-lost:NAME``), a
module constant, a local variable assigned literals, or a parameter resolved through the calls
of its function in the same module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.docs.markdown import REPO_ROOT

SOURCES = ("linectl/line",)  # the line daemon's alarms (the resolver's alerts are its own)


@dataclass(frozen=True)
class Raised:
    """One place raising ``code``; ``holds`` as written there (None: not a constant)."""

    code: str
    holds: bool | None
    where: str


def raised_alarms() -> list[Raised]:
    found: list[Raised] = []
    for folder in SOURCES:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            found.extend(_in_module(path))
    return found


def _in_module(path: Path) -> Iterator[Raised]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    where = str(path.relative_to(REPO_ROOT))
    functions = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)]
    for function in functions:
        for node in ast.walk(function):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "raise_"
                and node.args
            ):
                continue
            holds = next((k.value for k in node.keywords if k.arg == "holds"), None)
            held = holds.value if isinstance(holds, ast.Constant) else None
            for code in _values(node.args[0], tree, function, functions):
                yield Raised(code, held, f"{where}:{node.lineno}")


def _values(
    expr: ast.expr,
    tree: ast.Module,
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    functions: list[ast.FunctionDef | ast.AsyncFunctionDef],
) -> list[str]:
    """The strings ``expr`` can be (an f-string gives its text with ``NAME`` for each field)."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return [expr.value]
    if isinstance(expr, ast.JoinedStr):
        return ["".join(v.value if isinstance(v, ast.Constant) else "NAME" for v in expr.values)]
    if isinstance(expr, ast.IfExp):
        return _values(expr.body, tree, function, functions) + _values(
            expr.orelse, tree, function, functions
        )
    if isinstance(expr, ast.Name):
        params = [a.arg for a in function.args.args]
        if expr.id in params:  # resolved through every call of the function in the module
            index = params.index(expr.id) - (1 if params and params[0] == "self" else 0)
            out: list[str] = []
            for call in ast.walk(tree):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute | ast.Name)
                    and getattr(call.func, "attr", getattr(call.func, "id", None)) == function.name
                    and len(call.args) > index
                ):
                    outer = _enclosing(tree, call, functions)
                    out += _values(call.args[index], tree, outer, functions)
            return out
        for scope in (function, tree):  # a local variable first, then a module constant
            assigned = [
                node.value
                for node in ast.walk(scope)
                if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == expr.id for t in node.targets)
            ]
            if assigned:
                return [v for a in assigned for v in _values(a, tree, function, functions)]
    raise AssertionError(f"cannot tell which alarm code {ast.unparse(expr)} is")


def _enclosing(
    tree: ast.Module,
    target: ast.AST,
    functions: list[ast.FunctionDef | ast.AsyncFunctionDef],
) -> ast.FunctionDef | ast.AsyncFunctionDef:
    for function in functions:
        if any(node is target for node in ast.walk(function)):
            return function
    raise AssertionError(f"call at line {getattr(target, 'lineno', '?')} is outside a function")
