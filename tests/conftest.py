"""Shared fixtures: where the publishers' standards files live, and a leak check for tasks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def standards_root() -> Path:
    """The publishers' data files: ../shared/standards beside the clone (CI has it there)."""
    override = os.environ.get("LINECTL_STANDARDS")
    root = Path(override) if override else REPO_ROOT.parent / "shared" / "standards"
    if not root.is_dir():
        raise RuntimeError(
            f"standards directory not found at {root}; set LINECTL_STANDARDS to its path"
        )
    return root


@pytest.fixture(scope="session")
def standards() -> Path:
    return standards_root()
