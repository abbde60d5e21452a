"""Study sweeps: expansion, values against single-scenario cost calls, resume, built-in studies."""

import itertools

import numpy as np
import pandas as pd
import pytest

from glamsim.config import ConfigError, load_model
from glamsim.cost import estimate_inference, estimate_training
from glamsim.studies.runner import run_study
from glamsim.studies.spec import builtin_studies, load_spec, parse_spec
from glamsim.studies.sweep import expand

GRID = {
    "name": "grid",
    "title": "grid test",
    "evaluate": ["training", "inference"],
    "base": {"tokens": 1.0e9, "chips": 64, "batch": 8, "prompt_len": 512, "gen_len": 64},
    "axes": {
        "model": ["glam-8b-64e", "glam-8b-dense"],
        "chip": ["tpu-v4", "h100-sxm", "v100"],
        "mfu": [0.25, 0.5],
        "datacenter": ["glam-google-oklahoma", "us-average"],
    },
}


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    spec = parse_spec(GRID, "grid.yaml")
    return run_study(spec, tmp_path_factory.mktemp("grid"), progress=False)


def test_grid_rows_are_the_cartesian_product(grid_run):
    df = grid_run.results
    assert len(df) == 2 * 3 * 2 * 2
    combos = set(zip(df["model"], df["chip"], df["mfu"], df["datacenter"]))
    assert combos == set(itertools.product(*GRID["axes"].values()))
    assert (df["scenario"] == np.arange(len(df))).all()


def test_grid_values_match_single_estimate_calls(grid_run):
    for r in grid_run.results.itertuples():
        t = estimate_training(chip=r.chip, chips=r.chips, datacenter=r.datacenter, model=r.model,
                              tokens=r.tokens, seq_len=r.seq_len, mfu=r.mfu)
        for key in ("flops_total", "chip_hours", "train_days", "energy_mwh", "co2e_t", "cost_usd"):
            assert getattr(r, key) == pytest.approx(getattr(t, key), rel=1e-12), (key, r.model, r.chip)
        i = estimate_inference(model=r.model, chip=r.chip, datacenter=r.datacenter, batch=r.batch,
                               prompt_len=r.prompt_len, gen_len=r.gen_len)
        assert r.serving_min_chips == i["min_chips"]
        for key in ("decode_step_s", "joules_per_token", "usd_per_million_tokens", "weight_gb_total",
                    "experts_touched_per_moe_layer"):
            assert getattr(r, key) == pytest.approx(i[key], rel=1e-12), (key, r.model, r.chip)


def test_grid_writes_its_files_and_ledger(grid_run):
    out = grid_run.out_dir
    assert pd.read_csv(out / "results.csv").shape == grid_run.results.shape
    import json

    ledger = json.loads((out / "ledger.json").read_text())
    assert ledger["n_scenarios"] == 24 and ledger["glamsim_version"]
    power = {e["name"]: e for e in ledger["sources"]["chips"]["tpu-v4"]}["power_w"]
    assert power["value"] == 326 and "Du et al. 2022" in power["source"]
    assert not (out / ".partial").exists()


def test_model_field_axes_match_edited_configs(tmp_path):
    spec = parse_spec({"name": "e", "title": "e", "base": {"model": "glam-1.7b-64e", "tokens": 1e9},
                       "axes": {"model.n_experts": [8, 32], "model.top_k": [1, 2]}}, "e.yaml")
    df = run_study(spec, tmp_path, progress=False).results
    assert list(zip(df["n_experts"], df["top_k"])) == [(8, 1), (8, 2), (32, 1), (32, 2)]
    base = load_model("glam-1.7b-64e")
    for r in df.itertuples():
        cfg = base.replace(n_experts=r.n_experts, top_k=r.top_k)
        t = estimate_training(chip=r.chip, chips=r.chips, datacenter=r.datacenter, model=cfg,
                              tokens=r.tokens, mfu=r.mfu)
        assert r.energy_mwh == pytest.approx(t.energy_mwh, rel=1e-12)
    # more experts: more parameters, (nearly) the same activated parameters
    assert df["params_total"].iloc[2] > 3 * df["params_total"].iloc[0]


def test_zip_ranges_and_one_at_a_time_expansion():
    zipped = expand(parse_spec({"name": "z", "title": "z", "combine": "zip", "axes": {
        "batch": {"start": 1, "stop": 1000, "num": 4, "log": True, "integer": True},
        "mfu": {"start": 0.1, "stop": 0.4, "step": 0.1}}}, "z.yaml"))
    assert zipped["batch"].tolist() == [1, 10, 100, 1000]
    assert zipped["mfu"].tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4])
    oat = expand(parse_spec({"name": "o", "title": "o", "base": {"mfu": 0.3, "pue": 1.1}, "combine": "one_at_a_time",
                             "axes": {"mfu": [0.2, 0.4], "pue": [1.05, 1.5, 1.6]}}, "o.yaml"))
    assert oat["varied"].tolist() == ["base", "mfu", "mfu", "pue", "pue", "pue"]
    assert oat["mfu"].tolist() == [0.3, 0.2, 0.4, 0.3, 0.3, 0.3]
    assert oat["pue"].tolist() == [1.1, 1.1, 1.1, 1.05, 1.5, 1.6]


RESUME = {"name": "resume", "title": "resume", "chunk_size": 7, "evaluate": ["training", "inference"],
          "axes": {"chip": ["tpu-v4", "h100-sxm", "a100-80gb"], "mfu": {"start": 0.2, "stop": 0.5, "num": 4},
                   "batch": [1, 8, 64, 512]}}


class Interrupt(Exception):
    pass


def test_interrupted_sweep_resumes_to_the_same_files(tmp_path):
    spec = parse_spec(RESUME, "resume.yaml")
    full = run_study(spec, tmp_path / "full", progress=False)
    assert len(full.results) == 48 and full.chunks_computed == 7

    def stop_after_third(i):
        if i == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_study(spec, tmp_path / "cut", progress=False, on_chunk=stop_after_third)
    assert len(list((tmp_path / "cut" / ".partial").glob("chunk-*.parquet"))) == 3
    assert not (tmp_path / "cut" / "results.parquet").exists()
    resumed = run_study(spec, tmp_path / "cut", resume=True, progress=False)
    assert (resumed.chunks_resumed, resumed.chunks_computed) == (3, 4)
    for name in ("results.parquet", "results.csv"):
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "full" / name).read_bytes()
    again = run_study(spec, tmp_path / "cut", resume=True, progress=False)  # finished: nothing recomputed
    assert again.chunks_computed == 0 and again.results.equals(resumed.results)


def test_resume_refuses_a_partial_run_of_another_spec(tmp_path):
    spec = parse_spec(RESUME, "resume.yaml")
    with pytest.raises(Interrupt):
        run_study(spec, tmp_path, progress=False, on_chunk=lambda i: (_ for _ in ()).throw(Interrupt()))
    other = parse_spec({**RESUME, "axes": {**RESUME["axes"], "batch": [1, 2]}}, "other.yaml")
    with pytest.raises(ConfigError, match="partial run of another spec"):
        run_study(other, tmp_path, resume=True, progress=False)
    assert len(list((tmp_path / ".partial").glob("chunk-*.parquet"))) == 1  # nothing lost


@pytest.mark.parametrize("name", sorted(builtin_studies()))
def test_every_builtin_study_runs_and_writes_its_files(tmp_path, name):
    spec = load_spec(name)
    run = run_study(spec, tmp_path, progress=False)
    assert len(run.results) == len(expand(spec)) > 0
    for f in ("results.parquet", "results.csv", "ledger.json"):
        assert (tmp_path / f).stat().st_size > 0
    for fig in spec.figures:
        for ext in ("png", "svg"):
            assert (tmp_path / f"{fig.name}.{ext}").stat().st_size > 5000
    assert {c for f in spec.figures for c in f.columns()} <= set(run.results.columns)


def test_builtin_glam_vs_gpt3_reproduces_published_rows(tmp_path):
    spec = load_spec("glam-vs-gpt3").model_copy(update={"figures": []})
    df = run_study(spec, tmp_path, progress=False).results
    pub = df[df["hours"].notna()].set_index("model")
    # Du et al. 2022 Sec. 6: 456 MWh, 40.2 net tCO2e; Patterson et al. 2021 Table 4: 1,287 MWh, 552.1 tCO2e
    assert pub.loc["glam-64b-64e", "energy_mwh"] == pytest.approx(456, rel=0.02)
    assert pub.loc["glam-64b-64e", "co2e_t"] == pytest.approx(40.2, rel=0.02)
    assert pub.loc["gpt3-175b", "energy_mwh"] == pytest.approx(1287, rel=0.02)
    assert pub.loc["gpt3-175b", "co2e_t"] == pytest.approx(552.1, rel=0.02)


def test_studies_and_plots_do_not_import_jax():
    import subprocess
    import sys

    code = "import sys, glamsim.studies.runner, glamsim.plots, glamsim.cli.study_cmds; print('jax' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


def test_measured_record_sets_mfu_on_its_own_chip_only(tmp_path):
    from glamsim.measure.record import SCHEMA, Measurement

    rec = Measurement(  # a record as `glamsim measure` writes it on a TPU v4 (figures made up for the test)
        record_schema=SCHEMA, created_at="2026-01-01T00:00:00+00:00", glamsim_version="test",
        model="glam-tiny", model_config_data={}, batch=8, seq_len=128, dispatch="scatter", backend="tpu",
        device_kind="TPU v4", n_devices=1, jax_version="test", lower_s=1, compile_s=1,
        xla_flops_per_step_per_device=1.05e9, xla_bytes_per_step_per_device=1e8, xla_flops_per_step=1.05e9,
        model_flops_per_step=1e9, hardware_flops_per_step=1.02e9, steps=5, step_time_median_s=0.01,
        step_time_p10_s=0.01, step_time_p90_s=0.01, tokens_per_s=1e5, achieved_model_flops_per_s=1e11,
        achieved_xla_flops_per_s=1.05e11, peak_flops_per_s=2.75e14, peak_source="test", mfu=0.42, hfu=0.44)
    path = rec.save(tmp_path / "tpu.json")
    spec = parse_spec({"name": "measured", "title": "measured", "evaluate": ["training"],
                       "base": {"model": "glam-8b-64e", "tokens": 1e9, "chips": 64, "mfu": 0.3, "measured": str(path)},
                       "axes": {"chip": ["tpu-v4", "h100-sxm"]}}, "measured.yaml")
    run = run_study(spec, tmp_path / "out", progress=False)
    df = run.results.set_index("chip")
    assert df.loc["tpu-v4", "mfu"] == pytest.approx(0.42) and df.loc["h100-sxm", "mfu"] == pytest.approx(0.3)
    single = estimate_training(chip="tpu-v4", chips=64, model="glam-8b-64e", tokens=1e9, mfu=0.42)
    assert df.loc["tpu-v4", "energy_mwh"] == pytest.approx(single.energy_mwh, rel=1e-12)
    import json

    ledger = json.loads((run.out_dir / "ledger.json").read_text())["sources"]["measurements"]
    assert "measured on TPU v4" in ledger[f"{path} on tpu-v4"] and "not used" in ledger[f"{path} on h100-sxm"]
