"""The two choices every rewrite makes: how it changes the model, and how much it proves."""

from __future__ import annotations

from typing import Literal

Mode = Literal["clone", "inplace"]
"""clone: build a new model (the input is never changed); inplace: set fields on the input's layers."""

Level = Literal["full", "config", "none"]
"""How much validation runs: `full` (with the .keras save and reload), `config`, or `none`."""
