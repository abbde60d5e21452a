"""Serving cost: prefill and decode with a KV cache, on a roofline.

Per decode step at batch B, an MoE layer reads only the experts the batch touches: with top-k
of E experts chosen uniformly, an expert escapes one token with probability 1 - k/E, so
E * (1 - (1 - k/E)^B) experts are touched in expectation.  Weights read per step = every dense
weight (attention, dense FFNs, router, the tied embedding used as output matrix) + the touched
experts; plus the KV cache at the current context.  Step time = max(FLOPs / (chips x peak x mfu),
bytes / (chips x bandwidth x mbu)) (weights sharded evenly), plus the exposed part (1 - overlap) of
the decode step's expert all-to-all when experts span several chips (`glamsim.cost.communication`).
Memory, though, must hold *every* expert: MoE saves FLOPs per token but not bytes of HBM.
Decode is evaluated at the mean context P + (G + 1) / 2; prefill attention at the causal mean
(P + 1) / 2 (FLOPs are linear in context, so the totals are exact; the max() is per phase).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np

from glamsim.accounting import ModelArrays, cached_arrays, expert_params, forward_flops_per_token, params
from glamsim.config import ConfigError
from glamsim.cost import resolve
from glamsim.cost.communication import decode_alltoall_bytes_per_chip
from glamsim.cost.ledger import Ledger
from glamsim.cost.power import power_w as power_at_load
from glamsim.cost.training import S_PER_HOUR, broadcast_outputs
from glamsim.cost.uncertainty import output_ranges, tornado
from glamsim.scenario import ServingScenario
from glamsim.uncertain import is_uncertain, nominal

BYTES_PER_GB = 1e9
J_PER_KWH = 3.6e6
RANGE_OUTPUTS = [
    "joules_per_token",
    "usd_per_million_tokens",
    "kgco2e_per_million_tokens",
    "decode_tokens_per_s_per_chip",
    "decode_step_s",
    "decode_s",
    "prefill_s",
    "request_latency_s",
    "joules_per_token_with_prefill",
    "usd_per_million_tokens_with_prefill",
]
TORNADO_OUTPUTS = ["joules_per_token", "usd_per_million_tokens", "kgco2e_per_million_tokens", "decode_step_s"]


# ---- the vectorised core -----------------------------------------------------------------------


def experts_touched(n_experts, top_k, tokens):
    """Expected distinct experts that `tokens` tokens touch with uniform random top-k routing."""
    e = np.asarray(n_experts, dtype=np.float64)
    frac = np.divide(top_k, e, out=np.zeros(np.broadcast(e, top_k).shape), where=e > 0)
    return e * (1 - (1 - frac) ** np.asarray(tokens, dtype=np.float64))


def weight_bytes_read(m: ModelArrays, tokens, bytes_per_param):
    """Weight bytes one forward pass over `tokens` tokens reads: all but the untouched experts."""
    untouched = m.n_experts - experts_touched(m.n_experts, m.top_k, tokens)
    return (params(m) - m.n_moe_layers * untouched * expert_params(m)) * bytes_per_param


def weight_bytes_total(m: ModelArrays, bytes_per_param):
    """Bytes of every weight, every expert included: what HBM must hold."""
    return params(m) * bytes_per_param


def kv_cache_bytes(m: ModelArrays, batch, context, bytes_per_kv):
    """Keys and values of every layer for `batch` sequences of `context` tokens."""
    return 2 * m.n_layers * m.kv_heads * m.head_dim * context * batch * bytes_per_kv


def roofline_s(flops, bytes_moved, chips, peak_flops, mfu, bandwidth_bytes_per_s, mbu):
    return np.maximum(flops / (chips * peak_flops * mfu), bytes_moved / (chips * bandwidth_bytes_per_s * mbu))


def min_chips(m: ModelArrays, batch, context, hbm_bytes, bytes_per_param, bytes_per_kv, usable_fraction):
    """Fewest chips whose HBM holds every weight and the KV cache at full context."""
    need = weight_bytes_total(m, bytes_per_param) + kv_cache_bytes(m, batch, context, bytes_per_kv)
    return np.ceil(need / (hbm_bytes * usable_fraction))


def inference_costs(
    m: ModelArrays,
    batch,
    prompt_len,
    gen_len,
    chips,
    peak_flops,
    hbm_bandwidth_bytes_per_s,
    power_w,
    pue,
    carbon_intensity_kg_per_kwh,
    price_per_chip_hour_usd,
    mfu=1.0,
    mbu=1.0,
    bytes_per_param=2.0,
    bytes_per_kv=2.0,
    expert_parallel=1.0,
    interconnect_bytes_per_s=np.inf,
    comm_overlap=1.0,
    bytes_per_activation=2.0,
    power_idle_w=np.nan,
    power_span_w=np.nan,
    power_host_w=np.nan,
) -> dict[str, np.ndarray]:
    """Prefill, decode and per-token cost of serving `batch` requests of P prompt + G generated tokens.

    Experts split over `expert_parallel` chips add a dispatch + combine all-to-all per decode step;
    its exposed part (1 - comm_overlap) lengthens the step.  Power per chip follows each phase's
    load (`glamsim.cost.power`) unless `power_w` is a number."""
    roof = partial(
        roofline_s,
        chips=chips,
        peak_flops=peak_flops,
        mfu=mfu,
        bandwidth_bytes_per_s=hbm_bandwidth_bytes_per_s,
        mbu=mbu,
    )
    prefill_tokens = batch * prompt_len
    prefill_flops = prefill_tokens * forward_flops_per_token(m, (prompt_len + 1) / 2)
    prefill_bytes = weight_bytes_read(m, prefill_tokens, bytes_per_param) + kv_cache_bytes(
        m, batch, prompt_len, bytes_per_kv
    )
    prefill_s = roof(prefill_flops, prefill_bytes)
    ctx = prompt_len + (gen_len + 1) / 2
    flops_per_token = forward_flops_per_token(m, ctx)
    weights_step = weight_bytes_read(m, batch, bytes_per_param)
    kv_step = kv_cache_bytes(m, batch, ctx, bytes_per_kv)
    step_flops, step_bytes = batch * flops_per_token, weights_step + kv_step
    a2a_bytes = decode_alltoall_bytes_per_chip(m, batch, chips, expert_parallel, bytes_per_activation)
    a2a_s = a2a_bytes / interconnect_bytes_per_s
    overlap = np.asarray(comm_overlap, dtype=np.float64)
    step_s = roof(step_flops, step_bytes) + np.where(overlap >= 1, 0.0, (1 - overlap) * a2a_s)
    decode_s = gen_len * step_s

    def load(flops, bytes_moved, seconds):  # busy fraction of the busier of compute and HBM
        return np.maximum(flops / (chips * peak_flops), bytes_moved / (chips * hbm_bandwidth_bytes_per_s)) / seconds

    prefill_load, decode_load = load(prefill_flops, prefill_bytes, prefill_s), load(step_flops, step_bytes, step_s)
    prefill_w = power_at_load(prefill_load, power_w, power_idle_w, power_span_w, power_host_w)
    decode_w = power_at_load(decode_load, power_w, power_idle_w, power_span_w, power_host_w)
    facility_w = chips * decode_w * pue
    prefill_facility_w = chips * prefill_w * pue
    usd_per_s = chips * price_per_chip_hour_usd / S_PER_HOUR
    generated = batch * gen_len
    return broadcast_outputs(
        {
            "prefill_flops": prefill_flops,
            "prefill_bytes": prefill_bytes,
            "prefill_s": prefill_s,
            "prefill_compute_bound": prefill_flops / (peak_flops * mfu)
            >= prefill_bytes / (hbm_bandwidth_bytes_per_s * mbu),
            "prefill_tokens_per_s_per_chip": prefill_tokens / prefill_s / chips,
            "decode_flops_per_token": flops_per_token,
            "decode_weight_bytes_per_step": weights_step,
            "decode_kv_bytes_per_step": kv_step,
            "decode_alltoall_bytes_per_chip_step": a2a_bytes,
            "decode_alltoall_s": a2a_s,
            "decode_step_s": step_s,
            "decode_compute_bound": step_flops / (peak_flops * mfu) >= step_bytes / (hbm_bandwidth_bytes_per_s * mbu),
            "decode_s": decode_s,
            "request_latency_s": prefill_s + decode_s,
            "experts_touched_per_moe_layer": experts_touched(m.n_experts, m.top_k, batch),
            "decode_tokens_per_s_per_chip": batch / step_s / chips,
            "joules_per_token": facility_w * step_s / batch,
            "prefill_load": prefill_load,
            "decode_load": decode_load,
            "prefill_power_w_per_chip": prefill_w,
            "decode_power_w_per_chip": decode_w,
            "joules_per_token_with_prefill": (prefill_facility_w * prefill_s + facility_w * decode_s) / generated,
            "kgco2e_per_million_tokens": facility_w * step_s / batch * 1e6 / J_PER_KWH * carbon_intensity_kg_per_kwh,
            "usd_per_million_tokens": usd_per_s * step_s / batch * 1e6,
            "usd_per_million_tokens_with_prefill": usd_per_s * (prefill_s + decode_s) / generated * 1e6,
        },
        mfu,
        mbu,
        comm_overlap,
    )


MAX_TARGET_CANDIDATES = 2_000_000  # candidate (scenario, batch) pairs evaluated at once


def batch_meeting_targets(
    m: ModelArrays,
    batch,
    prompt_len,
    gen_len,
    chips,
    hbm_bytes,
    usable_fraction,
    bytes_per_param,
    bytes_per_kv,
    expert_parallel,
    ttft_s,
    tpot_s,
    **roofline,
) -> dict:
    """Per scenario, the largest batch b in 1..batch whose prefill (of the b prompts) takes at most
    `ttft_s` and whose decode step at b takes at most `tpot_s` (NaN: no target), on `chips` (NaN:
    the fewest that hold b) with experts over `expert_parallel` chips (NaN: min(chips, experts)).

    Every candidate batch is evaluated by `inference_costs` (the estimate's own formulas), all
    scenarios' candidates in one vectorised call per chunk.  Returns arrays: `batch` (0: even
    batch 1 misses a target), `binding` (what stops b + 1: "ttft", "tpot", "ttft+tpot", "hbm", or
    "batch" when the given batch meets both), the prefill and decode step at batch 1 and at b + 1."""
    n = len(np.atleast_1d(batch))
    arr = lambda v: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,))  # noqa: E731
    batch = arr(batch).astype(np.int64)
    out = {"batch": np.zeros(n), "binding": np.full(n, "", dtype=object)}
    for k in ("prefill_s_at_1", "decode_step_s_at_1", "prefill_s_next", "decode_step_s_next"):
        out[k] = np.full(n, np.nan)
    per_row = {
        k: arr(v)
        for k, v in dict(
            prompt_len=prompt_len,
            gen_len=gen_len,
            chips=chips,
            hbm=hbm_bytes,
            usable=usable_fraction,
            bpp=bytes_per_param,
            bkv=bytes_per_kv,
            x=expert_parallel,
            ttft=ttft_s,
            tpot=tpot_s,
            **roofline,
        ).items()
    }
    ends = np.cumsum(batch + 1)  # candidates 1..batch + 1 (b + 1 says what binds)
    lo = 0
    while lo < n:  # chunks of rows of at most MAX_TARGET_CANDIDATES candidates (at least one row)
        base = ends[lo - 1] if lo else 0
        hi = max(lo + 1, int(np.searchsorted(ends, base + MAX_TARGET_CANDIDATES, side="right")))
        rows = np.arange(lo, hi)
        counts = batch[rows] + 1
        idx = np.repeat(rows, counts)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        b = np.arange(len(idx)) - np.repeat(starts, counts) + 1.0
        mi = m.with_(**{f: np.broadcast_to(np.asarray(getattr(m, f)), (n,))[idx] for f in m.__dataclass_fields__})
        r = {k: v[idx] for k, v in per_row.items()}
        need = min_chips(mi, b, r["prompt_len"] + r["gen_len"], r["hbm"], r["bpp"], r["bkv"], r["usable"])
        c = np.where(np.isnan(r["chips"]), need, r["chips"])
        experts = np.asarray(mi.n_experts, dtype=np.float64)
        x = np.where(np.isnan(r["x"]), np.where(experts > 0, np.minimum(c, experts), 1.0), r["x"])
        nan = np.full(len(idx), np.nan)
        res = inference_costs(
            mi,
            b,
            r["prompt_len"],
            r["gen_len"],
            c,
            r["peak_flops"],
            r["hbm_bandwidth_bytes_per_s"],
            nan,
            nan,
            nan,
            nan,
            mfu=r["mfu"],
            mbu=r["mbu"],
            bytes_per_param=r["bpp"],
            bytes_per_kv=r["bkv"],
            expert_parallel=x,
            interconnect_bytes_per_s=r["interconnect_bytes_per_s"],
            comm_overlap=r["comm_overlap"],
            bytes_per_activation=r["bytes_per_activation"],
        )
        pre, step = res["prefill_s"], res["decode_step_s"]
        ok_ttft = np.isnan(r["ttft"]) | (pre <= r["ttft"])
        ok_tpot = np.isnan(r["tpot"]) | (step <= r["tpot"])
        fits = c >= need
        within = b <= np.repeat(batch[rows], counts)
        best = np.maximum.reduceat(np.where(ok_ttft & ok_tpot & fits & within, b, 0.0), starts)
        out["batch"][rows] = best
        out["prefill_s_at_1"][rows], out["decode_step_s_at_1"][rows] = pre[starts], step[starts]
        nxt = starts + best.astype(np.int64)  # the candidate b + 1 (the last is batch + 1)
        out["prefill_s_next"][rows], out["decode_step_s_next"][rows] = pre[nxt], step[nxt]
        at_cap = best == batch[rows]
        why = np.where(
            ~fits[nxt],
            "hbm",
            np.where(~ok_ttft[nxt] & ~ok_tpot[nxt], "ttft+tpot", np.where(~ok_ttft[nxt], "ttft", "tpot")),
        )
        out["binding"][rows] = np.where(at_cap, "batch", why)
        lo = hi
    return out


# ---- the single-scenario view ------------------------------------------------------------------


@dataclass
class InferenceEstimate:
    """One serving scenario: `values` (scalars by name), ranges and tornado of uncertain inputs, the ledger."""

    values: dict
    ledger: Ledger
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    tornado: list[dict] = field(default_factory=list)
    scenario: ServingScenario | None = None

    def __getitem__(self, key: str):
        return self.values[key]

    def to_dict(self) -> dict:
        return {
            **self.values,
            "ranges": {k: list(v) for k, v in self.ranges.items()},
            "tornado": self.tornado,
            "ledger": self.ledger.to_list(),
            "scenario": self.scenario.model_dump(mode="json", exclude_defaults=True) if self.scenario else None,
        }


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.4g} ms"


def _meet_targets(
    s: ServingScenario, m: ModelArrays, chip, peak_value: float, bpp: float, bkv: float, led: Ledger
) -> tuple[int, dict]:
    """The largest batch up to s.batch meeting --ttft-ms / --tpot-ms (`batch_meeting_targets`), in
    the ledger with the target that binds; a one-line ConfigError when even batch 1 misses one."""
    from glamsim.cost.ledger import Ledger as Scratch

    resolve.record(s, led, "ttft_ms", "ms (prefill of the batch's prompts)")
    resolve.record(s, led, "tpot_ms", "ms (one decode step, at the mean context)")
    nan = np.nan
    link = resolve.interconnect(chip, s, Scratch(), needed=False)
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
        interconnect_bytes_per_s=link * BYTES_PER_GB,
        comm_overlap=s.comm_overlap,
        bytes_per_activation=s.bytes_per_activation,
    )
    best, binding = int(t["batch"][0]), str(t["binding"][0])
    on = f"{s.chips} chips" if s.chips is not None else "the fewest chips that hold it (give --chips for more)"
    if best == 0 and binding != "hbm":
        missed = [
            f"{name}={target:g} (batch 1 takes {_ms(got)} at best)"
            for name, target, got in (
                ("ttft_ms", s.ttft_ms, t["prefill_s_at_1"][0]),
                ("tpot_ms", s.tpot_ms, t["decode_step_s_at_1"][0]),
            )
            if target is not None and got * 1e3 > target
        ]
        raise ConfigError(f"{' and '.join(missed)}: even batch 1 misses it on {chip.name}, on {on}")
    if best == 0:  # given chips too few for batch 1: the caller's memory check says so
        return 1, {}
    why = {
        "batch": f"neither target binds: the given batch {s.batch} meets both",
        "hbm": f"memory binds: batch {best + 1} does not fit the {s.chips} chips",
        "ttft": f"ttft binds: batch {best + 1}'s prefill takes {_ms(t['prefill_s_next'][0])}",
        "tpot": f"tpot binds: batch {best + 1}'s decode step takes {_ms(t['decode_step_s_next'][0])}",
        "ttft+tpot": f"both bind: batch {best + 1}'s prefill takes {_ms(t['prefill_s_next'][0])}, its "
        f"decode step {_ms(t['decode_step_s_next'][0])}",
    }[binding]
    led.add(
        "batch_meeting_targets",
        best,
        "sequences",
        f"the largest batch in 1..{s.batch} whose prefill and decode step meet the targets on {on}; {why}",
    )
    return best, {"batch_meeting_targets": best, "target_binding": binding}


def estimate_inference(
    scenario: ServingScenario | None = None, /, *, profiles_dirs: tuple = (), **fields
) -> InferenceEstimate:
    """Serving cost of one model on one chip type; `chips` defaults to the fewest that hold it.

    Give a `ServingScenario`, or its fields as keywords (`model=`, `chip=`, `batch=`, ...; see
    `glamsim.scenario.ServingScenario`).  Experts span `expert_parallel` chips (default
    min(chips, experts): the weights are spread evenly); the decode all-to-all's exposed part
    (1 - comm_overlap) is charged on each step.  Computed by the vectorised `inference_costs`."""
    s = scenario.with_(**fields) if scenario is not None and fields else scenario
    s = s if s is not None else ServingScenario.build(fields)
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
    need = int(
        min_chips(
            m, batch, s.prompt_len + s.gen_len, chip.hbm_gb.value * BYTES_PER_GB, bpp, bkv, s.hbm_usable_fraction
        )[0]
    )
    chips = s.chips if s.chips is not None else need
    if chips < need:
        raise ConfigError(
            f"chips={chips}: too few to hold {cfg.name}'s weights and KV cache on {chip.name}; need at least {need}"
        )
    resolve.record(s, led, "chips", "chips", chips)
    resolve.record(s, led, "mfu", "fraction of dense peak")
    resolve.record(s, led, "mbu", "fraction of HBM bandwidth")
    resolve.record(s, led, "comm_overlap", "fraction of the decode all-to-all hidden")
    resolve.record(s, led, "bytes_per_activation", "bytes")
    if not cfg.is_moe:
        x = 1.0
    elif s.expert_parallel is None:
        x = float(min(chips, cfg.n_experts))
        led.add(
            "expert_parallel",
            x,
            "chips the experts span",
            "glamsim default: experts spread over min(chips, experts) chips (weights sharded evenly)",
        )
    else:
        if s.expert_parallel > chips:
            raise ConfigError(f"expert_parallel={s.expert_parallel!r}: more than the {chips} serving chips")
        x = float(s.expert_parallel)
        resolve.record(s, led, "expert_parallel", "chips the experts span")
    link = resolve.interconnect(chip, s, led, needed=s.comm_overlap < 1 and x > 1)
    curve = resolve.power_curve(chip, s, led)
    power = curve.pop("fixed_w")
    curve = {f"power_{k}": v for k, v in curve.items()}
    price = resolve.price(chip, s, led)
    pue, ci, _ = resolve.datacenter(dc, s, led)
    core = partial(
        inference_costs,
        m,
        batch,
        s.prompt_len,
        s.gen_len,
        chips,
        peak_value,
        chip.hbm_bandwidth_gb_per_s.value * BYTES_PER_GB,
        bytes_per_param=bpp,
        bytes_per_kv=bkv,
        expert_parallel=x,
        interconnect_bytes_per_s=link * BYTES_PER_GB,
        comm_overlap=s.comm_overlap,
        bytes_per_activation=s.bytes_per_activation,
        **curve,
    )
    uncertain = {
        "mfu": s.mfu,
        "mbu": s.mbu,
        "power_w": power,
        "pue": pue,
        "carbon_intensity_kg_per_kwh": ci,
        "price_per_chip_hour_usd": price,
    }
    res = core(**{k: nominal(v) for k, v in uncertain.items()})
    values = {
        "model": cfg.name,
        "chip": chip.name,
        "chips": chips,
        "min_chips": need,
        "expert_parallel": x,
        "batch": batch,
        "prompt_len": s.prompt_len,
        "gen_len": s.gen_len,
        "params_total": float(params(m)[0]),
        "params_active": float(params(m, active=True)[0]),
        "bytes_per_param": bpp,
        "bytes_per_kv": bkv,
        "weight_gb_total": float(weight_bytes_total(m, bpp)[0]) / BYTES_PER_GB,
        "kv_cache_gb_full_context": float(kv_cache_bytes(m, batch, s.prompt_len + s.gen_len, bkv)[0]) / BYTES_PER_GB,
    }
    values.update({k: np.asarray(v).reshape(-1)[0].item() for k, v in res.items()})
    if met is not None:
        values.update(met)
    values.update({k: bool(values[k]) for k in ("prefill_compute_bound", "decode_compute_bound")})
    if not any(map(is_uncertain, uncertain.values())):
        return InferenceEstimate(values=values, ledger=led, scenario=s)
    return InferenceEstimate(
        values=values,
        ledger=led,
        scenario=s,
        ranges=output_ranges(core, uncertain, RANGE_OUTPUTS),
        tornado=tornado(core, uncertain, TORNADO_OUTPUTS),
    )
