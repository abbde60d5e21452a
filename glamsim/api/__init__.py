"""The Python front door: any scenario field as a scalar, list or array in; one row per scenario out.

    import glamsim.api as gs
    r = gs.train(model="glam-64b-64e", chip=["tpu-v4", "h100-sxm"], mfu=[0.3, 0.4])   # zipped
    r = gs.train(chip=["tpu-v4", "h100-sxm"], mfu=[0.2, 0.3, 0.4], grid=True)         # every combination
    r.frame            # a DataFrame: the scenario fields, then every output (units in the names)
    r.ledger(0)        # every input of row 0 with its value, unit and source

Keywords are the fields of `glamsim.scenario.TrainingScenario` (train) or `ServingScenario`
(serve), each with its unit in the name; lists and arrays of one length are zipped (broadcast
against scalars), or crossed with `grid=True`.  None (or NaN) in a list means that field's
default in that row.  The rows are evaluated by the same vectorised code as a study
(`glamsim.studies`), so a front-door frame equals the study runner's for the same inputs.
The rows and their `Results` live in `glamsim.api.frames`; the planner views (equal quality,
layouts, serving curves, validation, the published run, regions) in `glamsim.api.views`.
"""

from glamsim.api.frames import Results, evaluate, serve, train
from glamsim.api.views import (
    CURVE_BATCHES,
    TARGET_STEPS,
    beside_published,
    isoflop,
    layouts,
    quality,
    quality_curve,
    regions,
    scaling_laws,
    serving_curves,
    validation,
)
from glamsim.plausible import PlausibilityWarning

__all__ = [
    "CURVE_BATCHES",
    "TARGET_STEPS",
    "PlausibilityWarning",
    "Results",
    "beside_published",
    "evaluate",
    "isoflop",
    "layouts",
    "quality",
    "quality_curve",
    "regions",
    "scaling_laws",
    "serve",
    "serving_curves",
    "train",
    "validation",
]
