"""One scenario of a study: every input of a training and of a serving estimate, as sweepable columns.

The fields are derived from `glamsim.scenario.TrainingScenario` and `ServingScenario` (one
declaration of each input, its unit, default, source and range): a field both share is one column
(`chip`, `pue`, ...); the serving inputs whose meaning differs from training's are prefixed
(`serving_chips`, `serving_mfu`, `serving_expert_parallel`).  Study values are plain numbers and
names (a sweep gives ranges of its own), so uncertain triples and profile objects are not taken.
"""

from __future__ import annotations

from pydantic import Field, create_model

from glamsim.scenario import Checked, ServingScenario, TrainingScenario

SERVING_PREFIXED = ("chips", "mfu", "expert_parallel")
NAMES = ("model", "chip", "datacenter")


def _column(name: str, f):
    """A study column's type and field, from the scenario field it comes from."""
    extra = f.json_schema_extra or {}
    if name in NAMES:
        ann = str
    elif extra.get("uncertain"):
        ann = float if f.default is not None else float | None
    else:
        ann = f.annotation
    return ann, Field(f.default, description=f.description, json_schema_extra=extra)


def _fields() -> dict:
    out = {
        "label": (
            str,
            Field(
                "",
                description="a name for the scenario in tables and figures",
                json_schema_extra={"unit": "", "source": "", "bounds": {}},
            ),
        )
    }
    for cls in (TrainingScenario, ServingScenario):
        for name in cls.inputs():
            key = f"serving_{name}" if cls is ServingScenario and name in SERVING_PREFIXED else name
            if key not in out:
                out[key] = _column(name, cls.model_fields[name])
    return out


Scenario = create_model("Scenario", __base__=Checked, __doc__=__doc__, **_fields())


def origin(column: str) -> tuple[type, str]:
    """The scenario class and field a study column comes from (for labels, units and sources)."""
    if column.startswith("serving_") and column.removeprefix("serving_") in SERVING_PREFIXED:
        return ServingScenario, column.removeprefix("serving_")
    return (TrainingScenario if column in TrainingScenario.model_fields else ServingScenario), column
