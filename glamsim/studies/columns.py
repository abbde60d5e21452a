"""Resolution on columns: each scenario's own value where it gives one, else its chip's, datacenter's,
measurement record's or the layout prediction's, by the single estimate's rules
(`glamsim.cost.resolve`), looked up once per distinct key and spread to every row."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from glamsim.accounting import ModelArrays
from glamsim.config import ModelConfig
from glamsim.cost import resolve, serving
from glamsim.cost.ledger import Ledger
from glamsim.cost.power import CURVE
from glamsim.profiles import load_chip, load_datacenter
from glamsim.scenario import ServingScenario, TrainingScenario


def missing(v) -> bool:
    """None or NaN: the default."""
    return v is None or (isinstance(v, float) and np.isnan(v))


def py(v):
    """A numpy scalar as its Python value."""
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
        **{f"power_{k}": curve[k] for k in CURVE},
        **resolve.embodied(chip, defaults, led),
        "price_per_chip_hour_usd": resolve.price(chip, defaults, led),
        "interconnect_gb_per_s": resolve.interconnect(chip, defaults, led, needed=False),
        "hbm_gb": chip.hbm_gb.value,
        "hbm_bandwidth_gb_per_s": chip.hbm_bandwidth_gb_per_s.value,
        **serving.chip_links(chip),
        "idle_w": serving.idle_power(chip, ServingScenario(), curve["fixed_w"])[0],
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


def lookup(keys: pd.DataFrame, fn) -> dict[str, np.ndarray]:
    """Call `fn` once per distinct row of `keys` and spread its figures to every row."""
    codes = keys.groupby(list(keys.columns), sort=False, dropna=False).ngroup().to_numpy()
    uniq = keys.drop_duplicates().itertuples(index=False)  # in order of first appearance, as the codes
    vals = [fn(*(py(v) for v in u))[0] for u in uniq]
    return {k: np.asarray([v[k] for v in vals], dtype=np.float64)[codes] for k in vals[0]}


@cache
def measured_figures(path: str, chip: str) -> tuple[dict[str, float], str]:
    """A measurement record's MFU for a chip (NaN when its device is another) and what was used."""
    from glamsim.cost.measured import measured_inputs
    from glamsim.records import load_measurement

    got, sources, note = measured_inputs(load_measurement(path), load_chip(chip), origin=path)
    figures = {"measured_mfu": got.get("mfu", np.nan), "measured_hw_flops_ratio": got["hw_flops_ratio"]}
    return figures, sources.get("mfu", note)


def measured(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The scenario's mfu, or its measured record's where that record was run on its chip; and the
    record's hardware/model FLOPs ratio (NaN without a record), which always carries over."""
    mfu = rows["mfu"].to_numpy(np.float64)
    ratio = np.full(len(rows), np.nan)
    given = rows["measured"].notna().to_numpy()
    if given.any():
        figures = lookup(rows.loc[given, ["measured", "chip"]], measured_figures)
        mfu = mfu.copy()
        mfu[given] = np.where(np.isnan(figures["measured_mfu"]), mfu[given], figures["measured_mfu"])
        ratio[given] = figures["measured_hw_flops_ratio"]
    return mfu, ratio


def predicted(rows: pd.DataFrame, cfgs: list[ModelConfig], need: np.ndarray) -> dict[str, np.ndarray]:
    """MFU, its range (the low and high ends of its interval, `glamsim.cost.resolve.mfu_interval`),
    HFU/MFU, the exposed-communication share of the step, the global batch, layout and its memory fit
    verdict ("fits" or "tight", `glamsim.predict.memory.fit_verdict`) predicted by `glamsim.predict`
    (`glamsim.cost.resolve.prediction`, the single estimate's own rule) for the rows in `need`, once
    per distinct layout question."""
    n = len(rows)
    out = {
        "mfu": np.full(n, np.nan),
        "mfu_low": np.full(n, np.nan),
        "mfu_high": np.full(n, np.nan),
        "hw_ratio": np.full(n, np.nan),
        "exposed_share": np.full(n, np.nan),
        "global_batch": np.full(n, np.nan),
        "layout": np.full(n, None, dtype=object),
        "memory_fit": np.full(n, None, dtype=object),
    }
    cols = ["chip", "chips", "layout", "software", "seq_len", "global_batch", "dtype"]
    answers: dict[tuple, dict] = {}
    for i in np.flatnonzero(need):
        vals = tuple(None if missing(v) else py(v) for v in rows[cols].iloc[i])
        key = (id(cfgs[i]), *vals)
        if key not in answers:
            given = {k: v for k, v in zip(cols, vals) if v is not None and k != "chip"}
            chip = load_chip(vals[0])  # a name or a profile's path
            p = resolve.prediction(cfgs[i], chip, TrainingScenario(**given), Ledger())
            seq = given.get("seq_len") or cfgs[i].max_seq_len
            answers[key] = (p, resolve.mfu_interval(p, chip, cfgs[i], seq).around(p["mfu"]))
        p, (low, _, high) = answers[key]
        out["mfu"][i], out["hw_ratio"][i], out["layout"][i] = p["mfu"], p["hfu"] / p["mfu"], p["layout"]
        out["memory_fit"][i] = p["memory_verdict"]
        out["mfu_low"][i], out["mfu_high"][i] = low, high
        out["exposed_share"][i] = resolve.layout_exposed_share(p)
        out["global_batch"][i] = p["global_batch"]
    return out


def floats(rows: pd.DataFrame, name: str) -> np.ndarray:
    """A column as float64 (None -> NaN)."""
    return rows[name].to_numpy(np.float64)


def direct(rows: pd.DataFrame, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The columns of the scenario fields a cost formula takes as they are (its `DIRECT` fields)."""
    return {n: floats(rows, n) if pd.api.types.is_numeric_dtype(rows[n]) else rows[n].to_numpy() for n in names}


def override(rows: pd.DataFrame, field: str, default: np.ndarray) -> np.ndarray:
    """The scenario's own value where it gives one, else the profile's (or derived) one."""
    given = floats(rows, field)
    return np.where(np.isnan(given), default, given)


def chip_columns(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    dtype = rows["dtype"].astype(object).where(rows["dtype"].notna(), "")
    keys = rows[["chip", "tdp_fraction"]].assign(dtype=dtype.astype(str))
    keys = keys.assign(
        power_model=rows["power_model"].astype(str),
        chip_lifetime_years=rows["chip_lifetime_years"],
        chip_lifetime_utilisation=rows["chip_lifetime_utilisation"],
    )
    return lookup(keys, chip_figures)


def power_curve(rows: pd.DataFrame, chip: dict) -> dict[str, np.ndarray]:
    """Power arguments of the cost functions: a given power_w is fixed (and overrides the curve)."""
    given = ~np.isnan(floats(rows, "power_w"))
    curve = {f"power_{k}": np.where(given, np.nan, chip[f"power_{k}"]) for k in CURVE}
    return {"power_w": override(rows, "power_w", chip["power_w"]), **curve}


def context(rows: pd.DataFrame, m: ModelArrays) -> np.ndarray:
    """Training context per scenario: its seq_len, else the model's own (one default everywhere)."""
    return override(rows, "seq_len", np.asarray(m.max_seq_len, dtype=np.float64))
