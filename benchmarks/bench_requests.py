"""Request-level serving: the speed of 10,000 simulated requests, and a published continuous-batching
result replayed in closed loop.

Published rows (visible source): NVIDIA NIM for LLMs benchmarking guide (LLM 1.0.0), Performance,
Llama-3.3-70b-instruct, NIM 1.8.0, 2 x H100 80G, fp8 TP2, 5000 input / 500 output tokens
(docs.nvidia.com/nim/benchmarking/llm/1.0.0/performance), rows at concurrency 5, 25, 50 (closed-loop
AIPerf clients): mean TTFT (ms), mean ITL (ms), output throughput (tokens/s).  The run's model, chips
and precision are hardware_profiles/serving_runs.yaml's; nothing is fitted to these rows.
Run: .venv/bin/python benchmarks/bench_requests.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from glamsim.cost.serving import estimate_serving
from glamsim.cost.serving_runs import serving_runs

NIM_5000_500 = {  # concurrency: (TTFT ms, ITL ms, output tokens/s), the page's table for 5000/500
    5: (546.7, 21.83, 218.48),
    25: (688.69, 38.75, 623.4),
    50: (834.51, 59.73, 814.37),
}


def speed() -> None:
    run = dict(model="gpt3-175b", chip="h100-sxm", chips=8, rate=2.0, n_requests=10_000, power_w=700.0)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        est = estimate_serving(**run)
        times.append(time.perf_counter() - t)
    print(
        f"10,000 requests (GPT-3 175B, 8 x H100, Poisson 2/s, 1024+256 tokens), whole estimate: "
        f"median {statistics.median(times):.2f} s of 3 (mean batch {est['mean_batch_sequences']:.1f})"
    )


def nim() -> None:
    r = serving_runs()["nim-llama-3.3-70b-h100-fp8"]
    base = dict(
        model=r.model,
        chip=r.chip,
        chips=r.chips,
        dtype=r.dtype,
        weight_precision=r.weight_precision,
        kv_precision=r.kv_precision,
        prompt_len=5000,
        gen_len=500,
    )
    errs = []
    print("concurrency | TTFT ms sim/pub | ITL ms sim/pub | tokens/s sim/pub")
    for c, (ttft, itl, tput) in NIM_5000_500.items():
        e = estimate_serving(**base, concurrency=c, n_requests=10 * c)
        sim = (e["ttft_mean_s"] * 1e3, e["tpot_mean_s"] * 1e3, e["output_tokens_per_s"])
        errs += [s / p - 1 for s, p in zip(sim, (ttft, itl, tput))]
        print(f"{c:>11} | {sim[0]:7.0f} / {ttft:7.0f} | {sim[1]:6.1f} / {itl:6.1f} | {sim[2]:6.0f} / {tput:6.0f}")
    a = np.abs(errs)
    print(f"errors: median {np.median(a):.0%}, max {a.max():.0%}, within 20%: {np.mean(a <= 0.2):.0%}")


if __name__ == "__main__":
    speed()
    nim()
