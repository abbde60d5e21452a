"""Scaling laws as data: the pydantic schema and registry of `data/scaling_laws/*.yaml`.

Each law is a profile: its published coefficients (each with the table or equation it stands in, and a
standard error where the paper gives one), the ranges of model size, tokens, experts and granularity it
was fitted on, and a note on how each figure was checked.  The arithmetic lives in
`glamsim.cost.quality.laws`; this module only reads and validates (one line per bad file: file, field,
value).  A user's own law is a YAML file of the same shape, given by path.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveFloat, model_validator

from glamsim.config import NAME_PATTERN, ConfigError, Frozen, Published, data_dir, file_identity, read_yaml, validate_as

LawKind = Literal["dense", "routed", "granular"]
REQUIRED = {  # the coefficients each kind of law must carry
    "dense": ("E", "A", "B", "alpha", "beta"),
    "routed": ("a", "b", "c", "d", "E_start", "E_max"),
    "granular": ("a", "alpha", "b", "beta", "g", "gamma", "c", "dense_a", "dense_alpha", "dense_b", "dense_beta"),
}


class Coefficient(Published):
    """A published coefficient: value, where it stands in the source, and its standard error if published."""

    se: float | None = Field(None, ge=0)


class Range(Frozen):
    """The span a law was fitted on (inclusive), and where that span is stated."""

    min: float = Field(gt=0)
    max: float = Field(gt=0)
    source: str

    @model_validator(mode="after")
    def _order(self) -> Range:
        if self.max < self.min:
            raise ValueError(f"max={self.max}: below min={self.min}")
        return self


class PublishedPoint(Frozen):
    """A figure the paper prints that the law must reproduce (tests and `glamsim reproduce` check it)."""

    params: PositiveFloat
    experts: PositiveFloat = 1.0
    effective_params: PositiveFloat
    source: str


class ScalingLaw(Frozen):
    """One published scaling law (see `data/scaling_laws/` for the four shipped)."""

    name: str = Field(pattern=NAME_PATTERN)
    kind: LawKind
    description: str
    paper: str
    loss: str
    params_convention: str
    flops_per_param_token: PositiveFloat = 6.0
    expansion_rate: PositiveFloat | None = None  # granular laws: the fixed total/active FFN ratio
    coefficients: dict[str, Coefficient]
    valid: dict[Literal["params", "tokens", "experts", "granularity"], Range]
    published_points: list[PublishedPoint] = []
    verified: str

    @model_validator(mode="after")
    def _complete(self) -> ScalingLaw:
        missing = [k for k in REQUIRED[self.kind] if k not in self.coefficients]
        if missing:
            raise ValueError(f"coefficients: a {self.kind} law needs {', '.join(missing)}")
        if self.kind == "granular" and self.expansion_rate is None:
            raise ValueError("expansion_rate=None: a granular law needs the expansion rate it was fitted at")
        if self.kind == "dense":
            for k in ("A", "B", "alpha", "beta"):
                if self.coefficients[k].value <= 0:
                    raise ValueError(f"coefficients.{k}.value={self.coefficients[k].value}: must be > 0")
        return self

    def __getitem__(self, key: str) -> float:
        return self.coefficients[key].value

    def source(self, key: str) -> str:
        return self.coefficients[key].source


@cache
def scaling_laws() -> dict[str, ScalingLaw]:
    """Every shipped law, keyed by name."""
    out = {}
    for path in sorted(data_dir("scaling_laws").glob("*.yaml")):
        law = validate_as(ScalingLaw, read_yaml(path), path.name)
        out[law.name] = law
    return out


def load_law(
    name_or_path: str | Path, kinds: tuple[str, ...] = ("dense", "routed", "granular"), field: str = "law"
) -> ScalingLaw:
    """A shipped law by name, or a law YAML file by path; `kinds` names the kinds the caller can use and
    `field` the input its errors name (`dense_law='x': unknown scaling law; known: ...`)."""
    s = str(name_or_path)
    if file_identity(s) is not None or s.endswith((".yaml", ".yml")):
        law = validate_as(ScalingLaw, read_yaml(s), s)
    else:
        laws = scaling_laws()
        if s not in laws:
            known = ", ".join(n for n, v in laws.items() if v.kind in kinds)
            raise ConfigError(f"{field}={s!r}: unknown scaling law; known: {known}")
        law = laws[s]
    if law.kind not in kinds:
        raise ConfigError(f"{field}={s!r}: a {law.kind} law; this needs a {' or '.join(kinds)} law")
    return law
