"""Latency targets: the largest batch whose prefill meets a TTFT target and whose decode step
meets a TPOT target, and the one-line refusal when even batch 1 misses one."""

from __future__ import annotations

import numpy as np

from glamsim.accounting import (
    ModelArrays,
)
from glamsim.cost.serving.core import serving_costs
from glamsim.cost.serving.memory import serving_layout

MAX_TARGET_CANDIDATES = 2_000_000  # candidate (scenario, batch) pairs evaluated at once
CORE_ROW_KEYS = frozenset(
    "prompt_len gen_len chips hbm usable bpp bkv x ttft tpot peak_flops hbm_bandwidth_bytes_per_s mfu mbu "
    "interconnect_bytes_per_s comm_overlap bytes_per_activation prefill_chips".split()
)  # the rest of a row (routing skew, link tiers, idle power) passes to `serving_costs` as is


def batch_meeting_targets(
    m: ModelArrays,
    batch,
    prompt_len,
    gen_len,
    chips,
    hbm_bytes,
    usable_fraction,
    bytes_per_param,
    bytes_per_kv,
    expert_parallel,
    ttft_s,
    tpot_s,
    placement="sharded",
    prefill_chips=np.nan,
    **roofline,
) -> dict:
    """Per scenario, the largest batch b in 1..batch whose prefill (of the b prompts) takes at most
    `ttft_s` and whose decode step at b takes at most `tpot_s` (NaN: no target), on `chips` (NaN:
    the fewest that hold b) laid out by `serving_layout` (placement, expert span, prefill pool).

    Every candidate batch is evaluated by `serving_costs` (the estimate's own formulas), all
    scenarios' candidates in one vectorised call per chunk.  Returns arrays: `batch` (0: even
    batch 1 misses a target), `binding` (what stops b + 1: "ttft", "tpot", "ttft+tpot", "hbm", or
    "batch" when the given batch meets both), the prefill and decode step at batch 1 and at b + 1."""
    n = len(np.atleast_1d(batch))
    arr = lambda v: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,))  # noqa: E731
    batch = arr(batch).astype(np.int64)
    placement = np.broadcast_to(np.asarray(placement, dtype=object), (n,))
    out = {"batch": np.zeros(n), "binding": np.full(n, "", dtype=object)}
    for k in ("prefill_s_at_1", "decode_step_s_at_1", "prefill_s_next", "decode_step_s_next"):
        out[k] = np.full(n, np.nan)
    per_row = {
        k: arr(v)
        for k, v in dict(
            prompt_len=prompt_len,
            gen_len=gen_len,
            chips=chips,
            hbm=hbm_bytes,
            usable=usable_fraction,
            bpp=bytes_per_param,
            bkv=bytes_per_kv,
            x=expert_parallel,
            ttft=ttft_s,
            tpot=tpot_s,
            prefill_chips=prefill_chips,
            **roofline,
        ).items()
    }
    ends = np.cumsum(batch + 1)  # candidates 1..batch + 1 (b + 1 says what binds)
    lo = 0
    while lo < n:  # chunks of rows of at most MAX_TARGET_CANDIDATES candidates (at least one row)
        base = ends[lo - 1] if lo else 0
        hi = max(lo + 1, int(np.searchsorted(ends, base + MAX_TARGET_CANDIDATES, side="right")))
        rows = np.arange(lo, hi)
        counts = batch[rows] + 1
        idx = np.repeat(rows, counts)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        b = np.arange(len(idx)) - np.repeat(starts, counts) + 1.0
        mi = m.with_(**{f: np.broadcast_to(np.asarray(getattr(m, f)), (n,))[idx] for f in m.__dataclass_fields__})
        r = {k: v[idx] for k, v in per_row.items()}
        lay = serving_layout(
            mi,
            placement[idx],
            b,
            r["prompt_len"],
            r["gen_len"],
            r["chips"],
            r["x"],
            r["prefill_chips"],
            r["hbm"],
            r["usable"],
            r["bpp"],
            r["bkv"],
        )
        c = lay["chips"]
        nan = np.full(len(idx), np.nan)
        extra = {k: r[k] for k in r if k not in CORE_ROW_KEYS}
        res = serving_costs(
            mi,
            b,
            r["prompt_len"],
            r["gen_len"],
            c,
            r["peak_flops"],
            r["hbm_bandwidth_bytes_per_s"],
            nan,
            nan,
            nan,
            nan,
            mfu=r["mfu"],
            mbu=r["mbu"],
            bytes_per_param=r["bpp"],
            bytes_per_kv=r["bkv"],
            expert_parallel=lay["expert_parallel"],
            interconnect_bytes_per_s=r["interconnect_bytes_per_s"],
            comm_overlap=r["comm_overlap"],
            bytes_per_activation=r["bytes_per_activation"],
            placement=placement[idx],
            dense_shards=lay["dense_shards"],
            prefill_chips=r["prefill_chips"],
            prefill_dense_shards=lay["prefill_dense_shards"],
            **extra,
        )
        pre, step = res["prefill_s"], res["decode_step_s"]
        ok_ttft = np.isnan(r["ttft"]) | (pre <= r["ttft"])
        ok_tpot = np.isnan(r["tpot"]) | (step <= r["tpot"])
        fits = lay["fits"] & lay["prefill_fits"]
        within = b <= np.repeat(batch[rows], counts)
        best = np.maximum.reduceat(np.where(ok_ttft & ok_tpot & fits & within, b, 0.0), starts)
        out["batch"][rows] = best
        out["prefill_s_at_1"][rows], out["decode_step_s_at_1"][rows] = pre[starts], step[starts]
        nxt = starts + best.astype(np.int64)  # the candidate b + 1 (the last is batch + 1)
        out["prefill_s_next"][rows], out["decode_step_s_next"][rows] = pre[nxt], step[nxt]
        at_cap = best == batch[rows]
        why = np.where(
            ~fits[nxt],
            "hbm",
            np.where(~ok_ttft[nxt] & ~ok_tpot[nxt], "ttft+tpot", np.where(~ok_ttft[nxt], "ttft", "tpot")),
        )
        out["binding"][rows] = np.where(at_cap, "batch", why)
        lo = hi
    return out


def ms_text(seconds: float) -> str:
    return f"{seconds * 1e3:.4g} ms"


def targets_missed(ttft_ms, tpot_ms, t: dict, i: int, chip_name: str, chips) -> str:
    """The refusal of targets that even batch 1 misses (row `i` of `batch_meeting_targets`'s `t`),
    one line for a single estimate and a study row alike."""
    on = f"{chips:g} chips" if chips is not None else "the fewest chips that hold it (give --chips for more)"
    missed = [
        f"{name}={target:g} (batch 1 takes {ms_text(got)} at best)"
        for name, target, got in (
            ("ttft_ms", ttft_ms, t["prefill_s_at_1"][i]),
            ("tpot_ms", tpot_ms, t["decode_step_s_at_1"][i]),
        )
        if target is not None and got * 1e3 > target
    ]
    return f"{' and '.join(missed)}: even batch 1 misses it on {chip_name}, on {on}"
