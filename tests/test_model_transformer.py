"""The Transformer: parameter counts against the analytic counter, KV-cache decoding against the
full forward pass, and the context-length check."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from glamsim.accounting import count
from glamsim.config import ConfigError, load_model, model_presets
from glamsim.model.layers import KeyStream, relative_position_bucket
from glamsim.model.train import param_count
from glamsim.model.transformer import Transformer, init_cache


@pytest.mark.parametrize("name", sorted(model_presets()))
def test_param_count_equals_analytic_count_exactly(name):
    cfg = model_presets()[name]
    assert param_count(cfg) == count(cfg).params_total


def test_relative_position_buckets_follow_t5():
    # causal: key - query <= 0; exact buckets up to 16, then log-spaced up to 128, clipped at 31
    rel = -jnp.array([0, 1, 15, 16, 127, 128, 10_000])
    buckets = relative_position_bucket(rel, 32, 128)
    # n=16: 16 + int(log(16/16)/log(8) * 16) = 16; n=127: 16 + int(log(127/16)/log(8)*16) = 31
    np.testing.assert_array_equal(buckets, [0, 1, 15, 16, 31, 31, 31])
    assert int(relative_position_bucket(jnp.array(5), 32, 128)) == 0  # future keys: bucket 0 (masked)


VARIANTS = {
    "glam (relative bias, MoE, tied)": load_model("glam-tiny").replace(capacity_factor=8.0),
    "rotary, GQA, layernorm, biases, untied": load_model("glam-tiny-dense").replace(
        position="rotary", n_kv_heads=2, norm="layernorm", use_bias=True, tie_embeddings=False
    ),
    "learned positions, plain FFN": load_model("glam-tiny-dense").replace(position="learned", dense_ffn_gated=False),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_kv_cache_decoding_equals_full_forward(variant):
    cfg = VARIANTS[variant]
    model = Transformer(cfg, rngs=KeyStream(0))
    graphdef, params = nnx.split(model)
    tokens = jax.random.randint(jax.random.key(1), (2, 24), 0, cfg.vocab_size)

    @jax.jit
    def forward(params, tokens, cache):
        return nnx.merge(graphdef, params)(tokens, cache=cache)

    full, aux = jax.jit(lambda p, t: nnx.merge(graphdef, p)(t))(params, tokens)
    logits, aux_c = forward(params, tokens[:, :7], init_cache(cfg, 2, 24))  # prefill 7 tokens
    steps, cache = [logits], aux_c["cache"]
    for i in range(7, 24):  # then one token at a time
        logits, aux_c = forward(params, tokens[:, i : i + 1], cache)
        steps.append(logits)
        cache = aux_c["cache"]
    np.testing.assert_allclose(jnp.concatenate(steps, axis=1), full, atol=2e-5, rtol=1e-5)
    if cfg.is_moe:  # capacity = group size: nothing dropped, so routing cannot differ
        assert float(aux["dropped_fraction"]) == 0
        np.testing.assert_allclose(aux["expert_load"].sum(axis=1), 1.0, rtol=1e-6)


def test_sequence_longer_than_context_is_refused():
    cfg = load_model("glam-tiny")
    model = Transformer(cfg, rngs=KeyStream(0))
    with pytest.raises(ConfigError, match="seq_len=129: longer than the context"):
        model(jnp.zeros((1, cfg.max_seq_len + 1), jnp.int32))
    with pytest.raises(ConfigError, match="longer than the context"):
        init_cache(cfg, 1, cfg.max_seq_len + 1)
