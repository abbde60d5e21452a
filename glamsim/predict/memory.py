"""Memory per chip: weights, gradients, optimizer state, activations; the fit check.

Weights, gradients and optimizer state (per parameter on the chip, `stage.chip_params`):
- weights at `params` precision; gradients at `grads` precision (Megatron accumulates fp32);
- optimizer state: a full-precision (fp32) master copy when the weights are lower precision,
  plus Adam's two moments, or Adafactor's factored second moment (a row and a column vector per
  matrix: about 2 / d_model values per parameter) at `opt_state` precision;
- ZeRO shards optimizer state (stage 1), + gradients (2), + weights (3 = FSDP) over the ranks
  holding the same parameters: dp x cp for the rest, dp x cp / ep for routed experts.

Activations follow Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
Transformer Models", Sec. 4: per layer and microbatch (s tokens, b sequences, h = d_model, a
heads, 16-bit activations, 1-byte dropout masks) a GPT layer stores sbh(34 + 5as/h); with tensor
parallelism t, sbh(10 + 24/t + 5as/(ht)); with sequence parallelism, sbh(34/t + 5as/(ht));
selective recomputation (or fused attention) drops the 5as/h score terms; full recomputation keeps
only each layer's input, 2sbh (/t with sequence parallelism), plus one layer's working set.  The
34 is rebuilt term by term so that it holds for other shapes:
- replicated without sequence parallelism (10 sbh): two norm inputs (4), the QKV and FFN inputs
  (4), two dropout masks (2);
- split over t: Q, K, V and the attention output (2 x (2 inner + 2 kv inner) sbh / h: 8 for GPT);
  the FFN hidden units: 2 x 2f (a plain FFN's activation input and output: 16 for f = 4h) or
  2 x 4f gated (gate, up, activation, product);
- an MoE layer keeps, per routed slot (E x capacity / group per token), the expert input and
  output (2 x 2h) and the expert hidden units, plus fp32 router logits and probabilities (8E);
- the scores 5as^2b (2-byte softmax output and dropout output, 1-byte mask) unless fused or
  selectively recomputed.  Context parallelism splits s (queries) over cp; keys stay whole.
The busiest (first) pipeline stage holds min(pp, microbatches) microbatches in flight under 1F1B;
interleaving multiplies that by 1 + (pp - 1) / (pp x vp) (Korthikanti et al., Sec. 4.2.3).  The
last stage's fp32 logits (b s V / t x (2 + 4) bytes) are added.  KV caches are not part of training.
"""

from __future__ import annotations

import numpy as np

from glamsim.accounting import ModelArrays
from glamsim.predict.efficiency import MEMORY_RESERVE_FRACTION
from glamsim.predict.layout import LayoutArrays
from glamsim.predict.stage import (
    chip_params,
    expert_slots_per_token,
    layers_per_stage,
    moe_share,
    tokens_per_microbatch,
    zero_groups,
)
from glamsim.predict.tiers import Fabric

FP32 = 4.0
MASK = 1.0  # bytes of a dropout mask value


def optimizer_values_per_param(m: ModelArrays, lay: LayoutArrays):
    """Optimizer-state values per parameter: Adam's two moments, or Adafactor's factored second
    moment (about 2 / d_model); the fp32 master copy is counted apart (`state_bytes_per_param`)."""
    return np.where(lay.adam > 0, 2.0, 2.0 / m.d_model)


def state_bytes_per_param(m: ModelArrays, lay: LayoutArrays):
    """Optimizer-state bytes per parameter: moments at `opt_state` precision + an fp32 master copy
    when the weights are stored at lower precision."""
    master = np.where(lay.param_bytes < FP32, FP32, 0.0)
    return optimizer_values_per_param(m, lay) * lay.state_bytes + master


def model_states(m: ModelArrays, lay: LayoutArrays) -> dict:
    """Bytes per chip of weights, gradients and optimizer state after ZeRO sharding."""
    dense, expert = chip_params(m, lay)
    g_dense, g_expert = zero_groups(lay)

    def sharded(stage):
        d = np.where(lay.zero >= stage, dense / g_dense, dense)
        e = np.where(lay.zero >= stage, expert / g_expert, expert)
        return d + e

    return {
        "weights": sharded(3) * lay.param_bytes,
        "gradients": sharded(2) * lay.grad_bytes,
        "optimizer": sharded(1) * state_bytes_per_param(m, lay),
    }


def layer_activation_parts(m: ModelArrays, seq_len, lay: LayoutArrays, act_bytes=2.0) -> dict:
    """Bytes one layer stores for one microbatch, by part, before any tensor-parallel split:
    `replicated` (split only by sequence parallelism), `split` (split by tp), `scores` (S x S terms,
    split by tp), for a dense and an MoE layer (`split_moe`)."""
    s = tokens_per_microbatch(lay, seq_len) / lay.mb  # local sequence length
    sb = s * lay.mb
    h, inner, kv_inner = m.d_model, m.n_heads * m.head_dim, m.kv_heads * m.head_dim
    replicated = sb * h * (4 * act_bytes + 2 * MASK)
    attention = act_bytes * sb * (2 * inner + 2 * kv_inner)
    dense_ffn = act_bytes * sb * m.d_ff * (2 * m.ffn_mats - 2)
    slots = expert_slots_per_token(m, seq_len, lay)
    moe_ffn = sb * (
        slots * (act_bytes * m.expert_ff * (2 * m.expert_mats - 2) + 2 * act_bytes * h) + 2 * FP32 * m.n_experts
    )
    scores = (2 * act_bytes + MASK) * m.n_heads * lay.mb * s * seq_len
    return {
        "replicated": replicated,
        "split_dense": attention + dense_ffn,
        "split_moe": attention + moe_ffn,
        "scores": scores,
    }


def layer_activation_bytes(m: ModelArrays, seq_len, lay: LayoutArrays, act_bytes=2.0, *, keep_scores=None):
    """Bytes an average layer stores for one microbatch on one chip with no recomputation (the
    tensor/sequence parallel split applied); `keep_scores` defaults to 'not fused attention'."""
    p = layer_activation_parts(m, seq_len, lay, act_bytes)
    share = moe_share(m)
    split = (1 - share) * p["split_dense"] + share * p["split_moe"]
    keep = (1 - lay.flash) if keep_scores is None else keep_scores
    rep = np.where(lay.sp > 0, p["replicated"] / lay.tp, p["replicated"])
    return rep + (split + keep * p["scores"]) / lay.tp


def activations(m: ModelArrays, seq_len, lay: LayoutArrays, act_bytes=2.0) -> dict:
    """Activation bytes per chip on the busiest stage: in-flight microbatches x stored bytes, and
    the last stage's logits."""
    layers = layers_per_stage(m, lay)
    keep_scores = np.where(lay.recompute >= 1, 0.0, 1 - lay.flash)
    per_layer = layer_activation_bytes(m, seq_len, lay, act_bytes, keep_scores=keep_scores)
    sb = tokens_per_microbatch(lay, seq_len)
    layer_input = act_bytes * sb * m.d_model / np.where(lay.sp > 0, lay.tp, 1.0)
    m_count = lay.microbatches
    in_flight = np.where(lay.pp > 1, np.minimum(lay.pp, m_count), 1.0)
    in_flight = in_flight * np.where(lay.vp > 1, 1 + (lay.pp - 1) / (lay.pp * lay.vp), 1.0)
    # full recomputation: each layer's input per microbatch in flight, plus one layer's full set
    # while that layer is recomputed
    stored = np.where(lay.recompute >= 2, in_flight * layers * layer_input + per_layer, in_flight * layers * per_layer)
    logits = sb * m.vocab / lay.tp * (act_bytes + FP32)
    return {"activations": stored, "logits": logits}


def memory_per_chip(m: ModelArrays, seq_len, lay: LayoutArrays, fab: Fabric) -> dict:
    """Bytes per chip by part, the total, the usable HBM and the shortfall (0 when it fits)."""
    out = model_states(m, lay)
    out.update(activations(m, seq_len, lay, fab.act_bytes))
    total = out["weights"] + out["gradients"] + out["optimizer"] + out["activations"] + out["logits"]
    usable = fab.hbm_bytes * (1 - MEMORY_RESERVE_FRACTION)
    out.update(total=total, usable=usable + 0 * total, shortfall=np.maximum(total - usable, 0.0), fits=total <= usable)
    return out


def shortfall_message(mem: dict, i: int = 0, chip: str = "the chip") -> str:
    """'needs 41.2 GB per chip, 10.3 GB more than the 30.9 GB usable on h100 (activations 25.0 GB, ...)'."""

    def g(k: str) -> float:
        return float(np.asarray(mem[k]).reshape(-1)[i]) / 1e9

    parts = ", ".join(f"{k} {g(k):.1f} GB" for k in ("weights", "gradients", "optimizer", "activations", "logits"))
    return (
        f"needs {g('total'):.1f} GB per chip, {g('shortfall'):.1f} GB more than the {g('usable'):.1f} GB "
        f"usable on {chip} ({parts})"
    )
