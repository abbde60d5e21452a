"""Training cost: FLOPs -> chip-hours, days, MWh, tCO2e and dollars.

Conventions: MFU is model FLOPs / (chips x seconds x the chip's dense peak for a named dtype:
bf16 by default, fp16 on the V100, never the sparsity figure).  Energy = chip-hours x power per
chip x PUE, with the power named (measured system power, or TDP x a stated fraction).
tCO2e = MWh x kg/kWh (the units cancel to tonnes).  Model FLOPs come from `glamsim.accounting`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np

from glamsim.accounting import ModelArrays, train_flops_per_token
from glamsim.config import ConfigError, ModelConfig, load_model
from glamsim.cost.ledger import Ledger
from glamsim.cost.uncertainty import Uncertain, is_uncertain, nominal, output_ranges, require, tornado
from glamsim.profiles import ChipProfile, DatacenterProfile, load_chip, load_datacenter

S_PER_HOUR = 3600.0
H_PER_DAY = 24.0
W_PER_MW = 1e6
DEFAULT_MFU = 0.3
DEFAULT_MFU_SOURCE = "glamsim default assumption (GLaM's published run implies about 0.28; give --mfu)"
TDP_FRACTION_SOURCE = "glamsim default: TDP x 1.0, an upper bound (give --tdp-fraction)"
RANGE_OUTPUTS = ["energy_mwh", "cost_usd", "co2e_t", "train_days"]


# ---- the vectorised core: every argument may be a numpy array; results broadcast ----------------

def chip_hours_from_flops(flops, peak_flops, mfu):
    return flops / (peak_flops * mfu) / S_PER_HOUR


def implied_mfu(flops, chip_hours, peak_flops):
    """The model-FLOPs utilisation a run of `chip_hours` implies."""
    return flops / (chip_hours * S_PER_HOUR * peak_flops)


def energy_mwh(chip_hours, power_w, pue):
    return chip_hours * power_w * pue / W_PER_MW


def co2e_t(energy_mwh, carbon_intensity_kg_per_kwh):
    return energy_mwh * carbon_intensity_kg_per_kwh


def training_costs(flops_total, chips, peak_flops, power_w, pue, carbon_intensity_kg_per_kwh,
                   price_per_chip_hour_usd, *, mfu=None, hours=None,
                   carbon_intensity_gross_kg_per_kwh=np.nan) -> dict[str, np.ndarray]:
    """All training outputs; give `mfu` (hours follow) or `hours` (the implied MFU follows)."""
    if (mfu is None) == (hours is None):
        raise ConfigError("give exactly one of mfu and hours")
    if hours is None:
        chip_hours = chip_hours_from_flops(flops_total, peak_flops, mfu)
        hours = chip_hours / chips
    else:
        chip_hours = chips * np.asarray(hours, dtype=np.float64)
        mfu = implied_mfu(flops_total, chip_hours, peak_flops)
    e = energy_mwh(chip_hours, power_w, pue)
    return broadcast_outputs({
        "flops_total": flops_total,
        "chip_hours": chip_hours,
        "train_hours": hours,
        "train_days": hours / H_PER_DAY,
        "mfu": mfu,
        "energy_mwh": e,
        "co2e_t": co2e_t(e, carbon_intensity_kg_per_kwh),
        "co2e_gross_t": co2e_t(e, carbon_intensity_gross_kg_per_kwh),
        "cost_usd": chip_hours * price_per_chip_hour_usd,
    }, chips, peak_flops, power_w, pue, carbon_intensity_kg_per_kwh, price_per_chip_hour_usd,
        carbon_intensity_gross_kg_per_kwh)


def broadcast_outputs(outputs: dict, *inputs) -> dict[str, np.ndarray]:
    """Every output at the broadcast shape of all outputs and inputs (one row per scenario)."""
    shape = np.broadcast_shapes(*(np.shape(v) for v in (*outputs.values(), *inputs)))
    return {k: np.broadcast_to(np.asarray(v, dtype=np.float64), shape) for k, v in outputs.items()}


# ---- resolving profile figures and user overrides, with provenance ------------------------------

def resolve_power(chip: ChipProfile, ledger: Ledger, power_w: Uncertain | None, power_source: str,
                  tdp_fraction: float) -> Uncertain:
    """Power per chip: the user's, else measured system power, else TDP x a stated fraction."""
    if power_w is not None:
        require("power_w", power_w, gt=0)
        ledger.add("power_w", power_w, "W per chip", power_source)
        return power_w
    if chip.measured_system_power_w is not None:
        v = chip.measured_system_power_w.value
        ledger.add_profile("power_w", v, "W per chip", chip.origin, "measured_system_power_w",
                           chip.measured_system_power_w)
        return v
    if chip.tdp_w is not None:
        require("tdp_fraction", tdp_fraction, gt=0, le=1)
        v = chip.tdp_w.value * tdp_fraction
        extra = f" x tdp_fraction {tdp_fraction:g}" + (f" [{TDP_FRACTION_SOURCE}]" if tdp_fraction == 1 else "")
        ledger.add_profile("power_w", v, "W per chip", chip.origin, "tdp_w", chip.tdp_w, extra)
        return v
    ledger.add("power_w", None, "W per chip", f"missing: profile {chip.origin} has no power figure; give --power-w")
    return np.nan


def resolve_price(chip: ChipProfile, ledger: Ledger, price: Uncertain | None, source: str) -> Uncertain:
    if price is not None:
        require("price_per_chip_hour_usd", price, ge=0)
        ledger.add("price_per_chip_hour_usd", price, "USD per chip-hour", source)
        return price
    if chip.price_per_chip_hour_usd is not None:
        v = chip.price_per_chip_hour_usd.value
        ledger.add_profile("price_per_chip_hour_usd", v, "USD per chip-hour", chip.origin,
                           "price_per_chip_hour_usd", chip.price_per_chip_hour_usd)
        return v
    ledger.add("price_per_chip_hour_usd", None, "USD per chip-hour",
               f"missing: profile {chip.origin} has no public price; give --price-per-chip-hour")
    return np.nan


def resolve_datacenter(dc: DatacenterProfile, ledger: Ledger, pue: Uncertain | None, pue_source: str,
                       carbon_intensity: Uncertain | None, ci_source: str) -> tuple[Uncertain, Uncertain, float]:
    """(pue, net carbon intensity, gross carbon intensity) with their sources in the ledger."""
    if pue is not None:
        require("pue", pue, ge=1)
        ledger.add("pue", pue, "ratio", pue_source)
    else:
        pue = dc.pue.value
        ledger.add_profile("pue", pue, "ratio", dc.origin, "pue", dc.pue)
    if carbon_intensity is not None:
        require("carbon_intensity_kg_per_kwh", carbon_intensity, ge=0)
        ledger.add("carbon_intensity_kg_per_kwh", carbon_intensity, "kgCO2e/kWh (net and gross)", ci_source)
        return pue, carbon_intensity, nominal(carbon_intensity)
    ci = dc.carbon_intensity_net_kg_per_kwh
    ledger.add_profile("carbon_intensity_kg_per_kwh", ci.value, "kgCO2e/kWh (net)", dc.origin,
                       "carbon_intensity_net_kg_per_kwh", ci)
    gross = dc.carbon_intensity_gross_kg_per_kwh
    if gross is None:
        ledger.add("carbon_intensity_gross_kg_per_kwh", None, "kgCO2e/kWh",
                   f"not published in profile {dc.origin}")
        return pue, ci.value, np.nan
    ledger.add_profile("carbon_intensity_gross_kg_per_kwh", gross.value, "kgCO2e/kWh (gross)", dc.origin,
                       "carbon_intensity_gross_kg_per_kwh", gross)
    return pue, ci.value, gross.value


def model_train_flops(cfg: ModelConfig, tokens: float, seq_len: int | None = None) -> float:
    """Model FLOPs of training `cfg` on `tokens` tokens (accounting: 3 x forward, full S x S attention)."""
    return float(train_flops_per_token(ModelArrays.of(cfg), seq_len or cfg.max_seq_len)[0]) * tokens


# ---- the single-scenario view ------------------------------------------------------------------

@dataclass
class TrainingEstimate:
    """One training scenario: nominal outputs, their ranges when inputs are uncertain, the ledger."""

    flops_total: float
    chip_hours: float
    train_hours: float
    train_days: float
    mfu: float
    hfu: float
    energy_mwh: float
    co2e_t: float
    co2e_gross_t: float
    cost_usd: float
    ledger: Ledger
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    tornado: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("flops_total", "chip_hours", "train_hours", "train_days", "mfu",
                                           "hfu", "energy_mwh", "co2e_t", "co2e_gross_t", "cost_usd")}
        d["ranges"] = {k: list(v) for k, v in self.ranges.items()}
        d["tornado"] = self.tornado
        d["ledger"] = self.ledger.to_list()
        return d


def estimate_training(
    *,
    chip: ChipProfile | str,
    chips: float,
    datacenter: DatacenterProfile | str = "glam-google-oklahoma",
    model: ModelConfig | str | None = None,
    tokens: float | None = None,
    seq_len: int | None = None,
    train_flops: float | None = None,
    train_flops_source: str = "user input --train-flops",
    mfu: Uncertain | None = None,
    mfu_source: str = "user input --mfu",
    hours: float | None = None,
    hours_source: str = "user input --hours",
    dtype: str | None = None,
    hw_flops_ratio: float = 1.0,
    hw_flops_ratio_source: str = "glamsim default: hardware FLOPs = model FLOPs",
    power_w: Uncertain | None = None,
    power_source: str = "user input --power-w",
    tdp_fraction: float = 1.0,
    pue: Uncertain | None = None,
    pue_source: str = "user input --pue",
    carbon_intensity: Uncertain | None = None,
    carbon_intensity_source: str = "user input --carbon-intensity",
    price_per_chip_hour: Uncertain | None = None,
    price_source: str = "user input --price-per-chip-hour",
    chips_source: str = "user input --chips",
    tokens_source: str = "user input --tokens",
    profiles_dirs: tuple = (),
) -> TrainingEstimate:
    """Time, energy, carbon and dollars of one training run, every input in the ledger.

    FLOPs: `train_flops` (published, measured or user-given, with `train_flops_source`), or the
    model FLOPs of `model` on `tokens`.  Time: `mfu` (default DEFAULT_MFU) or `hours`.
    `hw_flops_ratio` (hardware / model FLOPs, e.g. measured) only sets the reported `hfu`.
    """
    chip = chip if isinstance(chip, ChipProfile) else load_chip(chip, profiles_dirs)
    dc = datacenter if isinstance(datacenter, DatacenterProfile) else load_datacenter(datacenter, profiles_dirs)
    led = Ledger()
    require("chips", chips, gt=0)
    led.add("chips", chips, "chips", chips_source)
    if train_flops is not None:
        require("train_flops", train_flops, gt=0)
        flops = float(train_flops)
        led.add("flops_total", flops, "FLOPs", train_flops_source)
    else:
        if model is None or tokens is None:
            raise ConfigError("model/tokens: give --model and --tokens, or --train-flops")
        cfg = model if isinstance(model, ModelConfig) else load_model(model)
        require("tokens", tokens, gt=0)
        s = seq_len or cfg.max_seq_len
        flops = model_train_flops(cfg, tokens, s)
        led.add("tokens", tokens, "tokens", tokens_source)
        led.add("flops_total", flops, "FLOPs",
                f"preset {cfg.name}: glamsim.accounting model FLOPs (3 x forward, full S x S attention, seq_len {s})")
    field_name = chip.peak_field(dtype)
    peak = chip.spec(field_name)
    led.add_profile("peak_flops", peak.value, "FLOP/s per chip (dense)", chip.origin, field_name, peak)
    if hours is not None and mfu is not None:
        raise ConfigError(f"mfu={mfu!r}: give --mfu or --hours, not both")
    if hours is not None:
        require("hours", hours, gt=0)
        led.add("hours", hours, "h wall-clock", hours_source)
    else:
        if mfu is None:
            mfu, mfu_source = DEFAULT_MFU, DEFAULT_MFU_SOURCE
        require("mfu", mfu, gt=0, le=1)
        led.add("mfu", mfu, f"model FLOPs / dense {field_name.removeprefix('peak_flops_')} peak", mfu_source)
    require("hw_flops_ratio", hw_flops_ratio, gt=0)
    led.add("hw_flops_ratio", hw_flops_ratio, "hardware FLOPs / model FLOPs", hw_flops_ratio_source)
    power = resolve_power(chip, led, power_w, power_source, tdp_fraction)
    price = resolve_price(chip, led, price_per_chip_hour, price_source)
    pue_v, ci, ci_gross = resolve_datacenter(dc, led, pue, pue_source, carbon_intensity, carbon_intensity_source)

    core = partial(training_costs, flops, chips, peak.value, hours=hours,
                   carbon_intensity_gross_kg_per_kwh=ci_gross)
    uncertain = {"power_w": power, "pue": pue_v, "carbon_intensity_kg_per_kwh": ci, "price_per_chip_hour_usd": price}
    if hours is None:
        uncertain["mfu"] = mfu
    nom = core(**{k: nominal(v) for k, v in uncertain.items()})
    one = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in nom.items()}
    if hours is not None and one["mfu"] > 1:
        raise ConfigError(f"hours={hours!r}: implies MFU {one['mfu']:.2f} > 1 (faster than {chips} chips' dense peak)")
    hfu = one["mfu"] * hw_flops_ratio
    if hfu > 1:
        raise ConfigError(f"hw_flops_ratio={hw_flops_ratio!r}: implies hardware FLOPs utilisation {hfu:.2f} > 1")
    any_range = any(is_uncertain(v) for v in uncertain.values())
    return TrainingEstimate(
        **one, hfu=hfu, ledger=led,
        ranges=output_ranges(core, uncertain, RANGE_OUTPUTS) if any_range else {},
        tornado=tornado(core, uncertain, ["energy_mwh", "cost_usd"]) if any_range else [],
    )
