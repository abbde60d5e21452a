"""From a scenario to numbers: profile figures and the scenario's overrides, each with its source.

Training and serving estimates (and the study sweeps) resolve power, price, datacenter and
interconnect by the same rules here: the scenario's own value where it gives one, else the
profile's field, else a stated default or NaN ("not modelled"), and every figure is written to the
ledger with where it came from.
"""

from __future__ import annotations

import numpy as np

from glamsim.config import ConfigError, ModelConfig, load_model
from glamsim.cost.ledger import Ledger
from glamsim.profiles import ChipProfile, DatacenterProfile, load_chip, load_datacenter
from glamsim.scenario import Scenario
from glamsim.uncertain import Uncertain, nominal


def profiles(s: Scenario, profiles_dirs: tuple = ()) -> tuple[ModelConfig, ChipProfile, DatacenterProfile]:
    """The scenario's model, chip and datacenter as objects (names and paths loaded)."""
    cfg = s.model if isinstance(s.model, ModelConfig) else load_model(s.model)
    chip = s.chip if isinstance(s.chip, ChipProfile) else load_chip(s.chip, profiles_dirs)
    dc = s.datacenter if isinstance(s.datacenter, DatacenterProfile) else load_datacenter(s.datacenter, profiles_dirs)
    return cfg, chip, dc


def peak(chip: ChipProfile, s: Scenario, led: Ledger) -> float:
    """The chip's dense peak FLOP/s for the scenario's dtype (default: the chip's own)."""
    field_name = chip.peak_field(s.dtype)
    spec = chip.spec(field_name)
    led.add_profile("peak_flops", spec.value, "FLOP/s per chip (dense)", chip.origin, field_name, spec)
    return spec.value


def power(chip: ChipProfile, s: Scenario, led: Ledger) -> Uncertain:
    """Power per chip: the scenario's, else measured system power, else TDP x a stated fraction."""
    if s.power_w is not None:
        led.add("power_w", s.power_w, "W per chip", s.source("power_w"))
        return s.power_w
    if chip.measured_system_power_w is not None:
        v = chip.measured_system_power_w.value
        led.add_profile("power_w", v, "W per chip", chip.origin, "measured_system_power_w",
                        chip.measured_system_power_w)
        return v
    if chip.tdp_w is not None:
        v = chip.tdp_w.value * s.tdp_fraction
        extra = f" x tdp_fraction {s.tdp_fraction:g} [{s.source('tdp_fraction')}]"
        led.add_profile("power_w", v, "W per chip", chip.origin, "tdp_w", chip.tdp_w, extra)
        return v
    led.add("power_w", None, "W per chip", f"missing: profile {chip.origin} has no power figure; give --power-w")
    return np.nan


def price(chip: ChipProfile, s: Scenario, led: Ledger) -> Uncertain:
    """USD per chip-hour: the scenario's, else the chip's published price, else NaN."""
    if s.price_per_chip_hour_usd is not None:
        led.add("price_per_chip_hour_usd", s.price_per_chip_hour_usd, "USD per chip-hour",
                s.source("price_per_chip_hour_usd"))
        return s.price_per_chip_hour_usd
    spec = chip.price_per_chip_hour_usd
    if spec is not None:
        led.add_profile("price_per_chip_hour_usd", spec.value, "USD per chip-hour", chip.origin,
                        "price_per_chip_hour_usd", spec)
        return spec.value
    led.add("price_per_chip_hour_usd", None, "USD per chip-hour",
            f"missing: profile {chip.origin} has no public price; give --price-per-chip-hour-usd")
    return np.nan


def datacenter(dc: DatacenterProfile, s: Scenario, led: Ledger) -> tuple[Uncertain, Uncertain, float]:
    """(pue, net carbon intensity, gross carbon intensity) with their sources in the ledger."""
    if s.pue is not None:
        pue = s.pue
        led.add("pue", pue, "ratio", s.source("pue"))
    else:
        pue = dc.pue.value
        led.add_profile("pue", pue, "ratio", dc.origin, "pue", dc.pue)
    if s.carbon_intensity_kg_per_kwh is not None:
        ci = s.carbon_intensity_kg_per_kwh
        led.add("carbon_intensity_kg_per_kwh", ci, "kgCO2e/kWh (net and gross)", s.source("carbon_intensity_kg_per_kwh"))
        return pue, ci, nominal(ci)
    net = dc.carbon_intensity_net_kg_per_kwh
    led.add_profile("carbon_intensity_kg_per_kwh", net.value, "kgCO2e/kWh (net)", dc.origin,
                    "carbon_intensity_net_kg_per_kwh", net)
    gross = dc.carbon_intensity_gross_kg_per_kwh
    if gross is None:
        led.add("carbon_intensity_gross_kg_per_kwh", None, "kgCO2e/kWh", f"not published in profile {dc.origin}")
        return pue, net.value, np.nan
    led.add_profile("carbon_intensity_gross_kg_per_kwh", gross.value, "kgCO2e/kWh (gross)", dc.origin,
                    "carbon_intensity_gross_kg_per_kwh", gross)
    return pue, net.value, gross.value


def interconnect(chip: ChipProfile, s: Scenario, led: Ledger, needed: bool) -> float:
    """Interconnect GB/s per chip: the scenario's, else the profile's; NaN (an error when `needed`)."""
    if s.interconnect_gb_per_s is not None:
        led.add("interconnect_bandwidth_gb_per_s", s.interconnect_gb_per_s, "GB/s per chip",
                s.source("interconnect_gb_per_s"))
        return s.interconnect_gb_per_s
    spec = chip.interconnect_bandwidth_gb_per_s
    if spec is not None:
        led.add_profile("interconnect_bandwidth_gb_per_s", spec.value, "GB/s per chip", chip.origin,
                        "interconnect_bandwidth_gb_per_s", spec)
        return spec.value
    if needed:
        raise ConfigError(f"chip={chip.name!r}: its profile has no interconnect_bandwidth_gb_per_s; "
                          "give --interconnect-gb-per-s")
    led.add("interconnect_bandwidth_gb_per_s", None, "GB/s per chip",
            f"missing: profile {chip.origin} has no interconnect figure")
    return np.nan


def record(s: Scenario, led: Ledger, name: str, unit: str, value=None) -> None:
    """Ledger entry of a plain scenario field (its value, or a derived `value`, with its source)."""
    led.add(name, getattr(s, name) if value is None else value, unit, s.source(name))


def prediction(cfg: ModelConfig | None, chip: ChipProfile, s, led: Ledger) -> dict:
    """The MFU predicted by `glamsim.predict` for the scenario's layout, or for the fastest layout
    that fits (`glamsim plan`), with the layout, memory per chip and step-time breakdown."""
    from glamsim.predict import evaluate
    from glamsim.predict.plan import best

    if cfg is None:
        raise ConfigError("mfu=None: predicting the utilisation needs --model and --tokens; "
                          "with --train-flops give --mfu or --hours")
    kw = dict(seq_len=s.seq_len or cfg.max_seq_len, global_batch=s.global_batch, dtype=s.dtype)
    if s.layout is not None:
        p = evaluate(cfg, chip, s.layout, chips=s.chips, **kw)
        if not p["fits"]:
            raise ConfigError(f"layout={s.layout!r}: does not fit: {p['shortfall_message']}")
    else:
        p = best(cfg, chip, s.chips, **kw)
    led.add("layout", p["layout"], "", s.source("layout"))
    return p
