"""Output and option checks shared by every command (plain Python: no typer needed to print)."""

from __future__ import annotations

import json
import os
import re
import sys

from glamsim.config import check_number
from glamsim.formatting import jsonable

_ANSI = re.compile(r"\033\[[;?0-9]*[a-zA-Z]")  # click's: styles it strips from text that is not for a terminal


def echo(message: str = "", err: bool = False) -> None:
    """One line to stdout (or stderr), flushed: what `typer.echo` writes for plain text."""
    out = sys.stderr if err else sys.stdout
    if "\033" in message and not out.isatty():
        message = _ANSI.sub("", message)
    out.write(f"{message}\n")
    out.flush()


def as_flags(message: str, flags: dict[str, str]) -> str:
    """A library error in a command's words: the field it is about (`name=value:` at the start, after
    any `where: ` prefixes) and the fields it offers instead become the flags a user types
    (`mfu=0.3: give mfu or hours, not both` -> `--mfu=0.3: give --mfu or --hours, not both`;
    `30% is mfu=0.3` -> `30% is --mfu=0.3`)."""
    message = re.sub(
        r"^((?:[^:=]+: )*)([a-z][a-z0-9_]*)=", lambda m: m[1] + flags.get(m[2], m[2]) + "=", message, count=1
    )
    message = re.sub(r"\bis ([a-z][a-z0-9_]*)=", lambda m: f"is {flags.get(m[1], m[1])}=", message)  # 30% is mfu=0.3
    return re.sub(
        r"\bgive ([a-z][a-z0-9_]*) or ([a-z][a-z0-9_]*)\b",
        lambda m: f"give {flags.get(m[1], m[1])} or {flags.get(m[2], m[2])}",
        message,
    )


def check_options(options: dict, flags: dict[str, str]) -> None:
    """Every numeric option finite and of a sane size, named as the user typed it (`--tokens`)."""
    for name, value in options.items():
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                check_number(flags.get(name, name), v)


def plausibility_inputs(options: dict) -> dict:
    """The options `glamsim.plausible` reads (tokens, power, carbon intensity, MFU, MBU) as numbers:
    text such as `0.2,0.3,0.4` parsed; text that does not parse is left to the command to refuse."""
    from glamsim.config import ConfigError
    from glamsim.plausible import FRACTIONS, PLAUSIBLE
    from glamsim.uncertain import parse_uncertain

    out = {}
    for name in (*PLAUSIBLE, *FRACTIONS):
        value = options.get(name)
        try:
            out[name] = parse_uncertain(value, name) if isinstance(value, str) else value
        except ConfigError:
            continue
    return out


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(jsonable(obj), indent=2) + "\n")


PIPE_WIDTH = 180  # columns of a table written to a pipe or file (a terminal, or COLUMNS, sets its own)
VALUE_COLUMNS = ("value", "low", "high")  # a quantity's columns: formatted by the row's quantity


def cell(column: str, value, row: dict) -> str:
    """A table cell in the dashboard's format (`glamsim.outputs.format_value`): by the column's key
    (chips 1,024, tokens 600B), or, in a value/low/high column, by the row's `quantity` or `input`."""
    from glamsim.outputs import format_value

    if isinstance(value, str):
        return value
    key = row.get("quantity", row.get("input", "")) if column in VALUE_COLUMNS else column
    return format_value(str(key), value)


def print_table(rows: list[dict], title: str | None = None) -> None:
    """A readable table (rich) from a list of row dicts, as wide as the terminal (long cells wrap and
    fold onto more lines; `COLUMNS` sets the width; a pipe or file gets `PIPE_WIDTH`, so that each
    row stays on one line for grep), numbers formatted as the dashboard formats them."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=PIPE_WIDTH)  # a pipe or file: rows whole on one line each, for grep
    table = Table(title=title, show_lines=False)
    if not rows:
        console.print(f"{title or ''}: (no rows)")
        return
    for key in rows[0]:
        numeric = isinstance(rows[0][key], (int, float)) and not isinstance(rows[0][key], bool)
        table.add_column(str(key), justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*(cell(str(k), v, row) for k, v in row.items()))
    console.print(table)
