"""The `glamsim` command line: one module per area registers its commands on `app`."""

from glamsim.cli import accounting_cmds  # noqa: F401  (registers commands)
from glamsim.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
