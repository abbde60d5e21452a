"""Training state, the GLaM optimizer and a pure, jittable train step.

`init_state(cfg, seed)` builds a `TrainState` (params as an `nnx.State`, plain optax state, step
counter; the module's graphdef and the optimizer ride along as static fields).
`train_step(graphdef, state, batch) -> (state, metrics)` merges the module, takes one step and
holds no Python-side state, so it can be jitted, sharded, or lowered from `abstract_state(...)`
(`jax.eval_shape`, nothing allocated) to count a 1.2T-parameter step:

    state = abstract_state(cfg, TrainConfig(batch_size=B, seq_len=S))
    batch = {k: jax.ShapeDtypeStruct((B, S), jnp.int32) for k in ("inputs", "targets")}
    lowered = jax.jit(train_step, static_argnums=0).lower(state.graphdef, state, batch)
"""

from __future__ import annotations

from functools import cache
from typing import Any, Callable, Literal

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct
from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from glamsim.config import ConfigError, Frozen, ModelConfig
from glamsim.model.layers import KeyStream
from glamsim.model.moe import identity
from glamsim.model.transformer import Transformer

MAX_SEED = 2**32 - 1  # jax.random.key(2**32) silently equals key(0)


class TrainConfig(Frozen):
    """Optimizer, batch and schedule settings (GLaM's defaults: Adafactor, lr 0.01 for 10K steps
    then inverse square root, second-moment decay 1 - t^-0.8, update clipping 1.0)."""

    steps: PositiveInt = 1000
    batch_size: PositiveInt = 8
    seq_len: PositiveInt | None = None  # default: the model's max_seq_len
    learning_rate: PositiveFloat = 0.01
    warmup_steps: PositiveInt = 10_000
    decay_rate: PositiveFloat = 0.8
    clipping_threshold: PositiveFloat = 1.0
    grad_clip_norm: PositiveFloat = 1.0
    seed: int = Field(0, ge=0, le=MAX_SEED, description="0 .. 2**32-1 (jax.random.key wraps larger seeds)")
    dispatch: Literal["scatter", "einsum", "dropless"] = "scatter"
    eval_every: PositiveInt = 100
    eval_batches: PositiveInt = 4
    checkpoint_every: NonNegativeInt = 0  # 0: only at the end

    def context(self, cfg: ModelConfig) -> int:
        s = self.seq_len or cfg.max_seq_len
        if s > cfg.max_seq_len:
            raise ConfigError(f"seq_len={s}: longer than the context ({cfg.max_seq_len} tokens) of {cfg.name}")
        return s


# settings that change the trajectory: a resumed run must match them
TRAJECTORY_FIELDS = (
    "batch_size",
    "seq_len",
    "learning_rate",
    "warmup_steps",
    "decay_rate",
    "clipping_threshold",
    "grad_clip_norm",
    "seed",
    "dispatch",
)


def learning_rate(peak: float, warmup_steps: int) -> optax.Schedule:
    """peak for warmup_steps, then peak x sqrt(warmup_steps / step) (inverse square root)."""
    warm = float(warmup_steps)
    return lambda count: peak * jnp.sqrt(warm / jnp.maximum(count.astype(jnp.float32) + 1.0, warm))


def make_optimizer(train_cfg: TrainConfig) -> optax.GradientTransformation:
    """Global-norm clipping + factored Adafactor without momentum; non-finite updates skipped."""
    c = train_cfg
    return _optimizer(c.learning_rate, c.warmup_steps, c.decay_rate, c.clipping_threshold, c.grad_clip_norm)


@cache
def _optimizer(lr, warmup_steps, decay_rate, clipping_threshold, grad_clip_norm) -> optax.GradientTransformation:
    # cached: equal settings give the same (static) optimizer object, so jitted steps are reused
    tx = optax.chain(
        optax.clip_by_global_norm(grad_clip_norm),
        layerwise(
            optax.adafactor(
                learning_rate=learning_rate(lr, warmup_steps),
                decay_rate=decay_rate,
                clipping_threshold=clipping_threshold,
                momentum=None,
                factored=True,
                multiply_by_parameter_scale=True,
            )
        ),
    )
    return optax.apply_if_finite(tx, max_consecutive_errors=2**31 - 1)


def _group(path) -> tuple[str, str]:
    """(group, name) of a parameter: its layer ('layers.3') or 'rest', and its dotted path inside
    the group, which is the same in every layer of a kind."""
    names = [str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path]
    if "layers" in names:
        i = names.index("layers")
        return ".".join(names[: i + 2]), ".".join(names[i + 2 :])
    return "rest", ".".join(names)


def layerwise(inner: optax.GradientTransformation) -> optax.GradientTransformation:
    """`inner` (a per-parameter transformation such as Adafactor) applied layer by layer, each
    layer's update a nested jit: identical layers are traced once, which cuts tracing and costing a
    64-layer GLaM step several-fold. Updates equal `inner` on the whole tree; each layer keeps its
    own state (its statistics keyed by the parameter's path inside the layer)."""
    update_one = jax.jit(inner.update)

    def split(tree) -> dict[str, dict]:
        groups: dict[str, dict] = {}
        for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
            g, name = _group(path)
            groups.setdefault(g, {})[name] = leaf
        return groups

    def init(params):
        return {g: inner.init(leaves) for g, leaves in split(params).items()}

    def update(updates, state, params=None):
        grads, weights = split(updates), split(params)
        out = {g: update_one(grads[g], state[g], weights[g]) for g in grads}
        flat, treedef = jax.tree_util.tree_flatten_with_path(updates)
        leaves = [out[g][0][name] for g, name in (_group(path) for path, _ in flat)]
        return jax.tree_util.tree_unflatten(treedef, leaves), {g: out[g][1] for g in grads}

    return optax.GradientTransformation(init, update)


@struct.dataclass
class TrainState:
    """Parameters, optimizer state and step; graphdef and optimizer are static (not arrays)."""

    params: Any
    opt_state: Any
    step: jax.Array
    graphdef: Any = struct.field(pytree_node=False)
    tx: optax.GradientTransformation = struct.field(pytree_node=False)

    def arrays(self) -> dict:
        """The array part (what a checkpoint stores)."""
        return {"params": self.params, "opt_state": self.opt_state, "step": self.step}


def init_state(
    cfg: ModelConfig,
    seed: int = 0,
    train_cfg: TrainConfig | None = None,
    *,
    dtype=jnp.float32,
    constrain: Callable = identity,
) -> TrainState:
    """A freshly initialised model and optimizer (dispatch from train_cfg)."""
    train_cfg = train_cfg or TrainConfig()
    model = Transformer(cfg, rngs=KeyStream(seed), dispatch=train_cfg.dispatch, dtype=dtype, constrain=constrain)
    graphdef, params = nnx.split(model)
    tx = make_optimizer(train_cfg)
    return TrainState(params=params, opt_state=tx.init(params), step=jnp.int32(0), graphdef=graphdef, tx=tx)


def abstract_state(cfg: ModelConfig, train_cfg: TrainConfig | None = None, **kw) -> TrainState:
    """The TrainState as ShapeDtypeStructs, via jax.eval_shape: nothing is allocated."""
    return jax.eval_shape(lambda: init_state(cfg, 0, train_cfg, **kw))


def param_count(cfg: ModelConfig) -> int:
    """Parameters of the JAX model, counted on its abstract shapes."""
    _, params = nnx.split(nnx.eval_shape(lambda: Transformer(cfg, rngs=KeyStream(0))))
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))


def loss_and_metrics(params, graphdef, batch):
    """Cross-entropy + aux_loss_weight x load balancing + z_loss_weight x output z-loss."""
    model = nnx.merge(graphdef, params)
    cfg = model.cfg
    logits, aux = model(batch["inputs"])
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["targets"]).mean()
    aux_loss = aux.get("aux_loss", jnp.float32(0.0))
    loss = ce + cfg.aux_loss_weight * aux_loss + cfg.z_loss_weight * aux["z_loss"]
    metrics = {"loss": loss, "ce": ce, "aux_loss": aux_loss, "z_loss": aux["z_loss"]}
    for k in ("dropped_fraction", "max_mean_load"):
        if k in aux:
            metrics[k] = aux[k]
    return loss, metrics


def train_step(graphdef, state: TrainState, batch: dict) -> tuple[TrainState, dict]:
    """One optimizer step on batch {"inputs", "targets": [B, S] int32}; pure."""
    grads, metrics = jax.grad(loss_and_metrics, has_aux=True)(state.params, graphdef, batch)
    updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    grad_norm = optax.tree.norm(grads)
    metrics = {**metrics, "grad_norm": grad_norm, "skipped": ~jnp.isfinite(grad_norm)}
    return state.replace(params=params, opt_state=opt_state, step=state.step + 1), metrics


def eval_loss(graphdef, params, batch: dict):
    """Mean cross-entropy (nats per token) on one batch."""
    logits, _ = nnx.merge(graphdef, params)(batch["inputs"])
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch["targets"]).mean()
