"""The measured training step: XLA vs analytic FLOPs, the record, and its use by the cost model."""

import json
import subprocess
import sys

import jax
import pytest

from glamsim.config import load_model
from glamsim.measure.run import xla_count
from glamsim.records import load_measurement


@pytest.mark.parametrize("name", ["glam-tiny", "glam-tiny-dense", "glam-small"])
def test_unrolled_step_xla_flops_within_5_percent_of_analytic_hardware(name):
    r = xla_count(load_model(name), batch=8)
    assert r["xla_over_hardware"] == pytest.approx(1.0, abs=0.05)
    # and the step really is more than the model FLOPs: XLA sees the optimizer and element-wise work
    assert r["xla_over_model"] > 1.0


def glamsim(*args):
    return subprocess.run([sys.executable, "-m", "glamsim", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny.json"
    r = glamsim(
        "measure",
        "--model",
        "glam-tiny",
        "--steps",
        "3",
        "--warmup",
        "1",
        "--out",
        str(out),
        "--profile-dir",
        str(out.parent / "trace"),
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return out


def test_profile_trace_written(record):
    traces = list((record.parent / "trace").rglob("*.xplane.pb"))
    assert traces
    data = traces[0].read_bytes()
    for scope in (b"router", b"dispatch", b"experts", b"combine"):  # the MoE phases are named scopes
        assert scope in data


def test_measure_record_is_consistent(record):
    rec = load_measurement(record)
    assert 0 < rec.mfu < 1 and 0 < rec.hfu < 1
    assert rec.backend == jax.default_backend() and rec.jax_version == jax.__version__
    assert rec.xla_flops_per_step == pytest.approx(rec.hardware_flops_per_step, rel=0.05)
    assert rec.tokens_per_s == pytest.approx(rec.batch * rec.seq_len / rec.step_time_median_s)
    assert rec.mfu == pytest.approx(rec.model_flops_per_step / rec.step_time_median_s / rec.peak_flops_per_s)
    assert rec.step_time_p10_s <= rec.step_time_median_s <= rec.step_time_p90_s
    assert 0 <= rec.routing["dropped_fraction"] < 1 and rec.memory["peak_bytes"] > 0
    assert "measured attainable peak" in rec.peak_source


def test_estimate_uses_measurement_with_provenance(record):
    base = ["estimate", "--model", "glam-64b-64e", "--chips", "1024", "--tokens", "600e9", "--json"]
    r = glamsim(*base, "--chip", "tpu-v4", "--measured", str(record))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    rec = load_measurement(record)
    ledger = {e["name"]: e for e in d["ledger"]}
    assert ledger["hw_flops_ratio"]["value"] == pytest.approx(rec.hardware_to_model_flops)
    assert "measured on cpu" in ledger["hw_flops_ratio"]["source"]
    # a CPU run is not a TPU v4: its MFU is not used, and the user is told so
    assert "measured on" not in ledger["mfu"]["source"] and "not used" in r.stderr
    assert d["hfu"] == pytest.approx(d["mfu"] * rec.hardware_to_model_flops)


def test_runs_lists_records(record):
    r = glamsim("runs", str(record.parent), "--json")
    rows = json.loads(r.stdout)
    assert r.returncode == 0 and rows[0]["model"] == "glam-tiny"


def test_bad_measured_file_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"record_schema": "something/9"}))
    for path in (bad, foreign, tmp_path / "missing.json"):
        r = glamsim("estimate", "--model", "glam-tiny", "--chips", "1", "--tokens", "1e6", "--measured", str(path))
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert str(path.name) in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_measured_mfu_used_when_device_is_the_chip(record):
    from glamsim.cost import estimate_training
    from glamsim.cost.measured import measured_inputs
    from glamsim.profiles import load_chip

    rec = load_measurement(record).model_copy(update={"device_kind": "TPU v4", "backend": "tpu", "mfu": 0.42})
    got, sources, _ = measured_inputs(rec, load_chip("tpu-v4"))
    assert got["mfu"] == 0.42 and "measured on TPU v4" in sources["mfu"]
    est = estimate_training(model="glam-64b-64e", tokens=600e9, chip="tpu-v4", chips=1024, **got, sources=sources)
    assert est.mfu == pytest.approx(0.42)
    assert any("measured on TPU v4" in e["source"] for e in est.ledger.to_list() if e["name"] == "mfu")
    assert "mfu" not in measured_inputs(rec, load_chip("h100-sxm"))[0]


def test_measure_without_out_writes_one_record_inside_runs(tmp_path):
    from badinput import accepted

    accepted(
        [
            "measure",
            "--model",
            "glam-tiny",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--batch",
            "1",
            "--seq-len",
            "8",
            "--json",
        ],
        tmp_path,
    )
    written = [p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) == 1 and written[0].parent.name == "runs" and written[0].name.startswith("glam-tiny-")
    rec = load_measurement(tmp_path / written[0])
    assert rec.model == "glam-tiny" and rec.batch == 1 and rec.seq_len == 8


def test_cpu_peak_is_timed_beside_every_step_and_mfu_has_its_spread(record):
    """The CPU peak is the median of a matmul timed right after each timed step (same load), and the
    record keeps the spread of peak and MFU: the nominal lies inside both ranges."""
    rec = load_measurement(record)
    lo, hi = rec.peak_flops_range_per_s
    assert lo <= rec.peak_flops_per_s <= hi and "each right after a timed step" in rec.peak_source
    assert "median of 3 timings" in rec.peak_source  # --steps 3
    m_lo, m_hi = rec.mfu_range
    assert m_lo <= rec.mfu <= m_hi
    # the slowest step at the fastest peak bounds the MFU from below, the fastest at the slowest from above
    assert m_lo == pytest.approx(rec.model_flops_per_step / rec.step_time_p90_s / hi)
    assert m_hi == pytest.approx(rec.model_flops_per_step / rec.step_time_p10_s / lo)


def test_record_holds_the_cpu_prediction_for_its_host(record):
    """`glamsim measure` on one CPU device records what glamsim.predict.cpu predicts for the host it
    measured: recomputing from the recorded host figures gives the same step time."""
    from glamsim.config import validate_model
    from glamsim.predict.cpu import Host, predict_step

    rec = load_measurement(record)
    assert rec.predicted_step_time_s > 0 and rec.predicted_breakdown
    assert rec.host["matmul_flops_per_s"] == pytest.approx(rec.peak_flops_per_s)  # the peak timed beside the steps
    cfg = validate_model(rec.model_config_data, "record")
    again = predict_step(cfg, rec.batch, rec.seq_len, rec.dispatch, Host(**rec.host))
    assert again["step_s"] == pytest.approx(rec.predicted_step_time_s)
