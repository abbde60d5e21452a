"""`glamsim estimate train|serve` without typer: the options, the work, and a fast path.

The options of both commands are the fields of their scenario (`glamsim.scenario`): `option_type`
gives each its command-line type and `flag` its name, for the typer commands (`cost_cmds`) and
for `fast_path` alike.  `fast_path` runs the common command line, `estimate train|serve` with
`--field value` (or `--field=value`) options, `--json` and `--statement`, without importing typer
and the other commands (which are most of the start-up of a typer command).  Whatever it does not
read plainly (help, an unknown, repeated or misspelt flag, a value that is not a plain number where
a number is asked, a value starting with '-', `--profiles-dir`) it leaves to typer, which then
parses the whole command line itself; so typer words every usage error, and what the fast path
runs, typer would have run with the same values (tests/test_speed_paths.py checks both).
"""

from __future__ import annotations

import math
import os
import re
import sys

from glamsim.cli.output import check_options, echo, print_json, print_table
from glamsim.config import ConfigError
from glamsim.formatting import fmt

# Older spellings of two flags, still accepted.
ALIASES = {"price_per_chip_hour_usd": ["--price-per-chip-hour"], "carbon_intensity_kg_per_kwh": ["--carbon-intensity"]}
SWITCHES = {"--json": "json_out", "--statement": "statement"}  # flags without a value
_INT = re.compile(r"[0-9]{1,18}")  # what both typer (pydantic) and int() read alike
_FLOAT = re.compile(r"(?:[0-9]{1,30}\.?[0-9]{0,30}|\.[0-9]{1,30})(?:[eE][+-]?[0-9]{1,3})?")


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


def print_estimate(d: dict, title: str) -> None:
    """An estimate as tables: outputs (with ranges), the sensitivity (tornado) table, the ledger."""
    from glamsim.outputs import unit

    for key in ("warnings", "notes", "scenario", "statement"):
        d.pop(key, None)  # on stderr, or in JSON only
    ranges = d.pop("ranges")
    ledger = d.pop("ledger")
    tornado = d.pop("tornado", [])
    rows = []
    for k, val in d.items():
        lo, hi = ranges.get(k, (None, None))
        row = {"quantity": k, "value": fmt(val)}
        if ranges:
            row.update(low=fmt(lo), high=fmt(hi))
        rows.append(row | {"unit": unit(k)})
    print_table(rows, title=title)
    if tornado:
        outs = [k.removesuffix("_swing") for k in tornado[0] if k.endswith("_swing")]
        print_table(
            [
                {
                    "input": r["input"],
                    "low": r["low"],
                    "high": r["high"],
                    **{
                        f"{o} {end}": r[f"{o}_{end.replace(' ', '_')}"]
                        for o in outs
                        for end in ("at low", "at high", "swing")
                    },
                    **{f"rank by {o}": r[f"rank_{o}"] for o in outs[1:]},
                }
                for r in tornado
            ],
            title=f"Sensitivity (tornado): one input at a time, others nominal; ranked by {outs[0]} swing",
        )
    print_table(
        [{"input": e["name"], "value": fmt(e["value"]), "unit": e["unit"], "source": e["source"]} for e in ledger],
        title="Ledger: every input and its source",
    )


def run_estimate(kind: str, given: dict, profiles_dirs: tuple, statement: bool, json_out: bool) -> None:
    """Build the scenario from the flags given, estimate, and print (table or JSON)."""
    from glamsim.scenario import SCENARIOS, model_name

    cls = SCENARIOS[kind]
    fields = {k: v for k, v in given.items() if v is not None}
    fields["sources"] = {k: f"user input {flag(k)}" for k in fields}
    scenario = cls.build(fields, f"estimate {kind}", flags=True)
    if kind == "train":
        from glamsim.cost.training import estimate_training

        est = estimate_training(scenario, profiles_dirs=profiles_dirs)
        what = "given FLOPs" if scenario.train_flops is not None else model_name(scenario.model)
        title = (
            f"Training {what} on {scenario.chips} x {model_name(scenario.chip)} in {model_name(scenario.datacenter)}"
        )
        notes = [f"measured: {n}" for n in est.notes] + [f"warning: {w}" for w in est.warnings]
    else:
        from glamsim.cost.inference import estimate_inference

        est = estimate_inference(scenario, profiles_dirs=profiles_dirs)
        title = (
            f"Serving {est['model']} on {est['chips']} x {est['chip']} (batch {scenario.batch}, "
            f"{scenario.prompt_len}+{scenario.gen_len} tokens)"
        )
        notes = []
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


# ---- the fast path -------------------------------------------------------------------------------


def _value(text: str, kind: type):
    """The option's value as typer reads it, or None where the fast path should not decide."""
    if text.startswith("-"):
        return None  # typer takes it as the value; say nothing about it here
    if kind is str:
        return text
    if kind is int:
        return int(text) if _INT.fullmatch(text) else None
    if _FLOAT.fullmatch(text):
        v = float(text)
        return v if math.isfinite(v) else None
    return None


def parse(args: list[str]) -> tuple[str, dict, dict] | None:
    """(kind, {field: value or None, in the options' order}, {statement, json_out}) of
    `estimate KIND ...` arguments (after `estimate`), or None: typer's to read."""
    if not args or args[0] not in ("train", "serve") or "_GLAMSIM_COMPLETE" in os.environ:
        return None
    from glamsim.scenario import SCENARIOS

    cls = SCENARIOS[args[0]]
    names = cls.inputs()
    options = {}
    for name in names:
        kind = option_type(cls, name)
        for f in (flag(name), *ALIASES.get(name, ())):
            options[f] = (name, kind)
    values, switches = {}, {"statement": False, "json_out": False}
    seen: set[str] = set()
    i, n = 1, len(args)
    while i < n:
        arg = args[i]
        i += 1
        if arg in SWITCHES:
            key = SWITCHES[arg]
            if key in seen:
                return None
            seen.add(key)
            switches[key] = True
            continue
        opt, eq, text = arg.partition("=")
        spec = options.get(opt)
        if spec is None or spec[0] in seen:
            return None  # --help, --profiles-dir, an unknown flag or argument, a repeated option
        if not eq:
            if i == n:
                return None
            text = args[i]
            i += 1
        value = _value(text, spec[1])
        if value is None:
            return None
        seen.add(spec[0])
        values[spec[0]] = value
    return args[0], {name: values.get(name) for name in names}, switches


def fast_path(args: list[str]) -> None:
    """Run `estimate KIND ...` (the arguments after `estimate`) and exit as the typer command would,
    where `parse` reads them; return without doing anything where it does not."""
    parsed = parse(args)
    if parsed is None:
        return
    kind, given, switches = parsed
    code = 0
    try:
        check_options(given, {name: flag(name) for name in given})  # in the order typer checks them
        run_estimate(kind, given, (), switches["statement"], switches["json_out"])
    except ConfigError as err:
        echo(f"error: {err}", err=True)
        code = 2
    except KeyboardInterrupt:
        code = 130
    except EOFError:
        echo(err=True)
        echo("error: aborted", err=True)
        code = 1
    except BrokenPipeError:
        sys.stdout, sys.stderr = _Quiet(sys.stdout), _Quiet(sys.stderr)
        code = 1
    sys.exit(code)


class _Quiet:
    """A stream whose flush ignores a closed pipe (what click does after one, so exiting stays quiet)."""

    def __init__(self, stream):
        self._stream = stream

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError:
            pass

    def __getattr__(self, name):
        return getattr(self._stream, name)
