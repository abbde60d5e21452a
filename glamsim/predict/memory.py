"""Memory per chip: weights, gradients, optimizer state, activations; the fit check.

Weights, gradients and optimizer state (per parameter on the chip, `stage.chip_params`):
- weights at `params` precision; gradients at `grads` precision (Megatron accumulates fp32);
- optimizer state: a full-precision (fp32) master copy when the weights are lower precision,
  plus Adam's two moments, or Adafactor's factored second moment (a row and a column vector per
  matrix: about 2 / d_model values per parameter) at `opt_state` precision;
- ZeRO shards optimizer state (stage 1), + gradients (2), + weights (3 = FSDP) over the ranks
  holding the same parameters: dp x cp for the rest, dp x cp / ep for routed experts (folded,
  the expert data-parallel group, `stage.expert_data_parallel`).
- FSDP (ZeRO-3) as PyTorch FSDP and JAX keep it: the sharded parameter *is* the fp32 master, so a
  rank holds fp32 parameters, fp32 gradients and two fp32 moments, 16 bytes per parameter / ranks,
  and no persistent low-precision shard; while a layer computes, its parameters are gathered at
  `params` precision (the current and the prefetched layer, two) and its gradient is unsharded
  before the reduce-scatter (one layer); the embedding and output matrices (torchtitan's root unit)
  stay gathered through the step.  XLA's scan over layers (MaxText) holds one gathered layer and
  its gradient at compute precision (an assumption: no published byte count).  Under a pipeline
  schedule PyTorch FSDP turns gradient sync off for all but the last microbatch, so the stage's
  gradients accumulate unsharded in the reduce dtype (torch FSDPParam.to_accumulated_grad_if_needed).
  DeepSpeed ZeRO-3 keeps a 16-bit shard beside the fp32 master
  (Rajbhandari et al. 2020, Sec. 3: 2 + 2 + 12 bytes per parameter / ranks) and gathers module by
  module: no more than its live-parameter bound (`stage3_max_live_parameters`, 1e9) or the largest
  matrix alone, with its prefetch, and a reduce bucket of unsharded gradients (5e8) beside the
  largest matrix's (`efficiency.DEEPSPEED_MAX_LIVE_PARAMS`), where FSDP holds whole layers.

Activations follow Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
Transformer Models", Sec. 4: per layer and microbatch (s tokens, b sequences, h = d_model, a
heads, 16-bit activations, 1-byte dropout masks) a GPT layer stores sbh(34 + 5as/h); with tensor
parallelism t, sbh(10 + 24/t + 5as/(ht)); with sequence parallelism, sbh(34/t + 5as/(ht));
selective recomputation (or fused attention) drops the 5as/h score terms (Megatron's sequence
parallelism stores the QKV and FFN inputs sharded and all-gathers them again for the backward;
PyTorch's DTensor tensor parallelism saves them all-gathered, whole: `SP_SAVES_GATHERED_INPUTS`
in efficiency.py); full recomputation keeps
only each layer's input, 2sbh (/t with sequence parallelism), plus one layer's working set (its
scores too when unfused); recomputing only some layers (`recompute_layers`) keeps the others'
whole sets.  The
34 is rebuilt term by term so that it holds for other shapes:
- replicated without sequence parallelism (10 sbh): two norm inputs (4), the QKV and FFN inputs
  (4), two dropout masks (2, only when the model trains with dropout: `ModelConfig.dropout`);
- split over t: Q, K, V and the attention output (2 x (2 inner + 2 kv inner) sbh / h: 8 for GPT);
  the FFN hidden units: 2 x 2f for a plain FFN (the activation's input and output: 16 for f = 4h);
  a gated FFN keeps the gate and up outputs and their product, 2 x 3f, where the stack fuses the
  activation with the product (Megatron's fused SwiGLU, XLA, torch.compile), and also the
  activation's output, 2 x 4f, in eager PyTorch (silu and mul each save their inputs);
- an MoE layer keeps, per routed slot (E x capacity / group per token), the expert input and
  output (2 x 2h) and the expert hidden units, plus fp32 router logits and probabilities (8E;
  split only by Megatron's sequence parallelism: elsewhere each tensor rank routes the whole
  sequence, `stage.routed_tokens`),
  and its shared experts' hidden units as one MLP's (n_s f_s wide).
  Megatron-Core keeps no expert output: with `moe_permute_fusion` the (un)permutation saves only
  its row-id map, and TEGroupedMLP folds the routing probabilities into the fused weighted SwiGLU
  (megatron/core/transformer/moe/experts.py, `bias_act_func` -> `weighted_bias_swiglu_impl(...,
  permuted_probs)`), so the unpermute needs no saved tokens for the probabilities' gradient; the
  Megatron-Bridge Qwen3 recipes set moe_permute_fusion, moe_grouped_gemm and bias_activation_fusion
  (megatron/bridge/recipes/qwen/qwen3_moe.py; scripts/performance/configs/qwen/qwen3_llm_pretrain.py).
  Under fp8 the grouped GEMMs save their inputs in fp8 as TE's Linear does (the expert input h and
  the activation's output f at 1 byte; the fc1 output the SwiGLU backward reads stays at 16 bits);
- the scores a s^2 b: the 2-byte softmax output, and with dropout its 2-byte output and 1-byte mask
  (5 a s^2 b), unless fused or recomputed.  Context parallelism splits s (queries); keys stay whole.
`recompute=op` is torchtitan's per-op selective checkpointing (torchtitan `_apply_ac_to_transformer_
block`, selective_ac_option="op", Dec 2024): each layer keeps its input and the outputs of the ops
in its save list, flash attention (output and fp32 log-sum-exp) and every other matmul (the 1st,
3rd, ...: Q, V, then the FFN's first and, gated, its output projection), and recomputes the rest;
like full recomputation, one layer's whole working set is rebuilt during its backward pass.
The busiest (first) pipeline stage holds min(pp, microbatches) microbatches in flight under 1F1B;
under the interleaved schedule it runs min(2(pp - 1) + (vp - 1) pp + 1, microbatches x vp)
chunk-microbatches of layers / vp layers each before its first backward (Megatron-LM's warm-up
count in `forward_backward_pipelining_with_interleaving`; Korthikanti et al., Sec. 4.2.3, give the
same 1 + (pp - 1) / (pp vp) factor when microbatches are plentiful).  The last stage's logits are
added: b s V / t at 16 bits plus an fp32 softmax (Megatron's vocab-parallel cross entropy, XLA), or
three fp32 copies at the start of the backward pass in PyTorch FSDP (torchtitan's unfused loss:
fp32 log-probabilities, their gradient and the logits' gradient), or the same three copies at the
compute precision where the loss does not upcast (`loss_upcast=0`: NeMo Automodel's benchmark configs
use MaskedCrossEntropy with fp32_upcast: false, examples/benchmark/configs/qwen3_moe_30b_te_deepep.yaml).
KV caches are not part of training.

Usable HBM: the chip's bytes as the driver reports them less `HBM_RESERVE_FRACTION`.
"""

from __future__ import annotations

import numpy as np

from glamsim.accounting import ModelArrays
from glamsim.predict import efficiency as eff
from glamsim.predict.efficiency import DEEPSPEED, MEGATRON, PYTORCH_FSDP, XLA
from glamsim.predict.layout import LayoutArrays
from glamsim.predict.stage import (
    body_params_per_layer,
    chip_params,
    expert_slots_per_token,
    first_stage_layers,
    interleaved_warmup,
    layers_per_stage,
    moe_share,
    recomputed_share,
    routed_params,
    routed_tokens,
    shared_width,
    stage_embedding_params,
    tokens_per_microbatch,
    zero_groups,
)
from glamsim.predict.tiers import Fabric

FP32 = 4.0
MASK = 1.0  # bytes of a dropout mask value

# Share of the driver-reported HBM that the training framework cannot hand to tensors (CUDA
# context, NCCL buffers, allocator fragmentation).  Sourced as a bound: torchtitan's December 2024
# H100 benchmark (pytorch/torchtitan benchmarks/llama3_h100_202412_torchtitan.md, Table 6) ran with
# PyTorch's caching allocator reserving up to 84.9 GiB (91.2e9 bytes) of a 96 GB card, so at most
# 5% of the card sat outside the allocator.  Used only by the fit check, never in time.
HBM_RESERVE_FRACTION = 0.05


def optimizer_values_per_param(m: ModelArrays, lay: LayoutArrays):
    """Optimizer-state values per parameter: Adam's two moments, or Adafactor's factored second
    moment (about 2 / d_model); the fp32 master copy is counted apart (`state_bytes_per_param`)."""
    return np.where(lay.adam > 0, 2.0, 2.0 / m.d_model)


def _fsdp_master(lay: LayoutArrays):
    """1 where the sharded parameter is itself the fp32 master (ZeRO-3 outside DeepSpeed)."""
    return (lay.zero >= 3) & (lay.stack != DEEPSPEED) & (lay.master > 0)


def master_bytes_per_param(lay: LayoutArrays):
    """Bytes of the fp32 master copy kept beside 16-bit weights (0 in pure 16-bit training,
    `master=0`, and where the weights are fp32 already)."""
    return np.where((lay.param_bytes < FP32) & (lay.master > 0), FP32, 0.0)


def state_bytes_per_param(m: ModelArrays, lay: LayoutArrays):
    """Optimizer-state bytes per parameter: moments at `opt_state` precision + an fp32 master copy
    when the weights are stored at lower precision (under FSDP the weights shard is the master)."""
    master = np.where(_fsdp_master(lay), 0.0, master_bytes_per_param(lay))
    return optimizer_values_per_param(m, lay) * lay.state_bytes + master


def largest_matrix_params(m: ModelArrays, lay: LayoutArrays):
    """Parameters of the largest weight matrix on one chip, the unit a per-module ZeRO-3 gathers
    whole: the fused QKV projection, the attention output, the FFN's input (gate and up fused where
    gated) or output, the shared experts' (one MLP), or the vocabulary matrix, split by tensor
    parallelism; a routed expert's, split by expert tensor parallelism (`etp`)."""
    q, kv = m.n_heads * m.head_dim, m.kv_heads * m.head_dim
    ffn_in = np.maximum(m.ffn_mats - 1, 1)
    expert_in = np.maximum(m.expert_mats - 1, 1)
    mats = (
        m.d_model * (q + 2 * kv),
        q * m.d_model,
        m.d_model * m.d_ff * ffn_in,
        m.d_model * shared_width(m) * expert_in,
        m.vocab * m.d_model,
    )
    dense = np.maximum.reduce([np.asarray(x, dtype=float) for x in mats]) / lay.tp
    return np.maximum(dense, m.d_model * m.expert_ff * expert_in * (m.n_experts > 0) / lay.etp)


def model_states(m: ModelArrays, lay: LayoutArrays) -> dict:
    """Bytes per chip of weights, gradients and optimizer state after ZeRO sharding; under FSDP
    the weights include the gathered layers and the gradients the one being reduce-scattered."""
    dense, expert = chip_params(m, lay)
    g_dense, g_expert = zero_groups(lay)

    def sharded(stage):
        d = np.where(lay.zero >= stage, dense / g_dense, dense)
        e = np.where(lay.zero >= stage, expert / g_expert, expert)
        return d + e

    fsdp = _fsdp_master(lay)
    layer = body_params_per_layer(m) / lay.tp + routed_params(m) / m.n_layers / (lay.ep * lay.etp)
    # PyTorch FSDP: the current and the prefetched layer and the root unit's embedding and output
    # (the stage's own under pipeline parallelism) gathered, one layer's gradient unsharded at the
    # reduce dtype; DeepSpeed: no more than its live-parameter bound (or the matrix being computed)
    # and its prefetch, and a reduce bucket of gradients beside the largest matrix's; XLA's scan
    # over layers (MaxText) materialises one layer's weights and its gradient, at compute precision
    xla, ds = lay.stack == XLA, lay.stack == DEEPSPEED
    whole = 2 * layer + stage_embedding_params(m, lay) / lay.tp
    largest = largest_matrix_params(m, lay)
    live = np.minimum(
        whole, np.maximum(eff.DEEPSPEED_MAX_LIVE_PARAMS, largest) + eff.ZERO3_PREFETCH_PARAMS["deepspeed"]
    )
    gathered_params = np.where(lay.zero >= 3, np.where(xla, layer, np.where(ds, live, whole)), 0.0)
    bucket = np.minimum(layer, eff.DEEPSPEED_REDUCE_BUCKET_PARAMS + largest)
    gathered_grads = np.where(lay.zero >= 3, np.where(ds, bucket, layer), 0.0)
    grad_bytes = np.where(xla & (lay.zero >= 3), lay.param_bytes, lay.grad_bytes)
    # PyTorch FSDP under a pipeline schedule syncs gradients only on the last microbatch: the
    # others accumulate unsharded, upcast to the reduce dtype (FSDPParam.to_accumulated_grad_if_needed)
    accumulated = np.where((lay.stack == PYTORCH_FSDP) & (lay.pp > 1) & (lay.zero >= 2), dense + expert, 0.0)
    return {
        "weights": sharded(3) * np.where(fsdp, np.maximum(lay.param_bytes, FP32), lay.param_bytes)
        + gathered_params * lay.param_bytes,
        "gradients": sharded(2) * lay.grad_bytes
        + np.maximum(gathered_grads * grad_bytes, accumulated * lay.grad_bytes),
        "optimizer": sharded(1) * state_bytes_per_param(m, lay),
    }


def expert_io_values(lay: LayoutArrays):
    """Values of h an MoE layer stores per routed slot: the expert input, and its output unless the
    routing probabilities fold into the fused SwiGLU (Megatron-Core: 1, else 2)."""
    return np.where(lay.stack == MEGATRON, 1.0, 2.0)


def _gated_values(lay: LayoutArrays, mats):
    """Hidden-width values an FFN keeps per token and unit of width: 2 plain, 3 gated and fused,
    4 gated in eager PyTorch (the activation's output too)."""
    return np.where(mats > 2, 3.0 + (1 - lay.fused), 2.0)


def layer_activation_parts(m: ModelArrays, seq_len, lay: LayoutArrays, act_bytes=2.0, fp8_inputs=0.0) -> dict:
    """Bytes one layer stores for one microbatch, by part, before any tensor-parallel split:
    `replicated` (split only by sequence parallelism), `split` (split by tp), `scores` (S x S terms,
    split by tp), for a dense and an MoE layer (`split_moe`), and an MoE layer's router logits
    (`router`: split only by Megatron's sequence parallelism, `stage.routed_tokens`).
    `fp8_inputs` (1 where the stack saves the linear layers' inputs in fp8 for their backward, as
    Transformer Engine does): the QKV and FFN inputs, the attention output and the FFN product at 1
    byte instead of act_bytes, and in an MoE layer each slot's expert input and activation output
    (TE's grouped GEMMs)."""
    s = tokens_per_microbatch(lay, seq_len) / lay.mb  # local sequence length
    sb = s * lay.mb
    h, inner, kv_inner = m.d_model, m.n_heads * m.head_dim, m.kv_heads * m.head_dim
    masks = m.dropout > 0
    replicated = sb * h * (4 * act_bytes + 2 * MASK * masks)
    attention = act_bytes * sb * (2 * inner + 2 * kv_inner)
    dense_ffn = act_bytes * sb * m.d_ff * _gated_values(lay, m.ffn_mats)
    slots = expert_slots_per_token(m, seq_len, lay)
    expert_io = expert_io_values(lay)
    shared = shared_width(m)  # the shared experts' hidden width (one MLP)
    moe_ffn = sb * (
        slots * (act_bytes * m.expert_ff * _gated_values(lay, m.expert_mats) + expert_io * act_bytes * h)
        + act_bytes * shared * _gated_values(lay, m.expert_mats)
    )
    router = sb * 2 * FP32 * m.n_experts  # fp32 logits and probabilities of the tokens routed
    scores = (act_bytes + masks * (act_bytes + MASK)) * m.n_heads * lay.mb * s * seq_len
    saved = (act_bytes - 1.0) * fp8_inputs * sb  # bytes no longer kept per value saved in fp8
    replicated = replicated - saved * 2 * h  # the QKV and FFN inputs
    matmul_inputs = 2 * h * (act_bytes * sb - saved)  # of which the QKV and FFN inputs
    attention = attention - saved * inner  # the attention output (the projection's input)
    dense_ffn = dense_ffn - saved * m.d_ff  # the FFN product (the down projection's input)
    moe_ffn = moe_ffn - saved * (slots * (h + m.expert_ff) + shared)  # fc1 and fc2 inputs (grouped GEMMs)
    return {
        "replicated": replicated,
        "matmul_inputs": matmul_inputs,
        "split_dense": attention + dense_ffn,
        "split_moe": attention + moe_ffn,
        "moe_ffn": moe_ffn,
        "router": router,
        "scores": scores,
    }


def layer_activation_bytes(
    m: ModelArrays,
    seq_len,
    lay: LayoutArrays,
    act_bytes=2.0,
    *,
    keep_scores=None,
    fp8_inputs=0.0,
    gathered=0.0,
    gathered_bytes=None,
):
    """Bytes an average layer stores for one microbatch on one chip with no recomputation (the
    tensor/sequence parallel split applied); `keep_scores` defaults to 'not fused attention';
    `gathered` (1 where the stack saves the all-gathered QKV and FFN inputs under sequence
    parallelism, `efficiency.SP_SAVES_GATHERED_INPUTS`) keeps those inputs whole, at
    `gathered_bytes` a value (default act_bytes; 1 where they are gathered in fp8)."""
    p = layer_activation_parts(m, seq_len, lay, act_bytes, fp8_inputs)
    share = moe_share(m)
    split = (1 - share) * p["split_dense"] + share * p["split_moe"]
    keep = (1 - lay.flash) if keep_scores is None else keep_scores
    whole = gathered * p["matmul_inputs"]  # kept at the full sequence under sequence parallelism
    kept = whole * (act_bytes if gathered_bytes is None else gathered_bytes) / act_bytes
    rep = np.where(lay.sp > 0, (p["replicated"] - whole) / lay.tp + kept, p["replicated"])
    router = share * p["router"] * routed_tokens(lay, 1.0)  # split only by Megatron's sequence parallelism
    return rep + router + (split + keep * p["scores"]) / lay.tp


def op_checkpoint_bytes(m: ModelArrays, seq_len, lay: LayoutArrays, act_bytes=2.0):
    """Bytes one layer keeps for one microbatch under torchtitan's per-op checkpointing: its input,
    the flash-attention output (+ fp32 log-sum-exp per head) and every other matmul output (Q, V,
    the FFN's first matmul and, gated, its output projection; per routed slot in an MoE layer)."""
    sb = tokens_per_microbatch(lay, seq_len)
    h, inner, kv_inner = m.d_model, m.n_heads * m.head_dim, m.kv_heads * m.head_dim
    layer_input = act_bytes * sb * h / np.where(lay.sp > 0, lay.tp, 1.0)
    attention = act_bytes * sb * (2 * inner + kv_inner) + FP32 * sb * m.n_heads
    dense_ffn = act_bytes * sb * (m.d_ff + np.where(m.ffn_mats > 2, h, 0.0))
    slots = expert_slots_per_token(m, seq_len, lay)
    gated_h = np.where(m.expert_mats > 2, h, 0.0)
    shared = shared_width(m)
    moe_ffn = act_bytes * sb * (slots * (m.expert_ff + gated_h) + shared + np.where(shared > 0, gated_h, 0.0))
    share = moe_share(m)
    return layer_input + (attention + (1 - share) * dense_ffn + share * moe_ffn) / lay.tp


def microbatches_in_flight(lay: LayoutArrays, rank=0):
    """Microbatches' worth of pipeline rank `rank`'s layers alive before its first backward pass
    (rank 0, the first stage, holds the most): 1F1B min(pp - rank, m); interleaved
    min(2(pp - rank - 1) + (vp - 1) pp + 1, m vp) chunks of 1 / vp each (Megatron's warm-up)."""
    m_count = lay.microbatches
    rank = np.minimum(rank, np.maximum(lay.pp - 1, 0))
    plain = np.minimum(lay.pp - rank, m_count)
    chunks = np.minimum(interleaved_warmup(lay, rank) + 1, m_count * lay.vp) / lay.vp
    return np.where(lay.pp > 1, np.where(lay.vp > 1, chunks, plain), 1.0)


def loss_width(lay: LayoutArrays, act_bytes):
    """Bytes per logit value inside the loss: fp32 (Megatron's and XLA's upcast, PyTorch's by
    default), the compute width where PyTorch's loss does not upcast (`loss_upcast=0`)."""
    return np.where((lay.stack == PYTORCH_FSDP) & (lay.loss_upcast == 0), act_bytes, FP32)


def activations(m: ModelArrays, seq_len, lay: LayoutArrays, act_bytes=2.0, fp8_linears=False) -> dict:
    """Activation bytes per chip on the busiest stage: in-flight microbatches x stored bytes, and
    the last stage's logits.  fp8 training on Megatron (Transformer Engine) keeps the linear
    layers' inputs in fp8 (TE's Linear saves its fp8-cast input for the weight gradient).  The
    stage is the first (the most microbatches in flight) or, where it holds fewer layers (its
    slot given to the embedding under `embed_loss`), the second if that stores more."""
    keep_scores = np.where(lay.recompute >= 1, 0.0, 1 - lay.flash)
    fp8_inputs = np.where(fp8_linears & (lay.stack == MEGATRON), 1.0, 0.0)
    gathered = eff.by_stack(eff.SP_SAVES_GATHERED_INPUTS, lay.stack)
    # torchao's Float8 tensor parallelism casts to fp8 before the all-gather (PrepareFloat8ModuleInput)
    gathered_bytes = np.where(fp8_linears & (lay.stack == PYTORCH_FSDP), 1.0, act_bytes)
    per_layer = layer_activation_bytes(
        m,
        seq_len,
        lay,
        act_bytes,
        keep_scores=keep_scores,
        fp8_inputs=fp8_inputs,
        gathered=gathered,
        gathered_bytes=gathered_bytes,
    )
    # `recompute_moe`: an MoE block keeps only its input (with the layer's); one block's set lives
    # again while it recomputes in the backward
    parts = layer_activation_parts(m, seq_len, lay, act_bytes, fp8_inputs)
    moe_set = moe_share(m) * (parts["moe_ffn"] / lay.tp + parts["router"] * routed_tokens(lay, 1.0))
    moe_again = lay.recompute_moe * moe_set
    sb = tokens_per_microbatch(lay, seq_len)
    layer_input = act_bytes * sb * m.d_model / np.where(lay.sp > 0, lay.tp, 1.0)
    # full recomputation: a recomputed layer keeps its input per microbatch in flight and, while
    # its forward runs again, its whole set (the attention scores too when unfused); under
    # recompute_layers (Megatron's block method: the first N layers of each chunk) the others keep
    # their whole set, and the microbatch in its backward frees those (the last layers, met first)
    # before it recomputes: it peaks at the larger of what it stores and its recomputed layers'
    # inputs plus one working set
    whole = recomputed_share(m, lay)
    scores = (1 - lay.flash) * parts["scores"] / lay.tp
    working = per_layer + scores
    op_layer = op_checkpoint_bytes(m, seq_len, lay, act_bytes)

    def stored(layers, in_flight):
        full_kept = layers * (whole * layer_input + (1 - whole) * working)
        in_backward = np.maximum(full_kept, whole * layers * layer_input + working)
        full = (in_flight - 1) * full_kept + in_backward
        # per-op recomputation (torchtitan): its checkpoints per layer, plus one layer's set
        op = in_flight * layers * op_layer + per_layer
        kept = in_flight * layers * (per_layer - moe_again) + moe_again
        return np.where(lay.recompute >= 2, full, np.where(lay.recompute > 1, op, kept))

    first = stored(first_stage_layers(m, lay), microbatches_in_flight(lay))
    second = stored(layers_per_stage(m, lay), microbatches_in_flight(lay, rank=1))
    width = loss_width(lay, act_bytes)
    logit_bytes = np.where(lay.stack == PYTORCH_FSDP, 3 * width, act_bytes + width)
    logits = sb * m.vocab / lay.tp * logit_bytes
    return {"activations": np.maximum(first, second), "logits": logits}


MEMORY_PARTS = ("weights", "gradients", "optimizer", "activations", "logits")


def memory_per_chip(m: ModelArrays, seq_len, lay: LayoutArrays, fab: Fabric) -> dict:
    """Bytes per chip by part, the total, the usable HBM and the shortfall (0 when it fits)."""
    out = model_states(m, lay)
    out.update(activations(m, seq_len, lay, fab.act_bytes, fab.fp8_linears))
    total = sum(out[k] for k in MEMORY_PARTS)
    usable = fab.hbm_bytes * (1 - HBM_RESERVE_FRACTION)
    out.update(total=total, usable=usable + 0 * total, shortfall=np.maximum(total - usable, 0.0), fits=total <= usable)
    return out


def may_fit(total, usable, band: float):
    """Where the count's low end fits, `total` x exp(-`band`) <= `usable`: `band` is the size of the
    count's log error on published peaks (`intervals.memory_band`), so a layout counted over the
    usable bytes by less than the count's own error may have run (and published runs did)."""
    return np.asarray(total) * np.exp(-band) <= np.asarray(usable)


def fit_verdict(mem: dict, chip: str = "the chip", exclude: str | None = None) -> dict:
    """The fit check of one layout's memory count (`mem`: its parts, total and usable bytes):
    "fits" (the count within the usable bytes), "tight" (over them, but by less than the count's
    error on published peaks of sources other than `exclude`: the time is predicted, the ledger
    warns) or "does not fit" (over even at the low end of that error: refused).  Returns `fits`
    (the count within the usable bytes), `may_fit` (not refused), `memory_verdict`, the count's
    `memory_low_bytes` and `memory_high_bytes`, `memory_basis` and `shortfall_message` ("" when it fits)."""
    from glamsim.predict.intervals import MIN_ROWS as MIN_PEAKS
    from glamsim.predict.intervals import memory_band

    band = memory_band(exclude)
    total, usable = (float(np.asarray(mem[k]).reshape(-1)[0]) for k in ("total", "usable"))
    fits, maybe = total <= usable, bool(may_fit(total, usable, band.q))
    low, high = total * np.exp(-band.q), total * np.exp(band.q)
    verdict = "fits" if fits else "tight" if maybe else "does not fit"
    message = ""
    if not fits:
        message = f"{shortfall_message(mem, 0, chip)}, {total / usable - 1:.1%} over; " + (
            band.basis
            if band.rows < MIN_PEAKS
            else f"{'within' if maybe else 'beyond'} the count's error on published peaks (its {band.level:.0%} "
            f"quantile, x{np.exp(-band.q):.3f}: {low / 1e9:.1f} GB)" + (": may run out of memory" if maybe else "")
        )
    return {
        "fits": fits,
        "may_fit": maybe,
        "memory_verdict": verdict,
        "memory_low_bytes": low,
        "memory_high_bytes": high,
        "memory_basis": band.basis,
        "shortfall_message": message,
    }


def shortfall_message(mem: dict, i: int = 0, chip: str = "the chip") -> str:
    """'needs 41.2 GB per chip, 10.3 GB more than the 30.9 GB usable on h100 (activations 25.0 GB, ...)'."""

    def g(k: str) -> float:
        return float(np.asarray(mem[k]).reshape(-1)[i]) / 1e9

    parts = ", ".join(f"{k} {g(k):.1f} GB" for k in MEMORY_PARTS)
    return (
        f"needs {g('total'):.1f} GB per chip, {g('shortfall'):.1f} GB more than the {g('usable'):.1f} GB "
        f"usable on {chip} ({parts})"
    )
