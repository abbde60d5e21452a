"""A training run laid out on a mesh with `jit` and `NamedSharding` (JAX's own SPMD runtime).

`state = init_state(cfg, seed, train_cfg, mesh)` builds the parameters and optimizer state
directly in their shards (every leaf placed by the rule table); `shard_batch` turns the host
batch into a global array split over data x expert; `jit_train_step(state)` is the pure
`train_step` compiled with the state's shardings kept from step to step.  The MoE layers get
a sharding constraint on their dispatched buffers so that dispatch and combine compile to
all-to-alls along the expert axis.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from glamsim.config import ConfigError, ModelConfig
from glamsim.model import train as model_train
from glamsim.model.moe import group_size_for
from glamsim.parallel.rules import batch_axes, batch_spec, dispatched_spec, tree_shardings


def expert_constraint(mesh):
    """The MoE `constrain(x, role)` hook for [groups, experts, capacity, d_model] buffers.

    "dispatch": pin the buffer to the groups' layout (split over data x expert, as the tokens
    are), then to the experts' layout (groups over data, experts over expert): XLA bridges the
    two with one all-to-all along the expert axis.  "combine": the same in reverse.  Pinning both
    ends keeps XLA from replacing the exchange by all-gathers of the whole buffer."""
    by_group = NamedSharding(mesh, batch_spec(mesh))
    by_expert = NamedSharding(mesh, dispatched_spec(mesh))

    def constrain(x, role: str = "dispatch"):
        first, then = (by_group, by_expert) if role == "dispatch" else (by_expert, by_group)
        return jax.lax.with_sharding_constraint(jax.lax.with_sharding_constraint(x, first), then)

    return constrain


def batch_shards(mesh) -> int:
    return int(np.prod([mesh.shape[a] for a in batch_axes(mesh)]))


def check_layout(cfg: ModelConfig, mesh, batch: int, seq_len: int) -> None:
    """One-line errors for a batch the mesh cannot split (sequences, and MoE routing groups)."""
    n = batch_shards(mesh)
    if batch % n:
        raise ConfigError(f"batch={batch}: must be divisible by the data x expert mesh size {n}")
    if cfg.is_moe:
        size = group_size_for(batch * seq_len, cfg.router_group_size)
        groups = batch * seq_len // size
        if groups % n:
            raise ConfigError(
                f"batch={batch}: gives {groups} MoE routing groups of {size} tokens, not divisible by "
                f"the data x expert mesh size {n}; use a larger batch"
            )
        if "expert" in mesh.shape and cfg.n_experts % mesh.shape["expert"]:
            raise ConfigError(
                f"mesh: expert={mesh.shape['expert']} must divide n_experts={cfg.n_experts} of {cfg.name}"
            )


def state_shardings(cfg: ModelConfig, train_cfg, mesh, constrain=None):
    """(abstract state, its shardings by rule) without allocating anything."""
    constrain = constrain or expert_constraint(mesh)
    abstract = model_train.abstract_state(cfg, train_cfg, constrain=constrain)
    return abstract, tree_shardings(abstract, mesh)


def init_state(cfg: ModelConfig, seed: int, train_cfg, mesh) -> model_train.TrainState:
    """A fresh TrainState built in place, shard by shard (same values as the single-device init)."""
    constrain = expert_constraint(mesh)
    _, shardings = state_shardings(cfg, train_cfg, mesh, constrain)
    build = jax.jit(lambda: model_train.init_state(cfg, seed, train_cfg, constrain=constrain), out_shardings=shardings)
    return build()


def shard_batch(batch: dict, mesh) -> dict:
    """Host arrays [B, ...] (the same global batch on every process) -> global arrays split over
    data x expert; each process hands over only the rows its own devices hold."""
    sharding = NamedSharding(mesh, batch_spec(mesh))
    out = {}
    for k, v in batch.items():
        v = np.asarray(v)
        rows = [idx[0] for idx in sharding.addressable_devices_indices_map(v.shape).values()]
        lo = min(r.start or 0 for r in rows)
        hi = max(v.shape[0] if r.stop is None else r.stop for r in rows)
        out[k] = jax.make_array_from_process_local_data(sharding, v[lo:hi], v.shape)
    return out


def jit_train_step(state: model_train.TrainState):
    """`train_step` jitted so the new state keeps the old one's shardings and metrics are replicated."""
    shardings = jax.tree_util.tree_map(lambda x: x.sharding, state)
    mesh = jax.tree_util.tree_leaves(shardings)[0].mesh
    return jax.jit(model_train.train_step, static_argnums=0, out_shardings=(shardings, NamedSharding(mesh, P())))


def jit_eval_loss(mesh):
    return jax.jit(model_train.eval_loss, static_argnums=0, out_shardings=NamedSharding(mesh, P()))
