"""`glamsim study isoflop`: the IsoFLOP study (`glamsim.experiments.isoflop`), trained here with the JAX model.

Its options are the fields of `glamsim.cost.quality.isoflop.IsoflopGrid` (`study` declares them, each named
"isoflop only"); lists are typed comma-separated (`--budgets 7.5e10,1.5e11,3e11`)."""

from __future__ import annotations

from pathlib import Path

import typer

from glamsim.cli.typer_app import fmt, print_json, print_table
from glamsim.config import ConfigError, show

NAME = "isoflop"
DEFAULT_OUT = Path("runs") / "studies" / NAME
# option name -> (grid field, element type) of the comma-separated lists
LISTS = {"budgets": ("budgets", float), "widths": ("widths", int), "experts": ("experts", int)}


def _numbers(flag: str, text: str, kind) -> tuple:
    """'8,64' -> (8, 64); one-line ConfigError for anything else."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(kind(float(p)) if kind is float else int(p) for p in parts if p)
    except ValueError:
        raise ConfigError(f"--{flag}={show(text)}: expected comma-separated {kind.__name__}s, e.g. 8,64") from None
    return values


def grid_fields(**opts) -> dict:
    """The grid's fields from the command line's isoflop options (None: not given, the default)."""
    fields = {}
    for name, value in opts.items():
        if value is None:
            continue
        if name in LISTS:
            field, kind = LISTS[name]
            fields[field] = _numbers(name, value, kind)
        elif name == "corpus":
            fields["corpus"] = tuple(str(p) for p in value) or None
        else:
            fields[name] = value
    return fields


def run(out: Path | None, json_out: bool, bootstrap: int | None, **opts) -> None:
    """Train what `out` lacks of the grid, fit, report and print."""
    from glamsim.cost.quality.isoflop import as_grid, plan

    grid = as_grid(**grid_fields(**opts))
    plan(grid)  # every bad value in one line before JAX loads
    from glamsim.studies.runner import check_out_dir

    check_out_dir(out or DEFAULT_OUT)  # and the folder
    if grid.corpus:
        from glamsim.model.data import text_files  # numpy only

        text_files(list(grid.corpus))  # and the corpus paths
    from glamsim.experiments.isoflop import run_isoflop

    r = run_isoflop(grid, out or DEFAULT_OUT, n_bootstrap=20 if bootstrap is None else bootstrap, progress=not json_out)
    if json_out:
        from glamsim.cost.quality.isoflop import report_json

        return print_json(
            {
                "study": NAME,
                "out": str(r.out_dir),
                "trained": r.trained,
                "reused": r.reused,
                "runs": r.runs.to_dict(orient="records"),
                "report": report_json(r.report),
                "files": [str(f) for f in r.files],
                "warnings": r.warnings,
            }
        )
    cols = ["family", "d_model", "params_active", "budget_flops", "steps", "tokens", "val_loss", "val_bpb"]
    print_table(r.runs[cols].to_dict(orient="records"), title="IsoFLOP runs: held-out loss in nats per byte")
    co = r.report["coefficients"]
    print_table(
        [
            {
                "family": x["family"],
                "coefficient": x["coefficient"],
                "fitted": fmt(x["fitted"]),
                "interval": "-" if x["low"] != x["low"] else f"{x['low']:.3g}-{x['high']:.3g}",
                "chinchilla": fmt(x["chinchilla"]),
                "besiroglu": fmt(x["besiroglu"]),
            }
            for x in co.to_dict(orient="records")
        ],
        title="L = E + A/N^alpha + B/D^beta fitted per family (a = beta/(alpha+beta): N* ~ C^a), published beside",
    )
    adv = r.report["advantage"]
    if len(adv):
        print_table(
            [
                {
                    "family": x["family"],
                    "budget FLOPs": f"{x['budget_flops']:.3g}",
                    "best dense loss": f"{x['dense_best_loss']:.4f}",
                    "best MoE loss": f"{x['moe_best_loss']:.4f}",
                    "advantage measured": fmt(x["advantage_measured"]),
                    "advantage fitted": fmt(x["advantage_fitted"]),
                    "advantage published": fmt(x["advantage_published"]),
                }
                for x in adv.to_dict(orient="records")
            ],
            title="MoE compute advantage: dense compute reaching the MoE's loss at C, over C",
        )
    for ref in r.report["published_advantage_reference"]:
        where = f" [{ref['extrapolates']}]" if ref["extrapolates"] else " (inside its fitted range)"
        typer.echo(
            f"published: Clark et al. 2022 on Chinchilla, {ref['n_experts']} experts at "
            f"{ref['compute_flops']:.0e} FLOPs: {ref['advantage']:.3g}x{where}"
        )
    for fam, entry in r.report["fits"].items():
        if entry["note"]:
            typer.echo(f"note: {fam}: {entry['note']}")
    typer.echo(
        f"wrote {len(r.files)} files to {r.out_dir}/ ({r.trained} runs trained, {r.reused} reused); "
        "published advantages extrapolate Clark et al. 2022 far below its fitted sizes (report.json says how far)"
    )


# the options `glamsim study` declares for this study (all default None: "not given")
OPTIONS = {
    "budgets": typer.Option(
        None,
        "--budgets",
        help="isoflop only: compute budgets in FLOPs (6 N D), comma-separated; default 7.5e10,...,3e11 (5, x1.41)",
    ),
    "widths": typer.Option(
        None, "--widths", help="isoflop only: model widths (d_model, multiples of 16); default 16,32,64"
    ),
    "experts": typer.Option(
        None, "--experts", help="isoflop only: expert counts of the MoE families (dense always runs); default 8"
    ),
    "n_layers": typer.Option(None, "--layers", min=1, help="isoflop only: layers of every model; default 2"),
    "batch_size": typer.Option(None, "--batch", min=1, help="isoflop only: sequences per step; default 8"),
    "seq_len": typer.Option(None, "--seq-len", min=1, help="isoflop only: bytes per sequence; default 128"),
    "seed": typer.Option(None, "--seed", min=0, help="isoflop only: initialisation and data order; default 0"),
    "eval_batches": typer.Option(None, "--eval-batches", min=1, help="isoflop only: held-out batches; default 16"),
    "corpus": typer.Option(
        None, "--corpus", help="isoflop only: text files or folders (repeatable); default the Python stdlib's .py files"
    ),
    "bootstrap": typer.Option(None, "--bootstrap", min=0, help="isoflop only: refits for the intervals; default 20"),
}


def list_row() -> dict:
    """The study's line in `glamsim study --list`."""
    from glamsim.cost.quality.isoflop import IsoflopGrid, plan

    return {
        "study": NAME,
        "title": "IsoFLOP: tiny dense and MoE GLaMs trained here (JAX), the scaling law fitted to their losses",
        "evaluates": "training (JAX)",
        "scenarios": len(plan(IsoflopGrid())),
        "figures": 2,
        "reproduces": "Hoffmann et al. 2022's Approach 3 fit; the MoE compute advantage of Clark et al. 2022",
    }
