"""`glamsim` training and serving cost commands (profiles, estimate, compare, reproduce)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from glamsim.cli.app import command, fmt, print_json, print_table

PROFILES_DIR = typer.Option(None, "--profiles-dir", help="folder with your own chips/*.yaml and datacenters/*.yaml")
JSON = typer.Option(False, "--json", help="machine-readable output")
UNCERTAIN = "a number, or low,nominal,high"


def _dirs(profiles_dir: Optional[List[Path]]) -> tuple:
    return tuple(profiles_dir or ())


def _uncertain(text: Optional[str], name: str):
    from glamsim.cost.uncertainty import parse_uncertain

    return None if text is None else parse_uncertain(text, name)


@command("profiles")
def profiles_cmd(profiles_dir: Optional[List[Path]] = PROFILES_DIR, json_out: bool = JSON) -> None:
    """List chip and datacenter profiles (built-in and from --profiles-dir)."""
    from glamsim.profiles import registry

    chips = registry("chips", _dirs(profiles_dir))
    dcs = registry("datacenters", _dirs(profiles_dir))
    if json_out:
        return print_json({"chips": [c.model_dump() | {"file": c.origin} for c in chips.values()],
                           "datacenters": [d.model_dump() | {"file": d.origin} for d in dcs.values()]})
    v = lambda s: None if s is None else s.value  # noqa: E731
    print_table([{
        "chip": c.name, "vendor": c.vendor, "dtype": c.default_dtype,
        "dense peak FLOP/s": fmt(c.spec(c.peak_field()).value), "HBM GB": v(c.hbm_gb),
        "HBM GB/s": v(c.hbm_bandwidth_gb_per_s), "TDP W": v(c.tdp_w), "measured W": v(c.measured_system_power_w),
        "link GB/s": v(c.interconnect_bandwidth_gb_per_s), "$/chip-h": v(c.price_per_chip_hour_usd),
        "file": c.origin,
    } for c in chips.values()], title="Chips (dense peak for the default dtype; `--json` gives every field's source)")
    print_table([{
        "datacenter": d.name, "PUE": d.pue.value, "kgCO2e/kWh net": d.carbon_intensity_net_kg_per_kwh.value,
        "kgCO2e/kWh gross": v(d.carbon_intensity_gross_kg_per_kwh), "file": d.origin,
    } for d in dcs.values()], title="Datacenters")


_UNITS = {"flops_total": "FLOPs", "chip_hours": "chip-h", "train_hours": "h", "train_days": "days", "mfu": "",
          "hfu": "", "energy_mwh": "MWh", "co2e_t": "tCO2e net", "co2e_gross_t": "tCO2e gross", "cost_usd": "USD",
          "weight_gb_total": "GB (every expert)", "kv_cache_gb_full_context": "GB", "prefill_flops": "FLOPs",
          "prefill_bytes": "bytes", "prefill_s": "s", "prefill_tokens_per_s_per_chip": "tokens/s",
          "decode_flops_per_token": "FLOPs", "decode_weight_bytes_per_step": "bytes",
          "decode_kv_bytes_per_step": "bytes", "decode_step_s": "s", "decode_s": "s", "request_latency_s": "s",
          "decode_tokens_per_s_per_chip": "tokens/s", "joules_per_token": "J per generated token (facility)",
          "joules_per_token_with_prefill": "J (facility)", "usd_per_million_tokens": "USD",
          "kgco2e_per_million_tokens": "kgCO2e (net)",
          "usd_per_million_tokens_with_prefill": "USD",
          "compute_hours": "h computing", "comm_hours": "h communicating (before overlap)",
          "comm_exposed_hours": "h not hidden by compute", "alltoall_bytes_per_chip_step": "bytes (MoE all-to-all results)",
          "alltoall_wire_bytes_per_chip_step": "bytes off-chip", "grad_bytes_per_chip_step": "bytes (gradients)",
          "allreduce_wire_bytes_per_chip_step": "bytes off-chip (ring)", "comm_wire_bytes_per_chip_step": "bytes off-chip",
          "comm_s_per_step": "s per step on the interconnect", "alltoall_s_per_step": "s per step",
          "steps": "optimizer steps", "sequences_per_step": "sequences", "expert_parallel": "chips the experts span",
          "decode_alltoall_bytes_per_chip_step": "bytes off-chip", "decode_alltoall_s": "s per step"}


def _print_estimate(d: dict, title: str) -> None:
    d.pop("warnings", None)  # already on stderr
    ranges = d.pop("ranges")
    ledger = d.pop("ledger")
    tornado = d.pop("tornado", [])
    rows = []
    for k, val in d.items():
        lo, hi = ranges.get(k, (None, None))
        row = {"quantity": k, "value": fmt(val)}
        if ranges:
            row.update(low=fmt(lo), high=fmt(hi))
        rows.append(row | {"unit": _UNITS.get(k, "")})
    print_table(rows, title=title)
    if tornado:
        outs = [k.removesuffix("_swing") for k in tornado[0] if k.endswith("_swing")]
        print_table([{"input": r["input"], "low": r["low"], "high": r["high"],
                      **{f"{o} {end}": r[f"{o}_{end.replace(' ', '_')}"] for o in outs
                         for end in ("at low", "at high", "swing")},
                      **{f"rank by {o}": r[f"rank_{o}"] for o in outs[1:]}} for r in tornado],
                    title=f"Sensitivity (tornado): one input at a time, others nominal; ranked by {outs[0]} swing")
    print_table([{"input": e["name"], "value": fmt(e["value"]), "unit": e["unit"], "source": e["source"]}
                 for e in ledger], title="Ledger: every input and its source")


@command("estimate")
def estimate_cmd(
    model: Optional[str] = typer.Option(None, "--model", help="preset name or ModelConfig YAML"),
    chip: str = typer.Option("tpu-v4", "--chip", help="chip profile name or YAML file"),
    chips: Optional[int] = typer.Option(None, "--chips", min=1, help="number of chips (serving: default the fewest "
                                        "that fit)"),
    tokens: Optional[float] = typer.Option(None, "--tokens", help="training tokens, e.g. 600e9"),
    mfu: Optional[str] = typer.Option(None, "--mfu", help=f"model FLOPs utilisation in (0, 1]: {UNCERTAIN}"),
    hours: Optional[float] = typer.Option(None, "--hours", help="wall-clock hours (instead of --mfu)"),
    datacenter: str = typer.Option("glam-google-oklahoma", "--datacenter", help="datacenter profile or YAML"),
    power_w: Optional[str] = typer.Option(None, "--power-w", help=f"power per chip, W: {UNCERTAIN}"),
    tdp_fraction: float = typer.Option(1.0, "--tdp-fraction", help="fraction of TDP when the chip has no measured power"),
    pue: Optional[str] = typer.Option(None, "--pue", help=f"power usage effectiveness: {UNCERTAIN}"),
    carbon_intensity: Optional[str] = typer.Option(None, "--carbon-intensity", help=f"kgCO2e/kWh: {UNCERTAIN}"),
    price: Optional[str] = typer.Option(None, "--price-per-chip-hour", help=f"USD per chip-hour: {UNCERTAIN}"),
    train_flops: Optional[float] = typer.Option(None, "--train-flops", help="total training FLOPs (instead of --model/--tokens)"),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="dtype of the dense peak MFU refers to (default: the chip's, bf16)"),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", min=1, help="training context (default: the model's)"),
    inference: bool = typer.Option(False, "--inference", help="serving cost instead of training"),
    batch: int = typer.Option(32, "--batch", min=1, help="serving: sequences decoded together"),
    prompt_len: int = typer.Option(1024, "--prompt-len", min=1, help="serving: prompt tokens"),
    gen_len: int = typer.Option(256, "--gen-len", min=1, help="serving: generated tokens"),
    mbu: Optional[str] = typer.Option(None, "--mbu", help=f"serving: fraction of HBM bandwidth: {UNCERTAIN}"),
    measured: Optional[Path] = typer.Option(None, "--measured", help="a `glamsim measure` record: its MFU (when "
                                            "its device is the chip) and XLA/model FLOPs ratio"),
    comm_overlap: float = typer.Option(1.0, "--comm-overlap", help="fraction of communication hidden behind compute "
                                       "(1: none charged, as an end-to-end MFU includes it; 0: all charged)"),
    tokens_per_step: Optional[float] = typer.Option(None, "--tokens-per-step", help="training: tokens per optimizer "
                                                    "step (default 1024 sequences)"),
    expert_parallel: Optional[int] = typer.Option(None, "--expert-parallel", min=1, help="chips each MoE layer's experts "
                                                  "are split over (default: training gcd(chips, experts), "
                                                  "serving min(chips, experts))"),
    interconnect: Optional[float] = typer.Option(None, "--interconnect-gb-per-s", help="interconnect GB/s per chip "
                                                 "(default: the chip profile's)"),
    profiles_dir: Optional[List[Path]] = PROFILES_DIR,
    statement: bool = typer.Option(False, "--statement", help="also print a plain-language paragraph of the "
                                   "estimate and its sources, to paste into a paper (in JSON: key 'statement')"),
    json_out: bool = JSON,
) -> None:
    """Training (default) or serving (--inference) time, energy, carbon and dollars, with a ledger."""
    from glamsim.config import ConfigError
    from glamsim.cost import estimate_inference, estimate_training

    common = dict(chip=chip, datacenter=datacenter, dtype=dtype, power_w=_uncertain(power_w, "power_w"),
                  carbon_intensity=_uncertain(carbon_intensity, "carbon_intensity_kg_per_kwh"),
                  tdp_fraction=tdp_fraction, pue=_uncertain(pue, "pue"), profiles_dirs=_dirs(profiles_dir),
                  price_per_chip_hour=_uncertain(price, "price_per_chip_hour_usd"), comm_overlap=comm_overlap,
                  expert_parallel=expert_parallel, interconnect_gb_per_s=interconnect)
    if inference:
        if model is None:
            raise ConfigError("model=None: --inference needs --model")
        extra = {k: v for k, v in (("mfu", _uncertain(mfu, "mfu")), ("mbu", _uncertain(mbu, "mbu"))) if v is not None}
        extra.update({f"{k}_source": f"user input --{k}" for k in extra})
        est = estimate_inference(model=model, batch=batch, prompt_len=prompt_len, gen_len=gen_len, chips=chips,
                                 **common, **extra)
        title = f"Serving {est['model']} on {est['chips']} x {est['chip']} (batch {batch}, {prompt_len}+{gen_len} tokens)"
    else:
        if chips is None:
            raise ConfigError("chips=None: training needs --chips N")
        kwargs = dict(model=model, tokens=tokens, chips=chips, mfu=_uncertain(mfu, "mfu"), hours=hours,
                      train_flops=train_flops, seq_len=seq_len, tokens_per_step=tokens_per_step, **common)
        note = None
        if measured is not None:  # the record's figures, except where the user gave --mfu or --hours
            got = _measured_inputs(measured, chip, _dirs(profiles_dir))
            note = got.pop("note")
            if (mfu is not None or hours is not None) and got.pop("mfu", None) is not None:
                got.pop("mfu_source")
                note = "--mfu/--hours given: the measured MFU is not used; its FLOPs ratio is"
            kwargs.update(got)
        est = estimate_training(**kwargs)
        if note:
            typer.echo(f"measured: {note}", err=True)
        for w in est.warnings:
            typer.echo(f"warning: {w}", err=True)
        title = f"Training {model or 'given FLOPs'} on {chips} x {chip} in {datacenter}"
    d = est.to_dict()
    text = None
    if statement:
        from glamsim.cost.report import plain_statement

        text = plain_statement(est, datacenter=datacenter, model=model or "a model of the given FLOPs", chip=chip)
    if json_out:
        return print_json(d | ({"statement": text} if text else {}))
    _print_estimate(d, title)
    if text:
        typer.echo("\n" + text)


def _measured_inputs(path: Path, chip: str, dirs: tuple) -> dict:
    """estimate_training keywords from a measurement record (with a `note` of what was used)."""
    from glamsim.cost.measured import measured_inputs
    from glamsim.measure.record import load_measurement
    from glamsim.profiles import load_chip

    return measured_inputs(load_measurement(path), load_chip(chip, dirs), origin=str(path))


@command("compare")
def compare_cmd(
    models: List[str] = typer.Argument(..., help="preset names or ModelConfig YAML files"),
    chip: str = typer.Option("tpu-v4", "--chip", help="training chip profile"),
    chips: int = typer.Option(1024, "--chips", min=1, help="training chips"),
    tokens: float = typer.Option(3e11, "--tokens", help="training tokens (same for every model)"),
    mfu: Optional[str] = typer.Option(None, "--mfu", help=f"training MFU (default 0.3): {UNCERTAIN}"),
    datacenter: str = typer.Option("glam-google-oklahoma", "--datacenter", help="datacenter profile"),
    serve_chip: Optional[str] = typer.Option(None, "--serve-chip", help="serving chip (default: --chip)"),
    batch: int = typer.Option(32, "--batch", min=1, help="serving batch"),
    prompt_len: int = typer.Option(1024, "--prompt-len", min=1, help="serving prompt tokens"),
    gen_len: int = typer.Option(256, "--gen-len", min=1, help="serving generated tokens"),
    profiles_dir: Optional[List[Path]] = PROFILES_DIR,
    json_out: bool = JSON,
) -> None:
    """Side-by-side cost of models: training, serving (FLOPs saved vs memory held) and published quality."""
    from glamsim.cost.compare import compare_models

    rows = compare_models(models, chip=chip, chips=chips, tokens=tokens, datacenter=datacenter,
                          mfu=_uncertain(mfu, "mfu"), serve_chip=serve_chip, batch=batch, prompt_len=prompt_len,
                          gen_len=gen_len, profiles_dirs=_dirs(profiles_dir))
    if json_out:
        return print_json(rows)
    # one column per model, one row per quantity: reads well for 2-4 models
    print_table([{"quantity": k, **{r["model"]: fmt(r[k]) for r in rows}} for k in rows[0] if k != "model"],
                title=f"Training {fmt(tokens)} tokens on {chips} x {chip}; serving at batch {batch} "
                      f"on the fewest {serve_chip or chip} chips; quality: Du et al. 2022, Table 1")


@command("reproduce")
def reproduce_cmd(json_out: bool = JSON) -> None:
    """The GLaM paper's efficiency comparison: published vs glamsim; exit 1 if a row is off tolerance."""
    from glamsim.cost.reproduce import reproduce

    rows = reproduce()
    if json_out:
        print_json(rows)
    else:
        pct = lambda x: "-" if x is None else f"{100 * x:+.2f}%"  # noqa: E731
        print_table([{"check": r["check"], "published": fmt(r["published"]), "glamsim": fmt(r["glamsim"]),
                      "rel. error": pct(r["rel_error"]), "tolerance": "-" if r["tolerance"] is None
                      else f"±{100 * r['tolerance']:g}%", "ok": "yes" if r["ok"] else "NO", "source": r["source"]}
                     for r in rows], title="GLaM vs GPT-3: published figures reproduced from published inputs")
        for r in rows:
            if r["note"]:
                typer.echo(f"  {r['id']}: {r['note']}")
    if not all(r["ok"] for r in rows):
        raise typer.Exit(code=1)
