"""Serving efficiency from published measurements: the two constants of the regime model that no
datasheet gives, calibrated, and every published row replayed.

Each run of `hardware_profiles/serving_runs.yaml` is a published benchmark (model, chips, precision,
prompt and output tokens, concurrency; measured time to first token, inter-token latency,
throughput).  `calibrate` fits, on concurrency-1 rows only, the fixed time per kernel `kernel_us`
(so that the batch-1 decode steps take their ITLs) and the large-matmul fraction `mfu` (so that the
longest prompt's prefill takes its TTFT), with HBM at the sourced `mbu`; `replay` runs any row on the
request simulator in closed loop, and the rows not calibrated on are the check
(`benchmarks/bench_serving.py`).
"""

from __future__ import annotations

from functools import cache

import numpy as np
from pydantic import Field

from glamsim.config import Frozen, ModelConfig, data_dir, read_yaml, validate_as
from glamsim.profiles import Dtype
from glamsim.scenario import Precision


class ServingRow(Frozen):
    prompt_len: int = Field(ge=1)
    gen_len: int = Field(ge=1)
    concurrency: int = Field(ge=1)
    ttft_ms: float | None = Field(None, gt=0)
    itl_ms: float | None = Field(None, gt=0)
    tokens_per_s: float | None = Field(None, gt=0)
    note: str = ""


class ServingRun(Frozen):
    """A published serving benchmark: what ran, on what, and what it measured."""

    source: str
    where: str = ""
    model: ModelConfig
    chip: str
    chip_note: str = ""
    chips: int = Field(ge=1)
    dtype: Dtype
    weight_precision: Precision
    kv_precision: Precision
    kv_note: str = ""
    rows: list[ServingRow] = Field(min_length=1)


class ServingRuns(Frozen):
    runs: dict[str, ServingRun]


@cache
def serving_runs() -> dict[str, ServingRun]:
    path = data_dir("hardware_profiles") / "serving_runs.yaml"
    return validate_as(ServingRuns, read_yaml(path), str(path)).runs


def _fields(run: ServingRun, row: ServingRow, **fields) -> dict:
    """The estimate's inputs for one published row (power fixed: only times are compared)."""
    return (
        dict(
            model=run.model,
            chip=run.chip,
            chips=run.chips,
            dtype=run.dtype,
            weight_precision=run.weight_precision,
            kv_precision=run.kv_precision,
            prompt_len=row.prompt_len,
            gen_len=row.gen_len,
            power_w=700.0,
        )
        | fields
    )


def closed_form(run: ServingRun, row: ServingRow, **fields) -> dict:
    """The closed form (`estimate_serving`) of one row at batch 1: prefill_s and decode_step_s."""
    from glamsim.cost.serving import estimate_serving

    e = estimate_serving(**_fields(run, row, batch=1, **fields))
    return {"prefill_s": e["prefill_s"], "decode_step_s": e["decode_step_s"]}


def calibrate(rows: list[tuple[ServingRun, ServingRow]] | None = None) -> dict[str, float]:
    """`kernel_us` and `mfu` from concurrency-1 rows (default: every run's), HBM at the sourced mbu.

    A batch-1 decode step is linear in kernel_us (its overhead) and memory-bound, so kernel_us is
    the least-squares fit of the steps to the rows' ITLs; then a prefill is its overhead plus
    compute / mfu, so mfu puts the longest prompt's prefill on its TTFT."""
    if rows is None:
        rows = [(run, r) for run in serving_runs().values() for r in run.rows if r.concurrency == 1]
    itl = [(run, r) for run, r in rows if r.itl_ms is not None]
    base = np.array([closed_form(run, r, kernel_us=0.0)["decode_step_s"] for run, r in itl])
    slope = np.array([closed_form(run, r, kernel_us=1.0)["decode_step_s"] for run, r in itl]) - base  # s per us
    measured = np.array([r.itl_ms for _, r in itl]) / 1e3
    kernel_us = max(float(slope @ (measured - base) / (slope @ slope)), 0.0)
    run, row = max(((run, r) for run, r in rows if r.ttft_ms is not None), key=lambda x: x[1].prompt_len)
    one = closed_form(run, row, mfu=1.0, kernel_us=kernel_us)["prefill_s"]
    compute = closed_form(run, row, mfu=0.5, kernel_us=kernel_us)["prefill_s"] - one  # compute s at mfu 1
    mfu = compute / (row.ttft_ms / 1e3 - (one - compute))
    return {"mfu": float(mfu), "kernel_us": kernel_us}


def replay(run: ServingRun, row: ServingRow, **fields) -> dict:
    """One published row on the request simulator: `row.concurrency` closed-loop clients sending
    10 x concurrency requests (at least 20) after 2 x concurrency left out as the benchmark's ramp,
    as the page's AIPerf clients did; mean TTFT and ITL (ms) and output tokens/s, beside the
    published ones (None where the page gives none)."""
    from glamsim.cost.serving import estimate_serving

    c = row.concurrency
    # AIPerf/GenAI-Perf report steady state (perf_analyzer measures in windows until consecutive
    # ones agree within its stability percentage): the first two generations of the closed-loop
    # clients, all arriving at t = 0 and then staggered by their completions, are left out
    fields = {"warmup_requests": 2 * c, **fields}
    e = estimate_serving(**_fields(run, row, concurrency=c, n_requests=max(10 * c, 20) + 2 * c, **fields))
    return {
        "ttft_ms": (e["ttft_mean_s"] * 1e3, row.ttft_ms),
        "itl_ms": (e["tpot_mean_s"] * 1e3, row.itl_ms),
        "tokens_per_s": (e["output_tokens_per_s"], row.tokens_per_s),
    }
