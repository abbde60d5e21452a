"""Serving utilisation from published measurements: the defaults of a serving scenario's `mfu`
and `mbu`, derived, not typed.

Each row of `hardware_profiles/serving_runs.yaml` (a published benchmark: model, chips, precision,
prompt and generated tokens at concurrency 1, measured time to first token and inter-token
latency) is replayed on `serving_costs` at full utilisation.  The decode step at batch 1 is
memory-bound, so MBU = ideal step / measured ITL; the prefill of the longest prompt is
compute-bound, so MFU = ideal prefill / measured TTFT.  Both absorb what the roofline leaves out
(kernel efficiency, tensor-parallel all-reduces, scheduling), which is why a serving estimate uses
them by default; `mfu=1, mbu=1` is the ideal roofline.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from pydantic import Field

from glamsim.accounting import ModelArrays
from glamsim.config import Frozen, ModelConfig, data_dir, read_yaml, validate_as
from glamsim.profiles import Dtype, load_chip
from glamsim.scenario import PRECISION_BYTES, Precision


class ServingRow(Frozen):
    prompt_len: int = Field(ge=1)
    gen_len: int = Field(ge=1)
    concurrency: int = Field(ge=1)
    ttft_ms: float = Field(gt=0)
    itl_ms: float = Field(gt=0)


class ServingRun(Frozen):
    """A published serving benchmark: what ran, on what, and what it measured."""

    source: str
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


def replay(run: ServingRun) -> list[dict]:
    """Each row's ideal prefill and decode step (full utilisation) and the utilisation they imply."""
    from glamsim.cost.serving import BYTES_PER_GB, serving_costs

    chip = load_chip(run.chip)
    peak = getattr(chip, f"peak_flops_{run.dtype}").value
    m = ModelArrays.of(run.model)
    out = []
    for row in run.rows:
        r = serving_costs(
            m,
            row.concurrency,
            row.prompt_len,
            row.gen_len,
            run.chips,
            peak,
            chip.hbm_bandwidth_gb_per_s.value * BYTES_PER_GB,
            np.nan,
            1.0,
            0.0,
            0.0,
            bytes_per_param=PRECISION_BYTES[run.weight_precision],
            bytes_per_kv=PRECISION_BYTES[run.kv_precision],
        )
        ideal_step, ideal_prefill = float(r["decode_step_s"][0]), float(r["prefill_s"][0])
        out.append(
            {
                **row.model_dump(),
                "ideal_decode_step_ms": ideal_step * 1e3,
                "ideal_prefill_ms": ideal_prefill * 1e3,
                "mbu": ideal_step * 1e3 / row.itl_ms,
                "mfu": ideal_prefill * 1e3 / row.ttft_ms,
                "prefill_compute_bound": bool(r["prefill_compute_bound"][0]),
                "decode_compute_bound": bool(r["decode_compute_bound"][0]),
            }
        )
    return out


def derive_utilisation() -> dict[str, float]:
    """Default serving MBU (mean over every row's decode) and MFU (the prefill of each run's longest
    prompt, averaged over runs), from every published run."""
    mbu, mfu = [], []
    for run in serving_runs().values():
        rows = replay(run)
        mbu += [r["mbu"] for r in rows if not r["decode_compute_bound"]]
        longest = max(rows, key=lambda r: r["prompt_len"])
        mfu.append(longest["mfu"])
    return {"mbu": float(np.mean(mbu)), "mfu": float(np.mean(mfu))}
