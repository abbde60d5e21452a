"""Serving efficiency by regime against published rows, calibrated on some and checked on the others.

Rows: hardware_profiles/serving_runs.yaml (NVIDIA NIM 1.8.0, Llama-3.3-70B-Instruct, 2 x H100 fp8 TP2,
docs.nvidia.com/nim/benchmarking/llm/1.0.0/performance; each figure with its table there).  Each
protocol calibrates kernel_us and mfu (`glamsim.cost.serving_runs.calibrate`) on the rows it names,
then replays every row (`replay`: the request simulator, closed-loop clients at the row's
concurrency) and reports the error of each published figure, labelled calibrate or held-out; the
summary counts held-out figures only.
Run: .venv/bin/python benchmarks/bench_serving.py
"""

from __future__ import annotations

import numpy as np

from glamsim.cost.serving_runs import calibrate, replay, serving_runs

PROTOCOLS = {  # name: which rows calibrate (run, row) -> bool
    "concurrency 1 calibrates, closed loop held out": lambda row: row.concurrency == 1,
    "5000/500 c1 calibrates, 500/2000 held out (leave one shape out)": lambda row: (
        row.concurrency == 1 and row.prompt_len == 5000
    ),
    "500/2000 c1 calibrates, 5000/500 held out (leave one shape out)": lambda row: (
        row.concurrency == 1 and row.prompt_len == 500
    ),
}


def main() -> None:
    runs = serving_runs()
    rows = [(run, row) for run in runs.values() for row in run.rows]
    for name, calibrates in PROTOCOLS.items():
        fit = calibrate([(run, row) for run, row in rows if calibrates(row)])
        print(f"\n{name}: kernel_us {fit['kernel_us']:.2f}, mfu {fit['mfu']:.3f}")
        print("shape      conc | TTFT ms sim/pub | ITL ms sim/pub | tokens/s sim/pub | role")
        held = []
        for run, row in rows:
            got = replay(run, row, **fit)
            role = "calibrate" if calibrates(row) else "held-out"
            cells = []
            for key in ("ttft_ms", "itl_ms", "tokens_per_s"):
                sim, pub = got[key]
                cells.append(f"{sim:7.1f} / {pub:7.1f}" if pub is not None else f"{sim:7.1f} /       -")
                if pub is not None and role == "held-out":
                    held.append(abs(sim / pub - 1))
            shape = f"{row.prompt_len}/{row.gen_len}"
            print(f"{shape:>9} {row.concurrency:>5} | " + " | ".join(cells) + f" | {role}")
        a = np.array(held)
        print(
            f"held-out figures: {len(a)}, median error {np.median(a):.0%}, within 25%: {np.mean(a <= 0.25):.0%}, "
            f"max {a.max():.0%}"
        )


if __name__ == "__main__":
    main()
