"""The same training run in every datacenter region, with everyday equivalents (gs.regions, the
training page's table, `glamsim estimate train --regions`), against hand arithmetic."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import glamsim.api as gs
from glamsim.cli import app
from glamsim.config import data_dir

# US EPA, 'Greenhouse Gas Emissions from a Typical Passenger Vehicle' (EPA-420-F-23-014, June 2023)
T_PER_VEHICLE_YEAR = 4.6
T_PER_GALLON = 8887e-6
# Profile figures (glamsim/data/hardware_profiles/datacenters/): PUE and net kg CO2e per kWh
FRANCE = (1.58, 0.06739)  # france-average: industry-average PUE, the national grid
FINLAND = (1.10, 0.03932)  # gcp-europe-north1: Google's fleet PUE, the region's grid (2024)

# 1,000 chips for 1,000 hours at 400 W each: 400 MWh at the chips, times each datacenter's PUE
RUN = dict(chips=1000, hours=1000.0, power_w=400.0)


def test_the_same_run_in_two_regions_by_hand():
    df = gs.regions(["france-average", "gcp-europe-north1"], **RUN).set_index("datacenter")
    for name, (pue, intensity) in (("france-average", FRANCE), ("gcp-europe-north1", FINLAND)):
        mwh = 400 * pue
        t = mwh * intensity  # MWh x kg/kWh = tonnes
        row = df.loc[name]
        assert row["pue"] == pue and row["carbon_intensity_kg_per_kwh"] == intensity
        assert row["energy_mwh"] == pytest.approx(mwh, rel=1e-12)
        assert row["co2e_t"] == pytest.approx(t, rel=1e-12)
        assert row["co2e_vehicle_years"] == pytest.approx(t / T_PER_VEHICLE_YEAR, rel=1e-12)
        assert row["co2e_gasoline_gallons"] == pytest.approx(t / T_PER_GALLON, rel=1e-12)
    assert list(df.index) == ["gcp-europe-north1", "france-average"]  # lowest carbon first: 17.3 t < 42.6 t
    assert df.loc["gcp-europe-north1", "region"] == "Finland"


def test_every_datacenter_profile_by_default_and_each_equivalent_sourced():
    files = sorted(p.stem for p in (data_dir("hardware_profiles") / "datacenters").glob("*.yaml"))
    df = gs.regions(**RUN)
    assert sorted(df["datacenter"]) == files
    assert df["co2e_t"].is_monotonic_increasing
    assert (df["co2e_t"] == df["energy_mwh"] * df["carbon_intensity_kg_per_kwh"]).all()
    eq = df.attrs["equivalents"]
    assert set(eq) == {"vehicle_years", "gasoline_gallons"}
    assert eq["vehicle_years"]["t_co2_per_unit"] == T_PER_VEHICLE_YEAR and eq["vehicle_years"]["estimate"]
    assert eq["gasoline_gallons"]["t_co2_per_unit"] == T_PER_GALLON and not eq["gasoline_gallons"]["estimate"]
    assert all("EPA-420-F-23-014" in e["source"] and e["date"] for e in eq.values())


def test_a_misspelt_region_is_one_line_with_the_close_name():
    with pytest.raises(Exception, match="did you mean 'us-average'"):
        gs.regions(["us-averag"], **RUN)


def test_the_command_line_gives_the_same_table():
    args = ["estimate", "train", "--regions", "--chips", "1000", "--hours", "1000", "--power-w", "400"]
    r = CliRunner().invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    got = {row["datacenter"]: row for row in json.loads(r.output)["regions"]}
    assert got["france-average"]["co2e_t"] == pytest.approx(400 * FRANCE[0] * FRANCE[1], rel=1e-12)
    text = CliRunner().invoke(app, args)
    assert text.exit_code == 0, text.output
    line = next(x for x in text.output.splitlines() if "gcp-europe-north1" in x)
    t = 400 * FINLAND[0] * FINLAND[1]  # 17.3 t: 3.8 vehicle-years, 1,947 gallons
    assert f"{t / T_PER_VEHICLE_YEAR:.2g}" in line and f"{round(t / T_PER_GALLON):,}" in line
    assert "EPA-420-F-23-014" in text.output and "an estimate" in text.output
