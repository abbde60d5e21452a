"""The typer application, its error policy and output helpers shared by every command.

Bad input (a `ConfigError`) prints one line to stderr and exits with code 2; no traceback.
Commands import heavy modules (JAX) lazily so the cost commands start fast.
"""

from __future__ import annotations

import functools
import json
import sys

import typer

from glamsim.config import ConfigError
from glamsim.formatting import fmt, jsonable  # noqa: F401  (re-exported for commands)

app = typer.Typer(
    help="glamsim: what a Mixture-of-Experts language model costs to train and serve, next to a dense one.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def fail(message: str) -> typer.Exit:
    """Print a one-line error and return the exit-2 exception to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def command(*args, **kwargs):
    """`app.command` whose bad-input errors become one line and exit code 2."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            try:
                return fn(*a, **k)
            except ConfigError as err:
                raise fail(str(err)) from None

        return app.command(*args, **kwargs)(wrapper)

    return decorate


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(jsonable(obj), indent=2) + "\n")


def print_table(rows: list[dict], title: str | None = None) -> None:
    """A readable table (rich) from a list of row dicts."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    if not rows:
        Console().print(f"{title or ''}: (no rows)")
        return
    for key in rows[0]:
        table.add_column(str(key), justify="right" if isinstance(rows[0][key], (int, float)) else "left")
    for row in rows:
        table.add_row(*(fmt(v) for v in row.values()))
    Console(width=max(180, Console().width)).print(table)


# options shared by the commands that run the JAX model on several devices (`glamsim.parallel`)
MESH = typer.Option(None, "--mesh", help="device mesh, e.g. data=2,expert=4 (axes: data, expert, model); "
                    "default: one device")
COORDINATOR = typer.Option(None, "--coordinator", help="HOST:PORT of process 0 for a multi-process run, or 'auto' "
                           "(TPU slice, SLURM); env JAX_COORDINATOR_ADDRESS")
NUM_PROCESSES = typer.Option(None, "--num-processes", min=1, help="processes in the run; env JAX_NUM_PROCESSES")
PROCESS_ID = typer.Option(None, "--process-id", min=0, help="this process's index; env JAX_PROCESS_ID")
