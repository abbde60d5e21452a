"""Board power from what a step does (glamsim.cost.power): hand-derived figures."""

from __future__ import annotations

import glob
from pathlib import Path

import pytest

from glamsim.cost import estimate_serving, estimate_training
from glamsim.cost.ops import PY
from glamsim.cost.power import power_w
from glamsim.profiles import load_chip

H100 = load_chip("h100-sxm")
CURVE = (float("nan"), 75.0, 700.0, 1272.0, 406.0, 575.0)  # fixed, idle, TDP, compute, memory, host (H100)


def test_zero_activity_is_idle_and_full_compute_is_the_tdp_cap():
    assert power_w(0.0, 0.0, *CURVE, xp=PY) == 75 + 575
    assert power_w(1.0, 0.0, *CURVE, xp=PY) == 700 + 575  # 75 + 1272 > 700: the limiter holds it at TDP
    assert power_w(0.0, 1.0, *CURVE, xp=PY) == 75 + 406 + 575  # HBM alone stays under the cap
    assert power_w(0.2, 0.5, *CURVE, xp=PY) == pytest.approx(75 + 254.4 + 203 + 575)
    assert power_w(0.5, 0.5, 900.0, *CURVE[1:], xp=PY) == 900.0  # a fixed power wins


def test_the_h100_profile_carries_the_calibrated_coefficients():
    assert (H100.idle_power_w.value, H100.compute_power_w.value, H100.memory_power_w.value) == (75, 1272, 406)
    assert "Splitwise" in H100.compute_power_w.source and "Splitwise" in H100.idle_power_w.source


def test_decode_power_rises_with_batch_and_prefill_draws_more_than_decode():
    host = H100.host_power_w.value
    runs = {b: estimate_serving(model="gpt3-175b", chip="h100-sxm", chips=8, batch=b) for b in (1, 8, 32)}
    decode = [runs[b]["decode_power_w_per_chip"] - host for b in (1, 8, 32)]
    assert decode[0] < decode[1] < decode[2] <= 700
    # batch 1: almost no tensor-core work; HBM busy for its bytes over 8 x 3.35 TB/s, the share of the
    # step left beside the 96 layers' kernels and their 192 all-reduces
    one = runs[1]
    u_m = (one["decode_weight_bytes_per_step"] + one["decode_kv_bytes_per_step"]) / (8 * 3.35e12 * one["decode_step_s"])
    u_c = one["decode_flops_per_token"] / (8 * 989e12 * one["decode_step_s"])
    assert 0.3 < u_m < 0.83 and u_c < 0.01 and decode[0] == pytest.approx(75 + 406 * u_m + 1272 * u_c)
    for b, e in runs.items():
        assert e["prefill_power_w_per_chip"] >= e["decode_power_w_per_chip"], b
    # prefill: tensor cores busy for its FLOPs over 8 x 989 TFLOP/s, HBM for its bytes, over the prefill
    u_c = one["prefill_flops"] / (8 * 989e12 * one["prefill_s"])
    u_m = one["prefill_bytes"] / (8 * 3.35e12 * one["prefill_s"])
    assert one["prefill_power_w_per_chip"] - host == pytest.approx(min(75 + 1272 * u_c + 406 * u_m, 700))


def test_training_power_at_low_and_high_mfu():
    low, high = (estimate_training(train_flops=1e22, chip="h100-sxm", chips=8, mfu=m) for m in (0.01, 0.7))
    assert low.power_w_per_chip == pytest.approx(75 + 1272 * 0.01 + 575)
    assert high.power_w_per_chip == 700 + 575


def test_every_chip_has_activity_coefficients_or_the_stated_estimate():
    """A chip without its own coefficients gets the H100's fractions of TDP - idle, said in the ledger."""
    h = H100.tdp_w.value - H100.idle_power_w.value
    for path in sorted(glob.glob(str(Path(load_chip("h100-sxm").origin).parent / "*.yaml"))):
        chip = load_chip(Path(path).stem)
        if chip.tdp_w is None or chip.measured_system_power_w is not None:
            continue  # no curve: a fixed power
        e = estimate_training(train_flops=1e22, chip=chip.name, chips=8, mfu=0.1)
        for field in ("compute_power_w", "memory_power_w"):
            entry = e.ledger[field]
            if chip.spec(field) is None:
                span = chip.tdp_w.value - (chip.idle_power_w.value if chip.idle_power_w else chip.tdp_w.value)
                assert entry.value == pytest.approx(H100.spec(field).value / h * span), (chip.name, field)
                assert "estimate (glamsim)" in entry.source
            else:
                assert entry.value == chip.spec(field).value


def test_h100_and_h200_serving_power_differ_only_by_bandwidth():
    """Same die, TDP, idle and coefficients: at the same utilisations the same power; H200's faster
    HBM shortens the memory part of the decode step, not its kernels' fixed time nor its all-reduces,
    so it is the utilisations that differ (HBM busy a smaller share of the step), not the curve."""
    s100, s200 = (estimate_serving(model="gpt3-175b", chip=c, chips=8, batch=8) for c in ("h100-sxm", "h200"))
    for k in ("compute_power_w", "memory_power_w", "board_idle_w", "board_tdp_w", "host_power_w"):
        assert s100.ledger[k].value == pytest.approx(s200.ledger[k].value), k
    for s, bw in ((s100, 3.35e12), (s200, 4.8e12)):  # memory-bound: the load is HBM's busy share
        read = s["decode_weight_bytes_per_step"] + s["decode_kv_bytes_per_step"]
        assert s["decode_load"] == pytest.approx(read / (8 * bw * s["decode_step_s"]))
    assert s200["decode_load"] < s100["decode_load"] and s200["decode_step_s"] < s100["decode_step_s"]
