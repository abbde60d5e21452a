"""Serving cost: the expert-touch formula against simulated routing, bytes, roofline, memory."""

import math

import numpy as np
import pytest

from glamsim.accounting import ModelArrays, count, forward_flops_per_token
from glamsim.config import ConfigError, load_model
from glamsim.cost.bundles import Hardware, ServingRun, Site
from glamsim.cost.serving import (
    estimate_serving,
    experts_touched,
    kv_cache_bytes,
    serving_costs,
    weight_bytes_read,
)


@pytest.mark.parametrize("n_experts, top_k, batch", [(64, 2, 1), (64, 2, 8), (64, 2, 32), (8, 2, 5), (128, 1, 100)])
def test_experts_touched_matches_simulated_top_k_routing(n_experts, top_k, batch):
    """Brute force: each token picks top-k of E random gate logits (k distinct experts, uniform)."""
    rng = np.random.default_rng(0)
    trials = 1000
    logits = rng.standard_normal((trials, batch, n_experts))
    chosen = np.argpartition(-logits, top_k - 1, axis=-1)[..., :top_k]
    hit = np.zeros((trials, n_experts), dtype=bool)
    np.put_along_axis(hit, chosen.reshape(trials, -1), True, axis=1)
    distinct = hit.sum(axis=1)
    stderr = distinct.std(ddof=1) / math.sqrt(trials) + 1e-9
    expect = float(experts_touched(n_experts, top_k, batch))
    assert abs(distinct.mean() - expect) < 4 * stderr + 1e-6
    if batch == 1:
        assert expect == pytest.approx(top_k)


def test_experts_touched_limits_and_dense():
    assert experts_touched(64, 2, 10_000) == pytest.approx(64)
    assert experts_touched(0, 0, 32) == 0  # dense model: no experts
    assert experts_touched(np.array([8, 64]), 2, np.array([[1], [4]])).shape == (2, 2)


def test_weight_bytes_read_at_batch_one_is_the_activated_model():
    for name in ("glam-64b-64e", "glam-tiny", "gpt3-175b"):
        cfg = load_model(name)
        m = ModelArrays.of(cfg)
        assert float(weight_bytes_read(m, 1, 2)[0]) == pytest.approx(2 * count(cfg).params_active)
        assert float(weight_bytes_read(m, 1e6, 2)[0]) == pytest.approx(2 * count(cfg).params_total)


def test_kv_cache_bytes_by_hand():
    m = ModelArrays.of(load_model("gpt3-175b"))  # 96 layers, 96 heads x 128, no GQA
    assert float(kv_cache_bytes(m, 4, 2048, 2)[0]) == 2 * 96 * 96 * 128 * 2048 * 4 * 2


def test_roofline_and_per_token_costs_by_hand():
    cfg = load_model("glam-tiny")
    m = ModelArrays.of(cfg)
    b, p, g, chips, peak, bw, power, pue, ci, price = 4, 64, 32, 2, 1e12, 1e10, 100.0, 1.2, 0.5, 3.6
    r = serving_costs(
        ServingRun(m, b, p, g, chips, mfu=0.5, mbu=0.8),
        Hardware(peak, power, hbm_bandwidth_bytes_per_s=bw),
        Site(pue, ci, price),
    )
    ctx = p + (g + 1) / 2
    flops = b * float(forward_flops_per_token(m, ctx)[0])
    e, k = cfg.n_experts, cfg.top_k
    touched = e * (1 - (1 - k / e) ** b)
    n = count(cfg)
    expert = (n.params_total - n.params_active) / (cfg.n_moe_layers * (e - k))  # one expert's params
    weights = 2 * (n.params_active + cfg.n_moe_layers * (touched - k) * expert)
    kv = 2 * cfg.n_layers * cfg.kv_heads * cfg.head_dim * ctx * b * 2
    # the batch's 4 tokens reach 4 / (4 + 48) of the large-matmul rate (regime.matmul_rate); each of the
    # layers runs its 10 kernels at the default 6.2 us; no links given: the all-reduces cost nothing
    rate = b / (b + 48)
    step = max(flops / (chips * peak * 0.5 * rate), (weights + kv) / (chips * bw * 0.8)) + cfg.n_layers * 10 * 6.2e-6
    assert float(r["decode_step_s"][0]) == pytest.approx(step)
    assert float(r["decode_tokens_per_s_per_chip"][0]) == pytest.approx(b / step / chips)
    assert float(r["joules_per_token"][0]) == pytest.approx(chips * power * pue * step / b)
    assert float(r["kgco2e_per_million_tokens"][0]) == pytest.approx(chips * power * pue * step / b * 1e6 / 3.6e6 * ci)
    assert float(r["usd_per_million_tokens"][0]) == pytest.approx(chips * price / 3600 * step / b * 1e6)
    prefill_flops = b * p * float(forward_flops_per_token(m, (p + 1) / 2)[0])
    assert float(r["prefill_flops"][0]) == pytest.approx(prefill_flops)


def test_moe_saves_flops_but_costs_memory():
    glam = estimate_serving(model="glam-64b-64e", chip="tpu-v4", batch=32)
    gpt3 = estimate_serving(model="gpt3-175b", chip="tpu-v4", batch=32)
    assert glam["decode_flops_per_token"] < 0.6 * gpt3["decode_flops_per_token"]
    assert glam["weight_gb_total"] > 6 * gpt3["weight_gb_total"]
    assert glam["serving_min_chips"] > 4 * gpt3["serving_min_chips"]
    # min chips: every weight (all experts) + the cache at full context, 90% of 32 GiB usable
    need = glam["weight_gb_total"] + glam["kv_cache_gb_full_context"]
    assert glam["serving_min_chips"] == math.ceil(need / (34.36 * 0.9))
    assert not glam["decode_compute_bound"] and glam["prefill_compute_bound"]


def test_inference_errors_and_ranges():
    with pytest.raises(ConfigError, match="chips=2: too few"):
        estimate_serving(model="glam-64b-64e", chip="tpu-v4", chips=2)
    with pytest.raises(ConfigError, match="batch"):
        estimate_serving(model="glam-tiny", chip="tpu-v4", batch=0)
    e = estimate_serving(model="glam-tiny", chip="tpu-v4", mbu=(0.5, 0.7, 0.9), batch=64)
    lo, hi = e.ranges["usd_per_million_tokens"]
    assert lo < e["usd_per_million_tokens"] < hi
    assert e.ledger["mbu"].value == [0.5, 0.7, 0.9]
    (row,) = e.tornado
    assert row["input"] == "mbu" and row["usd_per_million_tokens_at_low"] == pytest.approx(hi)


def test_serving_power_follows_the_load_of_each_phase():
    """H100 board: 75 W idle + 1,272 W x tensor-core use + 406 W x HBM use, capped at 700 W, plus a
    575 W host share (the profile's Splitwise-calibrated figures).  Decode at batch 1 is HBM-bound:
    its HBM use is the bytes it reads over the chips' bandwidth in one step (below mbu 0.5: the kernels'
    fixed time and the all-reduces stretch the step) and its tensor-core use its FLOPs over the chips'
    peak in one step; the energy per token charges that power; --power-model tdp gives 700 W at every load."""
    from glamsim.cost.serving import estimate_serving

    r = estimate_serving(model="glam-64b-64e", chip="h100-sxm", batch=1, mbu=0.5, mfu=0.5)
    assert not r["decode_compute_bound"]
    led = {e.name: e.value for e in r.ledger.entries}
    assert (led["board_idle_w"], led["compute_power_w"], led["memory_power_w"], led["host_power_w"]) == (
        75,
        1272,
        406,
        575,
    )
    chips, step = r["serving_chips_used"], r["decode_step_s"]
    u_c = r["decode_flops_per_token"] / (chips * 989e12 * step)
    u_m = (r["decode_weight_bytes_per_step"] + r["decode_kv_bytes_per_step"]) / (chips * 3.35e12 * step)
    want = 75 + 406 * u_m + 1272 * u_c + 575
    assert 0 < u_c < 0.01 and 0 < u_m < 0.5 and r["decode_power_w_per_chip"] == pytest.approx(want)
    pue = r.ledger["pue"].value
    assert r["joules_per_token"] == pytest.approx(r["serving_chips_used"] * want * pue * r["decode_step_s"])
    assert r["decode_power_w_per_chip"] < r["prefill_power_w_per_chip"] <= 700 + 575  # matmul-bound, capped
    t = estimate_serving(model="glam-64b-64e", chip="h100-sxm", batch=1, mbu=0.5, power_model="tdp")
    assert t["decode_power_w_per_chip"] == t["prefill_power_w_per_chip"] == 700


def test_water_per_million_tokens_by_hand():
    """Decode at a fixed 1,000 W per chip: the facility energy per token is joules_per_token; water
    per 1M tokens = (IT energy x WUE + facility energy x grid water) in kWh x 1e6.  us-average: WUE
    0.55 L/kWh of IT energy, 3.14 L/kWh of facility energy, PUE 1.58 (all from the profile)."""
    e = estimate_serving(model="glam-64b-64e", chip="h100-sxm", batch=32, power_w=1000.0, datacenter="us-average")
    facility_kwh = e["joules_per_token"] * 1e6 / 3.6e6
    assert e["water_l_per_million_tokens"] == pytest.approx(facility_kwh / 1.58 * 0.55 + facility_kwh * 3.14)
    assert e.ledger["wue_onsite_l_per_kwh"].value == 0.55
    dry = estimate_serving(model="glam-64b-64e", chip="h100-sxm", batch=32, power_w=1000.0, datacenter="gcp-us-west1")
    assert (
        np.isnan(dry["water_l_per_million_tokens"]) and "not modelled" in dry.ledger["water_offsite_l_per_kwh"].source
    )
    assert dry["kgco2e_per_million_tokens"] == pytest.approx(
        dry["joules_per_token"] * 1e6 / 3.6e6 * 0.07923
    )  # Google's us-west1 grid, 79.23 g/kWh (region-carbon-info 2024)
