"""Run a study: evaluate its sweep chunk by chunk and write results, ledger and figures to a folder.

Layout of `DIR`: `results.parquet`, `results.csv` (one row a scenario), `ledger.json` (the spec,
its digest, the inputs' sources, the glamsim version) and `<figure>.png/.svg`.  While running,
each evaluated chunk is written atomically to `DIR/.partial/`; `resume=True` continues an
interrupted run of the same spec from the chunks already there (nothing recomputed or lost) and
the final files are built from the chunk files in both cases, so a resumed run writes the same
results as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from glamsim.config import ConfigError
from glamsim.studies import io
from glamsim.studies.spec import FigureSpec, StudySpec
from glamsim.studies.sweep import BASE_ROW, ModelCache, check_inputs, evaluate, expand

PARTIAL = ".partial"
RESULTS = ("results.parquet", "results.csv", "ledger.json")


@dataclass
class StudyRun:
    """What a run produced: the results table and the files written."""

    spec: StudySpec
    out_dir: Path
    results: pd.DataFrame
    files: list[Path] = field(default_factory=list)
    chunks_computed: int = 0
    chunks_resumed: int = 0


def _check_figures(spec: StudySpec, columns, where: str) -> None:
    for i, fig in enumerate(spec.figures):
        for key in ("x", "hue", "y", "where"):
            val = getattr(fig, key)
            names = [val] if isinstance(val, str) else list(val or [])
            for name in names:
                if name not in columns:
                    raise ConfigError(f"{where}: figures[{i}].{key}={name!r}: not a results column; "
                                      f"columns: {', '.join(columns)}")


def _start_partial(partial: Path, spec: StudySpec, n_rows: int, resume: bool, out: Path) -> set[int]:
    """Prepare `DIR/.partial` and return the chunks already done (when resuming the same spec)."""
    manifest = {"study": spec.name, "digest": spec.digest(), "n_rows": n_rows, "chunk_size": spec.chunk_size}
    mpath = partial / "manifest.json"
    if resume and mpath.is_file():
        old = json.loads(mpath.read_text())
        if old != manifest:
            raise ConfigError(f"--resume: {out} holds a partial run of another spec "
                              f"(study {old.get('study')!r}, digest {old.get('digest')}); run without --resume")
        return {int(p.stem.split("-")[1]) for p in partial.glob("chunk-*.parquet")}
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    io.write_json(manifest, mpath)
    return set()


def _already_done(out: Path, spec: StudySpec) -> bool:
    ledger = out / "ledger.json"
    if not all((out / f).is_file() for f in RESULTS):
        return False
    try:
        return json.loads(ledger.read_text()).get("spec_digest") == spec.digest()
    except (OSError, ValueError):
        return False


def run_study(spec: StudySpec, out_dir: str | Path, *, resume: bool = False, progress: bool = True,
              on_chunk: Callable[[int], None] | None = None, where: str | None = None) -> StudyRun:
    """Evaluate every scenario of `spec` and write the study's files to `out_dir`.

    `on_chunk(i)` is called after chunk i is safely on disk (tests use it to interrupt a run).
    """
    from glamsim.studies.ledger import build_ledger

    where = where or spec.name
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out={str(out)!r}: exists and is not a folder")
    inputs = expand(spec)
    models = ModelCache(where)
    run = StudyRun(spec, out, pd.DataFrame())
    if resume and _already_done(out, spec):
        run.results = pd.read_parquet(out / "results.parquet")
        run.chunks_resumed = math.ceil(len(inputs) / spec.chunk_size)
    else:
        check_inputs(inputs, models, where)
        _check_figures(spec, list(evaluate(spec, inputs.iloc[:1], models).columns), where)
        partial = out / PARTIAL
        n_chunks = math.ceil(len(inputs) / spec.chunk_size)
        done = _start_partial(partial, spec, len(inputs), resume, out)
        run.chunks_resumed = len(done)
        todo = [i for i in range(n_chunks) if i not in done]
        bar = _progress(len(inputs), len(done) * spec.chunk_size, progress and n_chunks > 1, spec.name)
        for i in todo:
            rows = inputs.iloc[i * spec.chunk_size:(i + 1) * spec.chunk_size]
            io.write_parquet(evaluate(spec, rows, models), partial / f"chunk-{i:05d}.parquet")
            run.chunks_computed += 1
            if bar is not None:
                bar.update(len(rows))
            if on_chunk is not None:
                on_chunk(i)
        if bar is not None:
            bar.close()
        run.results = pd.concat([pd.read_parquet(partial / f"chunk-{i:05d}.parquet") for i in range(n_chunks)],
                                ignore_index=True)
        io.write_parquet(run.results, out / "results.parquet")
        io.write_csv(run.results, out / "results.csv")
        io.write_json(build_ledger(spec, run.results), out / "ledger.json")
        shutil.rmtree(partial)
    run.files = [out / f for f in RESULTS]
    for fig_spec in spec.figures:
        run.files += draw(fig_spec, run.results, out)
    return run


def _progress(total: int, initial: int, enabled: bool, name: str):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="scenario", desc=name, leave=False)


def draw(fig: FigureSpec, df: pd.DataFrame, out: Path) -> list[Path]:
    """Render one figure of a study from its results and save it as PNG and SVG."""
    from glamsim import plots

    kw = dict(title=fig.title, where=fig.where)
    if fig.kind == "tornado":
        sub = plots.select(df, fig.where)
        y = fig.y if isinstance(fig.y, str) else fig.y[0]
        base = float(sub.loc[sub["varied"] == BASE_ROW, y].iloc[0])
        figure = plots.plot_tornado(plots.sensitivity_table(sub, y), y, base, title=fig.title)
    elif fig.kind == "bars":
        figure = plots.plot_bars(df, fig.x, fig.y, fig.hue, fig.baseline, logy=fig.logy, **kw)
    elif fig.kind == "experts_touched":
        figure = plots.plot_experts_touched(df, fig.x, fig.y, fig.hue, **kw)
    else:
        figure = plots.plot_sweep(df, fig.x, fig.y, fig.hue, fig.baseline, logx=fig.logx, logy=fig.logy, **kw)
    if fig.caption:
        plots.add_caption(figure, fig.caption)
    return plots.save(figure, out / fig.name)
