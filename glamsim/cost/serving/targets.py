"""Latency targets: the largest batch whose prefill meets a TTFT target and whose decode step
meets a TPOT target, and the one-line refusal when even batch 1 misses one."""

from __future__ import annotations

import numpy as np

from glamsim.accounting import ModelArrays
from glamsim.cost.bundles import Hardware, ServingRun, Site, route
from glamsim.cost.serving.core import serving_costs
from glamsim.cost.serving.memory import serving_layout

MAX_TARGET_CANDIDATES = 1_000_000  # scenarios searched at once (each search is about log2(batch) calls)
CORE_ROW_KEYS = frozenset(
    "prompt_len gen_len chips hbm usable bpp bkv x ttft tpot peak_flops hbm_bandwidth_bytes_per_s mfu mbu "
    "interconnect_bytes_per_s comm_overlap bytes_per_activation prefill_chips".split()
)  # the rest of a row (routing skew, link tiers, idle power) goes to its bundle as is


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

    Found by bisection over b (prefill and decode time grow with the batch, memory too), all
    scenarios at once: about log2(batch) vectorised calls of `serving_costs` (the estimate's own
    formulas), so time and memory grow with the number of scenarios, not with the batch.  Exact on
    given chips; where the chips follow the batch (NaN), a larger batch on more chips can meet a
    target a smaller one missed, and the batch found meets the targets but may not be the largest
    (2 of 48 random GLaM, GPT-3 and Llama cases against the exhaustive search).  Returns
    arrays: `batch` (0: even batch 1 misses a target), `binding` (what stops b + 1: "ttft", "tpot",
    "ttft+tpot", "hbm", or "batch" when the given batch meets both), the prefill and decode step at
    batch 1 and at b + 1."""
    n = len(np.atleast_1d(batch))
    cols = dict(
        batch=batch,
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
        placement=placement,
        prefill_chips=prefill_chips,
        **roofline,
    )
    cols = {
        k: np.broadcast_to(np.asarray(v, dtype=object if k == "placement" else np.float64), (n,))
        for k, v in cols.items()
    }
    mf = {f: np.broadcast_to(np.asarray(getattr(m, f)), (n,)) for f in m.__dataclass_fields__}
    parts = [
        _search(
            m.with_(**{f: v[s : s + MAX_TARGET_CANDIDATES] for f, v in mf.items()}),
            {k: v[s : s + MAX_TARGET_CANDIDATES] for k, v in cols.items()},
        )
        for s in range(0, n, MAX_TARGET_CANDIDATES)
    ]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _search(mi: ModelArrays, r: dict) -> dict:
    """`batch_meeting_targets` on columns of one length (`r`: the arguments by short name)."""
    n = len(r["batch"])
    batch, placement = r.pop("batch").astype(np.int64), r.pop("placement")

    def at(b: np.ndarray):
        """(prefill s, decode step s, meets ttft, meets tpot, fits) of every scenario at batch b."""
        b = b.astype(np.float64)
        lay = serving_layout(
            mi, placement, b, r["prompt_len"], r["gen_len"], r["chips"], r["x"], r["prefill_chips"],
            r["hbm"], r["usable"], r["bpp"], r["bkv"],
        )  # fmt: skip
        nan = np.full(n, np.nan)
        run = ServingRun(
            mi,
            b,
            r["prompt_len"],
            r["gen_len"],
            lay["chips"],
            r["mfu"],
            r["mbu"],
            bytes_per_param=r["bpp"],
            bytes_per_kv=r["bkv"],
            bytes_per_activation=r["bytes_per_activation"],
            expert_parallel=lay["expert_parallel"],
            comm_overlap=r["comm_overlap"],
            placement=placement,
            dense_shards=lay["dense_shards"],
            prefill_dense_shards=lay["prefill_dense_shards"],
            prefill_chips=r["prefill_chips"],
        )
        hw = Hardware(
            r["peak_flops"],
            hbm_bandwidth_bytes_per_s=r["hbm_bandwidth_bytes_per_s"],
            interconnect_bytes_per_s=r["interconnect_bytes_per_s"],
        )
        rest = {k: r[k] for k in r if k not in CORE_ROW_KEYS}
        res = serving_costs(*route((run, hw, Site(nan, nan, nan)), **rest))
        pre, step = res["prefill_s"], res["decode_step_s"]
        ok_ttft = np.isnan(r["ttft"]) | (pre <= r["ttft"])
        ok_tpot = np.isnan(r["tpot"]) | (step <= r["tpot"])
        return pre, step, ok_ttft, ok_tpot, lay["fits"] & lay["prefill_fits"]

    lo, hi = np.zeros(n, np.int64), batch + 1  # lo meets every target (0: none), hi does not or is past the cap
    while (open_ := hi - lo > 1).any():
        mid = np.where(open_, (lo + hi) // 2, np.maximum(lo, 1))
        _, _, ok_ttft, ok_tpot, fits = at(mid)
        ok = ok_ttft & ok_tpot & fits
        lo = np.where(open_ & ok, mid, lo)
        hi = np.where(open_ & ~ok, mid, hi)
    pre1, step1, *_ = at(np.ones(n, np.int64))
    pre, step, ok_ttft, ok_tpot, fits = at(lo + 1)  # the candidate b + 1 (the last is batch + 1)
    why = np.where(~fits, "hbm", np.where(~ok_ttft & ~ok_tpot, "ttft+tpot", np.where(~ok_ttft, "ttft", "tpot")))
    return {
        "batch": lo.astype(np.float64),
        "binding": np.where(lo == batch, "batch", why).astype(object),
        "prefill_s_at_1": pre1,
        "decode_step_s_at_1": step1,
        "prefill_s_next": pre,
        "decode_step_s_next": step,
    }


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
