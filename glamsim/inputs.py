"""Declaring inputs: a field with its unit, help, source and range (`inp`), the range checks of a
model of such fields (`Checked`), and cross-field rules declared as data (`Exclusive`).

The scenario classes (`glamsim.scenario`) are built from these; so are the faces, through the
metadata `inp` stores on each field.
"""

from __future__ import annotations

import sys
from functools import cache
from typing import Any, NamedTuple

from pydantic import Field, field_validator, model_validator

from glamsim.config import MAX_FLOAT, MAX_INT, Frozen
from glamsim.readers import check_sane
from glamsim.uncertain import parse_uncertain, require

_FLOAT_MIN = sys.float_info.min  # the smallest normal float


def inp(
    default: Any = None,
    *,
    unit: str = "",
    help: str,
    source: str = "",
    uncertain: bool = False,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    face: bool = True,
) -> Any:
    """A scenario field: default, unit in words, help, the default's source, allowed range.

    `uncertain` fields take a number or a (low, nominal, high) triple ("0.2,0.3,0.4" as text);
    the range applies to each of the three.  `face=False` keeps a field out of the faces."""
    bounds = {k: v for k, v in (("gt", gt), ("ge", ge), ("le", le)) if v is not None}
    # an empty dict or list default: a fresh one per scenario from a factory (pydantic would deep-copy it)
    first = (
        {"default_factory": type(default)} if type(default) in (dict, list) and not default else {"default": default}
    )
    return Field(
        **first,
        description=help,
        json_schema_extra={"unit": unit, "source": source, "uncertain": uncertain, "bounds": bounds, "face": face},
    )


@cache
def default_sources(cls) -> dict[str, str]:
    """Each field's default source, read once per scenario class."""
    return {n: (f.json_schema_extra or {}).get("source", "") for n, f in cls.model_fields.items()}


@cache
def _checks(cls) -> tuple[frozenset[str], dict[str, tuple]]:
    """(the uncertain fields, {field: (gt, ge, le, bounds)} of the bounded ones) of a class, read once."""
    uncertain, bounded = set(), {}
    for n, f in cls.model_fields.items():
        extra = f.json_schema_extra or {}
        if extra.get("uncertain"):
            uncertain.add(n)
        if b := extra.get("bounds"):
            bounded[n] = (b.get("gt"), b.get("ge"), b.get("le"), b)
    return frozenset(uncertain), bounded


def _plainly_within(value, gt, ge, le) -> bool:
    """True when `require` would accept `value`, a plain number, in these bounds (checked here without
    its calls); False otherwise, and `require` decides (and words the error)."""
    t = type(value)
    if t is not float and (t is not int or not -MAX_INT <= value <= MAX_INT):
        return False
    v = float(value)  # what `require` checks, as `triple` gives it
    if not -MAX_FLOAT <= v <= MAX_FLOAT or (v != 0 and -_FLOAT_MIN < v < _FLOAT_MIN):  # NaN, inf, huge, subnormal
        return False
    return (gt is None or v > gt) and (ge is None or v >= ge) and (le is None or v <= le)


class Checked(Frozen):
    """Fields declared with `inp`: triples parsed from text, every value checked against its range
    (after Frozen's sanity check, in the same validator call: a single estimate validates a scenario
    on every call)."""

    @field_validator("*", mode="before")
    @classmethod
    def _parse_triples(cls, value, info):
        """'0.2,0.3,0.4' -> (0.2, 0.3, 0.4) for uncertain fields (as typed on a command line)."""
        if isinstance(value, str):
            if info.field_name in _checks(cls)[0]:
                return parse_uncertain(value, info.field_name)
            if "\x00" in value:  # names and paths: a NUL byte would fail in the OS
                raise ValueError("must not hold a NUL byte")
        return value

    @model_validator(mode="after")
    def _numbers_sane(self):
        """Frozen's sanity check, then every given value against its range."""
        check_sane(self)
        bounded, values = _checks(type(self))[1], self.__dict__
        for name in self.model_fields_set:  # defaults lie in their bounds by construction
            b = bounded.get(name)
            if b is not None:
                value = values[name]
                if value is not None and not _plainly_within(value, b[0], b[1], b[2]):
                    require(name, value, **b[3])
        return self


class Exclusive(NamedTuple):
    """Inputs that answer one question: `field` together with any of `others` is refused.

    A field counts as set when its value is not None and differs from its default, so the rule
    reads the same on one scenario (`Scenario._exclusive`) and on study columns
    (`Scenario.check_columns`)."""

    field: str
    others: tuple[str, ...]
    why: str = ""

    def check(self, values: dict, defaults: dict) -> None:
        """Raise the refusal when `field` and one of `others` are both set in `values` (a model's
        `__dict__`): not None and not their default."""
        v = values[self.field]
        if v is None or v == defaults[self.field]:
            return
        for other in self.others:
            w = values[other]
            if w is not None and w != defaults[other]:
                raise ValueError(self.refusal(v, other))

    def check_columns(self, columns: dict, defaults: dict):
        """The same rule on columns of many scenarios (None or NaN: unset): (row, value, other
        field, rows) of the first row that breaks it, or None."""
        import numpy as np

        def is_set(name: str) -> np.ndarray:
            col = np.asarray(columns[name])
            if col.dtype.kind == "f":
                given = ~np.isnan(col)
            else:
                given = np.fromiter((v is not None and v == v for v in col), bool, len(col))  # NaN != NaN
            return given & (col != defaults[name]) if defaults[name] is not None else given

        mine = is_set(self.field)
        if mine.any():
            for other in self.others:
                both = mine & is_set(other)
                if both.any():
                    i = int(np.argmax(both))
                    return i, np.asarray(columns[self.field], dtype=object)[i], other, len(both)
        return None

    def refusal(self, value, other: str) -> str:
        why = f" ({self.why})" if self.why else ""
        return f"{self.field}={value!r}: give {self.field} or {other}, not both{why}"


class Requires(NamedTuple):
    """An input that means nothing alone: `field` set without any of `needs` is refused (set: not
    None and not its default, as for `Exclusive`, with the same interface so both kinds of rule sit
    in a scenario's `exclusive` tuple)."""

    field: str
    needs: tuple[str, str]
    why: str = ""

    @property
    def others(self) -> tuple[str, ...]:
        return self.needs

    def check(self, values: dict, defaults: dict) -> None:
        v = values[self.field]
        if v is None or v == defaults[self.field]:
            return
        if all(values[n] is None or values[n] == defaults[n] for n in self.needs):
            raise ValueError(self.refusal(v, ""))

    def check_columns(self, columns: dict, defaults: dict):
        """(row, value, None, rows) of the first row that sets `field` without any of `needs`, or None."""
        import numpy as np

        def is_set(name: str) -> np.ndarray:
            col = np.asarray(columns[name])
            if col.dtype.kind == "f":
                given = ~np.isnan(col)
            else:
                given = np.fromiter((v is not None and v == v for v in col), bool, len(col))
            return given & (col != defaults[name]) if defaults[name] is not None else given

        alone = is_set(self.field)
        for n in self.needs:
            alone &= ~is_set(n)
        if alone.any():
            i = int(np.argmax(alone))
            return i, np.asarray(columns[self.field], dtype=object)[i], None, len(alone)
        return None

    def refusal(self, value, other: str | None = None) -> str:
        why = f" ({self.why})" if self.why else ""
        return f"{self.field}={value!r}: give {self.needs[0]} or {self.needs[1]} with it{why}"
