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

from glamsim.accounting import (
    ModelArrays,
    cached_arrays,
    expert_params,
    ffn_weights,
    forward_flops_per_token,
    params,
)
from glamsim.config import ConfigError
from glamsim.cost import resolve
from glamsim.cost.communication import A2A_PER_MOE_LAYER_DECODE, decode_alltoall_bytes_per_chip
from glamsim.cost.ledger import Ledger
from glamsim.cost.ops import broadcast
from glamsim.cost.power import power_w as power_at_load
from glamsim.cost.training import S_PER_HOUR
from glamsim.cost.uncertainty import output_ranges, tornado
from glamsim.scenario import ServingScenario
from glamsim.uncertain import is_uncertain, nominal

BYTES_PER_GB = 1e9
J_PER_KWH = 3.6e6
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


def routed_bytes(m: ModelArrays, bytes_per_param):
    """Bytes of every routed expert of every MoE layer (the weights an expert placement spreads)."""
    return m.n_moe_layers * m.n_experts * expert_params(m) * bytes_per_param


def expert_placed(m: ModelArrays, placement):
    """True where experts are placed whole on chips ("expert") and the model has experts."""
    return (np.asarray(placement) == "expert") & (np.asarray(m.n_experts) > 0)


def min_chips(m: ModelArrays, batch, context, hbm_bytes, bytes_per_param, bytes_per_kv, usable_fraction):
    """Fewest chips whose HBM holds every weight and the KV cache at full context."""
    need = weight_bytes_total(m, bytes_per_param) + kv_cache_bytes(m, batch, context, bytes_per_kv)
    return np.ceil(need / (hbm_bytes * usable_fraction))


def experts_per_chip(m: ModelArrays, expert_parallel):
    """Experts of each MoE layer the busiest chip holds when they are placed over X chips:
    ceil(E / X) whole ones, or an E / X share of one when X > E."""
    e = np.maximum(np.asarray(m.n_experts, dtype=np.float64), 1.0)
    x = np.asarray(expert_parallel, dtype=np.float64)
    return np.where(x <= e, np.ceil(e / x), e / x)


def _held_expert_bytes(m: ModelArrays, expert_parallel, bytes_per_param):
    return m.n_moe_layers * experts_per_chip(m, expert_parallel) * expert_params(m) * bytes_per_param


def dense_shards(
    m: ModelArrays, chips, expert_parallel, batch, context, hbm_bytes, bytes_per_param, bytes_per_kv, usable_fraction
):
    """With experts placed on chips, the fewest chips t each copy of the dense parts is split over
    (tensor parallel) so that a chip holds 1/t of them beside its experts (`experts_per_chip`) and
    1/chips of the KV cache; inf where no t <= chips fits."""
    dense = weight_bytes_total(m, bytes_per_param) - routed_bytes(m, bytes_per_param)
    room = (
        hbm_bytes * usable_fraction
        - _held_expert_bytes(m, expert_parallel, bytes_per_param)
        - kv_cache_bytes(m, batch, context, bytes_per_kv) / chips
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(room > 0, np.maximum(np.ceil(dense / room), 1.0), np.inf)
    return np.where(t <= chips, t, np.inf)


def min_chips_placed(
    m: ModelArrays, expert_parallel, batch, context, hbm_bytes, bytes_per_param, bytes_per_kv, usable_fraction
):
    """Fewest chips that hold a model with experts placed on chips (`dense_shards` finite).

    X given: at least X chips, enough that the dense parts and the cache spread over them fit
    beside the ceil(E / X) experts each chip holds (inf: those experts alone fill a chip).  X NaN
    (experts over every chip): the smallest c with dense / c + the experts of ceil(E / c) + cache / c
    within a chip, found by bisection (that need falls with c; at c >= E it is all bytes / c)."""
    cap = hbm_bytes * usable_fraction
    kv = kv_cache_bytes(m, batch, context, bytes_per_kv)
    total = weight_bytes_total(m, bytes_per_param)
    spread = total - routed_bytes(m, bytes_per_param) + kv  # dense parts and cache: split over the chips
    sharded = np.ceil((total + kv) / cap)
    x = np.asarray(expert_parallel, dtype=np.float64)
    held = _held_expert_bytes(m, np.where(np.isnan(x), 1.0, x), bytes_per_param)
    with np.errstate(divide="ignore", invalid="ignore"):
        given = np.where(cap > held, np.maximum(x, np.ceil(spread / (cap - held))), np.inf)
    lo = sharded
    hi = np.maximum(sharded, np.maximum(np.asarray(m.n_experts, dtype=np.float64), 1.0))
    lo, hi = np.broadcast_arrays(lo, hi)
    lo, hi = lo.copy(), hi.copy()
    while np.any(lo < hi):
        mid = np.floor((lo + hi) / 2)
        ok = spread / mid + _held_expert_bytes(m, mid, bytes_per_param) <= cap
        hi = np.where(ok & (lo < hi), mid, hi)
        lo = np.where(~ok & (lo < hi), mid + 1, lo)
    return np.where(np.isnan(x), hi, given)


def link_of(span, chips_per_node, intra_bytes_per_s, inter_bytes_per_s, intra_latency_s, inter_latency_s):
    """(bandwidth, latency) of the link `span` chips talk over: the fast fabric inside a node, the
    inter-node link beyond `chips_per_node`."""
    inside = np.asarray(span, dtype=np.float64) <= chips_per_node
    return np.where(inside, intra_bytes_per_s, inter_bytes_per_s), np.where(inside, intra_latency_s, inter_latency_s)


def _expert_placed_s(
    m: ModelArrays,
    tokens,
    kv_bytes,
    flops_per_token,
    chips,
    expert_parallel,
    shards,
    routing_skew,
    peak_flops,
    mfu,
    bandwidth,
    mbu,
    bytes_per_param,
    bytes_per_activation,
    link_bytes_per_s,
    link_latency_s,
) -> dict:
    """One phase (a decode step over `tokens` = batch, or a prefill over batch x prompt tokens)
    with the dense parts replicated (each copy split over `shards` chips, `dense_shards`) and the
    experts spread over `expert_parallel` = X chips (chips / X copies).

    Each chip runs 1/chips of the tokens through the dense parts (reading 1/shards of them) and
    its share of the KV cache.  Each MoE layer then waits for its busiest expert chip.  It holds
    n = ceil(E / X) experts (an E / X share of one when X > E), the busiest expert among them at
    `routing_skew` x the mean load (at most E / k: every token) beside n - 1 at the mean: its
    token-slots are max(1, tokens x k x (skew + n - 1) / E), at least one since a touched expert's
    chip must run; it reads each distinct expert they touch, n (1 - (1 - 1/n)^slots), times the
    share of each it holds.  Dispatch and combine all-to-alls carry tokens x k / chips rows of
    d_model per chip, (X - 1) / X off the chip, on the link the X chips span, with its latency: on
    the critical path (the experts wait for their tokens), so charged whole.  `busy_s`: the
    time an average chip is busy at full utilisation (its load is busy_s / s)."""
    ideal = partial(roofline_s, chips=1.0, peak_flops=peak_flops, mfu=1.0, bandwidth_bytes_per_s=bandwidth, mbu=1.0)
    roof = partial(roofline_s, chips=1.0, peak_flops=peak_flops, mfu=mfu, bandwidth_bytes_per_s=bandwidth, mbu=mbu)
    slot_flops = 2 * ffn_weights(m, m.expert_ff, m.expert_mats)
    expert_bytes = expert_params(m) * bytes_per_param
    dense_flops = flops_per_token - m.n_moe_layers * m.top_k * slot_flops
    dense_bytes = weight_bytes_total(m, bytes_per_param) - routed_bytes(m, bytes_per_param)
    dense_chip = (tokens * dense_flops / chips, dense_bytes / shards + kv_bytes / chips)
    x = np.asarray(expert_parallel, dtype=np.float64)
    experts = np.maximum(np.asarray(m.n_experts, dtype=np.float64), 1.0)
    whole = np.maximum(experts_per_chip(m, x), 1.0)
    share = np.minimum(experts / x, 1.0)
    skew = np.minimum(routing_skew, experts / np.maximum(m.top_k, 1))
    slots = np.maximum(1.0, tokens * m.top_k * (skew + whole - 1) / experts)
    touched = whole * (1 - (1 - 1 / whole) ** slots)
    expert_s = m.n_moe_layers * roof(slots * slot_flops * share, touched * share * expert_bytes)
    per_copy = tokens * x / chips  # tokens each copy of the experts serves
    read_avg = experts / x * (1 - (1 - m.top_k / experts) ** per_copy) * expert_bytes  # an average chip
    busy_s = ideal(*dense_chip) + m.n_moe_layers * ideal(tokens * m.top_k * slot_flops / chips, read_avg)
    rows = tokens * m.top_k / chips
    wire = A2A_PER_MOE_LAYER_DECODE * rows * m.d_model * bytes_per_activation * (x - 1) / x
    a2a_s = np.where(x > 1, m.n_moe_layers * (wire / link_bytes_per_s + A2A_PER_MOE_LAYER_DECODE * link_latency_s), 0.0)
    return {
        "s": roof(*dense_chip) + expert_s + a2a_s,
        "busy_s": busy_s,
        "expert_s": expert_s,
        "a2a_s": a2a_s,
        "a2a_bytes": m.n_moe_layers * wire,
        "touched": touched,
    }


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
    placement="sharded",
    routing_skew=1.0,
    dense_shards=1.0,
    prefill_dense_shards=np.nan,
    prefill_chips=np.nan,
    chips_per_node=np.inf,
    inter_node_bytes_per_s=np.nan,
    intra_latency_s=0.0,
    inter_latency_s=0.0,
    idle_power_w=np.nan,
    wue_onsite_l_per_kwh=np.nan,
    water_offsite_l_per_kwh=np.nan,
    busy_fraction=1.0,
    embodied_kg_per_chip_hour=np.nan,
) -> dict[str, np.ndarray]:
    """Prefill, decode and per-token cost of serving `batch` requests of P prompt + G generated tokens.

    `placement` "sharded": every weight spread evenly over the chips; experts split over
    `expert_parallel` = X chips add a dispatch + combine all-to-all per decode step, its exposed
    part (1 - comm_overlap) lengthening the step.  "expert": dense parts replicated (each copy over
    `dense_shards` chips), experts placed on chips, each MoE layer waiting for its busiest expert
    chip (`_expert_placed_s`, with `routing_skew`), its all-to-alls charged whole.  Either
    all-to-all runs on the link X chips span (`link_of`: `interconnect_bytes_per_s` inside a node
    of `chips_per_node`, `inter_node_bytes_per_s` beyond, each with its per-message latency).
    Prefill runs on `prefill_chips` (NaN: the same chips; `prefill_dense_shards`, NaN: the same
    split); a separate pool sends each prompt's KV cache to the decode chips over the inter-node
    link, limited by the smaller pool, before the first token.  Power per chip follows each
    phase's load (`glamsim.cost.power`) unless `power_w` is a number; a replica busy
    `busy_fraction` of the time idles the rest at `idle_power_w` (NaN: the power model at zero
    load), and that energy and its chip-hours are charged to the tokens it serves."""
    roof = partial(
        roofline_s,
        chips=chips,
        peak_flops=peak_flops,
        mfu=mfu,
        bandwidth_bytes_per_s=hbm_bandwidth_bytes_per_s,
        mbu=mbu,
    )
    placed = expert_placed(m, placement)
    chips_p = np.where(np.isnan(prefill_chips), chips, prefill_chips)
    split = ~np.isnan(np.asarray(prefill_chips, dtype=np.float64))
    x = np.asarray(expert_parallel, dtype=np.float64)
    x_p = np.where(split, np.minimum(x, chips_p), x)
    tier = partial(
        link_of,
        chips_per_node=chips_per_node,
        intra_bytes_per_s=interconnect_bytes_per_s,
        inter_bytes_per_s=inter_node_bytes_per_s,
        intra_latency_s=intra_latency_s,
        inter_latency_s=inter_latency_s,
    )
    link, latency = tier(x)
    link_p, latency_p = tier(x_p)
    placed_phase = partial(
        _expert_placed_s,
        m,
        routing_skew=routing_skew,
        peak_flops=peak_flops,
        mfu=mfu,
        bandwidth=hbm_bandwidth_bytes_per_s,
        mbu=mbu,
        bytes_per_param=bytes_per_param,
        bytes_per_activation=bytes_per_activation,
    )
    prefill_tokens = batch * prompt_len
    prefill_flops_per_token = forward_flops_per_token(m, (prompt_len + 1) / 2)
    prefill_flops = prefill_tokens * prefill_flops_per_token
    prefill_kv = kv_cache_bytes(m, batch, prompt_len, bytes_per_kv)
    prefill_bytes = weight_bytes_read(m, prefill_tokens, bytes_per_param) + prefill_kv
    shards_p = np.where(np.isnan(prefill_dense_shards), dense_shards, prefill_dense_shards)
    pre_placed = placed_phase(
        prefill_tokens,
        prefill_kv,
        prefill_flops_per_token,
        chips_p,
        x_p,
        shards_p,
        link_bytes_per_s=link_p,
        link_latency_s=latency_p,
    )
    prefill_compute_s = np.where(placed, pre_placed["s"], roof(prefill_flops, prefill_bytes, chips=chips_p))
    kv_transfer_s = np.where(
        split, prefill_kv / np.minimum(chips_p, chips) / inter_node_bytes_per_s + inter_latency_s, 0.0
    )
    prefill_s = prefill_compute_s + kv_transfer_s
    ctx = prompt_len + (gen_len + 1) / 2
    flops_per_token = forward_flops_per_token(m, ctx)
    weights_step = weight_bytes_read(m, batch, bytes_per_param)
    kv_step = kv_cache_bytes(m, batch, ctx, bytes_per_kv)
    step_flops, step_bytes = batch * flops_per_token, weights_step + kv_step
    dec_placed = placed_phase(
        batch, kv_step, flops_per_token, chips, x, dense_shards, link_bytes_per_s=link, link_latency_s=latency
    )
    sharded_a2a = decode_alltoall_bytes_per_chip(m, batch, chips, expert_parallel, bytes_per_activation)
    n_a2a = A2A_PER_MOE_LAYER_DECODE * m.n_moe_layers
    sharded_a2a_s = sharded_a2a / link + np.where(x > 1, n_a2a * latency, 0.0)
    a2a_bytes = np.where(placed, dec_placed["a2a_bytes"], sharded_a2a)
    a2a_s = np.where(placed, dec_placed["a2a_s"], sharded_a2a_s)
    overlap = np.asarray(comm_overlap, dtype=np.float64)
    sharded_step = roof(step_flops, step_bytes) + np.where(overlap >= 1, 0.0, (1 - overlap) * sharded_a2a_s)
    step_s = np.where(placed, dec_placed["s"], sharded_step)
    decode_s = gen_len * step_s

    def load(flops, bytes_moved, seconds, n):  # busy fraction of the busier of compute and HBM
        return np.maximum(flops / (n * peak_flops), bytes_moved / (n * hbm_bandwidth_bytes_per_s)) / seconds

    prefill_load = np.where(
        placed, pre_placed["busy_s"] / prefill_s, load(prefill_flops, prefill_bytes, prefill_s, chips_p)
    )
    decode_load = np.where(placed, dec_placed["busy_s"] / step_s, load(step_flops, step_bytes, step_s, chips))
    prefill_w = power_at_load(prefill_load, power_w, power_idle_w, power_span_w, power_host_w)
    decode_w = power_at_load(decode_load, power_w, power_idle_w, power_span_w, power_host_w)
    idle_w = np.where(
        np.isnan(idle_power_w), power_at_load(0.0, power_w, power_idle_w, power_span_w, power_host_w), idle_power_w
    )
    idle_per_busy = (1 - np.asarray(busy_fraction, dtype=np.float64)) / busy_fraction  # idle s per busy s
    facility_w = chips * (decode_w + idle_per_busy * idle_w) * pue  # idle time charged to the tokens served
    prefill_facility_w = chips_p * (prefill_w + idle_per_busy * idle_w) * pue
    usd_per_chip_s = price_per_chip_hour_usd / S_PER_HOUR / busy_fraction
    generated = batch * gen_len
    nan = np.full(np.shape(placed), np.nan)
    return broadcast(
        {
            "prefill_flops": prefill_flops,
            "prefill_bytes": prefill_bytes,
            "prefill_s": prefill_s,
            "prefill_chips_used": chips_p,
            "kv_transfer_s": kv_transfer_s,
            "prefill_compute_bound": prefill_flops / (peak_flops * mfu)
            >= prefill_bytes / (hbm_bandwidth_bytes_per_s * mbu),
            "prefill_tokens_per_s_per_chip": prefill_tokens / prefill_s / chips_p,
            "decode_flops_per_token": flops_per_token,
            "decode_weight_bytes_per_step": weights_step,
            "decode_kv_bytes_per_step": kv_step,
            "decode_alltoall_bytes_per_chip_step": a2a_bytes,
            "decode_alltoall_s": a2a_s,
            "decode_step_s": step_s,
            "decode_expert_wait_s": np.where(placed, dec_placed["expert_s"], nan),
            "experts_read_busiest_chip": np.where(placed, dec_placed["touched"], nan),
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
            "idle_power_w_per_chip": idle_w,
            "water_l_per_million_tokens": (
                facility_w / pue * wue_onsite_l_per_kwh + facility_w * water_offsite_l_per_kwh
            )
            * step_s
            / batch
            * 1e6
            / J_PER_KWH,  # on-site (IT energy x WUE) + off-site (facility energy x water per kWh), decode
            "usd_per_million_tokens": usd_per_chip_s * chips * step_s / batch * 1e6,
            # manufacturing carbon of the chip-seconds a token takes (idle time included, as for dollars)
            "embodied_kgco2e_per_million_tokens": embodied_kg_per_chip_hour
            / S_PER_HOUR
            / busy_fraction
            * chips
            * step_s
            / batch
            * 1e6,
            "usd_per_million_tokens_with_prefill": usd_per_chip_s
            * (chips_p * prefill_s + chips * decode_s)
            / generated
            * 1e6,
        },
        mfu,
        mbu,
        comm_overlap,
    )


def serving_layout(
    m: ModelArrays,
    placement,
    batch,
    prompt_len,
    gen_len,
    chips,
    expert_parallel,
    prefill_chips,
    hbm_bytes,
    usable_fraction,
    bytes_per_param,
    bytes_per_kv,
) -> dict:
    """How each scenario is laid out, by the single estimate's and the studies' shared rules.

    `need`: the fewest chips that hold weights and cache at full context (`min_chips`, or
    `min_chips_placed` with experts placed); `chips`: the given ones (NaN: `need`);
    `expert_parallel`: the given X (NaN: min(chips, E) sharded, every chip placed; 1 for a dense
    model); `dense_shards` (placed: `dense_shards`, else 1).  The prefill pool (`prefill_chips`,
    NaN: the decode chips) gets its own need at the prompt's context, X (at most its chips) and
    split.  `fits`: the decode chips hold it with X <= chips; `prefill_fits`: so does the pool."""
    placed = expert_placed(m, placement)
    experts = np.asarray(m.n_experts, dtype=np.float64)
    mem = dict(
        hbm_bytes=hbm_bytes, bytes_per_param=bytes_per_param, bytes_per_kv=bytes_per_kv, usable_fraction=usable_fraction
    )
    x_given = np.where(experts > 0, np.asarray(expert_parallel, dtype=np.float64), 1.0)
    ctx = prompt_len + gen_len
    need = np.where(placed, min_chips_placed(m, x_given, batch, ctx, **mem), min_chips(m, batch, ctx, **mem))
    c = np.where(np.isnan(chips), need, chips)
    x = np.where(np.isnan(x_given), np.where(placed, c, np.minimum(c, np.maximum(experts, 1.0))), x_given)
    shards = np.where(placed, dense_shards(m, c, x, batch, ctx, **mem), 1.0)
    split = ~np.isnan(np.asarray(prefill_chips, dtype=np.float64))
    cp = np.where(split, prefill_chips, c)
    xp = np.minimum(x, cp)
    need_p = np.where(
        placed,
        min_chips_placed(m, np.where(np.isnan(x_given), np.nan, xp), batch, prompt_len, **mem),
        min_chips(m, batch, prompt_len, **mem),
    )
    shards_p = np.where(placed, dense_shards(m, cp, xp, batch, prompt_len, **mem), 1.0)
    return {
        "need": need,
        "chips": c,
        "expert_parallel": x,
        "dense_shards": shards,
        "prefill_need": need_p,
        "prefill_dense_shards": np.where(split, shards_p, shards),
        "fits": (c >= need) & (x <= c) & np.isfinite(shards),
        "prefill_fits": ~split | ((cp >= need_p) & np.isfinite(shards_p)),
    }


MAX_TARGET_CANDIDATES = 2_000_000  # candidate (scenario, batch) pairs evaluated at once
CORE_ROW_KEYS = frozenset(
    "prompt_len gen_len chips hbm usable bpp bkv x ttft tpot peak_flops hbm_bandwidth_bytes_per_s mfu mbu "
    "interconnect_bytes_per_s comm_overlap bytes_per_activation prefill_chips".split()
)  # the rest of a row (routing skew, link tiers, idle power) passes to `inference_costs` as is


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
    placement="sharded",
    prefill_chips=np.nan,
    **roofline,
) -> dict:
    """Per scenario, the largest batch b in 1..batch whose prefill (of the b prompts) takes at most
    `ttft_s` and whose decode step at b takes at most `tpot_s` (NaN: no target), on `chips` (NaN:
    the fewest that hold b) laid out by `serving_layout` (placement, expert span, prefill pool).

    Every candidate batch is evaluated by `inference_costs` (the estimate's own formulas), all
    scenarios' candidates in one vectorised call per chunk.  Returns arrays: `batch` (0: even
    batch 1 misses a target), `binding` (what stops b + 1: "ttft", "tpot", "ttft+tpot", "hbm", or
    "batch" when the given batch meets both), the prefill and decode step at batch 1 and at b + 1."""
    n = len(np.atleast_1d(batch))
    arr = lambda v: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,))  # noqa: E731
    batch = arr(batch).astype(np.int64)
    placement = np.broadcast_to(np.asarray(placement, dtype=object), (n,))
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
            prefill_chips=prefill_chips,
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
        lay = serving_layout(
            mi,
            placement[idx],
            b,
            r["prompt_len"],
            r["gen_len"],
            r["chips"],
            r["x"],
            r["prefill_chips"],
            r["hbm"],
            r["usable"],
            r["bpp"],
            r["bkv"],
        )
        c = lay["chips"]
        nan = np.full(len(idx), np.nan)
        extra = {k: r[k] for k in r if k not in CORE_ROW_KEYS}
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
            expert_parallel=lay["expert_parallel"],
            interconnect_bytes_per_s=r["interconnect_bytes_per_s"],
            comm_overlap=r["comm_overlap"],
            bytes_per_activation=r["bytes_per_activation"],
            placement=placement[idx],
            dense_shards=lay["dense_shards"],
            prefill_chips=r["prefill_chips"],
            prefill_dense_shards=lay["prefill_dense_shards"],
            **extra,
        )
        pre, step = res["prefill_s"], res["decode_step_s"]
        ok_ttft = np.isnan(r["ttft"]) | (pre <= r["ttft"])
        ok_tpot = np.isnan(r["tpot"]) | (step <= r["tpot"])
        fits = lay["fits"] & lay["prefill_fits"]
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


def chip_links(chip, override_gb_per_s=None) -> dict:
    """A chip's link tiers as `inference_costs` takes them: one-way bytes/s inside a node and
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
    if s.power_w is not None or not np.isfinite(fixed_w) or chip.idle_power_w is None:
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


# Scenario fields that reach `inference_costs` as they are: a new one needs its declaration and its formula
DIRECT = resolve.direct_inputs(
    inference_costs,
    ServingScenario,
    {
        "chips",
        "batch",
        "prompt_len",
        "gen_len",
        "power_w",
        "pue",
        "carbon_intensity_kg_per_kwh",
        "price_per_chip_hour_usd",
    }
    | {"bytes_per_param", "bytes_per_kv", "expert_parallel", "placement", "routing_skew", "prefill_chips"},
)


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


def targets_missed(ttft_ms, tpot_ms, t: dict, i: int, chip_name: str, chips) -> str:
    """The refusal of targets that even batch 1 misses (row `i` of `batch_meeting_targets`'s `t`),
    one line for a single estimate and a study row alike."""
    on = f"{chips:g} chips" if chips is not None else "the fewest chips that hold it (give --chips for more)"
    missed = [
        f"{name}={target:g} (batch 1 takes {_ms(got)} at best)"
        for name, target, got in (
            ("ttft_ms", ttft_ms, t["prefill_s_at_1"][i]),
            ("tpot_ms", tpot_ms, t["decode_step_s_at_1"][i]),
        )
        if target is not None and got * 1e3 > target
    ]
    return f"{' and '.join(missed)}: even batch 1 misses it on {chip_name}, on {on}"


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
    `glamsim.scenario.ServingScenario`).  Laid out by `serving_layout` (experts over
    `expert_parallel` chips: default min(chips, experts) sharded, every chip with `placement`
    "expert"); sharded, the decode all-to-all's exposed part (1 - comm_overlap) is charged on each
    step.  Computed by the vectorised `inference_costs`."""
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
    resolve.record(s, led, "comm_overlap", "fraction of the decode all-to-all hidden")
    resolve.record(s, led, "bytes_per_activation", "bytes")
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
    resolve.record(s, led, "busy_fraction", "fraction of the time a replica serves (idle the rest)")
    curve = resolve.power_curve(chip, s, led)
    power = curve.pop("fixed_w")
    curve = {f"power_{k}": v for k, v in curve.items()}
    price = resolve.price(chip, s, led)
    pue, ci, _ = resolve.datacenter(dc, s, led)
    wue, water_offsite = resolve.water(dc, led)
    idle_w, idle_why = idle_power(chip, s, nominal(power) if power is not None else np.nan)
    if s.busy_fraction < 1:
        zero_load = power_at_load(0.0, nominal(power), *(curve[f"power_{k}"] for k in ("idle_w", "span_w", "host_w")))
        shown = idle_w if np.isfinite(idle_w) else float(zero_load)
        led.add("idle_power_w", shown, "W per chip", idle_why)
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
        **resolve.direct_values(s, DIRECT, led),
        placement=placement,
        routing_skew=s.routing_skew or 1.0,
        dense_shards=lay["dense_shards"],
        prefill_dense_shards=lay["prefill_dense_shards"],
        prefill_chips=prefill_chips,
        idle_power_w=idle_w,
        embodied_kg_per_chip_hour=resolve.embodied(chip, s, led),
        **chip_links(chip, s.interconnect_gb_per_s),
        wue_onsite_l_per_kwh=wue,
        water_offsite_l_per_kwh=water_offsite,
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
