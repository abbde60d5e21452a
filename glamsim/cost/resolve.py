"""From a scenario to numbers: profile figures and the scenario's overrides, each with its source.

Training and serving estimates (and the study sweeps) resolve power, price, datacenter and
interconnect by the same rules here: the scenario's own value where it gives one, else the
profile's field, else a stated default or NaN ("not modelled"), and every figure is written to the
ledger with where it came from.
"""

from __future__ import annotations

import math
from functools import cache

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


_PROFILE_STEPS: dict = {}  # (id(profile), step, *key) -> (profile, result, ledger rows)


def _once(led: Ledger | None, profile, key: tuple, compute):
    """`compute(ledger)`'s result and ledger rows for an immutable profile, computed once per `key`
    and replayed after: what depends on the profile alone is resolved once per process, not once per
    estimate (a sweep of single estimates pays for its chip once).  The entry holds the profile, so
    its id cannot be reused while it is cached; `compute` must write no scenario rows."""
    k = (id(profile), *key)
    hit = _PROFILE_STEPS.get(k)
    if hit is None:
        part = Ledger()
        result = compute(part)
        if len(_PROFILE_STEPS) >= 1024:  # bounded: the oldest entry goes (profiles built in a loop come and go)
            del _PROFILE_STEPS[next(iter(_PROFILE_STEPS))]
        hit = _PROFILE_STEPS[k] = (profile, result, part.rows())
    if led is not None:
        led.extend(hit[2])
    return hit[1]


def peak(chip: ChipProfile, s: Scenario, led: Ledger) -> float:
    """The chip's dense peak FLOP/s for the scenario's dtype (default: the chip's own)."""
    return _once(led, chip, ("peak", s.dtype), lambda part: _peak(chip, s.dtype, part))


def _peak(chip: ChipProfile, dtype, led: Ledger) -> float:
    field_name = chip.peak_field(dtype)
    spec = chip.spec(field_name)
    led.add_profile("peak_flops", spec.value, "FLOP/s per chip (dense)", chip.origin, field_name, spec)
    return spec.value


def power(chip: ChipProfile, s: Scenario, led: Ledger) -> Uncertain:
    """Fixed power per chip (host share included), or NaN when it follows the load
    (`power_curve`): the scenario's, else measured system power, else (power_model tdp) TDP x a
    stated fraction."""
    return power_curve(chip, s, led)["fixed_w"]


REFERENCE_CHIP = "h100-sxm"  # the chip whose published phase powers calibrate the activity coefficients
_NO_CURVE = dict.fromkeys(("idle_w", "tdp_w", "compute_w", "memory_w"), math.nan)


def power_curve(chip: ChipProfile, s: Scenario, led: Ledger) -> dict:
    """{fixed_w, idle_w, tdp_w, compute_w, memory_w, host_w}: `glamsim.cost.power.power_w`'s
    figures for the chip: server power per chip = fixed_w where it is a number, else the board
    (idle + compute_w x u_c + memory_w x u_m, capped at TDP) plus host_w; `host_w` is also the host
    share that separates the boards' energy from the server's (NaN: not known, for a given power
    per chip; 0 under `tdp` accounting, whose convention has none).  Each figure in the ledger says
    which it is (given, published system power, activity model plus host share, TDP x fraction)."""
    if s.power_w is not None:
        led.add_input(s, "power_w", "W per chip (given, server boundary: host share included; at every load)")
        led.add("host_power_w", None, "W per chip", "not known: a given power per chip has no board/host split")
        return {"fixed_w": s.power_w, **_NO_CURVE, "host_w": math.nan}
    if chip.tdp_w is None and chip.measured_system_power_w is None:
        led.add("power_w", None, "W per chip", f"missing: profile {chip.origin} has no power figure; give --power-w")
        return {"fixed_w": math.nan, **_NO_CURVE, "host_w": math.nan}
    if s.power_model == "tdp" and chip.tdp_w is not None:
        v = chip.tdp_w.value * s.tdp_fraction
        extra = (
            f" x tdp_fraction {s.tdp_fraction:g} [{s.source('tdp_fraction')}]; power_model tdp "
            f"[{s.source('power_model')}]: the boards at TDP at every load, no host share (the convention of "
            "TDP x GPU-hours x PUE reports)"
        )
        led.add_profile("power_w", v, "W per chip (TDP x fraction)", chip.origin, "tdp_w", chip.tdp_w, extra)
        led.add("host_power_w", 0.0, "W per chip", "tdp accounting: no host share")
        return {"fixed_w": v, **_NO_CURVE, "host_w": 0.0}
    host = _once(led, chip, ("host",), lambda part: _host_share(chip, part))
    if chip.measured_system_power_w is not None:
        v = chip.measured_system_power_w.value
        led.add_profile(
            "power_w",
            v,
            "W per chip (published measured system power, host share included; used at every load)",
            chip.origin,
            "measured_system_power_w",
            chip.measured_system_power_w,
        )
        return {"fixed_w": v, **_NO_CURVE, "host_w": host}
    led.add_input(s, "power_model", "")
    return {"fixed_w": math.nan, **_once(led, chip, ("board",), lambda part: _board_curve(chip, part)), "host_w": host}


def _board_curve(chip: ChipProfile, led: Ledger) -> dict:
    """{idle_w, tdp_w, compute_w, memory_w} of the load-following board, each in the ledger."""
    tdp = chip.tdp_w.value
    led.add_profile("board_tdp_w", tdp, "W per chip (board cap)", chip.origin, "tdp_w", chip.tdp_w)
    if chip.idle_power_w is not None:
        idle = chip.idle_power_w.value
        led.add_profile(
            "board_idle_w", idle, "W per chip (board at zero activity)", chip.origin, "idle_power_w", chip.idle_power_w
        )
    else:
        idle = tdp
        led.add(
            "board_idle_w",
            idle,
            "W per chip",
            f"profile {chip.origin} has no idle_power_w: the board is charged its TDP at every load (an upper bound)",
        )
    active = {k: _activity_w(chip, k, tdp - idle, led) for k in ("compute_power_w", "memory_power_w")}
    led.add(
        "power_w",
        None,
        "W per chip (system: min(TDP, idle + compute_w x u_c + memory_w x u_m) + host share)",
        "glamsim.cost.power: the board from the step's tensor-core and HBM utilisation, capped at TDP, plus the "
        "host share; the utilisations and the resulting power are reported with the outputs",
    )
    return {"idle_w": idle, "tdp_w": tdp, "compute_w": active["compute_power_w"], "memory_w": active["memory_power_w"]}


def _activity_w(chip: ChipProfile, field: str, span_w: float, led: Ledger) -> float:
    """Board watts above idle at full tensor-core (`compute_power_w`) or HBM (`memory_power_w`)
    activity: the profile's, else a labelled estimate by one rule: the reference chip's figure as a
    fraction of its dynamic range (TDP - idle), times this chip's range."""
    unit = f"W per chip above idle at full {'tensor-core' if field == 'compute_power_w' else 'HBM'} utilisation"
    spec = chip.spec(field)
    if spec is not None:
        led.add_profile(field, spec.value, unit, chip.origin, field, spec)
        return spec.value
    fraction, ref_source = _reference_fraction(field)
    v = fraction * span_w
    led.add(
        field,
        v,
        unit,
        (_estimate_source, chip.origin, field, fraction, ref_source, span_w),
    )
    return v


@cache
def _reference_fraction(field: str) -> tuple[float, str]:
    """(the reference chip's `field` as a fraction of its TDP - idle, that figure's source)."""
    ref = load_chip(REFERENCE_CHIP)
    return ref.spec(field).value / (ref.tdp_w.value - ref.idle_power_w.value), ref.spec(field).source


def _estimate_source(origin: str, field: str, fraction: float, ref_source: str, span_w: float) -> str:
    return (
        f"estimate (glamsim): profile {origin} publishes no {field}; {REFERENCE_CHIP}'s {fraction:.3g} of its "
        f"TDP - idle ({ref_source}) times this chip's TDP - idle ({span_w:g} W)"
    )


def assumed_site(s: Scenario, dc: DatacenterProfile, pue, carbon_intensity) -> list[str]:
    """One line saying which grid and PUE an estimate assumed, when no datacenter was named."""
    if s.given("datacenter"):
        return []
    return [
        f"assumed: no datacenter named, so {dc.name} ({dc.description}): PUE {nominal(pue):g}, grid "
        f"{nominal(carbon_intensity):g} kgCO2e/kWh (give --datacenter)"
    ]


def _host_share(chip: ChipProfile, led: Ledger) -> float:
    """The chip's host share per chip (CPUs, memory, NICs, switches, fans), by one rule for every chip:
    its reference server's published maximum system power over its chips, minus the board TDP (or a
    sourced estimate labelled as such, in the profile); 0 where a user profile has none."""
    if chip.host_power_w is not None:
        host = chip.host_power_w.value
        led.add_profile(
            "host_power_w",
            host,
            "W per chip (host share: CPUs, memory, NICs, switches, fans)",
            chip.origin,
            "host_power_w",
            chip.host_power_w,
        )
        return host
    led.add(
        "host_power_w",
        0.0,
        "W per chip",
        f"profile {chip.origin} has no host_power_w: board only (a lower bound of system power)",
    )
    return 0.0


def precision_bytes(s, led: Ledger) -> tuple[float, float]:
    """(bytes per weight, bytes per KV-cache value) of a serving scenario, from its precisions
    (bf16 2, fp8 1, int8 1, int4 0.5) or the bytes given instead, with their sources."""
    (bpp, src_w), (bkv, src_kv) = s.bytes_per_weight(), s.bytes_per_kv_value()
    led.add("bytes_per_param", bpp, "bytes per weight", src_w)
    led.add("bytes_per_kv", bkv, "bytes per KV-cache value", src_kv)
    return bpp, bkv


def price(chip: ChipProfile, s: Scenario, led: Ledger) -> Uncertain:
    """USD per chip-hour: the scenario's, else the chip's published price, else NaN."""
    if s.price_per_chip_hour_usd is not None:
        led.add(
            "price_per_chip_hour_usd",
            s.price_per_chip_hour_usd,
            "USD per chip-hour",
            s.source("price_per_chip_hour_usd"),
        )
        return s.price_per_chip_hour_usd
    spec = chip.price_per_chip_hour_usd
    if spec is not None:
        led.add_profile(
            "price_per_chip_hour_usd", spec.value, "USD per chip-hour", chip.origin, "price_per_chip_hour_usd", spec
        )
        return spec.value
    led.add(
        "price_per_chip_hour_usd",
        None,
        "USD per chip-hour",
        f"missing: profile {chip.origin} has no public price; give --price-per-chip-hour-usd",
    )
    return math.nan


def datacenter(dc: DatacenterProfile, s: Scenario, led: Ledger) -> tuple[Uncertain, Uncertain, float]:
    """(pue, net carbon intensity, gross carbon intensity) with their sources in the ledger."""
    if s.pue is not None:
        pue = s.pue
        led.add_input(s, "pue", "ratio")
    else:
        pue = dc.pue.value
        led.add_profile("pue", pue, "ratio", dc.origin, "pue", dc.pue)
    if s.carbon_intensity_kg_per_kwh is not None:
        ci = s.carbon_intensity_kg_per_kwh
        led.add(
            "carbon_intensity_kg_per_kwh", ci, "kgCO2e/kWh (net and gross)", s.source("carbon_intensity_kg_per_kwh")
        )
        return pue, ci, nominal(ci)
    return (pue, *_once(led, dc, ("grid",), lambda part: _grid(dc, part)))


def _grid(dc: DatacenterProfile, led: Ledger) -> tuple[float, float]:
    """(net, gross) carbon intensity of the datacenter's grid, with their sources."""
    net = dc.carbon_intensity_net_kg_per_kwh
    led.add_profile(
        "carbon_intensity_kg_per_kwh", net.value, "kgCO2e/kWh (net)", dc.origin, "carbon_intensity_net_kg_per_kwh", net
    )
    gross = dc.carbon_intensity_gross_kg_per_kwh
    if gross is None:
        led.add("carbon_intensity_gross_kg_per_kwh", None, "kgCO2e/kWh", f"not published in profile {dc.origin}")
        return net.value, math.nan
    led.add_profile(
        "carbon_intensity_gross_kg_per_kwh",
        gross.value,
        "kgCO2e/kWh (gross)",
        dc.origin,
        "carbon_intensity_gross_kg_per_kwh",
        gross,
    )
    return net.value, gross.value


WATER_MISSING = "not modelled: profile {} publishes no {}; water outputs are NaN"


def water(dc: DatacenterProfile, led: Ledger) -> tuple[float, float]:
    """(on-site WUE in litres per kWh of IT energy, off-site litres per kWh of facility energy) of the
    datacenter, with their sources; NaN, said in the ledger, where the profile publishes none."""
    return _once(led, dc, ("water",), lambda part: _water(dc, part))


def _water(dc: DatacenterProfile, led: Ledger) -> tuple[float, float]:
    out = []
    for field, unit, what in (
        ("wue_onsite_l_per_kwh", "L per kWh of IT energy (on-site cooling)", "on-site WUE"),
        ("water_offsite_l_per_kwh", "L per kWh of facility energy (electricity generation)", "off-site water"),
    ):
        spec = getattr(dc, field)
        if spec is None:
            led.add(field, None, unit, (WATER_MISSING.format, dc.origin, what))  # text formatted when read
            out.append(math.nan)
        else:
            led.add_profile(field, spec.value, unit, dc.origin, field, spec)
            out.append(spec.value)
    return out[0], out[1]


H_PER_YEAR = 8760.0


def embodied(chip: ChipProfile, s: Scenario, led: Ledger) -> dict[str, float]:
    """Embodied (manufacturing) kgCO2e per chip-hour, {embodied_kg_per_chip_hour: the board's,
    host_embodied_kg_per_chip_hour: its share of the host server (CPUs, DRAM, SSDs, NICs,
    chassis)}: each footprint spread over the chip's working hours, chip_lifetime_years x 8760 h x
    chip_lifetime_utilisation; NaN where the profile has no footprint (said in the ledger)."""
    record(s, led, "chip_lifetime_years", "years")
    record(s, led, "chip_lifetime_utilisation", "fraction of the lifetime")
    years, use = s.chip_lifetime_years, s.chip_lifetime_utilisation
    return dict(
        _once(led, chip, ("embodied", years, use), lambda part: _embodied(chip, years * H_PER_YEAR * use, part))
    )


def _embodied(chip: ChipProfile, hours: float, led: Ledger) -> dict[str, float]:
    out = {}
    for field, key, what in (
        ("embodied_kgco2e", "embodied_kg_per_chip_hour", "the board"),
        ("host_embodied_kgco2e", "host_embodied_kg_per_chip_hour", "the host server's share per chip"),
    ):
        spec = chip.spec(field)
        if spec is None:
            led.add(
                field,
                None,
                "kgCO2e per chip",
                f"not modelled: profile {chip.origin} has no {field} (no product carbon footprint or published LCA "
                f"figure for {what} in glamsim's profiles); its embodied carbon is NaN",
            )
            out[key] = math.nan
            continue
        led.add_profile(field, spec.value, f"kgCO2e per chip ({what})", chip.origin, field, spec)
        out[key] = spec.value / hours
        led.add(
            key,
            out[key],
            "kgCO2e per chip-hour",
            f"{field} / (chip_lifetime_years x 8760 h x chip_lifetime_utilisation)",
        )
    return out


def interconnect(chip: ChipProfile, s: Scenario, led: Ledger, needed: bool) -> float:
    """Interconnect GB/s per chip: the scenario's, else the profile's; NaN (an error when `needed`)."""
    if s.interconnect_gb_per_s is not None:
        led.add(
            "interconnect_bandwidth_gb_per_s",
            s.interconnect_gb_per_s,
            "GB/s per chip",
            s.source("interconnect_gb_per_s"),
        )
        return s.interconnect_gb_per_s
    return _once(led, chip, ("interconnect", needed), lambda part: _interconnect(chip, part, needed))


def _interconnect(chip: ChipProfile, led: Ledger, needed: bool) -> float:
    spec = chip.interconnect_bandwidth_gb_per_s
    if spec is not None:
        led.add_profile(
            "interconnect_bandwidth_gb_per_s",
            spec.value,
            "GB/s per chip",
            chip.origin,
            "interconnect_bandwidth_gb_per_s",
            spec,
        )
        return spec.value
    if needed:
        raise ConfigError(
            f"chip={chip.name!r}: its profile has no interconnect_bandwidth_gb_per_s; give --interconnect-gb-per-s"
        )
    led.add(
        "interconnect_bandwidth_gb_per_s",
        None,
        "GB/s per chip",
        f"missing: profile {chip.origin} has no interconnect figure",
    )
    return math.nan


def direct_inputs(run: type, cls: type[Scenario], resolved: set[str]) -> tuple[str, ...]:
    """The scenario fields that reach a cost formula as they are: fields of its run bundle
    (`glamsim.cost.bundles`) under the same name, not `resolved` by the cost model (from profiles,
    predictions or other fields), not uncertain (those carry ranges).  Both the single estimate and
    the study sweep pass these, so a new plain input takes its declaration and its formula."""
    from glamsim.cost.bundles import names

    params = set(names(run))
    return tuple(n for n in cls.inputs() if n in params and n not in resolved and not cls.meta(n).get("uncertain"))


def direct_values(s: Scenario, names: tuple[str, ...], led: Ledger) -> dict:
    """The direct fields' values, each in the ledger with the unit its declaration gives."""
    units = _units(type(s))
    for name in names:
        led.add_input(s, name, units[name])
    return {name: getattr(s, name) for name in names}


@cache
def _units(cls: type[Scenario]) -> dict[str, str]:
    return {n: cls.meta(n)["unit"] for n in cls.inputs()}


def record(s: Scenario, led: Ledger, name: str, unit: str, value=None) -> None:
    """Ledger entry of a plain scenario field (its value, or a derived `value`, with its source)."""
    led.add_input(s, name, unit, value)


def layout_exposed_share(predicted: dict) -> float:
    """Share of the predicted layout's step that is exposed communication (tensor, expert, context,
    pipeline, data parallel): its MFU already pays for it."""
    return sum(v for k, v in predicted["breakdown"].items() if k.endswith("_exposed_s")) / predicted["step_s"]


def mfu_interval(predicted: dict, chip: ChipProfile, cfg: ModelConfig, seq_len: int):
    """How sure a predicted MFU is (`glamsim.predict.intervals`): factors from the published
    runs' errors, for the predicted layout's stack and attention kernel, the chip (and whether its
    matmul roof is a burst rate alone, an upper bound), the model's experts and routing and the
    sequence length `seq_len`."""
    from glamsim.predict.intervals import attention_kernel_of, routing_class
    from glamsim.predict.intervals import mfu_interval as interval
    from glamsim.predict.layout import parse_layout
    from glamsim.predict.tiers import roof_burst_bound

    layout = parse_layout(predicted["layout"])
    kernel = attention_kernel_of(layout, chip.name)
    return interval(
        layout.stack,
        chip=chip.name,
        n_experts=cfg.n_experts,
        routing=routing_class(cfg),
        seq_len=seq_len,
        kernel=kernel,
        burst_bound=roof_burst_bound(chip),
    )


def attention_roof(predicted: dict, chip: ChipProfile, cfg: ModelConfig, seq_len: int | None = None) -> str:
    """Which fused-attention kernel the predicted layout runs and at what rate, with its source
    (`efficiency.ATTENTION_PEAK_FRACTION`, by kernel, GPU generation and head dimension, and
    `efficiency.ATTENTION_SEQ_RATES` by the length of a call)."""
    from glamsim.predict import efficiency as eff
    from glamsim.predict.intervals import MATMUL_ATTENTION, attention_kernel_of
    from glamsim.predict.layout import parse_layout
    from glamsim.predict.tiers import Fabric, roof_burst_bound

    layout = parse_layout(predicted["layout"])
    kernel = attention_kernel_of(layout, chip.name)
    if kernel is None or kernel == MATMUL_ATTENTION:
        why = "no fused attention (flash=0)" if kernel is None else "no published fused-attention rate on this chip"
        return f"attention as matmuls: {why}"
    # the predictor's own figures: the rate it applies (`attention_fraction`) and its clock factor
    arch, d = eff.generation(chip.name), cfg.head_dim
    codes = (eff.STACKS.index(layout.stack), layout.attn_code, chip.name)
    fwd, bwd = (float(eff.attention_fraction(*codes, backward, d)) for backward in (False, True))
    relative = Fabric.of(chip).matmul_relative
    clock = "at the burst rate's clock (an upper bound)" if roof_burst_bound(chip) else "at the sustained clock"
    length = (seq_len or cfg.max_seq_len) / layout.cp  # the queries a rank's call computes
    f_fwd, f_bwd = (float(eff.attention_seq_factor(*codes, backward, length)) for backward in (False, True))
    by_length = (
        "short sequences rolling off as matmuls (no published sweep)"
        if math.isnan(f_fwd)
        else f"those are its {eff.ATTENTION_SWEEP_SEQ // 1024}K rates, at {length:,.0f} tokens a call "
        f"x{f_fwd:.2f} / x{f_bwd:.2f} (the kernel's published sweep)"
    )
    return (
        f"fused attention {kernel} at {fwd:.1%} / {bwd:.1%} of the 16-bit peak forward / backward for {d}-wide "
        f"heads ({eff.ATTENTION_RATE_SOURCE[kernel, arch]}), {by_length}, "
        f"x{eff.attention_sustained(chip.name, relative):.2f} {clock}"
    )


def matmul_roof(chip: ChipProfile) -> str:
    """Where the prediction's large-matmul roof for `chip` comes from (`efficiency.matmul_relative`)."""
    from glamsim.predict.efficiency import matmul_relative
    from glamsim.predict.tiers import Fabric, roof_burst_bound

    spec, peak, burst = chip.matmul_sustained_flops_bf16, chip.peak_flops_bf16, chip.matmul_burst_flops_bf16
    if roof_burst_bound(chip):
        return (
            f"large matmuls at {Fabric.of(chip).matmul_relative:.3g} x the A100-calibrated fraction, "
            f"at most the chip's burst rate {burst.value / 1e12:.4g} TFLOP/s (matmul_burst_flops_bf16: "
            f"{burst.source}): no rate at its power limit is measured, so the roof is an upper bound"
        )
    if spec is None or peak is None:
        return (
            "large matmuls at the fraction calibrated on the A100: the chip profile has no "
            "matmul_sustained_flops_bf16 (a measured rate at its power limit), so its roof is unvalidated"
        )
    return (
        f"large matmuls at {matmul_relative(spec.value, peak.value):.3g} x the A100-calibrated fraction: the "
        f"chip sustains {spec.value / 1e12:.4g} TFLOP/s in bf16 matmuls (matmul_sustained_flops_bf16: "
        f"{spec.source})"
    )


def prediction(cfg: ModelConfig | None, chip: ChipProfile, s, led: Ledger) -> dict:
    """The MFU predicted by `glamsim.predict` for the scenario's layout, or for the fastest layout
    that fits (`glamsim plan`), with the layout, memory per chip and step-time breakdown."""
    from glamsim.predict import evaluate
    from glamsim.predict.explain import against_published
    from glamsim.predict.plan import best

    if cfg is None:
        raise ConfigError(
            "mfu=None: predicting the utilisation needs --model and --tokens; with --train-flops give --mfu or --hours"
        )
    kw = dict(seq_len=s.seq_len or cfg.max_seq_len, global_batch=s.global_batch, dtype=s.dtype)
    from glamsim.predict.layout import parse_layout, parse_software

    if s.layout is not None:
        p = evaluate(cfg, chip, s.layout, chips=s.chips, **kw)
        if not p["may_fit"]:
            raise ConfigError(f"layout={s.layout!r}: does not fit: {p['shortfall_message']}")
        named = "stack" in parse_layout(s.layout).model_fields_set
    else:
        base = None if s.software is None else parse_software(s.software)
        p = best(cfg, chip, s.chips, base=base, **kw)
        named = base is not None and "stack" in base.model_fields_set
    where = "the layout" if s.layout is not None else "the software keys"
    why = f"named in {where}" if named else f"the usual software on {chip.vendor} chips, as no stack was named"
    led.add("layout", p["layout"], "", f"{s.source('layout')}; stack {parse_layout(p['layout']).stack}: {why}")
    if not p["fits"]:  # tight: counted over the usable HBM by less than the count's error
        led.add("memory_fit", "tight", "", f"{p['shortfall_message']}; {p['memory_basis']}")
    note = against_published(cfg.name, chip.name, p["layout"], p["mfu"], s.chips, s.dtype or chip.default_dtype)
    if note:
        led.add("published_run", None, "", note)
    return p
