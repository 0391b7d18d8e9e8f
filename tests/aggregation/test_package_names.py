"""Every name the aggregation package exports loads from its module on first use."""

from __future__ import annotations

import linectl.aggregation as aggregation


def test_every_exported_name_resolves_lazily() -> None:
    assert set(aggregation.__all__) == set(aggregation._HOME)
    for name in aggregation.__all__:
        assert getattr(aggregation, name) is not None, name
