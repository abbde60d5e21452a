"""The JAX model builds every architecture the schema accepts, at toy size, from each family's
config.json: its parameter count equals the analytic count exactly, it trains (loss finite and
falling) and KV-cache decoding equals the full forward pass."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from test_hf_configs import (
    DEEPSEEK_MOE_16B,
    GEMMA_2B,
    GPT2_124M,
    LLAMA3_8B,
    MIXTRAL_8X7B,
    OPT_125M,
    PHI3_MINI,
    PYTHIA_160M,
    QWEN2_1_5B,
    QWEN15_MOE_A27B,
)

from glamsim import hf
from glamsim.accounting import count
from glamsim.model.layers import KeyStream
from glamsim.model.train import TrainConfig, init_state, param_count, train_step
from glamsim.model.transformer import Transformer, init_cache

SMALL = dict(
    hidden_size=32,
    num_hidden_layers=3,
    num_attention_heads=4,
    intermediate_size=64,
    vocab_size=256,
    max_position_embeddings=64,
)
KV = dict(num_key_value_heads=4)
TOY = {  # each family's config.json with toy widths: what glamsim reads from it is the architecture
    "gpt2 (learned positions, LayerNorm, biases, tied)": {
        **GPT2_124M,
        "n_embd": 32,
        "n_layer": 2,
        "n_head": 4,
        "n_positions": 64,
        "n_ctx": 64,
        "vocab_size": 256,
    },
    "gpt-neox (partial rotary, parallel residual, untied)": {**PYTHIA_160M, **SMALL},
    "opt (relu, learned positions)": {
        **OPT_125M,
        **{k: v for k, v in SMALL.items() if k != "intermediate_size"},
        "ffn_dim": 64,
        "word_embed_proj_dim": 32,
    },
    "llama-3 (rotary, GQA, gated SiLU)": {**LLAMA3_8B, **SMALL, "num_key_value_heads": 2},
    "phi-3": {**PHI3_MINI, **SMALL, **KV},
    "qwen2 (q/k/v biases, no output bias, tied)": {**QWEN2_1_5B, **SMALL, "num_key_value_heads": 2},
    "gemma (multi-query, wide heads, gated GELU)": {**GEMMA_2B, **SMALL, "num_key_value_heads": 1, "head_dim": 16},
    "mixtral (dropless MoE in every layer)": {
        **MIXTRAL_8X7B,
        **SMALL,
        "num_key_value_heads": 2,
        "num_local_experts": 4,
    },
    "qwen2-moe (shared expert + sigmoid gate, raw top-k gates)": {
        **QWEN15_MOE_A27B,
        **SMALL,
        **KV,
        "num_experts": 8,
        "moe_intermediate_size": 16,
        "shared_expert_intermediate_size": 48,
        "decoder_sparse_step": 2,
    },
    "deepseek-moe (dense first layer, 2 shared experts, top-3 of 8)": {
        **DEEPSEEK_MOE_16B,
        **SMALL,
        **KV,
        "n_routed_experts": 8,
        "num_experts_per_tok": 3,
        "moe_intermediate_size": 16,
    },
}
CONFIGS = {name: hf.from_dict(data, name, name="toy").config for name, data in TOY.items()}
TEXT = np.frombuffer(b"def count(model):\n    return sum(p.size for p in model.params)\n" * 8, np.uint8)


def test_toy_configs_keep_the_architecture():
    c = CONFIGS
    assert c["gpt-neox (partial rotary, parallel residual, untied)"].rotary_dims == 2
    assert c["deepseek-moe (dense first layer, 2 shared experts, top-3 of 8)"].first_dense_layers == 1
    assert c["qwen2-moe (shared expert + sigmoid gate, raw top-k gates)"].n_moe_layers == 1  # layer 1 of 0..2
    assert c["gemma (multi-query, wide heads, gated GELU)"].head_dim == 16


@pytest.mark.parametrize("name", CONFIGS)
def test_param_count_equals_analytic_count_exactly(name):
    cfg = CONFIGS[name]
    assert param_count(cfg) == count(cfg).params_total


@pytest.mark.parametrize("name", CONFIGS)
def test_toy_model_trains(name):
    cfg = CONFIGS[name]
    batch, seq = 4, 32
    starts = np.arange(batch) * 7
    window = np.stack([TEXT[s : s + seq + 1] for s in starts]).astype(np.int32)
    data = {"inputs": jnp.asarray(window[:, :-1]), "targets": jnp.asarray(window[:, 1:])}
    state = init_state(
        cfg,
        0,
        TrainConfig(
            batch_size=batch, seq_len=seq, learning_rate=0.01, dispatch="dropless" if cfg.dropless else "scatter"
        ),
    )
    step = jax.jit(train_step, static_argnums=0)
    losses = []
    for _ in range(6):
        state, metrics = step(state.graphdef, state, data)
        losses.append(float(metrics["loss"]))
    assert all(np.isfinite(losses)), losses
    assert losses[-1] < losses[0] - 0.05, losses
    if cfg.is_moe:
        assert float(metrics["dropped_fraction"]) == 0  # dropless routing


@pytest.mark.parametrize("name", [n for n in CONFIGS if "neox" in n or "qwen2 (" in n or "deepseek" in n])
def test_kv_cache_decoding_equals_full_forward(name):
    cfg = CONFIGS[name]
    model = Transformer(cfg, rngs=KeyStream(0))
    graphdef, params = nnx.split(model)
    tokens = jax.random.randint(jax.random.key(1), (2, 12), 0, cfg.vocab_size)
    full, _ = jax.jit(lambda p, t: nnx.merge(graphdef, p)(t))(params, tokens)
    forward = jax.jit(lambda p, t, c: nnx.merge(graphdef, p)(t, cache=c))
    logits, aux = forward(params, tokens[:, :5], init_cache(cfg, 2, 12))
    steps, cache = [logits], aux["cache"]
    for i in range(5, 12):
        logits, aux = forward(params, tokens[:, i : i + 1], cache)
        steps.append(logits)
        cache = aux["cache"]
    np.testing.assert_allclose(jnp.concatenate(steps, axis=1), full, atol=2e-5, rtol=1e-5)


def test_dropless_implementations_give_the_same_model_output():
    cfg = CONFIGS["deepseek-moe (dense first layer, 2 shared experts, top-3 of 8)"]
    tokens = jax.random.randint(jax.random.key(2), (2, 16), 0, cfg.vocab_size)
    outs = [Transformer(cfg, rngs=KeyStream(0), dropless_impl=impl)(tokens)[0] for impl in ("padded", "ragged")]
    np.testing.assert_allclose(outs[0], outs[1], atol=2e-5, rtol=1e-5)
