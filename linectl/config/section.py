"""The base of every configuration section: unknown keys are errors, values never change."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A table of the line configuration: strict (a misspelt key is refused) and frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldError(ValueError):
    """A validation problem about one key below the model that raises it: ``key`` is its path
    from there (``fields.sscc.x``), so the configuration error names the full field path."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message
