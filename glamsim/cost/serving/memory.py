"""Serving memory: bytes of weights and KV cache, the fewest chips that hold them, and how
weights and experts are laid out on chips (`serving_layout`, shared by every face)."""

from __future__ import annotations

import numpy as np

from glamsim.accounting import (
    ModelArrays,
    expert_params,
    params,
)

BYTES_PER_GB = 1e9


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


def memory_per_chip(
    m: ModelArrays,
    batch,
    prompt_len,
    gen_len,
    chips,
    expert_parallel,
    dense_shards,
    placement,
    prefill_chips,
    bytes_per_param,
    bytes_per_kv,
    bytes_per_activation,
) -> dict:
    """What one decode chip holds, in bytes, as laid out by `serving_layout`: `weights` (sharded: every
    weight over the chips; experts placed: its share of the dense parts, 1/dense_shards, beside the
    ceil(E/X) experts it holds), `kv_cache` (the batch at full context, over the chips) and
    `activations`, the live tensors of the largest forward pass the chip runs: the prefill of the
    batch's prompts on these chips (one decoding step's tokens where a prefill pool is given), one
    layer at a time (freed after it), with FlashAttention-style kernels that never hold the S x S
    scores: per token the residual stream and its normed copy (2 x d_model) plus the wider of the
    attention projections (q, k, v, output) and the FFN's hidden units (top_k experts' for an MoE
    layer), those split over the tensor shards (the chips sharded; dense_shards placed), plus the
    last position's logits (vocab)."""
    chips = np.asarray(chips, dtype=np.float64)
    placed = expert_placed(m, placement)
    total = weight_bytes_total(m, bytes_per_param)
    held = _held_expert_bytes(m, np.where(placed, expert_parallel, 1.0), bytes_per_param)
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(placed, (total - routed_bytes(m, bytes_per_param)) / dense_shards + held, total / chips)
        kv = kv_cache_bytes(m, batch, np.asarray(prompt_len) + gen_len, bytes_per_kv) / chips
    split = ~np.isnan(np.asarray(prefill_chips, dtype=np.float64))
    tokens = np.where(split, batch, np.asarray(batch) * prompt_len)
    attn = (2 * m.n_heads + 2 * m.kv_heads) * m.head_dim
    dense_ffn = (m.ffn_mats - 1) * m.d_ff
    expert_ffn = np.where(m.n_experts > 0, m.top_k * (m.expert_mats - 1) * m.expert_ff + m.n_shared * m.shared_ff, 0.0)
    tp = np.where(placed, dense_shards, chips)
    per_token = 2 * m.d_model + np.maximum(attn, np.maximum(dense_ffn, expert_ffn)) / tp
    activations = (tokens * per_token + np.asarray(batch) * m.vocab / tp) * bytes_per_activation
    return {"weights": weights, "kv_cache": kv, "activations": activations}
