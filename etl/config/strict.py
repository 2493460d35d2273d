"""The base of every mapping-vocabulary model: unknown keys are errors (a typo is not a silently ignored
setting) and a loaded configuration is immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
