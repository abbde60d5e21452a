"""The fast paths behave like the slow ones (issue 13): behaviour only, never timings.

- `import glamsim.cli` and `glamsim estimate train --json` load no pandas, JAX or matplotlib.
- `glamsim.cli.app` is the typer application with every command; `main()` registers command
  modules only until the command asked for is found.
- Files (model YAML, chip and datacenter profiles) are parsed once per process and again after
  they change on disk; presets and built-in profiles loaded by name are the registry's objects.
- The single-scenario arithmetic (per-config caches, Python-float model fields, the core on Python
  floats, cached communication bytes) gives exactly the numbers of numpy scalars and one-row arrays.
- The ledger's sources, formatted when read, are the scenario's and the profiles'; the validators'
  shortcuts accept only what the full checks accept; shipped YAML parses alike through libyaml.
- The command line has one parser (typer), whose options are the scenario fields.
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
from cores import train_core
from pydantic import ValidationError
from test_bad_inputs_cli import folder  # noqa: F401  (the corpus' folder of bad files, a fixture)

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
from glamsim.cost.training import estimate_training, model_train_flops, training_costs

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


def _run_wrapped(args: list[str], heavy: tuple[str, ...] = HEAVY) -> dict:
    r = _python("-c", WRAPPER, json.dumps(args), json.dumps(heavy))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


# ---- imports --------------------------------------------------------------------------------------


def test_import_cli_loads_no_pandas_jax_or_matplotlib():
    code = f"import sys, glamsim.cli; print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    r = _python("-c", code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_estimate_train_json_end_to_end_loads_no_heavy_module():
    """Not even numpy: one scenario of plain numbers runs on Python floats end to end (the cost
    formulas through `glamsim.cost.ops`, the counts and communication through `glamsim.accounting.xp`)."""
    got = _run_wrapped(TRAIN_ARGS, (*HEAVY, "numpy"))
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
    kw = dict(carbon_intensity_gross_kg_per_kwh=0.5, comm_hours=12.5)
    for extra in (
        dict(mfu=0.3, comm_overlap=1.0),
        dict(mfu=0.3, comm_overlap=0.25),
        dict(hours=4000.0, comm_overlap=0.5),
    ):
        args = (3.1e23, 1024, 3.12e14, 400.0, 1.1, 0.4, 2.5)
        fast = train_core(*args, **kw, **extra)
        assert {type(v) for v in fast.values()} == {float}  # one scenario of plain numbers: Python floats
        arrays = train_core(*(np.array([a]) for a in args), **kw, **extra)
        np.testing.assert_equal({k: float(v[0]) for k, v in arrays.items()}, fast)  # NaN equals NaN
    two = train_core(np.array([1e23, 2e23]), 64, 1e14, 300.0, 1.2, 0.3, 2.0, mfu=0.4)
    one = train_core(1e23, 64, 1e14, 300.0, 1.2, 0.3, 2.0, mfu=0.4)
    np.testing.assert_equal({k: float(v[0]) for k, v in two.items()}, one)  # no comm_hours: NaN outputs
    assert np.isnan(one["comm_hours"]) and all(v.shape == (2,) for v in two.values())


def test_per_config_cache_entries_go_with_their_config():
    cfg = load_model("glam-tiny").replace(name="short-lived", n_layers=3)
    cached_arrays(cfg)
    key = id(cfg)
    assert key in _PER_CONFIG
    del cfg
    gc.collect()
    assert key not in _PER_CONFIG or _PER_CONFIG[key][0]() is not None  # dropped (or the id reused by a live one)


# ---- one scenario on Python floats is the vectorised core on one row ----------------------------


def _spy_core(monkeypatch) -> list:
    """Record the arguments of every core call (`training_costs`) that `estimate_training` makes."""
    import glamsim.cost.training as training

    calls, real = [], training.training_costs

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "training_costs", spy)
    return calls


def _three_ways(args: tuple, kwargs: dict) -> None:
    """Python floats, numpy float64 scalars and one-row arrays give the same outputs, bit for bit."""
    fast = training_costs(*args, **kwargs)
    assert {type(v) for v in fast.values()} == {float}  # really the Python-float path
    slow = training_costs(*(b.converted(np.float64) for b in args))
    rows = training_costs(*(b.converted(lambda v: np.array([v], dtype=np.float64)) for b in args))
    np.testing.assert_equal(fast, {k: float(v) for k, v in slow.items()})  # NaN equals NaN
    np.testing.assert_equal(fast, {k: float(v[0]) for k, v in rows.items()})


SCENARIO_VARIANTS = [
    {"mfu": 0.3},
    {"mfu": 0.41, "comm_overlap": 0.25},
    {"mfu": 0.35, "power_model": "tdp_fraction", "tdp_fraction": 0.7},
    {"mfu": 0.3, "power_w": 512.5, "pue": 1.31, "carbon_intensity_kg_per_kwh": 0.12, "price_per_chip_hour_usd": 3.3},
    {"hours": 2.0e5},
    {"train_flops": 3.1e23, "mfu": 0.37, "tokens": None, "model": None},
]


def test_one_estimate_equals_the_vectorised_core_over_presets_chips_and_datacenters(monkeypatch):
    calls = _spy_core(monkeypatch)
    chips = sorted(profiles.registry("chips"))
    dcs = sorted(profiles.registry("datacenters"))
    grid = [(m, c, dcs[(i + j) % len(dcs)]) for i, m in enumerate(sorted(model_presets())) for j, c in enumerate(chips)]
    grid += [("glam-64b-64e", "tpu-v4", dc) for dc in dcs]
    done = 0
    for k, (model, chip, dc) in enumerate(grid):
        variant = SCENARIO_VARIANTS[k % len(SCENARIO_VARIANTS)]
        fields = {"model": model, "chip": chip, "datacenter": dc, "chips": 256, "tokens": 3e11, **variant}
        try:
            estimate_training(**{f: v for f, v in fields.items() if v is not None})
        except config.ConfigError:  # e.g. hours implying MFU > 1, no interconnect figure to charge
            continue
        done += 1
    assert done > 0.8 * len(grid) and len(calls) >= done
    monkeypatch.undo()
    for args, kwargs in list(calls):
        _three_ways(args, kwargs)


def test_python_float_and_numpy_paths_agree_at_the_edges():
    """Zero, subnormal-free tiny and huge inputs; a division by zero on Python floats falls back to
    numpy's inf/NaN semantics (as one-row arrays give)."""
    import warnings

    base = dict(
        carbon_intensity_gross_kg_per_kwh=0.5,
        comm_hours=12.5,
        power_idle_w=40.0,
        power_tdp_w=400.0,
        power_compute_w=800.0,
        power_memory_w=300.0,
    )
    cases = [
        ((3.1e23, 1024, 3.12e14, np.nan, 1.1, 0.4, 2.5), dict(base, mfu=0.3, power_host_w=100.0)),
        ((3.1e23, 1, 3.12e14, np.nan, 1.1, 0.0, 0.0), dict(base, mfu=1.0, power_host_w=0.0, comm_overlap=0.0)),
        ((1e30, 8, 1e12, 700.0, 1.0, 1e3, 1e6), dict(base, hours=1e-3)),
        ((1e-300, 1, 1e300, 300.0, 1.2, 0.3, 2.0), dict(mfu=0.3)),  # chip-hours underflow to 0: 0/0
        ((2.0, 4, 1e-200, 300.0, 1.2, 0.3, 2.0), dict(mfu=1e-200)),  # peak x MFU underflows to 0: x/0
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for args, kw in cases:
            one = train_core(*args, **kw)
            rows = train_core(*(np.array([a]) for a in args), **{k: np.array([v]) for k, v in kw.items()})
            np.testing.assert_equal(one, {k: float(v[0]) for k, v in rows.items()})


def test_power_at_one_load_is_the_power_model():
    from glamsim.cost.ops import NP, PY
    from glamsim.cost.power import power_w

    loads = [0.0, 0.3, 1.0, -0.2, 1.7, np.nan, np.inf]
    curves = [  # fixed, idle, tdp, compute, memory, host
        (np.nan, 40.0, 400.0, 800.0, 300.0, 100.0),
        (np.nan, 400.0, 400.0, 0.0, 0.0, 0.0),
        (326.0, np.nan, np.nan, np.nan, np.nan, np.nan),
        (0.0, 1, 2, 3, 4, 5),
    ]
    for u_c in loads:
        for u_m in (0.0, 0.5, np.nan):
            for curve in curves:
                want = float(power_w(np.array([u_c]), np.array([u_m]), *(np.array([c]) for c in curve), xp=NP)[0])
                got = power_w(u_c, u_m, *curve, xp=PY)
                assert type(got) in (float, int)
                np.testing.assert_equal(float(got), want)


def test_ranges_of_uncertain_inputs_with_the_load_following_power_model():
    est = estimate_training(
        model="gpt3-175b", chip="a100-80gb", chips=1024, tokens=3e11, mfu=(0.25, 0.3, 0.35), pue=(1.1, 1.2, 1.4)
    )
    lo, hi = est.ranges["energy_mwh"]
    assert lo < est.energy_mwh < hi and {r["input"] for r in est.tornado} == {"mfu", "pue"}
    rows = train_core(  # the ranges are the core's on the lows and highs
        est.flops_total,
        1024,
        3.12e14,
        np.nan,
        np.array([1.1, 1.4]),
        0.373,
        5.12,
        mfu=np.array([0.35, 0.25]),
        power_idle_w=63.0,
        power_tdp_w=400.0,
        power_compute_w=est.ledger["compute_power_w"].value,
        power_memory_w=est.ledger["memory_power_w"].value,
        power_host_w=est.ledger["host_power_w"].value,
    )
    assert tuple(rows["energy_mwh"]) == pytest.approx(est.ranges["energy_mwh"])
    assert est.ledger["pue"].value == [1.1, 1.2, 1.4]


def test_communication_from_cached_bytes_per_step_is_training_comm():
    from glamsim.cost.training import _floats

    for name in ("glam-64b-64e", "gpt3-175b", "glam-0.1b-64e"):
        m = scalar_arrays(load_model(name))
        for tokens, tps, chips, x, link in ((6e11, 2**20, 1024, 64.0, 300.0), (1e9, 5e5, 96, 1.0, np.nan)):
            want = _floats(comm.training_comm(m, tokens, tps, chips, x, link, 2.0, 4.0))
            per_step = _floats(comm.training_comm_bytes(m, tps, chips, x, 2.0, 4.0))
            got = comm.comm_times(per_step, tokens, tps, link)
            assert list(got) == list(want)
            np.testing.assert_equal(got, want)
    est = estimate_training(model="glam-64b-64e", chip="tpu-v4", chips=1024, tokens=6e11, mfu=0.3, comm_overlap=0.5)
    again = estimate_training(model="glam-64b-64e", chip="tpu-v4", chips=1024, tokens=6e11, mfu=0.3, comm_overlap=0.5)
    assert est.communication == again.communication and est.comm_hours == again.comm_hours > 0


# ---- provenance: the ledger reads the scenario's and the profiles' sources ------------------------


def test_ledger_sources_are_the_scenarios_and_profiles():
    from glamsim.scenario import TrainingScenario

    s = TrainingScenario.build(
        {
            "model": "gpt3-175b",
            "chip": "a100-80gb",
            "chips": 1024,
            "tokens": 3e11,
            "mfu": (0.25, 0.3, 0.35),
            "pue": 1.25,
            "sources": {"mfu": "my measured run", "pue": "the operator's 2023 report"},
        }
    )
    est = estimate_training(s)
    led = {e.name: e for e in est.ledger.entries}
    chip = profiles.load_chip("a100-80gb")
    for name in ("chips", "tokens", "mfu", "pue", "hw_flops_ratio", "comm_overlap", "bytes_per_grad"):
        assert led[name].source == s.source(name), name
    assert led["chips"].source == "user input" and led["mfu"].source == "my measured run"
    assert led["pue"].source == "the operator's 2023 report" and led["pue"].value == 1.25
    assert led["mfu"].value == [0.25, 0.3, 0.35]  # a triple reads as a list
    assert led["hw_flops_ratio"].source.startswith("glamsim default: hardware FLOPs = model FLOPs (1)")
    assert led["tokens_per_step"].value == 1024 * 2048 and led["seq_len"].source == s.source("seq_len")
    spec = chip.peak_flops_bf16
    assert led["peak_flops"].source == f"profile a100-80gb.yaml: peak_flops_bf16 ({spec.source}, {spec.date})"
    assert led["flops_total"].source.startswith("preset gpt3-175b: glamsim.accounting model FLOPs")
    assert led["flops_total"].source.endswith("seq_len 2048)")
    assert est.ledger.to_list() == [
        {"name": e.name, "value": e.value, "unit": e.unit, "source": e.source} for e in est.ledger.entries
    ]
    assert est.ledger == estimate_training(s).ledger


def test_ledger_formats_sources_when_read_and_keeps_rows_added_later():
    from glamsim.cost.ledger import Ledger, LedgerEntry
    from glamsim.scenario import TrainingScenario

    s = TrainingScenario.build({"chips": 64, "sources": {"tokens": "a budget"}})
    spec = profiles.load_chip("tpu-v4").peak_flops_bf16
    led = Ledger()
    led.add("a", (1.0, 2.0, 3.0), "u", "text")
    led.add_input(s, "chips", "chips")
    led.add_input(s, "tokens", "tokens", 5.0)
    led.add_profile("peak", 1.0, "FLOP/s", "tpu-v4.yaml", "peak_flops_bf16", spec, " (extra)")
    assert led.entries == [
        LedgerEntry("a", [1.0, 2.0, 3.0], "u", "text"),
        LedgerEntry("chips", 64, "chips", "user input"),
        LedgerEntry("tokens", 5.0, "tokens", "a budget"),
        LedgerEntry(
            "peak", 1.0, "FLOP/s", f"profile tpu-v4.yaml: peak_flops_bf16 ({spec.source}, {spec.date}) (extra)"
        ),
    ]
    led.add_input(s, "comm_overlap", "fraction")
    assert led["comm_overlap"].source == s.source("comm_overlap") and len(led.to_list()) == 5
    assert Ledger(led.entries) == led and "comm_overlap" in repr(led)


# ---- the validators' shortcuts accept exactly what the full checks accept -------------------------


def test_bounds_shortcut_accepts_only_what_require_accepts():
    from glamsim.inputs import _plainly_within
    from glamsim.uncertain import require

    tiny = sys.float_info.min
    values = [0, 1, -1, 2**53, 2**53 + 1, -(2**60), 0.0, -0.0, 1e-320, tiny, -tiny, 0.5, 1.0, 1e30, 1.5e30]
    values += [np.inf, -np.inf, np.nan, True, np.float64(0.5), (0.1, 0.2, 0.3), "0.3"]
    bounds = [(None, None, None), (0, None, None), (None, 1, None), (None, 0, 1), (0, None, 1), (None, None, 1e30)]
    for v in values:
        for gt, ge, le in bounds:
            if _plainly_within(v, gt, ge, le):
                kw = {k: b for k, b in (("gt", gt), ("ge", ge), ("le", le)) if b is not None}
                require("x", v, **kw)  # must not raise


def test_number_sanity_shortcut_passes_only_sane_floats():
    from glamsim.config import Frozen, check_number

    class One(Frozen):
        x: float | str = 0.0

    for v in [0.0, -0.0, 1.0, 1e30, -1e30, 1.0000001e30, 1e-320, sys.float_info.min, 5e-324, "text"]:
        try:
            check_number("x", v)
            ok = True
        except config.ConfigError:
            ok = False
        try:
            One(x=v)
            accepted = True
        except ValidationError:
            accepted = False
        assert accepted == ok, v


# ---- shipped YAML through libyaml parses as the strict loader parses it ---------------------------


def test_shipped_files_parse_alike_with_libyaml_and_the_strict_loader():
    shipped = [*data_dir("model_presets").glob("*.y*ml"), *data_dir("studies").glob("*.y*ml")]
    for kind in ("chips", "datacenters"):
        shipped += list((data_dir("hardware_profiles") / kind).glob("*.y*ml"))
    assert len(shipped) > 30
    for path in shipped:
        text = path.read_text(encoding="utf-8")
        assert config.parse_yaml(text, str(path), shipped=True) == config.parse_yaml(text, str(path)), path
    for bad in ("a: 1\na: 2\n", "a: [1, 2\n", "a: *nope\n", "- " * 40 + "x\n"):  # the strict loader words the error
        with pytest.raises(config.ConfigError) as strict:
            config.parse_yaml(bad, "f.yaml")
        with pytest.raises(config.ConfigError) as fast:
            config.parse_yaml(bad, "f.yaml", shipped=True)
        assert str(fast.value) == str(strict.value)


# ---- the command line ---------------------------------------------------------------------------


PLUGINS = """
import os, sys
import glamsim.cli
sys.argv = ["glamsim", "models", "--json"]
os._exit = lambda code: print("plugins:", repr(os.environ.get("PYDANTIC_DISABLE_PLUGINS")), file=sys.stderr)
glamsim.cli.script()
"""


def test_the_command_line_disables_pydantic_plugins_with_pydantic_s_own_switch():
    """`glamsim` sets PYDANTIC_DISABLE_PLUGINS=__all__ (public, documented) unless the user set it."""
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    r = subprocess.run([sys.executable, "-c", PLUGINS], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and "plugins: '__all__'" in r.stderr, r.stderr
    env["PYDANTIC_DISABLE_PLUGINS"] = ""  # the user's choice stands
    r = subprocess.run([sys.executable, "-c", PLUGINS], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and "plugins: ''" in r.stderr, r.stderr


def test_a_text_field_is_text_on_the_command_line():
    """`--layout tp=8,...` is read as text (it was once offered as a number, and refused)."""
    from glamsim.cli.estimate import option_type
    from glamsim.scenario import SCENARIOS

    assert option_type(SCENARIOS["train"], "layout") is str
    from typer.testing import CliRunner

    from glamsim.cli import app

    args = ["estimate", "train", "--model", "gpt3-175b", "--chip", "a100-80gb", "--layout", "tp=8,pp=16,dp=8", "--json"]
    r = CliRunner().invoke(app, args, prog_name="glamsim")
    layout = [e for e in json.loads(r.stdout)["ledger"] if e["name"] == "layout"]
    assert r.exit_code == 0 and layout[0]["value"].startswith("tp=8,pp=16,dp=8")
    assert layout[0]["source"].startswith("user input --layout; stack megatron: the usual software on NVIDIA")
    for cls in SCENARIOS.values():  # every other field: a number where the scenario takes one
        for name in cls.inputs():
            ann = str(cls.model_fields[name].annotation)
            if option_type(cls, name) is not str:
                assert "str" not in ann and ("int" in ann or "float" in ann), (cls.kind, name, ann)
