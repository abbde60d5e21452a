"""The typer application, its error policy and the helpers shared by every command.

Bad input prints one line to stderr and exits with code 2, never a traceback: a `ConfigError`
from the library, a non-finite or out-of-range number in any option (checked once, here, for
every command), and click's own usage errors (a bad type, an unknown flag), which typer would
otherwise draw as a multi-line box.  Commands import heavy modules (JAX) lazily so the cost
commands start fast.
"""

from __future__ import annotations

import functools
import inspect
import sys

import typer
from typer.core import TyperGroup
from typer.exceptions import Abort, TyperException

from glamsim.cli.output import (  # noqa: F401  (print_json, print_table re-exported for commands)
    as_flags,
    check_options,
    plausibility_inputs,
    print_json,
    print_table,
)
from glamsim.config import ConfigError, show
from glamsim.files import DiskFull, disk_full_line, no_space
from glamsim.formatting import fmt, jsonable, safe_line  # noqa: F401  (re-exported for commands)
from glamsim.plausible import check_fraction, plausibility


class _OneLineErrors(TyperGroup):
    """Click's usage errors as one `error:` line on stderr (exit 2) instead of typer's box."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except TyperException as err:  # click's usage errors (typer vendors click)
            if type(err).__name__ == "NoArgsIsHelpError":
                err.show()  # `glamsim` alone: the help text is the answer
                code = 0
            else:
                typer.echo(f"error: {safe_line(_usage_line(err))}", err=True)
                code = 2
        except Abort:
            typer.echo("error: aborted", err=True)
            code = 1
        if code in (0, None):
            for note in DEPRECATED:
                typer.echo(note, err=True)
        DEPRECATED.clear()
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


DEPRECATED: list[str] = []  # notes printed after a successful command that used an old spelling


OPTIONAL_VALUES = {"--regions": "--regions=all"}  # a flag whose value may be left out (typer has no such option)


class LegacyEstimate(TyperGroup):
    """`glamsim estimate [--inference] --model ...`, from before `estimate train|serve`: still
    accepted (dispatched to the subcommand), with a deprecation note after a successful run; and
    `--regions` alone (before another flag, or last) read as `--regions=all`."""

    def parse_args(self, ctx, args):
        args = [
            OPTIONAL_VALUES.get(a, a) if i + 1 == len(args) or args[i + 1].startswith("-") else a
            for i, a in enumerate(args)
        ]
        if args and args[0].startswith("-") and args[0] not in ("--help", "-h"):
            kind = "serve" if "--inference" in args else "train"
            args = [kind, *(a for a in args if a != "--inference")]
            old = "estimate --inference" if kind == "serve" else "estimate"
            DEPRECATED.append(f"note: `glamsim {old} ...` is deprecated; use `glamsim estimate {kind} ...`")
        return super().parse_args(ctx, args)


def _usage_line(err) -> str:
    """`glamsim estimate: --chips=0: Input should be greater than or equal to 1 (see ... --help)`."""
    ctx = getattr(err, "ctx", None)
    where = ctx.command_path if ctx is not None else "glamsim"
    msg = " ".join(err.format_message().split())
    param, cause = getattr(err, "param", None), err.__cause__
    if param is not None and hasattr(cause, "errors"):  # typer's coercion: a pydantic error holds the value
        e = cause.errors()[0]
        value = e.get("input")
        value = value[:60] if isinstance(value, str) else show(value)  # as typed
        msg = f"{max(param.opts, key=len)}={value}: {e['msg']}"
    return f"{where}: {msg} (see {where} --help)"


app = typer.Typer(
    cls=_OneLineErrors,
    help="glamsim: what a Mixture-of-Experts language model costs to train and serve, next to a dense one.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # click's help: option names whole, text wrapped to the terminal (rich's panel cut them)
)


def fail(message: str) -> typer.Exit:
    """Print a one-line error and return the exit-2 exception to raise."""
    typer.echo(f"error: {safe_line(message)}", err=True)
    return typer.Exit(code=2)


def check_dispatch(value: str | None) -> str | None:
    """A --dispatch as given, checked against `glamsim.accounting.DISPATCHES` before the command
    imports JAX (a refusal at once, not after a second of start-up)."""
    from glamsim.accounting import DISPATCHES

    if value is not None and value not in DISPATCHES:
        raise ConfigError(f"--dispatch={value!r}: expected one of {', '.join(DISPATCHES)}")
    return value


def _flags(fn) -> dict[str, str]:
    """Parameter name -> the flag a user types (`price` -> `--price-per-chip-hour`)."""
    out = {}
    for name, p in inspect.signature(fn).parameters.items():
        decls = [d for d in getattr(p.default, "param_decls", None) or () if d.startswith("--")]
        out[name] = max(decls, key=len) if decls else name
    return out


def command(*args, app: typer.Typer | None = None, **kwargs):
    """`app.command` (or a sub-app's) whose bad-input errors become one line and exit code 2."""
    target = app or globals()["app"]

    def decorate(fn):
        flags = _flags(fn)

        @functools.wraps(fn)
        def wrapper(*a, **k):
            typed = {k: v for k, v in flags.items() if v.startswith("--")}
            try:
                check_options(k, flags)
                values = plausibility_inputs(k)
                check_fraction(values)  # an MFU in percent: refused with the fraction it meant
                done = fn(*a, **k)
            except ConfigError as err:
                raise fail(as_flags(str(err), typed)) from None
            except OSError as err:  # a full disk is an ordinary error, any other OSError a bug to see
                if not no_space(err):
                    raise
                raise fail(str(err) if isinstance(err, DiskFull) else disk_full_line(err.filename or ".")) from None
            for line in plausibility(values):  # after the result: answered as asked, the likely slip named
                typer.echo(f"warning: {safe_line(as_flags(line, typed))}", err=True)
            return done

        return target.command(*args, **kwargs)(wrapper)

    return decorate


# options shared by the commands that run the JAX model on several devices (`glamsim.parallel`)
MESH = typer.Option(
    None, "--mesh", help="device mesh, e.g. data=2,expert=4 (axes: data, expert, model); default: one device"
)
COORDINATOR = typer.Option(
    None,
    "--coordinator",
    help="HOST:PORT of process 0 for a multi-process run, or 'auto' (TPU slice, SLURM); env JAX_COORDINATOR_ADDRESS",
)
NUM_PROCESSES = typer.Option(None, "--num-processes", min=1, help="processes in the run; env JAX_NUM_PROCESSES")
PROCESS_ID = typer.Option(None, "--process-id", min=0, help="this process's index; env JAX_PROCESS_ID")
