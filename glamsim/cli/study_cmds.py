"""`glamsim study`: run a scripted scaling study (a built-in one or a spec YAML) into a folder."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from glamsim.cli import isoflop_cmds
from glamsim.cli.isoflop_cmds import OPTIONS as ISO
from glamsim.cli.typer_app import command, fail, print_json, print_table
from glamsim.config import show
from glamsim.studies.spec import MAX_SCENARIOS

PREVIEW_ROWS = 20


@command("study")
def study(
    spec: str = typer.Argument(None, help="study spec YAML file, or the name of a built-in study"),
    out: Path = typer.Option(None, "--out", help="output folder (default: runs/studies/<study name>)"),
    resume: bool = typer.Option(False, "--resume", help="continue an interrupted run in --out"),
    force: bool = typer.Option(
        False, "--force", help="replace the results of another spec in --out (refused otherwise; says what it replaces)"
    ),
    list_: bool = typer.Option(False, "--list", help="list the built-in studies"),
    json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
    progress: bool = typer.Option(
        None,
        "--progress/--no-progress",
        help="a progress bar on stderr (scenarios, then figures); default: shown when stderr is a terminal",
        show_default=False,
    ),
    max_scenarios: int = typer.Option(
        MAX_SCENARIOS, "--max-scenarios", min=1, help="refuse a study with more scenarios (counted before any work)"
    ),
    budgets: str = ISO["budgets"],
    widths: str = ISO["widths"],
    experts: str = ISO["experts"],
    n_layers: int = ISO["n_layers"],
    batch_size: int = ISO["batch_size"],
    seq_len: int = ISO["seq_len"],
    seed: int = ISO["seed"],
    eval_batches: int = ISO["eval_batches"],
    corpus: list[Path] = ISO["corpus"],
    bootstrap: int = ISO["bootstrap"],
) -> None:
    """Evaluate a study's sweep and write results.parquet/.csv, ledger.json and its figures (PNG, SVG)."""
    from glamsim.studies.spec import builtin_studies, load_spec

    if list_ and spec is not None:
        raise fail(f"study: spec={show(spec)} and --list: give one of them")
    if list_:
        from glamsim.studies.sweep import expand

        rows = []
        for name in builtin_studies():
            s = load_spec(name)
            rows.append(
                {
                    "study": s.name,
                    "title": s.title,
                    "evaluates": "+".join(s.evaluate),
                    "scenarios": len(expand(s)),
                    "figures": len(s.figures),
                    "reproduces": s.reproduces.strip(),
                }
            )
        rows.append(isoflop_cmds.list_row())
        return print_json(rows) if json_out else print_table(rows, title="Built-in studies (glamsim study NAME)")
    if spec is None:
        raise fail("give a study spec (YAML file or built-in name) or --list")
    iso = dict(budgets=budgets, widths=widths, experts=experts, n_layers=n_layers, batch_size=batch_size)
    iso |= dict(seq_len=seq_len, seed=seed, eval_batches=eval_batches, corpus=corpus or None)
    if spec == isoflop_cmds.NAME:
        if force:
            raise fail(
                "study isoflop: --force: the IsoFLOP study keeps every finished run in --out; give another --out"
            )
        return isoflop_cmds.run(out, json_out, bootstrap, **iso)  # resumes always: --resume changes nothing
    given = [k for k, v in {**iso, "bootstrap": bootstrap}.items() if v is not None]
    if given:
        flag = max(ISO[given[0]].param_decls, key=len)
        raise fail(f"study {spec}: {flag} is an option of the isoflop study only")
    from glamsim.studies.runner import run_study

    s = load_spec(spec)
    run = run_study(
        s,
        out or Path("runs") / "studies" / s.name,
        resume=resume,
        progress=progress if progress is not None else sys.stderr.isatty(),
        where=spec,
        max_scenarios=max_scenarios,
        force=force,
    )
    summary = {
        "study": s.name,
        "title": s.title,
        "out": str(run.out_dir),
        "n_scenarios": run.n_scenarios,
        "chunks_computed": run.chunks_computed,
        "chunks_resumed": run.chunks_resumed,
        "warnings": run.warnings,
        "files": [str(f) for f in run.files],
    }
    if json_out:
        return print_json({**summary, "preview": run.head(PREVIEW_ROWS).to_dict(orient="records")})
    shown = _interesting_columns(run, s.evaluate)
    print_table(
        run.head(PREVIEW_ROWS)[shown].to_dict(orient="records"),
        title=f"{s.title}: {run.n_scenarios} scenarios"
        + (f" (first {PREVIEW_ROWS})" if run.n_scenarios > PREVIEW_ROWS else ""),
    )
    typer.echo(
        f"wrote {len(run.files)} files to {run.out_dir}/ "
        f"({run.chunks_computed} chunks computed, {run.chunks_resumed} resumed)"
    )


HEADLINE = {
    "training": ["train_days", "energy_mwh", "co2e_t", "cost_usd"],
    "serving": ["serving_min_chips", "decode_tokens_per_s_per_chip", "joules_per_token", "usd_per_million_tokens"],
}


def _interesting_columns(run, evaluated: list[str]) -> list[str]:
    """The inputs that vary across the rows, then the headline outputs of what was evaluated; read
    a column or two at a time, so a study of millions of rows is summarised in little memory."""
    from glamsim.studies.scenario import DEFAULTS
    from glamsim.studies.sweep import ARCH_COLUMNS

    names = run.columns
    varies = lambda c: run.read([c])[c].nunique(dropna=False) > 1  # noqa: E731
    # architecture columns only where swept within a preset (a preset implies its architecture)
    arch = [c for c in ARCH_COLUMNS if c in names and run.read(["model", c]).groupby("model")[c].nunique().max() > 1]
    inputs = [c for c in names if (c in DEFAULTS or c in arch or c == "varied") and varies(c)]
    return inputs[:8] + [c for kind in evaluated for c in HEADLINE[kind]]
