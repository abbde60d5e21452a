"""How fast the cost model is: scenarios/s of a vectorised sweep, and one `glamsim estimate` end to end.

Run: .venv/bin/python benchmarks/bench_cost.py [--n 1000000]
Goal (issue 3): >= 100,000 training scenarios per second on a 2-core machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import numpy as np

from glamsim.accounting import ModelArrays, train_flops_per_token
from glamsim.config import load_model
from glamsim.cost.bundles import Hardware, ServingRun, Site, TrainingRun
from glamsim.cost.serving import serving_costs
from glamsim.cost.training import training_costs


def best_of(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000, help="scenarios per sweep")
    n = ap.parse_args().n
    rng = np.random.default_rng(0)
    u = lambda lo, hi: rng.uniform(lo, hi, n)  # noqa: E731
    base = ModelArrays.of(load_model("glam-64b-64e"))
    tokens, chips, mfu = u(1e11, 1e12), rng.integers(64, 8192, n).astype(float), u(0.1, 0.6)
    power, pue, ci, price = u(150, 700), u(1.05, 1.6), u(0.0, 0.7), u(1, 12)
    experts = rng.choice([8, 16, 32, 64, 128, 256], n).astype(float)
    batch = rng.integers(1, 256, n).astype(float)

    def training_sweep():
        return training_costs(
            TrainingRun(1e23 * tokens / 6e11, chips, mfu), Hardware(2.75e14, power), Site(pue, ci, price)
        )

    def training_sweep_with_flops():
        m = base.with_(n_experts=experts)
        flops = train_flops_per_token(m, 1024) * tokens
        return training_costs(TrainingRun(flops, chips, mfu), Hardware(2.75e14, power), Site(pue, ci, price))

    def serving_sweep():
        m = base.with_(n_experts=experts)
        hardware = Hardware(2.75e14, power, hbm_bandwidth_bytes_per_s=1.2e12)
        return serving_costs(ServingRun(m, batch, 1024, 256, 81), hardware, Site(pue, ci, price))

    for label, fn in (
        ("training cost (FLOPs given)", training_sweep),
        ("training cost + model FLOPs from accounting (expert-count sweep)", training_sweep_with_flops),
        ("serving cost (prefill + decode roofline, expert-count x batch sweep)", serving_sweep),
    ):
        fn()
        t = best_of(fn)
        print(f"{label}: {n:,} scenarios in {t * 1e3:.0f} ms = {n / t:,.0f} scenarios/s")

    cmd = [
        sys.executable,
        "-m",
        "glamsim",
        "estimate",
        "train",
        "--model",
        "glam-64b-64e",
        "--chip",
        "tpu-v4",
        "--chips",
        "1024",
        "--tokens",
        "600e9",
        "--mfu",
        "0.3",
        "--json",
    ]
    walls = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        walls.append(time.perf_counter() - t0)
    print(f"`glamsim estimate train ... --json` end to end (subprocess, median of 3): {statistics.median(walls):.2f} s")
    print("against llm-analysis (per call and command line): benchmarks/bench_vs_llm_analysis.py")


if __name__ == "__main__":
    main()
