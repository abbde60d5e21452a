"""The GShard/GLaM Mixture-of-Experts feed-forward layer.

Tokens are split into routing groups of `router_group_size` (or the largest divisor of the token
count below it).  A float32 softmax router picks the top-k experts per token, the k gates are
renormalised (k > 1), and each expert takes at most C = ceil(capacity_factor x group / experts)
tokens per group: all first choices are served before any second choice, in token order; the
overflow is dropped (its expert output is zero, so the token passes through the residual).

With dropless routing (`routing: dropless`) no token is dropped: the capacity dispatches below
give each expert a whole group's slots.  `renormalize_gates: false` keeps the raw top-k router
probabilities (DeepSeek-MoE, Qwen2-MoE).  Shared experts (each `d_ff_shared` wide) see every
token; Qwen2-MoE's sigmoid gate (`shared_expert_gate`, a d_model -> 1 projection) scales their sum.

Three dispatch implementations:
- "scatter" (default for capacity routing): tokens are scattered into
  `[groups, experts, capacity, d_model]` buffers and gathered back (about the useful FLOPs);
- "einsum": GShard's one-hot dispatch/combine tensors `[groups, group, experts, capacity]`
  (extra FLOPs growing with the square of the group size), same results as scatter;
- "dropless" (default for dropless routing): no capacity and no dropped token whatever the
  config's capacity factor, one routing group of all tokens; the token-expert assignments run as
  grouped matmuls (`glamsim.model.grouped`, `dropless_impl`): "ragged" (`jax.lax.ragged_dot`; a
  grouped GEMM on GPU/TPU, a dense masked matmul on CPU) or "padded" (per-expert buffers from a
  static capacity ladder picked at run time, a hand-written VJP); "auto" is padded on CPU, where it
  is several times faster (benchmarks/bench_moe.py), and ragged elsewhere.  Identical results.
  The constrain hook does not apply to it (no [groups, experts, capacity, d_model] tensor).

The dispatched tensor of the capacity dispatches is produced in one place (`MoE._capacity`) and passed through
`constrain(x, "dispatch")`, the expert output through `constrain(x, "combine")` (identity by
default), so sharding constraints can turn dispatch and combine into all-to-alls
(`glamsim.parallel`).  Routing groups stay a batch dimension throughout (argmax top-k, per-group
scatter/gather) so XLA can split them across devices.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from glamsim.accounting import DISPATCHES
from glamsim.config import ModelConfig
from glamsim.model import grouped
from glamsim.model.layers import ACTIVATIONS, KERNEL_INIT

DROPLESS_IMPLS = ("auto", "padded", "ragged")


def default_dispatch(cfg: ModelConfig) -> str:
    """The natural dispatch of a model: dropless for dropless routing, else scatter."""
    return "dropless" if cfg.dropless else "scatter"


def dropless_capacities(n_tokens: int, n_experts: int, top_k: int) -> list[int]:
    """The padded dropless dispatch's capacity ladder (`glamsim.model.grouped.capacities`)."""
    return grouped.capacities(n_tokens, n_experts, top_k)


def group_size_for(n_tokens: int, target: int) -> int:
    """The routing group size: `target`, or the largest divisor of n_tokens not above it."""
    g = min(target, n_tokens)
    while n_tokens % g:
        g -= 1
    return g


class Routing(NamedTuple):
    """The routing decision of one MoE layer, per group g, token s and choice k."""

    expert: jax.Array  # [G, S, K] int32, chosen expert
    gate: jax.Array  # [G, S, K] float32, renormalised gate (0 where dropped)
    slot: jax.Array  # [G, S, K] int32, position in the expert's buffer
    keep: jax.Array  # [G, S, K] bool, False when over capacity
    probs: jax.Array  # [G, S, E] float32, router softmax


def route(logits, top_k: int, capacity: int, renormalize: bool = True) -> Routing:
    """Top-k routing with GShard's capacity rule (first choices before second choices); the k gates
    renormalised to sum to 1 unless `renormalize` is False."""
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
    gate, expert = top_k_by_argmax(probs, top_k)
    if top_k > 1 and renormalize:
        gate = gate / jnp.sum(gate, axis=-1, keepdims=True)
    n_groups, size, n_experts = probs.shape
    onehot = jax.nn.one_hot(expert, n_experts, dtype=jnp.int32)  # [G, S, K, E]
    by_choice = onehot.transpose(0, 2, 1, 3).reshape(n_groups, top_k * size, n_experts)
    position = jnp.cumsum(by_choice, axis=1) - 1  # choice-major order: all first choices first
    slot = jnp.sum(position * by_choice, axis=-1).reshape(n_groups, top_k, size).transpose(0, 2, 1)
    keep = slot < capacity
    return Routing(expert, jnp.where(keep, gate, 0.0), slot, keep, probs)


def top_k_by_argmax(x, k: int):
    """`jax.lax.top_k` over the last axis as k argmax passes (same order, ties to the lower index).

    XLA's SPMD partitioner splits argmax along the other axes but not the CPU TopK call, which it
    would gather onto every device."""
    values, indices = [], []
    for _ in range(k):
        i = jnp.argmax(x, axis=-1)
        values.append(jnp.take_along_axis(x, i[..., None], axis=-1)[..., 0])
        indices.append(i.astype(jnp.int32))
        x = jnp.where(jax.nn.one_hot(i, x.shape[-1], dtype=jnp.bool_), -jnp.inf, x)
    return jnp.stack(values, axis=-1), jnp.stack(indices, axis=-1)


def load_balancing_loss(r: Routing):
    """GShard's auxiliary loss: E x sum_e (mean router prob_e) x (fraction of first choices to e),
    averaged over groups; 1.0 for perfectly uniform routing."""
    n_experts = r.probs.shape[-1]
    density = jnp.mean(jax.nn.one_hot(r.expert[..., 0], n_experts), axis=1)  # [G, E]
    density_proxy = jnp.mean(r.probs, axis=1)
    return jnp.mean(jnp.sum(density * density_proxy, axis=-1)) * n_experts


def routing_stats(r: Routing) -> dict:
    """Dropped fraction of token-expert assignments, per-expert load (fraction of assignments
    before capacity), and max/mean load."""
    n_experts = r.probs.shape[-1]
    load = jnp.mean(jnp.sum(jax.nn.one_hot(r.expert, n_experts), axis=2), axis=(0, 1)) / r.expert.shape[-1]
    return {
        "aux_loss": load_balancing_loss(r),
        "dropped_fraction": jnp.mean((~r.keep).astype(jnp.float32)),
        "expert_load": load,
        "max_mean_load": jnp.max(load) / jnp.mean(load),
    }


def identity(x, role: str = ""):
    """The default `constrain` hook: no sharding constraint."""
    return x


def _scatter(tokens, expert, slot, n_experts: int, capacity: int):
    """[G, S, D] tokens into [G, E, C, D] buffers at (expert, slot); slot == capacity drops."""
    d = tokens.shape[-1]
    return jax.vmap(
        lambda t, e, c: (
            jnp.zeros((n_experts, capacity, d), tokens.dtype)
            .at[e, c]
            .add(jnp.broadcast_to(t[:, None, :], (*e.shape, d)), mode="drop")
        )
    )(tokens, expert, slot)


def _gather(expert_out, expert, slot, gate):
    """Each token's k expert outputs from [G, E, C, D] buffers, mixed by its gates -> [G, S, D]."""
    picked = jax.vmap(lambda o, e, c: o.at[e, c].get(mode="fill", fill_value=0))(expert_out, expert, slot)
    return jnp.sum(picked * gate[..., None], axis=2)


class MoE(nnx.Module):
    """Router + experts (+ shared experts). Returns (output, routing statistics).

    `dispatch`: "scatter", "einsum" or "dropless" (None: the config's natural one, see
    `default_dispatch`); `dropless_impl`: "auto", "padded" or "ragged" (the dropless dispatch's
    grouped matmuls, see the module docstring)."""

    def __init__(
        self,
        cfg: ModelConfig,
        *,
        dispatch: str | None = None,
        dtype=jnp.float32,
        rngs: nnx.Rngs,
        constrain: Callable = identity,
        dropless_impl: str = "auto",
    ):
        dispatch = dispatch or default_dispatch(cfg)
        if dispatch not in DISPATCHES:
            raise ValueError(f"dispatch={dispatch!r}: expected one of {DISPATCHES}")
        if dropless_impl not in DROPLESS_IMPLS:
            raise ValueError(f"dropless_impl={dropless_impl!r}: expected one of {DROPLESS_IMPLS}")
        self.cfg, self.dispatch, self.dtype, self.constrain = cfg, dispatch, dtype, constrain
        self.dropless_impl = dropless_impl
        self.act = ACTIVATIONS[cfg.activation]
        self.router = nnx.Param(KERNEL_INIT(rngs.params(), (cfg.d_model, cfg.n_experts), jnp.float32))
        self.experts = ExpertWeights(cfg, cfg.n_experts, rngs)
        self.shared = (
            ExpertWeights(cfg, cfg.n_shared_experts, rngs, width=cfg.shared_ff) if cfg.n_shared_experts else None
        )
        self.shared_gate = (
            nnx.Param(KERNEL_INIT(rngs.params(), (cfg.d_model, 1), jnp.float32)) if cfg.shared_expert_gate else None
        )

    def __call__(self, x):
        b, s, d = x.shape
        if self.dispatch == "dropless":
            out, r = self._dropless(x.reshape(1, b * s, d))
        else:
            out, r = self._capacity(x)
        out = out.reshape(b, s, d)
        if self.shared is not None:
            with jax.named_scope("shared_experts"):
                flat = x.reshape(1, 1, b * s, d)
                shared = jnp.sum(
                    self.shared(jnp.broadcast_to(flat, (1, self.shared.n, b * s, d)), self.act), axis=1
                ).reshape(b, s, d)
                if self.shared_gate is not None:
                    shared = shared * jax.nn.sigmoid(x @ self.shared_gate[...].astype(x.dtype))
                out = out + shared
        return out, routing_stats(r)

    def _route(self, tokens, capacity: int) -> Routing:
        with jax.named_scope("router"):
            logits = tokens.astype(jnp.float32) @ self.router[...]
            return route(logits, self.cfg.top_k, capacity, self.cfg.renormalize_gates)

    def _capacity(self, x):
        """Scatter or einsum dispatch into capacity buffers, per routing group."""
        cfg = self.cfg
        b, s, d = x.shape
        size = group_size_for(b * s, cfg.router_group_size)
        capacity = cfg.expert_capacity(size)
        tokens = x.reshape(-1, size, d)  # [G, S, D]
        r = self._route(tokens, capacity)
        with jax.named_scope("dispatch"):
            if self.dispatch == "einsum":
                mask = (
                    jax.nn.one_hot(r.expert, cfg.n_experts, dtype=x.dtype)[..., None]
                    * jax.nn.one_hot(jnp.where(r.keep, r.slot, capacity), capacity, dtype=x.dtype)[..., None, :]
                )
                dispatch_mask = jnp.sum(mask, axis=2)  # [G, S, E, C]
                dispatched = jnp.einsum("gsec,gsd->gecd", dispatch_mask, tokens)
            else:
                slot = jnp.where(r.keep, r.slot, capacity)  # out of range: dropped by the scatter
                # per group (vmap): the scatter/gather keep groups as a batch dimension XLA can split
                dispatched = _scatter(tokens, r.expert, slot, cfg.n_experts, capacity)
            dispatched = self.constrain(dispatched, "dispatch")  # [groups, experts, capacity, d_model]
        with jax.named_scope("experts"):
            expert_out = self.constrain(self.experts(dispatched, self.act), "combine")
        with jax.named_scope("combine"):
            gate = r.gate.astype(x.dtype)
            if self.dispatch == "einsum":
                combine = jnp.sum(mask * gate[..., None, None], axis=2)
                out = jnp.einsum("gsec,gecd->gsd", combine, expert_out)
            else:
                out = _gather(expert_out, r.expert, slot, gate)
        return out, r

    def _dropless(self, tokens):
        """No capacity, nothing dropped: one routing group of all T tokens [1, T, D]; the T x k
        assignment rows (token-major) through `glamsim.model.grouped`."""
        cfg = self.cfg
        n, d = tokens.shape[1:]
        r = self._route(tokens, n)  # capacity = every token: keep is all True
        impl = self.dropless_impl
        if impl == "auto":
            impl = "padded" if jax.default_backend() == "cpu" else "ragged"
        with jax.named_scope("dispatch"):
            rows = jnp.broadcast_to(tokens[0][:, None, :], (n, cfg.top_k, d)).reshape(-1, d)
            expert = r.expert[0].reshape(-1)
        weights = self.experts.arrays()
        with jax.named_scope("experts"):
            if impl == "ragged":
                y = grouped.ragged_experts(self.act, self.experts.gated, rows, expert, weights)
            else:
                caps = grouped.capacities(n, cfg.n_experts, cfg.top_k)
                index = grouped.rung(caps, jnp.max(r.slot) + 1)  # the busiest expert's rows
                y = grouped.padded_experts(
                    tuple(caps), self.act, self.experts.gated, index, rows, expert, r.slot[0].reshape(-1), weights
                )
        with jax.named_scope("combine"):
            out = jnp.sum(y.reshape(n, cfg.top_k, d) * r.gate[0][..., None].astype(y.dtype), axis=1)
        return out[None], r


class ExpertWeights(nnx.Module):
    """n stacked expert FFNs (`width` wide, default the experts' d_ff_expert) applied to per-expert
    buffers [G, n, C, d_model]."""

    def __init__(self, cfg: ModelConfig, n: int, rngs: nnx.Rngs, width: int | None = None):
        d, f = cfg.d_model, width or cfg.expert_ff
        self.n, self.gated, self.use_bias = n, cfg.expert_gated, cfg.use_bias
        init = nnx.initializers.variance_scaling(
            1.0, "fan_in", "truncated_normal", in_axis=-2, out_axis=-1, batch_axis=(0,)
        )
        self.wi_0 = nnx.Param(init(rngs.params(), (n, d, f), jnp.float32))
        self.wi_1 = nnx.Param(init(rngs.params(), (n, d, f), jnp.float32)) if cfg.expert_gated else None
        self.wo = nnx.Param(init(rngs.params(), (n, f, d), jnp.float32))
        if cfg.use_bias:
            self.bi_0 = nnx.Param(jnp.zeros((n, f), jnp.float32))
            self.bi_1 = nnx.Param(jnp.zeros((n, f), jnp.float32)) if cfg.expert_gated else None
            self.bo = nnx.Param(jnp.zeros((n, d), jnp.float32))

    def arrays(self) -> dict:
        """The weights as plain arrays, by name (what `apply` and the grouped matmuls take)."""
        names = ["wi_0", "wo"] + (["wi_1"] if self.gated else [])
        if self.use_bias:
            names += ["bi_0", "bo"] + (["bi_1"] if self.gated else [])
        return {k: getattr(self, k)[...] for k in names}

    def __call__(self, x, act):
        return self.apply(self.arrays(), x, act)

    def apply(self, w: dict, x, act):
        """The n FFNs on x [G, n, C, D] with weights `w` (from `arrays()`)."""
        # groups folded into the slot axis: one contracting dimension per expert matmul, which
        # XLA:CPU runs (with its weight gradient) about 2x faster than a [G, E, C, D] einsum
        g, e, c, d = x.shape
        x = x.transpose(1, 0, 2, 3).reshape(e, g * c, d)

        def matmul(inp, name):
            out = jnp.einsum("ecd,edf->ecf", inp, w[name].astype(inp.dtype))
            bias = {"wi_0": "bi_0", "wi_1": "bi_1", "wo": "bo"}[name]
            return out + w[bias][:, None, :].astype(inp.dtype) if bias in w else out

        h = act(matmul(x, "wi_0"))
        if self.gated:
            h = h * matmul(x, "wi_1")
        out = matmul(h, "wo")
        return out.reshape(e, g, c, d).transpose(1, 0, 2, 3)
