"""Serving efficiency by regime: what a forward step costs beyond its roofline, by mechanism.

A serving step (a decode step over B sequences, a prefill of T tokens, or a continuous-batching
iteration mixing both) runs every layer's kernels once on each of the `tp` chips the dense
weights are split over.  Beside the roofline (FLOPs over peak x mfu, bytes over bandwidth x mbu),
three things set its time, and they are what make efficiency depend on batch, tensor-parallel
degree, chip and precision instead of being one constant:

- thin matmuls: a step's matmuls are [T, K] x [K, N] with T the step's tokens; the compute roof
  falls as T / (T + MATMUL_HALF_DIM) (the training predictor's roll-off,
  `glamsim.predict.efficiency`, whose constant was calibrated on training rows, not on serving);
- tensor-parallel all-reduces: Megatron-style tensor parallelism all-reduces the T x d_model
  activations twice per layer (after attention and after the FFN), on the link the `tp` chips span,
  with its per-message latency (`glamsim.predict.tiers.allreduce_s`, the predictor's own collective);
- a fixed cost per layer: each kernel of a layer pays a launch and tail time whatever its size
  (`KERNELS_PER_LAYER` x the scenario's `kernel_us`), what keeps a batch-1 decode step above its
  bytes / bandwidth.
"""

from __future__ import annotations

import numpy as np

from glamsim.accounting import ModelArrays
from glamsim.predict.efficiency import MATMUL_HALF_DIM
from glamsim.predict.tiers import Fabric, allreduce_s

# Kernels of one decoder layer in a serving engine's forward pass, all-reduces aside: input norm
# (fused with the previous residual add), QKV projection, rotary embedding, KV-cache write,
# attention, output projection, fused residual add + post-attention norm, gate/up projection,
# activation (SiluAndMul), down projection: the calls of `LlamaDecoderLayer.forward`,
# `LlamaAttention.forward` and `LlamaMLP.forward` in vLLM's vllm/model_executor/models/llama.py
# (commit 0035bdf2), the attention layer counted as its cache write and its kernel.  Counted from the
# source, not fitted; an engine that fuses more (TensorRT-LLM) shows as a smaller `kernel_us`.
KERNELS_PER_LAYER = 10

# Megatron-style tensor parallelism: one all-reduce after attention, one after the FFN, per layer
# (Shoeybi et al. 2019, Megatron-LM, Sec. 3: the g operator of the forward pass).
TP_ALLREDUCES_PER_LAYER = 2


def matmul_rate(tokens):
    """Share of the large-matmul rate a step over `tokens` tokens attains: T / (T + half dim)."""
    t = np.maximum(np.asarray(tokens, dtype=np.float64), 1.0)
    return t / (t + MATMUL_HALF_DIM)


def overhead_s(m: ModelArrays, tokens, tp, fab: Fabric, bytes_per_activation, kernel_us):
    """Seconds a forward step over `tokens` tokens pays beside its roofline: each layer's kernels
    once, and 2 all-reduces per layer of tokens x d_model activations over the `tp` chips (none
    for tp 1)."""
    kernels = m.n_layers * KERNELS_PER_LAYER * np.asarray(kernel_us, dtype=np.float64) * 1e-6
    nbytes = np.asarray(tokens, dtype=np.float64) * m.d_model * bytes_per_activation
    return kernels + TP_ALLREDUCES_PER_LAYER * m.n_layers * allreduce_s(nbytes, tp, 1, tp, fab)


def fabric(
    interconnect_bytes_per_s, inter_node_bytes_per_s, intra_latency_s, inter_latency_s, chips_per_node
) -> Fabric:
    """The link tiers as the predictor's collectives read them (arrays allowed: one per scenario;
    an unknown bandwidth, NaN, costs nothing)."""
    known = lambda x: np.where(np.isnan(np.asarray(x, dtype=np.float64)), np.inf, x)  # noqa: E731
    return Fabric(
        name="serving",
        peak_flops=np.nan,
        hbm_bytes=np.nan,
        hbm_bytes_per_s=np.nan,
        intra_bytes_per_s=known(interconnect_bytes_per_s),
        inter_bytes_per_s=known(inter_node_bytes_per_s),
        intra_latency_s=intra_latency_s,
        inter_latency_s=inter_latency_s,
        chips_per_node=chips_per_node,
    )
