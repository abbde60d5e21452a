"""The `glamsim` command line: one module per area registers its commands on `app`."""

from glamsim.cli import accounting_cmds, cost_cmds, measure_cmds, model_cmds, study_cmds  # noqa: F401
from glamsim.cli.app import app


def main() -> None:
    app(prog_name="glamsim")


__all__ = ["app", "main"]
