"""The base of every configuration section: unknown keys are errors, values never change."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A table of the line configuration: strict (a misspelt key is refused) and frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
