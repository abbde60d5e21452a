"""Orbax checkpoints of a training run: the state arrays, a JSON record of the run and an integrity
manifest, each verified when read.

The state is stored as a flat {"params.layers.0.attn.q.kernel": array, ...} mapping, restored onto
the structure of an abstract state, so optax and NNX containers round-trip exactly.

Integrity: every step holds a third item, `integrity`, written by orbax in the same atomic commit
as the arrays: the SHA-256 (with shape and dtype) of every saved array's bytes and of the record's
canonical JSON.  Reading a step recomputes them, so bytes flipped anywhere in the tensor files
are found even where the storage format decodes them without complaint (raw zarr chunks carry no
checksum).  A damaged step is a one-line `CorruptCheckpoint` naming it; a missing or unreadable
checkpoint is a one-line `ConfigError`, never a silent fresh start.  `restore_intact` walks back to
the newest intact step, for `train --resume`.

Saving is synchronous (orbax's asynchronous save reports a failure from a background thread and
left the process hanging at exit); a failed save is a one-line `ConfigError`, a full disk among
them (the path and the free space; the step's partial files removed, earlier steps untouched), and
orbax's thread noise (absl error logs with tracebacks, tensorstore's late "Event loop is closed"
callbacks: 993 stderr lines on a full disk) is held back while it saves.  The JSON items (record
and integrity manifest) are read by glamsim's bounded reader (`glamsim.readers.read_bytes`), not
by orbax: a regular file of at most `MAX_BYTES["manifest"]`, strict JSON.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp

from glamsim.config import ConfigError, parse_json, read_text, show
from glamsim.files import free_bytes, no_space

INTEGRITY_FORMAT = "glamsim.checkpoint-integrity/1"
MAX_TO_KEEP = 2


class CorruptCheckpoint(ConfigError):
    """A checkpoint step whose stored bytes are damaged: checksums differ or the files do not decode."""

    def __init__(self, directory, step: int, why: str):
        self.directory, self.step, self.why = directory, step, why
        super().__init__(f"checkpoint={str(directory)!r}: step {step} is corrupted ({why})")


def _name(entry) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def flatten(tree) -> dict:
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {".".join(_name(e) for e in path): leaf for path, leaf in leaves}


# ---- checksums -------------------------------------------------------------------------------


def _host(array) -> np.ndarray:
    """The whole array on the host (gathered from every process when it is sharded across them)."""
    if isinstance(array, jax.Array) and not array.is_fully_addressable:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(array, tiled=True))
    return np.asarray(jax.device_get(array))


def array_digest(array) -> dict:
    """{"sha256", "shape", "dtype"} of an array's bytes (C order), independent of its sharding."""
    a = np.ascontiguousarray(_host(array))
    return {"sha256": hashlib.sha256(a.tobytes()).hexdigest(), "shape": list(a.shape), "dtype": str(a.dtype)}


def record_digest(record) -> str:
    """SHA-256 of the record's canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def manifest(flat: dict, record) -> dict:
    """The integrity item of a step: digests of every array and of the record."""
    return {
        "format": INTEGRITY_FORMAT,
        "algorithm": "sha256",
        "record": record_digest(record),
        "arrays": {k: array_digest(v) for k, v in flat.items()},
    }


# ---- orbax plumbing --------------------------------------------------------------------------


def _quiet_closed_loop_hook(previous):
    """An unraisable-exception hook that drops orbax/tensorstore's late "Event loop is closed"
    callbacks (left over after a restore fails on damaged files) and passes everything else on."""

    def hook(unraisable):
        exc = unraisable.exc_value
        if isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed":
            return
        previous(unraisable)

    hook._glamsim_quiet = True
    return hook


def _quiet_orbax() -> None:
    """Install the hook above (once; on top of whatever hook is current, pytest's included)."""
    if not getattr(sys.unraisablehook, "_glamsim_quiet", False):
        sys.unraisablehook = _quiet_closed_loop_hook(sys.unraisablehook)


class _Held(logging.Handler):
    """Keeps log records back (to replay them when the save succeeds, to drop them when it fails)."""

    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@contextmanager
def _quiet_save():
    """Hold back what orbax logs through absl while a save runs (on a failure: an error with its
    traceback from each of its threads); replay it if the save succeeds."""
    _quiet_orbax()
    log = logging.getLogger("absl")
    held, propagate = _Held(), log.propagate
    log.addHandler(held)
    log.propagate = False
    ok = False
    try:
        yield
        ok = True
    finally:
        log.removeHandler(held)
        log.propagate = propagate
        if ok:
            for record in held.records:
                log.handle(record)


def _drop_partial(directory: Path, step: int) -> None:
    """Remove orbax's unfinished folder of `step` (`<step>.orbax-checkpoint-tmp...`): the failed
    save's own partial files, which no reader trusts but which hold the space a full disk lacks."""
    try:
        for p in directory.glob(f"{step}.orbax-checkpoint-tmp*"):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
    except OSError:
        pass


def _writer(directory: Path) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        directory.absolute(),
        options=ocp.CheckpointManagerOptions(max_to_keep=MAX_TO_KEEP, create=True, enable_async_checkpointing=False),
    )


def _reader(directory: Path) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(directory.absolute(), options=ocp.CheckpointManagerOptions(create=False))


def _brief(err: BaseException) -> str:
    return f"{err.__class__.__name__}: {' '.join(str(err).split())[:120]}"


def save(directory: str | Path, step: int, state_arrays, record: dict) -> None:
    """Write checkpoint `step` (state arrays, JSON record, integrity manifest) and return once it is
    committed on disk; older steps beyond the newest MAX_TO_KEEP are removed."""
    flat = flatten(state_arrays)
    integrity = manifest(flat, record)
    try:
        with _quiet_save(), _writer(Path(directory)) as mgr:
            mgr.save(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(flat),
                    record=ocp.args.JsonSave(record),
                    integrity=ocp.args.JsonSave(integrity),
                ),
                force=True,
            )
            mgr.wait_until_finished()
    except Exception as err:  # a full disk, a folder removed under the run: one line, not a hang
        where = f"checkpoint-dir={str(directory)!r}"
        if no_space(err):
            free = free_bytes(directory)  # before its partial files are removed: what the save had
            _drop_partial(Path(directory), step)
            left = f"{free:,} bytes free there" if free is not None else "free space unknown"
            need = sum(int(np.prod(np.shape(a))) * np.dtype(a.dtype).itemsize for a in flat.values())
            raise ConfigError(
                f"{where}: cannot write step {step}: no space left on device ({left}, the step's arrays take "
                f"{need:,} bytes); its partial files were removed, earlier steps are kept"
            ) from None
        raise ConfigError(f"{where}: cannot write step {step} ({_brief(err)})") from None


def all_steps(directory: str | Path) -> list[int]:
    """The finished checkpoint steps in `directory`, newest first ([] when it holds none)."""
    path = Path(directory)
    if not path.is_dir():
        return []
    try:
        with _reader(path) as mgr:
            return sorted(mgr.all_steps(), reverse=True)
    except Exception as err:  # an unreadable folder
        raise ConfigError(f"checkpoint={str(directory)!r}: cannot list checkpoints ({_brief(err)})") from None


def latest_step(directory: str | Path) -> int | None:
    """The newest finished checkpoint step in `directory`, or None when it holds none."""
    steps = all_steps(directory)
    return steps[0] if steps else None


def _require(directory: str | Path, step: int | None) -> int:
    if step is not None:
        return step
    step = latest_step(directory)
    if step is None:
        path = Path(directory)
        why = (
            "no such folder"
            if not os.path.lexists(path)
            else "is a file, not a checkpoint folder"
            if not path.is_dir()
            else "no checkpoint found"
        )
        if why != "no checkpoint found":
            why = f"no checkpoint found ({why})"
        raise ConfigError(f"checkpoint={str(directory)!r}: {why}")
    return step


def _restore(directory, step: int, **items) -> dict:
    """Restore the named items of one step; any failure to read or decode is a CorruptCheckpoint."""
    _quiet_orbax()
    try:
        with _reader(Path(directory)) as mgr:
            got = mgr.restore(step, args=ocp.args.Composite(**items))
        return {k: got[k] for k in items}
    except Exception as err:  # orbax and tensorstore raise many kinds on damaged files
        raise CorruptCheckpoint(directory, step, f"unreadable: {_brief(err)}") from None


JSON_ITEM_FILE = "metadata"  # the file orbax's JsonCheckpointHandler writes in an item's folder


def _json_item(directory, step: int, item: str):
    """A step's JSON item (`record`, `integrity`), read by the bounded reader; a missing, special,
    oversized or malformed file is a CorruptCheckpoint naming the step."""
    folder = Path(directory) / str(step) / item
    if item == "integrity" and not os.path.lexists(folder):
        raise CorruptCheckpoint(
            directory, step, "no integrity manifest: damaged, or written before glamsim verified checkpoints"
        )
    where = f"{item}/{JSON_ITEM_FILE}"
    try:
        return parse_json(read_text(folder / JSON_ITEM_FILE, "manifest", where), where)
    except ConfigError as err:
        raise CorruptCheckpoint(directory, step, f"unreadable {err}") from None


def _check_manifest(directory, step: int, integrity) -> dict:
    ok = (
        isinstance(integrity, dict)
        and integrity.get("format") == INTEGRITY_FORMAT
        and isinstance(integrity.get("arrays"), dict)
        and isinstance(integrity.get("record"), str)
        and all(isinstance(d, dict) and {"sha256", "shape", "dtype"} <= set(d) for d in integrity["arrays"].values())
    )
    if not ok:
        raise CorruptCheckpoint(directory, step, f"integrity manifest is not a {INTEGRITY_FORMAT} manifest")
    return integrity


def read_record(directory: str | Path, step: int | None = None) -> dict:
    """The JSON record (model and training configuration) of checkpoint `step` (default: newest),
    checked against the step's integrity manifest and for its shape."""
    step = _require(directory, step)
    integrity = _check_manifest(directory, step, _json_item(directory, step, "integrity"))
    record = _json_item(directory, step, "record")
    try:
        digest = record_digest(record)
    except (TypeError, ValueError):
        digest = None
    if digest != integrity["record"]:
        raise CorruptCheckpoint(directory, step, "record checksum mismatch")
    where = f"checkpoint={str(directory)!r}: step {step}"
    if not isinstance(record, dict):
        raise ConfigError(
            f"{where}: record is a {type(record).__name__}, not a mapping: not a glamsim training checkpoint"
        )
    for key in ("model", "train"):
        if not isinstance(record.get(key), dict):
            raise ConfigError(
                f"{where}: record has no {key!r} mapping (found {show(record.get(key))}): "
                "not a glamsim training checkpoint"
            )
    return record


def restore(directory: str | Path, abstract_arrays, step: int | None = None):
    """Checkpoint `step`'s (default: newest) state arrays, restored onto the structure of
    `abstract_arrays` and verified against the step's integrity manifest."""
    step = _require(directory, step)
    target = flatten(abstract_arrays)
    digests = _check_manifest(directory, step, _json_item(directory, step, "integrity"))["arrays"]
    flat = _restore(directory, step, state=ocp.args.StandardRestore(target))["state"]
    if not isinstance(flat, dict) or set(flat) != set(target) or set(digests) != set(target):
        raise CorruptCheckpoint(directory, step, "different parameter names than the model")
    for name, want in target.items():
        have, saved = flat[name], digests[name]
        if tuple(have.shape) != tuple(want.shape) or np.dtype(have.dtype) != np.dtype(want.dtype):
            raise CorruptCheckpoint(
                directory,
                step,
                f"array {name!r} is {have.dtype}{list(have.shape)}, "
                f"the model needs {np.dtype(want.dtype)}{list(want.shape)}",
            )
        if array_digest(have) != saved:
            raise CorruptCheckpoint(directory, step, f"array {name!r} checksum mismatch")
    leaves = [flat[k] for k in target]
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(abstract_arrays), leaves)


def restore_intact(directory: str | Path, abstract_arrays, check_record=None):
    """(step, record, arrays, damaged) of the newest intact step: damaged steps (newest first) are
    skipped and returned as CorruptCheckpoint errors.  `check_record(record)` may refuse a record
    (a different model, other settings): that error stops the search.  One-line ConfigError when
    the folder holds no checkpoint or no intact one."""
    steps = all_steps(directory)
    if not steps:
        _require(directory, None)
    damaged: list[CorruptCheckpoint] = []
    for step in steps:
        try:
            record = read_record(directory, step)
            if check_record is not None:
                check_record(record)
            return step, record, restore(directory, abstract_arrays, step), damaged
        except CorruptCheckpoint as err:
            damaged.append(err)
    found = "; ".join(f"step {e.step} is corrupted ({e.why})" for e in damaged)
    raise ConfigError(f"checkpoint={str(directory)!r}: no intact checkpoint to resume from: {found}")


def set_aside(directory: str | Path, step: int) -> Path | None:
    """Rename a damaged step's folder to `corrupted-<step>` (orbax ignores it; nothing is deleted),
    so the run can write that step again.  Returns the new path (None if the step folder is gone)."""
    base = Path(directory)
    src = base / str(step)
    if not src.is_dir():
        return None
    dst, n = base / f"corrupted-{step}", 1
    while os.path.lexists(dst):
        dst, n = base / f"corrupted-{step}-{n}", n + 1
    src.rename(dst)
    return dst
