"""The dropless MoE dispatch: equal to the naive every-expert reference, nothing dropped, both
grouped-matmul implementations (padded ladder, ragged_dot) equal, gradients included."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from test_model_moe import naive_moe

from glamsim.accounting import ModelArrays, layer_flops
from glamsim.config import load_model
from glamsim.model.layers import KeyStream
from glamsim.model.moe import MoE, dropless_capacities

TINY = load_model("glam-tiny")
VARIANTS = {
    "glam experts": TINY.replace(routing="dropless"),
    "gated, shared+gate, raw gates, biases": TINY.replace(
        routing="dropless",
        expert_gated=True,
        n_shared_experts=2,
        d_ff_shared=48,
        shared_expert_gate=True,
        renormalize_gates=False,
        use_bias=True,
        activation="silu",
    ),
}


def randomise(layer: MoE, seed: int = 7) -> MoE:
    """Non-zero biases (they start at zero) so that the test sees them."""
    graphdef, state = nnx.split(layer)
    leaves, treedef = jax.tree_util.tree_flatten(state)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    leaves = [x + 0.1 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)]
    return nnx.merge(graphdef, jax.tree_util.tree_unflatten(treedef, leaves))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("impl", ["padded", "ragged"])
def test_dropless_equals_naive_reference_and_drops_nothing(variant, impl):
    cfg = VARIANTS[variant]
    layer = randomise(MoE(cfg, dispatch="dropless", dropless_impl=impl, rngs=KeyStream(1)))
    x = jax.random.normal(jax.random.key(0), (2, 48, cfg.d_model))
    y, stats = layer(x)
    ref, r = naive_moe(layer, x, capacity=96, group=96)  # one group of all tokens, room for all
    assert bool(r.keep.all())
    np.testing.assert_allclose(y, ref, atol=2e-5, rtol=1e-5)
    assert float(stats["dropped_fraction"]) == 0
    np.testing.assert_allclose(float(stats["expert_load"].sum()), 1.0, rtol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS)
def test_padded_and_ragged_have_equal_gradients(variant):
    cfg = VARIANTS[variant]
    x = jax.random.normal(jax.random.key(3), (2, 40, cfg.d_model))
    grads = {}
    for impl in ("padded", "ragged"):
        graphdef, params = nnx.split(randomise(MoE(cfg, dispatch="dropless", dropless_impl=impl, rngs=KeyStream(1))))

        def loss(p, x, graphdef=graphdef):
            out, stats = nnx.merge(graphdef, p)(x)
            return jnp.sum(jnp.sin(out)) + stats["aux_loss"]

        grads[impl] = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, x)
    for a, b in zip(jax.tree_util.tree_leaves(grads["padded"]), jax.tree_util.tree_leaves(grads["ragged"])):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


def test_a_capacity_model_drops_tokens_under_scatter_but_not_under_dropless():
    cfg = TINY.replace(capacity_factor=1.0, router_group_size=64)
    x = jax.random.normal(jax.random.key(4), (2, 64, cfg.d_model))
    scatter = MoE(cfg, dispatch="scatter", rngs=KeyStream(2))
    dropless = MoE(cfg, dispatch="dropless", rngs=KeyStream(2))
    _, st_s = scatter(x)
    y, st_d = dropless(x)
    assert float(st_s["dropped_fraction"]) > 0 and float(st_d["dropped_fraction"]) == 0
    np.testing.assert_allclose(y, naive_moe(dropless, x, capacity=128, group=128)[0], atol=2e-5)


def test_capacity_dispatches_of_a_dropless_model_hold_a_whole_group():
    """scatter/einsum on dropless routing: capacity = the routing group, so nothing drops and the
    output equals the dropless dispatch's."""
    cfg = TINY.replace(routing="dropless", router_group_size=128)
    x = jax.random.normal(jax.random.key(5), (1, 128, cfg.d_model))
    outs = {d: MoE(cfg, dispatch=d, rngs=KeyStream(3))(x) for d in ("scatter", "einsum", "dropless")}
    for d in ("scatter", "einsum"):
        np.testing.assert_allclose(outs[d][0], outs["dropless"][0], atol=2e-5)
        assert float(outs[d][1]["dropped_fraction"]) == 0


def test_ladder_and_an_unbalanced_router_stay_exact():
    assert dropless_capacities(2048, 8, 2) == [576, 640, 768, 1024, 2048]
    assert dropless_capacities(2048, 64, 2) == [72, 80, 96, 128, 256, 512, 1024, 2048]
    assert dropless_capacities(16, 4, 2) == [16]
    cfg = TINY.replace(routing="dropless")
    layer = MoE(cfg, dispatch="dropless", dropless_impl="padded", rngs=KeyStream(4))
    router = np.zeros((cfg.d_model, cfg.n_experts), np.float32)
    router[:, 0] = 5.0  # every token's first choice is expert 0 whatever its sign pattern... mostly
    layer.router[...] = jnp.asarray(router)
    x = jnp.abs(jax.random.normal(jax.random.key(6), (1, 64, cfg.d_model)))  # positive: all pick expert 0
    y, _ = layer(x)
    ref, r = naive_moe(layer, x, capacity=64, group=64)
    assert int(jnp.sum(r.expert[..., 0] == 0)) == 64  # expert 0 takes all 64 tokens: the last rung
    np.testing.assert_allclose(y, ref, atol=2e-5)


def test_analytic_hardware_flops_of_dropless_have_no_padding():
    cfg = TINY.replace(routing="dropless")
    m = ModelArrays.of(cfg)
    hw = layer_flops(m, 128, moe=True, hardware=True)  # natural dispatch: dropless
    model = layer_flops(m, 128, moe=True)
    assert float(hw["ffn_flops"][0]) == float(model["ffn_flops"][0])
    padded = layer_flops(m, 128, moe=True, hardware=True, dispatch="scatter", group_size=128)
    assert float(padded["ffn_flops"][0]) == cfg.n_experts / cfg.top_k * float(model["ffn_flops"][0])


def test_xla_counts_of_a_dropless_model():
    """Scatter on dropless routing: XLA matches the analytic hardware count (whole-group capacity);
    the dropless dispatch: the analytic count has no padding, XLA counts the largest rung of the
    capacity ladder (every token for every expert), so it lies between the two."""
    from glamsim.measure.run import xla_count

    cfg = TINY.replace(routing="dropless")
    scatter = xla_count(cfg, batch=8, dispatch="scatter")
    assert scatter["xla_over_hardware"] == pytest.approx(1.0, abs=0.05)
    dropless = xla_count(cfg, batch=8)  # the natural dispatch of dropless routing
    assert dropless["dispatch"] == "dropless"
    assert dropless["analytic_hardware_flops_per_token"] < scatter["analytic_hardware_flops_per_token"]
    assert dropless["xla_flops_per_token"] == pytest.approx(scatter["xla_flops_per_token"], rel=0.1)
