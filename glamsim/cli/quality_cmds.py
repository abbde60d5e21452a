"""`glamsim quality`: which dense or MoE model reaches a quality target for the least training and
lifetime cost (`glamsim.cost.quality`); the options are the fields of `glamsim.cost.quality.scenario.QualityScenario`,
each with its unit, default and source, as `estimate`'s are of theirs."""

from __future__ import annotations

import inspect
from typing import Optional

from glamsim.cli.cost_cmds import JSON, _option
from glamsim.cli.estimate import option_type
from glamsim.cli.typer_app import command, fmt, print_json, print_table
from glamsim.cost.quality import QualityScenario


def _type(name: str):
    """A list field (`--experts 8,64,256`) is typed as text, a yes/no field as `--x/--no-x`; the rest as
    `estimate`'s options are."""
    ann = QualityScenario.model_fields[name].annotation
    if ann is bool:
        return bool
    return str if str(ann).startswith("tuple") else option_type(QualityScenario, name)


def _yes_no(name: str):
    """`--x/--no-x` for a yes/no field, with the field's help (None for other fields)."""
    if QualityScenario.model_fields[name].annotation is not bool:
        return None
    import typer

    dashed = name.replace("_", "-")
    return typer.Option(None, f"--{dashed}/--no-{dashed}", help=_option(QualityScenario, name).help)


def quality_cmd(**kw) -> None:
    """Compute-optimal dense and MoE models at equal quality, with training and lifetime serving cost."""
    json_out = kw["json_out"]
    fields = {k: kw[k] for k in QualityScenario.inputs()}
    from glamsim.cost.quality.plan import plan

    r = plan(**fields)
    rows = [{**row, "model": row["model"].name} for row in r["rows"]]
    if json_out:
        return print_json(
            {"reference": r["reference"], "target_loss": r["target_loss"], "rows": rows, "ledger": r["ledger"]}
        )
    print(f"equal quality: {r['reference']} (loss {r['target_loss']:.4f})")
    print_table(
        [
            {
                "option": x["option"],
                "model": f"{x['n_layers']}L x {x['d_model']}",
                "active params": fmt(x["params_active"]),
                "total params": fmt(x["params_total"]),
                "tokens": fmt(x["tokens"]),
                "train MWh (range)": _range(x, "train_energy_mwh", "train_energy_low_mwh", "train_energy_high_mwh"),
                "train tCO2e": f"{x['train_co2e_t']:.4g}",
                "train $": fmt(x["train_cost_usd"]),
                "serve $/M tok": f"{x['serve_usd_per_million_tokens']:.3f}",
                "lifetime $": fmt(x["total_cost_usd"]),
                "lifetime MWh": f"{x['total_energy_mwh']:.4g}",
                "crossover tokens": "-"
                if x["crossover_served_tokens"] != x["crossover_served_tokens"]
                else fmt(x["crossover_served_tokens"]),
            }
            for x in rows
        ]
    )
    for x in rows:
        if x["extrapolates"]:
            print(f"note: {x['option']} extrapolates: {x['extrapolates']}")


def _range(x: dict, mid: str, lo: str, hi: str) -> str:
    return f"{x[mid]:.4g} ({x[lo]:.3g}-{x[hi]:.3g})"


quality_cmd.__signature__ = inspect.Signature(
    [
        inspect.Parameter(
            n,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Optional[_type(n)],
            default=_yes_no(n) or _option(QualityScenario, n),
        )
        for n in QualityScenario.inputs()
    ]
    + [inspect.Parameter("json_out", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=JSON)]
)
quality_cmd = command("quality")(quality_cmd)
