"""Study sweeps: expansion, values against single-scenario cost calls, resume, built-in studies."""

import itertools

import numpy as np
import pandas as pd
import pytest

from glamsim.config import ConfigError, load_model
from glamsim.cost import estimate_serving, estimate_training
from glamsim.studies.runner import run_study
from glamsim.studies.spec import builtin_studies, load_spec, parse_spec
from glamsim.studies.sweep import expand

GRID = {
    "name": "grid",
    "title": "grid test",
    "evaluate": ["training", "serving"],
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
        t = estimate_training(
            chip=r.chip,
            chips=r.chips,
            datacenter=r.datacenter,
            model=r.model,
            tokens=r.tokens,
            seq_len=None if pd.isna(r.seq_len) else int(r.seq_len),
            mfu=r.mfu,
        )
        for key in ("flops_total", "chip_hours", "train_days", "energy_mwh", "co2e_t", "cost_usd"):
            assert getattr(r, key) == pytest.approx(getattr(t, key), rel=1e-12), (key, r.model, r.chip)
        i = estimate_serving(
            model=r.model,
            chip=r.chip,
            datacenter=r.datacenter,
            batch=r.batch,
            prompt_len=r.prompt_len,
            gen_len=r.gen_len,
        )
        assert r.serving_min_chips == i["serving_min_chips"]
        for key in (
            "decode_step_s",
            "joules_per_token",
            "usd_per_million_tokens",
            "weight_gb_total",
            "experts_touched_per_moe_layer",
        ):
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
    spec = parse_spec(
        {
            "name": "e",
            "title": "e",
            "base": {"model": "glam-1.7b-64e", "tokens": 1e9},
            "axes": {"model.n_experts": [8, 32], "model.top_k": [1, 2]},
        },
        "e.yaml",
    )
    df = run_study(spec, tmp_path, progress=False).results
    assert list(zip(df["n_experts"], df["top_k"])) == [(8, 1), (8, 2), (32, 1), (32, 2)]
    base = load_model("glam-1.7b-64e")
    for r in df.itertuples():
        cfg = base.replace(n_experts=r.n_experts, top_k=r.top_k)
        t = estimate_training(
            chip=r.chip, chips=r.chips, datacenter=r.datacenter, model=cfg, tokens=r.tokens, mfu=r.mfu
        )
        assert r.energy_mwh == pytest.approx(t.energy_mwh, rel=1e-12)
    # more experts: more parameters, (nearly) the same activated parameters
    assert df["params_total"].iloc[2] > 3 * df["params_total"].iloc[0]


def test_zip_ranges_and_one_at_a_time_expansion():
    zipped = expand(
        parse_spec(
            {
                "name": "z",
                "title": "z",
                "combine": "zip",
                "axes": {
                    "batch": {"start": 1, "stop": 1000, "num": 4, "log": True, "integer": True},
                    "mfu": {"start": 0.1, "stop": 0.4, "step": 0.1},
                },
            },
            "z.yaml",
        )
    )
    assert zipped["batch"].tolist() == [1, 10, 100, 1000]
    assert zipped["mfu"].tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4])
    oat = expand(
        parse_spec(
            {
                "name": "o",
                "title": "o",
                "base": {"mfu": 0.3, "pue": 1.1},
                "combine": "one_at_a_time",
                "axes": {"mfu": [0.2, 0.4], "pue": [1.05, 1.5, 1.6]},
            },
            "o.yaml",
        )
    )
    assert oat["varied"].tolist() == ["base", "mfu", "mfu", "pue", "pue", "pue"]
    assert oat["mfu"].tolist() == [0.3, 0.2, 0.4, 0.3, 0.3, 0.3]
    assert oat["pue"].tolist() == [1.1, 1.1, 1.1, 1.05, 1.5, 1.6]


RESUME = {
    "name": "resume",
    "title": "resume",
    "chunk_size": 7,
    "evaluate": ["training", "serving"],
    "axes": {
        "chip": ["tpu-v4", "h100-sxm", "a100-80gb"],
        "mfu": {"start": 0.2, "stop": 0.5, "num": 4},
        "batch": [1, 8, 64, 512],
    },
}


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


def _interrupt_after(last: int):
    def hook(i):
        if i == last:
            raise Interrupt

    return hook


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The RESUME study run without interruption: the bytes every resumed run must reproduce."""
    out = tmp_path_factory.mktemp("reference")
    run_study(parse_spec(RESUME, "resume.yaml"), out, progress=False)
    return {name: (out / name).read_bytes() for name in ("results.parquet", "results.csv", "ledger.json")}


def _same_files(out, reference):
    for name, data in reference.items():
        assert (out / name).read_bytes() == data, name
    assert not (out / ".partial").exists()


def _cut(tmp_path, last=2):
    """The RESUME study interrupted after chunk `last` in tmp_path/cut."""
    out = tmp_path / "cut"
    with pytest.raises(Interrupt):
        run_study(parse_spec(RESUME, "resume.yaml"), out, progress=False, on_chunk=_interrupt_after(last))
    return out


def _resume(out, **kw):
    said = []
    run = run_study(parse_spec(RESUME, "resume.yaml"), out, resume=True, progress=False, warn=said.append, **kw)
    assert said == run.warnings
    return run, said


def test_partial_manifest_records_each_chunk_checksum(tmp_path):
    import hashlib
    import json

    out = _cut(tmp_path)
    manifest = json.loads((out / ".partial" / "manifest.json").read_text())
    assert sorted(manifest["chunks"]) == ["0", "1", "2"]
    for i, got in manifest["chunks"].items():
        data = (out / ".partial" / f"chunk-{int(i):05d}.parquet").read_bytes()
        assert got == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _flip(p):
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))


def _unlist(out, i):
    import json

    m = out / ".partial" / "manifest.json"
    data = json.loads(m.read_text())
    del data["chunks"][str(i)]
    m.write_text(json.dumps(data))


CHUNK_DAMAGE = {  # how chunk 1 (or the manifest's entry of chunk 2) is damaged -> the warning
    "flipped": (lambda out, p: _flip(p), "chunk 1 damaged (checksum mismatch); recomputing"),
    "truncated": (lambda out, p: p.write_bytes(p.read_bytes()[:100]), "chunk 1 damaged (truncated: 100 bytes"),
    "empty": (lambda out, p: p.write_bytes(b""), "chunk 1 empty; recomputing"),
    "deleted": (lambda out, p: p.unlink(), "chunk 1 missing; recomputing"),
    "not_parquet": (lambda out, p: p.write_bytes(b"x" * p.stat().st_size), "chunk 1 damaged (checksum mismatch)"),
    "a_folder": (lambda out, p: (p.unlink(), p.mkdir()), "chunk 1 damaged (not a plain file); recomputing"),
    "not_listed": (lambda out, p: _unlist(out, 2), "chunk 2 not in the manifest; recomputing"),
}


@pytest.mark.parametrize("damage", sorted(CHUNK_DAMAGE))
def test_resume_recomputes_a_damaged_chunk_with_one_warning(tmp_path, reference, damage):
    how, warning = CHUNK_DAMAGE[damage]
    out = _cut(tmp_path)
    how(out, out / ".partial" / "chunk-00001.parquet")
    run, said = _resume(out)
    assert len(said) == 1 and said[0].startswith(warning), said
    assert (run.chunks_resumed, run.chunks_computed) == (2, 5)
    _same_files(out, reference)


def test_resume_removes_stray_files_and_reuses_the_good_chunks(tmp_path, reference):
    out = _cut(tmp_path)
    (out / ".partial" / "notes.txt").write_text("mine")
    (out / ".partial" / ".chunk-00003.parquet.0123abcd.tmp").write_bytes(b"half a chunk")
    (out / ".partial" / "chunk-00099.parquet").write_bytes(b"from nowhere")
    run, said = _resume(out)
    assert len(said) == 1 and "notes.txt is not part of the run; removed" in said[0], said
    assert (run.chunks_resumed, run.chunks_computed) == (3, 4)
    _same_files(out, reference)


MANIFEST_DAMAGE = {
    "not_json": ("{not json", "damaged (corrupted JSON"),
    "wrong_fields": ('{"study": "resume"}', "damaged ("),
    "bad_checksum_field": (None, "damaged ("),
    "chunk_out_of_range": (None, "damaged (chunk 99 listed"),
    "deleted": ("", "manifest.json missing"),
}


@pytest.mark.parametrize("damage", sorted(MANIFEST_DAMAGE))
def test_resume_over_a_damaged_manifest_starts_afresh_with_a_warning(tmp_path, reference, damage):
    import json

    text, warning = MANIFEST_DAMAGE[damage]
    out = _cut(tmp_path)
    m = out / ".partial" / "manifest.json"
    data = json.loads(m.read_text())
    if damage == "bad_checksum_field":
        data["chunks"]["0"]["sha256"] = "not hex"
        text = json.dumps(data)
    elif damage == "chunk_out_of_range":
        data["chunks"]["99"] = data["chunks"]["0"]
        text = json.dumps(data)
    m.unlink() if damage == "deleted" else m.write_text(text)
    run, said = _resume(out)
    assert len(said) == 1 and warning in said[0] and said[0].endswith("starting the partial run afresh"), said
    assert (run.chunks_resumed, run.chunks_computed) == (0, 7)
    _same_files(out, reference)


FINAL_DAMAGE = {
    "results.parquet": lambda out: (out / "results.parquet").write_bytes((out / "results.parquet").read_bytes()[:-9]),
    "results.csv": lambda out: _flip(out / "results.csv"),
    "ledger.json": lambda out: (out / "ledger.json").write_text("{}"),
    "results.csv deleted": lambda out: (out / "results.csv").unlink(),
    ".done.json deleted": lambda out: (out / ".done.json").unlink(),
    ".done.json corrupted": lambda out: (out / ".done.json").write_text("[1, 2"),
}


@pytest.mark.parametrize("damage", sorted(FINAL_DAMAGE))
def test_resume_recomputes_damaged_final_results(tmp_path, reference, damage):
    out = tmp_path / "cut"
    run_study(parse_spec(RESUME, "resume.yaml"), out, progress=False)
    FINAL_DAMAGE[damage](out)
    run, said = _resume(out)
    assert len(said) == 1 and said[0].endswith("recomputing the study"), said
    assert damage.split()[0] in said[0]
    assert (run.chunks_resumed, run.chunks_computed) == (0, 7)
    _same_files(out, reference)
    again, said = _resume(out)  # verified now: nothing recomputed, nothing said
    assert (again.chunks_computed, said) == (0, [])


def test_resume_after_a_crash_before_the_done_manifest_rebuilds_from_the_chunks(tmp_path, reference):
    out = _cut(tmp_path, last=6)  # every chunk on disk, then a crash before the final files
    for name, data in reference.items():
        (out / name).write_bytes(data[:-5])  # half-written by a writer that was not atomic
    run, said = _resume(out)
    assert said == [f"{out}: results carry no checksums (.done.json missing); rebuilding them from the partial run"]
    assert (run.chunks_resumed, run.chunks_computed) == (7, 0)
    _same_files(out, reference)


def test_resume_warnings_reach_stderr_one_line_each(tmp_path, reference):
    import yaml
    from badinput import run as glamsim

    out = _cut(tmp_path)
    _flip(out / ".partial" / "chunk-00000.parquet")
    (out / ".partial" / "chunk-00002.parquet").unlink()
    (tmp_path / "resume.yaml").write_text(yaml.safe_dump(RESUME, sort_keys=False))
    result, _ = glamsim(["study", "resume.yaml", "--out", "cut", "--resume", "--json"], tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        "warning: chunk 0 damaged (checksum mismatch); recomputing",
        "warning: chunk 2 missing; recomputing",
    ]
    _same_files(out, reference)


def test_a_run_leaves_no_temporary_files_and_ordinary_permissions(tmp_path):
    import os

    old = os.umask(0o027)
    try:
        run_study(parse_spec(RESUME, "resume.yaml"), tmp_path, progress=False)
    finally:
        os.umask(old)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [".done.json", "ledger.json", "results.csv", "results.parquet"]
    for name in names:
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name


def test_io_does_not_touch_the_umask_at_import(monkeypatch):
    import importlib
    import os

    from glamsim.studies import io

    def no(*a):
        raise AssertionError("os.umask called")

    monkeypatch.setattr(os, "umask", no)
    importlib.reload(io)


def test_size_is_refused_before_expansion(tmp_path):
    import tracemalloc

    huge = {
        "name": "huge",
        "title": "huge",
        "axes": {
            "mfu": {"start": 0.1, "stop": 1, "num": 1000},
            "pue": {"start": 1, "stop": 2, "num": 1000},
            "chips": {"start": 1, "stop": 1000, "num": 1000},
        },
    }
    tracemalloc.start()
    try:
        spec = parse_spec(huge, "huge.yaml")
        with pytest.raises(ConfigError, match=r"huge: 1,000,000,000 scenarios exceed the limit of 5,000,000"):
            expand(spec)
        with pytest.raises(ConfigError, match="exceed the limit of 5,000,000"):
            run_study(spec, tmp_path / "out", progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50e6  # nothing of the billion rows was allocated
    assert not (tmp_path / "out").exists()
    small = parse_spec(RESUME, "resume.yaml")
    with pytest.raises(ConfigError, match="48 scenarios exceed the limit of 47"):
        expand(small, max_scenarios=47)
    assert len(expand(small, max_scenarios=48)) == 48


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
    from badinput import tpu_record

    rec = tpu_record()
    path = rec.save(tmp_path / "tpu.json")
    spec = parse_spec(
        {
            "name": "measured",
            "title": "measured",
            "evaluate": ["training"],
            "base": {"model": "glam-8b-64e", "tokens": 1e9, "chips": 64, "mfu": 0.3, "measured": str(path)},
            "axes": {"chip": ["tpu-v4", "h100-sxm"]},
        },
        "measured.yaml",
    )
    run = run_study(spec, tmp_path / "out", progress=False)
    df = run.results.set_index("chip")
    assert df.loc["tpu-v4", "mfu"] == pytest.approx(0.42) and df.loc["h100-sxm", "mfu"] == pytest.approx(0.3)
    single = estimate_training(chip="tpu-v4", chips=64, model="glam-8b-64e", tokens=1e9, mfu=0.42)
    assert df.loc["tpu-v4", "energy_mwh"] == pytest.approx(single.energy_mwh, rel=1e-12)
    import json

    ledger = json.loads((run.out_dir / "ledger.json").read_text())["sources"]["measurements"]
    assert "measured on TPU v4" in ledger[f"{path} on tpu-v4"] and "not used" in ledger[f"{path} on h100-sxm"]
