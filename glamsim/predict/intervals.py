"""How sure a predicted MFU is: an interval from the predictor's errors on published runs.

Every row of `published_runs.yaml` (`predictions:`) gives one residual, log(published /
predicted), at the frozen constants of `efficiency.py`.  A prediction's 80% interval is the
predicted MFU times exp(-q) to exp(+q), q the 80th percentile of |residual| over the rows of
every *other* source (leave-one-source-out: a source never vouches for itself), pooled over
stacks.  Symmetric because the bias of a source not yet seen is unknown: the other sources'
errors count by size, in either direction.  On the 62 rows this covers 77% of the held-out
published figures; the 10th-90th percentiles of the signed residuals covered 60%, per-stack pools
(3-17 rows) less.  With fewer than `MIN_ROWS` rows of the prediction's stack the basis says it is
far from what was validated.  The interval multiplies the predicted MFU (throughput scales with
it; time, energy, carbon and dollars with its inverse).

    mfu_interval("megatron")          -> Interval(low=0.87, high=1.15, rows=62, basis="...")
    mfu_interval("xla", exclude="maxtext-v5e")
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

LEVEL = 0.8  # an 80% interval: the 80th percentile of the errors' size
MIN_ROWS = 5  # fewer rows of a stack than this: use every stack's rows


@dataclass(frozen=True)
class Interval:
    """Factors on the predicted MFU: published / predicted at the low and high percentiles."""

    low: float
    high: float
    rows: int
    basis: str

    def around(self, mfu: float) -> tuple[float, float, float]:
        """(low, nominal, high) MFU; never above 1."""
        return (mfu * self.low, mfu, min(mfu * self.high, 1.0))


@cache
def residuals() -> tuple[tuple[str, str, str, float], ...]:
    """(run id, source family, stack, log(published / predicted)) per validation row, on the MFU
    scale (a predicted step time is inverted), for rows whose layout fits."""
    from glamsim.predict.validation import prediction_rows

    out = []
    for r in prediction_rows():
        ratio = r["published"] / r["predicted"]
        if r["quantity"] == "step_s":
            ratio = 1 / ratio
        out.append((r["id"], r["family"], r["stack"], float(np.log(ratio))))
    return tuple(out)


def mfu_interval(stack: str | None, exclude: str | None = None, level: float = LEVEL) -> Interval:
    """The interval of a prediction for `stack`, from the residuals of every source but `exclude`."""
    rows = [r for r in residuals() if r[1] != exclude]
    values = [r[3] for r in rows]
    same = sum(r[2] == stack for r in rows)
    basis = f"errors on {len(values)} published rows of other sources, {same} of them on the {stack or 'unnamed'} stack"
    if same < MIN_ROWS:
        basis += " (few: far from what was validated)"
    q = float(np.quantile(np.abs(values), level))
    return Interval(low=float(np.exp(-q)), high=float(np.exp(q)), rows=len(values), basis=basis)
