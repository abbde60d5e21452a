"""The command line as a person reads it (issue 25, item 5): tables as wide as the terminal, nested
results as tables, whole option names and defaults in --help, the dashboard's number format."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from glamsim.cli import app
from glamsim.cost import estimate_training
from glamsim.outputs import format_value

RUNNER = CliRunner()
TABLE_CHARS = set("┏┃┡│└━─┗╇┳┻┼╋")


def run(args: list[str], columns: int = 80) -> str:
    got = RUNNER.invoke(app, args, env={"COLUMNS": str(columns)})
    assert got.exit_code == 0, got.output
    return got.output


@pytest.mark.parametrize(
    "args",
    [
        ["estimate", "train", "--chip", "h100-sxm", "--chips", "2048"],  # predicted MFU: a nested prediction
        ["estimate", "train", "--mfu", "0.25,0.3,0.4"],  # ranges and the sensitivity table
        ["estimate", "serve"],
        ["compare", "glam-64b-64e", "gpt3-175b"],
        ["models"],
    ],
)
@pytest.mark.parametrize("columns", [80, 120])
def test_tables_fit_the_terminal(args, columns):
    out = run(args, columns)
    table_lines = [line for line in out.splitlines() if set(line) & TABLE_CHARS]
    assert table_lines
    assert max(len(line) for line in table_lines) <= columns  # was 180 columns on 80


def test_nested_results_are_tables_not_a_raw_dict():
    out = run(["estimate", "train", "--chip", "h100-sxm", "--chips", "2048"], 100)
    assert "{'" not in out  # no Python dict printed
    p = estimate_training(chip="h100-sxm", chips=2048).prediction
    for title in ("prediction", "prediction: breakdown", "prediction: memory"):
        assert title in out
    assert format_value("global_batch", p["global_batch"]) in out  # 4,096


def test_one_number_format_with_the_dashboard():
    out = run(["estimate", "train", "--mfu", "0.3"], 120)
    ledger = out[out.index("Ledger") :]
    assert "1,024" in ledger and "600B" in ledger  # chips and tokens as the dashboard writes them
    assert "1.024k" not in out and "600G" not in out


@pytest.mark.parametrize("command", [["estimate", "train"], ["estimate", "serve"]])
def test_help_names_every_option_whole_with_defaults(command):
    out = run([*command, "--help"])
    assert "…" not in out
    for flag in ("--carbon-intensity-kg-per-kwh", "--price-per-chip-hour-usd"):
        assert flag in out
    assert "(default glam-64b-64e" in " ".join(out.split())
