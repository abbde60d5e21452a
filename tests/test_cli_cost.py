"""The cost commands as a user runs them (subprocess: real exit codes and one-line errors)."""

import json
import subprocess
import sys

import pytest

from glamsim.cost.training import estimate_training


def glamsim(*args):
    return subprocess.run([sys.executable, "-m", "glamsim", *args], capture_output=True, text=True)


def test_estimate_json_matches_the_api():
    r = glamsim(
        "estimate",
        "--model",
        "glam-64b-64e",
        "--chip",
        "tpu-v4",
        "--chips",
        "1024",
        "--tokens",
        "600e9",
        "--mfu",
        "0.2,0.3,0.4",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    for key in ("flops_total", "chip_hours", "train_days", "energy_mwh", "co2e_t", "cost_usd", "ledger"):
        assert key in d
    api = estimate_training(model="glam-64b-64e", tokens=600e9, chip="tpu-v4", chips=1024, mfu=0.3)
    assert d["energy_mwh"] == pytest.approx(api.energy_mwh) and d["cost_usd"] == pytest.approx(api.cost_usd)
    assert d["ranges"]["energy_mwh"] == pytest.approx([api.energy_mwh * 0.75, api.energy_mwh * 1.5])
    assert {e["name"] for e in d["ledger"]} >= {
        "chips",
        "tokens",
        "flops_total",
        "peak_flops",
        "mfu",
        "power_w",
        "pue",
        "carbon_intensity_kg_per_kwh",
        "price_per_chip_hour_usd",
    }


def test_estimate_train_flops_hours_and_overrides_table():
    r = glamsim(
        "estimate",
        "--train-flops",
        "1e22",
        "--chip",
        "v100",
        "--chips",
        "512",
        "--hours",
        "100",
        "--power-w",
        "250",
        "--pue",
        "1.5",
        "--carbon-intensity",
        "0.3",
        "--price-per-chip-hour",
        "1",
    )
    assert r.returncode == 0, r.stderr
    assert "energy_mwh" in r.stdout and "user input --power-w" in r.stdout and "19.2" in r.stdout  # 512x100x250x1.5


def test_inference_json():
    r = glamsim("estimate", "--inference", "--model", "glam-tiny", "--chip", "h100-sxm", "--batch", "8", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["serving_min_chips"] == 1 and d["joules_per_token"] > 0 and d["usd_per_million_tokens"] > 0 and d["ledger"]


def test_profiles_compare_reproduce():
    r = glamsim("profiles")
    assert r.returncode == 0 and "tpu-v4" in r.stdout and "gpt3-microsoft" in r.stdout
    r = glamsim("compare", "glam-64b-64e", "gpt3-175b", "--json")
    assert r.returncode == 0, r.stderr
    glam, gpt3 = json.loads(r.stdout)
    assert (glam["zero_shot"], glam["one_shot"], glam["few_shot"]) == (62.7, 65.5, 68.1)
    assert (gpt3["zero_shot"], gpt3["one_shot"], gpt3["few_shot"]) == (56.9, 61.6, 65.2)
    assert glam["energy_mwh"] < gpt3["energy_mwh"] and glam["serve_min_chips"] > gpt3["serve_min_chips"]
    r = glamsim("reproduce")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "GLaM energy, first 280B tokens" in r.stdout and "implied MFU" in r.stdout


BAD_CHIP = (
    'name: broken\nvendor: x\nhbm_gb: {value: -4, source: s, date: "2025"}\n'
    'hbm_bandwidth_gb_per_s: {value: 1, source: s, date: "2025"}\n'
    'peak_flops_bf16: {value: 1.0e+12, source: s, date: "2025"}\n'
)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--chip", "tpu-v99", "--chips", "8"], "chip='tpu-v99'"),
        (["--chips", "0"], "chips=0"),
        (["--chips", "8", "--tokens", "-5"], "tokens=-5"),
        (["--chips", "8", "--mfu", "1.5"], "mfu=1.5"),
        (["--chips", "8", "--mfu", "0"], "mfu=0"),
        (["--chips", "8", "--datacenter", "mars"], "datacenter='mars'"),
        (["--chips", "8", "--chip", "PROFILE"], "hbm_gb.value=-4"),
        (["--chips", "8", "--profiles-dir", "DIR", "--chip", "broken"], "hbm_gb.value=-4"),
    ],
)
def test_bad_inputs_one_line_exit_2(tmp_path, args, needle):
    (tmp_path / "chips").mkdir()
    (tmp_path / "chips" / "broken.yaml").write_text(BAD_CHIP)
    args = [
        str(tmp_path / "chips" / "broken.yaml") if a == "PROFILE" else str(tmp_path) if a == "DIR" else a for a in args
    ]
    if "--tokens" not in args:
        args += ["--tokens", "1e9"]
    r = glamsim("estimate", "--model", "glam-tiny", *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    if "broken" in " ".join(args):
        assert "broken.yaml" in r.stderr


def test_estimate_statement_states_the_figures_and_sources():
    r = glamsim(
        "estimate",
        "--model",
        "glam-64b-64e",
        "--chip",
        "tpu-v4",
        "--chips",
        "1024",
        "--tokens",
        "600e9",
        "--mfu",
        "0.285",
        "--statement",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    text = d["statement"]
    from glamsim.cost.report import num  # the statement's own number style (3 significant figures)

    assert f"{num(d['energy_mwh'])} MWh" in text and f"{num(d['co2e_t'])} tCO2e" in text
    assert "us-ai-datacenter" in text  # the default datacenter, named
    assert "1,024 tpu-v4 chips" in text and "measured_system_power_w" in text
