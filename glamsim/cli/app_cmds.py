"""`glamsim app`: the dashboard on this machine only, whatever folder it is started from."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from glamsim.cli.typer_app import command
from glamsim.config import ConfigError

HOME = Path(__file__).resolve().parents[2] / "app" / "Home.py"  # the dashboard ships with the checkout


def streamlit_argv(port: int, home: Path = HOME) -> list[str]:
    """The Streamlit command line: bound to 127.0.0.1, headless, usage statistics off, the settings
    given as flags so that no working folder's `.streamlit/config.toml` can widen them."""
    if not home.is_file():
        raise ConfigError(
            f"app={str(home)!r}: the dashboard is not here; it ships with the source checkout (app/Home.py): "
            "run `make app` or `glamsim app` from a checkout"
        )
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(home),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
    ]


@command("app")
def app_cmd(
    port: int = typer.Option(8501, "--port", min=1024, max=65535, help="port on 127.0.0.1"),
) -> None:
    """The dashboard at http://127.0.0.1:PORT (this machine only; usage statistics off)."""
    argv = streamlit_argv(port)
    typer.echo(f"glamsim dashboard: http://127.0.0.1:{port}")
    sys.stdout.flush()
    os.execv(argv[0], argv)  # Streamlit replaces this process: Ctrl-C stops it as usual
