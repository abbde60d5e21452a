"""The checks of a sweep's scenarios before any work, and vectorised evaluation of a chunk of rows.

The rows come from `glamsim.studies.expansion` (numpy indexing, a chunk at a time; `expand` builds
them all, for small sweeps).  The checks read a few columns at a time.  Evaluation groups rows by
architecture (preset plus `model.<field>` changes): each distinct architecture is validated once
(`ModelConfig.replace`, so top_k <= n_experts and friends hold), its `ModelArrays` row is spread
to the scenarios with `ModelArrays.with_`, and the accounting and cost functions then run once
on whole columns.
"""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Callable

import numpy as np
import pandas as pd

from glamsim import accounting as acc
from glamsim.accounting import ModelArrays
from glamsim.config import ConfigError, ModelConfig, load_model
from glamsim.profiles import load_chip, load_datacenter
from glamsim.studies.columns import context, floats, missing, py
from glamsim.studies.expansion import Scenarios
from glamsim.studies.scenario import check_columns
from glamsim.studies.serve_rows import serving_outputs
from glamsim.studies.spec import MAX_SCENARIOS, MODEL_PREFIX, StudySpec
from glamsim.studies.train_rows import training_outputs

ARCH_COLUMNS = ("n_layers", "d_model", "n_experts", "top_k")


def expand(spec: StudySpec, max_scenarios: int = MAX_SCENARIOS, where: str | None = None) -> pd.DataFrame:
    """Every scenario of the spec as one row, all at once (`Scenarios` builds them chunk by chunk):
    `scenario` id, every scenario field, the swept model fields (`model.<field>`; empty = the
    preset's value) and, for one-at-a-time blocks, `varied`.  Over `max_scenarios`, a one-line
    ConfigError and nothing allocated."""
    scenarios = Scenarios(spec, max_scenarios, where)
    return scenarios.rows(0, len(scenarios))


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


CHECK_ROWS = 250_000  # rows the checks expand at a time (a few columns each)


def check_inputs(scenarios: Scenarios, models: ModelCache, where: str) -> None:
    """Fail before any work on inputs a single estimate refuses (the scenario classes' cross-field
    rules), an unknown preset or profile, or an invalid edited architecture.  Every row is judged,
    a few columns at a time (the whole table is never built), in the same order as on one table:
    the first refusal is the one a single pass would give."""
    check_columns(scenarios, f"{where}: ")
    mcols = ["model", *(c for c in scenarios.columns if c.startswith(MODEL_PREFIX))]
    archs, names, pairs, expert_parallel = [], {"chip": {}, "datacenter": {}}, {}, False
    for _, rows in scenarios.chunks(CHECK_ROWS, [*mcols, "chip", "datacenter", "dtype", "expert_parallel"]):
        archs.append(rows[mcols].drop_duplicates())
        for name, seen in names.items():
            seen |= dict.fromkeys(pd.unique(rows[name]))
        pairs |= dict.fromkeys(rows[["chip", "dtype"]].drop_duplicates().itertuples(index=False))
        expert_parallel |= bool(rows["expert_parallel"].notna().any())
    models.arrays(pd.concat(archs, ignore_index=True).drop_duplicates())
    for seen, load in zip(names.values(), (load_chip, load_datacenter)):
        for value in seen:
            try:
                load(value)
            except ConfigError as err:
                raise ConfigError(f"{where}: {err}") from None
    for chip, dtype in pairs:
        if isinstance(dtype, str):
            try:
                load_chip(chip).peak_field(dtype)
            except ConfigError as err:
                raise ConfigError(f"{where}: {err}") from None
    if not expert_parallel:
        return
    for _, rows in scenarios.chunks(CHECK_ROWS, ["scenario", *mcols, "chips", "expert_parallel"]):
        given = rows[rows["expert_parallel"].notna()]
        if not len(given):
            continue
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
    """Inputs and outputs of a chunk of scenarios: analytic counts, then training and/or serving cost.
    A refusal names its scenario by its number in the whole table (`rows["scenario"]` + 1)."""
    try:
        return _evaluate(spec, rows, models)
    except ConfigError as err:  # the cost code counts the rows it is given: number them in the table
        ids = rows["scenario"].to_numpy()
        at = lambda m: f"scenario {ids[int(m[1]) - 1] + 1}" if 0 < int(m[1]) <= len(ids) else m[0]  # noqa: E731
        raise ConfigError(re.sub(r"scenario (\d+)", at, str(err))) from None


def _evaluate(spec: StudySpec, rows: pd.DataFrame, models: ModelCache) -> pd.DataFrame:
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


CHUNK_ROWS = 250_000  # rows `evaluate_all` evaluates at a time: a million rows' transients a quarter at a time


def evaluate_all(
    spec: StudySpec, scenarios: Scenarios, models: ModelCache, each: Callable[[int, pd.DataFrame], pd.DataFrame]
) -> pd.DataFrame:
    """Every scenario evaluated, as one frame, `CHUNK_ROWS` at a time: `each(start, chunk)` checks
    and trims each chunk's results before they are kept.  A column of Python objects is typed as
    from one array of every row (text with missing values is text, even where a chunk held none)."""
    parts = [each(start, evaluate(spec, rows, models)) for start, rows in scenarios.chunks(CHUNK_ROWS)]
    if len(parts) == 1:
        return parts[0]
    mixed = [c for c in parts[0] if len({p[c].dtype for p in parts}) > 1]
    frame = pd.concat(parts, ignore_index=True)
    del parts  # each chunk freed once copied
    for c in mixed:
        if frame[c].dtype == np.dtype(object):
            frame[c] = pd.Series(frame[c].to_numpy())
    return frame
