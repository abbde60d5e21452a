"""Malformed study specs fail with one line naming the key; the CLI exits 2 and loses nothing."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from glamsim.config import ConfigError
from glamsim.studies.runner import run_study
from glamsim.studies.spec import count_scenarios, load_spec, parse_spec
from glamsim.studies.sweep import expand

GOOD = "name: s\ntitle: t\n"


@pytest.mark.parametrize(
    "body, named",
    [
        ("colour: red\n", "colour"),
        ("axes: {mfuu: [0.1]}\n", "mfuu"),
        ("axes: {mfu: [0.5, 1.5]}\n", "axes.mfu[1]=1.5"),
        ("axes: {chips: [8, 0]}\n", "axes.chips[1]=0"),
        ("axes: {batch: {start: 0, stop: 10, num: 3, log: true}}\n", "log range"),
        ("axes: {mfu: {start: 0.1, stop: 0.5}}\n", "num and step"),
        ("axes: {mfu: {start: 0.1, stop: 1.5, num: 3}}\n", "axes.mfu[stop]=1.5"),
        ("combine: zip\naxes: {mfu: [0.1, 0.2], pue: [1.1]}\n", "zip"),
        ("combine: diagonal\n", "combine"),
        ("axes: {model.colour: [1]}\n", "model.colour"),
        ("cases: [{mfu: 0.3, tokenz: 5}]\n", "tokenz"),
        ("cases: [{pue: 0.5}]\n", "cases[0]: pue=0.5"),
        ("cases: [{mfu: 0.3}]\naxes: {mfu: [0.2]}\n", "'mfu'"),
        ("evaluate: [sailing]\n", "evaluate"),
        ("base: {chips: -4}\n", "base.chips=-4"),
        ("sweeps: [{axes: {pue: [0.9]}}]\n", "sweeps[0].axes.pue[0]=0.9"),
        ("axes: {mfu: [0.3]}\nsweeps: [{axes: {pue: [1.2]}}]\n", "not both"),
        ("figures: [{name: f, kind: tornado, y: energy_mwh}]\n", "one_at_a_time"),
        ("figures: [{name: f, y: energy_mwh}]\n", "figures[0].x"),
        ("title: [unclosed\n", "malformed YAML"),
    ],
)
def test_bad_spec_one_line_naming_the_key(tmp_path, body, named):
    p = tmp_path / "bad.yaml"
    p.write_text(body if "title:" in body else GOOD + body)
    with pytest.raises(ConfigError) as err:
        load_spec(p)
    msg = str(err.value)
    assert "\n" not in msg and named in msg and str(p) in msg


@pytest.mark.parametrize(
    "body, named",
    [
        ("axes: {chip: [tpu-v4, tpu-v99]}\n", "chip='tpu-v99'"),
        ("base: {model: glam-huge}\n", "model='glam-huge'"),
        ("base: {model: glam-1.7b-64e}\naxes: {model.top_k: [2, 100]}\n", "model.top_k=100"),
        ("figures: [{name: f, x: mfu, y: energy_kwh}]\n", "figures[0].y='energy_kwh'"),
    ],
)
def test_bad_names_fail_before_any_file_is_written(tmp_path, body, named):
    p = tmp_path / "bad.yaml"
    p.write_text(GOOD + body)
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as err:
        run_study(load_spec(p), out, progress=False)
    assert "\n" not in str(err.value) and named in str(err.value)
    assert not out.exists()


def glamsim(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "glamsim", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_bad_spec_exit_2_one_line_and_previous_results_kept(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(GOOD + "base: {tokens: 1.0e+9}\naxes: {mfu: [0.2, 0.4]}\n")
    out = tmp_path / "out"
    ok = glamsim("study", str(spec), "--out", str(out), "--json")
    assert ok.returncode == 0, ok.stderr
    summary = json.loads(ok.stdout)
    assert summary["n_scenarios"] == 2 and len(summary["preview"]) == 2
    before = (out / "results.parquet").read_bytes()
    spec.write_text(GOOD + "axes: {mfu: [0.2, 1.4]}\n")
    bad = glamsim("study", str(spec), "--out", str(out))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "axes.mfu[1]=1.4" in bad.stderr
    assert (out / "results.parquet").read_bytes() == before


def test_cli_list_and_missing_spec():
    listed = glamsim("study", "--list", "--json")
    assert listed.returncode == 0
    names = {r["study"] for r in json.loads(listed.stdout)}
    assert {"glam-vs-gpt3", "experts-sweep", "chips", "serving", "sensitivity"} <= names
    assert glamsim("study").returncode == 2
    nope = glamsim("study", "no-such-study")
    assert nope.returncode == 2 and "no-such-study" in nope.stderr


COUNTED = {
    "grid": {
        "axes": {
            "chip": ["tpu-v4", "h100-sxm"],
            "mfu": {"start": 0.1, "stop": 0.5, "num": 5},
            "batch": {"start": 1, "stop": 64, "num": 12, "log": True, "integer": True},
        }
    },
    "zip": {"combine": "zip", "axes": {"mfu": {"start": 0.1, "stop": 0.4, "step": 0.1}, "pue": [1.1, 1.2, 1.3, 1.4]}},
    "one_at_a_time": {
        "combine": "one_at_a_time",
        "axes": {"mfu": [0.2, 0.4], "pue": {"start": 1, "stop": 2, "num": 3}},
    },
    "cases_times_axes": {"cases": [{"chips": 8}, {"chips": 16}, {"chips": 32}], "axes": {"mfu": [0.2, 0.3]}},
    "sweeps": {
        "sweeps": [
            {"cases": [{"chips": 8}]},
            {"axes": {"batch": {"start": 1, "stop": 9, "step": 2}}},
            {"combine": "one_at_a_time", "axes": {"mfu": [0.2]}},
        ]
    },
    "nothing_swept": {},
}


@pytest.mark.parametrize("shape", sorted(COUNTED))
def test_count_matches_the_expansion(shape):
    spec = parse_spec({"name": "c", "title": "c", **COUNTED[shape]}, "c.yaml")
    assert count_scenarios(spec) == len(expand(spec))


@pytest.mark.parametrize(
    "body, named",
    [
        ("axes: {mfu: {start: 0, stop: 1, num: 1000000000}}\n", "axes.mfu.num=1000000000"),
        ("axes: {mfu: {start: 0.1, stop: 0.2, step: 1.0e-9}}\n", "at most 1,000,000"),
        ("axes: {mfu: [.inf]}\n", "axes.mfu[0]=inf: must be a finite number"),
        ("figures: [{name: f, x: mfu, y: []}]\n", "figures[0].y=[]"),
        (
            "axes: {chips: {start: 1, stop: 1000, num: 1000}, mfu: {start: 0.1, stop: 1, num: 1000}, "
            "pue: {start: 1, stop: 2, num: 1000}}\n",
            "1,000,000,000 scenarios exceed the limit of 5,000,000",
        ),
    ],
)
def test_sizes_and_values_bounded_in_one_line(tmp_path, body, named):
    p = tmp_path / "bad.yaml"
    p.write_text(GOOD + body)
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as err:
        run_study(load_spec(p), out, progress=False)
    assert "\n" not in str(err.value) and named in str(err.value)
    assert not out.exists()


def test_output_folder_checked_before_any_work(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(GOOD + "axes: {mfu: [0.2, 0.4]}\n")
    (tmp_path / "afile").write_text("x")
    for out, named in (
        (tmp_path / "afile", "exists and is not a folder"),
        (tmp_path / "afile" / "sub", "not a folder"),
        (Path("/proc/glamsim-study"), "cannot create"),
    ):
        with pytest.raises(ConfigError, match=named):
            run_study(load_spec(p), out, progress=False)
    assert sorted(q.name for q in tmp_path.iterdir()) == ["afile", "s.yaml"]
