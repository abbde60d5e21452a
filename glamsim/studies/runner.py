"""Run a study: evaluate its sweep chunk by chunk and write results, ledger and figures to a folder.

Layout of `DIR`: `results.parquet`, `results.csv` (one row a scenario), `ledger.json` (the spec,
its digest, the inputs' sources, the glamsim version), `<figure>.png/.svg`, and `.done.json`: the
study, its spec digest and the sha256 and size of the three result files, written last.

Before any work, the spec's size is checked against `max_scenarios` (counted from the axes, no
expansion), the output folder is probed (created and removed again: permission bits say nothing
for root or on /proc), every preset, profile and figure column is checked; a bad input is a
one-line `ConfigError` and nothing is written.

While running, each evaluated chunk is written atomically to `DIR/.partial/chunk-NNNNN.parquet`,
and after each chunk `DIR/.partial/manifest.json` (the study, spec digest, row count, chunk size
and each finished chunk's sha256 and size) is replaced atomically.  The final files are built from
the chunk files, so a resumed run writes the same bytes as an uninterrupted one.  The inputs are
expanded a chunk at a time and the final files streamed a chunk at a time (`io.write_results`), so
a run's memory is bounded by its chunk size, not by its number of scenarios.

`resume=True` continues the run in `DIR` and verifies everything it reuses:

* finished results are reused only when `.done.json` is of this spec and all three files match
  their checksums; otherwise (a file changed, truncated, missing, or no `.done.json`: a run of an
  older glamsim) a warning, and the study is computed again;
* a chunk is reused only when the manifest lists it and its bytes match; a chunk that is missing,
  empty, truncated, changed (not parquet any more) or not listed (a crash between writing it and
  the manifest) is recomputed with one warning line each (`chunk 3 damaged (checksum mismatch);
  recomputing`); other files in `.partial` (left-over temporary files, anything else) are removed;
* a damaged manifest (not JSON, wrong fields, chunks out of range) cannot vouch for any chunk:
  a warning, and the partial run starts afresh (what a run without `--resume` would do; an error
  would only make the user type that);
* a manifest or finished results of *another* spec are an error (one line; nothing touched), as is
  `resume=True` on a folder with no run at all (a mistyped `--out` would otherwise start afresh).

Warnings go to `warn` (default: one `warning: ...` line on stderr each) and `StudyRun.warnings`,
and only once every check has passed: a refused run prints its one error line and nothing else.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable, Literal

import pandas as pd
from pydantic import Field, NonNegativeInt, PositiveInt, ValidationError

from glamsim.config import ConfigError, Frozen, parse_json, show
from glamsim.readers import read_text
from glamsim.studies import io
from glamsim.studies.expansion import BASE_ROW, Scenarios
from glamsim.studies.spec import MAX_SCENARIOS, MODEL_PREFIX, FigureSpec, StudySpec, check_size
from glamsim.studies.sweep import ARCH_COLUMNS, ModelCache, check_inputs, evaluate

PARTIAL = ".partial"
MANIFEST = "manifest.json"
DONE = ".done.json"
RESULTS = ("results.parquet", "results.csv", "ledger.json")
CHUNK = re.compile(r"^chunk-(\d{5})\.parquet$")
SHA256 = r"^[0-9a-f]{64}$"


@dataclass
class StudyRun:
    """What a run produced: how many scenarios, the files written, and the results table."""

    spec: StudySpec
    out_dir: Path
    n_scenarios: int
    files: list[Path] = field(default_factory=list)
    chunks_computed: int = 0
    chunks_resumed: int = 0
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def results(self) -> pd.DataFrame:
        """One row a scenario, read from `results.parquet` when first asked for: a run of millions
        of scenarios writes its files chunk by chunk and never holds them all."""
        return pd.read_parquet(self.out_dir / "results.parquet")

    @property
    def columns(self) -> list[str]:
        """The results' column names, from the Parquet schema (no rows read)."""
        import pyarrow.parquet as pq

        return list(pq.read_schema(self.out_dir / "results.parquet").names)

    def read(self, columns: list[str]) -> pd.DataFrame:
        """Some columns of every scenario (a summary of millions of rows reads a few at a time)."""
        return pd.read_parquet(self.out_dir / "results.parquet", columns=columns)

    def head(self, n: int) -> pd.DataFrame:
        """The first `n` scenarios, read from the first row group(s) only."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        f = pq.ParquetFile(self.out_dir / "results.parquet")
        first = next(f.iter_batches(batch_size=n), None)
        table = pa.Table.from_batches([] if first is None else [first], schema=f.schema_arrow)
        return table.to_pandas()


class FileSum(Frozen):
    sha256: str = Field(pattern=SHA256)
    bytes: NonNegativeInt


class PartialManifest(Frozen):
    """`.partial/manifest.json`: which run the chunks belong to, and each finished chunk's checksum."""

    study: str
    digest: str
    n_rows: NonNegativeInt
    chunk_size: PositiveInt
    chunks: dict[NonNegativeInt, FileSum] = Field(default_factory=dict)

    def same_run(self, other: PartialManifest) -> bool:
        return (self.study, self.digest, self.n_rows, self.chunk_size) == (
            other.study,
            other.digest,
            other.n_rows,
            other.chunk_size,
        )


class DoneManifest(Frozen):
    """`.done.json`: the finished results' checksums."""

    study: str
    digest: str
    files: dict[Literal["results.parquet", "results.csv", "ledger.json"], FileSum]


def _stderr_warning(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()


def _read_manifest(path: Path, cls):
    """The manifest at `path` as `cls`, or a short reason why it cannot be trusted."""
    if not os.path.lexists(path):
        return None, "missing"
    try:
        return cls.model_validate(parse_json(read_text(path, "manifest", path.name), path.name)), None
    except ConfigError as err:
        return None, str(err).removeprefix(f"{path.name}: ")
    except ValidationError as err:
        e = err.errors()[0]
        return None, f"{'.'.join(map(str, e['loc'])) or 'fields'}: {e['msg']}"


def _mismatch(path: Path, expected: FileSum | None) -> str | None:
    """Why the file at `path` is not the one recorded (None: it is)."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        return "damaged (not a plain file)"
    if not path.is_file():
        return "missing"
    if expected is None:
        return "not in the manifest"
    size = path.stat().st_size
    if size == 0 and expected.bytes:
        return "empty"
    if size != expected.bytes:
        return f"damaged ({'truncated: ' if size < expected.bytes else ''}{size:,} bytes, expected {expected.bytes:,})"
    if io.checksum(path)["sha256"] != expected.sha256:
        return "damaged (checksum mismatch)"
    return None


def check_out_dir(out: Path) -> None:
    """A one-line ConfigError unless `out` is a folder this process can create and write in.

    Probes for real, leaving nothing behind: a temporary file in an existing folder, or, for a
    folder to be made, the missing part of its path made inside a temporary folder beside it."""
    label = f"--out={show(str(out))}"
    try:
        if out.is_symlink() or out.exists():
            if not out.is_dir():
                raise ConfigError(f"{label}: exists and is not a folder")
            for name in (*RESULTS, DONE):  # replaced by a rename, which cannot replace a folder
                if (out / name).is_dir() and not (out / name).is_symlink():
                    raise ConfigError(f"{label}: {name} exists and is a folder")
            fd, probe = tempfile.mkstemp(prefix=".glamsim-probe-", dir=out)
            os.close(fd)
            os.unlink(probe)
            return
        missing, parent = [], out
        while not (parent.is_symlink() or parent.exists()):
            if parent.parent == parent:
                break
            missing.append(parent.name)
            parent = parent.parent
        if not parent.is_dir():
            raise ConfigError(f"{label}: {str(parent)!r} is not a folder")
        probe = tempfile.mkdtemp(prefix=".glamsim-probe-", dir=parent)
        try:
            Path(probe, *reversed(missing)).mkdir(parents=True)
        finally:
            shutil.rmtree(probe, ignore_errors=True)
    except ConfigError:
        raise
    except OSError as err:
        raise ConfigError(
            f"{label}: cannot create or write a folder there ({err.strerror or err.__class__.__name__})"
        ) from None
    except ValueError as err:  # an embedded NUL byte
        raise ConfigError(f"{label}: not a valid path ({err})") from None


def _check_figures(spec: StudySpec, columns, where: str) -> None:
    for i, fig in enumerate(spec.figures):
        for key in ("x", "hue", "y", "where"):
            val = getattr(fig, key)
            names = [val] if isinstance(val, str) else list(val or [])
            for name in names:
                if name not in columns:
                    raise ConfigError(
                        f"{where}: figures[{i}].{key}={show(name)}: not a results column; columns: {', '.join(columns)}"
                    )


def _check_where(spec: StudySpec, scenarios: Scenarios, models: ModelCache, where: str) -> None:
    """A figure whose `where` selects no scenario (or, for a tornado, no base row) is refused
    before any work.  Judged on the input columns that the results keep as they are (not `mfu`,
    which an hours or measured scenario replaces) and the architecture columns, chunk by chunk;
    a condition on an output column is left to the figure."""
    figures = [(i, fig) for i, fig in enumerate(spec.figures) if fig.where or fig.kind == "tornado"]
    if not figures:
        return
    mcols = [c for c in scenarios.columns if c.startswith(MODEL_PREFIX)]
    arch_cols = {*ARCH_COLUMNS, *(c.removeprefix(MODEL_PREFIX) for c in mcols)}
    plain = {k for _, fig in figures for k in fig.where if k not in arch_cols and k != "mfu"}
    needed = ["model", *mcols, *(c for c in scenarios.columns if c in plain or c == "varied")]
    found = {i: [False, False] for i, _ in figures}  # per figure: selects a scenario, selects a base row
    for _, rows in scenarios.chunks(spec.chunk_size, needed):
        for i, fig in figures:
            sel = _select(fig, rows, models, mcols, arch_cols)
            found[i][0] |= len(sel) > 0
            found[i][1] |= fig.kind == "tornado" and bool((sel["varied"] == BASE_ROW).any())
    for i, fig in figures:
        if not found[i][0]:
            raise ConfigError(f"{where}: figures[{i}].where={show(dict(fig.where))}: selects no scenario")
        if fig.kind == "tornado" and not found[i][1]:
            raise ConfigError(
                f"{where}: figures[{i}].where={show(dict(fig.where))}: selects no base row "
                f"(varied={BASE_ROW!r}) for the tornado"
            )


def _select(fig: FigureSpec, rows: pd.DataFrame, models: ModelCache, mcols: list[str], arch_cols: set) -> pd.DataFrame:
    """The rows of a chunk that a figure's `where` selects."""
    sel, arch = rows, {}
    for k, v in fig.where.items():
        if k in arch_cols:
            arch[k] = v
        elif k in rows.columns and k != "mfu":
            sel = sel[sel[k] == v]
    if arch and len(sel):
        keys = ["model", *mcols]
        distinct = sel.drop_duplicates(subset=keys)
        _, table = models.arrays(distinct)
        ok = pd.Series(True, index=table.index)
        for k, v in arch.items():
            ok &= table[k] == v
        sel = sel.merge(distinct.loc[ok.to_numpy(), keys], on=keys) if ok.any() else sel.iloc[:0]
    return sel


def _done_state(out: Path, spec: StudySpec) -> tuple[str, str | None]:
    """Finished results in `out`: ("ok", None) verified; ("absent", None) none at all;
    ("other", what) another spec's; ("unverified", why) present but not to be trusted."""
    done, why = _read_manifest(out / DONE, DoneManifest)
    present = [f for f in RESULTS if (out / f).exists()]
    if done is None:
        if why == "missing":
            return (
                ("absent", None)
                if not present
                else ("unverified", f"{out}: results carry no checksums ({DONE} missing)")
            )
        return "unverified", f"{out / DONE} damaged ({why})"
    if done.digest != spec.digest():
        return "other", f"study {done.study!r}, digest {done.digest}"
    for name in RESULTS:
        bad = _mismatch(out / name, done.files.get(name))
        if bad:
            return "unverified", f"{out / name} {bad}"
    return "ok", None


def _refuse_replacing(out: Path, spec: StudySpec, force: bool, warn) -> None:
    """A run into an `out` that holds another spec's results or partial run replaces them only with
    `force` (and says so); a run of the same spec recomputes its own."""
    state, what = _done_state(out, spec)
    if state != "other":
        old, _ = _read_manifest(out / PARTIAL / MANIFEST, PartialManifest)
        if old is None or old.digest == spec.digest():
            return
        state, what = "other", f"a partial run of study {old.study!r}, digest {old.digest}"
    label = f"--out={show(str(out))}"
    if not force:
        raise ConfigError(f"{label} holds the results of another spec ({what}); give --force to replace them")
    warn(f"{label}: --force: replacing the results of another spec ({what})")


def _plan_partial(
    partial: Path,
    manifest: PartialManifest,
    n_chunks: int,
    out: Path,
    done_state: tuple[str, str | None],
    notes: list[str],
) -> tuple[PartialManifest | None, set[int]]:
    """What a resumed run reuses from `.partial`: (the manifest to continue, the verified chunks),
    or (None, set()) to start the partial run afresh.  Reads only; the clean-up comes later."""
    mpath = partial / MANIFEST
    label = f"--resume: --out={show(str(out))}"
    if not partial.is_dir():
        state, what = done_state
        if state == "other":
            raise ConfigError(f"{label} holds the results of another spec ({what}); run without --resume")
        if state == "absent":
            raise ConfigError(
                f"{label} holds no run to resume (no {PARTIAL}/{MANIFEST}, no results); run without --resume"
            )
        return None, set()
    old, why = _read_manifest(mpath, PartialManifest)
    if old is not None and any(i >= n_chunks for i in old.chunks) and old.same_run(manifest):
        old, why = None, f"chunk {max(old.chunks)} listed, but the run has {n_chunks}"
    if old is None:
        notes.append(f"{mpath} {why if why == 'missing' else f'damaged ({why})'}; starting the partial run afresh")
        return None, set()
    if not old.same_run(manifest):
        raise ConfigError(
            f"{label} holds a partial run of another spec "
            f"(study {old.study!r}, digest {old.digest}); run without --resume"
        )
    reuse = set()
    for i in range(n_chunks):
        path = partial / f"chunk-{i:05d}.parquet"
        listed = old.chunks.get(i)
        if listed is None and not (path.exists() or path.is_symlink()):
            continue  # not reached yet
        bad = _mismatch(path, listed)
        if bad:
            notes.append(f"chunk {i} {bad}; recomputing")
        else:
            reuse.add(i)
    return old.model_copy(update={"chunks": {i: old.chunks[i] for i in sorted(reuse)}}), reuse


def _clean_partial(partial: Path, keep: set[int], notes: list[str]) -> None:
    """Remove from `.partial` everything but the manifest and the chunks kept."""
    for p in partial.iterdir():
        m = CHUNK.match(p.name)
        if p.name == MANIFEST or (m and int(m.group(1)) in keep):
            continue
        if not m and not (p.name.startswith(".") and p.name.endswith(io.TMP_SUFFIX)):
            notes.append(f"{p} is not part of the run; removed")
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def _save_partial_manifest(manifest: PartialManifest, partial: Path) -> None:
    data = manifest.model_dump(mode="json")
    data["chunks"] = {str(i): s for i, s in data["chunks"].items()}
    io.write_json(data, partial / MANIFEST)


def run_study(
    spec: StudySpec,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    on_chunk: Callable[[int], None] | None = None,
    where: str | None = None,
    max_scenarios: int = MAX_SCENARIOS,
    warn: Callable[[str], None] | None = None,
    force: bool = False,
) -> StudyRun:
    """Evaluate every scenario of `spec` and write the study's files to `out_dir`.

    `max_scenarios` bounds the study's size (checked before anything is expanded); `resume`
    continues and verifies an interrupted run (see the module docstring); `warn(message)` receives
    each warning (default: a `warning:` line on stderr).  `on_chunk(i)` is called after chunk i
    and the manifest listing it are safely on disk (tests use it to interrupt a run).
    """
    from glamsim.studies.ledger import LedgerSources, build_ledger

    where = where or spec.name
    warn = warn or _stderr_warning
    out = Path(out_dir)
    n_rows = check_size(spec, max_scenarios, where)
    check_out_dir(out)
    run = StudyRun(spec, out, n_rows)
    n_chunks = math.ceil(n_rows / spec.chunk_size)
    notes: list[str] = []
    partial = out / PARTIAL
    done_state = _done_state(out, spec) if resume else ("absent", None)
    if not resume:
        _refuse_replacing(out, spec, force, warn)
    if done_state[0] == "ok":
        with io.exclusive(out, f"--out={show(str(out))}"):
            run.chunks_resumed = n_chunks
            if partial.exists():  # left by a crash between the done manifest and the clean-up
                shutil.rmtree(partial, ignore_errors=True)
            run.files = [out / f for f in RESULTS]
            for fig_spec in spec.figures:
                run.files += draw(fig_spec, run.results, out)
        return run
    scenarios = Scenarios(spec, max_scenarios, where)
    models = ModelCache(where)
    check_inputs(scenarios, models, where)
    _check_figures(spec, list(evaluate(spec, scenarios.rows(0, 1), models).columns), where)
    _check_where(spec, scenarios, models, where)
    manifest = PartialManifest(study=spec.name, digest=spec.digest(), n_rows=n_rows, chunk_size=spec.chunk_size)
    done: set[int] = set()
    if resume:
        chunk_notes: list[str] = []
        kept, done = _plan_partial(partial, manifest, n_chunks, out, done_state, chunk_notes)
        manifest = kept or manifest
        if done_state[0] == "unverified":
            notes.append(
                f"{done_state[1]}; "
                + ("rebuilding them from the partial run" if kept is not None else "recomputing the study")
            )
        notes += chunk_notes
    with io.exclusive(out, f"--out={show(str(out))}"):
        # every check has passed: from here on the run writes
        if resume and done:
            _clean_partial(partial, done, notes)
        for note in notes:
            run.warnings.append(note)
            warn(note)
        (out / DONE).unlink(missing_ok=True)  # results being replaced are no longer vouched for
        if not done:
            if partial.is_symlink() or partial.is_file():
                partial.unlink()
            elif partial.exists():
                shutil.rmtree(partial)
            partial.mkdir(parents=True)
        _save_partial_manifest(manifest, partial)
        run.chunks_resumed = len(done)
        todo = [i for i in range(n_chunks) if i not in done]
        bar = _progress(
            n_rows, sum(min(spec.chunk_size, n_rows - i * spec.chunk_size) for i in done), progress, spec.name
        )
        chunks = dict(manifest.chunks)
        for i in todo:
            rows = scenarios.rows(i * spec.chunk_size, (i + 1) * spec.chunk_size)
            chunks[i] = FileSum(**io.write_parquet(evaluate(spec, rows, models), partial / f"chunk-{i:05d}.parquet"))
            manifest = manifest.model_copy(update={"chunks": chunks})
            _save_partial_manifest(manifest, partial)
            run.chunks_computed += 1
            if bar is not None:
                bar.update(len(rows))
            if on_chunk is not None:
                on_chunk(i)
        if bar is not None and spec.figures:
            bar.set_postfix_str(f"drawing {len(spec.figures)} figure{'s' * (len(spec.figures) > 1)}")
        sources = LedgerSources()
        paths = [partial / f"chunk-{i:05d}.parquet" for i in range(n_chunks)]
        sums = io.write_results(paths, out / "results.parquet", out / "results.csv", each=sources.add)
        sums["ledger.json"] = io.write_json(build_ledger(spec, sources), out / "ledger.json")
        io.write_json(
            DoneManifest(study=spec.name, digest=spec.digest(), files=sums).model_dump(mode="json"), out / DONE
        )
        shutil.rmtree(partial)
        run.files = [out / f for f in RESULTS]
        for fig_spec in spec.figures:
            run.files += draw(fig_spec, run.results, out)
        if bar is not None:
            bar.close()
    return run


def _progress(total: int, initial: int, enabled: bool, name: str):
    """A progress bar on stderr (never stdout, which --json keeps for its document): scenarios done,
    then the figures being drawn."""
    if not enabled:
        return None
    import sys

    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="scenario", desc=name, leave=False, file=sys.stderr)


def chart(fig: FigureSpec, df: pd.DataFrame):
    """One figure of a study as an interactive chart (`glamsim.plots`), from its results: what `draw`
    saves, and what a notebook or the dashboard can show as it is."""
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
    return plots.add_caption(figure, fig.caption) if fig.caption else figure


def draw(fig: FigureSpec, df: pd.DataFrame, out: Path) -> list[Path]:
    """Render one figure of a study from its results and save it as PNG and SVG."""
    from glamsim import plots

    return plots.save(chart(fig, df), out / fig.name)
