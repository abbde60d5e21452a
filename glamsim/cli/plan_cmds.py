"""`glamsim plan`: the parallel layouts that fit, ranked by predicted step time; and the
predictor's validation against published runs (`glamsim validate-predictions`, also the new
section of `glamsim reproduce`)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from glamsim.cli.typer_app import command, fmt, print_json, print_table

JSON = typer.Option(False, "--json", help="machine-readable output")


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _gb(x: float) -> str:
    return f"{x / 1e9:.1f}"


def _load(model: str, chip: str, profiles_dir):
    from glamsim.config import load_model
    from glamsim.profiles import load_chip

    return load_model(model), load_chip(chip, tuple(profiles_dir or ()))


def _expert_load(measurement: Optional[Path]) -> Optional[float]:
    if measurement is None:
        return None
    from glamsim.records import load_measurement

    load = load_measurement(measurement).routing.get("max_mean_load")
    return None if load is None else max(1.0, float(load))


def _totals(row: dict, tokens: Optional[float], chips: int, seq_len: int) -> dict:
    """Training days, MWh (chip power only, no PUE) and dollars for `tokens` at this plan's rate."""
    if tokens is None:
        return {}
    seconds = tokens / row["tokens_per_s"]
    return {
        "train_days": seconds / 86400,
        "energy_mwh_chips": row["energy_j_per_token"] * tokens / 3.6e9,
        "cost_usd": row["usd_per_million_tokens"] * tokens / 1e6,
    }


@command("plan")
def plan_cmd(
    model: str = typer.Argument(..., help="preset name or a ModelConfig YAML file"),
    chip: str = typer.Option(..., "--chip", help="chip profile name or YAML file"),
    chips: int = typer.Option(..., "--chips", min=1, max=2**24, help="chips in the run"),
    global_batch: Optional[int] = typer.Option(
        None, "--global-batch", min=1, max=2**40, help="sequences per step (default: about 4M tokens)"
    ),
    tokens: Optional[float] = typer.Option(None, "--tokens", min=1, help="training tokens: adds days, MWh, dollars"),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", min=1, help="sequence length (default: the model's)"),
    layout: Optional[str] = typer.Option(
        None,
        "--layout",
        help="evaluate one layout instead of searching, e.g. tp=8,pp=16,dp=8,mb=1,recompute=selective or fsdp=64,mb=4",
    ),
    rank_by: str = typer.Option("time", "--rank-by", help="time, energy or cost (per token)"),
    stack: Optional[str] = typer.Option(
        None,
        "--stack",
        help="training software: megatron, deepspeed, pytorch-fsdp or xla (how ZeRO-3 gathers, fuses, attends); "
        "default: xla on TPUs, megatron on GPUs",
    ),
    attn: Optional[str] = typer.Option(
        None,
        "--attn",
        help="fused-attention kernel: flash2, cudnn, flash3 or cudnn-9.19 (default: the stack's)",
    ),
    software: Optional[str] = typer.Option(
        None,
        "--software",
        help="software and precision keys every searched layout keeps, e.g. stack=pytorch-fsdp,fused=1,a2a_dedup=1",
    ),
    top: int = typer.Option(5, "--top", min=1, max=100, help="plans to show"),
    measurement: Optional[Path] = typer.Option(
        None,
        "--measurement",
        help="a `glamsim measure` record: its router load (max/mean tokens per expert) sets the expert imbalance",
    ),
    profiles_dir: Optional[List[Path]] = typer.Option(None, "--profiles-dir", help="folder with your own chips/*.yaml"),
    json_out: bool = JSON,
) -> None:
    """The parallel layouts of MODEL on N chips that fit in memory, ranked by predicted step time."""
    cfg, prof = _load(model, chip, profiles_dir)
    load = _expert_load(measurement)
    from glamsim.config import ConfigError

    if layout is not None:
        for flag, value, key in (("--stack", stack, "stack"), ("--attn", attn, "attn")):
            if value is not None:
                raise ConfigError(f"{flag}={value!r}: with --layout, name it inside the layout ({key}={value})")
        if software is not None:
            raise ConfigError(f"--software={software!r}: with --layout, name its keys inside the layout")
        return _one(cfg, prof, chips, layout, seq_len, global_batch, tokens, load, json_out)
    from glamsim.predict.layout import ATTENTION_KERNELS, STACKS, parse_software
    from glamsim.predict.plan import search

    if stack is not None and stack not in STACKS:
        raise ConfigError(f"--stack={stack!r}: expected one of {', '.join(STACKS)}")
    if attn is not None and attn not in ATTENTION_KERNELS:
        raise ConfigError(f"--attn={attn!r}: expected one of {', '.join(ATTENTION_KERNELS)}")
    keys = [software] if software is not None else []
    named = [f"{k}={v}" for k, v in (("stack", stack), ("attn", attn)) if v is not None]
    # one string, parsed once: a key given both in --software and as its own flag is "given twice"
    what = " with ".join(w for w, given in (("--software", keys), ("--stack/--attn", named)) if given)
    base = parse_software(",".join(keys + named), what) if keys or named else None
    r = search(
        cfg,
        prof,
        chips,
        seq_len=seq_len,
        global_batch=global_batch,
        rank_by=rank_by,
        top=top,
        expert_load=load,
        base=base,
    )
    for row in r["plans"]:
        row.update(_totals(row, tokens, chips, r["seq_len"]))
    if json_out:
        return print_json(r)
    rank, times, memory = [], [], []
    for i, row in enumerate(r["plans"], 1):
        b, mem, step = row["breakdown"], row["memory"], row["step_s"]
        t = {
            "#": i,
            "layout": row["layout"],
            "step s": f"{step:.3g}",
            "MFU": _pct(row["mfu"]),
            f"MFU {row['mfu_range']}": f"{_pct(row['mfu_low'])}-{_pct(row['mfu_high'])}",
            "HFU": _pct(row["hfu"]),
            "tokens/s": fmt(row["tokens_per_s"]),
            "GB per chip": f"{_gb(mem['total'])} of {_gb(row['usable_bytes'])}" + ("" if row["fits"] else " tight"),
        }
        if tokens is not None:
            t.update(
                {
                    "days": f"{row['train_days']:.3g}",
                    "MWh (chips)": f"{row['energy_mwh_chips']:.3g}",
                    "$": fmt(row["cost_usd"]),
                }
            )
        rank.append(t)
        times.append(
            {
                "#": i,
                **{
                    k.removesuffix("_s").replace("_exposed", "").replace("_", " "): _pct(v / step) for k, v in b.items()
                },
            }
        )
        memory.append({"#": i, **{k: _gb(v) for k, v in mem.items()}})
    print_table(
        rank,
        title=f"{cfg.name} on {chips:,} x {prof.name}: the {len(rank)} fastest of {r['fitting']:,} "
        f"fitting{f' and {tight:,} tight' if (tight := r['tight']) else ''} layouts ({r['candidates']:,} "
        f"enumerated, {r['seconds']:.2f} s; ranked by {r['rank_by']} per token)",
    )
    print_table(
        times,
        title="time per step: compute, recomputation, exposed communication by kind "
        "(tp, ep, cp, pp, dp), pipeline bubble, optimizer update",
    )
    print_table(memory, title="memory per chip, GB")
    typer.echo(f"  MFU range from {r['mfu_interval']}")
    if any(not p["fits"] for p in r["plans"]):
        typer.echo(
            "  tight: counted over the usable HBM by less than the memory count's error, ranked after every "
            f"layout that fits ({r['memory_band']})"
        )
    typer.echo(
        "  predicted, not measured: glamsim.predict (matmul shapes against the dense peak, collectives on "
        "the link tier they cross, pipeline bubble, recomputation; constants in glamsim/predict/efficiency.py)"
    )


def _one(cfg, prof, chips, layout, seq_len, global_batch, tokens, load, json_out) -> None:
    from glamsim.cost.resolve import mfu_interval
    from glamsim.predict import evaluate

    r = evaluate(cfg, prof, layout, chips=chips, seq_len=seq_len, global_batch=global_batch, expert_load=load)
    interval = mfu_interval(r, prof, cfg, r["seq_len"])  # as the training estimate and the search give it
    low, _, high = interval.around(r["mfu"])
    r.update(mfu_low=low, mfu_high=high, mfu_level=interval.level, mfu_range=interval.label)
    r["mfu_interval"] = interval.basis
    r.update(
        _totals(
            {
                "tokens_per_s": r["tokens_per_s"],
                "energy_j_per_token": float("nan"),
                "usd_per_million_tokens": float("nan"),
            },
            tokens,
            chips,
            r["seq_len"],
        )
    )
    if json_out:
        return print_json(r)
    step = r["step_s"]
    rows = [
        {"quantity": "layout", "value": r["layout"]},
        {"quantity": "global batch (sequences) / microbatches", "value": f"{r['global_batch']} / {r['microbatches']}"},
        {"quantity": "step time", "value": f"{step:.4g} s"},
        {"quantity": "MFU / HFU", "value": f"{_pct(r['mfu'])} / {_pct(r['hfu'])}"},
        {"quantity": f"MFU {r['mfu_range']} range", "value": f"{_pct(low)}-{_pct(high)}"},
        {"quantity": "tokens per second", "value": fmt(r["tokens_per_s"])},
    ]
    rows += [
        {"quantity": k.removesuffix("_s").replace("_", " "), "value": f"{v:.4g} s ({_pct(v / step)})"}
        for k, v in r["breakdown"].items()
    ]
    rows += [{"quantity": f"memory: {k}", "value": f"{_gb(v)} GB"} for k, v in r["memory"].items()]
    if tokens is not None:
        rows.append({"quantity": "training days", "value": f"{r['train_days']:.4g}"})
    print_table(rows, title=f"{cfg.name} on {chips:,} x {prof.name}: one layout, predicted")
    typer.echo(f"  MFU range from {r['mfu_interval']}")
    if not r["fits"]:
        typer.echo(f"  {r['memory_verdict']}: {r['shortfall_message']}", err=True)


def validation_table(json_out: bool = False, run: str | None = None, family: str | None = None) -> list[dict]:
    """Print the predictor's validation rows (published vs predicted), or one run's in detail, or
    one source family's; return them.  The rows are informational: a row outside its tolerance is
    named, it does not change the exit code."""
    from glamsim.predict.validation import family_errors, selected_rows

    rows = selected_rows(run, family)
    if run is not None and not json_out:
        _validation_run(rows[0])
        return rows
    if json_out:
        print_json(rows)
        return rows
    print_table(
        [
            {
                "run": r["id"],
                "stack": r["stack"],
                "published": fmt(r["published"]),
                "predicted": fmt(r["predicted"]),
                "interval": f"{fmt(r['low'])}-{fmt(r['high'])} ({r['range']})",
                "error": f"{100 * r['rel_error']:+.0f}%",
                "ok": "yes" if r["ok"] else "NO",
                "memory": r["memory_verdict"],
            }
            for r in rows
        ],
        title="Predicted vs published training throughput (glamsim.predict)",
    )
    miss = [r["id"] for r in rows if not r["ok"]]
    typer.echo(
        f"  {len(rows) - len(miss)} of {len(rows)} rows within tolerance"
        + (f"; outside: {', '.join(miss)}" if miss else "")
        + " (informational: does not change the exit code)"
    )
    filed = [r for r in rows if r["publisher_regression"]]
    if filed:
        inferred = sum(r["publisher_regression"].startswith("inferred") for r in filed)
        typer.echo(
            f"  under their publisher's performance-regression reports (kept, counted; {inferred} by inference): "
            + ", ".join(r["id"] for r in filed)
        )
    covered = sum(r["covered"] for r in rows)
    typer.echo(
        f"  {covered} of {len(rows)} published figures inside their interval (each from the other sources' "
        "errors: 80%, 95% far from what they validated, wider where their MoE or long-context rows like it "
        "lie outside); "
        "by source, median |error|: " + ", ".join(f"{f} {100 * m:.0f}%" for f, m in family_errors(rows).items())
    )
    for r in rows:
        typer.echo(f"  {r['id']}: layout {r['layout_source']}" + (f" Note: {r['note']}" if r["note"] else ""))
    return rows


def _validation_run(r: dict) -> None:
    """One published run in detail: the figure against the prediction, the layout as predicted and
    where it comes from, the step time by item and the memory per chip."""
    step = r["step_s"]
    rows = [
        {"quantity": "published", "value": f"{fmt(r['published'])} ({r['quantity']}, {r['basis']})"},
        {"quantity": "predicted", "value": f"{fmt(r['predicted'])} ({100 * r['rel_error']:+.1f}%)"},
        {
            "quantity": f"interval ({r['range']})",
            "value": f"{fmt(r['low'])}-{fmt(r['high'])} ({'covers' if r['covered'] else 'misses'} the published)",
        },
        {"quantity": "tolerance", "value": f"±{100 * r['tolerance']:.0f}% ({'within' if r['ok'] else 'outside'})"},
        {"quantity": "layout as predicted", "value": r["layout"]},
        {"quantity": "chips / sequence", "value": f"{r['chips']:,} x {r['chip']} / {r['seq_len']:,} tokens"},
    ]
    for quantity, own in (("server or slice", r["own_server"]), ("network between servers", r["own_network"])):
        if own:
            rows.append({"quantity": quantity, "value": own})
    rows += [
        {"quantity": "step time", "value": f"{step:.4g} s"},
        {"quantity": "MFU / HFU", "value": f"{_pct(r['mfu'])} / {_pct(r['hfu'])}"},
    ]
    rows += [
        {"quantity": k.removesuffix("_s").replace("_", " "), "value": f"{v:.4g} s ({_pct(v / step)})"}
        for k, v in r["breakdown"].items()
    ]
    mem = r["memory"]
    rows += [
        {"quantity": f"memory: {k}", "value": f"{_gb(mem[k])} GB"}
        for k in ("weights", "gradients", "optimizer", "activations", "logits", "total", "usable")
    ]
    print_table(rows, title=f"{r['id']}: {r['run']} (family {r['family']}, stack as published: {r['stack']})")
    typer.echo(f"  source: {r['source']}")
    typer.echo(f"  layout: {r['layout_source']}")
    if r["note"]:
        typer.echo(f"  note: {r['note']}")
    if r["publisher_regression"]:
        typer.echo(f"  its publisher's regression report: {r['publisher_regression']}")
    if not r["fits"]:
        typer.echo(f"  {r['memory_verdict']}: {r['shortfall_message']}; the time predicted for the layout as published")


@command("validate-predictions")
def validate_cmd(
    json_out: bool = JSON,
    run: Optional[str] = typer.Option(None, "--run", help="one published run in detail (its id), e.g. llama3_16k"),
    family: Optional[str] = typer.Option(None, "--family", help="one source family's rows, e.g. torchtitan"),
) -> None:
    """The step-time predictor against published runs: published vs predicted, relative error;
    `--run ID` one run's breakdown, memory and sources, `--family F` one source's rows."""
    validation_table(json_out, run, family)
