"""One energy boundary rule (issue 23): every energy output on three named boundaries (accelerator
boards, servers, facility), the host share by one rule for every chip, `tdp` accounting that
reproduces "TDP x GPU-hours x PUE" exactly, HBM in bytes as the driver reports it, and a line
saying which grid and PUE an estimate assumed when no datacenter was named."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import glamsim.api as gs
from glamsim.cli import app
from glamsim.cost import estimate_serving, estimate_training
from glamsim.profiles import load_chip, load_datacenter, registry

MIB = 2**20


@pytest.mark.parametrize("name", sorted(registry("chips")))
def test_every_chip_with_a_power_figure_has_a_host_share_by_the_rule(name):
    chip = load_chip(name)
    if chip.tdp_w is None and chip.measured_system_power_w is None:
        pytest.skip(f"{name}: no power figure at all (its energy is NaN, said in the ledger)")
    host = chip.host_power_w
    assert host is not None and host.value > 0, name
    src = host.source.lower()
    # the rule: a reference server's published system power over its chips less the board TDP, or an
    # estimate labelled as such
    assert ("derived" in src and ("system" in src or "max" in src)) or src.startswith("estimate"), src


def test_the_host_share_of_a_dgx_is_its_maximum_power_per_gpu_less_the_board():
    for name, server_kw in (("h100-sxm", 10.2), ("h200", 10.2), ("a100-80gb", 6.5), ("b200", 14.3), ("v100", 3.5)):
        chip = load_chip(name)
        assert chip.host_power_w.value == pytest.approx(server_kw * 1e3 / 8 - chip.tdp_w.value), name


def test_h100_and_h200_at_the_same_work_differ_only_by_what_the_chips_differ_in():
    """Same dense peak, TDP, idle and host share: the same time and energy on every boundary."""
    h100, h200 = (estimate_training(chip=c, chips=2048, mfu=0.4) for c in ("h100-sxm", "h200"))
    for k in ("chip_hours", "energy_boards_mwh", "energy_server_mwh", "energy_mwh", "co2e_t"):
        assert h100[k] == h200[k], k
    s100, s200 = (estimate_serving(model="gpt3-175b", chip=c, chips=8, batch=8) for c in ("h100-sxm", "h200"))
    # serving differs by HBM bandwidth (4.8 vs 3.35 TB/s): the faster step costs less energy per token
    assert s200["decode_step_s"] < s100["decode_step_s"]
    assert s200["joules_per_token_boards"] < s100["joules_per_token_boards"]


def test_three_boundaries_nest_and_follow_from_one_another():
    e = estimate_training(chip="h100-sxm", chips=1024, mfu=0.35, datacenter="gcp-us-central1")
    host = load_chip("h100-sxm").host_power_w.value
    pue = load_datacenter("gcp-us-central1").pue.value
    assert e.energy_server_mwh == pytest.approx(e.chip_hours * e.power_w_per_chip / 1e6)
    assert e.energy_boards_mwh == pytest.approx(e.energy_server_mwh - e.chip_hours * host / 1e6)
    assert e.energy_mwh == pytest.approx(e.energy_server_mwh * pue)
    assert 0 < e.energy_boards_mwh < e.energy_server_mwh < e.energy_mwh
    s = estimate_serving(model="gpt3-175b", chip="h100-sxm", batch=32, datacenter="gcp-us-central1")
    assert s["joules_per_token"] == pytest.approx(s["joules_per_token_server"] * pue)
    assert 0 < s["joules_per_token_boards"] < s["joules_per_token_server"] < s["joules_per_token"]
    per_chip = s["decode_power_w_per_chip"] - host  # the boards' share of a decode step
    step = s["serving_chips_used"] * per_chip * s["decode_step_s"] / 32
    assert s["joules_per_token_boards"] == pytest.approx(step)


def test_a_given_power_per_chip_is_on_the_server_boundary_with_no_board_split():
    e = estimate_training(chip="h100-sxm", mfu=0.4, power_w=900.0)
    assert e.energy_server_mwh == pytest.approx(e.chip_hours * 900 / 1e6)
    assert e.energy_boards_mwh != e.energy_boards_mwh  # NaN: not known
    assert "not known" in e.ledger["host_power_w"].source


def test_tdp_accounting_reproduces_tdp_times_gpu_hours_times_pue_exactly():
    """The common report: TDP x GPU-hours x PUE, even for a chip with a measured system power (V100)."""
    for chip in ("a100-80gb", "v100", "tpu-v4"):
        e = estimate_training(chip=chip, chips=512, hours=5000.0, power_model="tdp", datacenter="gcp-us-central1")
        tdp, pue = load_chip(chip).tdp_w.value, load_datacenter("gcp-us-central1").pue.value
        assert e.energy_mwh == pytest.approx(tdp * 512 * 5000.0 * pue / 1e6, rel=1e-15), chip
        assert e.energy_boards_mwh == e.energy_server_mwh  # the convention has no host share
    half = estimate_training(chip="a100-80gb", chips=512, hours=5000.0, power_model="tdp", tdp_fraction=0.5)
    assert half.power_w_per_chip == 200.0
    old = estimate_training(chip="a100-80gb", chips=512, hours=5000.0, power_model="tdp_fraction")
    assert old.energy_mwh == estimate_training(chip="a100-80gb", chips=512, hours=5000.0, power_model="tdp").energy_mwh


def test_hbm_is_counted_in_bytes_as_the_driver_reports_it():
    assert load_chip("a100-80gb").hbm_gb.value * 1e9 == 81920 * MIB  # "80 GB" = 80 GiB
    assert load_chip("h100-sxm").hbm_gb.value * 1e9 == 81559 * MIB
    assert load_chip("a100-40gb").hbm_gb.value * 1e9 == 40960 * MIB
    # a model that needs 78 GB of weights and cache fits one A100 80GB at 90% usable (77.3 GB would not)
    assert 0.9 * load_chip("a100-80gb").hbm_gb.value > 77.3


def test_an_estimate_with_no_datacenter_named_says_in_one_line_which_grid_and_pue_it_assumed():
    r = CliRunner().invoke(app, ["estimate", "train", "--mfu", "0.3", "--json"], prog_name="glamsim")
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("assumed:")]
    assert r.exit_code == 0 and len(lines) == 1 and "us-ai-datacenter" in lines[0] and "PUE 1.1" in lines[0]
    assert json.loads(r.stdout)["notes"] == lines
    named = CliRunner().invoke(app, ["estimate", "serve", "--datacenter", "us-average", "--json"], prog_name="glamsim")
    assert named.exit_code == 0 and "assumed:" not in named.stderr


def test_every_face_reports_the_three_boundaries():
    frame = gs.train(chip=["h100-sxm", "tpu-v4"], mfu=0.3).frame
    assert {"energy_boards_mwh", "energy_server_mwh", "energy_mwh"} <= set(frame.columns)
    tpu = frame.iloc[1]  # a measured system power: its boards are that less the host share
    assert tpu["energy_boards_mwh"] == pytest.approx(tpu["chip_hours"] * (326 - 156) / 1e6)
    serve = gs.serve(chip="h100-sxm").frame
    assert {"joules_per_token_boards", "joules_per_token_server", "joules_per_token"} <= set(serve.columns)
