"""`glamsim` training and serving cost commands (profiles, estimate, compare, reproduce)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import List, Optional

import typer

from glamsim.cli.estimate import ALIASES, flag, option_type, run_estimate, run_regions
from glamsim.cli.typer_app import LegacyEstimate, app, command, fmt, print_json, print_table

PROFILES_DIR = typer.Option(None, "--profiles-dir", help="folder with your own chips/*.yaml and datacenters/*.yaml")
JSON = typer.Option(False, "--json", help="machine-readable output")
UNCERTAIN = "a number, or low,nominal,high"


def _dirs(profiles_dir: Optional[List[Path]]) -> tuple:
    return tuple(profiles_dir or ())


def _uncertain(text: Optional[str], name: str):
    from glamsim.uncertain import parse_uncertain

    return None if text is None else parse_uncertain(text, name)


@command("profiles")
def profiles_cmd(profiles_dir: Optional[List[Path]] = PROFILES_DIR, json_out: bool = JSON) -> None:
    """List chip and datacenter profiles (built-in and from --profiles-dir)."""
    from glamsim.profiles import registry

    chips = registry("chips", _dirs(profiles_dir))
    dcs = registry("datacenters", _dirs(profiles_dir))
    if json_out:
        return print_json(
            {
                "chips": [c.model_dump() | {"file": c.origin} for c in chips.values()],
                "datacenters": [d.model_dump() | {"file": d.origin} for d in dcs.values()],
            }
        )
    v = lambda s: None if s is None else s.value  # noqa: E731
    print_table(
        [
            {
                "chip": c.name,
                "vendor": c.vendor,
                "dtype": c.default_dtype,
                "dense peak FLOP/s": fmt(c.spec(c.peak_field()).value),
                "HBM GB": v(c.hbm_gb),
                "HBM GB/s": v(c.hbm_bandwidth_gb_per_s),
                "TDP W": v(c.tdp_w),
                "measured W": v(c.measured_system_power_w),
                "link GB/s": v(c.interconnect_bandwidth_gb_per_s),
                "$/chip-h": v(c.price_per_chip_hour_usd),
                "file": c.origin,
            }
            for c in chips.values()
        ],
        title="Chips (dense peak for the default dtype; `--json` gives every field's source)",
    )
    print_table(
        [
            {
                "datacenter": d.name,
                "kind": d.kind,
                "PUE": d.pue.value,
                "kgCO2e/kWh net": d.carbon_intensity_net_kg_per_kwh.value,
                "kgCO2e/kWh gross": v(d.carbon_intensity_gross_kg_per_kwh),
                "WUE L/kWh": v(d.wue_onsite_l_per_kwh),
                "grid water L/kWh": v(d.water_offsite_l_per_kwh),
                "file": d.origin,
            }
            for d in sorted(dcs.values(), key=lambda d: (d.kind, d.name))
        ],
        title="Datacenters (country grids, cloud regions, single datacenters)",
    )


def _option(cls, name: str, what: str = "") -> typer.Option:
    """The typer option of a scenario field: help with unit, default and the default's source."""
    meta, default = cls.meta(name), cls.model_fields[name].default
    shown = (
        "-"
        if default is None
        else f"{default:,}"
        if type(default) is int
        else f"{default:g}"
        if type(default) is float
        else default
    )
    text = f"{meta['help']} ({meta['unit'] + '; ' if meta['unit'] else ''}default {shown}: {meta['source']})"
    if meta.get("uncertain"):
        text += f"; {UNCERTAIN}"
    text = f"{what}: {text}" if what else text
    text = text.replace("[", "\\[")  # literal brackets, not rich markup (which would swallow them)
    return typer.Option(None, flag(name), *ALIASES.get(name, []), help=text, show_default=False)


def _options(cls) -> list[inspect.Parameter]:
    """One typer option per scenario field (`_option`), typed as the field."""
    return [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Optional[option_type(cls, name)],
            default=_option(cls, name),
        )
        for name in cls.inputs()
    ]


def _scenario_command(kind: str, doc: str):
    """`glamsim estimate KIND`: its options are the scenario's fields (glamsim.scenario)."""
    from glamsim.scenario import SCENARIOS

    cls = SCENARIOS[kind]
    names = cls.inputs()

    def run(**kw):
        if kw.get("regions") is not None:
            return run_regions({k: kw[k] for k in names}, kw["regions"], kw["json_out"])
        run_estimate(kind, {k: kw[k] for k in names}, _dirs(kw["profiles_dir"]), kw["statement"], kw["json_out"])

    extra = [
        inspect.Parameter(
            "profiles_dir", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[List[Path]], default=PROFILES_DIR
        ),
        inspect.Parameter("statement", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=STATEMENT),
        inspect.Parameter("json_out", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=JSON),
    ]
    if kind == "train":
        regions = inspect.Parameter(
            "regions", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str], default=REGIONS
        )
        extra.insert(-1, regions)
    run.__signature__ = inspect.Signature(_options(cls) + extra)
    run.__doc__ = doc
    run.__name__ = f"estimate_{kind}"
    return command(kind, app=estimate_app)(run)


STATEMENT = typer.Option(
    False,
    "--statement",
    help="also print a plain-language paragraph of the estimate and its "
    "sources, to paste into a paper (in JSON: key 'statement')",
)
REGIONS = typer.Option(
    None,
    "--regions",
    metavar="[NAMES]",
    help="the same run in several datacenters instead of one (--datacenter ignored): alone, every datacenter "
    "profile; or names separated by commas (us-average,france-average). Energy, tCO2e and everyday equivalents "
    "(vehicle-years, gallons of gasoline, each with its source), lowest carbon first: the training page's table",
)
estimate_app = typer.Typer(
    cls=LegacyEstimate,
    no_args_is_help=True,
    help="Training or serving time, energy, carbon and dollars, with a ledger of every input's source.",
)
app.add_typer(estimate_app, name="estimate")
_scenario_command("train", "Training time, energy, carbon and dollars of a run, every input in the ledger.")
_scenario_command("serve", "Serving latency, throughput, energy, carbon and dollars per token on a roofline.")


def _field_option(kind: str, name: str, what: str = "") -> typer.Option:
    """A typer option for one scenario field: its flag, help, unit, default and source, as `estimate`'s."""
    from glamsim.scenario import SCENARIOS

    return _option(SCENARIOS[kind], name, what)


@command("compare")
def compare_cmd(
    models: List[str] = typer.Argument(..., help="preset names or ModelConfig YAML files"),
    chip: Optional[str] = _field_option("train", "chip", "training (and serving, without --serve-chip)"),
    chips: Optional[int] = _field_option("train", "chips", "training"),
    tokens: Optional[float] = _field_option("train", "tokens", "training, the same for every model"),
    mfu: Optional[str] = _field_option("train", "mfu", "training"),
    datacenter: Optional[str] = _field_option("train", "datacenter"),
    serve_chip: Optional[str] = typer.Option(None, "--serve-chip", help="serving chip (default: --chip)"),
    batch: Optional[int] = _field_option("serve", "batch", "serving"),
    prompt_len: Optional[int] = _field_option("serve", "prompt_len", "serving"),
    gen_len: Optional[int] = _field_option("serve", "gen_len", "serving"),
    profiles_dir: Optional[List[Path]] = PROFILES_DIR,
    json_out: bool = JSON,
) -> None:
    """Side-by-side cost of models: training, serving (FLOPs saved vs memory held) and published quality."""
    from glamsim.cost.compare import compare_models
    from glamsim.scenario import ServingScenario, TrainingScenario

    chip_shown = chip or TrainingScenario.model_fields["chip"].default
    rows = compare_models(
        models,
        chip=chip,
        chips=chips,
        tokens=tokens,
        datacenter=datacenter,
        mfu=_uncertain(mfu, "mfu"),
        serve_chip=serve_chip,
        batch=batch,
        prompt_len=prompt_len,
        gen_len=gen_len,
        profiles_dirs=_dirs(profiles_dir),
    )
    if json_out:
        return print_json(rows)
    # one column per model, one row per quantity: reads well for 2-4 models
    print_table(
        [{"quantity": k, **{r["model"]: fmt(r[k]) for r in rows}} for k in rows[0] if k != "model"],
        title=f"Training {fmt(tokens or TrainingScenario.model_fields['tokens'].default)} tokens on "
        f"{chips or TrainingScenario.model_fields['chips'].default} x {chip_shown}; serving at batch "
        f"{batch or ServingScenario.model_fields['batch'].default} on the fewest {serve_chip or chip_shown} chips; "
        "quality: Du et al. 2022, Table 1",
    )


def _print_energy_factors() -> None:
    from glamsim.cost.reproduce import energy_factors

    f = energy_factors()
    print_table(
        [{"factor": k, "GLaM / GPT-3": f"{v:.3f}"} for k, v in f["factors"].items()]
        + [
            {"factor": "product", "GLaM / GPT-3": f"{f['product']:.3f}"},
            {"factor": "energy ratio (published runs)", "GLaM / GPT-3": f"{f['energy_ratio']:.3f}"},
            {
                "factor": "on equal hardware (GPT-3's chips, MFU, power, PUE)",
                "GLaM / GPT-3": f"{f['equal_hardware_ratio']:.3f}",
            },
        ],
        title="Why GLaM used about a third of GPT-3's energy: energy = FLOPs / (peak x MFU) x power x PUE",
    )


@command("reproduce")
def reproduce_cmd(json_out: bool = JSON) -> None:
    """The GLaM paper's efficiency comparison: published vs glamsim; exit 1 if a row is off tolerance."""
    from glamsim.cost.reproduce import reproduce

    rows = reproduce()
    if json_out:
        print_json(rows)
    else:
        pct = lambda x: "-" if x is None else f"{100 * x:+.2f}%"  # noqa: E731
        print_table(
            [
                {
                    "check": r["check"],
                    "published": fmt(r["published"]),
                    "glamsim": fmt(r["glamsim"]),
                    "rel. error": pct(r["rel_error"]),
                    "tolerance": r["tolerance_label"],
                    "ok": "yes" if r["ok"] else "NO",
                    "source": r["source"],
                }
                for r in rows
            ],
            title="GLaM vs GPT-3: published figures reproduced from published inputs",
        )
        for r in rows:
            if r["note"]:
                typer.echo(f"  {r['id']}: {r['note']}")
            for line in r["extrapolates"]:
                typer.echo(f"  {r['id']} extrapolates: {line}")
        for boundary in dict.fromkeys(r["boundary"] for r in rows if r["boundary"]):
            ids = ", ".join(r["id"] for r in rows if r["boundary"] == boundary)
            typer.echo(f"  energy boundary of {ids}: {boundary}")
        _print_energy_factors()
        from glamsim.cli.plan_cmds import validation_table

        validation_table()  # the predictor against published runs: informational, not in the exit code
    if not all(r["ok"] for r in rows):
        raise typer.Exit(code=1)
