"""A study's columns: the fields of `TrainingScenario` and `ServingScenario`, and the check of a row.

A study row is a training scenario and a serving scenario side by side: a field both share is one
column (`chip`, `pue`, ...); the serving inputs whose meaning differs from training's are prefixed
(`serving_chips`, `serving_mfu`, `serving_expert_parallel`).  There is no study scenario class of
its own: a row is checked by building the scenario classes themselves (`check_row`), so their
ranges and cross-field rules hold in a study exactly as in a single estimate, and columns of many
rows are checked with the same rules (`check_columns`).  Study values are plain numbers and names
(a sweep gives ranges of its own), so uncertain triples and profile objects are not taken.
"""

from __future__ import annotations

from glamsim.config import ConfigError
from glamsim.inputs import Requires
from glamsim.scenario import Scenario, ServingScenario, TrainingScenario

SERVING_PREFIXED = ("chips", "mfu", "expert_parallel")
NAMES = ("model", "chip", "datacenter")
LABEL = "label"  # a name for the scenario in tables and figures: the one column that is no field


def column(kind: str, name: str) -> str:
    """The study column of a scenario field (serving's chips, mfu and expert_parallel are prefixed)."""
    return f"serving_{name}" if kind == "serve" and name in SERVING_PREFIXED else name


def _columns() -> dict[str, tuple[type[Scenario], str]]:
    out: dict[str, tuple[type[Scenario], str]] = {}
    for cls in (TrainingScenario, ServingScenario):
        for name in cls.inputs():
            out.setdefault(column(cls.kind, name), (cls, name))
    return out


COLUMNS = _columns()  # study column -> (the scenario class, the field) it comes from, training first
DEFAULTS = {LABEL: ""} | {c: cls.model_fields[n].default for c, (cls, n) in COLUMNS.items()}


def origin(col: str) -> tuple[type[Scenario], str]:
    """The scenario class and field a study column comes from (for labels, units and sources)."""
    return COLUMNS[col]


def fields_of(cls: type[Scenario], row: dict) -> dict:
    """The fields of `cls` a row of study columns sets (None and NaN: the default)."""
    out = {}
    for name in cls.inputs():
        v = row.get(column(cls.kind, name))
        if v is not None and v == v:
            out[name] = v
    return out


def check_row(row: dict) -> None:
    """A row of study columns, valid for both scenario classes: a one-line ConfigError naming the
    column and its value otherwise (`serving_mfu=1.5: ...`)."""
    for col, value in row.items():
        if col == LABEL:
            if not isinstance(value, str):
                raise ConfigError(f"{LABEL}={value!r}: must be text")
            continue
        if col not in COLUMNS:
            raise ConfigError(f"{col}={value!r}: unknown key; scenario fields: {', '.join(COLUMNS)}")
        cls, name = COLUMNS[col]
        if cls.meta(name).get("uncertain") and isinstance(value, str):
            raise ConfigError(f"{col}={value!r}: a single number in a study (a sweep gives ranges of its own)")
    for cls in (TrainingScenario, ServingScenario):
        fields = fields_of(cls, row)
        for rule in cls.exclusive:  # a part of a row (the base, one axis value) may lack what another part gives:
            if isinstance(rule, Requires) and not any(n in fields for n in rule.needs):
                fields.pop(rule.field, None)  # such rules are checked on whole rows (`check_columns`)
        try:
            cls.build(fields)
        except ConfigError as err:
            raise ConfigError(_named_as_column(cls, str(err))) from None


def check_columns(rows, where: str = "") -> None:
    """Both scenario classes' cross-field rules on the columns of many rows (a DataFrame)."""
    for cls in (TrainingScenario, ServingScenario):
        cls.check_columns(rows, lambda name, kind=cls.kind: column(kind, name), where)


def _named_as_column(cls: type[Scenario], message: str) -> str:
    """A serving scenario's error about a prefixed field, named by its study column."""
    for name in SERVING_PREFIXED if cls is ServingScenario else ():
        if message.startswith(f"{name}="):
            return column("serve", name) + message[len(name) :]
    return message
