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
from glamsim.cost import communication as comm
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
DEFAULT_SEQS_PER_STEP = 1024
SEQS_PER_STEP_SOURCE = ("glamsim default: 1024 sequences per step (GLaM: batches of about 1M tokens = 1024 x 1024, "
                        "Du et al. 2022)")
DEFAULT_COMM_OVERLAP = 1.0
COMM_OVERLAP_SOURCE = ("glamsim default: communication hidden behind compute, as an end-to-end MFU already "
                       "includes it; give --comm-overlap < 1 to charge the exposed part")


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
                   carbon_intensity_gross_kg_per_kwh=np.nan, comm_hours=np.nan,
                   comm_overlap=DEFAULT_COMM_OVERLAP) -> dict[str, np.ndarray]:
    """All training outputs; give `mfu` (hours follow) or `hours` (the implied MFU follows).

    `comm_hours` (communication time, `glamsim.cost.communication`; NaN: not modelled) adds its
    exposed part, (1 - comm_overlap) x comm_hours, to the compute time; the given `mfu` is then the
    utilisation while computing and the returned `mfu` the end-to-end one.  With given `hours`, the
    compute time is what the exposed communication leaves of them."""
    if (mfu is None) == (hours is None):
        raise ConfigError("give exactly one of mfu and hours")
    overlap = np.asarray(comm_overlap, dtype=np.float64)
    exposed = np.where(overlap >= 1, 0.0, (1 - overlap) * np.asarray(comm_hours, dtype=np.float64))
    if hours is None:
        compute_chip_hours = chip_hours_from_flops(flops_total, peak_flops, mfu)
        chip_hours = compute_chip_hours + chips * exposed
        hours = chip_hours / chips
        mfu = mfu * compute_chip_hours / chip_hours
        compute_hours = compute_chip_hours / chips
    else:
        chip_hours = chips * np.asarray(hours, dtype=np.float64)
        mfu = implied_mfu(flops_total, chip_hours, peak_flops)
        compute_hours = hours - exposed
    e = energy_mwh(chip_hours, power_w, pue)
    return broadcast_outputs({
        "flops_total": flops_total,
        "chip_hours": chip_hours,
        "train_hours": hours,
        "compute_hours": compute_hours,
        "comm_hours": comm_hours,
        "comm_exposed_hours": exposed,
        "train_days": hours / H_PER_DAY,
        "mfu": mfu,
        "energy_mwh": e,
        "co2e_t": co2e_t(e, carbon_intensity_kg_per_kwh),
        "co2e_gross_t": co2e_t(e, carbon_intensity_gross_kg_per_kwh),
        "cost_usd": chip_hours * price_per_chip_hour_usd,
    }, chips, peak_flops, power_w, pue, carbon_intensity_kg_per_kwh, price_per_chip_hour_usd,
        carbon_intensity_gross_kg_per_kwh, comm_overlap)


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
    compute_hours: float
    comm_hours: float
    comm_exposed_hours: float
    ledger: Ledger
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    tornado: list[dict] = field(default_factory=list)
    communication: dict = field(default_factory=dict)  # bytes per step per chip (glamsim.cost.communication)
    warnings: list[str] = field(default_factory=list)  # valid but suspicious inputs, one line each

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("flops_total", "chip_hours", "train_hours", "compute_hours", "comm_hours",
                                           "comm_exposed_hours", "train_days", "mfu", "hfu", "energy_mwh", "co2e_t",
                                           "co2e_gross_t", "cost_usd")}
        d.update(self.communication)
        d["ranges"] = {k: list(v) for k, v in self.ranges.items()}
        d["tornado"] = self.tornado
        d["ledger"] = self.ledger.to_list()
        d["warnings"] = list(self.warnings)
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
    tokens_per_step: float | None = None,
    expert_parallel: int | None = None,
    comm_overlap: float = DEFAULT_COMM_OVERLAP,
    interconnect_gb_per_s: float | None = None,
    bytes_per_activation: float = 2.0,
    bytes_per_grad: float = 4.0,
    profiles_dirs: tuple = (),
) -> TrainingEstimate:
    """Time, energy, carbon and dollars of one training run, every input in the ledger.

    FLOPs: `train_flops` (published, measured or user-given, with `train_flops_source`), or the
    model FLOPs of `model` on `tokens`.  Time: `mfu` (default DEFAULT_MFU) or `hours`.
    `hw_flops_ratio` (hardware / model FLOPs, e.g. measured) only sets the reported `hfu`.
    Communication (needs `model`): `tokens_per_step` (default 1024 sequences), experts over
    `expert_parallel` chips (default gcd(chips, experts)), on the chip's interconnect; the
    exposed part (1 - comm_overlap) is charged on top of the compute time.
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
        tokens_total = tokens
        require("tokens", tokens, gt=0)
        if seq_len is not None:
            require("seq_len", seq_len, gt=0)
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

    comm_hours, comm_figures = _communication(
        led, chip, cfg if train_flops is None else None, tokens_total if train_flops is None else None,
        seq_len, chips, tokens_per_step, expert_parallel, comm_overlap, interconnect_gb_per_s,
        bytes_per_activation, bytes_per_grad)
    core = partial(training_costs, flops, chips, peak.value, hours=hours,
                   carbon_intensity_gross_kg_per_kwh=ci_gross, comm_hours=comm_hours, comm_overlap=comm_overlap)
    uncertain = {"power_w": power, "pue": pue_v, "carbon_intensity_kg_per_kwh": ci, "price_per_chip_hour_usd": price}
    if hours is None:
        uncertain["mfu"] = mfu
    nom = core(**{k: nominal(v) for k, v in uncertain.items()})
    one = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in nom.items()}
    if hours is not None and one["mfu"] > 1:
        raise ConfigError(f"hours={hours!r}: implies MFU {one['mfu']:.2f} > 1 (faster than {chips} chips' dense peak)")
    if one["compute_hours"] < 0:
        raise ConfigError(f"comm_overlap={comm_overlap!r}: the exposed communication ({one['comm_exposed_hours']:.3g} h) "
                          f"exceeds the given hours={hours!r}")
    hfu = one["mfu"] * hw_flops_ratio
    if hfu > 1:
        raise ConfigError(f"hw_flops_ratio={hw_flops_ratio!r}: implies hardware FLOPs utilisation {hfu:.2f} > 1")
    any_range = any(is_uncertain(v) for v in uncertain.values())
    return TrainingEstimate(
        **one, hfu=hfu, ledger=led, communication=comm_figures, warnings=_warnings(one, comm_figures, chips, comm_overlap),
        ranges=output_ranges(core, uncertain, RANGE_OUTPUTS) if any_range else {},
        tornado=tornado(core, uncertain, ["energy_mwh", "cost_usd"]) if any_range else [],
    )


def _warnings(one: dict, comm_figures: dict, chips: float, overlap: float) -> list[str]:
    """Valid inputs that deserve a second look: each a one-line warning carried by the estimate."""
    out = []
    seqs = comm_figures.get("sequences_per_step")
    if seqs is not None and chips > seqs:
        out.append(f"chips={chips:g} exceed the {seqs:g} sequences per step: some chips get no data "
                   "(give --tokens-per-step, or fewer chips)")
    if overlap >= 1 and one["comm_hours"] > one["compute_hours"]:
        out.append(f"communication ({one['comm_hours']:.3g} h) exceeds compute ({one['compute_hours']:.3g} h), but "
                   "--comm-overlap 1 (the default) hides all of it; give --comm-overlap < 1 to charge it")
    return out


def _communication(led: Ledger, chip: ChipProfile, cfg: ModelConfig | None, tokens: float | None, seq_len: int | None,
                   chips: float, tokens_per_step, expert_parallel, overlap, interconnect_gb_per_s,
                   bytes_per_activation, bytes_per_grad) -> tuple[float, dict]:
    """(communication hours before overlap, bytes per step per chip), every input in the ledger."""
    require("comm_overlap", overlap, ge=0, le=1)
    led.add("comm_overlap", overlap, "fraction of communication hidden behind compute",
            COMM_OVERLAP_SOURCE if overlap == DEFAULT_COMM_OVERLAP else "user input --comm-overlap")
    if cfg is None:
        if overlap < 1:
            raise ConfigError(f"comm_overlap={overlap!r}: counting communication needs --model and --tokens")
        led.add("communication", None, "", "not modelled: needs --model and --tokens")
        return np.nan, {}
    m = ModelArrays.of(cfg)
    if tokens_per_step is None:
        tokens_per_step = DEFAULT_SEQS_PER_STEP * (seq_len or cfg.max_seq_len)
        led.add("tokens_per_step", tokens_per_step, "tokens", SEQS_PER_STEP_SOURCE)
    else:
        require("tokens_per_step", tokens_per_step, gt=0)
        led.add("tokens_per_step", tokens_per_step, "tokens", "user input --tokens-per-step")
    expert_parallel = resolve_expert_parallel(cfg, chips, expert_parallel, led)
    require("bytes_per_activation", bytes_per_activation, gt=0)
    require("bytes_per_grad", bytes_per_grad, gt=0)
    led.add("bytes_per_activation", bytes_per_activation, "bytes",
            "glamsim default: bf16 activations" if bytes_per_activation == 2 else "user input")
    led.add("bytes_per_grad", bytes_per_grad, "bytes",
            "glamsim default: f32 gradients" if bytes_per_grad == 4 else "user input")
    bandwidth = resolve_interconnect(chip, led, interconnect_gb_per_s, needed=overlap < 1)
    out = comm.training_comm(m, tokens, tokens_per_step, chips, expert_parallel, bandwidth,
                             bytes_per_activation, bytes_per_grad)
    figures = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in out.items()}
    figures["sequences_per_step"] = tokens_per_step / (seq_len or cfg.max_seq_len)
    return figures["comm_s_per_step"] * figures["steps"] / S_PER_HOUR, figures


def resolve_expert_parallel(cfg: ModelConfig, chips, expert_parallel, led: Ledger) -> float:
    """Chips each MoE layer's experts are split over: the user's (dividing chips and experts), else
    gcd(chips, experts)."""
    if expert_parallel is None:
        x = float(comm.default_expert_parallel(ModelArrays.of(cfg), int(chips))[0])
        led.add("expert_parallel", x, "chips per expert group",
                "glamsim default: experts split over gcd(chips, experts) chips")
        return x
    ok = expert_parallel >= 1 and float(expert_parallel).is_integer() and chips % expert_parallel == 0 and (
        expert_parallel == 1 or (cfg.n_experts and cfg.n_experts % expert_parallel == 0))
    if not ok:
        raise ConfigError(f"expert_parallel={expert_parallel!r}: must divide chips={chips:g} and "
                          f"n_experts={cfg.n_experts} of {cfg.name}")
    led.add("expert_parallel", expert_parallel, "chips per expert group", "user input --expert-parallel")
    return float(expert_parallel)


def resolve_interconnect(chip: ChipProfile, led: Ledger, interconnect_gb_per_s: float | None, needed: bool) -> float:
    """Interconnect GB/s per chip: the user's, else the profile's; NaN (or an error when `needed`) if neither."""
    if interconnect_gb_per_s is not None:
        require("interconnect_gb_per_s", interconnect_gb_per_s, gt=0)
        led.add("interconnect_bandwidth_gb_per_s", interconnect_gb_per_s, "GB/s per chip",
                "user input --interconnect-gb-per-s")
        return interconnect_gb_per_s
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
