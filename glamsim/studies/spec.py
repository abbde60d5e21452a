"""Study specs: a base scenario, sweep axes over its fields (and model fields), and figures.

A spec is YAML checked by pydantic; every bad key or value is refused with one line naming the
file, the key path and the value.  Axis values are lists, linear ranges
(`{start, stop, num}` or `{start, stop, step}`) or log-spaced ranges (`{start, stop, num, log: true}`).
Axes are combined as a grid (every combination), zipped (equal lengths, element-wise) or one at a
time (each axis varied alone around the base, for sensitivity).  Optional `cases` (explicit
scenarios) are crossed with the axes.

Sizes are bounded before anything is allocated: a range has at most `MAX_SPAN_POINTS` points, and
`check_size` counts a spec's scenarios from its axes (`count_scenarios`, no expansion) against a
limit (`MAX_SCENARIOS` by default; `glamsim study --max-scenarios`, `run_study(max_scenarios=)`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import (
    Discriminator,
    Field,
    PlainValidator,
    PositiveInt,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from glamsim.config import (
    NAME_PATTERN,
    ConfigError,
    Frozen,
    ModelConfig,
    check_depth,
    check_number,
    data_dir,
    read_yaml,
    show,
)
from glamsim.studies.scenario import COLUMNS, LABEL, check_row

MODEL_PREFIX = "model."
# ModelConfig fields a sweep may change (names and provenance are not architecture).
MODEL_FIELDS = tuple(f for f in ModelConfig.model_fields if f not in ("name", "description", "published"))
MAX_SPAN_POINTS = 1_000_000  # points in one range: far beyond any plot, 8 MB as a column
MAX_SCENARIOS = 5_000_000  # default limit on a study's scenarios (--max-scenarios raises it)
MAX_CHUNKS = 1_000  # chunk files of one run: the partial manifest is rewritten after each


def _scalar(value):
    """A case, axis or `where` value: a finite number of a sane size, a string or true/false."""
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        try:
            check_number("value", value)
        except ConfigError as err:
            raise ValueError(str(err).split(": ", 1)[-1]) from None
        return value
    raise ValueError(f"must be a number, a string or true/false, got {type(value).__name__}")


# Plain values keep their own type (1 stays int, 0.5 float, "tpu-v4" str); anything else is
# refused in one line, where a plain union would report its first member ("a valid boolean").
Scalar = Annotated[Union[bool, int, float, str], PlainValidator(_scalar)]


class Span(Frozen):
    """A numeric range: `num` points (linear or log-spaced) or a linear `step`, stop included."""

    start: float
    stop: float
    num: PositiveInt | None = Field(None, le=MAX_SPAN_POINTS)
    step: float | None = None
    log: bool = False
    integer: bool = Field(False, description="round to whole numbers (drop duplicates)")

    @model_validator(mode="after")
    def _check(self) -> Span:
        if (self.num is None) == (self.step is None):
            raise ValueError("give exactly one of num and step")
        if self.step is not None:
            if self.log or self.step <= 0 or self.stop < self.start:
                raise ValueError("step needs a linear range with step > 0 and stop >= start")
            span = (self.stop - self.start) / self.step
            if not math.isfinite(span) or span + 1 > MAX_SPAN_POINTS:
                raise ValueError(
                    f"step={self.step:g} from {self.start:g} to {self.stop:g} makes "
                    f"{_count_words(span + 1)} points; at most {MAX_SPAN_POINTS:,}"
                )
        if self.log and (self.start <= 0 or self.stop <= 0):
            raise ValueError(f"log range needs start and stop > 0, got {self.start}..{self.stop}")
        return self

    def _step_count(self) -> int:
        return int(np.floor((self.stop - self.start) / self.step + 1e-9)) + 1

    def count(self) -> int:
        """How many values the range has, without building it (an integer range is built: rounding
        drops duplicates; it has at most MAX_SPAN_POINTS points)."""
        if self.integer:
            return len(self.values())
        return self._step_count() if self.step is not None else self.num

    def values(self) -> np.ndarray:
        if self.step is not None:
            v = self.start + self.step * np.arange(self._step_count())
        elif self.log:
            v = np.geomspace(self.start, self.stop, self.num)
        else:
            v = np.linspace(self.start, self.stop, self.num)
        if self.integer:
            v = np.unique(np.round(v)).astype(np.int64)
        return v


# A mapping is a range, anything else a list of values (so an error names the right one).
AxisValues = Annotated[
    Union[Annotated[Span, Tag("range")], Annotated[list[Scalar], Tag("list")]],
    Discriminator(lambda v: "range" if isinstance(v, (dict, Span)) else "list"),
]


class FigureSpec(Frozen):
    """A figure the study writes (PNG and SVG) from its results table."""

    name: str = Field(pattern=NAME_PATTERN)
    kind: Literal["sweep", "bars", "tornado", "experts_touched"] = "sweep"
    x: str | None = None
    y: Annotated[
        Union[Annotated[str, Tag("str")], Annotated[list[str], Field(min_length=1), Tag("list")]],
        Discriminator(lambda v: "list" if isinstance(v, (list, tuple)) else "str"),
    ]
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
    known = MODEL_FIELDS if key.startswith(MODEL_PREFIX) else (LABEL, *COLUMNS)
    if field not in known:
        raise ValueError(f"unknown key {key!r}; scenario fields: {', '.join(COLUMNS)}; model fields as 'model.<field>'")


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
            lengths = {k: axis_count(v) for k, v in self.axes.items()}
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
    evaluate: list[Literal["training", "serving"]] = Field(default_factory=lambda: ["training"], min_length=1)
    base: dict[str, Scalar] = Field(default_factory=dict, description="scenario fields every row shares")
    cases: list[dict[str, Scalar]] = Field(default_factory=list)
    axes: dict[str, AxisValues] = Field(default_factory=dict)
    combine: Literal["grid", "zip", "one_at_a_time"] = "grid"
    sweeps: list[Sweep] = Field(default_factory=list)
    chunk_size: PositiveInt = 25_000
    figures: list[FigureSpec] = Field(default_factory=list, max_length=100)

    @field_validator("evaluate", mode="before")
    @classmethod
    def _serving_word(cls, evaluate):
        """`inference`, the older word for serving, still read."""
        return [("serving" if e == "inference" else e) for e in evaluate] if isinstance(evaluate, list) else evaluate

    @field_validator("base")
    @classmethod
    def _base_valid(cls, base: dict) -> dict:
        try:
            check_row(base)
        except ConfigError as err:
            raise ValueError(str(err)) from None
        return base

    @model_validator(mode="before")
    @classmethod
    def _one_block(cls, data):
        if isinstance(data, dict) and data.get("sweeps") and any(k in data for k in ("cases", "axes", "combine")):
            raise ValueError("give sweeps, or cases/axes/combine, not both")
        base = data.get("base") if isinstance(data, dict) else None
        for key in base if isinstance(base, dict) else ():
            if key not in (LABEL, *COLUMNS):
                raise ValueError(f"unknown key {show('base.' + str(key))}; scenario fields: {', '.join(COLUMNS)}")
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


def _count_words(n: float) -> str:
    if not math.isfinite(n):
        return "too many"
    return f"{n:,.0f}" if n < 1e15 else f"{n:.3g}"


def axis_count(v: AxisValues) -> int:
    """How many values an axis has (a range is not built unless it rounds to integers)."""
    return v.count() if isinstance(v, Span) else len(v)


def block_count(block: Sweep) -> int:
    """Scenarios of one block: its axes combined (grid: product; zip: the common length; one at
    a time: the base row plus each axis's values), times its cases."""
    counts = [axis_count(v) for v in block.axes.values()]
    if not counts:
        n = 1
    elif block.combine == "grid":
        n = math.prod(counts)
    elif block.combine == "zip":
        n = counts[0]
    else:
        n = 1 + sum(counts)
    return n * max(1, len(block.cases))


def count_scenarios(spec: StudySpec) -> int:
    """How many scenarios (rows) the spec expands to, counted from its axes without expanding."""
    return sum(block_count(b) for b in spec.blocks())


def check_size(spec: StudySpec, max_scenarios: int = MAX_SCENARIOS, where: str | None = None) -> int:
    """The spec's scenario count; a one-line ConfigError when it is over `max_scenarios` or would
    make more than MAX_CHUNKS chunk files (checked before anything is expanded or allocated)."""
    where = where or spec.name
    n = count_scenarios(spec)
    if n > max_scenarios:
        raise ConfigError(
            f"{where}: {n:,} scenarios exceed the limit of {max_scenarios:,} (raise it with --max-scenarios)"
        )
    chunks = math.ceil(n / spec.chunk_size)
    if chunks > MAX_CHUNKS:
        raise ConfigError(
            f"{where}: chunk_size={spec.chunk_size:,}: {n:,} scenarios would make {chunks:,} "
            f"chunk files, more than {MAX_CHUNKS:,}; raise chunk_size to at least "
            f"{math.ceil(n / MAX_CHUNKS):,}"
        )
    return n


def _check_values(spec: StudySpec, where: str) -> None:
    """Each case and each axis value must be a valid value of its field (one line otherwise).
    Model fields are checked per architecture when the sweep is expanded (they interact)."""
    base = spec.base
    for b, block in enumerate(spec.blocks()):
        at = f"{where}: sweeps[{b}]." if spec.sweeps else f"{where}: "
        for i, case in enumerate(block.cases):
            plain = {k: v for k, v in case.items() if not k.startswith(MODEL_PREFIX)}
            try:
                check_row({**base, **plain})
            except ConfigError as err:
                raise ConfigError(f"{at}cases[{i}]: {err}") from None
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
                    check_row({**base, key: v})
                except ConfigError as err:
                    msg = str(err)
                    msg = re.sub(rf"^{re.escape(key)}=[^:]*: ", "", msg)  # the value is named once
                    raise ConfigError(f"{at}axes.{key}[{i}]={show(v)}: {msg}") from None


# union members pydantic names in an error's location: `axes.mfu.range.num` reads `axes.mfu.num`
_TAGS = {"axes": ("list", "range"), "y": ("str", "list")}


def _key_path(loc: tuple) -> str:
    out = ""
    for i, part in enumerate(loc):
        holder = loc[i - 2] if i >= 2 and loc[i - 2] == "axes" else (loc[i - 1] if i >= 1 else None)
        if holder in _TAGS and part in _TAGS[holder]:
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _format(err: ValidationError, where: str) -> str:
    """One line: where, key path (`axes.mfu[1]`, `figures[0].y`), value and what is wrong."""
    e = err.errors()[0]
    key = _key_path(e["loc"])
    msg = " ".join(e["msg"].removeprefix("Value error, ").split())
    if e["type"] == "extra_forbidden":
        return f"{where}: unknown key {show(key)}"
    if e["type"] == "missing":
        return f"{where}: missing key {show(key)}"
    if key and re.match(r"^[A-Za-z_][\w.]*=", msg):  # a scenario's range check named the field itself
        return f"{where}: {key}.{msg}"
    if key:
        return f"{where}: {key}={show(e.get('input'))}: {msg}"
    return f"{where}: {msg}"


def parse_spec(data, where: str) -> StudySpec:
    """Validate plain data as a StudySpec, with one-line errors naming the key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of fields, got {type(data).__name__}")
    check_depth(data, where)
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format(err, where)) from None
    _check_values(spec, where)
    return spec


def builtin_studies() -> dict[str, Path]:
    """The built-in study specs shipped in `studies/`, by name (file stem)."""
    return {p.stem: p for p in sorted(data_dir("studies").glob("*.yaml"))}


def load_spec(name_or_path: str | Path) -> StudySpec:
    """A built-in study by name, or a spec YAML file by path."""
    s = str(name_or_path)
    if "\x00" in s:  # read_yaml would raise ValueError, not ConfigError
        raise ConfigError(f"study={show(s)}: not a valid path (it holds a NUL byte)")
    builtins = builtin_studies()
    if not (s.endswith((".yaml", ".yml")) or os.path.lexists(s)):  # a path: read_yaml refuses a device or FIFO
        if s not in builtins:
            raise ConfigError(f"study={s!r}: no such file or built-in study; built-in: {', '.join(builtins)}")
        s = str(builtins[s])
    return parse_spec(read_yaml(s), s)
