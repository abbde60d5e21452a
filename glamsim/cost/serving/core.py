"""Serving cost, the vectorised core: prefill and decode with a KV cache, on a roofline.

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

from functools import partial

import numpy as np

from glamsim.accounting import (
    ModelArrays,
    expert_params,
    ffn_weights,
    forward_flops_per_token,
)
from glamsim.cost.bundles import Hardware, ServingRun, Site
from glamsim.cost.communication import A2A_PER_MOE_LAYER_DECODE, decode_alltoall_bytes_per_chip
from glamsim.cost.ops import broadcast
from glamsim.cost.power import power_w as power_at_load
from glamsim.cost.serving import regime
from glamsim.cost.serving.memory import (
    expert_placed,
    experts_per_chip,
    experts_touched,
    kv_cache_bytes,
    routed_bytes,
    weight_bytes_read,
    weight_bytes_total,
)
from glamsim.cost.training import S_PER_HOUR

J_PER_KWH = 3.6e6


def roofline_s(flops, bytes_moved, chips, peak_flops, mfu, bandwidth_bytes_per_s, mbu):
    return np.maximum(flops / (chips * peak_flops * mfu), bytes_moved / (chips * bandwidth_bytes_per_s * mbu))


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
    time an average chip is busy at full utilisation (its load is busy_s / s); `compute_s` and
    `memory_s`: its time at the dense peak and at full HBM bandwidth (its utilisations, over s)."""
    ideal = partial(roofline_s, chips=1.0, peak_flops=peak_flops, mfu=1.0, bandwidth_bytes_per_s=bandwidth, mbu=1.0)
    roof = partial(roofline_s, chips=1.0, peak_flops=peak_flops, mfu=mfu, bandwidth_bytes_per_s=bandwidth, mbu=mbu)
    slot_flops = 2 * ffn_weights(m, m.expert_ff, m.expert_mats)
    expert_bytes = expert_params(m) * bytes_per_param
    dense_flops = flops_per_token - m.n_moe_layers * m.top_k * slot_flops
    dense_bytes = weight_bytes_total(m, bytes_per_param) - routed_bytes(m, bytes_per_param)
    dense_chip = (tokens * dense_flops / chips, dense_bytes / shards + kv_bytes / chips)
    dense_rate = regime.matmul_rate(tokens * shards / chips)  # each copy's tokens, through its matmuls
    dense_roof = roof(*dense_chip, mfu=mfu * dense_rate)
    x = np.asarray(expert_parallel, dtype=np.float64)
    experts = np.maximum(np.asarray(m.n_experts, dtype=np.float64), 1.0)
    whole = np.maximum(experts_per_chip(m, x), 1.0)
    share = np.minimum(experts / x, 1.0)
    skew = np.minimum(routing_skew, experts / np.maximum(m.top_k, 1))
    slots = np.maximum(1.0, tokens * m.top_k * (skew + whole - 1) / experts)
    touched = whole * (1 - (1 - 1 / whole) ** slots)
    expert_s = m.n_moe_layers * roof(
        slots * slot_flops * share, touched * share * expert_bytes, mfu=mfu * regime.matmul_rate(slots)
    )
    per_copy = tokens * x / chips  # tokens each copy of the experts serves
    read_avg = experts / x * (1 - (1 - m.top_k / experts) ** per_copy) * expert_bytes  # an average chip
    expert_avg = (tokens * m.top_k * slot_flops / chips, read_avg)
    busy_s = ideal(*dense_chip) + m.n_moe_layers * ideal(*expert_avg)
    rows = tokens * m.top_k / chips
    wire = A2A_PER_MOE_LAYER_DECODE * rows * m.d_model * bytes_per_activation * (x - 1) / x
    a2a_s = np.where(x > 1, m.n_moe_layers * (wire / link_bytes_per_s + A2A_PER_MOE_LAYER_DECODE * link_latency_s), 0.0)
    return {
        "s": dense_roof + expert_s + a2a_s,
        "busy_s": busy_s,
        "compute_s": (dense_chip[0] + m.n_moe_layers * expert_avg[0]) / peak_flops,
        "memory_s": (dense_chip[1] + m.n_moe_layers * expert_avg[1]) / bandwidth,
        "expert_s": expert_s,
        "a2a_s": a2a_s,
        "a2a_bytes": m.n_moe_layers * wire,
        "touched": touched,
        "dense_flops_chip": dense_chip[0],
        "dense_rate": dense_rate,
        "dense_bytes_chip": dense_chip[1],
    }


def step_parts(
    m: ModelArrays,
    tokens,
    flops,
    kv_bytes,
    chips,
    peak_flops,
    hbm_bandwidth_bytes_per_s,
    mfu,
    mbu,
    bytes_per_param,
    bytes_per_activation,
    expert_parallel,
    comm_overlap,
    placed,
    routing_skew,
    dense_shards,
    link_bytes_per_s,
    link_latency_s,
    tp,
    fab,
    kernel_us,
) -> dict:
    """One forward step over `tokens` tokens doing `flops` FLOPs and reading `kv_bytes` of KV cache:
    the closed form's decode step, and a continuous-batching iteration mixing prefill chunks and
    decode tokens (`glamsim.cost.serving.requests`).

    s = max(compute_s, memory_s) + rest_s: compute_s is linear in `flops`, memory_s in `kv_bytes`
    (plus the weights read: every dense weight and the experts `tokens` touch), rest_s depends on
    `tokens` alone (`regime.overhead_s`: `kernel_us` per kernel of each layer and the all-reduces
    over the `tp` chips the dense weights are split over, on the link tiers `fab`; sharded: the
    exposed part (1 - comm_overlap) of the expert all-to-all; experts placed: the wait on the busiest
    expert chip and its all-to-alls).  The compute roof falls for thin steps (`regime.matmul_rate`).
    busy_compute_s and
    busy_memory_s: an average chip's time at the dense peak and at full HBM bandwidth (the power
    model's utilisations are these over s)."""
    fpt = np.divide(flops, tokens, out=np.zeros(np.broadcast(flops, tokens).shape), where=np.asarray(tokens) > 0)
    pl = _expert_placed_s(
        m,
        tokens,
        kv_bytes,
        fpt,
        chips,
        expert_parallel,
        dense_shards,
        routing_skew,
        peak_flops,
        mfu,
        hbm_bandwidth_bytes_per_s,
        mbu,
        bytes_per_param,
        bytes_per_activation,
        link_bytes_per_s,
        link_latency_s,
    )
    step_bytes = weight_bytes_read(m, tokens, bytes_per_param) + kv_bytes
    x = np.asarray(expert_parallel, dtype=np.float64)
    a2a_bytes = decode_alltoall_bytes_per_chip(m, tokens, chips, expert_parallel, bytes_per_activation)
    n_a2a = A2A_PER_MOE_LAYER_DECODE * m.n_moe_layers
    a2a_s = a2a_bytes / link_bytes_per_s + np.where(x > 1, n_a2a * link_latency_s, 0.0)
    overlap = np.asarray(comm_overlap, dtype=np.float64)
    rate = regime.matmul_rate(tokens)
    compute_s = np.where(
        placed,
        pl["dense_flops_chip"] / (peak_flops * mfu * pl["dense_rate"]),
        flops / (chips * peak_flops * mfu * rate),
    )
    memory_s = np.where(
        placed,
        pl["dense_bytes_chip"] / (1.0 * hbm_bandwidth_bytes_per_s * mbu),
        step_bytes / (chips * hbm_bandwidth_bytes_per_s * mbu),
    )
    exposed_s = np.where(overlap >= 1, 0.0, (1 - overlap) * a2a_s)
    roof_s = np.maximum(compute_s, memory_s)
    fixed = regime.overhead_s(m, tokens, tp, fab, bytes_per_activation, kernel_us)
    return {
        "s": np.where(placed, roof_s + pl["expert_s"] + pl["a2a_s"], roof_s + exposed_s) + fixed,
        "compute_s": compute_s,
        "memory_s": memory_s,
        "rest_s": np.where(placed, pl["expert_s"] + pl["a2a_s"], exposed_s) + fixed,
        "overhead_s": fixed,
        "busy_compute_s": np.where(placed, pl["compute_s"], flops / (chips * peak_flops)),
        "busy_memory_s": np.where(placed, pl["memory_s"], step_bytes / (chips * hbm_bandwidth_bytes_per_s)),
        "placed": pl,
        "sharded_a2a_bytes": a2a_bytes,
        "sharded_a2a_s": a2a_s,
    }


def serving_costs(run: ServingRun, hw: Hardware, site: Site) -> dict[str, np.ndarray]:
    """Prefill, decode and per-token cost of serving `batch` requests of P prompt + G generated tokens
    (`glamsim.cost.bundles`: what is served, on which hardware, where; the names below are their fields).

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
    phase's tensor-core and HBM utilisation (`glamsim.cost.power`) unless `power_w` is a number;
    its load is the busier of the two.  A replica busy
    `busy_fraction` of the time idles the rest at `idle_power_w` (NaN: the power model at zero
    load), and that energy and its chip-hours are charged to the tokens it serves."""
    m, batch, chips, mfu, mbu = run.m, run.batch, run.chips, run.mfu, run.mbu
    roof = partial(
        roofline_s,
        chips=chips,
        peak_flops=hw.peak_flops,
        mfu=mfu,
        bandwidth_bytes_per_s=hw.hbm_bandwidth_bytes_per_s,
        mbu=mbu,
    )
    placed = expert_placed(m, run.placement)
    chips_p = np.where(np.isnan(run.prefill_chips), chips, run.prefill_chips)
    split = ~np.isnan(np.asarray(run.prefill_chips, dtype=np.float64))
    x = np.asarray(run.expert_parallel, dtype=np.float64)
    x_p = np.where(split, np.minimum(x, chips_p), x)
    tier = partial(
        link_of,
        chips_per_node=hw.chips_per_node,
        intra_bytes_per_s=hw.interconnect_bytes_per_s,
        inter_bytes_per_s=hw.inter_node_bytes_per_s,
        intra_latency_s=hw.intra_latency_s,
        inter_latency_s=hw.inter_latency_s,
    )
    link, latency = tier(x)
    link_p, latency_p = tier(x_p)
    placed_phase = partial(
        _expert_placed_s,
        m,
        routing_skew=run.routing_skew,
        peak_flops=hw.peak_flops,
        mfu=mfu,
        bandwidth=hw.hbm_bandwidth_bytes_per_s,
        mbu=mbu,
        bytes_per_param=run.bytes_per_param,
        bytes_per_activation=run.bytes_per_activation,
    )
    prefill_tokens = batch * run.prompt_len
    prefill_flops_per_token = forward_flops_per_token(m, (run.prompt_len + 1) / 2)
    prefill_flops = prefill_tokens * prefill_flops_per_token
    prefill_kv = kv_cache_bytes(m, batch, run.prompt_len, run.bytes_per_kv)
    prefill_bytes = weight_bytes_read(m, prefill_tokens, run.bytes_per_param) + prefill_kv
    shards_p = np.where(np.isnan(run.prefill_dense_shards), run.dense_shards, run.prefill_dense_shards)
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
    fab = regime.fabric(
        hw.interconnect_bytes_per_s,
        hw.inter_node_bytes_per_s,
        hw.intra_latency_s,
        hw.inter_latency_s,
        hw.chips_per_node,
    )
    tp, tp_p = (
        np.where(placed, run.dense_shards, chips),
        np.where(placed, shards_p, chips_p),
    )  # dense weights split over
    prefill_roof = roof(prefill_flops, prefill_bytes, chips=chips_p, mfu=mfu * regime.matmul_rate(prefill_tokens))
    prefill_compute_s = np.where(placed, pre_placed["s"], prefill_roof) + regime.overhead_s(
        m, prefill_tokens, tp_p, fab, run.bytes_per_activation, run.kernel_us
    )
    kv_transfer_s = np.where(
        split, prefill_kv / np.minimum(chips_p, chips) / hw.inter_node_bytes_per_s + hw.inter_latency_s, 0.0
    )
    prefill_s = prefill_compute_s + kv_transfer_s
    ctx = run.prompt_len + (run.gen_len + 1) / 2
    flops_per_token = forward_flops_per_token(m, ctx)
    weights_step = weight_bytes_read(m, batch, run.bytes_per_param)
    kv_step = kv_cache_bytes(m, batch, ctx, run.bytes_per_kv)
    step_flops, step_bytes = batch * flops_per_token, weights_step + kv_step
    step = step_parts(
        m,
        batch,
        step_flops,
        kv_step,
        chips,
        hw.peak_flops,
        hw.hbm_bandwidth_bytes_per_s,
        mfu,
        mbu,
        run.bytes_per_param,
        run.bytes_per_activation,
        run.expert_parallel,
        run.comm_overlap,
        placed,
        run.routing_skew,
        run.dense_shards,
        link,
        latency,
        tp=tp,
        fab=fab,
        kernel_us=run.kernel_us,
    )
    dec_placed = step["placed"]
    a2a_bytes = np.where(placed, dec_placed["a2a_bytes"], step["sharded_a2a_bytes"])
    a2a_s = np.where(placed, dec_placed["a2a_s"], step["sharded_a2a_s"])
    step_s = step["s"]
    decode_s = run.gen_len * step_s

    def util(flops, bytes_moved, seconds, n):  # (tensor-core, HBM) utilisation of a phase
        return flops / (n * hw.peak_flops) / seconds, bytes_moved / (n * hw.hbm_bandwidth_bytes_per_s) / seconds

    pre_c, pre_m = util(prefill_flops, prefill_bytes, prefill_s, chips_p)
    pre_c = np.where(placed, pre_placed["compute_s"] / prefill_s, pre_c)
    pre_m = np.where(placed, pre_placed["memory_s"] / prefill_s, pre_m)
    dec_c, dec_m = util(step_flops, step_bytes, step_s, chips)
    dec_c = np.where(placed, dec_placed["compute_s"] / step_s, dec_c)
    dec_m = np.where(placed, dec_placed["memory_s"] / step_s, dec_m)
    prefill_load = np.where(placed, pre_placed["busy_s"] / prefill_s, np.maximum(pre_c, pre_m))
    decode_load = np.where(placed, dec_placed["busy_s"] / step_s, np.maximum(dec_c, dec_m))
    curve = (hw.power_w, hw.power_idle_w, hw.power_tdp_w, hw.power_compute_w, hw.power_memory_w, hw.power_host_w)
    prefill_w = power_at_load(pre_c, pre_m, *curve)
    decode_w = power_at_load(dec_c, dec_m, *curve)
    idle_w = np.where(np.isnan(hw.idle_power_w), power_at_load(0.0, 0.0, *curve), hw.idle_power_w)
    idle_per_busy = (1 - np.asarray(run.busy_fraction, dtype=np.float64)) / run.busy_fraction  # idle s per busy s
    facility_w = chips * (decode_w + idle_per_busy * idle_w) * site.pue  # idle time charged to the tokens served
    prefill_facility_w = chips_p * (prefill_w + idle_per_busy * idle_w) * site.pue
    usd_per_chip_s = site.price_per_chip_hour_usd / S_PER_HOUR / run.busy_fraction
    generated = batch * run.gen_len
    chip_hours_per_million = chips * step_s / batch * 1e6 / S_PER_HOUR / run.busy_fraction  # decode, idle included
    nan = np.full(np.shape(placed), np.nan)
    return broadcast(
        {
            "prefill_flops": prefill_flops,
            "prefill_bytes": prefill_bytes,
            "prefill_s": prefill_s,
            "prefill_chips_used": chips_p,
            "kv_transfer_s": kv_transfer_s,
            "prefill_compute_bound": prefill_flops / (hw.peak_flops * mfu)
            >= prefill_bytes / (hw.hbm_bandwidth_bytes_per_s * mbu),
            "prefill_tokens_per_s_per_chip": prefill_tokens / prefill_s / chips_p,
            "decode_flops_per_token": flops_per_token,
            "decode_weight_bytes_per_step": weights_step,
            "decode_kv_bytes_per_step": kv_step,
            "decode_alltoall_bytes_per_chip_step": a2a_bytes,
            "decode_alltoall_s": a2a_s,
            "decode_step_s": step_s,
            "decode_expert_wait_s": np.where(placed, dec_placed["expert_s"], nan),
            "experts_read_busiest_chip": np.where(placed, dec_placed["touched"], nan),
            "decode_compute_bound": step_flops / (hw.peak_flops * mfu)
            >= step_bytes / (hw.hbm_bandwidth_bytes_per_s * mbu),
            "decode_s": decode_s,
            "request_latency_s": prefill_s + decode_s,
            "experts_touched_per_moe_layer": experts_touched(m.n_experts, m.top_k, batch),
            "decode_tokens_per_s_per_chip": batch / step_s / chips,
            "joules_per_token": facility_w * step_s / batch,
            "joules_per_token_server": facility_w / site.pue * step_s / batch,
            "joules_per_token_boards": chips
            * (decode_w - hw.power_host_w + idle_per_busy * (idle_w - hw.power_host_w))
            * step_s
            / batch,  # NaN where the host share is not known
            "prefill_load": prefill_load,
            "decode_load": decode_load,
            "prefill_power_w_per_chip": prefill_w,
            "decode_power_w_per_chip": decode_w,
            "joules_per_token_with_prefill": (prefill_facility_w * prefill_s + facility_w * decode_s) / generated,
            "kgco2e_per_million_tokens": facility_w
            * step_s
            / batch
            * 1e6
            / J_PER_KWH
            * site.carbon_intensity_kg_per_kwh,
            "idle_power_w_per_chip": idle_w,
            "water_l_per_million_tokens": (
                facility_w / site.pue * site.wue_onsite_l_per_kwh + facility_w * site.water_offsite_l_per_kwh
            )
            * step_s
            / batch
            * 1e6
            / J_PER_KWH,  # on-site (IT energy x WUE) + off-site (facility energy x water per kWh), decode
            "usd_per_million_tokens": usd_per_chip_s * chips * step_s / batch * 1e6,
            # manufacturing carbon of the chip-seconds a token takes (idle time included, as for dollars)
            "embodied_boards_kgco2e_per_million_tokens": hw.embodied_kg_per_chip_hour * chip_hours_per_million,
            "embodied_host_kgco2e_per_million_tokens": hw.host_embodied_kg_per_chip_hour * chip_hours_per_million,
            "embodied_kgco2e_per_million_tokens": (hw.embodied_kg_per_chip_hour + hw.host_embodied_kg_per_chip_hour)
            * chip_hours_per_million,
            "usd_per_million_tokens_with_prefill": usd_per_chip_s
            * (chips_p * prefill_s + chips * decode_s)
            / generated
            * 1e6,
        },
        mfu,
        mbu,
        run.comm_overlap,
    )
