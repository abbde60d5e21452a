"""`glamsim quality`: which dense or MoE model reaches a quality target for the least training and
lifetime cost (`glamsim.cost.quality`); the options are the fields of `QualityScenario`."""

from __future__ import annotations

from typing import Optional

import typer

from glamsim.cli.typer_app import command, fmt, print_json, print_table


@command("quality")
def quality_cmd(
    target_loss: Optional[float] = typer.Option(
        None, "--target-loss", help="loss to reach, in the dense law's nats per token"
    ),
    as_good_as: Optional[str] = typer.Option(
        None, "--as-good-as", help="a model preset or YAML file to match (with --tokens)"
    ),
    tokens: Optional[float] = typer.Option(None, "--tokens", help="tokens the --as-good-as model was trained on"),
    experts: str = typer.Option("8,64,256", "--experts", help="expert counts of the MoE candidates"),
    top_k: int = typer.Option(2, "--top-k", help="experts each token visits"),
    dense_law: str = typer.Option(
        "chinchilla", "--dense-law", help="chinchilla, chinchilla-precise, besiroglu or a YAML file"
    ),
    routed_law: str = typer.Option("clark-sbase", "--routed-law", help="routed law (effective parameter count)"),
    spread_laws: str = typer.Option(
        "chinchilla,besiroglu,krajewski", "--spread-laws", help="laws whose spread gives the ranges"
    ),
    template: str = typer.Option(
        "glam-1.7b-64e", "--template", help="preset whose architecture family the candidates take"
    ),
    served_tokens: Optional[float] = typer.Option(
        None, "--served-tokens", help="tokens served over the model's life (default 1e12)"
    ),
    chip: str = typer.Option("h100-sxm", "--chip", help="chip profile"),
    chips: int = typer.Option(1024, "--chips", help="training chips"),
    mfu: Optional[float] = typer.Option(None, "--mfu", help="training MFU (default: predicted from the layout)"),
    datacenter: str = typer.Option("us-ai-datacenter", "--datacenter", help="datacenter profile"),
    batch: int = typer.Option(32, "--batch", help="serving batch"),
    json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Compute-optimal dense and MoE models at equal quality, with training and lifetime serving cost."""
    fields = {k: v for k, v in locals().items() if k != "json_out"}
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
