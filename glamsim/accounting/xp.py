"""Element-wise operations on plain Python numbers or numpy arrays: Python's arithmetic for one
scenario of plain numbers (no numpy import, and the values numpy gives bit for bit, NaN included),
numpy's otherwise.  The counts and the communication formulas use these where a broadcasting
formula needs more than arithmetic, so a single estimate from the command line never loads numpy."""

from __future__ import annotations

import math

_PLAIN = (float, int, bool)


def _plain(*xs) -> bool:
    return all(type(x) in _PLAIN for x in xs)


def where(cond, a, b):
    """numpy.where."""
    if _plain(cond, a, b):
        return a if cond else b
    import numpy as np

    return np.where(cond, a, b)


def maximum(a, b):
    """numpy.maximum: NaN if either is NaN."""
    if _plain(a, b):
        return math.nan if a != a or b != b else (a if a >= b else b)
    import numpy as np

    return np.maximum(a, b)


def minimum(a, b):
    """numpy.minimum: NaN if either is NaN."""
    if _plain(a, b):
        return math.nan if a != a or b != b else (a if a <= b else b)
    import numpy as np

    return np.minimum(a, b)


def ceil(x):
    """numpy.ceil (a float; NaN and infinities unchanged)."""
    if _plain(x):
        return float(math.ceil(x)) if math.isfinite(x) else float(x)
    import numpy as np

    return np.ceil(x)


def f64(x):
    """As float64: a Python float for a plain number, else numpy.asarray(x, dtype=float64)."""
    if _plain(x):
        return float(x)
    import numpy as np

    return np.asarray(x, dtype=np.float64)
