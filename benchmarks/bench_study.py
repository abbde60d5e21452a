"""How fast a 100,000-scenario study sweep runs, and how much memory it takes.

Grid: 10 chips x 8 expert counts (model.n_experts, GLaM 1.7B base) x 25 MFU values x 50 prompt
lengths = 100,000 scenarios, training and serving cost both evaluated.  Prints scenarios per
second for expansion + evaluation (the sweep; goal: under 2 s), for the whole `run_study`
(chunked parquet writes, final parquet + csv + ledger; no figures) and the peak memory
(tracemalloc peak of Python/numpy allocations during the sweep, and the process's max RSS).

    .venv/bin/python benchmarks/bench_study.py
"""

from __future__ import annotations

import resource
import tempfile
import time
import tracemalloc

from glamsim.studies.runner import run_study
from glamsim.studies.spec import parse_spec
from glamsim.studies.sweep import ModelCache, evaluate, expand

SPEC = {
    "name": "bench",
    "title": "100,000-scenario benchmark",
    "evaluate": ["training", "serving"],
    "chunk_size": 25_000,
    "base": {"model": "glam-1.7b-64e", "tokens": 600e9, "chips": 256, "batch": 32},
    "axes": {
        "chip": ["v100", "tpu-v3", "a100-40gb", "a100-80gb", "tpu-v4", "tpu-v5p", "h100-sxm", "h200", "mi300x", "b200"],
        "model.n_experts": [8, 16, 32, 64, 128, 256, 512, 1024],
        "mfu": {"start": 0.1, "stop": 0.6, "num": 25},
        "prompt_len": {"start": 128, "stop": 8192, "num": 50, "integer": True},
    },
}


def sweep(spec):
    rows = expand(spec)
    return evaluate(spec, rows, ModelCache("bench"))


def main() -> None:
    spec = parse_spec(SPEC, "bench")
    sweep(parse_spec({**SPEC, "axes": {"chip": ["tpu-v4"]}}, "warm-up"))  # imports and caches
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        df = sweep(spec)
        times.append(time.perf_counter() - t0)
    n = len(df)
    best, median = min(times), sorted(times)[1]
    print(f"scenarios: {n:,} ({df.shape[1]} columns)")
    print(
        f"sweep (expand + evaluate): median {median:.3f} s, best {best:.3f} s -> {n / median:,.0f} scenarios/s"
        f"  [goal: under 2 s: {'met' if median < 2 else 'NOT met'}]"
    )

    tracemalloc.start()
    sweep(spec)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak traced memory during the sweep: {peak / 2**20:,.0f} MiB")

    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        run = run_study(spec, out, progress=False)
        total = time.perf_counter() - t0
    print(
        f"run_study end to end ({run.chunks_computed} chunks, parquet + csv + ledger): {total:.2f} s "
        f"-> {n / total:,.0f} scenarios/s"
    )
    print(f"process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
