"""The fast paths behave like the slow ones (issue 13): behaviour only, never timings.

- `import glamsim.cli` and `glamsim estimate train --json` load no pandas, JAX or matplotlib.
- `glamsim.cli.app` is the typer application with every command; `main()` registers command
  modules only until the command asked for is found.
- Files (model YAML, chip and datacenter profiles) are parsed once per process and again after
  they change on disk; presets and built-in profiles loaded by name are the registry's objects.
- The single-scenario arithmetic (per-config caches, Python-float model fields) gives exactly the
  numbers of the vectorised arrays.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

import glamsim.config as config
import glamsim.profiles as profiles
from glamsim.accounting import (
    _PER_CONFIG,
    ModelArrays,
    cached_arrays,
    forward_flops_per_token,
    params,
    scalar_arrays,
    train_flops_per_token,
)
from glamsim.config import data_dir, load_model, model_presets
from glamsim.cost import communication as comm
from glamsim.cost.training import broadcast_outputs, estimate_training, model_train_flops, training_costs

HEAVY = ("pandas", "jax", "jaxlib", "flax", "matplotlib", "streamlit")
TRAIN_ARGS = [
    "estimate",
    "train",
    "--model",
    "gpt3-175b",
    "--chip",
    "a100-80gb",
    "--chips",
    "1024",
    "--tokens",
    "300e9",
    "--mfu",
    "0.3",
    "--json",
]

# Runs `glamsim ARGS` in-process through the real entry point, then reports what was imported.
WRAPPER = """
import contextlib, io, json, sys
args, heavy_names = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
sys.argv = ["glamsim", *args]
import glamsim.cli
out = io.StringIO()
code = 0
try:
    with contextlib.redirect_stdout(out):
        glamsim.cli.main()
except SystemExit as e:
    code = e.code or 0
heavy = sorted({m.split(".")[0] for m in sys.modules} & heavy_names)
cmds = sorted(m for m in sys.modules if m.startswith("glamsim.cli.") and m.endswith("_cmds"))
print(json.dumps({"code": code, "stdout": out.getvalue(), "heavy": heavy, "cmd_modules": cmds}))
"""


def _python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120)


def _run_wrapped(args: list[str]) -> dict:
    r = _python("-c", WRAPPER, json.dumps(args), json.dumps(HEAVY))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


# ---- imports --------------------------------------------------------------------------------------


def test_import_cli_loads_no_pandas_jax_or_matplotlib():
    code = f"import sys, glamsim.cli; print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    r = _python("-c", code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_estimate_train_json_end_to_end_loads_no_heavy_module():
    got = _run_wrapped(TRAIN_ARGS)
    assert got["code"] == 0
    d = json.loads(got["stdout"])
    assert d["train_days"] > 0 and d["flops_total"] > 0
    assert got["heavy"] == []
    assert "glamsim.cli.study_cmds" not in got["cmd_modules"]  # only what `estimate` needs


def test_estimate_train_json_through_the_installed_entry_point_matches_the_api():
    r = _python("-m", "glamsim", *TRAIN_ARGS)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    api = estimate_training(model="gpt3-175b", chip="a100-80gb", chips=1024, tokens=300e9, mfu=0.3)
    assert d["train_days"] == api.train_days and d["energy_mwh"] == api.energy_mwh


def test_help_and_unknown_commands_register_every_command():
    got = _run_wrapped(["--help"])
    assert got["code"] == 0
    for name in ("estimate", "count", "study", "measure", "train", "reproduce"):
        assert name in got["stdout"]
    got = _run_wrapped(["no-such-command"])
    assert got["code"] == 2


def test_cli_app_attribute_is_the_typer_app_with_every_command():
    import typer

    import glamsim.cli
    from glamsim.cli import app

    assert isinstance(app, typer.Typer) and glamsim.cli.app is app
    names = glamsim.cli._registered_names()
    assert {
        "estimate",
        "compare",
        "count",
        "models",
        "profiles",
        "reproduce",
        "study",
        "measure",
        "runs",
        "train",
        "generate",
    } <= names


# ---- files parsed once, re-read when they change ------------------------------------------------


@pytest.fixture
def count_parses(monkeypatch):
    calls = []
    real = config.read_yaml

    def counting(path):
        calls.append(str(path))
        return real(path)

    monkeypatch.setattr(config, "read_yaml", counting)
    monkeypatch.setattr(profiles, "read_yaml", counting)
    return calls


def test_a_model_file_is_parsed_once_and_again_after_it_changes(tmp_path, count_parses):
    data = {**yaml.safe_load((data_dir("model_presets") / "glam-tiny.yaml").read_text()), "name": "mine"}
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data))
    first = load_model(path)
    assert load_model(str(path)) is first and load_model(path) is first
    assert count_parses == [str(path)]
    path.write_text(yaml.safe_dump({**data, "n_layers": data["n_layers"] + 2}))  # a different size
    changed = load_model(path)
    assert changed.n_layers == first.n_layers + 2 and len(count_parses) == 2
    st = path.stat()  # same size, a new modification time: still re-read
    path.write_text(yaml.safe_dump({**data, "n_layers": data["n_layers"] + 4}))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert load_model(path).n_layers == first.n_layers + 4 and len(count_parses) == 3


def test_a_broken_model_file_is_refused_every_time(tmp_path, count_parses):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nn_layers: [\n")
    for _ in range(2):
        with pytest.raises(config.ConfigError):
            load_model(path)
    assert len(count_parses) == 2  # failures are not cached


def test_a_chip_file_is_parsed_once_and_again_after_it_changes(tmp_path, count_parses):
    data = yaml.safe_load((data_dir("hardware_profiles") / "chips" / "tpu-v4.yaml").read_text())
    path = tmp_path / "my-chip.yaml"
    path.write_text(yaml.safe_dump({**data, "name": "my-chip"}))
    first = profiles.load_chip(path)
    assert profiles.load_chip(str(path)) is first and first.origin == "my-chip.yaml"
    assert count_parses == [str(path)]
    path.write_text(yaml.safe_dump({**data, "name": "my-chip", "description": "edited, longer than before"}))
    assert profiles.load_chip(path).description == "edited, longer than before" and len(count_parses) == 2


def test_user_profile_folders_are_read_once_and_see_new_files(tmp_path, count_parses):
    chip = yaml.safe_load((data_dir("hardware_profiles") / "chips" / "tpu-v4.yaml").read_text())
    (tmp_path / "chips").mkdir()
    (tmp_path / "chips" / "a.yaml").write_text(yaml.safe_dump({**chip, "name": "chip-a"}))
    assert profiles.load_chip("chip-a", [tmp_path]).name == "chip-a"
    assert profiles.load_chip("chip-a", [tmp_path]) is profiles.load_chip("chip-a", [tmp_path])
    assert [p for p in count_parses if p.startswith(str(tmp_path))] == [str(tmp_path / "chips" / "a.yaml")]
    (tmp_path / "chips" / "b.yaml").write_text(yaml.safe_dump({**chip, "name": "chip-b"}))
    assert profiles.load_chip("chip-b", [tmp_path]).name == "chip-b"


def test_presets_and_builtin_profiles_by_name_are_the_registry_objects():
    for name, cfg in model_presets().items():
        assert load_model(name) is cfg
    for kind, load in (("chips", profiles.load_chip), ("datacenters", profiles.load_datacenter)):
        for name, prof in profiles.registry(kind).items():
            assert load(name) is prof


def test_every_shipped_file_is_named_after_what_it_holds():
    """Loading a preset or built-in profile by name reads `<name>.yaml` first: keep that convention."""
    for path in data_dir("model_presets").glob("*.y*ml"):
        assert yaml.safe_load(path.read_text())["name"] == path.stem, path
    for kind in ("chips", "datacenters"):
        for path in (data_dir("hardware_profiles") / kind).glob("*.y*ml"):
            assert yaml.safe_load(path.read_text())["name"] == path.stem, path


# ---- the single-scenario arithmetic is the vectorised arithmetic --------------------------------


@pytest.mark.parametrize("name", sorted(model_presets()))
def test_scalar_and_cached_model_arrays_give_exactly_the_array_results(name):
    cfg = load_model(name)
    arrays, scalars = ModelArrays.of(cfg), scalar_arrays(cfg)
    cached = cached_arrays(cfg)
    assert cached is cached_arrays(cfg) and scalars is scalar_arrays(cfg)
    for f in arrays.__dataclass_fields__:
        assert float(getattr(arrays, f)[0]) == getattr(scalars, f) == float(getattr(cached, f)[0])
        assert not getattr(cached, f).flags.writeable  # shared between calls: read-only
    for seq in (cfg.max_seq_len, 2048, 3):
        assert float(train_flops_per_token(arrays, seq)[0]) == train_flops_per_token(scalars, seq)
        assert model_train_flops(cfg, 3e11, seq) == float(train_flops_per_token(arrays, seq)[0]) * 3e11
        assert float(forward_flops_per_token(arrays, seq, hardware=True)[0]) == float(
            forward_flops_per_token(scalars, seq, hardware=True)
        )
    assert float(params(arrays, active=True)[0]) == params(scalars, active=True)
    for tps, chips, x in ((2**20, 1024, 64.0), (5e5, 96, 1.0), (1e3, 8, 8.0)):
        a = comm.training_comm(arrays, 6e11, tps, chips, x, 300.0, 2.0, 4.0)
        s = comm.training_comm(scalars, 6e11, tps, chips, x, 300.0, 2.0, 4.0)
        assert {k: float(np.asarray(v).reshape(-1)[0]) for k, v in a.items()} == {k: float(v) for k, v in s.items()}


def test_training_costs_single_row_fast_path_matches_broadcasting():
    from glamsim.cost.training import _first_of_each, _training_costs

    kw = dict(carbon_intensity_gross_kg_per_kwh=0.5, comm_hours=12.5)
    for extra in (
        dict(mfu=0.3, comm_overlap=1.0),
        dict(mfu=0.3, comm_overlap=0.25),
        dict(hours=4000.0, comm_overlap=0.5),
    ):
        args = (3.1e23, 1024, 3.12e14, 400.0, 1.1, 0.4, 2.5)
        fast = _first_of_each(*_training_costs(*args, **kw, **extra))
        slow = {k: float(v.reshape(-1)[0]) for k, v in training_costs(*args, **kw, **extra).items()}
        np.testing.assert_equal(fast, slow)  # NaN (e.g. embodied carbon without a figure) equals NaN
        arrays = training_costs(*(np.array([a]) for a in args), **kw, **extra)
        np.testing.assert_equal({k: float(v[0]) for k, v in arrays.items()}, fast)
    out, ins = _training_costs(np.array([1e23, 2e23]), 64, 1e14, 300.0, 1.2, 0.3, 2.0, mfu=0.4)
    first = _first_of_each(out, ins)  # no comm_hours: NaN outputs, compared as equal NaNs
    np.testing.assert_equal(first, {k: float(v[0]) for k, v in broadcast_outputs(out, *ins).items()})
    assert np.isnan(first["comm_hours"])


def test_per_config_cache_entries_go_with_their_config():
    cfg = load_model("glam-tiny").replace(name="short-lived", n_layers=3)
    cached_arrays(cfg)
    key = id(cfg)
    assert key in _PER_CONFIG
    del cfg
    gc.collect()
    assert key not in _PER_CONFIG or _PER_CONFIG[key][0]() is not None  # dropped (or the id reused by a live one)
