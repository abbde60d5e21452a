"""The decoder-only Transformer of a `ModelConfig`: GLaM, its dense twins and GPT-3.

Pre-norm blocks (attention, then a dense or MoE feed-forward as `cfg.is_moe_layer(i)` says; with
`parallel_residual` both read the block's input, GPT-NeoX's x + attn(ln1(x)) + ffn(ln2(x))),
a final norm, tied (logits scaled by d_model^-1/2) or untied output embedding.  The layers are
a Python list run in a Python loop, so the program is unrolled and XLA's cost analysis counts
every layer.
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from glamsim.config import ConfigError, ModelConfig
from glamsim.model.layers import Attention, FeedForward, norm
from glamsim.model.moe import MoE, identity


class Block(nnx.Module):
    """x + attn(norm(x)), then x + ffn(norm(x)) with a dense or MoE ffn."""

    def __init__(
        self,
        cfg: ModelConfig,
        index: int,
        *,
        dispatch: str | None,
        dtype,
        rngs: nnx.Rngs,
        constrain: Callable,
        dropless_impl: str = "auto",
    ):
        self.attn_norm = norm(cfg, dtype, rngs)
        self.attn = Attention(cfg, dtype=dtype, rngs=rngs)
        self.ffn_norm = norm(cfg, dtype, rngs)
        self.is_moe, self.parallel = cfg.is_moe_layer(index), cfg.parallel_residual
        self.ffn = (
            MoE(cfg, dispatch=dispatch, dtype=dtype, rngs=rngs, constrain=constrain, dropless_impl=dropless_impl)
            if self.is_moe
            else FeedForward(cfg, dtype=dtype, rngs=rngs)
        )

    def __call__(self, x, offset, cache):
        h, cache = self.attn(self.attn_norm(x), offset, cache)
        ffn_in = self.ffn_norm(x) if self.parallel else self.ffn_norm(x + h)
        x = x + h
        if self.is_moe:
            h, stats = self.ffn(ffn_in)
        else:
            h, stats = self.ffn(ffn_in), None
        return x + h, stats, cache


@nnx.jit
def _block(layer: Block, x, offset):
    """One block without a cache, as a nested jit: identical blocks (every dense one, every MoE
    one) are traced once and called from the step (unlike a scan, XLA's cost analysis counts every
    call), which cuts tracing and lowering a 64-layer step by about a third."""
    return layer(x, offset, None)


class Transformer(nnx.Module):
    """`Transformer(cfg, rngs=nnx.Rngs(0))(tokens [B, S] int32) -> (logits [B, S, V] f32, aux)`.

    aux: "z_loss" (mean squared log-partition of the output logits) and, for MoE models,
    "aux_loss" (load-balancing loss summed over MoE layers), "dropped_fraction" and
    "max_mean_load" (averaged over MoE layers), "expert_load" [n_moe_layers, n_experts].
    With `cache=init_cache(...)` the call continues a sequence and aux["cache"] is the new cache.
    `rngs` is an `nnx.Rngs` or a `KeyStream` (faster under `jax.eval_shape`).
    `dispatch` picks the MoE dispatch ("scatter", "einsum" or "dropless"; None: dropless for
    dropless routing, else scatter) and `dropless_impl` the dropless one's grouped matmuls ("auto",
    "padded", "ragged"); `constrain(x, role)` is applied to the dispatched expert buffers (role
    "dispatch") and the expert outputs (role "combine"), both [groups, experts, capacity, d_model]:
    a sharding-constraint hook, identity by default.
    """

    def __init__(
        self,
        cfg: ModelConfig,
        *,
        rngs: nnx.Rngs,
        dispatch: str | None = None,
        dtype=jnp.float32,
        constrain: Callable = identity,
        dropless_impl: str = "auto",
    ):
        self.cfg, self.dtype = cfg, dtype
        self.embed = nnx.Embed(
            cfg.vocab_size, cfg.d_model, embedding_init=nnx.initializers.normal(1.0), dtype=dtype, rngs=rngs
        )
        if cfg.position == "learned":
            self.pos_embed = nnx.Embed(
                cfg.max_seq_len, cfg.d_model, embedding_init=nnx.initializers.normal(0.02), dtype=dtype, rngs=rngs
            )
        self.layers = nnx.List(
            [
                Block(
                    cfg, i, dispatch=dispatch, dtype=dtype, rngs=rngs, constrain=constrain, dropless_impl=dropless_impl
                )
                for i in range(cfg.n_layers)
            ]
        )
        self.final_norm = norm(cfg, dtype, rngs)
        if not cfg.tie_embeddings:
            self.unembed = nnx.Linear(cfg.d_model, cfg.vocab_size, use_bias=False, dtype=dtype, rngs=rngs)

    def __call__(self, tokens, *, cache=None):
        cfg = self.cfg
        b, s = tokens.shape
        limit = cache["layers"][0]["k"].shape[1] if cache is not None else cfg.max_seq_len
        if s > limit:
            raise ConfigError(f"seq_len={s}: longer than the context ({limit} tokens) of {cfg.name}")
        offset = cache["index"] if cache is not None else 0
        x = self.embed(tokens)
        if cfg.position == "learned":
            x = x + self.pos_embed(offset + jnp.arange(s))
        stats, new_layers = [], []
        for i, layer in enumerate(self.layers):
            if cache is None:
                x, st, c = _block(layer, x, offset)
            else:
                x, st, c = layer(x, offset, cache["layers"][i])
            new_layers.append(c)
            if st is not None:
                stats.append(st)
        x = self.final_norm(x).reshape(b * s, -1)  # 2-D matmul (see layers.Attention)
        if cfg.tie_embeddings:
            logits = self.embed.attend(x) / math.sqrt(cfg.d_model)
        else:
            logits = self.unembed(x)
        logits = logits.reshape(b, s, -1)
        logits = logits.astype(jnp.float32)
        aux = {"z_loss": jnp.mean(jax.nn.logsumexp(logits, axis=-1) ** 2)}
        if stats:
            aux["aux_loss"] = sum(st["aux_loss"] for st in stats)
            aux["dropped_fraction"] = jnp.mean(jnp.stack([st["dropped_fraction"] for st in stats]))
            aux["max_mean_load"] = jnp.mean(jnp.stack([st["max_mean_load"] for st in stats]))
            aux["expert_load"] = jnp.stack([st["expert_load"] for st in stats])
        if cache is not None:
            aux["cache"] = {"index": offset + s, "layers": new_layers}
        return logits, aux


def init_cache(cfg: ModelConfig, batch: int, max_len: int, dtype=jnp.float32) -> dict:
    """An empty KV cache for `max_len` positions (at most the model's context)."""
    if max_len > cfg.max_seq_len:
        raise ConfigError(
            f"sequence length {max_len}: longer than the context ({cfg.max_seq_len} tokens) of {cfg.name}"
        )
    shape = (batch, max_len, cfg.kv_heads, cfg.head_dim)
    return {
        "index": jnp.int32(0),
        "layers": [{"k": jnp.zeros(shape, dtype), "v": jnp.zeros(shape, dtype)} for _ in range(cfg.n_layers)],
    }
