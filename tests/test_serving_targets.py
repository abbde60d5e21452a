"""Serving precisions and latency targets, derived by hand for one scenario."""

from __future__ import annotations

import math

import pytest

import glamsim.api as gs
from glamsim.config import ConfigError
from glamsim.cost.serving import estimate_serving


def test_fp8_weights_halve_the_bytes_and_min_chips_follow():
    bf16 = estimate_serving(model="glam-64b-64e", chip="h100-sxm")
    fp8 = estimate_serving(model="glam-64b-64e", chip="h100-sxm", weight_precision="fp8", kv_precision="int4")
    assert fp8["weight_gb_total"] == pytest.approx(bf16["weight_gb_total"] / 2)
    assert fp8["kv_cache_gb_full_context"] == pytest.approx(bf16["kv_cache_gb_full_context"] / 4)
    # by hand: GLaM 64B/64E KV cache = 2 (K, V) x 64 layers x 128 heads x 128 dims x 1280 tokens x 32 seqs
    kv_bf16 = 2 * 64 * 128 * 128 * (1024 + 256) * 32 * 2 / 1e9
    assert bf16["kv_cache_gb_full_context"] == pytest.approx(kv_bf16)
    usable = 81559 * 2**20 / 1e9 * 0.9  # H100 SXM: 81,559 MiB as nvidia-smi reports it, 90% usable (vLLM default)
    assert bf16["serving_min_chips"] == math.ceil((bf16["weight_gb_total"] + kv_bf16) / usable)
    assert fp8["serving_min_chips"] == math.ceil((bf16["weight_gb_total"] / 2 + kv_bf16 / 4) / usable)
    assert fp8["serving_min_chips"] < bf16["serving_min_chips"]
    ledger = {e["name"]: e for e in fp8.ledger.to_list()}
    assert ledger["bytes_per_param"]["value"] == 1.0 and "weight_precision fp8" in ledger["bytes_per_param"]["source"]
    assert ledger["bytes_per_kv"]["value"] == 0.5


def test_precision_and_bytes_are_one_input_and_the_study_agrees():
    with pytest.raises(ConfigError, match="not both"):
        estimate_serving(chip="h100-sxm", weight_precision="fp8", bytes_per_param=1.0)
    assert estimate_serving(chip="h100-sxm", bytes_per_param=1.0)["weight_gb_total"] == pytest.approx(
        estimate_serving(chip="h100-sxm", weight_precision="int8")["weight_gb_total"]
    )
    r = gs.serve(model="glam-64b-64e", chip="h100-sxm", weight_precision=["bf16", "int4"], kv_precision="fp8")
    for i, p in enumerate(["bf16", "int4"]):
        one = estimate_serving(model="glam-64b-64e", chip="h100-sxm", weight_precision=p, kv_precision="fp8")
        for key in ("weight_gb_total", "kv_cache_gb_full_context", "decode_step_s", "joules_per_token"):
            assert r.frame[key].iloc[i] == pytest.approx(one[key]), key


def test_a_compute_precision_the_chip_lacks_is_refused_in_one_line():
    with pytest.raises(ConfigError) as err:
        estimate_serving(chip="tpu-v4", dtype="fp8")
    assert "\n" not in str(err.value) and "no dense peak" in str(err.value)
    with pytest.raises(ConfigError) as err:
        estimate_serving(chip="h100-sxm", dtype="int4")  # Hopper has no int4 tensor cores
    assert "\n" not in str(err.value) and str(err.value).startswith("dtype='int4'")


def test_int4_compute_uses_the_int4_peak():
    """A100's datasheet int4 peak, 1,248 dense TOPS: a compute-bound prefill runs 4x faster than bf16's 312."""
    kw = dict(model="gpt3-175b", chip="a100-80gb", batch=32, prompt_len=2048, mfu=1.0, mbu=1.0)
    bf16, int4 = estimate_serving(**kw), estimate_serving(dtype="int4", **kw)
    assert bf16["prefill_compute_bound"] and int4["prefill_compute_bound"]
    # only the matmul time scales with the peak (the kernels' fixed time and the all-reduces do not):
    # 32 x 2048 tokens reach 65,536 / (65,536 + 48) of the large-matmul rate
    chips, rate = bf16["serving_chips_used"], 65536 / (65536 + 48)
    saved = bf16["prefill_flops"] / (chips * rate) * (1 / 3.12e14 - 1 / 1.248e15)
    assert bf16["prefill_s"] - int4["prefill_s"] == pytest.approx(saved)
    assert int4.ledger["peak_flops"].value == 1.248e15


def _step_by_hand(b: int, chips: int) -> float:
    """GLaM 64B/64E decode step on H100 SXM at batch b: max(FLOPs / (peak x b / (b + 48)), bytes /
    bandwidth) over the chips, plus each of the 64 layers' 10 kernels at the default 6.2 us and its 2
    all-reduces of b x 8,192 bf16 activations over the chips (8 per server: ring over NVLink at 80% of
    450 GB/s, then over InfiniBand at 80% of 50 GB/s; 2 (8 - 1) messages of 3 us inside the servers and
    2 (chips / 8 - 1) of 8 us between them)."""
    from glamsim.accounting import cached_arrays, expert_params, forward_flops_per_token, params
    from glamsim.config import load_model
    from glamsim.profiles import load_chip

    m, chip = cached_arrays(load_model("glam-64b-64e")), load_chip("h100-sxm")
    ctx = 1024 + (256 + 1) / 2
    touched = 64 * (1 - (1 - 2 / 64) ** b)  # experts a batch touches per MoE layer (top-2 of 64)
    weights = (params(m)[0] - 32 * (64 - touched) * expert_params(m)[0]) * 2  # bf16
    kv = 2 * 64 * 128 * 128 * ctx * b * 2
    flops = b * forward_flops_per_token(m, ctx)[0]
    roof = max(
        flops / (chips * chip.peak_flops_bf16.value * b / (b + 48)),
        (weights + kv) / (chips * chip.hbm_bandwidth_gb_per_s.value * 1e9),
    )
    nbytes, nodes = b * 8192 * 2, chips / 8
    allreduce = (
        2 * 7 / 8 * nbytes / (450e9 * 0.8)
        + 2 * (nodes - 1) / nodes * (nbytes / 8) / (50e9 * 0.8)
        + 2 * 7 * 3e-6
        + 2 * (nodes - 1) * 8e-6
    )
    return roof + 64 * 10 * 6.2e-6 + 64 * 2 * allreduce


def test_tpot_target_picks_the_largest_batch_that_meets_it():
    chips = 64
    steps = {b: _step_by_hand(b, chips) for b in range(1, 513)}
    target_ms = (steps[100] + steps[101]) / 2 * 1e3  # between batch 100 and 101
    want = max(b for b, t in steps.items() if t * 1e3 <= target_ms)
    ideal = dict(mfu=1.0, mbu=1.0)  # the hand derivation is the ideal roofline
    r = estimate_serving(model="glam-64b-64e", chip="h100-sxm", chips=chips, batch=512, tpot_ms=target_ms, **ideal)
    assert r["batch_served"] == r["batch_meeting_targets"] == want == 100
    assert r["decode_step_s"] == pytest.approx(steps[100]) and r["target_binding"] == "tpot"
    assert "tpot binds" in r.ledger["batch_meeting_targets"].source
    loose = estimate_serving(model="glam-64b-64e", chip="h100-sxm", chips=chips, batch=64, tpot_ms=target_ms, **ideal)
    assert loose["batch_served"] == 64 and loose["target_binding"] == "batch"
    with pytest.raises(ConfigError) as err:
        estimate_serving(model="glam-64b-64e", chip="h100-sxm", chips=chips, tpot_ms=steps[1] * 1e3 / 2, **ideal)
    assert "\n" not in str(err.value) and str(err.value).startswith("tpot_ms=") and "batch 1 takes" in str(err.value)


def test_the_study_path_meets_targets_as_the_estimate_does():
    kw = dict(model="glam-64b-64e", chip="h100-sxm", batch=512)
    cases = [(20.0, 60000.0, 6.2), (30.0, 3000.0, 6.2), (40.0, 60000.0, 20.0)]  # kernel time moves the batch
    r = gs.serve(**kw, tpot_ms=[c[0] for c in cases], ttft_ms=[c[1] for c in cases], kernel_us=[c[2] for c in cases])
    for i, (tpot, ttft, kernel_us) in enumerate(cases):
        one = estimate_serving(**kw, tpot_ms=tpot, ttft_ms=ttft, kernel_us=kernel_us)
        assert r.frame["batch_meeting_targets"].iloc[i] == one["batch_meeting_targets"]
        assert r.frame["target_binding"].iloc[i] == one["target_binding"]
        for key in ("decode_step_s", "prefill_s", "joules_per_token"):
            assert r.frame[key].iloc[i] == pytest.approx(one[key]), key
