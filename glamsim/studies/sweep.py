"""Sweep expansion (spec -> one row per scenario) and vectorised evaluation of a chunk of rows.

Expansion is numpy indexing, so 100,000 scenarios take milliseconds.  Evaluation groups rows by
architecture (preset plus `model.<field>` changes): each distinct architecture is validated once
(`ModelConfig.replace`, so top_k <= n_experts and friends hold), its `ModelArrays` row is spread
to the scenarios with `ModelArrays.with_`, and the accounting and cost functions then run once
on whole columns.
"""

from __future__ import annotations

from dataclasses import fields
from functools import cache

import numpy as np
import pandas as pd

from glamsim import accounting as acc
from glamsim.accounting import ModelArrays
from glamsim.config import ConfigError, ModelConfig, load_model
from glamsim.cost import communication as comm
from glamsim.cost import inference, resolve, training
from glamsim.cost.ledger import Ledger
from glamsim.profiles import load_chip, load_datacenter
from glamsim.scenario import PRECISION_BYTES, ServingScenario, TrainingScenario
from glamsim.studies.scenario import DEFAULTS, check_columns
from glamsim.studies.spec import MAX_SCENARIOS, MODEL_PREFIX, StudySpec, Sweep, axis_values, check_size

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
            cols[key] = np.full(len(cases) * n_axes, base.get(key), dtype=object)
    return cols


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
            if col in ("model", "chip", "datacenter", "label"):
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
            changes = {c.removeprefix(MODEL_PREFIX): _py(v) for c, v in zip(mcols, u[1:]) if not _missing(v)}
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
        x, chips, experts = _col(given, "expert_parallel"), _col(given, "chips"), np.asarray(m.n_experts)
        bad = (chips % x != 0) | ((x != 1) & ((experts == 0) | (experts % np.maximum(x, 1) != 0)))
        if bad.any():
            i = int(np.argmax(bad))
            raise ConfigError(
                f"{where}: expert_parallel={x[i]:g}: must divide chips={chips[i]:g} and the "
                f"n_experts={int(experts[i])} of scenario {int(given['scenario'].iloc[i])}"
            )


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def _py(v):
    return v.item() if hasattr(v, "item") else v


@cache
def chip_figures(
    name: str,
    tdp_fraction: float,
    dtype: str,
    power_model: str = "system",
    chip_lifetime_years: float = 4.0,
    chip_lifetime_utilisation: float = 1.0,
) -> tuple[dict[str, float], Ledger]:
    """A chip's dense peak (for `dtype`, "" = the chip's own), power (fixed, or its curve), embodied
    carbon per chip-hour, price, memory and interconnect, resolved by the cost model's own rules
    (`glamsim.cost.resolve`)."""
    chip = load_chip(name)
    led = Ledger()
    defaults = TrainingScenario(
        tdp_fraction=tdp_fraction,
        dtype=dtype or None,
        power_model=power_model,
        chip_lifetime_years=chip_lifetime_years,
        chip_lifetime_utilisation=chip_lifetime_utilisation,
    )
    curve = resolve.power_curve(chip, defaults, led)
    vals = {
        "peak_flops": resolve.peak(chip, defaults, led),
        "power_w": curve["fixed_w"],
        **{f"power_{k}": curve[k] for k in ("idle_w", "span_w", "host_w")},
        "embodied_kg_per_chip_hour": resolve.embodied(chip, defaults, led),
        "price_per_chip_hour_usd": resolve.price(chip, defaults, led),
        "interconnect_gb_per_s": resolve.interconnect(chip, defaults, led, needed=False),
        "hbm_gb": chip.hbm_gb.value,
        "hbm_bandwidth_gb_per_s": chip.hbm_bandwidth_gb_per_s.value,
        **inference.chip_links(chip),
        "idle_w": inference.idle_power(chip, ServingScenario(), curve["fixed_w"])[0],
    }
    for f in ("hbm_gb", "hbm_bandwidth_gb_per_s"):
        led.add_profile(f, vals[f], "GB per chip" if f == "hbm_gb" else "GB/s per chip", chip.origin, f, chip.spec(f))
    return vals, led


@cache
def measured_skew(path: str) -> tuple[dict[str, float], str]:
    """A measurement record's router load, busiest/mean expert (`routing_skew`), and its source."""
    from glamsim.cost.measured import measured_routing
    from glamsim.records import load_measurement

    skew, where = measured_routing(load_measurement(path), origin=path)
    return {"measured_skew": skew}, where


@cache
def datacenter_figures(name: str) -> tuple[dict[str, float], Ledger]:
    """A datacenter's PUE, carbon intensity (net, gross) and water per kWh (on site, off site),
    resolved by the cost model's rules."""
    led = Ledger()
    dc = load_datacenter(name)
    pue, ci, gross = resolve.datacenter(dc, TrainingScenario(), led)
    wue, offsite = resolve.water(dc, led)
    return {
        "pue": pue,
        "carbon_intensity_kg_per_kwh": ci,
        "carbon_intensity_gross_kg_per_kwh": gross,
        "wue_onsite_l_per_kwh": wue,
        "water_offsite_l_per_kwh": offsite,
    }, led


def _lookup(keys: pd.DataFrame, fn) -> dict[str, np.ndarray]:
    """Call `fn` once per distinct row of `keys` and spread its figures to every row."""
    codes, uniq = pd.factorize(pd.MultiIndex.from_frame(keys))
    vals = [fn(*(_py(v) for v in u))[0] for u in uniq]
    return {k: np.asarray([v[k] for v in vals], dtype=np.float64)[codes] for k in vals[0]}


@cache
def measured_figures(path: str, chip: str) -> tuple[dict[str, float], str]:
    """A measurement record's MFU for a chip (NaN when its device is another) and what was used."""
    from glamsim.cost.measured import measured_inputs
    from glamsim.records import load_measurement

    got, sources, note = measured_inputs(load_measurement(path), load_chip(chip), origin=path)
    figures = {"measured_mfu": got.get("mfu", np.nan), "measured_hw_flops_ratio": got["hw_flops_ratio"]}
    return figures, sources.get("mfu", note)


def _measured(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The scenario's mfu, or its measured record's where that record was run on its chip; and the
    record's hardware/model FLOPs ratio (NaN without a record), which always carries over."""
    mfu = rows["mfu"].to_numpy(np.float64)
    ratio = np.full(len(rows), np.nan)
    given = rows["measured"].notna().to_numpy()
    if given.any():
        figures = _lookup(rows.loc[given, ["measured", "chip"]], measured_figures)
        mfu = mfu.copy()
        mfu[given] = np.where(np.isnan(figures["measured_mfu"]), mfu[given], figures["measured_mfu"])
        ratio[given] = figures["measured_hw_flops_ratio"]
    return mfu, ratio


def predicted(rows: pd.DataFrame, cfgs: list[ModelConfig], need: np.ndarray) -> dict[str, np.ndarray]:
    """MFU, HFU/MFU and layout predicted by `glamsim.predict` (`glamsim.cost.resolve.prediction`,
    the single estimate's own rule) for the rows in `need`, once per distinct layout question."""
    n = len(rows)
    out = {"mfu": np.full(n, np.nan), "hw_ratio": np.full(n, np.nan), "layout": np.full(n, None, dtype=object)}
    cols = ["chip", "chips", "layout", "seq_len", "global_batch", "dtype"]
    answers: dict[tuple, dict] = {}
    for i in np.flatnonzero(need):
        vals = tuple(None if _missing(v) else _py(v) for v in rows[cols].iloc[i])
        key = (id(cfgs[i]), *vals)
        if key not in answers:
            given = {k: v for k, v in zip(cols, vals) if v is not None and k != "chip"}
            answers[key] = resolve.prediction(cfgs[i], load_chip(vals[0]), TrainingScenario(**given), Ledger())
        p = answers[key]
        out["mfu"][i], out["hw_ratio"][i], out["layout"][i] = p["mfu"], p["hfu"] / p["mfu"], p["layout"]
    return out


def _col(rows: pd.DataFrame, name: str) -> np.ndarray:
    return rows[name].to_numpy(np.float64)


def _direct(rows: pd.DataFrame, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The columns of the scenario fields a cost formula takes as they are (its `DIRECT` fields)."""
    return {n: _col(rows, n) if pd.api.types.is_numeric_dtype(rows[n]) else rows[n].to_numpy() for n in names}


def _override(rows: pd.DataFrame, field: str, default: np.ndarray) -> np.ndarray:
    """The scenario's own value where it gives one, else the profile's (or derived) one."""
    given = _col(rows, field)
    return np.where(np.isnan(given), default, given)


def _chips(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    dtype = rows["dtype"].astype(object).where(rows["dtype"].notna(), "")
    keys = rows[["chip", "tdp_fraction"]].assign(dtype=dtype.astype(str))
    keys = keys.assign(
        power_model=rows["power_model"].astype(str),
        chip_lifetime_years=rows["chip_lifetime_years"],
        chip_lifetime_utilisation=rows["chip_lifetime_utilisation"],
    )
    return _lookup(keys, chip_figures)


def _power_curve(rows: pd.DataFrame, chip: dict) -> dict[str, np.ndarray]:
    """Power arguments of the cost functions: a given power_w is fixed (and overrides the curve)."""
    given = ~np.isnan(_col(rows, "power_w"))
    curve = {f"power_{k}": np.where(given, np.nan, chip[f"power_{k}"]) for k in ("idle_w", "span_w", "host_w")}
    return {"power_w": _override(rows, "power_w", chip["power_w"]), **curve}


def context(rows: pd.DataFrame, m: ModelArrays) -> np.ndarray:
    """Training context per scenario: its seq_len, else the model's own (one default everywhere)."""
    return _override(rows, "seq_len", np.asarray(m.max_seq_len, dtype=np.float64))


def training_outputs(
    rows: pd.DataFrame, m: ModelArrays, flops_per_token_train: np.ndarray, cfgs: list[ModelConfig]
) -> dict[str, np.ndarray]:
    """`glamsim.cost.training_costs` on whole columns, communication included: MFU rows and
    known-hours rows separately."""
    chip = _chips(rows)
    dc = _lookup(rows[["datacenter"]], datacenter_figures)
    chips, tokens = _col(rows, "chips"), _col(rows, "tokens")
    flops = _override(rows, "train_flops", flops_per_token_train * tokens)
    per_step = _override(rows, "tokens_per_step", training.DEFAULT_SEQS_PER_STEP * context(rows, m))
    x = _override(rows, "expert_parallel", comm.default_expert_parallel(m, chips))
    link = _override(rows, "interconnect_gb_per_s", chip["interconnect_gb_per_s"])
    c = comm.training_comm(
        m, tokens, per_step, chips, x, link, _col(rows, "bytes_per_activation"), _col(rows, "bytes_per_grad")
    )
    comm_hours = np.where(
        rows["train_flops"].isna(), c["comm_s_per_step"] * c["steps"] / training.S_PER_HOUR, np.nan
    )  # given FLOPs: no model, so no communication
    args = dict(
        flops_total=flops,
        chips=chips,
        peak_flops=chip["peak_flops"],
        **_power_curve(rows, chip),
        embodied_kg_per_chip_hour=chip["embodied_kg_per_chip_hour"],
        pue=_override(rows, "pue", dc["pue"]),
        carbon_intensity_kg_per_kwh=_override(rows, "carbon_intensity_kg_per_kwh", dc["carbon_intensity_kg_per_kwh"]),
        price_per_chip_hour_usd=_override(rows, "price_per_chip_hour_usd", chip["price_per_chip_hour_usd"]),
        carbon_intensity_gross_kg_per_kwh=np.where(
            rows["carbon_intensity_kg_per_kwh"].isna(),
            dc["carbon_intensity_gross_kg_per_kwh"],
            _col(rows, "carbon_intensity_kg_per_kwh"),
        ),
        comm_hours=comm_hours,
        **_direct(rows, training.DIRECT),
        wue_onsite_l_per_kwh=dc["wue_onsite_l_per_kwh"],
        water_offsite_l_per_kwh=dc["water_offsite_l_per_kwh"],
    )
    hours = _col(rows, "hours")
    known = ~np.isnan(hours)
    out: dict[str, np.ndarray] = {}
    mfu, measured_ratio = _measured(rows)
    need = ~known & np.isnan(mfu)
    exposed = need & (_col(rows, "comm_overlap") < 1)
    if exposed.any():  # the single estimate's refusal, for the first such row
        i = int(np.argmax(exposed))
        raise ConfigError(
            f"comm_overlap={float(_col(rows, 'comm_overlap')[i])!r}: a predicted MFU already charges the exposed "
            f"communication; give --mfu to charge it on top{f', scenario {i + 1}' if len(rows) > 1 else ''}"
        )
    pred = predicted(rows, cfgs, need)
    mfu = np.where(np.isnan(mfu), pred["mfu"], mfu)
    for mask, when in ((~known, {"mfu": mfu}), (known, {"hours": hours})):
        if not mask.any():
            continue
        part = training.training_costs(**{k: v[mask] for k, v in args.items()}, **{k: v[mask] for k, v in when.items()})
        for k, v in part.items():
            out.setdefault(k, np.full(len(rows), np.nan))[mask] = v
    too_fast = known & (out["mfu_effective"] > 1)
    if too_fast.any():  # the single estimate's refusal, for the first such row
        i = int(np.argmax(too_fast))
        raise ConfigError(
            f"hours={float(hours[i])!r}: implies MFU {out['mfu_effective'][i]:.2f} > 1 (faster than "
            f"{rows['chips'].iloc[i]:g} {rows['chip'].iloc[i]} chips' dense peak), scenario {i + 1}"
        )
    ratio = _col(rows, "hw_flops_ratio")  # a given ratio wins, then the measured record's, then the prediction's
    ratio = np.where(np.isnan(ratio), measured_ratio, ratio)
    ratio = np.where(np.isnan(ratio), np.where(np.isnan(pred["hw_ratio"]), 1.0, pred["hw_ratio"]), ratio)
    out["hfu"] = out["mfu_effective"] * ratio
    out["mfu_resolved"] = np.where(known, out["mfu_effective"], mfu)  # typed, measured, predicted, or implied by hours
    _refuse_as_the_single_estimate(rows, out, ratio)
    resolved = {f"resolved_{k}": args[k] for k in ("pue", "carbon_intensity_kg_per_kwh", "price_per_chip_hour_usd")}
    return {
        "peak_flops_per_s": chip["peak_flops"],
        "resolved_power_w": out["power_w_per_chip"],
        **resolved,
        "resolved_expert_parallel": x,
        "resolved_layout": pred["layout"],
        "resolved_interconnect_gb_per_s": link,
        **{k: c[k] for k in ("comm_wire_bytes_per_chip_step", "comm_s_per_step", "steps")},
        **out,
    }


def _refuse_as_the_single_estimate(rows: pd.DataFrame, out: dict, ratio: np.ndarray) -> None:
    """The single estimate's refusals of a training scenario, for the first row that meets one:
    exposed communication longer than the given hours, an HFU above 1, communication charged on
    given FLOPs (it needs the model and tokens)."""
    overlap = _col(rows, "comm_overlap")
    checks = (
        (out["compute_hours"] < 0, "comm_overlap", "the exposed communication exceeds the given hours"),
        (out["hfu"] > 1, "hw_flops_ratio", "implies hardware FLOPs utilisation above 1"),
        (
            rows["train_flops"].notna().to_numpy() & (overlap < 1),
            "comm_overlap",
            "counting communication needs the model and tokens, not --train-flops",
        ),
    )
    for bad, name, why in checks:
        if bad.any():
            i = int(np.argmax(bad))
            value = {"hw_flops_ratio": ratio, "comm_overlap": overlap}[name][i]
            raise ConfigError(f"{name}={value:g}: {why}, scenario {i + 1}")


def precision_bytes(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Bytes per weight and per KV value: the given bytes_per_param / bytes_per_kv, else the
    precision's (`glamsim.scenario.PRECISION_BYTES`), as the single estimate resolves them."""

    def by(bytes_col: str, precision_col: str) -> np.ndarray:
        default = rows[precision_col].map(PRECISION_BYTES).to_numpy(np.float64)
        bad = np.isnan(default)
        if bad.any():
            v = rows[precision_col].iloc[int(np.argmax(bad))]
            raise ConfigError(f"{precision_col}={v!r}: expected one of {', '.join(PRECISION_BYTES)}")
        return _override(rows, bytes_col, default)

    return by("bytes_per_param", "weight_precision"), by("bytes_per_kv", "kv_precision")


def _refuse_unfit(rows: pd.DataFrame, lay: dict, placement: np.ndarray, x_given, prefill_chips, refused) -> None:
    """The single estimate's refusals of a serving layout, for the first row that meets one: experts
    that alone fill a chip, given chips or a prefill pool too few for weights and cache, experts over
    more chips than there are (`glamsim.cost.inference.estimate_inference`).  Rows `refused` already
    (targets that batch 1 misses, which the single estimate checks first) keep that refusal."""
    chips, need = lay["chips"], lay["need"]
    which = lambda bad: int(np.argmax(bad & ~refused))  # noqa: E731
    at = lambda i: f", scenario {i + 1}" if len(rows) > 1 else ""  # noqa: E731
    model, chip = rows["model"].to_numpy(), rows["chip"].to_numpy()
    bad = ~np.isfinite(need) & ~np.isnan(x_given)
    if (bad & ~refused).any():
        i = which(bad)
        raise ConfigError(
            f"serving_expert_parallel={x_given[i]:g}: {model[i]}'s experts over {x_given[i]:g} chips alone "
            f"fill a {chip[i]}; give more{at(i)}"
        )
    bad = chips < need
    if (bad & ~refused).any():
        i = which(bad)
        how = " with experts placed on chips" if placement[i] == "expert" else ""
        raise ConfigError(
            f"serving_chips={chips[i]:g}: too few to hold {model[i]}'s weights and KV cache{how} on {chip[i]}; "
            f"need at least {need[i]:g}{at(i)}"
        )
    bad = ~np.isnan(prefill_chips) & ~lay["prefill_fits"]
    if (bad & ~refused).any():
        i = which(bad)
        raise ConfigError(
            f"prefill_chips={prefill_chips[i]:g}: too few to hold {model[i]}'s weights and the prompts' KV cache "
            f"on {chip[i]}; need at least {lay['prefill_need'][i]:.0f}{at(i)}"
        )
    bad = (lay["expert_parallel"] > chips) & ~np.isnan(x_given)
    if (bad & ~refused).any():
        i = which(bad)
        raise ConfigError(f"serving_expert_parallel={x_given[i]:g}: more than the {chips[i]:g} serving chips{at(i)}")


def inference_outputs(rows: pd.DataFrame, m: ModelArrays) -> dict[str, np.ndarray]:
    """`glamsim.cost.inference_costs` on whole columns, laid out by `inference.serving_layout` (the
    single estimate's rules), refusing what the single estimate refuses (`_refuse_unfit`); a
    scenario whose latency targets even batch 1 misses keeps its row, with NaN outputs and the
    single estimate's refusal in its `refusal` column (a sweep over targets finds where they bind)."""
    chip = _chips(rows)
    dc = _lookup(rows[["datacenter"]], datacenter_figures)
    batch, prompt, gen = _col(rows, "batch"), _col(rows, "prompt_len"), _col(rows, "gen_len")
    bpp, bkv = precision_bytes(rows)
    hbm, usable = chip["hbm_gb"] * inference.BYTES_PER_GB, _col(rows, "hbm_usable_fraction")
    given_link = _col(rows, "interconnect_gb_per_s") * inference.BYTES_PER_GB
    links = {
        k: np.where(np.isnan(given_link), chip[k], given_link) if k.endswith("bytes_per_s") else chip[k]
        for k in (
            "interconnect_bytes_per_s",
            "inter_node_bytes_per_s",
            "chips_per_node",
            "intra_latency_s",
            "inter_latency_s",
        )
    }
    placement = rows["placement"].astype(object).to_numpy()
    skew = _col(rows, "routing_skew")
    from_record = rows["measured"].notna().to_numpy() & np.isnan(skew)  # a record's load, unless a skew is given
    if from_record.any():
        skew = skew.copy()
        skew[from_record] = _lookup(rows.loc[from_record, ["measured"]], measured_skew)["measured_skew"]
    skew = np.where(np.isnan(skew), 1.0, skew)
    chips_given, x_given = _col(rows, "serving_chips"), _col(rows, "serving_expert_parallel")
    prefill_chips = _col(rows, "prefill_chips")
    ttft, tpot = _col(rows, "ttft_ms") / 1e3, _col(rows, "tpot_ms") / 1e3
    targeted = ~np.isnan(ttft) | ~np.isnan(tpot)
    refusal = np.full(len(rows), "", dtype=object)  # a scenario the single estimate refuses: why, else ""
    met = {
        "batch_meeting_targets": np.full(len(rows), np.nan),
        "target_binding": np.full(len(rows), None, dtype=object),
    }
    if targeted.any():  # the single estimate's search (`inference.batch_meeting_targets`) on those rows
        sel = lambda v: np.broadcast_to(np.asarray(v, dtype=np.float64), (len(rows),))[targeted]  # noqa: E731
        mt = m.with_(**{f.name: sel(getattr(m, f.name)) for f in fields(m)})
        t = inference.batch_meeting_targets(
            mt,
            sel(batch),
            sel(prompt),
            sel(gen),
            sel(chips_given),
            sel(hbm),
            sel(usable),
            sel(bpp),
            sel(bkv),
            sel(x_given),
            ttft[targeted],
            tpot[targeted],
            placement=placement[targeted],
            prefill_chips=sel(prefill_chips),
            peak_flops=sel(chip["peak_flops"]),
            hbm_bandwidth_bytes_per_s=sel(chip["hbm_bandwidth_gb_per_s"] * inference.BYTES_PER_GB),
            mfu=sel(_col(rows, "serving_mfu")),
            mbu=sel(_col(rows, "mbu")),
            comm_overlap=sel(_col(rows, "comm_overlap")),
            bytes_per_activation=sel(_col(rows, "bytes_per_activation")),
            routing_skew=sel(skew),
            **{k: sel(v) for k, v in links.items()},
        )
        for i in np.flatnonzero((t["batch"] == 0) & (t["binding"] != "hbm")):  # the single estimate's refusal
            row = np.flatnonzero(targeted)[i]
            given = {k: None if np.isnan(v[row]) else v[row] * 1e3 for k, v in (("ttft_ms", ttft), ("tpot_ms", tpot))}
            chips_of = None if np.isnan(chips_given[row]) else chips_given[row]
            refusal[row] = inference.targets_missed(*given.values(), t, i, rows["chip"].iloc[row], chips_of)
        met["batch_meeting_targets"][targeted] = t["batch"]
        met["target_binding"][targeted] = t["binding"]
        batch = batch.copy()
        batch[targeted] = np.where(t["batch"] > 0, t["batch"], np.nan)  # none meets them: NaN outputs
    lay = inference.serving_layout(
        m, placement, batch, prompt, gen, chips_given, x_given, prefill_chips, hbm, usable, bpp, bkv
    )
    chips, x = lay["chips"], lay["expert_parallel"]
    _refuse_unfit(rows, lay, placement, x_given, prefill_chips, refusal != "")
    res = inference.inference_costs(
        m,
        batch=batch,
        prompt_len=prompt,
        gen_len=gen,
        chips=chips,
        peak_flops=chip["peak_flops"],
        hbm_bandwidth_bytes_per_s=chip["hbm_bandwidth_gb_per_s"] * inference.BYTES_PER_GB,
        **_power_curve(rows, chip),
        pue=_override(rows, "pue", dc["pue"]),
        carbon_intensity_kg_per_kwh=_override(rows, "carbon_intensity_kg_per_kwh", dc["carbon_intensity_kg_per_kwh"]),
        price_per_chip_hour_usd=_override(rows, "price_per_chip_hour_usd", chip["price_per_chip_hour_usd"]),
        mfu=_col(rows, "serving_mfu"),
        mbu=_col(rows, "mbu"),
        bytes_per_param=bpp,
        bytes_per_kv=bkv,
        expert_parallel=x,
        **_direct(rows, inference.DIRECT),
        placement=placement,
        routing_skew=skew,
        dense_shards=lay["dense_shards"],
        prefill_dense_shards=lay["prefill_dense_shards"],
        prefill_chips=prefill_chips,
        idle_power_w=np.where(np.isnan(_col(rows, "power_w")), chip["idle_w"], np.nan),
        embodied_kg_per_chip_hour=chip["embodied_kg_per_chip_hour"],
        **links,
        wue_onsite_l_per_kwh=dc["wue_onsite_l_per_kwh"],
        water_offsite_l_per_kwh=dc["water_offsite_l_per_kwh"],
    )
    touched = res["experts_touched_per_moe_layer"]
    return {
        "refusal": refusal,
        "serving_min_chips": lay["need"],
        "serving_chips_used": chips,
        "batch_served": batch,
        "serving_expert_parallel_used": x,
        "resolved_routing_skew": skew,
        "dense_shards": lay["dense_shards"],
        **met,
        "resolved_bytes_per_param": bpp,
        "resolved_bytes_per_kv": bkv,
        "weight_gb_total": inference.weight_bytes_total(m, bpp) / inference.BYTES_PER_GB,
        "kv_cache_gb_full_context": inference.kv_cache_bytes(m, batch, prompt + gen, bkv) / inference.BYTES_PER_GB,
        **res,
        "experts_touched_fraction": np.divide(
            touched, m.n_experts, out=np.full(len(rows), np.nan), where=m.n_experts > 0
        ),
    }


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
    if "inference" in spec.evaluate:
        out.update(inference_outputs(inputs, m))
    return pd.concat([inputs, arch, pd.DataFrame(out)], axis=1)
