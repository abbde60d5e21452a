"""Autoregressive generation with a KV cache: one prefill pass over the prompt, then one jitted
single-token step per new token (temperature and top-k sampling; temperature 0 is greedy).

`load_config` reads a checkpoint's verified record (cheap), so a request is checked against the
model (`check_request`) before `load` reads and verifies the arrays."""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
from flax import nnx

from glamsim.config import ConfigError, ModelConfig, validate_as, validate_model
from glamsim.model import checkpoint
from glamsim.model.train import MAX_SEED, TrainConfig, abstract_state
from glamsim.model.transformer import init_cache


def load_config(directory, step: int | None = None) -> tuple[int, ModelConfig, TrainConfig]:
    """(step, model config, train config) of checkpoint `step` (default: the newest), from its
    verified record; one-line ConfigError naming the step for a damaged or foreign record."""
    step = checkpoint.latest_step(directory) if step is None else step
    record = checkpoint.read_record(directory, step)
    where = f"checkpoint={str(directory)!r}: step {step}"
    cfg = validate_model(record["model"], f"{where} (model record)")
    train_cfg = validate_as(TrainConfig, record["train"], f"{where} (train record)")
    return step, cfg, train_cfg


def load(directory, step: int | None = None) -> tuple:
    """(graphdef, params) of checkpoint `step` (default: the newest) in `directory`, rebuilt from its
    own record and verified against its checksums."""
    step, cfg, train_cfg = load_config(directory, step)
    state = abstract_state(cfg, train_cfg)
    arrays = checkpoint.restore(directory, state.arrays(), step)
    return state.graphdef, arrays["params"]


def check_request(
    cfg: ModelConfig,
    prompt_tokens: int,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int = 0,
) -> None:
    """One-line ConfigError for a request the model cannot serve (before anything is computed)."""
    if prompt_tokens < 1:
        raise ConfigError("prompt: must hold at least one token")
    if max_new_tokens < 1:
        raise ConfigError(f"max-new-tokens={max_new_tokens}: must be at least 1")
    total = prompt_tokens + max_new_tokens
    if total > cfg.max_seq_len:
        raise ConfigError(
            f"prompt + max-new-tokens = {total}: longer than the context ({cfg.max_seq_len} tokens) of {cfg.name}"
        )
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature >= 0):
        raise ConfigError(f"temperature={temperature!r}: must be a finite number >= 0 (0 = greedy)")
    if top_k is not None and not 1 <= top_k <= cfg.vocab_size:
        raise ConfigError(f"--top-k={top_k}: must be between 1 and the vocabulary size {cfg.vocab_size} of {cfg.name}")
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed={seed}: must be between 0 and 2**32-1")


@partial(jax.jit, static_argnums=0)
def decode_step(graphdef, params, tokens, cache):
    """(last-position logits [B, V], updated cache) after running tokens [B, T] (int32) through
    the model on top of `cache` (from `glamsim.model.transformer.init_cache`).

    T = 1 is one decode step; the whole prompt at once is the prefill.  Jitted, with `graphdef`
    static: each new shape compiles once.  `generate` and the measured decode time both use it."""
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


def generate(
    graphdef, params, prompt, max_new_tokens: int, *, temperature: float = 1.0, top_k: int | None = None, seed: int = 0
):
    """New tokens [B, max_new_tokens] continuing prompt [B, P] (int32)."""
    cfg = nnx.merge(graphdef, params).cfg
    prompt = jnp.asarray(prompt, jnp.int32)
    if prompt.ndim != 2:
        raise ConfigError(f"prompt: expected [batch, tokens], got shape {tuple(prompt.shape)}")
    check_request(cfg, prompt.shape[1], max_new_tokens, temperature=temperature, top_k=top_k, seed=seed)
    total = prompt.shape[1] + max_new_tokens
    cache = init_cache(cfg, prompt.shape[0], total)
    logits, cache = decode_step(graphdef, params, prompt, cache)
    key, out = jax.random.key(seed), []
    for i in range(max_new_tokens):
        key, sub = jax.random.split(key)
        out.append(sample(sub, logits, temperature, top_k).astype(jnp.int32))
        if i + 1 < max_new_tokens:
            logits, cache = decode_step(graphdef, params, out[-1][:, None], cache)
    return jnp.stack(out, axis=1)
