"""Analytic parameter and FLOP counts (numpy only, vectorised over configurations).

Conventions (named, so every figure says what it counts):
- FLOPs are 2 per multiply-accumulate. *Model FLOPs* are what the architecture needs per token:
  every matrix multiply of the activated weights (top-k experts, shared experts and their gate,
  router, output logits) plus attention scores. *Hardware FLOPs* replace the top-k experts by the
  capacity slots an MoE layer computes (capacity padding) and add GShard's one-hot
  dispatch/combine einsums when that dispatch is used.  Dropless routing under its own dispatch
  ("dropless": sorted token-expert assignments, grouped matmuls) has no padding: top-k evaluations;
  a capacity-buffer dispatch (scatter, einsum) of a dropless model must hold a whole group per
  expert.  `dispatch=None` is the model's natural dispatch: dropless for dropless routing, else scatter.
- Attention scores (QK^T and AV) cost 4 x context x n_heads x d_head per token and layer.
  Training counts the full S x S score matrix (`causal_halved=False`, what XLA executes);
  `causal_halved=True` counts only the causal half.  Decoding one token at context C reads C keys.
- Training FLOPs = 3 x forward (forward + backward); the optimizer update is not per token.
- The "2N" convention: 2 x activated parameters per token (embedding included), attention on top.
- Hardware FLOPs also count what a compiled step executes beyond matrix multiplies where it is
  not negligible on small models: the attention softmax (scale, bias/mask, max, normalise: about
  3 FLOPs per score forward), the FFN activation (tanh-approximate GELU and the gate multiply:
  about 8 FLOPs per hidden unit forward) and, per step, the optimizer update (`optimizer_flops_per_step`).

Every function takes `ModelArrays` (one numpy array per field), so a sweep counts thousands
of configurations in one call; `count(cfg)` is the single-configuration view.  `cached_arrays(cfg)`
and `scalar_arrays(cfg)` are the per-configuration views the single-scenario estimators reuse
(built once per config object).  pandas is imported only where a DataFrame is built.
"""

from glamsim.accounting.arrays import (
    _PER_CONFIG,  # noqa: F401  (tests/test_speed_paths.py watches the per-configuration cache)
    MAX_MEMO_PER_CONFIG,
    ModelArrays,
    cached_arrays,
    memo,
    scalar_arrays,
)
from glamsim.accounting.counts import Counts, count, layer_table, published_deltas
from glamsim.accounting.flops import (
    ACTIVATION_FLOPS_PER_UNIT,
    ADAFACTOR_FLOPS_PER_PARAM,
    DISPATCHES,
    SOFTMAX_FLOPS_PER_SCORE,
    attention_score_flops,
    einsum_dispatch_flops,
    expert_capacity,
    expert_slots_per_token,
    forward_flops_per_token,
    layer_flops,
    logits_flops,
    optimizer_flops_per_step,
    train_flops_per_step,
    train_flops_per_token,
)
from glamsim.accounting.params import (
    attention_params,
    attention_weights,
    dense_ffn_params,
    embedding_params,
    expert_params,
    ffn_params,
    ffn_weights,
    moe_ffn_params,
    params,
    router_params,
    shared_expert_params,
)

__all__ = [
    "ACTIVATION_FLOPS_PER_UNIT",
    "ADAFACTOR_FLOPS_PER_PARAM",
    "DISPATCHES",
    "MAX_MEMO_PER_CONFIG",
    "SOFTMAX_FLOPS_PER_SCORE",
    "Counts",
    "ModelArrays",
    "attention_params",
    "attention_score_flops",
    "attention_weights",
    "cached_arrays",
    "count",
    "dense_ffn_params",
    "einsum_dispatch_flops",
    "embedding_params",
    "expert_capacity",
    "expert_params",
    "expert_slots_per_token",
    "ffn_params",
    "ffn_weights",
    "forward_flops_per_token",
    "layer_flops",
    "layer_table",
    "logits_flops",
    "memo",
    "moe_ffn_params",
    "optimizer_flops_per_step",
    "params",
    "published_deltas",
    "router_params",
    "scalar_arrays",
    "shared_expert_params",
    "train_flops_per_step",
    "train_flops_per_token",
]
