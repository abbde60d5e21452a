"""Training cost: FLOPs -> chip-hours, days, MWh, tCO2e and dollars.

Conventions: MFU is model FLOPs / (chips x seconds x the chip's dense peak for a named dtype:
bf16 by default, fp16 on the V100, never the sparsity figure).  Energy = chip-hours x power per
chip x PUE, with the power named (measured system power, or TDP x a stated fraction).
tCO2e = MWh x kg/kWh (the units cancel to tonnes).  Model FLOPs come from `glamsim.accounting`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from glamsim.accounting import memo, scalar_arrays, train_flops_per_token
from glamsim.config import ConfigError, ModelConfig
from glamsim.cost import communication as comm
from glamsim.cost import ops, resolve
from glamsim.cost.bundles import Hardware, Site, TrainingRun, routed
from glamsim.cost.ledger import Ledger
from glamsim.cost.power import CURVE
from glamsim.cost.power import power_w as power_at_load
from glamsim.cost.result import Estimate
from glamsim.cost.uncertainty import output_ranges, tornado
from glamsim.outputs import MFU_RANGE_KEYS, TRAINING_HEADLINE
from glamsim.profiles import ChipProfile
from glamsim.scenario import TrainingScenario
from glamsim.uncertain import is_uncertain, nominal

S_PER_HOUR = 3600.0
H_PER_DAY = 24.0
W_PER_MW = 1e6
W_PER_KW = 1e3
KWH_PER_MWH = 1e3
RANGE_OUTPUTS = [
    "energy_mwh",
    "cost_usd",
    "co2e_t",
    "co2e_location_t",
    "water_l",
    "train_days",
    "train_hours",
    "chip_hours",
    "compute_hours",
    "mfu_effective",
]
TORNADO_OUTPUTS = ["energy_mwh", "cost_usd", "co2e_t", "train_days"]
DEFAULT_SEQS_PER_STEP = 1024
FLOPS_SOURCE = "preset {}: glamsim.accounting model FLOPs (3 x forward, full S x S attention, seq_len {})"


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


def water_l(it_energy_kwh, facility_energy_kwh, wue_onsite_l_per_kwh, water_offsite_l_per_kwh):
    """(on-site, off-site) litres: IT energy x WUE (cooling water evaporated on site) and facility
    energy x the grid's water per kWh (consumed generating the electricity), Li et al. 2023's split."""
    return it_energy_kwh * wue_onsite_l_per_kwh, facility_energy_kwh * water_offsite_l_per_kwh


def training_costs(run: TrainingRun, hardware: Hardware, site: Site) -> dict:
    """All training outputs of a run (`glamsim.cost.bundles`): give its `mfu` (hours follow) or its
    `hours` (the implied MFU follows).

    Power follows the end-to-end MFU as tensor-core utilisation, unless `hardware.power_w` is a
    number.  `run.comm_hours` (communication time, `glamsim.cost.communication`; NaN: not
    modelled) adds its exposed part, (1 - comm_overlap) x comm_hours, to the compute time; the
    given `mfu` is then the utilisation while computing and the returned `mfu_effective` the
    end-to-end one.  With given `hours`, the compute time is what the exposed communication
    leaves of them.  Bundles of plain numbers give Python floats, columns give arrays
    (`glamsim.cost.ops.evaluate`)."""
    if (run.mfu is None) == (run.hours is None):
        raise ConfigError("give exactly one of mfu and hours")
    return ops.evaluate(_training_formula, run, hardware, site)


def at_mfu_range(run: TrainingRun, hardware: Hardware, site: Site, low, high) -> dict:
    """The headline (`glamsim.outputs.TRAINING_HEADLINE`) at the low and high ends of a predicted
    MFU's range, every other input at its nominal value: `train_days_at_mfu_low` (the longest),
    `..._at_mfu_high`.  The single estimate, the front door and studies all take them from here
    (columns in, columns out); the same numbers as the tornado's `mfu` row."""
    out = {}
    for end, mfu in (("low", low), ("high", high)):
        costs = training_costs(replace(run, mfu=mfu, hours=None), hardware, site)
        out.update({f"{o}_at_mfu_{end}": costs[o] for o in TRAINING_HEADLINE})
    return out


def _training_formula(xp, run: TrainingRun, hw: Hardware, site: Site) -> dict:
    """`training_costs`, written once for Python floats and numpy (`xp`: `glamsim.cost.ops`)."""
    chips, mfu, hours = run.chips, run.mfu, run.hours
    exposed = xp.where(run.comm_overlap >= 1, 0.0, (1 - run.comm_overlap) * run.comm_hours)
    if hours is None:
        compute_chip_hours = chip_hours_from_flops(run.flops_total, hw.peak_flops, mfu)
        chip_hours = compute_chip_hours + chips * exposed
        hours = chip_hours / chips
        mfu = mfu * compute_chip_hours / chip_hours
        compute_hours = compute_chip_hours / chips
    else:
        chip_hours = chips * hours
        mfu = implied_mfu(run.flops_total, chip_hours, hw.peak_flops)
        compute_hours = hours - exposed
    curve = (hw.power_idle_w, hw.power_tdp_w, hw.power_compute_w, hw.power_memory_w, hw.power_host_w)
    power = power_at_load(mfu, 0.0, hw.power_w, *curve, xp=xp)  # HBM traffic of training not modelled
    server = chip_hours * power / W_PER_MW  # the whole server: boards and their host share
    e = energy_mwh(chip_hours, power, site.pue)
    onsite, offsite = water_l(
        chip_hours * power / W_PER_KW, e * KWH_PER_MWH, site.wue_onsite_l_per_kwh, site.water_offsite_l_per_kwh
    )
    embodied = hw.embodied_kg_per_chip_hour, hw.host_embodied_kg_per_chip_hour
    return {
        "flops_total": run.flops_total,
        "chip_hours": chip_hours,
        "train_hours": hours,
        "compute_hours": compute_hours,
        "comm_hours": run.comm_hours,
        "comm_exposed_hours": exposed,
        "train_days": hours / H_PER_DAY,
        "mfu_effective": mfu,
        "power_w_per_chip": power,
        "energy_boards_mwh": server - chip_hours * hw.power_host_w / W_PER_MW,  # NaN where the host share is unknown
        "energy_server_mwh": server,
        "energy_mwh": e,
        "co2e_t": co2e_t(e, site.carbon_intensity_kg_per_kwh),
        "co2e_location_t": co2e_t(e, site.carbon_intensity_gross_kg_per_kwh),
        "embodied_boards_co2e_t": chip_hours * embodied[0] / 1e3,
        "embodied_host_co2e_t": chip_hours * embodied[1] / 1e3,
        "embodied_co2e_t": chip_hours * (embodied[0] + embodied[1]) / 1e3,
        "water_onsite_l": onsite,
        "water_offsite_l": offsite,
        "water_l": onsite + offsite,
        "cost_usd": chip_hours * site.price_per_chip_hour_usd,
    }


# Scenario fields that reach the formula as they are, in the run bundle: a new one needs its
# declaration and its formula only
DIRECT = resolve.direct_inputs(TrainingRun, TrainingScenario, {"chips", "mfu", "hours"})
CURVE_FIELDS = tuple((f"power_{k}", k) for k in CURVE)  # Hardware's field for each figure of the power curve


# ---- the single-scenario view ------------------------------------------------------------------


def model_train_flops(cfg: ModelConfig, tokens: float, seq_len: int | None = None) -> float:
    """Model FLOPs of training `cfg` on `tokens` tokens (accounting: 3 x forward, full S x S attention)."""
    seq = seq_len or cfg.max_seq_len
    per_token = memo(
        cfg, ("train_flops_per_token", seq), lambda: float(train_flops_per_token(scalar_arrays(cfg), seq))
    )  # once per config and seq_len
    return per_token * tokens


@dataclass
class TrainingEstimate(Estimate):
    """One training scenario (`glamsim.cost.result.Estimate`): `values` holds what
    `training_costs` returns, with `mfu` (the MFU the costs used: typed, measured, predicted, or
    implied by given hours) and `hfu`; beside them the communication bytes, warnings and the
    predicted layout."""

    communication: dict = field(default_factory=dict)  # bytes per step per chip (glamsim.cost.communication)
    warnings: list[str] = field(default_factory=list)  # valid but suspicious inputs, one line each
    prediction: dict | None = None  # glamsim.predict's layout, memory and step-time breakdown, when it set the MFU

    def extra(self) -> dict:
        return {**self.communication, "warnings": list(self.warnings), "prediction": self.prediction}


def estimate_training(
    scenario: TrainingScenario | None = None, /, *, profiles_dirs: tuple = (), **fields
) -> TrainingEstimate:
    """Time, energy, carbon and dollars of one training run, every input in the ledger.

    Give a `TrainingScenario`, or its fields as keywords (`model=`, `tokens=`, `chip=`, `chips=`,
    `mfu=`, ...; see `glamsim.scenario.TrainingScenario` for each with its unit and default).
    FLOPs: `train_flops`, or the model FLOPs of `model` on `tokens` at `seq_len` (default the
    model's context).  Time: `mfu` or `hours`; a `measured` record supplies the MFU when it ran on
    this chip, and its hardware/model FLOPs ratio (which sets the reported `hfu`).  Communication:
    `tokens_per_step`, experts over `expert_parallel` chips, on the interconnect; its exposed part
    (1 - comm_overlap) is charged on top of the compute time.  Computed by the same vectorised
    `training_costs` a sweep uses, on one row.
    """
    s = scenario.with_(**fields) if scenario is not None and fields else scenario
    s = s if s is not None else TrainingScenario.build(fields)
    cfg, chip, dc = resolve.profiles(s, profiles_dirs)
    notes = []
    if s.measured is not None:
        s, note = _apply_measurement(s, chip)
        notes.append(f"measured: {note}")
    led = Ledger()
    led.add_input(s, "chips", "chips")
    if s.train_flops is not None:
        flops, cfg = float(s.train_flops), None
        led.add_input(s, "train_flops", "FLOPs")
    else:
        seq = s.seq_len or cfg.max_seq_len
        flops = model_train_flops(cfg, s.tokens, seq)
        led.add("model", cfg.name, "", (s.source, "model"))
        led.add_input(s, "tokens", "tokens")
        led.add("seq_len", seq, "tokens", (s.source, "seq_len"))
        led.add("flops_total", flops, "FLOPs", (FLOPS_SOURCE.format, cfg.name, seq))
    peak_value = resolve.peak(chip, s, led)
    unit = f"model FLOPs / dense {s.dtype or chip.default_dtype} peak"  # the dtype `resolve.peak` checked
    predicted = None
    asked = s  # what the user asked (a predicted MFU is an answer, not an input: replaying asks again)
    if s.hours is not None:
        led.add_input(s, "hours", "h wall-clock")
    elif s.mfu is None:  # neither typed nor measured: predicted from the layout
        if s.comm_overlap < 1:
            raise ConfigError(
                f"comm_overlap={s.comm_overlap!r}: a predicted MFU already charges the exposed "
                "communication; give --mfu to charge it on top"
            )
        predicted = resolve.prediction(cfg, chip, s, led)
        src = (
            f"predicted by glamsim.predict for layout {predicted['layout']} "
            f"(global batch {predicted['global_batch']}; constants in glamsim/predict/efficiency.py; "
            f"{resolve.matmul_roof(chip)}; {resolve.attention_roof(predicted, chip, cfg, s.seq_len)})"
        )
        interval = resolve.mfu_interval(predicted, chip, cfg, s.seq_len or cfg.max_seq_len)
        changes = {"mfu": predicted["mfu"]}  # the scenario keeps the number; the range rides in `uncertain`
        sources = {"mfu": f"{src}; {interval.level:.0%} range from {interval.basis}"}
        if not s.given("hw_flops_ratio"):
            changes["hw_flops_ratio"] = predicted["hfu"] / predicted["mfu"]
            sources["hw_flops_ratio"] = f"{src}: predicted HFU / MFU"
        s = s.model_copy(update={**changes, "sources": {**s.sources, **sources}})  # computed, not typed: no re-check
        led.add_input(s, "mfu", unit)
    else:
        led.add_input(s, "mfu", unit)
    ratio = s.hw_flops_ratio if s.hw_flops_ratio is not None else 1.0
    led.add_input(s, "hw_flops_ratio", "hardware FLOPs / model FLOPs", ratio)
    curve = resolve.power_curve(chip, s, led)
    power = curve["fixed_w"]
    price = resolve.price(chip, s, led)
    pue, ci, ci_gross = resolve.datacenter(dc, s, led)
    notes += resolve.assumed_site(s, dc, pue, ci)
    embodied = resolve.embodied(chip, s, led)  # the board's and the host share's, per chip-hour
    wue, water_offsite = resolve.water(dc, led)
    comm_hours, comm_figures = _communication(s, led, chip, cfg, predicted)
    if predicted is not None:  # the layout's own communication is inside its MFU: one story, not two
        comm_hours = math.nan
    uncertain = {"power_w": power, "pue": pue, "carbon_intensity_kg_per_kwh": ci, "price_per_chip_hour_usd": price}
    if s.hours is None:
        uncertain["mfu"] = s.mfu if predicted is None else interval.around(s.mfu)
    nominals = {k: v if type(v) is float else nominal(v) for k, v in uncertain.items()}
    run = TrainingRun(flops, s.chips, nominals.get("mfu"), s.hours, comm_hours, **resolve.direct_values(s, DIRECT, led))
    hardware = Hardware(peak_value, nominals["power_w"], **{n: curve[k] for n, k in CURVE_FIELDS}, **embodied)
    site = Site(
        nominals["pue"],
        nominals["carbon_intensity_kg_per_kwh"],
        nominals["price_per_chip_hour_usd"],
        ci_gross,
        wue,
        water_offsite,
    )
    one = training_costs(run, hardware, site)
    share = resolve.layout_exposed_share(predicted) if predicted is not None else math.nan
    one["layout_comm_exposed_hours"] = one["train_hours"] * share
    if s.hours is not None and one["mfu_effective"] > 1:
        raise ConfigError(
            f"hours={s.hours!r}: implies MFU {one['mfu_effective']:.2f} > 1 (faster than {s.chips} chips' dense peak)"
        )
    if one["compute_hours"] < 0:
        raise ConfigError(
            f"comm_overlap={s.comm_overlap!r}: the exposed communication "
            f"({one['comm_exposed_hours']:.3g} h) exceeds the given hours={s.hours!r}"
        )
    hfu = one["mfu_effective"] * ratio
    if hfu > 1:
        raise ConfigError(f"hw_flops_ratio={ratio!r}: implies hardware FLOPs utilisation {hfu:.2f} > 1")
    any_range = nominals != uncertain and any(is_uncertain(v) for v in uncertain.values())  # all plain: none
    core = routed(training_costs, (run, hardware, site)) if any_range else None
    used = one["mfu_effective"] if s.hours is not None else nominals["mfu"]
    low, _, high = uncertain["mfu"] if predicted is not None else (math.nan,) * 3  # a predicted MFU's range
    ends = (
        at_mfu_range(run, hardware, site, low, high)
        if predicted is not None
        else dict.fromkeys(MFU_RANGE_KEYS, math.nan)
    )
    return TrainingEstimate(
        values={"mfu": used, **one, "hfu": hfu, "mfu_low": low, "mfu_high": high, **ends},
        ledger=led,
        communication=comm_figures,
        scenario=asked,
        notes=notes,
        prediction=predicted,
        warnings=_warnings(one, comm_figures, s.chips, s.comm_overlap) if predicted is None else _tight(predicted),
        ranges=output_ranges(core, uncertain, RANGE_OUTPUTS) if any_range else {},
        tornado=tornado(core, uncertain, TORNADO_OUTPUTS) if any_range else [],
    )


def _apply_measurement(s: TrainingScenario, chip: ChipProfile) -> tuple[TrainingScenario, str]:
    """The scenario with a measurement record's figures (unless the user gave them) and a note."""
    from glamsim.cost.measured import measured_inputs
    from glamsim.records import load_measurement

    got, got_sources, note = measured_inputs(load_measurement(s.measured), chip, origin=s.measured)
    changes, sources = {}, {}
    if not s.given("hw_flops_ratio"):
        changes["hw_flops_ratio"], sources["hw_flops_ratio"] = got["hw_flops_ratio"], got_sources["hw_flops_ratio"]
    if "mfu" in got:
        if s.given("mfu") or s.hours is not None:
            note = "--mfu/--hours given: the measured MFU is not used; its FLOPs ratio is"
        else:
            changes["mfu"], sources["mfu"] = got["mfu"], got_sources["mfu"]
    return s.with_(**changes, sources={**s.sources, **sources}), note


def _tight(predicted: dict) -> list[str]:
    """The predicted layout's memory warning: counted over the usable HBM, within the count's error."""
    return [] if predicted["fits"] else [f"memory: tight: {predicted['shortfall_message']}"]


def _warnings(one: dict, comm_figures: dict, chips: float, overlap: float) -> list[str]:
    """Valid inputs that deserve a second look: each a one-line warning carried by the estimate.  Not
    with a predicted MFU: its layout sets the batch, and its step already charges the communication it
    exposes, so advice to charge more (--comm-overlap < 1) would count it twice."""
    out = []
    seqs = comm_figures.get("sequences_per_step")
    if seqs is not None and chips > seqs:
        out.append(
            f"chips={chips:g} exceed the {seqs:g} sequences per step: some chips get no data "
            "(give --tokens-per-step, or fewer chips)"
        )
    if overlap >= 1 and one["comm_hours"] > one["compute_hours"]:
        out.append(
            f"communication ({one['comm_hours']:.3g} h) exceeds compute ({one['compute_hours']:.3g} h), but "
            "--comm-overlap 1 (the default) hides all of it; give --comm-overlap < 1 to charge it"
        )
    return out


def _communication(
    s: TrainingScenario, led: Ledger, chip: ChipProfile, cfg: ModelConfig | None, predicted: dict | None = None
) -> tuple[float, dict]:
    """(communication hours before overlap, bytes per step per chip), every input in the ledger; with
    a predicted layout, at its global batch (the steps and sequences per step it runs)."""
    if cfg is None:
        if s.comm_overlap < 1:
            raise ConfigError(f"comm_overlap={s.comm_overlap!r}: counting communication needs --model and --tokens")
        led.add("communication", None, "", "not modelled: needs --model and --tokens")
        return math.nan, {}
    seq = s.seq_len or cfg.max_seq_len
    if predicted is not None and not s.given("tokens_per_step"):
        tokens_per_step = float(predicted["global_batch"]) * seq
        led.add("tokens_per_step", tokens_per_step, "tokens", f"the predicted layout's: {predicted['layout']}")
    else:
        tokens_per_step = s.tokens_per_step or DEFAULT_SEQS_PER_STEP * seq
        led.add_input(s, "tokens_per_step", "tokens", tokens_per_step)
    x = expert_parallel(cfg, s, led)
    led.add_input(s, "bytes_per_activation", "bytes")
    led.add_input(s, "bytes_per_grad", "bytes")
    bandwidth = resolve.interconnect(chip, s, led, needed=s.comm_overlap < 1)
    bpa, bpg = s.bytes_per_activation, s.bytes_per_grad
    per_step = memo(  # bytes per step per chip: once per configuration, step, chips and experts' split
        cfg,
        ("training_comm_bytes", tokens_per_step, s.chips, x, bpa, bpg),
        lambda: _floats(comm.training_comm_bytes(scalar_arrays(cfg), tokens_per_step, s.chips, x, bpa, bpg)),
    )
    figures = comm.comm_times(per_step, s.tokens, tokens_per_step, bandwidth)
    figures["sequences_per_step"] = tokens_per_step / seq
    return figures["comm_s_per_step"] * figures["steps"] / S_PER_HOUR, figures


def _floats(out: dict) -> dict[str, float]:
    """The first (or only) value of each output, as a Python float (numpy only for array values)."""
    return {k: float(v) if type(v) in (float, int) else _first(v) for k, v in out.items()}


def _first(v) -> float:
    import numpy as np

    return float(np.asarray(v).reshape(-1)[0])


def expert_parallel(cfg: ModelConfig, s: TrainingScenario, led: Ledger) -> float:
    """Chips each MoE layer's experts are split over: the scenario's (dividing chips and experts),
    else gcd(chips, experts)."""
    x = s.expert_parallel
    if x is None:
        chips = int(s.chips)
        x = comm.default_expert_parallel(scalar_arrays(cfg), chips)
        led.add(
            "expert_parallel",
            x,
            "chips per expert group",
            "glamsim default: experts split over gcd(chips, experts) chips",
        )
        return x
    if s.chips % x or not (x == 1 or (cfg.n_experts and cfg.n_experts % x == 0)):
        raise ConfigError(
            f"expert_parallel={x!r}: must divide chips={s.chips:g} and n_experts={cfg.n_experts} of {cfg.name}"
        )
    led.add_input(s, "expert_parallel", "chips per expert group")
    return float(x)
