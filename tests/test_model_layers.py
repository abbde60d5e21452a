"""Layer helpers whose gradients are written by hand."""

import jax
import jax.numpy as jnp
import numpy as np

from glamsim.model.layers import add_over_batch


def test_add_over_batch_matches_broadcast_add_and_its_gradient():
    x = jax.random.normal(jax.random.key(0), (3, 2, 5, 4))
    bias = jax.random.normal(jax.random.key(1), (2, 5, 4))
    w = jax.random.normal(jax.random.key(2), x.shape)

    def loss(fn):
        return lambda x, b: jnp.sum(jax.nn.softmax(fn(x, b), axis=-1) * w)

    ours = jax.grad(loss(add_over_batch), argnums=(0, 1))(x, bias)
    plain = jax.grad(loss(lambda x, b: x + b[None]), argnums=(0, 1))(x, bias)
    np.testing.assert_allclose(add_over_batch(x, bias), x + bias[None])
    for a, b in zip(ours, plain):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_layerwise_optimizer_equals_the_whole_tree_update():
    import optax

    from glamsim.config import load_model
    from glamsim.model.train import init_state, layerwise

    params = init_state(load_model("glam-tiny"), 0).params
    grads = jax.tree_util.tree_map(lambda p: jnp.sin(p * 3.0) + 0.1, params)
    ada = optax.adafactor(learning_rate=0.01, momentum=None, factored=True, multiply_by_parameter_scale=True)
    ours, plain = layerwise(ada), ada
    s_ours, s_plain = ours.init(params), plain.init(params)
    for _ in range(2):  # two steps: the second uses the statistics the first left
        u_ours, s_ours = ours.update(grads, s_ours, params)
        u_plain, s_plain = plain.update(grads, s_plain, params)
        for a, b in zip(jax.tree_util.tree_leaves(u_ours), jax.tree_util.tree_leaves(u_plain)):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    assert len(s_ours) == 4 + 1  # one state per layer of glam-tiny, one for the rest
