"""Uncertain inputs (low / nominal / high), output ranges and the tornado sensitivity table.

An uncertain input is a number or a (low, nominal, high) triple.  Every output of the cost
model is monotone in each such input (MFU, power, PUE, carbon intensity, price), so the
extremes over all 2^n low/high corners are the output range; the corners and the tornado's
one-at-a-time swings are each evaluated in one vectorised call of the same cost function.
"""

from __future__ import annotations

import itertools
from typing import Callable, Mapping

import numpy as np

from glamsim.config import ConfigError, check_number

Uncertain = float | tuple[float, float, float]


def triple(value: Uncertain) -> tuple[float, float, float]:
    """(low, nominal, high) of an input; a plain number is its own low and high."""
    if isinstance(value, (tuple, list)):
        return tuple(float(v) for v in value)  # type: ignore[return-value]
    return (float(value),) * 3


def nominal(value: Uncertain) -> float:
    return triple(value)[1]


def is_uncertain(value) -> bool:
    return isinstance(value, (tuple, list)) and len(set(value)) > 1


def parse_uncertain(text: str, name: str) -> Uncertain:
    """'0.4' -> 0.4; '0.3,0.4,0.5' -> (0.3, 0.4, 0.5) with low <= nominal <= high."""
    try:
        parts = [float(p) for p in str(text).split(",")]
    except ValueError:
        raise ConfigError(f"{name}={text!r}: expected a number or low,nominal,high") from None
    for p in parts:
        check_number(name, p)
    if len(parts) == 1:
        return parts[0]
    if len(parts) != 3 or not parts[0] <= parts[1] <= parts[2]:
        raise ConfigError(f"{name}={text!r}: expected low,nominal,high with low <= nominal <= high")
    return tuple(parts)  # type: ignore[return-value]


def require(name: str, value: Uncertain, *, gt: float | None = None, ge: float | None = None,
            le: float | None = None) -> None:
    """One-line ConfigError unless every one of low/nominal/high is finite and in the allowed interval."""
    for v in triple(value):
        check_number(name, v)
        if (gt is not None and not v > gt) or (ge is not None and not v >= ge) or (le is not None and not v <= le):
            allowed = " and ".join(s for s in (gt is not None and f"> {gt:g}", ge is not None and f">= {ge:g}",
                                               le is not None and f"<= {le:g}") if s)
            raise ConfigError(f"{name}={value!r}: must be {allowed}")


def output_ranges(fn: Callable[..., dict], inputs: Mapping[str, Uncertain],
                  outputs: list[str]) -> dict[str, tuple[float, float]]:
    """(min, max) of each output over every low/high corner of the uncertain inputs."""
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
