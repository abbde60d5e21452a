"""Uncertain inputs (low / nominal / high), output ranges and the tornado sensitivity table.

An uncertain input is a number or a (low, nominal, high) triple.  Every output of the cost
model is monotone in each such input (MFU, power, PUE, carbon intensity, price), so the
extremes over all 2^n low/high corners are the output range; the corners and the tornado's
one-at-a-time swings are each evaluated in one vectorised call of the same cost function.
"""

from __future__ import annotations

import itertools
from typing import Callable, Mapping

from glamsim.uncertain import Uncertain, is_uncertain, nominal, triple  # noqa: F401  (used by the cost model)


def output_ranges(
    fn: Callable[..., dict], inputs: Mapping[str, Uncertain], outputs: list[str]
) -> dict[str, tuple[float, float]]:
    """(min, max) of each output over every low/high corner of the uncertain inputs."""
    import numpy as np

    names = [k for k, v in inputs.items() if is_uncertain(v)]
    corners = np.array(list(itertools.product((0, 2), repeat=len(names))), dtype=int).reshape(-1, len(names))
    kw = {k: nominal(v) for k, v in inputs.items()}
    for j, k in enumerate(names):
        kw[k] = np.asarray(triple(inputs[k]))[corners[:, j]]
    res = fn(**kw)
    return {o: (float(np.min(res[o])), float(np.max(res[o]))) for o in outputs}  # NaN if unknown


def tornado(fn: Callable[..., dict], inputs: Mapping[str, Uncertain], outputs: list[str]) -> list[dict]:
    """One row per uncertain input: each output at its low and high (others nominal) and the swing,
    sorted by the swing of the first output (largest first); `rank_<output>` ranks every output."""
    import numpy as np

    names = [k for k, v in inputs.items() if is_uncertain(v)]
    if not names:
        return []
    kw = {k: np.full(2 * len(names), nominal(v)) for k, v in inputs.items()}
    for j, k in enumerate(names):
        lo, _, hi = triple(inputs[k])
        kw[k][2 * j], kw[k][2 * j + 1] = lo, hi
    res = fn(**kw)
    rows = []
    for j, k in enumerate(names):
        lo, nom, hi = triple(inputs[k])
        row = {"input": k, "low": lo, "nominal": nom, "high": hi}
        for o in outputs:
            a, b = float(res[o][2 * j]), float(res[o][2 * j + 1])
            row[f"{o}_at_low"], row[f"{o}_at_high"], row[f"{o}_swing"] = a, b, abs(b - a)
        rows.append(row)
    for o in outputs:
        for rank, row in enumerate(sorted(rows, key=lambda r: -np.nan_to_num(r[f"{o}_swing"])), 1):
            row[f"rank_{o}"] = rank
    return sorted(rows, key=lambda r: r[f"rank_{outputs[0]}"])
