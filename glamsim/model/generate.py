"""Autoregressive generation with a KV cache: one prefill pass over the prompt, then one jitted
single-token step per new token (temperature and top-k sampling; temperature 0 is greedy)."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from flax import nnx

from glamsim.config import ConfigError, validate_as, validate_model
from glamsim.model import checkpoint
from glamsim.model.train import TrainConfig, abstract_state
from glamsim.model.transformer import init_cache


def load(directory) -> tuple:
    """(graphdef, params) of the newest checkpoint in `directory`, rebuilt from its own record."""
    record = checkpoint.read_record(directory)
    cfg = validate_model(record["model"], f"{directory} (model record)")
    train_cfg = validate_as(TrainConfig, record["train"], f"{directory} (train record)")
    state = abstract_state(cfg, train_cfg)
    arrays = checkpoint.restore(directory, state.arrays())
    return state.graphdef, arrays["params"]


@partial(jax.jit, static_argnums=0)
def _forward(graphdef, params, tokens, cache):
    logits, aux = nnx.merge(graphdef, params)(tokens, cache=cache)
    return logits[:, -1], aux["cache"]


def sample(key, logits, temperature: float, top_k: int | None):
    """One token per row from the last-position logits [B, V]."""
    if temperature == 0:
        return jnp.argmax(logits, axis=-1)
    logits = logits / temperature
    if top_k:
        kth = jax.lax.top_k(logits, top_k)[0][:, -1:]
        logits = jnp.where(logits < kth, -jnp.inf, logits)
    return jax.random.categorical(key, logits, axis=-1)


def generate(graphdef, params, prompt, max_new_tokens: int, *, temperature: float = 1.0,
             top_k: int | None = None, seed: int = 0):
    """New tokens [B, max_new_tokens] continuing prompt [B, P] (int32)."""
    cfg = nnx.merge(graphdef, params).cfg
    prompt = jnp.asarray(prompt, jnp.int32)
    if prompt.ndim != 2 or prompt.shape[1] == 0:
        raise ConfigError("prompt: must hold at least one token")
    if max_new_tokens < 1:
        raise ConfigError(f"max-new-tokens={max_new_tokens}: must be at least 1")
    total = prompt.shape[1] + max_new_tokens
    if total > cfg.max_seq_len:
        raise ConfigError(f"prompt + max-new-tokens = {total}: longer than the context "
                          f"({cfg.max_seq_len} tokens) of {cfg.name}")
    cache = init_cache(cfg, prompt.shape[0], total)
    logits, cache = _forward(graphdef, params, prompt, cache)
    key, out = jax.random.key(seed), []
    for i in range(max_new_tokens):
        key, sub = jax.random.split(key)
        out.append(sample(sub, logits, temperature, top_k).astype(jnp.int32))
        if i + 1 < max_new_tokens:
            logits, cache = _forward(graphdef, params, out[-1][:, None], cache)
    return jnp.stack(out, axis=1)

