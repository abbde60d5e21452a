"""`glamsim models` and `glamsim count`: presets and their analytic counts."""

from __future__ import annotations

import typer

from glamsim.cli.typer_app import check_dispatch, command, fmt, print_json, print_table


@command("models")
def models(json_out: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """List model presets with computed vs published parameter counts and the delta."""
    from glamsim.accounting import published_deltas
    from glamsim.config import model_presets

    rows = [published_deltas(c) for c in model_presets().values()]
    if json_out:
        return print_json(rows)
    table = []
    for r in rows:
        pct = lambda d: "-" if d is None else f"{100 * d:+.1f}%"  # noqa: E731
        conv = {True: "with emb.", False: "w/o emb.", None: "-"}[r["counts_embedding"]]
        table.append(
            {
                "model": r["model"],
                "total": fmt(r["params_total"]),
                "total w/o emb.": fmt(r["params_total_nonembedding"]),
                "published total": fmt(r["params_total_published"]),
                "Δ total": pct(r["params_total_delta"]),
                "active": fmt(r["params_active"]),
                "active w/o emb.": fmt(r["params_active_nonembedding"]),
                "published active": fmt(r["params_active_published"]),
                "Δ active": pct(r["params_active_delta"]),
                "compared": conv,
            }
        )
    print_table(table, title="Model presets: computed vs published parameters (Δ under the paper's convention)")


@command("count")
def count_cmd(
    model: str = typer.Argument(..., help="preset name, a ModelConfig YAML file or a Hugging Face config.json"),
    seq_len: int = typer.Option(None, "--seq-len", min=1, help="context length (default: the model's)"),
    xla: bool = typer.Option(
        False,
        "--xla",
        help="also lower the real training step from abstract shapes "
        "(nothing allocated) and report XLA's FLOPs beside the analytic count",
    ),
    batch: int = typer.Option(1, "--batch", min=1, help="with --xla: sequences per step"),
    dispatch: str = typer.Option(
        None,
        "--dispatch",
        help="with --xla: MoE dispatch, scatter, einsum or dropless "
        "(default: dropless for dropless routing, else scatter)",
    ),
    explain: bool = typer.Option(
        False, "--explain", help="for a config.json: one line per mapped field (what each Hugging Face field became)"
    ),
    json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Analytic parameters and FLOPs per token of a model, with a per-layer breakdown."""
    from glamsim.accounting import count
    from glamsim.config import load_model

    cfg = load_model(model)
    lines = _explanations(model) if explain else []
    if xla:
        return _xla_count(cfg, batch, seq_len, check_dispatch(dispatch), json_out)
    c = count(cfg, seq_len)
    if json_out:
        return print_json({**c.to_dict(), **({"explain": lines} if explain else {})})
    for line in lines:
        typer.echo(f"  {line}")
    d = c.to_dict()
    conventions = d.pop("conventions")
    d.pop("layers")
    print_table([{"quantity": k, "value": fmt(v)} for k, v in d.items()], title=f"{c.model} at seq_len {c.seq_len}")
    summary = (
        c.layers.groupby("kind")
        .agg(
            layers=("layer", "count"),
            params_total=("params_total", "first"),
            params_active=("params_active", "first"),
            flops_fwd_per_token=("flops_fwd_per_token", "first"),
        )
        .reset_index()
    )
    print_table(
        [{k: fmt(v) for k, v in r.items()} for r in summary.to_dict("records")],
        title="per layer kind (one layer each; --json gives every layer)",
    )
    for k, v in conventions.items():
        typer.echo(f"  {k}: {v}")


XLA_EXPLAINED = (
    "XLA counts what the compiled step executes. Beyond the model FLOPs (matmuls of the activated weights,\n"
    "router included, and attention scores; 3 x forward) it includes: capacity padding (every expert slot is\n"
    "computed, used or not); GShard's one-hot dispatch/combine einsums with --dispatch einsum; the attention softmax,\n"
    "activations, norms and loss (element-wise work); and the optimizer update (about 24 FLOPs per parameter\n"
    "per step). The analytic hardware count adds the padding, dispatch, softmax, activation and\n"
    "optimizer terms; what remains is norms, residual adds and the loss. The dropless dispatch has no padding\n"
    "in the analytic count, but XLA counts the largest branch of its capacity ladder (every token for every\n"
    "expert, an upper bound of what runs; on GPU/TPU its ragged_dot counts E x the useful expert FLOPs)."
)


def _explanations(model: str) -> list[str]:
    """What each field of a config.json became; for a preset or YAML file, that nothing was mapped."""
    if model.lower().endswith(".json"):
        from glamsim.hf import explain

        return explain(model)
    return ["a glamsim preset or ModelConfig file: its fields are glamsim's own, nothing mapped"]


def _xla_count(cfg, batch, seq_len, dispatch, json_out) -> None:
    from glamsim.measure.run import xla_count

    r = xla_count(cfg, batch=batch, seq_len=seq_len, dispatch=dispatch)
    if json_out:
        return print_json(r)
    keys = [
        "xla_flops_per_token",
        "analytic_hardware_flops_per_token",
        "analytic_model_flops_per_token",
        "optimizer_flops_per_token",
    ]
    rows = [{"quantity": k, "per token": fmt(r[k])} for k in keys]
    rows += [
        {"quantity": "XLA / analytic hardware", "per token": f"{r['xla_over_hardware']:.4f}"},
        {"quantity": "XLA / analytic model", "per token": f"{r['xla_over_model']:.4f}"},
        {"quantity": "lower + cost analysis", "per token": f"{r['lower_s']:.1f} s + {r['cost_analysis_s']:.1f} s"},
    ]
    print_table(
        rows,
        title=f"{cfg.name}: XLA training-step FLOPs (batch {r['batch']} x seq {r['seq_len']}, "
        f"routing group {r['group_size']}, {r['dispatch']} dispatch)",
    )
    typer.echo(XLA_EXPLAINED)
