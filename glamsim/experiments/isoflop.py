"""The IsoFLOP study (issue 26): tiny dense and MoE GLaMs trained at a few compute budgets, on this machine.

`run_isoflop(grid, out)` trains every run of the grid (`glamsim.cost.quality.isoflop.plan`) that `out` does
not hold yet, then writes the study's files, like every study:

    runs.parquet, runs.csv   one row per run: family, width, parameters, budget, steps, tokens, compute,
                             held-out loss (nats per byte) and bits per byte, train loss, speed
    report.json              the law fitted to each family (Hoffmann et al.'s Huber on log-loss), bootstrap
                             intervals, the MoE compute advantage per budget, the published figures beside
    ledger.json              the grid, the machine (JAX backend, device, version), the corpus, conventions,
                             the sources of every published figure
    isoflop.png/.svg         held-out loss against activated parameters, one line per budget, per family
    frontier.png/.svg        the best loss at each budget, dense against each MoE family
    runs.jsonl               every finished run, keyed by its model, settings and steps: what a later call
                             reuses (a run already done is not redone; a changed grid reuses what it shares)

One trajectory per model: GLaM's learning-rate schedule depends on the step, never on the run's length, and
the batch of step t on (seed, t) only, so a run of S steps is exactly the first S steps of a longer one.  Each
model is therefore trained once, to the longest of its runs still missing, and evaluated at each run's step
count: the budgets after the first cost an evaluation each.  (Hoffmann et al. fitted a cosine to each run's
length instead; here the rate stays at its constant warm-up value, so no run is annealed.)  One jitted step
and one jitted evaluation serve every model (compiled once per shape and kept for the process).  A
trajectory interrupted keeps the runs it finished; the rest of it restarts from step 0.

Before any work: the grid (one line per bad value), the output folder (writable, not another study's), and
the corpus long enough.  One writer per folder (`glamsim.studies.io.exclusive`).
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import jax
import numpy as np
import pandas as pd

from glamsim.config import ConfigError, show
from glamsim.cost.quality import isoflop as iso
from glamsim.files import write_text
from glamsim.model.data import check_length, eval_batches, load_corpus, train_batch
from glamsim.model.train import TrainConfig, eval_loss, init_state, train_step
from glamsim.studies import io
from glamsim.studies.runner import DONE, check_out_dir

STORE = "runs.jsonl"
FILES = ("runs.parquet", "runs.csv", "report.json", "ledger.json")
STUDY = "isoflop"

# one jitted step and evaluation for every run: XLA compiles once per model shape and keeps it
_STEP = jax.jit(train_step, static_argnums=0)
_EVAL = jax.jit(eval_loss, static_argnums=0)


@dataclass
class IsoflopRun:
    """What a call produced: the runs (one row each), the report, the files written."""

    grid: iso.IsoflopGrid
    out_dir: Path
    runs: pd.DataFrame
    report: dict
    files: list[Path] = field(default_factory=list)
    trained: int = 0  # runs trained by this call
    reused: int = 0  # runs found in the folder
    warnings: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    fit_s: float = 0.0  # of which the fit, its bootstrap and the report


def _warn_stderr(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()


def _check_not_a_spec_study(out: Path) -> None:
    """`out` holding a spec study's finished results is another study's folder: refused in one line."""
    done = out / DONE
    if done.is_file() or (out / "results.parquet").exists():
        raise ConfigError(f"--out={show(str(out))}: holds the results of a spec study; give another --out")


def _read_store(path: Path, warn) -> dict[str, dict]:
    """key -> run row from `runs.jsonl`; a line that is not a run (damaged, truncated) is dropped with a
    warning, and that run is trained again."""
    runs = {}
    if not path.exists():
        return runs
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        warn(f"{path}: unreadable ({err.__class__.__name__}); every run is trained again")
        return runs
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not (isinstance(row, dict) and isinstance(row.get("key"), str) and math.isfinite(row["val_loss"])):
                raise ValueError("not a run")
        except (ValueError, TypeError, KeyError):
            warn(f"{path}: line {i} is not a finished run (damaged); it is trained again")
            continue
        runs[row["key"]] = row
    return runs


def _write_store(path: Path, runs: dict[str, dict]) -> None:
    write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in runs.values()), path)


def _machine() -> dict:
    dev = jax.devices()[0]
    return {
        "backend": jax.default_backend(),
        "device": getattr(dev, "device_kind", str(dev)),
        "n_devices": jax.device_count(),
        "jax_version": jax.__version__,
    }


def _train_model(cfg, grid, todo: pd.DataFrame, corpus, val, bar, on_run) -> None:
    """Train `cfg` once to the longest run in `todo`, evaluating at each run's steps; `on_run(row)`."""
    tc = TrainConfig(
        steps=int(todo["steps"].max()),
        batch_size=grid.batch_size,
        seq_len=grid.seq_len,
        learning_rate=grid.learning_rate,
        seed=grid.seed,
    )
    state = init_state(cfg, grid.seed, tc)
    at = {int(s): r for s, r in todo.groupby("steps")}
    t0, tokens, last = time.perf_counter(), 0, {}
    for step in range(tc.steps):
        state, metrics = _STEP(
            state.graphdef, state, train_batch(corpus, step, grid.batch_size, grid.seq_len, grid.seed)
        )
        done = step + 1
        tokens += grid.batch_size * grid.seq_len
        if done in at or done == tc.steps:
            last = {k: float(v) for k, v in jax.device_get(metrics).items()}
            if not math.isfinite(last["loss"]):
                raise ConfigError(f"{cfg.name}: training diverged at step {done} (loss {last['loss']}); lower the rate")
        if done in at:
            wall = time.perf_counter() - t0
            loss = float(np.mean([float(_EVAL(state.graphdef, state.params, b)) for b in val]))
            for _, run in at[done].iterrows():
                on_run(
                    {
                        **run.to_dict(),
                        "val_loss": loss,
                        "val_bpb": loss / math.log(2),
                        "train_loss": last["ce"],
                        "dropped_fraction": last.get("dropped_fraction", 0.0),
                        "train_wall_s": wall,
                        "tokens_per_s": tokens / wall,
                    }
                )
        if bar is not None:
            bar.update(1)


def run_isoflop(
    grid: iso.IsoflopGrid | None = None,
    out_dir: str | Path = "runs/studies/isoflop",
    *,
    n_bootstrap: int = 20,
    progress: bool = True,
    warn: Callable[[str], None] | None = None,
) -> IsoflopRun:
    """Train what `out_dir` lacks of `grid`'s runs, fit, report and write the study's files (module docstring)."""
    t_begin = time.perf_counter()
    grid = grid or iso.IsoflopGrid()
    warn = warn or _warn_stderr
    out = Path(out_dir)
    if not 0 <= n_bootstrap <= 1000:
        raise ConfigError(f"bootstrap={show(n_bootstrap)}: must be between 0 and 1000")
    planned = iso.plan(grid)  # every bad value of the grid, before any work
    check_out_dir(out)
    _check_not_a_spec_study(out)
    run = IsoflopRun(grid, out, pd.DataFrame(), {})
    with io.exclusive(out, f"--out={show(str(out))}"):
        notes: list[str] = []
        store = _read_store(out / STORE, notes.append)
        for note in notes:
            run.warnings.append(note)
            warn(note)
        todo = planned[~planned["key"].isin(store)]
        run.reused = len(planned) - len(todo)
        corpus_info = {"source": iso.corpus_name(grid)}
        if len(todo):
            corpus = load_corpus(list(grid.corpus) or None)
            check_length(corpus.train, grid.seq_len, "train")
            check_length(corpus.validation, grid.seq_len, "validation")
            corpus_info |= {"train_bytes": int(corpus.train.size), "validation_bytes": int(corpus.validation.size)}
            val = eval_batches(corpus, grid.eval_batches, grid.batch_size, grid.seq_len)
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=int(todo.groupby("model")["steps"].max().sum()), desc="isoflop", unit="step")

            def finished(row: dict) -> None:
                store[row["key"]] = row
                _write_store(out / STORE, store)  # atomic: a crash keeps every run finished before it
                run.trained += 1

            try:
                for (experts, width), g in todo.groupby(["n_experts", "d_model"], sort=True):
                    _train_model(iso.shape(grid, int(width), int(experts)), grid, g, corpus, val, bar, finished)
            finally:
                if bar is not None:
                    bar.close()
        cols = [c for c in store[planned["key"].iloc[0]] if c != "key"] + ["key"]
        run.runs = pd.DataFrame([{c: store[k].get(c) for c in cols} for k in planned["key"]])
        t_fit = time.perf_counter()
        run.report = iso.report(run.runs, n_bootstrap, grid.seed)
        run.fit_s = time.perf_counter() - t_fit
        run.files = _write_outputs(run, corpus_info)
    run.wall_s = time.perf_counter() - t_begin
    return run


def _ledger(run: IsoflopRun, corpus_info: dict) -> dict:
    from glamsim import __version__
    from glamsim.laws import load_law

    sources = {}
    for name in (*iso.PUBLISHED_EXPONENTS, *iso.PUBLISHED_ROUTED):
        law = load_law(name)
        sources[name] = {
            "paper": law.paper,
            "coefficients": {k: {"value": c.value, "source": c.source} for k, c in law.coefficients.items()},
            "verified": law.verified,
        }
    return {
        "study": STUDY,
        "glamsim_version": __version__,
        "grid": run.grid.model_dump(mode="json"),
        "machine": _machine(),
        "corpus": corpus_info,
        "n_runs": int(len(run.runs)),
        "trained_by_this_call": run.trained,
        "columns": list(run.runs.columns),
        "conventions": {
            "compute": "6 N D FLOPs, N the activated parameters counted by glamsim.accounting (embedding "
            "included), D the tokens trained (steps x batch x seq_len bytes)",
            "loss": f"mean cross-entropy in nats per byte on {run.grid.eval_batches} fixed held-out batches "
            "(every 20th 4 KiB block of the corpus), the same for every run",
            "schedule": "Adafactor at a constant rate (GLaM's warm-up): each run is the prefix of its model's "
            "longest run, so one trajectory per model gives every budget",
            "fit": "Hoffmann et al. 2022, Approach 3: Huber (delta 1e-3) on log-loss, L-BFGS from a grid of "
            "starts (glamsim.cost.quality.fit); intervals from refits on resampled runs",
            "advantage": "dense compute (fitted dense law) reaching the MoE loss at C, over C; published: "
            "Clark et al. 2022's routed law on Chinchilla's dense law at the same C (far outside its range "
            "at these budgets: see published_extrapolates), and at 1e20 FLOPs",
            "units": "the losses are nats per byte of this corpus; the published laws' are nats per token of "
            "their own data: compare exponents and compute ratios, never losses",
        },
        "sources": sources,
    }


def _figures(run: IsoflopRun) -> list[Path]:
    from glamsim import plots

    df = run.runs.copy()
    order = {b: i for i, b in enumerate(sorted(df["budget_flops"].unique()), 1)}
    df["budget"] = [f"{order[b]}: {b:.2g} FLOPs" for b in df["budget_flops"]]
    # one line per budget in each family's panel: without the model and expert columns, which would make
    # the dense runs a dashed baseline per model
    curves = df.drop(columns=["model", "n_experts"])
    files = plots.save(
        plots.plot_sweep(
            curves,
            x="params_active",
            y="val_loss",
            hue="budget",
            facet="family",
            logx=True,
            logy=False,
            title="IsoFLOP curves: held-out loss (nats per byte) against activated parameters, per budget",
        ),
        run.out_dir / "isoflop",
    )
    best = df.loc[df.groupby(["family", "budget_flops"])["val_loss"].idxmin()]
    files += plots.save(
        plots.plot_sweep(
            best,
            x="budget_flops",
            y="val_loss",
            hue="family",
            baseline="dense",
            logx=True,
            logy=False,
            title="Best held-out loss at each compute budget: dense (dashed) and MoE",
        ),
        run.out_dir / "frontier",
    )
    return files


def _write_outputs(run: IsoflopRun, corpus_info: dict) -> list[Path]:
    out = run.out_dir
    io.write_parquet(run.runs, out / "runs.parquet")
    io.write_csv(run.runs, out / "runs.csv")
    io.write_json(iso.report_json(run.report), out / "report.json")
    io.write_json(_ledger(run, corpus_info), out / "ledger.json")
    return [out / f for f in FILES] + _figures(run)
