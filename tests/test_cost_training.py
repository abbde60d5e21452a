"""Training cost formulas against hand arithmetic, vectorisation, provenance and bad inputs."""

import subprocess
import sys

import numpy as np
import pytest
from cores import train_core

from glamsim.accounting import ModelArrays, train_flops_per_token
from glamsim.config import ConfigError, load_model
from glamsim.cost.bundles import Hardware, Site, TrainingRun, route
from glamsim.cost.training import estimate_training, training_costs


def test_core_against_hand_arithmetic():
    # 1e21 FLOPs at 50% of 1e14 FLOP/s: 2e7 chip-seconds = 5555.6 chip-hours; on 10 chips 555.6 h
    r = train_core(
        1e21, 10, 1e14, power_w=300, pue=1.2, carbon_intensity_kg_per_kwh=0.5, price_per_chip_hour_usd=2.0, mfu=0.5
    )
    chip_h = 1e21 / 5e13 / 3600
    assert r["chip_hours"] == pytest.approx(chip_h)
    assert r["train_days"] == pytest.approx(chip_h / 10 / 24)
    assert r["energy_mwh"] == pytest.approx(chip_h * 300 * 1.2 / 1e6)  # chip-h x W x PUE
    assert r["co2e_t"] == pytest.approx(chip_h * 300 * 1.2 / 1e6 * 0.5)  # MWh x kg/kWh = t
    assert r["cost_usd"] == pytest.approx(chip_h * 2.0)


def test_hours_give_the_implied_mfu_and_round_trip():
    by_mfu = train_core(3e22, 64, 2.75e14, 326, 1.11, 0.1, 3.0, mfu=0.37)
    by_hours = train_core(3e22, 64, 2.75e14, 326, 1.11, 0.1, 3.0, hours=by_mfu["train_hours"])
    assert by_hours["mfu_effective"] == pytest.approx(0.37)
    assert by_hours["energy_mwh"] == pytest.approx(by_mfu["energy_mwh"])


def test_core_broadcasts_like_scalar_calls():
    mfu = np.array([0.2, 0.4, 0.6])[:, None]
    chips = np.array([128, 256, 512, 1024])[None, :]
    r = train_core(1e23, chips, 2.75e14, 326, 1.11, 0.0882, 3.22, mfu=mfu)
    assert r["energy_mwh"].shape == (3, 4)
    one = train_core(1e23, 512, 2.75e14, 326, 1.11, 0.0882, 3.22, mfu=0.4)
    assert r["train_days"][1, 2] == pytest.approx(float(one["train_days"]))
    assert r["energy_mwh"][1, 2] == pytest.approx(float(one["energy_mwh"]))
    # energy does not depend on the chip count at fixed MFU; time does (1/chips)
    assert np.allclose(r["energy_mwh"][:, 0], r["energy_mwh"][:, 3])
    assert r["train_days"][0, 0] == pytest.approx(8 * r["train_days"][0, 3])


def test_estimate_uses_accounting_flops_and_names_every_source():
    cfg = load_model("glam-tiny")
    e = estimate_training(model=cfg, tokens=1e9, chip="tpu-v4", chips=8, mfu=0.4)
    expect = float(train_flops_per_token(ModelArrays.of(cfg), cfg.max_seq_len)[0]) * 1e9
    assert e.flops_total == pytest.approx(expect)
    assert e.chip_hours == pytest.approx(expect / (275e12 * 0.4) / 3600)
    assert e.energy_mwh == pytest.approx(e.chip_hours * 326 * 1.1 / 1e6)  # default: a large AI datacenter (PUE 1.10)
    assert e.cost_usd == pytest.approx(e.chip_hours * 3.22)
    led = e.ledger
    assert "tpu-v4.yaml: measured_system_power_w" in led["power_w"].source
    assert "Du et al. 2022" in led["power_w"].source
    assert "tpu-v4.yaml: peak_flops_bf16" in led["peak_flops"].source
    assert led["mfu"].source == "user input" and "bf16" in led["mfu"].unit
    assert "preset glam-tiny" in led["flops_total"].source
    d = e.to_dict()
    for key in ("flops_total", "chip_hours", "train_days", "energy_mwh", "co2e_t", "cost_usd", "ledger"):
        assert key in d


def test_measured_inputs_and_overrides_carry_their_sources():
    e = estimate_training(
        train_flops=1e22,
        chip="v100",
        chips=100,
        mfu=0.25,
        hw_flops_ratio=1.2,
        datacenter="gpt3-microsoft",
        pue=1.5,
        price_per_chip_hour_usd=1.0,
        sources={
            "train_flops": "measured on cpu, 2026-11-28",
            "mfu": "measured on cpu, 2026-11-28",
            "hw_flops_ratio": "measured: XLA / model FLOPs",
            "pue": "user input --pue",
        },
    )
    assert e.hfu == pytest.approx(0.3)
    assert e.ledger["mfu"].source.startswith("measured") and e.ledger["pue"].source == "user input --pue"
    assert e.energy_mwh == pytest.approx(1e22 / (125e12 * 0.25) / 3600 * 330 * 1.5 / 1e6)  # V100: fp16 peak
    assert e.co2e_location_t == pytest.approx(e.energy_mwh * 0.429)
    with pytest.raises(ConfigError, match="hw_flops_ratio"):
        estimate_training(train_flops=1e22, chip="v100", chips=100, mfu=0.9, hw_flops_ratio=1.2)


def test_power_falls_back_to_tdp_then_to_missing():
    e = estimate_training(
        train_flops=1e22, chip="h100-sxm", chips=8, mfu=0.4, tdp_fraction=0.8, power_model="tdp_fraction"
    )
    assert "tdp_w" in e.ledger["power_w"].source and e.ledger["power_w"].value == pytest.approx(560)
    e = estimate_training(train_flops=1e22, chip="tpu-v5e", chips=8, mfu=0.4)
    assert np.isnan(e.energy_mwh) and "missing" in e.ledger["power_w"].source
    assert e.cost_usd == pytest.approx(e.chip_hours * 1.20)


def test_without_mfu_or_hours_the_mfu_is_predicted_from_the_best_layout():
    """No --mfu, no --hours: the MFU is glamsim.predict's for the fastest layout that fits (the
    ledger names it), the same as `glamsim plan`'s first row; with given FLOPs there is no model to
    lay out, so a typed MFU is asked for."""
    from glamsim.predict.plan import best
    from glamsim.profiles import load_chip

    e = estimate_training(model="glam-8b-64e", tokens=1e11, chip="tpu-v4", chips=256)
    plan = best(load_model("glam-8b-64e"), load_chip("tpu-v4"), 256)
    assert e.mfu == pytest.approx(plan["mfu"]) and 0 < e.mfu < 1
    assert e.ledger["layout"].value == plan["layout"] and plan["layout"] in e.ledger["mfu"].source
    assert e.hfu == pytest.approx(plan["hfu"])  # the predicted hardware/model FLOPs ratio
    assert e.prediction["breakdown"] and e.to_dict()["prediction"]["layout"] == plan["layout"]
    # the steps and sequences per step are the layout's (its global batch), not the default 1,024
    d, seq = e.to_dict(), load_model("glam-8b-64e").max_seq_len
    assert d["sequences_per_step"] == plan["global_batch"] and d["steps"] == pytest.approx(
        1e11 / (plan["global_batch"] * seq)
    )
    assert "predicted layout" in e.ledger["tokens_per_step"].source
    with pytest.raises(ConfigError, match="--train-flops give --mfu or --hours"):
        estimate_training(train_flops=1e22, chip="tpu-v4", chips=8)
    with pytest.raises(ConfigError, match="layout"):
        estimate_training(model="glam-8b-64e", chip="tpu-v4", chips=256, layout="tp=4,dp=64", mfu=0.3)


@pytest.mark.parametrize(
    "kw, field",
    [
        (dict(chips=0), "chips"),
        (dict(chips=-3), "chips"),
        (dict(tokens=-5), "tokens"),
        (dict(tokens=0), "tokens"),
        (dict(mfu=1.5), "mfu"),
        (dict(mfu=0.0), "mfu"),
        (dict(mfu=(0.1, 0.5, 1.2)), "mfu"),
        (dict(hours=10), "mfu"),
        (dict(mfu=None, hours=1e-6), "hours"),
        (dict(pue=0.8), "pue"),
        (dict(power_w=-1), "power_w"),
        (dict(chip="tpu-v99"), "chip"),
        (dict(dtype="fp8"), "dtype"),
    ],
)
def test_bad_inputs_raise_one_line(kw, field):
    args = dict(model="glam-tiny", tokens=1e9, chip="tpu-v4", chips=8, mfu=0.4) | kw
    with pytest.raises(ConfigError) as err:
        estimate_training(**args)
    assert str(err.value).startswith(field) and "\n" not in str(err.value)


def test_import_cost_leaves_jax_out():
    code = "import sys, glamsim.cost, glamsim.cost.reproduce, glamsim.cost.compare; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_system_power_at_a_given_load_by_hand():
    """H100, system model: board 75 W idle (Splitwise) + 1,272 W x MFU 0.4 of tensor-core activity
    (below the 700 W cap: 583.8 W) + host share 10,200 W / 8 - 700 W = 575 W (DGX H100) = 1,158.8 W
    per chip; energy = chip-hours x that x PUE."""
    e = estimate_training(train_flops=1e22, chip="h100-sxm", chips=8, mfu=0.4, datacenter="us-average")
    assert e.power_w_per_chip == pytest.approx(75 + 1272 * 0.4 + 575)
    assert e.energy_mwh == pytest.approx(e.chip_hours * 1158.8 * 1.58 / 1e6)
    # at MFU 0.6 the board reaches its TDP and stays there
    assert estimate_training(train_flops=1e22, chip="h100-sxm", chips=8, mfu=0.6).power_w_per_chip == 700 + 575
    assert e.ledger["host_power_w"].value == 575 and "DGX H100" in e.ledger["host_power_w"].source
    assert e.co2e_location_t == pytest.approx(e.energy_mwh * 0.373) == pytest.approx(e.co2e_t)
    # the published system power of TPU v4 (GLaM) is used at every load
    assert estimate_training(train_flops=1e22, chips=8, mfu=0.1).power_w_per_chip == 326


def test_embodied_carbon_per_chip_hour_by_hand():
    """1,500 kgCO2e per chip (a made-up test figure) over 4 years x 8760 h x 0.5 = 0.0856 kg per
    chip-hour; no footprint in a profile: NaN, said in the ledger."""
    from glamsim.profiles import Spec, load_chip

    chip = load_chip("h100-sxm").model_copy(update={"embodied_kgco2e": Spec(value=1500, source="test", date="2024")})
    e = estimate_training(train_flops=1e22, chip=chip, chips=8, mfu=0.4, chip_lifetime_utilisation=0.5)
    per_hour = 1500 / (4 * 8760 * 0.5)
    assert e.ledger["embodied_kg_per_chip_hour"].value == pytest.approx(per_hour)
    assert e.embodied_boards_co2e_t == pytest.approx(e.chip_hours * per_hour / 1e3)
    e = estimate_training(train_flops=1e22, chip="mi300x", chips=8, mfu=0.4)  # no published board footprint
    assert np.isnan(e.embodied_boards_co2e_t) and "not modelled" in e.ledger["embodied_kgco2e"].source
    assert np.isnan(e.embodied_co2e_t) and e.embodied_host_co2e_t > 0  # the total needs both


def test_llama2_70b_published_run_under_meta_assumptions():
    """Meta: 1,720,320 A100-hours at 400 W, no PUE, 291.42 tCO2e -> 0.4235 kg/kWh."""
    e = estimate_training(
        train_flops=8.4e23,
        chip="a100-80gb",
        chips=2048,
        hours=1720320 / 2048,
        power_w=400,
        pue=1,
        carbon_intensity_kg_per_kwh=0.4235,
    )
    assert e.energy_mwh == pytest.approx(688.128)
    assert e.co2e_t == pytest.approx(291.42, rel=1e-3)


def test_water_litres_by_hand():
    """1e21 FLOPs at MFU 0.5 on 1e14 FLOP/s chips = 5,555.6 chip-hours at 300 W: IT energy 1,666.7 kWh,
    facility energy x PUE 1.2 = 2,000 kWh; WUE 0.5 L/kWh of IT energy -> 833.3 L on site, 3 L per kWh
    of facility energy -> 6,000 L off site."""
    r = train_core(1e21, 10, 1e14, 300, 1.2, 0.5, 2.0, mfu=0.5, wue_onsite_l_per_kwh=0.5, water_offsite_l_per_kwh=3.0)
    it_kwh = 1e21 / 5e13 / 3600 * 300 / 1e3
    assert it_kwh == pytest.approx(1666.667, rel=1e-6)
    assert r["water_onsite_l"] == pytest.approx(it_kwh * 0.5)
    assert r["water_offsite_l"] == pytest.approx(2000 * 3.0)
    assert r["water_l"] == pytest.approx(it_kwh * 0.5 + 6000)
    assert np.isnan(train_core(1e21, 10, 1e14, 300, 1.2, 0.5, 2.0, mfu=0.5)["water_l"])  # not published: NaN


def test_datacenter_pick_sets_carbon_and_water_by_hand():
    """The same run in three datacenters: only the grid (and the PUE) changes CO2e; water comes from
    the profile's WUE and grid water, NaN (said in the ledger) where the profile has none."""
    run = dict(train_flops=1e22, chip="h100-sxm", chips=8, mfu=0.4, power_w=1000.0)
    us = estimate_training(**run, datacenter="us-average")
    it_kwh = us.chip_hours * 1000 / 1e3
    assert us.energy_mwh == pytest.approx(it_kwh * 1.58 / 1e3)
    assert us.co2e_t == pytest.approx(us.energy_mwh * 0.373)
    assert us.water_onsite_l == pytest.approx(it_kwh * 0.55)  # Li et al. US average on-site WUE
    assert us.water_offsite_l == pytest.approx(it_kwh * 1.58 * 3.14)  # and off-site EWIF
    assert us.water_l == pytest.approx(us.water_onsite_l + us.water_offsite_l)
    assert "Thirsty" in us.ledger["water_offsite_l_per_kwh"].source
    fi = estimate_training(**run, datacenter="gcp-europe-north1")  # 39.32 g/kWh at Google's PUE 1.10
    assert fi.energy_mwh == pytest.approx(it_kwh * 1.10 / 1e3)
    assert fi.co2e_t == pytest.approx(fi.energy_mwh * 0.03932) == pytest.approx(fi.co2e_location_t)
    assert np.isnan(fi.water_l) and "not modelled" in fi.ledger["wue_onsite_l_per_kwh"].source
    aws = estimate_training(**run, datacenter="aws-us-east-1")  # WUE 0.12, no grid water: on-site only
    assert aws.water_onsite_l == pytest.approx(it_kwh * 0.12) and np.isnan(aws.water_offsite_l)
    assert us.to_dict()["water_l"] == us.water_l


def test_a100_embodied_footprint_reaches_the_embodied_line():
    """BLOOM's 150 kgCO2e per A100 over 4 years x 8760 h = 0.00428 kg per chip-hour."""
    e = estimate_training(train_flops=1e22, chip="a100-80gb", chips=8, mfu=0.4)
    per_hour = 150 / (4 * 8760)
    assert e.ledger["embodied_kg_per_chip_hour"].value == pytest.approx(per_hour)
    assert e.embodied_boards_co2e_t == pytest.approx(e.chip_hours * per_hour / 1e3)
    assert "BLOOM" in e.ledger["embodied_kgco2e"].source


def test_bundles_route_each_input_to_the_bundle_that_holds_it():
    """`route` changes an input wherever it lives (the ranges vary MFU, power and PUE by name); a name
    no bundle has is an error, not a silently ignored input; `rows` cuts columns, keeps plain values."""
    bundles = (TrainingRun(1e21, 10, 0.5), Hardware(1e14, 300.0), Site(1.2, 0.5, 2.0))
    run, hw, site = route(bundles, mfu=0.25, power_w=600.0, pue=1.5)
    assert (run.mfu, hw.power_w, site.pue, site.carbon_intensity_kg_per_kwh) == (0.25, 600.0, 1.5, 0.5)
    slower = training_costs(run, hw, site)
    assert slower["chip_hours"] == pytest.approx(2 * training_costs(*bundles)["chip_hours"])  # half the MFU
    assert slower["energy_mwh"] == pytest.approx(4 * 1.25 * training_costs(*bundles)["energy_mwh"])
    with pytest.raises(TypeError, match="mfu_typo"):
        route(bundles, mfu_typo=0.3)
    cut = TrainingRun(np.array([1e21, 2e21, 3e21]), 10, np.array([0.1, 0.2, 0.3])).rows(np.array([True, False, True]))
    assert cut.flops_total.tolist() == [1e21, 3e21] and cut.mfu.tolist() == [0.1, 0.3] and cut.chips == 10
