"""Compute time of one microbatch on one chip, by op class, from matmul shapes.

Op classes (forward, one layer, one chip; T = mb x seq / cp tokens, t = tp):
- matmuls by shape [M, K] x [K, N]: QKV [T, h] x [h, (a + 2 kv) d / t] (kv heads replicated
  when fewer than t), attention output [T, a d / t] x [a d / t, h], the dense FFN
  [T, h] x [h, (mats - 1) f / t] and [T, f / t] x [f / t, h], the router [T', h] x [h, E] (T' =
  T / t under Megatron's sequence parallelism, `stage.routed_tokens`), the
  E / ep local experts each [T (etp / t) ep slots / E, h] x [h, (mats - 1) f_e / etp] and back
  (etp = t unless the expert layers are folded, `layout`), the shared experts as one MLP
  [T, h] x [h, (mats - 1) n_s f_s / t] and back (and its gate, [T', h] x [h, 1], where gated), and on the
  last stage the logits [T, h] x [h, V / t];
- attention scores: b a / t heads of [S / cp, d] x [d, S] and [S / cp, S] x [S, d]; fused
  (flash) attention executes only the unmasked causal half, at its kernel's published fraction
  of the peak where there is one, forward and backward apart (FlashAttention-2 and cuDNN by
  chip, the layout's `attn` or its stack's, `efficiency.ATTENTION_PEAK_FRACTION`, by head
  dimension and, from the published sweeps, by sequence, `ATTENTION_SEQ_RATES`); under context
  parallelism the ring's merges of its steps' outputs and gradients in separate fp32 kernels
  count with the attention (`ring.merge_s`, by exchange; `efficiency.MERGE_BYTES_*`);
- element-wise and normalisation: memory-bound, `ELEMENTWISE_PASSES` x the layer's stored
  activation bytes (`memory.layer_activation_bytes`) through HBM, x `UNFUSED_ELEMENTWISE_FACTOR`
  where the stack runs each element-wise op as its own kernel (eager PyTorch, `fused=0`); fp8
  training adds the casts of every linear layer's input (`FP8_CAST_PASSES`) and keeps the
  attention scores at the 16-bit peak (fp8 applies to the linear layers only); the last stage
  adds the loss's passes over its logits (`loss_s`, `LOSS_PASSES`);
- backward = 2 x forward (fused attention: 2.5 x, it recomputes Q K^T; the loss: its own count,
  `LOSS_PASSES`); recomputation adds a
  forward (full; of the layers recomputed under `recompute_layers`), half the matmuls and the
  element-wise work (torchtitan's per-op policy, `op`: it saves every other matmul's output), or
  the attention scores and their element-wise work (selective);
- the optimizer update (per step, in `steptime`): memory-bound over the chip's parameter shard.

A matmul takes max(FLOPs / (peak x MATMUL_PEAK_FRACTION x relative x prod(d / (d + half))),
bytes moved / HBM bandwidth): a roofline whose compute roof falls for thin shapes; `relative` is
the chip's sustained matmul rate against the reference chip's (`efficiency.matmul_relative`: capped
at its burst rate where only that is measured, 1 without a measurement) and `half` its
thin-dimension scale (`efficiency.matmul_half_dim`).
"""

from __future__ import annotations

import numpy as np

from glamsim.accounting import ModelArrays
from glamsim.predict import efficiency as eff
from glamsim.predict.layout import LayoutArrays
from glamsim.predict.memory import expert_io_values, layer_activation_bytes, layer_activation_parts, loss_width
from glamsim.predict.ring import merge_s as ring_merge_s
from glamsim.predict.stage import (
    expert_slots_per_token,
    layers_per_stage,
    moe_share,
    recomputed_share,
    routed_tokens,
    shared_width,
    tokens_per_microbatch,
)
from glamsim.predict.tiers import Fabric


def matmul_s(M, K, N, fab: Fabric, count=1.0, peak=None):
    """Seconds of `count` matmuls [M, K] x [K, N] on one chip (roofline with thin-shape roll-off),
    at `peak` FLOP/s (default the training dtype's)."""
    if fab.matmul_fraction is not None:  # a measured rate (the CPU check)
        frac = fab.matmul_fraction
    elif fab.fp8_linears and peak is None:  # an fp8 linear layer
        frac = eff.MATMUL_PEAK_FRACTION * eff.fp8_to_16bit(fab.name) * fab.matmul_relative
    else:
        frac = eff.MATMUL_PEAK_FRACTION * fab.matmul_relative
    half = _half_dim(fab)
    roll = 1.0
    for d in (M, K, N):
        roll = roll * d / (d + half)
    flops = 2.0 * M * K * N
    compute = flops / ((fab.peak_flops if peak is None else peak) * min(frac, 1.0) * roll)
    memory = fab.act_bytes * (M * K + K * N + M * N) / fab.hbm_bytes_per_s
    return count * np.maximum(compute, memory)


def _half_dim(fab: Fabric) -> float:
    """The chip's thin-dimension roll-off scale (a measured host rate keeps the reference one)."""
    if fab.matmul_fraction is not None:
        return eff.MATMUL_HALF_DIM
    return eff.matmul_half_dim(fab.peak_flops_16bit or fab.peak_flops, fab.hbm_bytes_per_s)


def matmul_flops(M, K, N, count=1.0):
    return count * 2.0 * M * K * N


def _shapes(m: ModelArrays, seq_len, lay: LayoutArrays, expert_load=None) -> dict:
    """Forward matmuls of one average layer (+ logits) as name -> (M, K, N, count)."""
    T = tokens_per_microbatch(lay, seq_len)
    t = lay.tp
    kv_local = np.maximum(m.kv_heads / t, 1.0)
    d = m.head_dim
    out = {
        "qkv": (T, m.d_model, (m.n_heads / t + 2 * kv_local) * d, 1.0),
        "attn_out": (T, m.n_heads * d / t, m.d_model, 1.0),
    }
    share = moe_share(m)
    out["ffn_in"] = (T, m.d_model, (m.ffn_mats - 1) * m.d_ff / t, 1 - share)
    out["ffn_out"] = (T, m.d_ff / t, m.d_model, 1 - share)
    if np.any(m.n_experts > 0):
        slots = expert_slots_per_token(m, seq_len, lay) if expert_load is None else m.top_k * expert_load
        e_local = np.maximum(m.n_experts, 1) / lay.ep
        # tokens one expert computes: the T / tp a rank dispatches, gathered over its etp ranks
        rows = T * lay.etp / t * lay.ep * slots / np.maximum(m.n_experts, 1)
        out["expert_in"] = (rows, m.d_model, (m.expert_mats - 1) * m.expert_ff / lay.etp, share * e_local)
        out["expert_out"] = (rows, m.expert_ff / lay.etp, m.d_model, share * e_local)
        out["router"] = (routed_tokens(lay, T), m.d_model, np.maximum(m.n_experts, 1), share)
        # shared experts: one tensor-parallel MLP n_shared x f_s wide beside the routed ones, and
        # where gated (Qwen2-MoE's shared_expert_gate) its [T', h] x [h, 1] gate on the router's tokens
        shared = shared_width(m)
        width = np.maximum(shared, 1.0)  # no 0-wide matmul (0 / 0) where there are none
        out["shared_in"] = (T, m.d_model, (m.expert_mats - 1) * width / t, share * (shared > 0))
        out["shared_out"] = (T, width / t, m.d_model, share * (shared > 0))
        out["shared_gate"] = (routed_tokens(lay, T), m.d_model, 1.0, share * (shared > 0) * m.shared_gate)
    return out


def moe_dispatch_forward(m: ModelArrays, seq_len, lay: LayoutArrays, fab: Fabric) -> dict:
    """Seconds and FLOPs of one MoE layer's token movement on one chip, forward (x 3 for forward
    and backward: the backward scatters what the forward gathered and back).

    T tokens (/ tp: the tensor-parallel ranks split the dispatch, as the all-to-alls), k = top_k
    routed copies, s expert slots per token (padded capacity, or k when dropless), h = d_model:
    - gather/scatter stacks (Megatron-Core, MegaBlocks, Tutel, PyTorch): the dispatch reads the k
      routed copies of each token and writes the s slots of the expert buffer, (k + s) T h values;
      the combine reads the k filled slots and writes the weighted sum, (k + 1) T h; each extra
      sort by local expert after the all-to-all (`MOE_SORT_AFTER_ALLTOALL`) reads and writes the
      s slots once each way, 4 s T h; all through HBM at the activation width;
    - einsum stacks (GShard/GSPMD, DeepSpeed-MoE): the one-hot dispatch and combine are matmuls
      [s G, G] x [G, h] per routing group of G tokens (E C = s G slots per group), 4 s G h FLOPs per
      token (`glamsim.accounting.einsum_dispatch_flops`), at the 16-bit rate of their shape;
    - the router's softmax, top-k and balancing loss read and write its fp32 logits,
      `MOE_ROUTER_BYTES_PER_EXPERT` x T' x E bytes, T' the tokens it routes (`routed_tokens`; its
      [T', h] x [h, E] matmul is with the matmuls).
    Keys: permute_s (gather/scatter or einsums), router_s, flops (the einsums')."""
    T = tokens_per_microbatch(lay, seq_len)
    E = np.maximum(m.n_experts, 1)
    k = m.top_k
    s = expert_slots_per_token(m, seq_len, lay)
    h = m.d_model
    tok = T / lay.tp
    local_experts = E / lay.ep
    sorts = eff.by_stack(eff.MOE_SORT_AFTER_ALLTOALL, lay.stack) * ((lay.ep > 1) & (local_experts > 1))
    values = tok * h * ((k + s) + (k + 1) + 4 * s * sorts)
    gather_s = fab.act_bytes * values / fab.hbm_bytes_per_s
    moe = m.n_experts > 0
    G = np.minimum(m.group_size, T)
    slots_g = np.where(moe, s, 1.0) * G  # E x C slots per group (1 for a dense model: no 0 / 0)
    einsum_s = matmul_s(slots_g, G, h / lay.tp, fab, 2 * tok / G, peak=fab.peak_flops_16bit)
    einsum_f = matmul_flops(slots_g, G, h / lay.tp, 2 * tok / G)
    use_einsum = eff.by_stack(eff.MOE_EINSUM_DISPATCH, lay.stack) > 0
    router_s = eff.MOE_ROUTER_BYTES_PER_EXPERT * routed_tokens(lay, T) * E / fab.hbm_bytes_per_s
    return {
        "permute_s": np.where(moe, np.where(use_einsum, einsum_s, gather_s), 0.0),
        "router_s": np.where(moe, router_s, 0.0),
        "flops": np.where(moe & use_einsum, einsum_f, 0.0),
    }


def _moe_buffer_bytes(m: ModelArrays, seq_len, lay: LayoutArrays, act_bytes):
    """The MoE share of `layer_activation_bytes` that `moe_dispatch_forward` streams itself: the
    dispatched inputs and, where stored, the expert outputs (s T h values each / tp; Megatron keeps
    no expert output, `memory.expert_io_values`) and the router's fp32 logits and probabilities
    (2 x 4 x T' E bytes, T' its `routed_tokens`), per average layer on one chip."""
    T = tokens_per_microbatch(lay, seq_len)
    s = expert_slots_per_token(m, seq_len, lay)
    buffers = T * s * expert_io_values(lay) * act_bytes * m.d_model / lay.tp
    logits = layer_activation_parts(m, seq_len, lay, act_bytes)["router"] * routed_tokens(lay, 1.0)
    return np.where(m.n_experts > 0, moe_share(m) * (buffers + logits), 0.0)


def _moe_elementwise_bytes(m: ModelArrays, seq_len, lay: LayoutArrays, act_bytes):
    """The MoE block's share of an average layer's element-wise traffic on one chip (its experts'
    activations, what `layer_activation_bytes` counts of it beside the buffers that
    `moe_dispatch_forward` streams): what recomputing the block (`recompute_moe`) passes again."""
    T = tokens_per_microbatch(lay, seq_len)
    buffers = T * expert_slots_per_token(m, seq_len, lay) * expert_io_values(lay) * act_bytes * m.d_model / lay.tp
    ffn = layer_activation_parts(m, seq_len, lay, act_bytes)["moe_ffn"] / lay.tp
    return np.where(m.n_experts > 0, moe_share(m) * np.maximum(ffn - buffers, 0.0), 0.0)


_MOE_MATMULS = ("expert_in", "expert_out", "router", "shared_in", "shared_out", "shared_gate")


def _fp8_cast_bytes(mm: dict, fab: Fabric):
    """HBM bytes of casting one layer's linear inputs to fp8 (forward; `FP8_CAST_PASSES` per
    16-bit input: read it, write the 1-byte copy, read it again for the scaling maximum); the router
    and the shared-expert gate stay 16-bit (plain torch matmuls in Megatron-Core, not TE layers)."""
    if not fab.fp8_linears:
        return 0.0
    inputs = sum(M * K * c for name, (M, K, N, c) in mm.items() if name not in ("router", "shared_gate"))
    return eff.FP8_CAST_PASSES * fab.act_bytes * inputs


def loss_s(m: ModelArrays, seq_len, lay: LayoutArrays, fab: Fabric):
    """Seconds of the loss's element-wise passes over one microbatch's logits on the last stage,
    (forward, backward): T x V / tp logits, each moved `efficiency.LOSS_PASSES` times at the compute
    width and at the loss's working width (`memory.loss_width`), through HBM; fused as the layers'
    element-wise kernels are (`fused`)."""
    logits = tokens_per_microbatch(lay, seq_len) * m.vocab / lay.tp
    a, w = fab.act_bytes, loss_width(lay, fab.act_bytes)

    def moved(step):
        (f16, fw), (u16, uw) = (eff.LOSS_PASSES[f][step] for f in (True, False))
        return logits * np.where(lay.fused > 0, f16 * a + fw * w, u16 * a + uw * w) / fab.hbm_bytes_per_s

    return moved(0), moved(1)


def attention_s(shapes: dict, lay: LayoutArrays, fab: Fabric, *, head_dim, peak=None, backward: bool = False):
    """Seconds of the attention score matmuls of heads `head_dim` wide.  Unfused: as matmuls (the
    S x S scores go through HBM).  Fused (flash): compute-bound, nothing S x S is written, at the
    kernel's published fraction of the 16-bit peak for the kernel, chip and head dimension
    (`efficiency.attention_fraction`) at the chip's sustained clock (`efficiency.attention_sustained`),
    else at the matmul fraction with the thin-dimension roll-off; the kernel's published rate by
    sequence (`efficiency.attention_seq_factor`, at the length each call computes), where there is
    none short sequences roll off as matmuls."""
    as_matmuls = sum(matmul_s(M, K, N, fab, c, peak) for M, K, N, c in shapes.values())
    clock = eff.attention_sustained(fab.name, fab.matmul_relative)
    known = eff.attention_fraction(lay.stack, lay.attn, fab.name, backward, head_dim) * clock
    peak = fab.peak_flops if peak is None else peak
    half = _half_dim(fab)
    fused = 0.0
    for M, K, N, c in shapes.values():
        d = np.minimum(K, N)  # the thinner of the two (QK^T: K = d; AV: N = d; or a shorter sequence)
        as_matmul = min(eff.MATMUL_PEAK_FRACTION * fab.matmul_relative, 1.0) * d / (d + half)
        frac = np.where(np.isnan(known), as_matmul, known)
        seq = np.maximum(K, N)
        swept = eff.attention_seq_factor(lay.stack, lay.attn, fab.name, backward, M)  # the queries, S / cp
        roll = np.where(np.isnan(known) | np.isnan(swept), M / (M + half) * seq / (seq + half), swept)
        fused = fused + 2.0 * M * K * N * c / (peak * frac * roll)
    return np.where(lay.flash > 0, fused, as_matmuls)


def _score_shapes(m: ModelArrays, seq_len, lay: LayoutArrays) -> dict:
    s_q = seq_len / lay.cp
    heads = lay.mb * m.n_heads / lay.tp
    causal = np.where(lay.flash > 0, 0.5, 1.0)  # fused kernels skip the masked half
    return {
        "scores_qk": (s_q, m.head_dim, seq_len, heads * causal),
        "scores_av": (s_q, seq_len, m.head_dim, heads * causal),
    }


def microbatch_compute(
    m: ModelArrays, seq_len, lay: LayoutArrays, fab: Fabric, expert_load=None, layers=None, output=1.0
) -> dict:
    """Seconds and executed FLOPs of one microbatch on the busiest stage, by op class: `layers`
    layers (default `layers_per_stage`; `steptime.pace_stage` passes a middle or the last stage's
    under `embed_loss`) and, where `output` is 1, the output layer (0: a middle stage's, none).

    Keys: matmul_s, attention_s, elementwise_s (forward + backward), recompute_s,
    matmul_time_fwd_s (what tensor-parallel overlap can hide behind), flops_executed (always the
    busiest stage's layers and the output layer: the HFU basis of `steptime._stage_model_flops`)."""
    stage_layers = layers_per_stage(m, lay)
    layers = stage_layers if layers is None else layers
    mm = _shapes(m, seq_len, lay, expert_load)
    sc = _score_shapes(m, seq_len, lay)
    mm_s = sum(matmul_s(M, K, N, fab, c) for M, K, N, c in mm.values())
    # a measured load imbalance costs time on the busiest expert, not FLOPs: count the routed tokens
    counted = mm if expert_load is None else _shapes(m, seq_len, lay, 1.0)
    mm_f = sum(matmul_flops(M, K, N, c) for M, K, N, c in counted.values())
    at_peak = fab.peak_flops_16bit  # fp8 training: attention stays in bf16
    at_s = attention_s(sc, lay, fab, head_dim=m.head_dim, peak=at_peak)
    at_f = sum(matmul_flops(M, K, N, c) for M, K, N, c in sc.values())
    T = tokens_per_microbatch(lay, seq_len)
    # the output layer in 16-bit, on the stage that holds it
    logits_s = output * matmul_s(T, m.d_model, m.vocab / lay.tp, fab, peak=fab.peak_flops_16bit)
    logits_f = matmul_flops(T, m.d_model, m.vocab / lay.tp)
    loss_fwd_s, loss_bwd_s = (output * x for x in loss_s(m, seq_len, lay, fab))
    # element-wise traffic: the activations a layer would store without recomputation
    act = layer_activation_bytes(m, seq_len, lay, fab.act_bytes) - _moe_buffer_bytes(m, seq_len, lay, fab.act_bytes)
    passes = eff.ELEMENTWISE_PASSES * np.where(lay.fused > 0, 1.0, eff.UNFUSED_ELEMENTWISE_FACTOR)
    ew_s = (passes * act + _fp8_cast_bytes(mm, fab)) / fab.hbm_bytes_per_s
    parts = layer_activation_parts(m, seq_len, lay, fab.act_bytes)
    score_ew_s = passes * (1 - lay.flash) * parts["scores"] / lay.tp / fab.hbm_bytes_per_s

    # fused attention recomputes Q K^T in its backward pass: 2.5 x the forward instead of 2 x, at
    # the kernel's backward rate
    M, K, N, c = sc["scores_qk"]
    qk_f = matmul_flops(M, K, N, c)
    qk_b = attention_s({"qk": sc["scores_qk"]}, lay, fab, head_dim=m.head_dim, peak=at_peak, backward=True)
    at_bwd_s = 2 * attention_s(sc, lay, fab, head_dim=m.head_dim, peak=at_peak, backward=True) + lay.flash * qk_b
    at_bwd_f = 2 * at_f + lay.flash * qk_f
    # context parallelism: the kernels' time is what the ring's K/V exchange hides behind; the
    # ring's merges outside the kernels count with the attention (`glamsim.predict.ring`)
    kernel_fwd_s, kernel_bwd_s = at_s, at_bwd_s
    merge_fwd_s, merge_bwd_s = ring_merge_s(m, seq_len, lay, fab)
    at_s, at_bwd_s = at_s + merge_fwd_s, at_bwd_s + merge_bwd_s

    fwd_layer = mm_s + at_s + ew_s
    bwd_layer = 2 * (mm_s + ew_s) + at_bwd_s
    # recomputed in the backward pass: the whole forward (full); torchtitan's per-op policy ("op"):
    # every other matmul and every element-wise op (the saved half of the matmuls and the fused
    # attention output are kept); Korthikanti's selective: the attention scores
    # (the share of the layers `recompute_layers` names under Megatron's block method)
    rc, whole = lay.recompute, recomputed_share(m, lay)
    # `recompute_moe`: the MoE block's forward again (its matmuls, its experts' element-wise passes;
    # its token movement with the layers' below), beside none or selective
    again = lay.recompute_moe
    moe_mm = {n: mm[n] for n in _MOE_MATMULS if n in mm}
    moe_ew = passes * _moe_elementwise_bytes(m, seq_len, lay, fab.act_bytes) + _fp8_cast_bytes(moe_mm, fab)
    moe_fwd_s = sum(matmul_s(M, K, N, fab, c) for M, K, N, c in moe_mm.values()) + moe_ew / fab.hbm_bytes_per_s
    moe_fwd_f = sum(matmul_flops(*counted[n]) for n in moe_mm)
    # MoE token movement: forward, backward (2 x) and a forward again for the layers recomputed
    moe = moe_dispatch_forward(m, seq_len, lay, fab)
    moe_passes = 3 + whole + again
    moe_layers = layers * moe_share(m)
    op_layer, op_flops = 0.5 * mm_s + ew_s, 0.5 * mm_f
    recompute_layer = np.where(
        rc >= 2, whole * fwd_layer, np.where(rc >= 1.5, op_layer, np.where(rc >= 1, at_s + score_ew_s, 0.0))
    )
    recompute_flops = np.where(
        rc >= 2, whole * (mm_f + at_f), np.where(rc >= 1.5, op_flops, np.where(rc >= 1, at_f, 0.0))
    )
    recompute_layer = recompute_layer + again * moe_fwd_s
    recompute_flops = recompute_flops + again * moe_fwd_f
    return {
        "matmul_s": 3 * (layers * mm_s + logits_s),
        "attention_s": layers * (at_s + at_bwd_s),
        "elementwise_s": 3 * layers * ew_s + loss_fwd_s + loss_bwd_s,
        "recompute_s": layers * recompute_layer,
        "forward_s": layers * fwd_layer + logits_s + loss_fwd_s,
        "backward_s": layers * bwd_layer + 2 * logits_s + loss_bwd_s,
        "matmul_time_fwd_s": layers * (mm_s + at_s),
        "attention_kernel_fwd_s": kernel_fwd_s + 0 * layers,  # one layer's, for the ring's overlap
        "attention_kernel_bwd_s": kernel_bwd_s + 0 * layers,
        "expert_matmul_fwd_s": layers * sum(matmul_s(*mm[n][:3], fab, mm[n][3]) for n in _EXPERT_MATMULS if n in mm),
        "moe_permute_s": moe_layers * moe_passes * moe["permute_s"],
        "moe_router_s": moe_layers * moe_passes * moe["router_s"],
        "flops_executed": (
            3 * (stage_layers * mm_f + logits_f)
            + stage_layers * (at_f + at_bwd_f)
            + stage_layers * recompute_flops
            + stage_layers * moe_share(m) * moe_passes * moe["flops"]
        ),
    }


_EXPERT_MATMULS = ("expert_in", "expert_out")
