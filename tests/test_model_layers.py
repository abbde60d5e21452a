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
