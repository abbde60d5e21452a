"""The `glamsim` command line: one module per area registers its commands on `app`.

`import glamsim.cli` is light: typer and the command modules are imported when needed.
`glamsim.cli.app` (the typer application, e.g. for `typer.testing.CliRunner`) registers every
command on first access; `main()` (the `glamsim` script, `python -m glamsim`) registers modules in
order only until the command on the command line is found, so `glamsim estimate ...` never imports
the study runner (pandas) or the JAX model.  Typer is the one parser of every command.
"""

from __future__ import annotations

import importlib
import os
import sys

COMMAND_MODULES = (
    "accounting_cmds",
    "cost_cmds",
    "measure_cmds",
    "model_cmds",
    "plan_cmds",
    "quality_cmds",
    "study_cmds",
    "app_cmds",
)  # help order


def _typer_app():
    from glamsim.cli.typer_app import app

    return app


def _registered_names() -> set[str]:
    typer_app = _typer_app()
    names = {c.name or c.callback.__name__.replace("_", "-") for c in typer_app.registered_commands}
    return names | {g.name for g in typer_app.registered_groups if g.name}


def register(command: str | None = None) -> None:
    """Import the command modules in order: all of them, or only until `command` is registered."""
    for name in COMMAND_MODULES:
        if command is not None and command in _registered_names():
            return
        importlib.import_module(f"glamsim.cli.{name}")


def _command_of(args: list[str]) -> str | None:
    """The command name a command line asks for (None: help, or nothing, e.g. `glamsim --help`)."""
    return args[0] if args and not args[0].startswith("-") else None


def main() -> None:
    """Run the command line (exits through SystemExit, as click does)."""
    args = sys.argv[1:]
    register(_command_of(args))
    _typer_app()(prog_name="glamsim")


def script() -> None:
    """The `glamsim` script and `python -m glamsim`: `main()`, then, after a command that did not
    start JAX, a direct exit that skips the interpreter's teardown of numpy and pydantic (tens of
    milliseconds per call, for scripts that call glamsim in loops; every file is closed by then)."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")  # no plugin scan at start-up (pydantic's own switch)
    try:
        main()
    except SystemExit as done:
        if "jax" in sys.modules:  # JAX and orbax tidy up at exit (threads, async checkpoints): let them
            raise
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def __getattr__(name: str):
    if name == "app":
        register()
        app = _typer_app()
        globals()["app"] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["app", "main", "register", "script"]
