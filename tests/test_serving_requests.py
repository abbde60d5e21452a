"""Request-level serving (glamsim.cost.serving.requests) against hand-derived expectations and a
plain per-step reference scheduler written here without numpy vectors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from glamsim.accounting import ModelArrays, forward_flops_per_token
from glamsim.cli import app
from glamsim.config import ConfigError, load_model
from glamsim.cost.bundles import Hardware, ServingRun, Site
from glamsim.cost.serving import core, regime
from glamsim.cost.serving.memory import kv_cache_bytes
from glamsim.cost.serving.requests import (
    StepTable,
    Workload,
    poisson_arrivals,
    read_trace,
    request_outputs,
    simulate,
)
from glamsim.scenario import SERVING_KERNEL_US

M = ModelArrays.of(load_model("gpt3-175b"))
HW = dict(
    chips=8,
    peak_flops=989e12,
    hbm_bandwidth_bytes_per_s=3.35e12,
    mfu=0.45,
    mbu=0.57,
    bytes_per_param=2.0,
    bytes_per_activation=2.0,
    expert_parallel=1.0,
    comm_overlap=1.0,
    placed=False,
    routing_skew=1.0,
    dense_shards=1.0,
    link_bytes_per_s=450e9,
    link_latency_s=0.0,
    tp=8,  # the dense weights over the 8 chips; no links given: the all-reduces cost nothing, as in HARDWARE
    fab=regime.fabric(np.inf, np.nan, 0.0, 0.0, np.inf),
    kernel_us=SERVING_KERNEL_US,
)
HARDWARE, SITE = Hardware(989e12, 500.0, hbm_bandwidth_bytes_per_s=3.35e12), Site(1.1, 0.4, 2.0)
UTILISATION = dict(chips=8, mfu=0.45, mbu=0.57)
TABLE = StepTable(M, 8192, 2.0, **HW)
BIG = 10**7  # cache blocks: never binds
POWER = dict(power_w=500.0, power_idle_w=np.nan, power_tdp_w=np.nan, power_compute_w=np.nan, power_memory_w=np.nan)


def _step_s(tokens, flops, kv_bytes) -> float:
    """The closed form's step (`core.step_parts`) as a Python float."""
    return float(np.asarray(core.step_parts(M, tokens, flops, kv_bytes, **HW)["s"]).reshape(-1)[0])


def _one(p: int, g: int, **kw) -> dict:
    w = Workload(np.array([p]), np.array([g]), np.array([0.0]))
    return simulate(TABLE, w, BIG, **kw)


def test_one_request_alone_takes_the_closed_form_prefill_then_its_decode_steps():
    p, g = 1024, 129
    sim = _one(p, g)
    ttft = sim["first_token_s"][0] - sim["arrival_s"][0]
    tpot = (sim["finish_s"][0] - sim["first_token_s"][0]) / (g - 1)
    # the closed form: prefill of one prompt; g - 1 decode steps at the mean context p + g / 2
    closed = core.serving_costs(ServingRun(M, 1, p, g - 1, **UTILISATION), HARDWARE, SITE)
    assert ttft == pytest.approx(float(closed["prefill_s"][0]), rel=1e-12)
    assert tpot == pytest.approx(float(closed["decode_step_s"][0]), rel=1e-9)
    assert len(sim["step_s"]) == g  # one prefill step, g - 1 decode steps


def test_a_prompt_longer_than_the_token_budget_is_prefilled_in_chunks():
    p = 1000
    sim = _one(p, 2, max_num_batched_tokens=256)
    # chunks of 256, 256, 256, 232; chunk at offset o of n tokens attends sum(o + 1 .. o + n) keys
    f0 = float(forward_flops_per_token(M, 0.0)[0])
    df = float(forward_flops_per_token(M, 1.0)[0]) - f0
    kv = float(kv_cache_bytes(M, 1, 1, 2.0)[0])
    expected = 0.0
    for o, n in ((0, 256), (256, 256), (512, 256), (768, 232)):
        expected += _step_s(n, n * f0 + df * (n * o + n * (n + 1) / 2), kv * (o + n))
    assert sim["first_token_s"][0] == pytest.approx(expected, rel=1e-9)
    assert list(sim["tokens"][:4]) == [256, 256, 256, 232]


def test_far_below_capacity_latency_is_the_single_request_latency():
    n, p, g = 200, 512, 64
    alone = _one(p, g)
    w = Workload(np.full(n, p), np.full(n, g), poisson_arrivals(0.01, n, seed=3))  # 100 s apart, ~2 s each
    sim = simulate(TABLE, w, BIG)
    ttft = sim["first_token_s"] - sim["arrival_s"]
    e2e = sim["finish_s"] - sim["arrival_s"]
    # a request overlapping another by chance waits a little: the median is the lone request's
    assert np.median(ttft) == pytest.approx(alone["first_token_s"][0], rel=1e-9)
    assert np.median(e2e) == pytest.approx(alone["finish_s"][0], rel=1e-9)


def test_throughput_saturates_at_the_closed_form_throughput_of_the_largest_batch():
    """Overloaded, with prompts of one token, every step decodes max_num_seqs sequences: the output
    rate is the closed form's batch / decode step at that batch (within the prefill share)."""
    n, seqs, g = 2000, 32, 200
    w = Workload(np.full(n, 1), np.full(n, g), np.zeros(n))
    out = request_outputs(
        TABLE,
        w,
        simulate(TABLE, w, BIG, max_num_seqs=seqs),
        chips=8,
        pue=1.0,
        price_per_chip_hour_usd=2.0,
        **POWER,
        power_host_w=0.0,
    )
    closed = core.serving_costs(ServingRun(M, seqs, 1, g, **UTILISATION), HARDWARE, SITE)
    assert out["output_tokens_per_s"] == pytest.approx(seqs / float(closed["decode_step_s"][0]), rel=0.01)
    assert out["mean_batch_sequences"] == pytest.approx(seqs, rel=0.01)


def test_a_tiny_cache_preempts_and_every_request_still_completes():
    n = 40
    w = Workload(np.full(n, 300), np.full(n, 200), np.zeros(n))
    blocks = 3 * (500 // 16 + 1)  # room for about three whole requests
    sim = simulate(TABLE, w, blocks)
    assert sim["preemptions"] > 0
    assert np.all(np.isfinite(sim["finish_s"]))
    assert simulate(TABLE, w, BIG)["preemptions"] == 0


# ---- a plain reference scheduler: one request at a time, one step at a time ------------------------


def _reference(work: Workload, kv_blocks: int, max_seqs: int, budget: int, bs: int = 16) -> dict:
    """vLLM v1's FCFS loop as its source reads, in plain Python (no vectors, no decode stretches)."""
    n = len(work.prompt_len)
    P, G = [int(x) for x in work.prompt_len], [int(x) for x in work.output_len]
    arrival = list(work.arrival_s)
    comp, gen = [0] * n, [0] * n
    first, finish = [math.nan] * n, [math.nan] * n
    running: list[int] = []
    waiting: list[int] = []
    nxt, now, done, preempt = 0, 0.0, 0, 0
    f0 = float(forward_flops_per_token(M, 0.0)[0])
    df = float(forward_flops_per_token(M, 1.0)[0]) - f0
    kv = float(kv_cache_bytes(M, 1, 1, 2.0)[0])
    blocks = lambda tokens: -(-tokens // bs)  # noqa: E731
    while done < n:
        while nxt < n and arrival[nxt] <= now:
            waiting.append(nxt)
            nxt += 1
        if not running and not waiting:
            now = arrival[nxt]
            continue
        left, sched, preempted = budget, {}, False
        i = 0
        while i < len(running):
            r = running[i]
            take = min(P[r] + gen[r] - comp[r], left)
            while (
                sum(blocks(comp[q] + sched.get(q, 0)) for q in running if q != r) + blocks(comp[r] + take) > kv_blocks
            ):
                victim = running.pop()
                comp[victim], preempted = 0, True
                preempt += 1
                sched.pop(victim, None)
                waiting.insert(0, victim)
                if victim == r:
                    break
            if r not in running:
                break
            if take > 0:
                sched[r] = take
            left -= take
            i += 1
        while not preempted and waiting and left > 0 and len(running) < max_seqs:
            r = waiting[0]
            take = min(P[r] + gen[r], left)
            used = sum(blocks(comp[q] + sched.get(q, 0)) for q in running)
            if used + blocks(take) > kv_blocks:
                break
            waiting.pop(0)
            running.append(r)
            sched[r] = take
            left -= take
        tokens = sum(sched.values())
        s_f = sum(t * comp[r] + t * (t + 1) / 2 for r, t in sched.items())
        s_k = sum(comp[r] + t for r, t in sched.items())
        now += _step_s(tokens, tokens * f0 + df * s_f, kv * s_k)
        for r, t in sched.items():
            comp[r] += t
            if comp[r] == P[r] + gen[r]:
                gen[r] += 1
                if math.isnan(first[r]):
                    first[r] = now
                if gen[r] == G[r]:
                    finish[r] = now
                    done += 1
                    running.remove(r)
    return {"first_token_s": np.array(first), "finish_s": np.array(finish), "preemptions": preempt}


@pytest.mark.parametrize(("rate", "kv_blocks", "max_seqs", "budget"), [(3.0, BIG, 8, 512), (20.0, 120, 16, 300)])
def test_the_vectorised_scheduler_agrees_with_the_plain_reference(rate, kv_blocks, max_seqs, budget):
    rng = np.random.default_rng(7)
    n = 60
    w = Workload(rng.integers(1, 700, n), rng.integers(1, 120, n), poisson_arrivals(rate, n, seed=1))
    ref = _reference(w, kv_blocks, max_seqs, budget)
    sim = simulate(TABLE, w, kv_blocks, max_num_seqs=max_seqs, max_num_batched_tokens=budget)
    assert sim["preemptions"] == ref["preemptions"]
    np.testing.assert_allclose(sim["first_token_s"], ref["first_token_s"], rtol=1e-9)
    np.testing.assert_allclose(sim["finish_s"], ref["finish_s"], rtol=1e-9)


def test_closed_loop_clients_send_the_next_request_when_the_last_completes():
    n, c = 12, 3
    w = Workload(np.full(n, 100), np.full(n, 20), None, concurrency=c)
    sim = simulate(TABLE, w, BIG)
    assert np.all(sim["arrival_s"][:c] == 0)
    # every later request arrives at the moment one completes, in completion order
    assert np.allclose(np.sort(sim["arrival_s"][c:]), np.sort(sim["finish_s"])[: n - c])


def test_a_warm_up_leaves_the_first_requests_out_of_latency_and_throughput():
    """warmup_requests=k: TTFT and throughput over requests k.. by arrival, from the first of them
    to arrive to the last to finish (hand arithmetic on the simulation's own times); energy per
    request still divides all of the run's energy by all requests."""
    n, c, k = 12, 3, 6
    w = Workload(np.full(n, 100), np.full(n, 20), None, concurrency=c)
    sim = simulate(TABLE, w, BIG)
    kw = dict(chips=8, pue=1.0, price_per_chip_hour_usd=2.0, **POWER, power_host_w=0.0)
    every, warm = request_outputs(TABLE, w, sim, **kw), request_outputs(TABLE, w, sim, warmup_requests=k, **kw)
    order = np.argsort(sim["arrival_s"], kind="stable")[k:]
    ttft = sim["first_token_s"][order] - sim["arrival_s"][order]
    assert warm["ttft_mean_s"] == pytest.approx(ttft.mean())
    window = sim["finish_s"][order].max() - sim["arrival_s"][order].min()
    assert warm["output_tokens_per_s"] == pytest.approx(20 * (n - k) / window)
    assert warm["joules_per_request"] == every["joules_per_request"]
    assert every["ttft_mean_s"] == pytest.approx((sim["first_token_s"] - sim["arrival_s"]).mean())


# ---- bad inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "suffix", "said"),
    [
        ("prompt_len,output_len\n10,-3\n", ".csv", "line 2: output_len='-3'"),
        ("prompt_len,output_len\n10,abc\n", ".csv", "line 2: output_len='abc'"),
        ("prompt,output\n10,3\n", ".csv", "line 1: expected a header"),
        ("prompt_len,output_len\n10\n", ".csv", "line 2: 1 fields"),
        ('{"prompt_len": 5, "output_len": 0}\n', ".jsonl", "line 1: output_len=0"),
        ("{not json\n", ".jsonl", "line 1: not a JSON object"),
        ("prompt_len,output_len\n", ".csv", "no requests"),
    ],
)
def test_a_bad_trace_is_refused_in_one_line_naming_the_line_and_value(tmp_path, text, suffix, said):
    path = tmp_path / f"t{suffix}"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        read_trace(path)
    assert said in str(err.value) and "\n" not in str(err.value) and str(err.value).startswith("trace=")


def test_a_trace_reads_csv_and_jsonl(tmp_path):
    (tmp_path / "a.csv").write_text("prompt_len,output_len\n10,3\n7,1\n")
    (tmp_path / "a.jsonl").write_text('{"prompt_len": 10, "output_len": 3}\n{"prompt_len": 7, "output_len": 1}\n')
    for name in ("a.csv", "a.jsonl"):
        p, g = read_trace(tmp_path / name)
        assert p.tolist() == [10, 7] and g.tolist() == [3, 1]
    with pytest.raises(ConfigError, match="no such file"):
        read_trace(tmp_path / "missing.csv")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--rate", "-1"], "--rate=-1"),
        (["--rate", "0"], "--rate=0"),
        (["--concurrency", "0"], "--concurrency=0"),
        (["--rate", "1", "--concurrency", "4"], "--concurrency=4"),
        (["--rate", "1", "--trace", "/nonexistent/t.csv"], "--trace="),
        (["--rate", "1", "--max-num-seqs", "0"], "--max-num-seqs=0"),
        (["--rate", "nan"], "--rate"),
        (["--rate", "inf"], "--rate"),
        (["--rate", "fast"], "--rate"),
        (["--concurrency", "2.5"], "--concurrency"),
        (["--rate", "1", "--trace", "."], "--trace="),
        (["--rate", "1", "--ttft-ms", "0"], "ttft"),
        (["--concurrency", "4", "--tpot-ms", "-5"], "tpot"),
        (["--kernel-us", "-1"], "kernel-us"),
        (["--kernel-us", "nan"], "--kernel-us"),
        (["--kernel-us", "1e9"], "kernel-us"),
        (["--warmup-requests", "5"], "--warmup-requests=5"),  # nothing simulated to leave out
        (["--rate", "1", "--n-requests", "10", "--warmup-requests", "10"], "--warmup-requests=10"),
        (["--rate", "1", "--warmup-requests", "-1"], "--warmup-requests"),
        (["--rate", "1", "--warmup-requests", "2.5"], "--warmup-requests"),
        (["--rate", "1", "--warmup-requests", "inf"], "--warmup-requests"),
        (["--rate", "1", "--warmup-requests", "nan"], "--warmup-requests"),
        (["--rate", "1", "--warmup-requests", "1e12"], "--warmup-requests"),
        (["--rate", "1", "--warmup-requests", "some"], "--warmup-requests"),
    ],
)
def test_bad_request_inputs_exit_2_with_one_line_naming_the_flag(args, said):
    r = CliRunner().invoke(app, ["estimate", "serve", "--model", "gpt3-175b", "--chip", "h100-sxm", *args])
    assert r.exit_code == 2, r.output
    assert r.stderr.count("\n") == 1 and said in r.stderr, r.stderr


def test_estimate_serve_with_a_rate_prints_the_request_level_results():
    r = CliRunner().invoke(
        app,
        [
            "estimate",
            "serve",
            "--model",
            "gpt3-175b",
            "--chip",
            "h100-sxm",
            "--rate",
            "0.5",
            "--n-requests",
            "200",
            "--ttft-ms",
            "2000",
            "--tpot-ms",
            "100",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["ttft_p50_s"] <= d["ttft_p90_s"] <= d["ttft_p99_s"]
    assert 0 < d["goodput_requests_per_s"] <= d["requests_per_s"]
    assert d["requests_simulated"] == 200 and d["decode_step_s"] > 0  # the closed form is still there
