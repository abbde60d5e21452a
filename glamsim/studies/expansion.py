"""A spec's scenarios, expanded on demand: any range of rows computed from its index.

A study of millions of scenarios never holds all its inputs at once: row i of a block is found by
index arithmetic (which case, which axis row; for a grid, `np.unravel_index` of the axis row), so
`Scenarios.rows(start, stop)` builds only the rows asked for, chunk by chunk.

Each column's dtype is decided once for the whole spec, from the values it can take (the axes,
cases and base), by the same conversions the whole table would get (numbers with None as NaN,
names as text, anything else as given): a chunk's columns have the dtypes and values of the same
rows of the whole table, whichever rows it holds.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from glamsim.studies.scenario import DEFAULTS
from glamsim.studies.spec import MAX_SCENARIOS, StudySpec, Sweep, axis_values, check_size

BASE_ROW = "base"  # the `varied` value of the base scenario in a one-at-a-time sweep
TEXT_COLUMNS = ("model", "chip", "datacenter", "label")


def _constant(key: str, value, n: int) -> np.ndarray:
    """A column every row of a block shares, typed at once (numbers: float or int, None: NaN), so
    that millions of rows are not first built as Python objects and then converted."""
    if key in TEXT_COLUMNS or isinstance(value, str) or not isinstance(value, (int, float, type(None))):
        return np.full(n, value, dtype=object)
    if value is None:
        return np.full(n, np.nan)
    return np.full(n, value)


class _Block:
    """One sweep block: where its rows start, and per column the values its rows index into."""

    def __init__(self, block: Sweep, base: dict, start: int):
        self.start, self.combine = start, block.combine
        axes = {k: np.asarray(axis_values(v)) for k, v in block.axes.items()}
        self.shape = tuple(len(v) for v in axes.values())
        if not axes:
            self.n_axes = 1
        elif block.combine == "grid":
            self.n_axes = int(np.prod(self.shape))
        elif block.combine == "zip":
            self.n_axes = len(next(iter(axes.values())))
        else:  # one at a time: the base row, then each axis's values with every other field at its base
            self.n_axes = 1 + sum(self.shape)
            cols, varied, at = {}, np.full(self.n_axes, BASE_ROW, dtype=object), 1
            for k, v in axes.items():
                col = np.full(self.n_axes, base.get(k), dtype=object)  # model fields: None = the preset's own
                col[at : at + len(v)] = v
                varied[at : at + len(v)] = k
                cols[k] = col
                at += len(v)
            axes = cols | {"varied": varied}
        self.axes = axes
        cases = block.cases or [{}]
        self.n = self.n_axes * len(cases)
        in_cases = dict.fromkeys(k for c in cases for k in c)
        self.keys = list(DEFAULTS) + [k for k in dict.fromkeys([*axes, *in_cases]) if k not in DEFAULTS]
        self.cases = {k: np.asarray([c.get(k, base.get(k)) for c in cases], dtype=object) for k in in_cases}
        self.base = base
        # each column's values as pandas types them for the whole block (judged on the values its
        # rows index into); a chunk takes its rows from these
        self.values = {k: pd.DataFrame({k: self._source(k)})[k].array for k in self.keys}
        self.dtypes = {k: v.dtype for k, v in self.values.items()}

    def _source(self, key: str) -> np.ndarray:
        """Every value the column takes in this block (its rows index into these)."""
        if key in self.axes:
            return self.axes[key]
        if key in self.cases:
            return self.cases[key]
        return _constant(key, self.base.get(key), 1)

    def frame(self, lo: int, hi: int, keys) -> pd.DataFrame:
        """Rows [lo, hi) of the block (local numbering), the columns of `keys` it has."""
        keys = [k for k in keys if k in self.values]
        idx = dict.fromkeys(keys, np.zeros(hi - lo, dtype=np.intp))  # a constant: its one value
        if any(k in self.axes or k in self.cases for k in keys):
            case, a = np.divmod(np.arange(lo, hi), self.n_axes)
            idx |= {k: case for k in keys if k in self.cases}
            for j, k in enumerate(self.axes):  # a grid's row in C order: the first axis varies slowest
                if k in idx:
                    idx[k] = a // math.prod(self.shape[j + 1 :]) % self.shape[j] if self.combine == "grid" else a
        return pd.DataFrame({k: pd.Series(self.values[k].take(idx[k]), copy=False) for k in keys})


class Scenarios:
    """Every scenario of a spec as rows, built on demand: `scenario` id, every scenario field, the
    swept model fields (`model.<field>`; empty = the preset's value) and, for one-at-a-time
    blocks, `varied`.

    The rows are counted first (`check_size`): over `max_scenarios`, a one-line ConfigError and
    nothing allocated."""

    def __init__(self, spec: StudySpec, max_scenarios: int = MAX_SCENARIOS, where: str | None = None):
        self.n = check_size(spec, max_scenarios, where)
        base, start, self.blocks = DEFAULTS | spec.base, 0, []
        for b in spec.blocks():
            self.blocks.append(_Block(b, base, start))
            start += self.blocks[-1].n
        keys = list(dict.fromkeys(k for b in self.blocks for k in b.keys))
        self.columns = ["scenario", *keys]
        self._joined = {}  # column -> its dtype once the blocks are put together (before conversion)
        self._final = {"scenario": np.dtype(np.int64)}
        for k in keys:
            parts = [pd.DataFrame({k: b.values[k]}) if k in b.values else _LACKING for b in self.blocks]
            col = (pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0])[k]
            self._joined[k] = col.dtype
            self._final[k] = _convert(col, k).dtype

    def __len__(self) -> int:
        return self.n

    def rows(self, start: int, stop: int, columns: list[str] | None = None) -> pd.DataFrame:
        """Rows [start, stop) of the whole table (all its columns, or those named, in its order)."""
        stop = min(stop, self.n)
        keys = [c for c in self.columns[1:] if columns is None or c in columns]
        parts = [
            b.frame(max(start, b.start) - b.start, min(stop, b.start + b.n) - b.start, keys)
            for b in self.blocks
            if b.start < stop and start < b.start + b.n
        ]
        df = (pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]) if parts else pd.DataFrame()
        out = {}
        if columns is None or "scenario" in columns:
            out["scenario"] = np.arange(start, stop)
        for k in keys:
            col = df[k] if k in df else pd.Series(np.nan, index=range(stop - start))
            if col.dtype != self._joined[k]:
                col = col.astype(self._joined[k])
            if col.dtype == object and self._final[k] != np.dtype(object):
                col = _convert(col, k)
                if col.dtype != self._final[k]:
                    col = col.astype(self._final[k])
            out[k] = col
        return pd.DataFrame(out)

    def chunks(self, size: int, columns: list[str] | None = None):
        """(start, rows) of consecutive chunks of `size` rows."""
        for start in range(0, self.n, size):
            yield start, self.rows(start, start + size, columns)

    def __getitem__(self, name: str) -> np.ndarray:
        """One column over every row (what the scenario classes' cross-field rules read); a column
        no axis or case sets is its one value, broadcast (read-only, no memory per row)."""
        if all(name in b.values and name not in b.axes and name not in b.cases for b in self.blocks):
            return np.broadcast_to(self.rows(0, 1, [name])[name].to_numpy(), (self.n,))
        return self.rows(0, self.n, [name])[name].to_numpy()


_LACKING = pd.DataFrame(index=range(1))  # a block without the column: NaN there, as pd.concat joins them


def _convert(col: pd.Series, key: str) -> pd.Series:
    """The whole table's conversion of a column still of Python objects: names to text, numbers
    (None -> NaN) to numbers; anything else (e.g. model.activation) stays as given."""
    if col.dtype != object:
        return col
    if key in TEXT_COLUMNS:
        return col.astype("str")
    try:
        return pd.to_numeric(col)
    except (ValueError, TypeError):
        return col
