"""Sweep expansion (spec -> one row per scenario) and vectorised evaluation of a chunk of rows.

Expansion is numpy indexing, so 100,000 scenarios take milliseconds.  Evaluation groups rows by
architecture (preset plus `model.<field>` changes): each distinct architecture is validated once
(`ModelConfig.replace`, so top_k <= n_experts and friends hold), its `ModelArrays` row is spread
to the scenarios with `ModelArrays.with_`, and the accounting and cost functions then run once
on whole columns.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pandas as pd

from glamsim import accounting as acc
from glamsim.accounting import ModelArrays
from glamsim.config import ConfigError, ModelConfig, load_model
from glamsim.profiles import load_chip, load_datacenter
from glamsim.studies.columns import context, floats, missing, py
from glamsim.studies.scenario import DEFAULTS, check_columns
from glamsim.studies.serve_rows import serving_outputs
from glamsim.studies.spec import MAX_SCENARIOS, MODEL_PREFIX, StudySpec, Sweep, axis_values, check_size
from glamsim.studies.train_rows import training_outputs

BASE_ROW = "base"  # the `varied` value of the base scenario in a one-at-a-time sweep
ARCH_COLUMNS = ("n_layers", "d_model", "n_experts", "top_k")


def _combine(block: Sweep, base: dict) -> tuple[dict[str, np.ndarray], int]:
    """The axis columns of one block (before crossing with its cases) and their length."""
    axes = {k: np.asarray(axis_values(v)) for k, v in block.axes.items()}
    if not axes:
        return {}, 1
    if block.combine == "zip":
        return axes, len(next(iter(axes.values())))
    if block.combine == "grid":
        shape = tuple(len(v) for v in axes.values())
        idx = np.indices(shape).reshape(len(shape), -1)
        return {k: v[i] for (k, v), i in zip(axes.items(), idx)}, int(np.prod(shape))
    # one at a time: the base row, then each axis's values with every other field at its base
    n = 1 + sum(len(v) for v in axes.values())
    cols, varied, start = {}, np.full(n, BASE_ROW, dtype=object), 1
    for k, v in axes.items():
        col = np.full(n, base.get(k), dtype=object)  # model fields: None = the preset's own value
        col[start : start + len(v)] = v
        varied[start : start + len(v)] = k
        cols[k] = col
        start += len(v)
    cols["varied"] = varied
    return cols, n


def _expand_block(block: Sweep, base: dict) -> dict[str, np.ndarray]:
    axis_cols, n_axes = _combine(block, base)
    cases = block.cases or [{}]
    case_idx = np.repeat(np.arange(len(cases)), n_axes)
    keys = list(DEFAULTS) + [
        k for k in dict.fromkeys([*axis_cols, *(k for c in cases for k in c)]) if k not in DEFAULTS
    ]
    cols = {}
    for key in keys:
        if key in axis_cols:
            cols[key] = np.tile(axis_cols[key], len(cases))
        elif any(key in c for c in cases):
            cols[key] = np.asarray([c.get(key, base.get(key)) for c in cases], dtype=object)[case_idx]
        else:
            cols[key] = _constant(key, base.get(key), len(cases) * n_axes)
    return cols


TEXT_COLUMNS = ("model", "chip", "datacenter", "label")


def _constant(key: str, value, n: int) -> np.ndarray:
    """A column every row of a block shares, typed at once (numbers: float or int, None: NaN), so
    that millions of rows are not first built as Python objects and then converted."""
    if key in TEXT_COLUMNS or isinstance(value, str) or not isinstance(value, (int, float, type(None))):
        return np.full(n, value, dtype=object)
    if value is None:
        return np.full(n, np.nan)
    return np.full(n, value)


def expand(spec: StudySpec, max_scenarios: int = MAX_SCENARIOS, where: str | None = None) -> pd.DataFrame:
    """Every scenario of the spec as one row: `scenario` id, every scenario field, the swept model
    fields (`model.<field>`; empty = the preset's value) and, for one-at-a-time blocks, `varied`.

    The rows are counted first (`check_size`): over `max_scenarios`, a one-line ConfigError and
    nothing allocated."""
    check_size(spec, max_scenarios, where)
    base = DEFAULTS | spec.base
    frames = [pd.DataFrame(_expand_block(b, base)) for b in spec.blocks()]
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    df.insert(0, "scenario", np.arange(len(df)))
    for col in df.columns:  # typed columns: numbers (None -> NaN), strings
        if df[col].dtype == object:
            if col in TEXT_COLUMNS:
                df[col] = df[col].astype("str")
            else:
                try:
                    df[col] = pd.to_numeric(df[col])
                except (ValueError, TypeError):
                    pass  # a categorical model field (e.g. model.activation) stays as given
    return df


class ModelCache:
    """Validated architectures by (preset, changes): each distinct one is built once per run."""

    def __init__(self, where: str):
        self.where = where
        self._cfgs: dict[tuple, ModelConfig] = {}

    def get(self, key: tuple, changes: dict) -> ModelConfig:
        if key not in self._cfgs:
            name = key[0]
            try:
                cfg = load_model(name)
            except ConfigError as err:
                raise ConfigError(f"{self.where}: {err}") from None
            try:
                self._cfgs[key] = cfg.replace(**changes) if changes else cfg
            except ConfigError as err:  # "<name> (edited): field=value: why" -> name the axes
                what = ", ".join(f"{MODEL_PREFIX}{k}={v}" for k, v in changes.items())
                raise ConfigError(f"{self.where}: {name} with {what}: {str(err).split(': ', 1)[-1]}") from None
        return self._cfgs[key]

    def arrays(self, df: pd.DataFrame) -> tuple[ModelArrays, pd.DataFrame]:
        """ModelArrays with one row per scenario, and the architecture columns to report."""
        mcols = [c for c in df.columns if c.startswith(MODEL_PREFIX)]
        keys = df[["model", *mcols]]
        codes, uniq = pd.factorize(pd.MultiIndex.from_frame(keys)) if mcols else pd.factorize(keys["model"])
        cfgs = []
        for u in uniq:
            u = u if isinstance(u, tuple) else (u,)
            changes = {c.removeprefix(MODEL_PREFIX): py(v) for c, v in zip(mcols, u[1:]) if not missing(v)}
            cfgs.append(self.get(tuple(u), changes))
        ma = ModelArrays.of(cfgs)
        full = ma.with_(**{f.name: getattr(ma, f.name)[codes] for f in fields(ma)})
        report = list(dict.fromkeys([*ARCH_COLUMNS, *(c.removeprefix(MODEL_PREFIX) for c in mcols)]))
        arch = pd.DataFrame({c: np.asarray([getattr(cfg, c) for cfg in cfgs])[codes] for c in report})
        self.row_configs = [cfgs[c] for c in codes]  # the architecture of each row (for predictions)
        return full, arch


def check_inputs(rows: pd.DataFrame, models: ModelCache, where: str) -> None:
    """Fail before any work on inputs a single estimate refuses (the scenario classes' cross-field
    rules), an unknown preset or profile, or an invalid edited architecture."""
    check_columns(rows, f"{where}: ")
    mcols = ["model", *(c for c in rows.columns if c.startswith(MODEL_PREFIX))]
    models.arrays(rows.drop_duplicates(subset=mcols))
    for name, load in (("chip", load_chip), ("datacenter", load_datacenter)):
        for value in dict.fromkeys(rows[name]):
            try:
                load(value)
            except ConfigError as err:
                raise ConfigError(f"{where}: {err}") from None
    for chip, dtype in rows[["chip", "dtype"]].drop_duplicates().itertuples(index=False):
        if isinstance(dtype, str):
            try:
                load_chip(chip).peak_field(dtype)
            except ConfigError as err:
                raise ConfigError(f"{where}: {err}") from None
    given = rows[rows["expert_parallel"].notna()]
    if len(given):
        m, _ = models.arrays(given)
        x, chips, experts = floats(given, "expert_parallel"), floats(given, "chips"), np.asarray(m.n_experts)
        bad = (chips % x != 0) | ((x != 1) & ((experts == 0) | (experts % np.maximum(x, 1) != 0)))
        if bad.any():
            i = int(np.argmax(bad))
            raise ConfigError(
                f"{where}: expert_parallel={x[i]:g}: must divide chips={chips[i]:g} and the "
                f"n_experts={int(experts[i])} of scenario {int(given['scenario'].iloc[i])}"
            )


def evaluate(spec: StudySpec, rows: pd.DataFrame, models: ModelCache) -> pd.DataFrame:
    """Inputs and outputs of a chunk of scenarios: analytic counts, then training and/or serving cost."""
    m, arch = models.arrays(rows)
    inputs = rows.drop(columns=[c for c in rows.columns if c.startswith(MODEL_PREFIX)]).reset_index(drop=True)
    seq = context(inputs, m)
    out = {
        "params_total": acc.params(m),
        "params_active": acc.params(m, active=True),
        "resolved_seq_len": seq.astype(np.int64),  # the context the training FLOPs are counted at, shown
        "flops_per_token_train": acc.train_flops_per_token(m, seq),
    }
    if "training" in spec.evaluate:
        train = training_outputs(inputs, m, out["flops_per_token_train"], models.row_configs)
        inputs["mfu"] = train.pop("mfu_resolved")  # the MFU the costs used: typed, measured, predicted or implied
        out.update(train)
    if "serving" in spec.evaluate:
        out.update(serving_outputs(inputs, m, models.row_configs))
    return pd.concat([inputs, arch, pd.DataFrame(out)], axis=1)
