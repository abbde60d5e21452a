"""The CPU check: the same predictor, given a host's measured matmul rate and memory bandwidth,
predicts the step time of the real JAX training step (`glamsim.model.train.train_step`) on one
CPU device.

What the real step runs, and how it maps onto the predictor: float32 everywhere (`act_bytes` 4,
fp32 parameters and gradients); no fused attention (the S x S scores are materialised, with
GLaM's relative position bias added to them); GShard capacity buffers with the routing group
`group_size_for(batch x seq, router_group_size)` (the largest divisor of the step's tokens not
above the model's group), scatter dispatch (about the useful FLOPs) or GShard's one-hot einsums
(their FLOPs added as matmuls); factored Adafactor; one device, so no communication.  The
host's measured matmul rate replaces `peak x MATMUL_PEAK_FRACTION` (it is already an attained
rate); its measured streaming bandwidth replaces HBM, or the bandwidth measured inside the
last-level cache when one layer's stored activations (the predictor's own memory count, what a
layer's element-wise ops stream between reuses) fit in that cache.  XLA:CPU allocates the step's
temporary buffers afresh on every call: writing them the first time runs at the host's measured
first-touch rate (page faults), a term of its own.  Nothing here is fitted to the CPU runs.

`glamsim measure` measures the host (`measure_host` in a JAX process) and records
`predict_step(...)` beside the measured step time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glamsim.accounting import ModelArrays, expert_capacity
from glamsim.config import ConfigError, ModelConfig
from glamsim.predict.compute import matmul_s
from glamsim.predict.layout import Layout, LayoutArrays
from glamsim.predict.memory import activations, layer_activation_bytes, model_states
from glamsim.predict.steptime import BREAKDOWN, predict
from glamsim.predict.tiers import Fabric


@dataclass(frozen=True)
class Host:
    """A host as the predictor sees it: measured, not from a datasheet.  `cache_bytes` and
    `cache_bytes_per_s` (the last-level cache and the streaming rate measured inside it) are
    optional: when one layer's stored activations fit in the cache, element-wise traffic runs at
    the cache rate (the same mechanism as HBM on an accelerator, one level up).  `fresh_bytes_per_s`
    (optional) is the rate at which a process writes memory it has just allocated: XLA:CPU
    allocates a step's temporary buffers (activations kept for the backward pass, gradients) afresh
    on every call, and the operating system zero-fills each new page on first touch."""

    matmul_flops_per_s: float  # attained by a large float32 matmul in the measuring process
    memory_bytes_per_s: float  # attained by a streaming element-wise op over arrays larger than cache
    cache_bytes: float | None = None
    cache_bytes_per_s: float | None = None
    fresh_bytes_per_s: float | None = None  # writing newly allocated memory (first touch: page faults)
    description: str = "this host"

    def __post_init__(self):
        for name in (
            "matmul_flops_per_s",
            "memory_bytes_per_s",
            "cache_bytes",
            "cache_bytes_per_s",
            "fresh_bytes_per_s",
        ):
            v = getattr(self, name)
            if v is None and name not in ("matmul_flops_per_s", "memory_bytes_per_s"):
                continue
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v > 0):
                raise ConfigError(f"host {name}={v!r}: must be a positive finite number")

    def fabric(self, working_set_bytes: float = float("inf")) -> Fabric:
        """The host as a `Fabric`; memory-bound work at the cache rate when `working_set_bytes` fits."""
        inf = float("inf")
        in_cache = (
            self.cache_bytes is not None
            and self.cache_bytes_per_s is not None
            and working_set_bytes <= self.cache_bytes
        )
        bw = self.cache_bytes_per_s if in_cache else self.memory_bytes_per_s
        return Fabric(
            name=self.description,
            peak_flops=self.matmul_flops_per_s,
            hbm_bytes=inf,
            hbm_bytes_per_s=bw,
            intra_bytes_per_s=inf,
            inter_bytes_per_s=inf,
            intra_latency_s=0.0,
            inter_latency_s=0.0,
            chips_per_node=1.0,
            act_bytes=4.0,
            matmul_fraction=1.0,
        )


def routing_group(n_tokens: int, target: int) -> int:
    """The routing group the JAX model uses: `target`, or the largest divisor of n_tokens below it
    (the twin of `glamsim.model.moe.group_size_for`, without importing JAX)."""
    g = min(target, n_tokens)
    while n_tokens % g:
        g -= 1
    return g


def cpu_layout(batch: int) -> Layout:
    """The real step on one device: one microbatch of `batch` sequences, fp32, Adafactor, unfused attention."""
    return Layout(
        mb=batch, gbs=batch, flash=False, params="fp32", grads="fp32", opt_state="fp32", optimizer="adafactor"
    )


def _einsum_dispatch_s(m: ModelArrays, group: int, tokens: int, fab: Fabric):
    """GShard's one-hot dispatch and combine einsums, forward + backward, over every MoE layer:
    per group [E C, S] x [S, d] and [S, E C] x [E C, d]."""
    _, cap = expert_capacity(m, group)
    ec = m.n_experts * cap
    groups = tokens / group
    one = matmul_s(ec, group, m.d_model, fab, groups) + matmul_s(group, ec, m.d_model, fab, groups)
    return 3 * m.n_moe_layers * one


def predict_step(
    cfg: ModelConfig, batch: int, seq_len: int, dispatch: str, host: Host, expert_load: float | None = None
) -> dict:
    """Predicted seconds of one real training step on one CPU device, with its breakdown."""
    if dispatch not in ("scatter", "einsum"):
        raise ConfigError(f"dispatch={dispatch!r}: expected scatter or einsum")
    if batch < 1 or not 1 <= seq_len <= cfg.max_seq_len:
        raise ConfigError(f"batch={batch}, seq_len={seq_len}: need batch >= 1 and 1 <= seq_len <= {cfg.max_seq_len}")
    tokens = batch * seq_len
    group = routing_group(tokens, cfg.router_group_size)
    m = ModelArrays.of(cfg).with_(group_size=group)
    lay = LayoutArrays.of(cpu_layout(batch))
    # one layer's stored activations: what a layer's element-wise ops stream between reuses
    working_set = float(layer_activation_bytes(m, seq_len, lay, 4.0)[0])
    fab = host.fabric(working_set)
    t = predict(m, seq_len, lay, fab, expert_load)
    extra = float(_einsum_dispatch_s(m, group, tokens, fab)[0]) if dispatch == "einsum" and cfg.is_moe else 0.0
    # the step's temporary memory, touched for the first time on every call: stored activations,
    # logits and fp32 gradients (the predictor's own counts)
    stored = activations(m, seq_len, lay, act_bytes=4.0)
    temp = float(stored["activations"][0] + stored["logits"][0] + model_states(m, lay)["gradients"][0])
    first_touch = temp / host.fresh_bytes_per_s if host.fresh_bytes_per_s else 0.0
    step = float(t["step_s"][0]) + extra + first_touch
    out = {k: float(t[k][0]) for k in BREAKDOWN}
    out["compute_s"] += extra
    out["first_touch_s"] = first_touch
    return {
        "model": cfg.name,
        "batch": batch,
        "seq_len": seq_len,
        "dispatch": dispatch,
        "group_size": group,
        "step_s": step,
        "breakdown": out,
        "matmul_s": float(t["matmul_s"][0]) + extra,
        "attention_s": float(t["attention_s"][0]),
        "elementwise_s": float(t["elementwise_s"][0]),
        "model_flops_per_step": float(t["model_flops_per_step"][0]),
        "working_set_bytes": working_set,
        "temp_bytes": temp,
        "in_cache": fab.hbm_bytes_per_s != host.memory_bytes_per_s,
        "host_matmul_flops_per_s": host.matmul_flops_per_s,
        "host_memory_bytes_per_s": host.memory_bytes_per_s,
    }
