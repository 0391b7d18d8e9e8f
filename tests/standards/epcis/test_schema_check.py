"""The compiled schema checker gives the same verdicts as the reference jsonschema validator."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from standards.epcis.schema_check import SchemaChecker, SchemaCompileError

EXAMPLES = ("epcis/examples", "epcis-hash/examples")
ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2.5,
    "",
    "x",
    "not a uri",
    "urn:epc:id:sgtin:0614141.107346.2017",
    "2005-04-03T20:33:31.116-06:00",
    "ADD",
    "DELETE",
    "OBSERVE",
    [],
    [1],
    {},
    {"id": 5},
    {"type": "ObjectEvent"},
    ["urn:epc:id:sgtin:0614141.107346.2017"],
]


def _documents(standards: Path) -> list[tuple[str, Any]]:
    docs = []
    for folder in EXAMPLES:
        for path in sorted((standards / folder).glob("*.json*")):
            docs.append((path.name, json.loads(path.read_text(encoding="utf-8"))))
    return docs


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


def _mutate(document: Any, rng: random.Random) -> Any:
    """The document with one value replaced, one key dropped or one key added."""
    doc = copy.deepcopy(document)
    path = rng.choice(list(_paths(doc)))
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    choice = rng.random()
    if choice < 0.6:
        parent[path[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
    elif choice < 0.8 and isinstance(parent, dict):
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[rng.choice(["extra", "ex:extra", "action", "epcList", "@context"])] = rng.choice(
            ODD_VALUES
        )
    else:
        parent.append(copy.deepcopy(rng.choice(ODD_VALUES)))
    return doc


@pytest.fixture(scope="module")
def validators(standards: Path) -> tuple[SchemaChecker, Any]:
    schema = json.loads((standards / "epcis/EPCIS-JSON-Schema.json").read_text())
    return SchemaChecker(schema), jsonschema.validators.validator_for(schema)(schema)


def test_published_examples_get_the_reference_verdict(
    validators: tuple[SchemaChecker, Any], standards: Path
) -> None:
    compiled, reference = validators
    documents = _documents(standards)
    assert len(documents) >= 15
    for name, document in documents:
        assert compiled.is_valid(document) == reference.is_valid(document), name


def test_mutated_examples_get_the_reference_verdict(
    validators: tuple[SchemaChecker, Any], standards: Path
) -> None:
    compiled, reference = validators
    rng = random.Random(2026)
    small = [d for _, d in _documents(standards) if len(json.dumps(d)) < 20_000]
    invalid = 0
    for n in range(400):
        document = _mutate(rng.choice(small), rng)
        expected = reference.is_valid(document)
        invalid += not expected
        assert compiled.is_valid(document) == expected, (
            f"mutation {n}: {json.dumps(document)[:300]}"
        )
    assert 50 < invalid < 390  # the mutations exercise both verdicts


def test_an_error_names_the_json_pointer(
    validators: tuple[SchemaChecker, Any], standards: Path
) -> None:
    compiled, _ = validators
    document = json.loads(
        (standards / "epcis/examples/Example_9.6.1-ObjectEvent.jsonld").read_text()
    )
    document["epcisBody"]["eventList"][1]["action"] = "SHRED"
    error = compiled.first_error(document)
    assert error is not None
    assert error[0].startswith("/epcisBody/eventList/1")


def test_an_unknown_keyword_is_refused_when_compiling() -> None:
    with pytest.raises(SchemaCompileError, match="keyword 'dependentSchemas'"):
        SchemaChecker({"type": "object", "dependentSchemas": {}})
