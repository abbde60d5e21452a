"""The `glamsim` command line: one module per area registers its commands on `app`.

`import glamsim.cli` is light: typer and the command modules are imported when needed.
`glamsim.cli.app` (the typer application, e.g. for `typer.testing.CliRunner`) registers every
command on first access; `main()` (the `glamsim` script, `python -m glamsim`) registers modules in
order only until the command on the command line is found, so `glamsim estimate ...` never imports
the study runner (pandas) or the JAX model; and `glamsim estimate train|serve` with plain options
runs without typer at all (`glamsim.cli.estimate.fast_path`), typer reading any other command line.
"""

from __future__ import annotations

import importlib
import os
import sys
import types

COMMAND_MODULES = (
    "accounting_cmds",
    "cost_cmds",
    "measure_cmds",
    "model_cmds",
    "plan_cmds",
    "study_cmds",
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
    if args[:1] == ["estimate"]:
        from glamsim.cli.estimate import fast_path

        fast_path(args[1:])  # exits where it reads the command line; else typer reads it
    register(_command_of(args))
    _typer_app()(prog_name="glamsim")


def _no_pydantic_plugins() -> None:
    """The command line runs without pydantic plugins (third-party hooks into validation, found
    through package entry points), as `PYDANTIC_DISABLE_PLUGINS=__all__` would say, but without
    pydantic importing `importlib.metadata` and scanning every installed distribution's entry points
    to learn it (about 15 ms of each command's start).  Where the variable is set (to anything, ""
    included: every plugin), or pydantic is already imported, pydantic decides as usual."""
    if "PYDANTIC_DISABLE_PLUGINS" in os.environ or "pydantic" in sys.modules:
        return
    loader = types.ModuleType("pydantic.plugin._loader", "glamsim's stand-in: no plugins (glamsim.cli)")
    loader.get_plugins = lambda: ()  # what pydantic's own returns when plugins are disabled

    def real(name: str):  # anything else pydantic asks of it: the real module, which replaces the stand-in
        import importlib

        if name.startswith("__"):  # probes such as __path__ or __spec__: not a stand-in's to answer
            raise AttributeError(name)
        sys.modules.pop(loader.__name__, None)
        return getattr(importlib.import_module(loader.__name__), name)

    loader.__getattr__ = real
    sys.modules.setdefault(loader.__name__, loader)


def script() -> None:
    """The `glamsim` script and `python -m glamsim`: `main()`, then, after a command that did not
    start JAX, a direct exit that skips the interpreter's teardown of numpy and pydantic (tens of
    milliseconds per call, for scripts that call glamsim in loops; every file is closed by then)."""
    _no_pydantic_plugins()
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
