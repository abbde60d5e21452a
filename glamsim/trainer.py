"""The training loop behind `glamsim train`: batches, jitted steps, evaluation, metric logs and
checkpoints, with exact resumption (the batch of step t depends only on the seed and t).

It sits above `glamsim.model` (the model, its step, checkpoints) and `glamsim.parallel` (the same
step sharded over a mesh) and uses both; parallel uses model, never the reverse.

Before any work: the checkpoint folder and the log file are checked writable.  On resume, a damaged
newest checkpoint is set aside with a one-line warning and the run continues from the newest intact
one.  A run whose loss turns NaN/inf, or whose every update is skipped for non-finite gradients
`MAX_SKIPPED_IN_A_ROW` times running, stops with a one-line error naming the step."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
from tqdm import tqdm

from glamsim.accounting import count
from glamsim.config import ConfigError, ModelConfig, read_text
from glamsim.files import DiskFull, no_space, write_text
from glamsim.formatting import fmt_count
from glamsim.model import checkpoint, paths
from glamsim.model.data import Corpus, check_length, eval_batches, train_batch
from glamsim.model.train import TRAJECTORY_FIELDS, TrainConfig, TrainState, eval_loss, init_state, train_step
from glamsim.parallel import spmd
from glamsim.parallel.mesh import describe

LOG_COLUMNS = (
    "step",
    "loss",
    "ce",
    "aux_loss",
    "z_loss",
    "dropped_fraction",
    "max_mean_load",
    "grad_norm",
    "skipped",
    "tokens_per_s",
    "val_loss",
    "val_bpb",
)
MAX_SKIPPED_IN_A_ROW = 5  # consecutive skipped updates (non-finite gradients) that count as divergence


class MetricsLog:
    """Rows of metrics appended to a CSV (by suffix) or JSONL file; on resume, rows after the
    restored step are dropped first so the log reads like one uninterrupted run."""

    def __init__(self, path: str | Path | None, keep_until: int):
        self.path = Path(path) if path else None
        self.csv = bool(self.path) and self.path.suffix.lower() == ".csv"
        if self.path is None:
            return
        rows = read_log(self.path) if keep_until > 0 and self.path.exists() else []
        kept = [r for r in rows if int(float(r["step"])) <= keep_until]
        head = self._text(None) if self.csv else ""
        write_text(head + "".join(self._text(r) for r in kept), self.path)  # atomic: the old log stays whole

    def _text(self, row: dict | None) -> str:
        """One row as the file holds it (None: the CSV header)."""
        if not self.csv:
            return json.dumps(row) + "\n"
        buf = io.StringIO()
        w = csv.DictWriter(buf, LOG_COLUMNS)
        w.writeheader() if row is None else w.writerow({k: row.get(k, "") for k in LOG_COLUMNS})
        return buf.getvalue()

    def write(self, row: dict) -> None:
        """Append one row, all or nothing: a write that fails (a full disk) leaves the log as it was."""
        if self.path is None:
            return
        data = self._text(row).encode("utf-8")
        with self.path.open("ab") as f:
            size = f.tell()
            try:
                f.write(data)
                f.flush()
            except OSError as err:
                f.truncate(size)
                raise DiskFull(self.path) if no_space(err) else err from None


def read_log(path: Path) -> list[dict]:
    """The rows of an existing metrics log (CSV by suffix, else JSON lines); one-line ConfigError
    when it cannot be read back, as a resume must.  Every row is written whole with its newline, so
    a last line without one is a row torn by a kill during its write: it is left out (its step is
    after the checkpoint a resume starts from, and is logged again)."""
    try:
        text = read_text(path, "log", f"log={str(path)!r}")
        if not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]
        lines = text.splitlines(keepends=True)
        if path.suffix.lower() == ".csv":
            rows = list(csv.DictReader(lines))
        else:
            rows = [json.loads(line) for line in lines if line.strip()]
        for row in rows:
            int(float(row["step"]))
        return rows
    except ConfigError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError, csv.Error) as err:
        raise ConfigError(
            f"log={str(path)!r}: cannot read the rows to keep on resume "
            f"({err.__class__.__name__}); move it aside or give another --log"
        ) from None


def run_record(cfg: ModelConfig, train_cfg: TrainConfig, corpus: Corpus) -> dict:
    """What a checkpoint records about its run (enough to rebuild the model and check a resume)."""
    return {
        "model": cfg.model_dump(mode="json", exclude_none=True),
        "train": train_cfg.model_dump(mode="json"),
        "corpus": corpus.source,
    }


def _check_resume(directory, record: dict, cfg: ModelConfig, train_cfg: TrainConfig) -> None:
    if record["model"] != cfg.model_dump(mode="json", exclude_none=True):
        raise ConfigError(
            f"checkpoint={str(directory)!r}: holds model {record['model'].get('name')!r}, "
            f"not this {cfg.name!r} configuration"
        )
    for field in TRAJECTORY_FIELDS:
        saved, now = record["train"].get(field), getattr(train_cfg, field)
        if saved != now:
            raise ConfigError(f"{field}={now!r}: the checkpoint was trained with {field}={saved!r}")


def check_outputs(checkpoint_dir=None, log_path=None, resume: bool = False) -> None:
    """One-line ConfigError, before any work, when the run could not write what it must."""
    if resume and not checkpoint_dir:
        raise ConfigError("resume: needs --checkpoint-dir")
    if checkpoint_dir:
        paths.output_dir(checkpoint_dir, "--checkpoint-dir")
    if log_path:
        paths.output_file(log_path, "--log")
        if resume and Path(log_path).exists():
            read_log(Path(log_path))


TRAIN_BYTES_PER_PARAM = 12  # fp32 parameters, their gradients and the updated copy (Adafactor's state is small)


def available_ram() -> int | None:
    """Bytes of memory this host can still give (Linux's MemAvailable); None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _accelerator() -> bool:
    """Whether JAX may run on a GPU or TPU here (then host memory is not what bounds the run)."""
    platforms = os.environ.get("JAX_PLATFORMS", "")
    if platforms:
        return platforms.strip().lower() != "cpu"
    return any(Path("/dev").glob("nvidia[0-9]*")) or any(Path("/dev").glob("accel[0-9]*"))


def check_fits(cfg: ModelConfig, train_cfg, available: int | None = None) -> None:
    """One-line ConfigError, before JAX allocates anything, when training `cfg` cannot fit in this
    host's memory: a lower bound (parameters, gradients and the updated copy in fp32, and the batch's
    logits and their gradient) against the memory available.  Checked on hosts without an
    accelerator, or with `available` given."""
    if available is None:
        available = None if _accelerator() else available_ram()
        if available is None:
            return
    params = count(cfg).params_total
    seq = train_cfg.seq_len or cfg.max_seq_len
    logits = 2 * 4 * train_cfg.batch_size * seq * cfg.vocab_size
    need = TRAIN_BYTES_PER_PARAM * params + logits
    if need > available:
        raise ConfigError(
            f"model={cfg.name}: training needs at least {need / 1e9:,.1f} GB ({fmt_count(params)} parameters x "
            f"{TRAIN_BYTES_PER_PARAM} bytes, logits of batch {train_cfg.batch_size} x {seq} tokens), "
            f"{available / 1e9:,.1f} GB are available on this machine; train a smaller model or batch"
        )


def warn_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def start_state(
    cfg: ModelConfig,
    train_cfg: TrainConfig,
    checkpoint_dir,
    resume: bool,
    mesh=None,
    warn: Callable[[str], None] | None = None,
) -> TrainState:
    """A fresh state, or the checkpointed one when resuming (checked against this run's settings).

    On resume, damaged checkpoint steps newer than the newest intact one are renamed aside
    (`corrupted-<step>`), each with a one-line warning, and the run continues from the intact one."""
    if resume and not checkpoint_dir:
        raise ConfigError("resume: needs --checkpoint-dir")
    if checkpoint_dir and not resume:
        existing = checkpoint.latest_step(checkpoint_dir)
        if existing is not None:
            raise ConfigError(
                f"checkpoint-dir={str(checkpoint_dir)!r}: already holds a run (step {existing}); "
                "pass --resume to continue it or choose another folder"
            )
    state = (
        init_state(cfg, train_cfg.seed, train_cfg)
        if mesh is None  # on a mesh: built in its shards
        else spmd.init_state(cfg, train_cfg.seed, train_cfg, mesh)
    )
    if not (checkpoint_dir and resume):
        return state
    step, _, arrays, damaged = checkpoint.restore_intact(
        checkpoint_dir, state.arrays(), check_record=lambda r: _check_resume(checkpoint_dir, r, cfg, train_cfg)
    )
    main = jax.process_index() == 0
    for err in damaged:
        moved = checkpoint.set_aside(checkpoint_dir, err.step) if main else None
        if main:
            kept = f"; kept as {moved}" if moved else ""
            (warn or warn_stderr)(
                f"checkpoint step {err.step} is corrupted ({err.why}){kept}; resuming from step {step}"
            )
    return state.replace(**arrays)


def evaluate(eval_fn, state: TrainState, batches: list[dict]) -> float:
    """Mean validation cross-entropy in nats per byte."""
    return float(np.mean([float(eval_fn(state.graphdef, state.params, b)) for b in batches]))


def _diverged(step: int, metrics: dict, skipped_in_a_row: int, lr: float) -> str | None:
    """Why training must stop at `step`, or None while it is healthy."""
    loss = metrics["loss"]
    if not math.isfinite(loss):
        return f"training diverged at step {step}: loss={loss} (lower --lr, now {lr:g})"
    if skipped_in_a_row >= MAX_SKIPPED_IN_A_ROW:
        return (
            f"training diverged at step {step}: gradients not finite for {skipped_in_a_row} steps in a row, "
            f"every update skipped (loss={loss:.4g}; lower --lr, now {lr:g})"
        )
    return None


def train(
    cfg: ModelConfig,
    train_cfg: TrainConfig,
    corpus: Corpus,
    *,
    checkpoint_dir=None,
    resume: bool = False,
    log_path=None,
    progress: bool = True,
    mesh=None,
    warn: Callable[[str], None] | None = None,
    announce: Callable[[], None] | None = None,
) -> dict:
    """Train to `train_cfg.steps` total steps; returns a summary (losses, bits per byte, speed).
    `announce` is called once every input is checked and the state is ready, before XLA compiles
    the step (the command line says there what is compiling and for how long it took before).

    ConfigError (one line) on bad inputs before any work, and when training diverges (the log
    keeps every row up to and including the diverged step; no checkpoint of it is written)."""
    check_outputs(checkpoint_dir, log_path, resume)
    seq, batch = train_cfg.context(cfg), train_cfg.batch_size
    check_length(corpus.train, seq, "train")
    check_length(corpus.validation, seq, "validation")
    if mesh is not None:  # a `glamsim.parallel.mesh` mesh: sharded state, batches split over data x expert
        spmd.check_layout(cfg, mesh, batch, seq)
    place = (lambda b: b) if mesh is None else (lambda b: spmd.shard_batch(b, mesh))
    main = jax.process_index() == 0  # with several processes, only the first logs and prints
    state = start_state(cfg, train_cfg, checkpoint_dir, resume, mesh, warn)
    start = int(state.step)
    if start >= train_cfg.steps:
        raise ConfigError(f"steps={train_cfg.steps}: the checkpoint is already at step {start}")
    record = run_record(cfg, train_cfg, corpus)
    if announce is not None and main:
        announce()
    log = MetricsLog(log_path if main else None, keep_until=start)
    step_fn = jax.jit(train_step, static_argnums=0) if mesh is None else spmd.jit_train_step(state)
    eval_fn = jax.jit(eval_loss, static_argnums=0) if mesh is None else spmd.jit_eval_loss(mesh)
    val = [place(b) for b in eval_batches(corpus, train_cfg.eval_batches, batch, seq)]
    first_val = None
    if start == 0:
        first_val = evaluate(eval_fn, state, val)
        log.write({"step": 0, "val_loss": first_val, "val_bpb": first_val / math.log(2)})
    speeds, row, t_begin, skipped = [], {}, time.perf_counter(), 0
    bar = tqdm(total=train_cfg.steps, initial=start, disable=not (progress and main), desc=cfg.name, unit="step")
    for step in range(start, train_cfg.steps):
        t0 = time.perf_counter()
        state, metrics = step_fn(state.graphdef, state, place(train_batch(corpus, step, batch, seq, train_cfg.seed)))
        metrics = {k: v.item() for k, v in jax.device_get(metrics).items()}
        dt = time.perf_counter() - t0
        speeds.append(batch * seq / dt)
        done = step + 1
        row = {"step": done, **metrics, "tokens_per_s": speeds[-1]}
        skipped = skipped + 1 if metrics.get("skipped") else 0
        why = _diverged(done, metrics, skipped, train_cfg.learning_rate)
        if why:
            log.write(row)
            bar.close()
            raise ConfigError(why)
        if done % train_cfg.eval_every == 0 or done == train_cfg.steps:
            row["val_loss"] = evaluate(eval_fn, state, val)
            row["val_bpb"] = row["val_loss"] / math.log(2)
        log.write(row)
        every = train_cfg.checkpoint_every
        if checkpoint_dir and ((every and done % every == 0) or done == train_cfg.steps):
            checkpoint.save(checkpoint_dir, done, state.arrays(), record)
        bar.set_postfix(
            loss=f"{metrics['loss']:.3f}", tok_s=f"{speeds[-1]:.0f}", drop=f"{metrics.get('dropped_fraction', 0.0):.3f}"
        )
        bar.update(1)
    bar.close()
    return {
        "model": cfg.name,
        "steps": train_cfg.steps,
        "resumed_from": start,
        "batch": batch,
        "seq_len": seq,
        **({"mesh": describe(mesh), "n_devices": mesh.size} if mesh is not None else {}),
        "corpus": corpus.source,
        "train_bytes": int(corpus.train.size),
        "val_bytes": int(corpus.validation.size),
        "loss": row["loss"],
        "val_loss_start": first_val,
        "val_loss": row["val_loss"],
        "val_bpb_start": None if first_val is None else first_val / math.log(2),
        "val_bpb": row["val_bpb"],
        "tokens_per_s": statistics.median(speeds[1:] or speeds),
        "wall_s": time.perf_counter() - t_begin,
    }
