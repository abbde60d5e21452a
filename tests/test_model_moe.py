"""The MoE layer against hand computations and a naive every-expert-on-every-token reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from glamsim.config import load_model
from glamsim.model.layers import ACTIVATIONS, FeedForward, KeyStream
from glamsim.model.moe import MoE, load_balancing_loss, route

TINY = load_model("glam-tiny")


def test_capacity_serves_first_choices_before_second_choices():
    # 3 experts, top-2, 4 tokens, capacity 2. Preferences (first, second):
    # t0 (e0, e1), t1 (e0, e1), t2 (e1, e0), t3 (e0, e2).
    # First choices fill e0 with t0, t1 (t3 overflows) and e1 with t2; then second choices in
    # token order: t0 -> e1 slot 1 kept, t1 -> e1 slot 2 dropped, t2 -> e0 slot 3 dropped,
    # t3 -> e2 slot 0 kept.  (Token-order priority would keep t1's second choice instead.)
    logits = jnp.array([[[3.0, 2.0, 0.0], [3.0, 2.0, 0.0], [2.0, 3.0, 0.0], [3.0, 0.0, 2.0]]])
    r = route(logits, top_k=2, capacity=2)
    np.testing.assert_array_equal(r.expert[0], [[0, 1], [0, 1], [1, 0], [0, 2]])
    np.testing.assert_array_equal(r.slot[0], [[0, 1], [1, 2], [0, 3], [2, 0]])
    np.testing.assert_array_equal(r.keep[0], [[1, 1], [1, 0], [1, 0], [0, 1]])
    # kept gates are the two top probabilities renormalised; dropped ones are zero
    p = jax.nn.softmax(logits[0])
    assert r.gate[0, 0, 0] == pytest.approx(float(p[0, 0] / (p[0, 0] + p[0, 1])), rel=1e-6)
    assert r.gate[0, 1, 1] == 0 and r.gate[0, 3, 0] == 0


def test_aux_loss_equals_hand_computation():
    # probs per token (e0, e1): .75/.25, .75/.25, .25/.75, .6/.4 -> first choices e0, e0, e1, e0
    # density = (3/4, 1/4); mean probs = (2.35/4, 1.65/4); aux = 2 * (0.75*0.5875 + 0.25*0.4125)
    probs = jnp.array([[[0.75, 0.25], [0.75, 0.25], [0.25, 0.75], [0.6, 0.4]]])
    r = route(jnp.log(probs), top_k=1, capacity=4)
    assert float(load_balancing_loss(r)) == pytest.approx(1.0875, rel=1e-6)


def naive_moe(layer: MoE, x, capacity, group: int | None = None):
    """Every expert on every token, mixed by the (kept, renormalised unless the config says not)
    top-k gates; shared experts (with their sigmoid gate) added on every token."""
    cfg = layer.cfg
    act = ACTIVATIONS[cfg.activation]
    tokens = x.reshape(-1, group or cfg.router_group_size, cfg.d_model)
    r = route(tokens @ layer.router[...], cfg.top_k, capacity, cfg.renormalize_gates)

    def expert(w, t):  # t [T, D] through every expert -> [T, E, D]
        def lin(name, bias, inp, spec):
            out = jnp.einsum(spec, inp, getattr(w, name)[...])
            return out + getattr(w, bias)[...][None] if cfg.use_bias else out

        h = act(lin("wi_0", "bi_0", t, "td,edf->tef"))
        if cfg.expert_gated:
            h = h * lin("wi_1", "bi_1", t, "td,edf->tef")
        return lin("wo", "bo", h, "tef,efd->ted")

    flat = tokens.reshape(-1, cfg.d_model)
    every = expert(layer.experts, flat)  # [T, E, D]
    expert_idx, gate = r.expert.reshape(flat.shape[0], -1), r.gate.reshape(flat.shape[0], -1)
    out = sum(gate[:, k, None] * every[jnp.arange(flat.shape[0]), expert_idx[:, k]] for k in range(cfg.top_k))
    if layer.shared is not None:
        shared = expert(layer.shared, flat).sum(axis=1)
        if layer.shared_gate is not None:
            shared = shared * jax.nn.sigmoid(flat @ layer.shared_gate[...])
        out = out + shared
    return out.reshape(x.shape), r


@pytest.mark.parametrize(
    "capacity_factor,shared,gated,extra",
    [
        (2.0, 0, False, {}),
        (8.0, 1, True, {}),
        # Qwen2-MoE/DeepSeek-style: shared experts of their own width behind a sigmoid gate, raw top-k gates, biases
        (8.0, 2, True, dict(d_ff_shared=48, shared_expert_gate=True, renormalize_gates=False, use_bias=True)),
    ],
)
def test_scatter_and_einsum_agree_with_naive_reference(capacity_factor, shared, gated, extra):
    cfg = TINY.replace(
        capacity_factor=capacity_factor, n_shared_experts=shared, expert_gated=gated, router_group_size=32, **extra
    )
    scatter = MoE(cfg, dispatch="scatter", rngs=KeyStream(1))
    einsum = MoE(cfg, dispatch="einsum", rngs=KeyStream(1))
    x = jax.random.normal(jax.random.key(0), (2, 64, cfg.d_model))
    y_s, stats = scatter(x)
    y_e, _ = einsum(x)
    ref, r = naive_moe(scatter, x, cfg.expert_capacity(32))
    np.testing.assert_allclose(y_s, y_e, atol=1e-5)
    np.testing.assert_allclose(y_s, ref, atol=1e-5)
    dropped = 1 - float(r.keep.mean())
    assert float(stats["dropped_fraction"]) == pytest.approx(dropped)
    if capacity_factor == 8.0:  # capacity = group: nothing can drop
        assert dropped == 0
    else:  # random routing at factor 2 drops some, and those tokens lose that expert's output
        assert dropped > 0
    np.testing.assert_allclose(float(stats["expert_load"].sum()), 1.0, rtol=1e-6)


def test_one_expert_top1_equals_dense_ffn():
    cfg = TINY.replace(n_experts=1, top_k=1, dense_ffn_gated=False, expert_gated=False, capacity_factor=1.0)
    moe = MoE(cfg, rngs=KeyStream(2))
    dense = FeedForward(cfg, dtype=jnp.float32, rngs=KeyStream(3))
    dense.wi_0.kernel[...] = moe.experts.wi_0[...][0]
    dense.wo.kernel[...] = moe.experts.wo[...][0]
    x = jax.random.normal(jax.random.key(1), (2, 128, cfg.d_model))
    y, stats = moe(x)
    np.testing.assert_allclose(y, dense(x), atol=1e-5)
    assert float(stats["dropped_fraction"]) == 0


def test_dispatched_tensor_goes_through_the_constrain_hook():
    seen = []
    layer = MoE(TINY, rngs=nnx.Rngs(0), constrain=lambda t, role="": seen.append(t.shape) or t)
    layer(jnp.ones((1, 256, TINY.d_model)))
    capacity = TINY.expert_capacity(256)
    assert seen[0] == (1, TINY.n_experts, capacity, TINY.d_model)
