"""The one sharding rule table: parameter path -> PartitionSpec, applied to parameters and to
the optimizer statistics that mirror them.

Paths are the dotted names a checkpoint uses (`layers.1.ffn.experts.wi_0`); an optimizer leaf's
path ends with its parameter's path inside its layer (`opt_state...layers.1.0.v_row.ffn.experts.wi_0`:
Adafactor runs layer by layer), so one `re.search` serves both.  The first matching rule wins.
A spec is fitted to each leaf: an axis
the mesh lacks, or one that does not divide the dimension, leaves that dimension replicated, and
dimensions beyond the leaf's rank are dropped (Adafactor's factored row/column statistics keep
their leading expert dimension).  Expert weights are split on `expert`; with a `model` axis the
attention heads and feed-forward widths are split Megatron-style; everything else is replicated
(data parallelism).  The batch is split over data x expert, as GShard does.
"""

from __future__ import annotations

import re

import jax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

RULES: tuple[tuple[str, P], ...] = (
    (r"\.experts\.(wi_0|wi_1)(\.value)?$", P("expert", None, "model")),
    (r"\.experts\.wo(\.value)?$", P("expert", "model", None)),
    (r"\.experts\.(bi_0|bi_1)(\.value)?$", P("expert", "model")),
    (r"\.experts\.bo(\.value)?$", P("expert", None)),
    (r"\.attn\.(q|k|v)\.kernel(\.value)?$", P(None, "model")),
    (r"\.attn\.(q|k|v)\.bias(\.value)?$", P("model")),
    (r"\.attn\.o\.kernel(\.value)?$", P("model", None)),
    (r"\.ffn\.(wi_0|wi_1)\.kernel(\.value)?$", P(None, "model")),
    (r"\.ffn\.(wi_0|wi_1)\.bias(\.value)?$", P("model")),
    (r"\.ffn\.wo\.kernel(\.value)?$", P("model", None)),
)
BATCH_AXES = ("data", "expert")


def path_name(path) -> str:
    """A pytree key path as a dotted name with a leading dot: '.params.layers.1.ffn.router'."""
    return "." + jax.tree_util.keystr(path, simple=True, separator=".")


def rule_for(name: str) -> P:
    """The spec of the first rule matching a dotted path (replicated when none does)."""
    for pattern, spec in RULES:
        if re.search(pattern, name):
            return spec
    return P()


def fit(spec: P, shape: tuple[int, ...], mesh_shape: dict[str, int]) -> P:
    """`spec` cut to the leaf's rank, each axis kept only where the mesh has it and it divides the dim."""
    out = []
    for dim, axis in zip(shape, tuple(spec)[: len(shape)]):
        out.append(axis if axis in mesh_shape and dim % mesh_shape[axis] == 0 else None)
    while out and out[-1] is None:
        out.pop()
    return P(*out)


def spec_for(name: str, shape: tuple[int, ...], mesh_shape: dict[str, int]) -> P:
    return fit(rule_for(name), shape, mesh_shape)


def tree_shardings(tree, mesh):
    """A NamedSharding for every array leaf of `tree` (arrays or ShapeDtypeStructs), by rule."""
    shape = dict(mesh.shape)
    return jax.tree_util.tree_map_with_path(
        lambda path, x: NamedSharding(mesh, spec_for(path_name(path), tuple(x.shape), shape)), tree
    )


def batch_axes(mesh) -> tuple[str, ...]:
    """The mesh axes the batch (and the MoE routing groups) are split over."""
    return tuple(a for a in BATCH_AXES if a in mesh.shape)


def batch_spec(mesh) -> P:
    return P(batch_axes(mesh))


def dispatched_spec(mesh) -> P:
    """The experts' layout of [groups, experts, capacity, d_model] buffers: groups over data,
    experts over expert (the groups' layout is `batch_spec`)."""
    return P("data" if "data" in mesh.shape else None, "expert" if "expert" in mesh.shape else None)
