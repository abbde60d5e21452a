"""One formula text for one scenario and for many: element-wise operations on Python floats or numpy.

A cost formula takes `xp` (`PY` or `NP`) and uses `xp.where`, `xp.isnan` and `xp.clip` for what
would be a branch, with plain arithmetic for the rest.  `evaluate` runs it on Python floats when
every argument is a plain number (a single estimate: IEEE float64 arithmetic, the values numpy
gives bit for bit, without numpy's per-scalar overhead), and on numpy otherwise; where Python would
divide by zero it runs again on numpy float64 scalars, whose inf/NaN semantics are those of arrays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


class _Python:
    """The operations on one scenario of Python floats."""

    @staticmethod
    def where(cond, a, b):
        return a if cond else b

    @staticmethod
    def isnan(x) -> bool:
        return x != x

    @staticmethod
    def clip(x, lo, hi):
        return lo if x < lo else hi if x > hi else x  # NaN stays NaN, as numpy's


class _Numpy:
    """The same operations on numpy arrays and scalars (numpy imported on first use: a single
    estimate of plain numbers never needs it)."""

    @staticmethod
    def where(cond, a, b):
        import numpy as np

        return np.where(cond, a, b)

    @staticmethod
    def isnan(x):
        import numpy as np

        return np.isnan(x)

    @staticmethod
    def clip(x, lo, hi):
        import numpy as np

        return np.clip(x, lo, hi)


PY, NP = _Python(), _Numpy()
_PLAIN = frozenset({float, int, bool, type(None)})
_FLOAT = frozenset({float})


def evaluate(formula, *bundles) -> dict:
    """`formula(xp, *bundles)`'s outputs (`glamsim.cost.bundles`): Python floats for one scenario of
    plain numbers, else numpy arrays broadcast to one shape with every input (one row per scenario)."""
    values = [v for b in bundles for v in b.values()]
    if _PLAIN.issuperset(map(type, values)):
        try:
            out = formula(PY, *bundles)
        except ZeroDivisionError:
            out = None
        if out is None:  # a division by zero: numpy scalars give its inf or NaN, as arrays would
            import numpy as np

            out = formula(NP, *(b.converted(np.float64) for b in bundles))
        return out if _FLOAT.issuperset(map(type, out.values())) else {k: float(v) for k, v in out.items()}
    return broadcast(formula(NP, *bundles), *values)


def broadcast(outputs: dict, *inputs) -> dict[str, np.ndarray]:
    """Every output at the broadcast shape of all outputs and inputs (one row per scenario)."""
    import numpy as np

    shape = np.broadcast_shapes(*(np.shape(v) for v in (*outputs.values(), *inputs) if v is not None))
    return {k: np.broadcast_to(np.asarray(v, dtype=np.float64), shape) for k, v in outputs.items()}
