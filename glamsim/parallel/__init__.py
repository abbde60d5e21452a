"""Expert and data parallelism on JAX's own SPMD runtime: a device mesh from `--mesh`, one rule
table for shardings, sharded training steps, and `jax.distributed` for several processes."""

from __future__ import annotations

from glamsim.config import ConfigError
from glamsim.parallel import distributed
from glamsim.parallel.mesh import make_mesh, parse_mesh


def setup(
    mesh: str | None, coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None
):
    """Join the cluster (flags or environment), then build the mesh; None without `mesh`.

    Inputs are checked before JAX starts, so a bad flag costs nothing."""
    axes = check(mesh, coordinator, num_processes, process_id)
    distributed.initialize(coordinator, num_processes, process_id)
    return make_mesh(axes) if axes else None


def check(
    mesh: str | None, coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None
):
    """The mesh's axes (None without `mesh`), with the cluster's flags checked: what `setup` does
    before JAX starts, for a command to call before it imports JAX (a refusal at once)."""
    axes = parse_mesh(mesh) if mesh else None
    cluster = distributed.resolve(coordinator, num_processes, process_id)
    if cluster is not None and axes is None:
        raise ConfigError("mesh=None: several processes need --mesh to lay the model out over their devices")
    return axes


__all__ = ["check", "setup"]
