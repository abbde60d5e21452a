"""Serving as users plan it (issue 15): experts placed on chips, skewed routing, a separate prefill
pool, and the default utilisation derived from a published measurement; each figure by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

import glamsim.api as gs
from glamsim.accounting import cached_arrays, expert_params, ffn_weights, forward_flops_per_token, params
from glamsim.config import ConfigError, load_model
from glamsim.cost.serving import estimate_serving
from glamsim.cost.serving_runs import calibrate, closed_form, serving_runs
from glamsim.predict.efficiency import LINK_EFFICIENCY
from glamsim.profiles import load_chip
from glamsim.scenario import SERVING_KERNEL_US, SERVING_MBU, SERVING_MFU, ServingScenario

H100 = load_chip("h100-sxm")
H100_BYTES = 81559 * 2**20  # HBM as nvidia-smi reports it (the profile cites the source): 81,559 MiB
PEAK, BW = H100.peak_flops_bf16.value, H100.hbm_bandwidth_gb_per_s.value * 1e9
IDEAL = dict(mfu=1.0, mbu=1.0)


def glam():
    return cached_arrays(load_model("glam-64b-64e"))


def _kv(batch, ctx, bytes_per_kv=2):
    return 2 * 64 * 128 * 128 * ctx * batch * bytes_per_kv  # GLaM 64B/64E: 64 layers, 128 heads x 128


def test_expert_placement_decode_step_by_hand():
    """GLaM 64B/64E on 64 H100, batch 1: each chip holds one expert per MoE layer, so the step waits
    for one chip reading a whole expert in each of the 32 MoE layers, beside its 1/t of the dense
    parts; the all-to-all crosses 8-GPU servers (inter-node link and latency)."""
    m, chips, batch = glam(), 64, 1
    r = estimate_serving(model="glam-64b-64e", chip="h100-sxm", chips=chips, batch=batch, placement="expert", **IDEAL)
    ctx = 1024 + (256 + 1) / 2
    expert_bytes = expert_params(m)[0] * 2
    routed = 32 * 64 * expert_bytes
    dense = params(m)[0] * 2 - routed
    room = H100_BYTES * 0.9 - (routed + _kv(batch, 1024 + 256)) / chips
    t = math.ceil(dense / room)
    assert r["dense_shards"] == t == 3  # 81,559 MiB per H100: the dense parts split 3 ways
    slot_flops = 2 * ffn_weights(m, m.expert_ff, m.expert_mats)[0]
    dense_flops = forward_flops_per_token(m, ctx)[0] - 32 * 2 * slot_flops
    # one token: the matmuls at 1 / (1 + 48) of the large-matmul rate (regime.matmul_rate)
    dense_s = max(batch * dense_flops / chips / (PEAK / 49), (dense / t + _kv(batch, ctx) / chips) / BW)
    expert_s = 32 * max(slot_flops / (PEAK / 49), expert_bytes / BW)  # one slot, one whole expert
    wire = 2 * (batch * 2 / chips) * 8192 * 2 * (chips - 1) / chips
    a2a_s = 32 * (wire / 50e9 + 2 * 8e-6)  # 64 chips span 8 servers: InfiniBand, 8 us a message
    assert r["experts_read_busiest_chip"] == pytest.approx(1.0)
    assert r["decode_expert_wait_s"] == pytest.approx(expert_s)
    assert r["decode_alltoall_s"] == pytest.approx(a2a_s)
    # each of the 64 layers: 10 kernels at the default 6.2 us, and 2 all-reduces of one token's 8,192
    # bf16 activations over the t = 3 chips of a dense copy (one server: 2 (3 - 1) messages of 3 us
    # and 2 (3 - 1) / 3 of the bytes over NVLink at 80% of 450 GB/s)
    overhead = 64 * (10 * 6.2e-6 + 2 * (4 * 3e-6 + 4 / 3 * 8192 * 2 / (450e9 * LINK_EFFICIENCY)))
    assert r["decode_step_s"] == pytest.approx(dense_s + expert_s + a2a_s + overhead)
    assert "inter_node_bandwidth_gb_per_s" in r.ledger["interconnect_bandwidth_gb_per_s"].source
    # load (what power follows): an average chip's busy time at full utilisation over the step; it
    # reads its third of the dense parts and, one time in 32, its expert
    busy = dense_s + 32 * max(2 * slot_flops / chips / PEAK, (2 / 64) * expert_bytes / BW)
    assert r["decode_load"] == pytest.approx(busy / r["decode_step_s"])


def test_expert_placement_memory_counts_the_experts_a_chip_holds():
    """Experts over X chips put ceil(E / X) of each MoE layer on a chip: GLaM on 48 chips with X = 3
    would need 22 experts a layer (754 GB) per chip, refused; spread over every chip, the fewest
    chips are those where ceil(64 / c) experts a layer fit beside dense / c and the cache."""
    with pytest.raises(ConfigError) as err:
        estimate_serving(model="glam-64b-64e", chip="h100-sxm", chips=48, expert_parallel=3, placement="expert")
    assert "\n" not in str(err.value) and str(err.value).startswith("expert_parallel=3:")
    m = glam()
    r = estimate_serving(model="glam-64b-64e", chip="h100-sxm", batch=8, placement="expert")
    expert_bytes, cap = expert_params(m)[0] * 2, H100_BYTES * 0.9
    dense = params(m)[0] * 2 - 32 * 64 * expert_bytes
    fits = lambda c: dense / c + 32 * math.ceil(64 / c) * expert_bytes + _kv(8, 1280) / c <= cap  # noqa: E731
    want = next(c for c in range(1, 200) if fits(c))
    assert r["serving_min_chips"] == r["serving_chips_used"] == want and not fits(want - 1)
    assert (
        r["serving_min_chips"] > estimate_serving(model="glam-64b-64e", chip="h100-sxm", batch=8)["serving_min_chips"]
    )


def test_routing_skew_loads_the_busiest_expert_chip():
    """Experts over 32 chips (4 copies on 128): a chip holds 2 experts; the busiest holds the busiest
    expert (skew x the mean load) and one at the mean: (skew + 1) x batch x top-2 / 64 slots, and
    reads 2 (1 - 1/2^slots) distinct experts."""
    kw = dict(model="glam-64b-64e", chip="h100-sxm", chips=128, expert_parallel=32, batch=64, prompt_len=512)
    kw |= dict(placement="expert", **IDEAL)
    for skew in (1.0, 3.0):
        r = estimate_serving(routing_skew=skew, **kw)
        slots = 64 * 2 * (skew + 1) / 64
        assert r["experts_read_busiest_chip"] == pytest.approx(2 * (1 - 0.5**slots))
        prefill_slots = 64 * 512 * 2 * (skew + 1) / 64
        m = glam()
        slot_flops = 2 * ffn_weights(m, m.expert_ff, m.expert_mats)[0]
        if skew == 1.0:
            uniform_prefill = r["prefill_s"]
        else:  # prefill is compute-bound on the busiest chip: its expert time grows with its slots
            extra = 32 * (prefill_slots - 64 * 512 * 2 * 2 / 64) * slot_flops / PEAK
            assert r["prefill_s"] - uniform_prefill == pytest.approx(extra, rel=1e-6)
    assert r.ledger["routing_skew"].value == 3.0


def test_a_measure_record_sets_the_routing_skew(tmp_path):
    from badinput import tpu_record

    rec = tpu_record().model_copy(update={"routing": {"max_mean_load": 1.7, "dropped_fraction": 0.0}})
    path = tmp_path / "rec.json"
    path.write_text(rec.model_dump_json())
    r = estimate_serving(model="glam-64b-64e", chip="h100-sxm", placement="expert", measured=str(path))
    assert r.ledger["routing_skew"].value == 1.7 and "router load of glam-tiny" in r.ledger["routing_skew"].source
    typed = estimate_serving(
        model="glam-64b-64e", chip="h100-sxm", placement="expert", measured=str(path), routing_skew=2.5
    )
    assert typed.ledger["routing_skew"].value == 2.5  # a typed skew wins over the record
    study = gs.serve(model="glam-64b-64e", chip="h100-sxm", placement="expert", measured=str(path))
    assert study.frame["resolved_routing_skew"].iloc[0] == 1.7
    assert study.frame["decode_step_s"].iloc[0] == pytest.approx(r["decode_step_s"])
    dense = rec.model_copy(update={"routing": {}})
    path.write_text(dense.model_dump_json())
    with pytest.raises(ConfigError) as err:
        estimate_serving(model="glam-64b-64e", chip="h100-sxm", measured=str(path))
    assert "\n" not in str(err.value) and "no router load" in str(err.value)


def test_a_separate_prefill_pool_sends_the_kv_cache_before_the_first_token():
    """Prefill on 40 chips, decode on 33: TTFT = prefill on 40 + the prompts' KV cache over the
    inter-node links (50 GB/s a chip) of the smaller pool, the 33 receivers, + a latency; dollars
    charge both pools."""
    kw = dict(model="glam-64b-64e", chip="h100-sxm", chips=33, batch=8, **IDEAL)
    same = estimate_serving(**kw)
    split = estimate_serving(prefill_chips=40, **kw)
    on40 = estimate_serving(**{**kw, "chips": 40})
    transfer = _kv(8, 1024) / 33 / 50e9 + 8e-6
    assert split["kv_transfer_s"] == pytest.approx(transfer)
    assert split["prefill_s"] == pytest.approx(on40["prefill_s"] + transfer)
    assert split["decode_step_s"] == pytest.approx(same["decode_step_s"])
    price = H100.price_per_chip_hour_usd.value / 3600
    usd = price * (40 * split["prefill_s"] + 33 * split["decode_s"]) / (8 * 256) * 1e6
    assert split["usd_per_million_tokens_with_prefill"] == pytest.approx(usd)
    with pytest.raises(ConfigError) as err:
        estimate_serving(prefill_chips=1, **kw)
    assert "\n" not in str(err.value) and str(err.value).startswith("prefill_chips=1:")


def test_study_rows_equal_single_estimates_for_the_new_inputs():
    """A grid over placement, chips (given, or the fewest that hold the batch: a span of several
    8-GPU servers), skew, a prefill pool and a TPOT target that binds: each row equals the single
    estimate, or is refused with the single estimate's refusal."""
    grid = dict(
        placement=["sharded", "expert"],
        chips=[None, 128],
        routing_skew=[None, 2.0],
        prefill_chips=[None, 96],
        tpot_ms=[None, 30.0],
    )
    fixed = dict(model="glam-64b-64e", chip="h100-sxm", batch=128, busy_fraction=0.8)
    checked, binding = 0, set()
    for values in itertools.product(*grid.values()):
        given = {k: v for k, v in zip(grid, values) if v is not None}
        try:
            one = estimate_serving(**fixed, **given)
        except ConfigError as err:
            with pytest.raises(ConfigError) as row_err:
                gs.serve(**fixed, **given)
            assert str(row_err.value).split(":")[0] == str(err).split(":")[0], given  # the same field and value
            continue
        row = gs.serve(**fixed, **given).frame.iloc[0]
        i = given
        binding.add(row["target_binding"])
        checked += 1
        assert row["batch_meeting_targets"] == one.values.get("batch_meeting_targets", np.nan) or pd.isna(
            row["batch_meeting_targets"]
        ), i
        for key in (
            "decode_step_s",
            "prefill_s",
            "decode_load",
            "joules_per_token",
            "usd_per_million_tokens_with_prefill",
        ):
            assert row[key] == pytest.approx(one[key]), (i, key)
    assert checked >= 24 and "tpot" in binding


def test_the_decode_step_by_regime_by_hand_and_its_constants_calibrated_on_the_published_rows():
    """NIM 1.8.0, Llama-3.3-70B fp8 TP2 on 2 H100, batch 1 at the mean context of 5000 + 500: every
    fp8 weight and the fp8 KV cache read at mbu, each layer's kernels once, two all-reduces per
    layer over 2 chips on NVLink (ring: 2 (n-1) messages of 3 us plus 2 (n-1)/n of the bytes)."""
    run = serving_runs()["nim-llama-3.3-70b-h100-fp8"]
    m = cached_arrays(run.model)
    row = run.rows[0]
    ctx = 5000 + (500 + 1) / 2
    kv = 2 * 80 * 8 * 128 * ctx * 1
    memory = (params(m)[0] * 1 + kv) / (2 * BW * SERVING_MBU)
    kernels = 80 * 10 * SERVING_KERNEL_US * 1e-6
    act = 8192 * 2  # one token's activations, bf16
    allreduce = 2 * 80 * (2 * 1 * 3e-6 + 2 * (1 / 2) * act / (450e9 * LINK_EFFICIENCY))
    got = closed_form(run, row)["decode_step_s"]
    assert got == pytest.approx(memory + kernels + allreduce, rel=1e-9)
    # the step is linear in kernel_us: least squares over the two concurrency-1 ITLs, by hand
    steps = {r.prompt_len: (closed_form(run, r, kernel_us=0.0)["decode_step_s"], r.itl_ms / 1e3) for r in run.rows[::5]}
    per_us = 80 * 10 * 1e-6
    want = sum(per_us * (itl - base) for base, itl in steps.values()) / (2 * per_us**2)
    fit = calibrate()
    assert fit["kernel_us"] == pytest.approx(want) and round(fit["kernel_us"], 1) == SERVING_KERNEL_US
    assert round(fit["mfu"], 2) == SERVING_MFU
    s = ServingScenario()
    assert s.mfu == SERVING_MFU and "serving_runs.yaml" in s.source("mfu") and "Jia et al. 2018" in s.source("mbu")
    assert "serving_runs.yaml" in s.source("kernel_us")


def test_bad_new_inputs_are_refused_in_one_line():
    for bad, field in ((dict(routing_skew=0.5), "routing_skew"), (dict(placement="ring"), "placement")):
        with pytest.raises(ConfigError) as err:
            ServingScenario.build(bad)
        assert "\n" not in str(err.value) and field in str(err.value)
    with pytest.raises(ConfigError):
        ServingScenario.build(dict(prefill_chips=0))
    assert np.isfinite(estimate_serving(model="gpt3-175b", chip="h100-sxm", placement="expert")["decode_step_s"])


def test_an_idle_replica_draws_idle_power_charged_to_the_tokens_served():
    """Busy half the time: each busy second brings one idle second at the power model's zero load
    (H100: 70 W board idle + 575 W host share), and twice the chip-hours per token."""
    kw = dict(model="gpt3-175b", chip="h100-sxm", batch=16)
    full, half = estimate_serving(**kw), estimate_serving(busy_fraction=0.5, **kw)
    idle_w = H100.idle_power_w.value + H100.host_power_w.value
    assert half["idle_power_w_per_chip"] == pytest.approx(idle_w)
    pue = 1.1  # us-ai-datacenter, the default
    extra = half["serving_chips_used"] * idle_w * pue * half["decode_step_s"] / 16
    assert half["joules_per_token"] == pytest.approx(full["joules_per_token"] + extra)
    assert half["usd_per_million_tokens"] == pytest.approx(2 * full["usd_per_million_tokens"])
    assert half["decode_step_s"] == full["decode_step_s"]
    assert half.ledger["busy_fraction"].value == 0.5
    tpu = estimate_serving(model="gpt3-175b", chip="tpu-v4", batch=16, busy_fraction=0.5)
    assert tpu["idle_power_w_per_chip"] == 90 + 156  # the board's idle figure and its host share, not 326 W
    assert "host_power_w 156" in tpu.ledger["idle_power_w"].source
    study = gs.serve(busy_fraction=[1.0, 0.5], **kw).frame
    assert study["joules_per_token"].tolist() == pytest.approx([full["joules_per_token"], half["joules_per_token"]])


def test_the_statement_says_what_the_layout_assumed():
    from glamsim.cost.report import serving_statement

    r = estimate_serving(model="glam-64b-64e", chip="h100-sxm", placement="expert", prefill_chips=80, tpot_ms=40)
    text = serving_statement(r, datacenter="us-average")
    assert "waits for its busiest expert chip" in text and "separate pool of 80 chips" in text
    assert f"{r['decode_expert_wait_s'] * 1e3:.3g} ms of each step" in text
    plain = serving_statement(estimate_serving(model="glam-64b-64e", chip="h100-sxm"), datacenter="us-average")
    assert " Here " not in plain
