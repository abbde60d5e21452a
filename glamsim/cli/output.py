"""Output and option checks shared by every command (plain Python: no typer needed to print)."""

from __future__ import annotations

import json
import re
import sys

from glamsim.config import check_number
from glamsim.formatting import fmt, jsonable

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
    (`mfu=0.3: give mfu or hours, not both` -> `--mfu=0.3: give --mfu or --hours, not both`)."""
    message = re.sub(
        r"^((?:[^:=]+: )*)([a-z][a-z0-9_]*)=", lambda m: m[1] + flags.get(m[2], m[2]) + "=", message, count=1
    )
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
