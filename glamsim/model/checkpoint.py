"""Orbax checkpoints of a training run: the state arrays plus a JSON record of the run.

The state is stored as a flat {"params.layers.0.attn.q.kernel": array, ...} mapping, restored onto
the structure of an abstract state, so optax and NNX containers round-trip exactly.  A missing
or unreadable checkpoint is a one-line `ConfigError`, never a silent fresh start.
"""

from __future__ import annotations

from pathlib import Path

import jax
import orbax.checkpoint as ocp

from glamsim.config import ConfigError


def _name(entry) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def flatten(tree) -> dict:
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {".".join(_name(e) for e in path): leaf for path, leaf in leaves}


def _manager(directory: Path) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(directory.absolute(), options=ocp.CheckpointManagerOptions(max_to_keep=2, create=True))


def save(directory: str | Path, step: int, state_arrays, record: dict) -> None:
    """Write checkpoint `step` (state arrays + JSON record) and wait until it is on disk."""
    with _manager(Path(directory)) as mgr:
        mgr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(flatten(state_arrays)),
                                               record=ocp.args.JsonSave(record)), force=True)
        mgr.wait_until_finished()


def latest_step(directory: str | Path) -> int | None:
    """The newest finished checkpoint step in `directory`, or None when it holds none."""
    path = Path(directory)
    if not path.is_dir():
        return None
    with ocp.CheckpointManager(path.absolute()) as mgr:
        return mgr.latest_step()


def _require(directory: str | Path) -> int:
    step = latest_step(directory)
    if step is None:
        raise ConfigError(f"checkpoint={str(directory)!r}: no checkpoint found")
    return step


def read_record(directory: str | Path) -> dict:
    """The JSON record (model and training configuration) of the newest checkpoint."""
    step = _require(directory)
    try:
        with ocp.CheckpointManager(Path(directory).absolute()) as mgr:
            return mgr.restore(step, args=ocp.args.Composite(record=ocp.args.JsonRestore()))["record"]
    except Exception as err:  # orbax raises many kinds on damaged files
        raise ConfigError(f"checkpoint={str(directory)!r}: step {step} is corrupted or unreadable "
                          f"({err.__class__.__name__})") from None


def restore(directory: str | Path, abstract_arrays):
    """The newest checkpoint's state arrays, restored onto the structure of `abstract_arrays`."""
    step = _require(directory)
    target = flatten(abstract_arrays)
    try:
        with ocp.CheckpointManager(Path(directory).absolute()) as mgr:
            flat = mgr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target)))["state"]
        if set(flat) != set(target):
            raise ValueError("different parameter names")
        leaves = [flat[k] for k in target]
        for got, want in zip(leaves, target.values()):
            if got.shape != want.shape or got.dtype != want.dtype:
                raise ValueError("different shapes")
    except Exception as err:  # orbax raises many kinds on damaged files
        raise ConfigError(f"checkpoint={str(directory)!r}: step {step} is corrupted or does not match the "
                          f"model ({err.__class__.__name__}: {' '.join(str(err).split())[:120]})") from None
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(abstract_arrays), leaves)
