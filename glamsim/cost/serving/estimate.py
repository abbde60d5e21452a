"""One serving scenario: profiles resolved, every input in the ledger, the vectorised core on
one row, with ranges and a tornado for uncertain inputs (`estimate_serving`)."""

from __future__ import annotations

import numpy as np

from glamsim.accounting import (
    ModelArrays,
    cached_arrays,
    params,
)
from glamsim.config import ConfigError
from glamsim.cost import resolve
from glamsim.cost.bundles import Hardware, ServingRun, Site, routed
from glamsim.cost.ledger import Ledger
from glamsim.cost.power import CURVE
from glamsim.cost.power import power_w as power_at_load
from glamsim.cost.result import Estimate
from glamsim.cost.serving import regime
from glamsim.cost.serving.core import link_of, serving_costs
from glamsim.cost.serving.memory import (
    BYTES_PER_GB,
    kv_cache_bytes,
    memory_per_chip,
    serving_layout,
    weight_bytes_total,
)
from glamsim.cost.serving.targets import batch_meeting_targets, ms_text, targets_missed
from glamsim.cost.uncertainty import output_ranges, tornado
from glamsim.scenario import ServingScenario
from glamsim.uncertain import is_uncertain, nominal

LINK_KEYS = (
    "interconnect_bytes_per_s",
    "inter_node_bytes_per_s",
    "intra_latency_s",
    "inter_latency_s",
    "chips_per_node",
)
RANGE_OUTPUTS = [
    "joules_per_token",
    "usd_per_million_tokens",
    "kgco2e_per_million_tokens",
    "water_l_per_million_tokens",
    "decode_tokens_per_s_per_chip",
    "decode_step_s",
    "decode_s",
    "prefill_s",
    "request_latency_s",
    "joules_per_token_with_prefill",
    "usd_per_million_tokens_with_prefill",
]
TORNADO_OUTPUTS = ["joules_per_token", "usd_per_million_tokens", "kgco2e_per_million_tokens", "decode_step_s"]


def chip_links(chip, override_gb_per_s=None) -> dict:
    """A chip's link tiers as `serving_costs` takes them: one-way bytes/s inside a node and
    between nodes (a given --interconnect-gb-per-s for both), node size, per-message latencies
    (NaN bandwidth, inf node size, zero latency where the profile has no figure)."""
    spec = lambda f, default: getattr(chip, f).value if getattr(chip, f) is not None else default  # noqa: E731
    intra, inter = spec("interconnect_bandwidth_gb_per_s", np.nan), spec("inter_node_bandwidth_gb_per_s", np.nan)
    if override_gb_per_s is not None:
        intra = inter = override_gb_per_s
    return {
        "interconnect_bytes_per_s": intra * BYTES_PER_GB,
        "inter_node_bytes_per_s": inter * BYTES_PER_GB,
        "chips_per_node": spec("chips_per_node", np.inf),
        "intra_latency_s": spec("intra_node_latency_us", 0.0) * 1e-6,
        "inter_latency_s": spec("inter_node_latency_us", 0.0) * 1e-6,
    }


def idle_power(chip, s: ServingScenario, fixed_w) -> tuple[float, str]:
    """What an idle chip draws, and why: with a fixed power from the profile (a measured system
    power), its board idle figure plus its host share where published (NaN: the power model at zero
    load, or the given --power-w)."""
    if s.power_w is not None or s.power_model == "tdp" or not np.isfinite(fixed_w) or chip.idle_power_w is None:
        return np.nan, "the power model at zero load" + (
            " (a fixed power: the same at every load)" if np.isfinite(fixed_w) else ""
        )
    host = chip.host_power_w.value if chip.host_power_w is not None else 0.0
    why = f"profile {chip.origin}: idle_power_w {chip.idle_power_w.value:g} W" + (
        f" + host_power_w {host:g} W" if chip.host_power_w is not None else " (no host share published: a lower bound)"
    )
    return chip.idle_power_w.value + host, why


def _record_link(led: Ledger, chip, s: ServingScenario, span: float, names: tuple[str, str], needed: bool) -> None:
    """Ledger rows of the link `span` chips talk over; a one-line error when it is needed and unknown."""
    links = chip_links(chip, s.interconnect_gb_per_s)
    inside = span <= links["chips_per_node"]
    field = "interconnect_bandwidth_gb_per_s" if inside else "inter_node_bandwidth_gb_per_s"
    lat_field = "intra_node_latency_us" if inside else "inter_node_latency_us"
    gb = (links["interconnect_bytes_per_s"] if inside else links["inter_node_bytes_per_s"]) / BYTES_PER_GB
    if needed and not np.isfinite(gb):
        raise ConfigError(f"chip={chip.name!r}: its profile has no {field}; give --interconnect-gb-per-s")
    where = (
        "inside a node"
        if inside
        else "between the pools' nodes"
        if np.isinf(span)
        else f"between nodes ({span:g} chips, nodes of {links['chips_per_node']:g})"
    )
    src = s.source("interconnect_gb_per_s") if s.interconnect_gb_per_s is not None else None
    spec, lat = getattr(chip, field), getattr(chip, lat_field)
    led.add(
        names[0],
        gb,
        f"GB/s per chip, one way, {where}",
        src
        or (
            f"profile {chip.origin} {field}: {spec.source}"
            if spec is not None
            else f"missing: profile {chip.origin} has no {field}"
        ),
    )
    led.add(
        names[1],
        lat.value if lat is not None else 0.0,
        "us per message",
        f"profile {chip.origin} {lat_field}: {lat.source}"
        if lat is not None
        else f"missing: no {lat_field}; none charged",
    )


# Scenario fields that reach `serving_costs` as they are, in the run bundle: a new one needs its
# declaration and its formula
DIRECT = resolve.direct_inputs(
    ServingRun,
    ServingScenario,
    {"chips", "batch", "prompt_len", "gen_len", "mfu", "mbu"}
    | {"bytes_per_param", "bytes_per_kv", "expert_parallel", "placement", "routing_skew", "prefill_chips"},
)


# ---- the single-scenario view ------------------------------------------------------------------


class ServingEstimate(Estimate):
    """One serving scenario (`glamsim.cost.result.Estimate`): `values` holds what `serving_costs`
    returns and the layout it used."""


def _meet_targets(
    s: ServingScenario, m: ModelArrays, chip, peak_value: float, bpp: float, bkv: float, led: Ledger
) -> tuple[int, dict]:
    """The largest batch up to s.batch meeting --ttft-ms / --tpot-ms (`batch_meeting_targets`), in
    the ledger with the target that binds; a one-line ConfigError when even batch 1 misses one."""
    resolve.record(s, led, "ttft_ms", "ms (prefill of the batch's prompts)")
    resolve.record(s, led, "tpot_ms", "ms (one decode step, at the mean context)")
    nan = np.nan
    placement = s.placement if m.n_experts[0] > 0 else "sharded"
    t = batch_meeting_targets(
        m,
        s.batch,
        s.prompt_len,
        s.gen_len,
        nan if s.chips is None else s.chips,
        chip.hbm_gb.value * BYTES_PER_GB,
        s.hbm_usable_fraction,
        bpp,
        bkv,
        nan if s.expert_parallel is None else s.expert_parallel,
        nan if s.ttft_ms is None else s.ttft_ms / 1e3,
        nan if s.tpot_ms is None else s.tpot_ms / 1e3,
        peak_flops=peak_value,
        hbm_bandwidth_bytes_per_s=chip.hbm_bandwidth_gb_per_s.value * BYTES_PER_GB,
        mfu=nominal(s.mfu),
        mbu=nominal(s.mbu),
        comm_overlap=s.comm_overlap,
        bytes_per_activation=s.bytes_per_activation,
        placement=placement,
        prefill_chips=nan if s.prefill_chips is None else s.prefill_chips,
        routing_skew=s.routing_skew or 1.0,
        kernel_us=s.kernel_us,
        **chip_links(chip, s.interconnect_gb_per_s),
    )
    best, binding = int(t["batch"][0]), str(t["binding"][0])
    on = f"{s.chips} chips" if s.chips is not None else "the fewest chips that hold it (give --chips for more)"
    if best == 0 and binding != "hbm":
        raise ConfigError(targets_missed(s.ttft_ms, s.tpot_ms, t, 0, chip.name, s.chips))
    if best == 0:  # given chips too few for batch 1: the caller's memory check says so
        return 1, {}
    why = {
        "batch": f"neither target binds: the given batch {s.batch} meets both",
        "hbm": f"memory binds: batch {best + 1} does not fit the {s.chips} chips",
        "ttft": f"ttft binds: batch {best + 1}'s prefill takes {ms_text(t['prefill_s_next'][0])}",
        "tpot": f"tpot binds: batch {best + 1}'s decode step takes {ms_text(t['decode_step_s_next'][0])}",
        "ttft+tpot": f"both bind: batch {best + 1}'s prefill takes {ms_text(t['prefill_s_next'][0])}, its "
        f"decode step {ms_text(t['decode_step_s_next'][0])}",
    }[binding]
    led.add(
        "batch_meeting_targets",
        best,
        "sequences",
        f"the largest batch in 1..{s.batch} whose prefill and decode step meet the targets on {on}; {why}",
    )
    return best, {"batch_meeting_targets": best, "target_binding": binding}


def _request_level(
    s: ServingScenario, run: ServingRun, hw: Hardware, site: Site, hbm_bytes: float, led: Ledger
) -> dict:
    """The scenario's requests simulated on the continuous-batching scheduler
    (`glamsim.cost.serving.requests`) with the closed form's resolved bundles."""
    from glamsim.cost.serving import requests as rq

    if s.prefill_chips is not None:
        raise ConfigError(
            f"prefill_chips={s.prefill_chips}: the request-level simulation serves prefill on the decode chips"
        )
    for name, unit in (
        ("rate", "requests/s"),
        ("concurrency", "clients"),
        ("n_requests", "requests"),
        ("max_num_seqs", "sequences"),
        ("max_num_batched_tokens", "tokens"),
        ("warmup_requests", "requests"),
    ):
        if getattr(s, name) is not None:
            resolve.record(s, led, name, unit)
    n = s.n_requests
    if s.warmup_requests >= n:
        raise ConfigError(f"warmup_requests={s.warmup_requests}: must be fewer than n_requests={n}")
    if s.trace is not None:
        p, g = rq.read_trace(s.trace)
        p, g = np.resize(p, n), np.resize(g, n)
        led.add("trace", s.trace, "", f"{len(p)} requests' lengths, in order (cycled)")
    else:
        p, g = np.full(n, s.prompt_len), np.full(n, s.gen_len)
    arrivals = None if s.rate is None else rq.poisson_arrivals(s.rate, n, s.seed)
    work = rq.Workload(p, g, arrivals, s.concurrency)
    m, chips, x, placed = run.m, run.chips, run.expert_parallel, run.placement == "expert"
    links = (hw.interconnect_bytes_per_s, hw.inter_node_bytes_per_s, hw.intra_latency_s, hw.inter_latency_s)
    link, latency = link_of(x, hw.chips_per_node, *links)
    table = rq.StepTable(
        m,
        s.max_num_batched_tokens,
        run.bytes_per_kv,
        chips=chips,
        peak_flops=hw.peak_flops,
        hbm_bandwidth_bytes_per_s=hw.hbm_bandwidth_bytes_per_s,
        mfu=run.mfu,
        mbu=run.mbu,
        bytes_per_param=run.bytes_per_param,
        bytes_per_activation=run.bytes_per_activation,
        expert_parallel=x,
        comm_overlap=run.comm_overlap,
        placed=placed,
        routing_skew=run.routing_skew,
        dense_shards=run.dense_shards,
        link_bytes_per_s=link,
        link_latency_s=latency,
        tp=run.dense_shards if placed else chips,
        fab=regime.fabric(*links, hw.chips_per_node),
        kernel_us=run.kernel_us,
    )
    tokens = rq.kv_capacity_tokens(m, chips, hbm_bytes, s.hbm_usable_fraction, run.bytes_per_param, run.bytes_per_kv)
    blocks = int(max(tokens, 0) // rq.VLLM_BLOCK_SIZE)
    led.add(
        "kv_cache_blocks",
        blocks,
        f"blocks of {rq.VLLM_BLOCK_SIZE} tokens",
        "derived: chips x HBM x hbm_usable_fraction less every weight, over a token's KV bytes (vLLM block_size 16)",
    )
    sim = rq.simulate(table, work, blocks, s.max_num_seqs, s.max_num_batched_tokens)
    return rq.request_outputs(
        table,
        work,
        sim,
        chips=chips,
        pue=site.pue,
        price_per_chip_hour_usd=site.price_per_chip_hour_usd,
        power_w=hw.power_w,
        ttft_slo_s=np.nan if s.ttft_ms is None else s.ttft_ms / 1e3,
        tpot_slo_s=np.nan if s.tpot_ms is None else s.tpot_ms / 1e3,
        warmup_requests=s.warmup_requests,
        **{f"power_{k}": getattr(hw, f"power_{k}") for k in CURVE},
    )


def estimate_serving(
    scenario: ServingScenario | None = None, /, *, profiles_dirs: tuple = (), **fields
) -> ServingEstimate:
    """Serving cost of one model on one chip type; `chips` defaults to the fewest that hold it.

    Give a `ServingScenario`, or its fields as keywords (`model=`, `chip=`, `batch=`, ...; see
    `glamsim.scenario.ServingScenario`).  Laid out by `serving_layout` (experts over
    `expert_parallel` chips: default min(chips, experts) sharded, every chip with `placement`
    "expert"); sharded, the decode all-to-all's exposed part (1 - comm_overlap) is charged on each
    step.  Computed by the vectorised `serving_costs`."""
    s = scenario.with_(**fields) if scenario is not None and fields else scenario
    s = s if s is not None else ServingScenario.build(fields)
    if s.measured is not None and not s.given("routing_skew"):
        from glamsim.cost.measured import measured_routing
        from glamsim.records import load_measurement

        skew, where = measured_routing(load_measurement(s.measured), origin=s.measured)
        s = s.with_(routing_skew=skew, sources={**s.sources, "routing_skew": where})
    cfg, chip, dc = resolve.profiles(s, profiles_dirs)
    m = cached_arrays(cfg)  # ModelArrays.of(cfg), built once per config (read-only)
    led = Ledger()
    led.add("model", cfg.name, "", s.source("model"))
    for name, unit in (("batch", "sequences"), ("prompt_len", "tokens"), ("gen_len", "tokens")):
        resolve.record(s, led, name, unit)
    bpp, bkv = resolve.precision_bytes(s, led)
    peak_value = resolve.peak(chip, s, led)
    led.add_profile("hbm_gb", chip.hbm_gb.value, "GB per chip", chip.origin, "hbm_gb", chip.hbm_gb)
    led.add_profile(
        "hbm_bandwidth_gb_per_s",
        chip.hbm_bandwidth_gb_per_s.value,
        "GB/s per chip",
        chip.origin,
        "hbm_bandwidth_gb_per_s",
        chip.hbm_bandwidth_gb_per_s,
    )
    resolve.record(s, led, "hbm_usable_fraction", "fraction")
    batch, met = s.batch, None
    if s.ttft_ms is not None or s.tpot_ms is not None:
        batch, met = _meet_targets(s, m, chip, peak_value, bpp, bkv, led)
    hbm = chip.hbm_gb.value * BYTES_PER_GB
    placement = s.placement if cfg.is_moe else "sharded"
    placed = placement == "expert"
    resolve.record(s, led, "placement", "", placement)
    nan = np.nan
    lay = {
        k: float(v[0])
        for k, v in serving_layout(
            m,
            placement,
            batch,
            s.prompt_len,
            s.gen_len,
            nan if s.chips is None else s.chips,
            nan if s.expert_parallel is None else s.expert_parallel,
            nan if s.prefill_chips is None else s.prefill_chips,
            hbm,
            s.hbm_usable_fraction,
            bpp,
            bkv,
        ).items()
    }
    chips, need, x = int(lay["chips"]), lay["need"], lay["expert_parallel"]
    if not np.isfinite(need):
        raise ConfigError(
            f"expert_parallel={s.expert_parallel!r}: {cfg.name}'s experts over {s.expert_parallel} chips alone "
            f"fill a {chip.name}; give more"
        )
    need = int(need)
    if chips < need:
        how = " with experts placed on chips" if placed else ""
        raise ConfigError(
            f"chips={chips}: too few to hold {cfg.name}'s weights and KV cache{how} on {chip.name}; "
            f"need at least {need}"
        )
    resolve.record(s, led, "chips", "chips", chips)
    prefill_chips = nan
    if s.prefill_chips is not None:
        if not lay["prefill_fits"]:
            raise ConfigError(
                f"prefill_chips={s.prefill_chips}: too few to hold {cfg.name}'s weights and the prompts' KV cache "
                f"on {chip.name}; need at least {lay['prefill_need']:.0f}"
            )
        prefill_chips = float(s.prefill_chips)
        resolve.record(s, led, "prefill_chips", "chips")
    resolve.record(s, led, "mfu", "fraction of dense peak")
    resolve.record(s, led, "mbu", "fraction of HBM bandwidth")
    if s.expert_parallel is not None and s.expert_parallel > chips:
        raise ConfigError(f"expert_parallel={s.expert_parallel!r}: more than the {chips} serving chips")
    if not cfg.is_moe:
        led.add("expert_parallel", 1.0, "chips the experts span", "a dense model: no experts to split")
    elif s.expert_parallel is not None:
        resolve.record(s, led, "expert_parallel", "chips the experts span")
    else:
        led.add(
            "expert_parallel",
            x,
            "chips the experts span",
            "glamsim default: experts spread over every chip"
            if placed
            else "glamsim default: experts spread over min(chips, experts) chips (weights sharded evenly)",
        )
    if placed:
        led.add(
            "dense_shards",
            lay["dense_shards"],
            "chips per copy of the dense parts",
            "derived: the fewest chips each copy of the dense parts is split over so that a chip also holds its "
            "experts and its share of the KV cache",
        )
        resolve.record(s, led, "routing_skew", "busiest expert's load / mean load", s.routing_skew or 1.0)
    if x > 1:
        _record_link(
            led, chip, s, x, ("interconnect_bandwidth_gb_per_s", "link_latency_us"), needed=placed or s.comm_overlap < 1
        )
    if s.prefill_chips is not None:
        _record_link(led, chip, s, np.inf, ("kv_transfer_gb_per_s", "kv_transfer_latency_us"), needed=True)
    curve = resolve.power_curve(chip, s, led)
    power = curve.pop("fixed_w")
    curve = {f"power_{k}": v for k, v in curve.items()}
    price = resolve.price(chip, s, led)
    pue, ci, _ = resolve.datacenter(dc, s, led)
    notes = resolve.assumed_site(s, dc, pue, ci)
    wue, water_offsite = resolve.water(dc, led)
    idle_w, idle_why = idle_power(chip, s, nominal(power) if power is not None else np.nan)
    if s.busy_fraction < 1:
        zero_load = power_at_load(0.0, 0.0, nominal(power), *(curve[f"power_{k}"] for k in CURVE))
        shown = idle_w if np.isfinite(idle_w) else float(zero_load)
        led.add("idle_power_w", shown, "W per chip", idle_why)
    direct = resolve.direct_values(s, DIRECT, led)
    embodied = resolve.embodied(chip, s, led)
    uncertain = {
        "mfu": s.mfu,
        "mbu": s.mbu,
        "power_w": power,
        "pue": pue,
        "carbon_intensity_kg_per_kwh": ci,
        "price_per_chip_hour_usd": price,
    }
    nominals = {k: nominal(v) for k, v in uncertain.items()}
    run = ServingRun(
        m,
        batch,
        s.prompt_len,
        s.gen_len,
        chips,
        nominals["mfu"],
        nominals["mbu"],
        bytes_per_param=bpp,
        bytes_per_kv=bkv,
        expert_parallel=x,
        placement=placement,
        routing_skew=s.routing_skew or 1.0,
        dense_shards=lay["dense_shards"],
        prefill_dense_shards=lay["prefill_dense_shards"],
        prefill_chips=prefill_chips,
        **direct,
    )
    hardware = Hardware(
        peak_value,
        nominals["power_w"],
        **curve,
        **embodied,
        hbm_bandwidth_bytes_per_s=chip.hbm_bandwidth_gb_per_s.value * BYTES_PER_GB,
        **chip_links(chip, s.interconnect_gb_per_s),
        idle_power_w=idle_w,
    )
    site = Site(
        nominals["pue"],
        nominals["carbon_intensity_kg_per_kwh"],
        nominals["price_per_chip_hour_usd"],
        wue_onsite_l_per_kwh=wue,
        water_offsite_l_per_kwh=water_offsite,
    )
    res = serving_costs(run, hardware, site)
    values = {
        "model": cfg.name,
        "chip": chip.name,
        "serving_chips_used": chips,
        "serving_min_chips": need,
        "serving_expert_parallel_used": x,
        "placement": placement,
        "dense_shards": lay["dense_shards"],
        "batch_served": batch,
        "prompt_len": s.prompt_len,
        "gen_len": s.gen_len,
        "params_total": float(params(m)[0]),
        "params_active": float(params(m, active=True)[0]),
        "resolved_bytes_per_param": bpp,
        "resolved_bytes_per_kv": bkv,
        "weight_gb_total": float(weight_bytes_total(m, bpp)[0]) / BYTES_PER_GB,
        "kv_cache_gb_full_context": float(kv_cache_bytes(m, batch, s.prompt_len + s.gen_len, bkv)[0]) / BYTES_PER_GB,
        **{
            f"{part}_gb_per_chip": float(np.asarray(v).reshape(-1)[0]) / BYTES_PER_GB
            for part, v in memory_per_chip(
                m,
                batch,
                s.prompt_len,
                s.gen_len,
                chips,
                x,
                lay["dense_shards"],
                placement,
                prefill_chips,
                bpp,
                bkv,
                s.bytes_per_activation,
            ).items()
        },
    }
    values.update({k: np.asarray(v).reshape(-1)[0].item() for k, v in res.items()})
    if met is not None:
        values.update(met)
    if s.rate is not None or s.concurrency is not None:
        values.update(_request_level(s, run, hardware, site, hbm, led))
    values.update({k: bool(values[k]) for k in ("prefill_compute_bound", "decode_compute_bound")})
    if not any(map(is_uncertain, uncertain.values())):
        return ServingEstimate(values=values, ledger=led, scenario=s, notes=notes)
    return ServingEstimate(
        values=values,
        ledger=led,
        scenario=s,
        notes=notes,
        ranges=output_ranges(routed(serving_costs, (run, hardware, site)), uncertain, RANGE_OUTPUTS),
        tornado=tornado(routed(serving_costs, (run, hardware, site)), uncertain, TORNADO_OUTPUTS),
    )
