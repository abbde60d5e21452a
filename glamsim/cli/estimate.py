"""`glamsim estimate train|serve`: options from the scenario fields, the work, and its output.

The options of both commands (and of `compare`) are the fields of their scenario
(`glamsim.scenario`): `option_type` gives each its command-line type, `flag` its name and
`scenario_options` its typer option with help, unit, default and source, all from the one
declaration.  The library names fields in its errors (`mfu=0.3: give mfu or hours, not both`);
every command rewrites them to its flags (`glamsim.cli.output.as_flags`).
"""

from __future__ import annotations

import re
import warnings

from glamsim.cli.output import echo, print_json, print_table
from glamsim.config import ConfigError
from glamsim.plausible import PlausibilityWarning

# Older spellings of two flags, still accepted.
ALIASES = {"price_per_chip_hour_usd": ["--price-per-chip-hour"], "carbon_intensity_kg_per_kwh": ["--carbon-intensity"]}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def option_type(cls, name: str):
    """The command-line type of a scenario field: text for uncertain triples, names and text fields
    (e.g. `--layout tp=8,pp=16`), else the field's int or float."""
    meta = cls.meta(name)
    ann = str(cls.model_fields[name].annotation)
    if meta.get("uncertain") or name in ("model", "chip", "datacenter", "dtype", "measured") or cls.choices(name):
        return str
    if "str" in ann:
        return str
    return int if "int" in ann else float


def print_nested(d: dict, name: str) -> None:
    """A nested result (the `prediction` of `estimate train`) as tables, never a raw dict: its plain
    values in one, each dict inside it (step-time breakdown, memory per chip) in one of its own."""
    from glamsim.outputs import format_value

    plain = {k: v for k, v in d.items() if not isinstance(v, dict)}
    if plain:
        print_table([{"quantity": k, "value": format_value(k, v)} for k, v in plain.items()], title=name)
    for k, inner in d.items():
        if isinstance(inner, dict):
            print_nested(inner, f"{name}: {k}")


def print_estimate(d: dict, title: str) -> None:
    """An estimate as tables: outputs (with ranges), nested results, the sensitivity (tornado)
    table, the ledger; numbers in the dashboard's format (`glamsim.outputs.format_value`)."""
    from glamsim.outputs import MFU_RANGE_KEYS, format_value, unit

    for key in ("warnings", "notes", "scenario", "statement"):
        d.pop(key, None)  # on stderr, or in JSON only
    ranges = d.pop("ranges")
    ledger = d.pop("ledger")
    tornado = d.pop("tornado", [])
    nested = {k: d.pop(k) for k in [k for k, v in d.items() if isinstance(v, dict)]}  # e.g. the prediction
    rows = []
    for k, val in d.items():
        if k in MFU_RANGE_KEYS:  # the headline at the MFU range's ends: the tornado's mfu row says them
            continue
        lo, hi = ranges.get(k, (None, None))
        row = {"quantity": k, "value": format_value(k, val)}
        if ranges:
            row.update(low=format_value(k, lo), high=format_value(k, hi))
        rows.append(row | {"unit": unit(k)})
    print_table(rows, title=title)
    for name, inner in nested.items():
        print_nested(inner, name)
    if tornado:  # long form, one row per input and output: it fits an 80-column terminal
        outs = [k.removesuffix("_swing") for k in tornado[0] if k.endswith("_swing")]
        print_table(
            [
                {
                    "input": r["input"],
                    "low": format_value(r["input"], r["low"]),
                    "high": format_value(r["input"], r["high"]),
                    "output": o,
                    "at low": format_value(o, r[f"{o}_at_low"]),
                    "at high": format_value(o, r[f"{o}_at_high"]),
                    "swing": format_value(o, r[f"{o}_swing"]),
                    "rank": r["rank_" + o] if f"rank_{o}" in r else i + 1,
                }
                for o in outs
                for i, r in enumerate(tornado)
            ],
            title=f"Sensitivity (tornado): one input at a time, others nominal; ranked by {outs[0]} swing",
        )
    print_table(
        [
            {"input": e["name"], "value": format_value(e["name"], e["value"]), "unit": e["unit"], "source": e["source"]}
            for e in ledger
        ],
        title="Ledger: every input and its source",
    )


def run_estimate(kind: str, given: dict, profiles_dirs: tuple, statement: bool, json_out: bool) -> None:
    """Build the scenario from the flags given, estimate, and print (table or JSON)."""
    from glamsim.scenario import SCENARIOS, model_name

    cls = SCENARIOS[kind]
    fields = {k: v for k, v in given.items() if v is not None}
    fields["sources"] = {k: f"user input {flag(k)}" for k in fields}
    scenario = cls.build(fields, f"estimate {kind}")
    if kind == "train":
        from glamsim.cost.training import estimate_training

        est = estimate_training(scenario, profiles_dirs=profiles_dirs)
        what = "given FLOPs" if scenario.train_flops is not None else model_name(scenario.model)
        title = (
            f"Training {what} on {scenario.chips} x {model_name(scenario.chip)} in {model_name(scenario.datacenter)}"
        )
        notes = [*est.notes, *(f"warning: {w}" for w in est.warnings)]
    else:
        from glamsim.cost.serving import estimate_serving

        est = estimate_serving(scenario, profiles_dirs=profiles_dirs)
        title = (
            f"Serving {est['model']} on {est['serving_chips_used']} x {est['chip']} (batch {scenario.batch}, "
            f"{scenario.prompt_len}+{scenario.gen_len} tokens)"
        )
        notes = est.notes
    for line in notes:
        echo(line, err=True)
    d = est.to_dict()
    text = None
    if statement:
        from glamsim.cost.report import plain_statement

        text = plain_statement(
            est, datacenter=str(scenario.datacenter), model=str(scenario.model), chip=str(scenario.chip)
        )
    if json_out:
        return print_json(d | ({"statement": text} if text else {}))
    print_estimate(d, title)
    if text:
        echo("\n" + text)


def region_names(text: str) -> list[str] | None:
    """`--regions`' value: None for every profile (`all`, the flag alone), else the names given
    (commas, each once); one `error:` line for an empty name."""
    if text.strip() == "all":
        return None
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise ConfigError(f"regions={text!r}: datacenter names separated by commas, or all (the flag alone)")
    return list(dict.fromkeys(names))


def run_regions(given: dict, regions: str, json_out: bool) -> None:
    """`estimate train --regions`: the run of the flags given in several datacenters
    (`glamsim.api.regions`), as the training page's table with the equivalents' sources below it,
    or JSON."""
    import glamsim.api as gs
    from glamsim.cost.regions import equivalents_sources, regions_rows
    from glamsim.scenario import TrainingScenario

    names = region_names(regions)
    scenario = TrainingScenario.build({k: v for k, v in given.items() if v is not None}, "estimate train")
    fields = {k: getattr(scenario, k) for k, v in given.items() if v is not None and k != "datacenter"}
    try:
        with warnings.catch_warnings():  # the command prints them itself, as `warning:` lines (typer_app.command)
            warnings.simplefilter("ignore", PlausibilityWarning)
            df = gs.regions(names, **fields)
    except ConfigError as err:  # a name that is no datacenter profile: said as the flag that gave it
        raise ConfigError(re.sub(r"^datacenter=", "regions=", str(err))) from None
    if json_out:
        return print_json({"regions": df.to_dict("records"), "equivalents": df.attrs["equivalents"]})
    print_table(regions_rows(df), title="The same run in each datacenter, lowest carbon first")
    echo(equivalents_sources(df.attrs["equivalents"]))
