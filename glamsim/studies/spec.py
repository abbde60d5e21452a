"""Study specs: a base scenario, sweep axes over its fields (and model fields), and figures.

A spec is YAML checked by pydantic; every bad key or value is refused with one line naming the
file, the key path and the value.  Axis values are lists, linear ranges
(`{start, stop, num}` or `{start, stop, step}`) or log-spaced ranges (`{start, stop, num, log: true}`).
Axes are combined as a grid (every combination), zipped (equal lengths, element-wise) or one at a
time (each axis varied alone around the base, for sensitivity).  Optional `cases` (explicit
scenarios) are crossed with the axes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import Discriminator, Field, PositiveInt, Tag, ValidationError, field_validator, model_validator

from glamsim.config import NAME_PATTERN, ConfigError, Frozen, ModelConfig, data_dir, read_yaml, validate_as
from glamsim.studies.scenario import Scenario

Scalar = Union[bool, int, float, str]
MODEL_PREFIX = "model."
# ModelConfig fields a sweep may change (names and provenance are not architecture).
MODEL_FIELDS = tuple(f for f in ModelConfig.model_fields if f not in ("name", "description", "published"))


class Span(Frozen):
    """A numeric range: `num` points (linear or log-spaced) or a linear `step`, stop included."""

    start: float
    stop: float
    num: PositiveInt | None = None
    step: float | None = None
    log: bool = False
    integer: bool = Field(False, description="round to whole numbers (drop duplicates)")

    @model_validator(mode="after")
    def _check(self) -> Span:
        if (self.num is None) == (self.step is None):
            raise ValueError("give exactly one of num and step")
        if self.step is not None and (self.log or self.step <= 0 or self.stop < self.start):
            raise ValueError("step needs a linear range with step > 0 and stop >= start")
        if self.log and (self.start <= 0 or self.stop <= 0):
            raise ValueError(f"log range needs start and stop > 0, got {self.start}..{self.stop}")
        return self

    def values(self) -> np.ndarray:
        if self.step is not None:
            n = int(np.floor((self.stop - self.start) / self.step + 1e-9)) + 1
            v = self.start + self.step * np.arange(n)
        elif self.log:
            v = np.geomspace(self.start, self.stop, self.num)
        else:
            v = np.linspace(self.start, self.stop, self.num)
        if self.integer:
            v = np.unique(np.round(v)).astype(np.int64)
        return v


# A mapping is a range, anything else a list of values (so an error names the right one).
AxisValues = Annotated[Union[Annotated[Span, Tag("range")], Annotated[list[Scalar], Tag("list")]],
                      Discriminator(lambda v: "range" if isinstance(v, (dict, Span)) else "list")]


class FigureSpec(Frozen):
    """A figure the study writes (PNG and SVG) from its results table."""

    name: str = Field(pattern=NAME_PATTERN)
    kind: Literal["sweep", "bars", "tornado", "experts_touched"] = "sweep"
    x: str | None = None
    y: str | list[str]
    hue: str | None = None
    baseline: str | None = Field(None, description="hue value drawn as the dense baseline")
    logx: bool | None = None
    logy: bool | None = None
    title: str = ""
    caption: str = Field("", description="a note under the figure: assumptions, what n/a means")
    where: dict[str, Scalar] = Field(default_factory=dict, description="plot only rows with these values")

    def columns(self) -> list[str]:
        ys = [self.y] if isinstance(self.y, str) else list(self.y)
        return [c for c in (self.x, self.hue, *ys, *self.where) if c]


def _check_key(key: str) -> None:
    field = key.removeprefix(MODEL_PREFIX)
    known = MODEL_FIELDS if key.startswith(MODEL_PREFIX) else Scenario.model_fields
    if field not in known:
        raise ValueError(f"unknown key {key!r}; scenario fields: {', '.join(Scenario.model_fields)}; "
                         f"model fields as 'model.<field>'")


class Sweep(Frozen):
    """One block of scenarios: explicit `cases` crossed with `axes` combined as grid, zip or one at a time."""

    cases: list[dict[str, Scalar]] = Field(default_factory=list)
    axes: dict[str, AxisValues] = Field(default_factory=dict)
    combine: Literal["grid", "zip", "one_at_a_time"] = "grid"

    @field_validator("axes")
    @classmethod
    def _axes_known(cls, axes: dict) -> dict:
        for key, vals in axes.items():
            _check_key(key)
            if isinstance(vals, list) and not vals:
                raise ValueError(f"axis {key!r} has no values")
        return axes

    @field_validator("cases")
    @classmethod
    def _cases_known(cls, cases: list) -> list:
        for case in cases:
            for key in case:
                _check_key(key)
        return cases

    @model_validator(mode="after")
    def _check(self) -> Sweep:
        if self.combine == "zip":
            lengths = {k: len(axis_values(v)) for k, v in self.axes.items()}
            if len(set(lengths.values())) > 1:
                raise ValueError(f"combine=zip needs axes of equal length, got {lengths}")
        for i, case in enumerate(self.cases):
            both = sorted(set(case) & set(self.axes))
            if both:
                raise ValueError(f"cases[{i}] and axes both set {both[0]!r}")
        return self


class StudySpec(Frozen):
    """A scripted study: what to evaluate, over which scenarios, and which figures to draw.

    Scenarios come from `cases`/`axes`/`combine` (one block) or from `sweeps` (several blocks,
    concatenated: e.g. published runs as cases, then a grid of models x today's chips).
    """

    name: str = Field(pattern=NAME_PATTERN)
    title: str
    description: str = ""
    reproduces: str = Field("", description="the GLaM result it reproduces or extends, with its source")
    evaluate: list[Literal["training", "inference"]] = Field(default_factory=lambda: ["training"], min_length=1)
    base: Scenario = Field(default_factory=Scenario)
    cases: list[dict[str, Scalar]] = Field(default_factory=list)
    axes: dict[str, AxisValues] = Field(default_factory=dict)
    combine: Literal["grid", "zip", "one_at_a_time"] = "grid"
    sweeps: list[Sweep] = Field(default_factory=list)
    chunk_size: PositiveInt = 25_000
    figures: list[FigureSpec] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _one_block(cls, data):
        if isinstance(data, dict) and data.get("sweeps") and any(k in data for k in ("cases", "axes", "combine")):
            raise ValueError("give sweeps, or cases/axes/combine, not both")
        return data

    @model_validator(mode="after")
    def _check(self) -> StudySpec:
        if not self.sweeps:  # the one-block shorthand, checked as a Sweep
            Sweep(cases=self.cases, axes=self.axes, combine=self.combine)
        oat = any(b.combine == "one_at_a_time" for b in self.blocks())
        for i, fig in enumerate(self.figures):
            if fig.kind == "tornado" and not oat:
                raise ValueError(f"figures[{i}]: a tornado needs a sweep with combine=one_at_a_time")
            if fig.kind != "tornado" and not fig.x:
                raise ValueError(f"figures[{i}].x: a {fig.kind} figure needs x")
        names = [f.name for f in self.figures]
        if len(set(names)) < len(names):
            raise ValueError(f"figure names repeat: {names}")
        return self

    def blocks(self) -> list[Sweep]:
        return list(self.sweeps) or [Sweep.model_construct(cases=self.cases, axes=self.axes, combine=self.combine)]

    def digest(self) -> str:
        """A hash of the spec's content: a resumed run must match the run it continues."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def axis_values(v: AxisValues) -> list | np.ndarray:
    return v.values() if isinstance(v, Span) else list(v)


def _check_values(spec: StudySpec, where: str) -> None:
    """Each case and each axis value must be a valid value of its field (one line otherwise).
    Model fields are checked per architecture when the sweep is expanded (they interact)."""
    base = spec.base.model_dump()
    for b, block in enumerate(spec.blocks()):
        at = f"{where}: sweeps[{b}]." if spec.sweeps else f"{where}: "
        for i, case in enumerate(block.cases):
            plain = {k: v for k, v in case.items() if not k.startswith(MODEL_PREFIX)}
            validate_as(Scenario, {**base, **plain}, f"{at}cases[{i}]")
        for key, vals in block.axes.items():
            if key.startswith(MODEL_PREFIX):
                continue
            vals = axis_values(vals)
            if isinstance(vals, np.ndarray):  # a range is checked at its ends: constraints are intervals
                probe = {"start": vals[0].item(), "stop": vals[-1].item()}
            else:
                probe = dict(enumerate(vals))
            for i, v in probe.items():
                try:
                    Scenario.model_validate({**base, key: v})
                except ValidationError as err:
                    msg = err.errors()[0]["msg"].removeprefix("Value error, ")
                    raise ConfigError(f"{at}axes.{key}[{i}]={v!r}: {msg}") from None


def parse_spec(data, where: str) -> StudySpec:
    """Validate plain data as a StudySpec, with one-line errors naming the key."""
    spec = validate_as(StudySpec, data, where)
    _check_values(spec, where)
    return spec


def builtin_studies() -> dict[str, Path]:
    """The built-in study specs shipped in `studies/`, by name (file stem)."""
    return {p.stem: p for p in sorted(data_dir("studies").glob("*.yaml"))}


def load_spec(name_or_path: str | Path) -> StudySpec:
    """A built-in study by name, or a spec YAML file by path."""
    s = str(name_or_path)
    builtins = builtin_studies()
    if not (s.endswith((".yaml", ".yml")) or Path(s).is_file()):
        if s not in builtins:
            raise ConfigError(f"study={s!r}: no such file or built-in study; built-in: {', '.join(builtins)}")
        s = str(builtins[s])
    return parse_spec(read_yaml(s), s)
