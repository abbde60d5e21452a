"""Unit slips on the command line (issue 25): the front door's plausibility rules
(`glamsim.plausible`) as one `warning:` line each on stderr after the result, exit 0; an MFU or MBU
in percent refused with the fraction it meant; and `estimate train --regions [NAMES]`, the training
page's table of the same run in several datacenters, against hand arithmetic."""

from __future__ import annotations

import json

import pytest
from badinput import refused
from typer.testing import CliRunner

import glamsim.api as gs
from glamsim.cli import app
from glamsim.cost.training import estimate_training
from glamsim.plausible import plausibility

TRAIN = ["estimate", "train", "--model", "glam-tiny", "--chips", "8", "--mfu", "0.3"]


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), prog_name="glamsim")


def warnings_of(r) -> list[str]:
    return [line for line in r.stderr.splitlines() if line.startswith("warning: ")]


@pytest.mark.parametrize(
    ("args", "field", "value", "flag"),
    [
        ([*TRAIN, "--tokens", "600"], "tokens", 600, "--tokens"),
        (
            [*TRAIN, "--carbon-intensity-kg-per-kwh", "365"],
            "carbon_intensity_kg_per_kwh",
            365,
            "--carbon-intensity-kg-per-kwh",
        ),
        ([*TRAIN, "--carbon-intensity", "365"], "carbon_intensity_kg_per_kwh", 365, "--carbon-intensity-kg-per-kwh"),
        ([*TRAIN, "--power-w", "0.7"], "power_w", 0.7, "--power-w"),
        ([*TRAIN, "--power-w", "300,700,9000"], "power_w", 9000, "--power-w"),  # a range: its odd end
        (["estimate", "serve", "--model", "glam-tiny", "--power-w", "7000"], "power_w", 7000, "--power-w"),
        (["compare", "glam-tiny", "--tokens", "600"], "tokens", 600, "--tokens"),
        (["estimate", "train", "--regions", "france-average", "--tokens", "600"], "tokens", 600, "--tokens"),
    ],
)
def test_a_unit_slip_is_one_warning_line_in_the_front_doors_words_and_the_result_still_printed(
    args, field, value, flag
):
    r = invoke(*args, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)  # the result, as asked
    (line,) = plausibility({field: value})  # the same rule and words as gs.train's PlausibilityWarning
    assert warnings_of(r) == [f"warning: {flag}={line.split('=', 1)[1]}"]
    assert "PlausibilityWarning" not in r.stderr  # not Python's warning as well


def test_the_estimate_is_the_one_asked_for_warning_or_not():
    r = invoke(*TRAIN, "--tokens", "600", "--json")
    assert (
        json.loads(r.stdout)["energy_mwh"]
        == estimate_training(model="glam-tiny", chips=8, mfu=0.3, tokens=600).energy_mwh
    )
    with pytest.warns(gs.PlausibilityWarning, match="tokens=600: under a million"):
        gs.train(model="glam-tiny", chips=8, mfu=0.3, tokens=600)


def test_every_slip_gets_its_own_line_after_the_table():
    r = invoke(*TRAIN, "--tokens", "600", "--power-w", "0.7", "--carbon-intensity-kg-per-kwh", "365")
    assert r.exit_code == 0, r.stderr
    assert "Ledger" in r.stdout
    assert [w.split("=")[0] for w in warnings_of(r)] == [
        "warning: --tokens",
        "warning: --carbon-intensity-kg-per-kwh",
        "warning: --power-w",
    ]


def test_plausible_inputs_warn_nothing():
    r = invoke(*TRAIN, "--tokens", "6e11", "--power-w", "300,400,700", "--carbon-intensity-kg-per-kwh", "0.365")
    assert r.exit_code == 0, r.stderr
    assert warnings_of(r) == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["estimate", "train", "--mfu", "30"], "--mfu=30: a fraction from 0 to 1; 30% is --mfu=0.3"),
        (["estimate", "train", "--mfu", "20,30,40"], "--mfu=20: a fraction from 0 to 1; 20% is --mfu=0.2"),
        (["estimate", "serve", "--mbu", "45"], "--mbu=45: a fraction from 0 to 1; 45% is --mbu=0.45"),
        (["compare", "glam-tiny", "--mfu", "30"], "--mfu=30: a fraction from 0 to 1; 30% is --mfu=0.3"),
    ],
)
def test_an_mfu_in_percent_is_refused_with_the_fraction_it_meant(tmp_path, args, said):
    assert refused(args, tmp_path, mentions=said) == f"error: {said}"


# ---- estimate train --regions [NAMES]: the training page's table --------------------------------

RUN = ["estimate", "train", "--chips", "1000", "--hours", "1000", "--power-w", "400"]  # 400 MWh at the chips
FRANCE = (1.58, 0.06739)  # france-average: PUE, kg CO2e per kWh (its profile)
US = (1.58, 0.373)  # us-average


def test_regions_names_pick_the_datacenters_lowest_carbon_first():
    r = invoke(*RUN, "--regions", "us-average,france-average,us-average", "--json")
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)["regions"]
    assert [x["datacenter"] for x in rows] == ["france-average", "us-average"]  # each once, lowest first
    for row, (pue, kg_per_kwh) in zip(rows, (FRANCE, US)):
        assert row["energy_mwh"] == pytest.approx(400 * pue, rel=1e-12)
        assert row["co2e_t"] == pytest.approx(400 * pue * kg_per_kwh, rel=1e-12)  # MWh x kg/kWh = t


def test_regions_alone_is_every_profile_wherever_it_stands():
    every = len(gs.regions(chips=1000, hours=1000.0, power_w=400.0))
    for args in (["--regions", *RUN[2:]], [*RUN[2:], "--regions"], [*RUN[2:], "--regions", "all"]):
        r = invoke("estimate", "train", *args, "--json")
        assert r.exit_code == 0, (args, r.stderr)
        assert len(json.loads(r.stdout)["regions"]) == every


def test_regions_table_reads_as_the_training_page_writes_it():
    from glamsim.cost.regions import regions_rows

    r = invoke(*RUN, "--regions", "france-average")
    assert r.exit_code == 0, r.stderr
    (row,) = regions_rows(gs.regions(["france-average"], chips=1000, hours=1000.0, power_w=400.0))
    t = 400 * FRANCE[0] * FRANCE[1]  # 42.59 t: 9.3 vehicle-years (4.6 t each), 4,792 gallons (8,887 g each)
    assert row["CO2e, market-based (net) (tCO2e)"] == "42.59"
    assert row["passenger vehicles driven for a year (about)"] == f"{t / 4.6:.2g}" == "9.3"
    assert row["US gallons of gasoline burned (factor)"] == f"{round(t / 8887e-6):,}"
    line = next(x for x in r.stdout.splitlines() if "france-average" in x)
    assert [c.strip() for c in line.strip("│ ").split("│")] == list(row.values())
    assert "EPA-420-F-23-014" in r.stdout and "an estimate" in r.stdout


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("us-averag", "did you mean 'us-average'"),
        ("france-average,,us-average", "--regions='france-average,,us-average': datacenter names"),
        ("", "--regions='': datacenter names"),
        (",", "--regions=','"),
        ("../../etc/passwd", "--regions="),
        ("x" * 500, "--regions="),
    ],
)
def test_bad_regions_are_one_line_naming_the_flag(tmp_path, value, said):
    line = refused([*RUN, "--regions", value], tmp_path, mentions=said)
    assert line.startswith("error: --regions=") or line.startswith("error: estimate train: --regions="), line
