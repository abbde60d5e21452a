"""Plan search: every layout of a model on N chips, those that fit, ranked by predicted step time.

A layout counted over the usable HBM by less than the memory count's error on published peaks
(`intervals.memory_band`) is kept as "tight" and ranked after every layout that fits (published
runs ran at such counts); one beyond it is dropped.

Candidates (numpy arrays, evaluated together, no Python loop per layout):
- tp: divisors of N up to the node size (64 on a TPU slice) that split the heads (and the key/value
  heads, or are a multiple of them) and the FFN widths (the experts' where they are split by tp,
  the shared experts'); sequence parallelism on whenever tp > 1 (same bytes as plain tensor
  parallelism, less memory; Megatron-Core requires it with expert parallelism);
- pp: divisors of N up to the layers (a stage count that does not divide them is marked
  `uneven=1`: the slowest stage holds the ceiling, as Llama 3's 126 layers on 16 stages);
  vp in {1, 2, 4} where pp > 1 and pp x vp <= layers; on Megatron, beside each pipelined split,
  the embedding and the loss counted as a layer each (`embed_loss=1`, its
  `--account-for-embedding-in-pipeline-split` and `--account-for-loss-in-pipeline-split`) where
  pp x vp divides the layers + 2, as Megatron-Core asserts (never uneven), and pp x vp > 2 (on
  two stages each gives a slot: the split without them);
- cp: 1, or for sequences of 16K tokens and more, divisors of N up to 32 that split the sequence;
- dp = N / (tp pp cp); ep: divisors of gcd(experts, dp) (1 for a dense model); on Megatron with
  tp > 1, beside them the folded expert layers (`etp=1`: each expert whole on one rank, ep any
  divisor of gcd(experts, tp x cp x dp), Megatron-Core's MoE parallel folding; etp between 1 and
  tp is not searched; tp need not divide the expert width of a folded split);
- ZeRO 0-3; microbatch 1, 2, 4, ... 64; recomputation none, selective, full, or full for half
  of each model chunk's layers (`recompute_layers`; chunks of 2+ layers) where the stack has such a
  knob: Megatron's (and Megatron-DeepSpeed's) `--recompute-method block --recompute-num-layers`,
  torchtitan's `selective_ac_option` 2 (every other block); not XLA, whose remat is a policy
  applied to every layer of the scanned stack; for an MoE model on Megatron, none and selective
  with its MoE blocks recomputed too (`recompute_moe=1`, `--recompute-modules moe`);
- the global batch: the given one (layouts whose dp x mb does not divide it are dropped), else
  ~4M tokens rounded up to a multiple of dp x mb (layouts with dp x mb above ~4M tokens dropped:
  the batch is a training choice, not something a layout may inflate).
Precisions, optimizer, fused attention and tensor-parallel overlap come from a base layout.
Ranking: step time (`time`), or energy (chips x step time x power: busy power while computing,
the profile's idle power while waiting when it has one) or dollars (chip-hours x price), per token.
"""

from __future__ import annotations

import math
import time

import numpy as np

from glamsim.accounting import ModelArrays
from glamsim.config import ConfigError, ModelConfig
from glamsim.predict.efficiency import DP_REDUCE_IN_BACKWARD, PP_SENDS_OVERLAPPED, by_stack, dp_gather_in_forward
from glamsim.predict.intervals import attention_kernel_of, memory_band, mfu_interval, routing_class
from glamsim.predict.layout import (
    BYTES,
    DEFAULT_BATCH_TOKENS,
    STACKS,
    Layout,
    LayoutArrays,
    check_dispatch,
    on_chip,
)
from glamsim.predict.memory import MEMORY_PARTS, fit_verdict, may_fit, memory_per_chip
from glamsim.predict.steptime import BREAKDOWN, predict
from glamsim.predict.tiers import Fabric, roof_burst_bound
from glamsim.profiles import ChipProfile

MICROBATCHES = (1, 2, 4, 8, 16, 32, 64)
VIRTUAL = (1, 2, 4)
MAX_CANDIDATES = 2_000_000
RANK_BY = ("time", "energy", "cost")


def _divisors(n: int, limit: int | None = None) -> list[int]:
    out = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    out = sorted(set(out + [n // d for d in out]))
    return [d for d in out if limit is None or d <= limit]


def candidates(
    cfg: ModelConfig, chips: int, seq_len: int, node: int, base: Layout, global_batch: int | None = None
) -> LayoutArrays:
    """Every layout of `cfg` on `chips` chips (before the fit check), as arrays."""
    kv = cfg.kv_heads
    widths = [cfg.d_ff] + ([cfg.shared_width] if cfg.is_moe else [])
    tps = [
        t
        for t in _divisors(chips, min(node, 64))
        if cfg.n_heads % t == 0 and (kv % t == 0 or t % kv == 0) and all(w % t == 0 for w in widths)
    ]
    folding = cfg.is_moe and base.stack == "megatron"
    pps = _divisors(chips, cfg.n_layers)
    cps = [c for c in _divisors(chips, 32) if seq_len % c == 0] if seq_len >= 16384 else [1]
    rows = []
    for t in tps:
        for p in pps:
            for c in cps:
                if chips % (t * p * c):
                    continue
                d = chips // (t * p * c)
                splits = []
                if not cfg.is_moe or cfg.expert_ff % t == 0:  # each expert split over the tp ranks
                    splits = [(e, t) for e in (_divisors(math.gcd(cfg.n_experts, d)) if cfg.is_moe else [1])]
                if folding and t > 1:  # folded: experts whole, ep over tp too
                    splits += [(e, 1) for e in _divisors(math.gcd(cfg.n_experts, t * c * d))]
                for e, f in splits:
                    for v in VIRTUAL:
                        for el in (0, 1) if p > 1 and base.stack == "megatron" else (0,):
                            if v > 1 and (p < 2 or p * v > cfg.n_layers + 2 * el):
                                continue
                            if el and ((cfg.n_layers + 2) % (p * v) or p * v == 2):
                                continue
                            rows.append((t, p, d, c, e, v, el, f))
    if not rows:
        raise ConfigError(f"chips={chips}: no tp x pp x dp x cp split of {chips} chips suits {cfg.name}")
    g = np.asarray(rows, dtype=np.float64)
    zero = np.arange(4, dtype=np.float64)
    mb = np.asarray(MICROBATCHES, dtype=np.float64)
    rc = np.asarray([0.0, 1.0, 2.0, 2.0])  # none, selective, full, full for half the layers
    halved = np.asarray([0.0, 0.0, 0.0, 1.0])
    moe_again = np.zeros(len(rc))
    # and none or selective with the MoE blocks recomputed, where the search stays within its bound
    extra = (0.0, 1.0)  # the recomputation levels they go beside
    if (
        cfg.is_moe
        and base.stack == "megatron"
        and len(rows) * len(zero) * len(mb) * (len(rc) + len(extra)) <= MAX_CANDIDATES
    ):
        rc, halved = np.append(rc, extra), np.append(halved, np.zeros(len(extra)))
        moe_again = np.append(moe_again, np.ones(len(extra)))
    shape = (len(rows), len(zero), len(mb), len(rc))
    if np.prod(shape) > MAX_CANDIDATES:
        raise ConfigError(f"chips={chips}: {np.prod(shape):,} candidate layouts; at most {MAX_CANDIDATES:,}")
    idx = np.indices(shape).reshape(4, -1)
    gi = g[idx[0]]
    t, p, d, c, e, v, el, f = (gi[:, i] for i in range(8))
    z, b, r = zero[idx[1]], mb[idx[2]], rc[idx[3]]
    slots = cfg.n_layers + 2 * el
    chunk = np.ceil(slots / (p * v))  # `stage.chunk_layers` (no embed_loss on two stages)
    part = np.where(halved[idx[3]] > 0, np.floor(chunk / 2), 0.0)
    if global_batch is not None:
        gbs = np.full_like(d, float(global_batch))
    else:
        want = max(1.0, math.ceil(DEFAULT_BATCH_TOKENS / seq_len))
        gbs = np.ceil(want / (d * b)) * d * b
        gbs = np.where(d * b <= want, gbs, 0.0)  # the batch is a training choice: at most 2x the default
    keep = (gbs > 0) & (np.mod(gbs, d * b) == 0) & (b <= gbs / d)
    interleaved_ok = (v == 1) | (np.mod(gbs / (d * b), p) == 0)
    # ZeRO over one rank is ZeRO-0 (folded, the experts' group is tp x cp x dp / ep ranks)
    keep &= interleaved_ok & ~((z > 0) & (d * c == 1) & (np.where(f < t, t * c * d / e, 1.0) <= 1))
    # half of a one-layer chunk is none or all of it; XLA recomputes every layer alike
    keep &= (halved[idx[3]] == 0) | ((chunk >= 2) & (base.stack != "xla"))
    k = np.flatnonzero(keep)

    def full(x) -> np.ndarray:
        return np.full(k.size, float(x))

    named = base.gather_overlap  # else the stack's at each row's ZeRO stage
    gather_overlap = full(named) if named is not None else dp_gather_in_forward(STACKS.index(base.stack), z[k])
    # the named reduction, else the stack's; ZeRO-3 rows (a search shards over all of dp) reduce no
    # step's gradients and keep the stack's, as their rebuilt layouts do
    stack = STACKS.index(base.stack)
    stacks = by_stack(DP_REDUCE_IN_BACKWARD, stack)
    named = base.grad_overlap
    grad_overlap = np.where(z[k] == 3, stacks, full(stacks if named is None else named))
    # the interleaved schedule's sends: named, else the stack's; none without virtual stages
    named = base.pp_overlap
    pp_overlap = np.where(v[k] > 1, by_stack(PP_SENDS_OVERLAPPED, stack) if named is None else float(named), 0.0)

    return LayoutArrays(
        tp=t[k],
        pp=p[k],
        dp=d[k],
        cp=c[k],
        ep=e[k],
        etp=f[k],
        zero=z[k],
        mb=b[k],
        gbs=gbs[k],
        vp=v[k],
        recompute=r[k],
        recompute_layers=part[k],
        recompute_moe=moe_again[idx[3]][k],
        sp=(t[k] > 1).astype(np.float64),
        flash=full(base.flash),
        tp_overlap=full(base.tp_overlap),
        a2a_overlap=full(base.a2a_overlap),
        a2a_dedup=full(base.a2a_dedup),
        expert_spread=full(base.expert_spread_code),
        uneven=(np.mod(slots[k], p[k] * v[k]) > 0).astype(float),
        embed_loss=el[k],
        param_bytes=full(BYTES[base.params]),
        grad_bytes=full(BYTES[base.grads]),
        state_bytes=full(BYTES[base.opt_state]),
        adam=full(base.optimizer == "adam"),
        stack=full(STACKS.index(base.stack)),
        fused=full(base.fused_code),
        attn=full(base.attn_code),
        cp_comm=full(base.cp_comm_code),
        loss_upcast=full(base.loss_upcast),
        master=full(base.master),
        shard=d[k],
        bucket_mb=full(base.bucket_mb or 0),
        gather_overlap=gather_overlap,
        grad_overlap=grad_overlap,
        pp_overlap=pp_overlap,
    )


def _power(prof: ChipProfile) -> tuple[float, float]:
    busy = prof.measured_system_power_w or prof.tdp_w
    busy_w = busy.value if busy else float("nan")
    idle_w = prof.idle_power_w.value if prof.idle_power_w else busy_w
    return busy_w, idle_w


def search(
    cfg: ModelConfig,
    prof: ChipProfile,
    chips: int,
    *,
    seq_len: int | None = None,
    global_batch: int | None = None,
    base: Layout | None = None,
    dtype: str | None = None,
    rank_by: str = "time",
    top: int = 5,
    expert_load: float | None = None,
) -> dict:
    """The `top` fitting layouts ranked by `rank_by`, with memory and time breakdowns, counts, and
    each MFU's interval (`glamsim.predict.intervals`: 80%, 95% far from what was validated, wider
    where published MoE rows like it lie outside; `mfu_range` says which, `mfu_interval` why)."""
    t0 = time.perf_counter()
    if rank_by not in RANK_BY:
        raise ConfigError(f"rank_by={rank_by!r}: expected one of {', '.join(RANK_BY)}")
    s = seq_len or cfg.max_seq_len
    if not 1 <= s <= cfg.max_seq_len:
        raise ConfigError(f"seq_len={s}: must be between 1 and the context ({cfg.max_seq_len}) of {cfg.name}")
    base = on_chip(base or Layout(), prof)
    check_dispatch(base, cfg)
    fab = Fabric.of(prof, dtype)
    m = ModelArrays.of(cfg)
    cand = candidates(cfg, chips, s, int(fab.chips_per_node), base, global_batch)
    if len(cand) == 0:
        raise ConfigError(f"global_batch={global_batch}: no layout of {chips} chips divides it into dp x mb")
    mem = memory_per_chip(m, s, cand, fab)
    band = memory_band()
    maybe = may_fit(mem["total"], mem["usable"], band.q)
    if not maybe.any():
        i = int(np.argmin(mem["total"]))
        lay = cand.layout(i, base)
        raise ConfigError(
            f"no layout of {cfg.name} fits {chips} x {prof.name}: the leanest, {lay.compact()}, "
            f"needs {mem['total'][i] / 1e9:.1f} GB per chip, {mem['shortfall'][i] / 1e9:.1f} GB more "
            f"than the {mem['usable'][i] / 1e9:.1f} GB usable, beyond the count's {band.level:.0%} error on "
            f"published peaks (x{np.exp(-band.q):.3f})"
        )
    ok = np.flatnonzero(maybe)
    fits = np.asarray(mem["fits"])[ok]
    sub = cand.take(ok)
    t = predict(m, s, sub, fab, expert_load)
    busy_w, idle_w = _power(prof)
    busy_s = t["compute_s"] + t["recompute_s"] + t["optimizer_s"]
    energy_j = chips * (busy_w * busy_s + idle_w * (t["step_s"] - busy_s))
    price = prof.price_per_chip_hour_usd.value if prof.price_per_chip_hour_usd else float("nan")
    tokens = sub.gbs * s
    per_token = {
        "time": t["step_s"] / tokens,
        "energy": energy_j / tokens,
        "cost": chips * t["step_s"] / 3600 * price / tokens,
    }
    key = per_token[rank_by]
    if np.isnan(key).all():
        raise ConfigError(f"rank_by={rank_by}: chip {prof.name} has no {'power' if rank_by == 'energy' else 'price'}")
    order = np.lexsort((t["step_s"], key, ~fits))[:top]  # the layouts that fit first, then the tight
    interval = mfu_interval(
        base.stack,
        chip=prof.name,
        n_experts=cfg.n_experts,
        routing=routing_class(cfg),
        seq_len=s,
        kernel=attention_kernel_of(base, prof.name),
        burst_bound=roof_burst_bound(prof),
    )
    kept = {k: np.asarray(mem[k])[ok] for k in (*MEMORY_PARTS, "total", "usable", "shortfall")}
    rows = []
    for j in order:
        lay = sub.layout(int(j), base)

        def g(a, j=j) -> float:
            return float(np.asarray(a)[j])

        rows.append(
            {
                "layout": lay.compact(),
                "global_batch": int(g(sub.gbs)),
                "microbatches": int(g(sub.microbatches)),
                "step_s": g(t["step_s"]),
                "mfu": g(t["mfu"]),
                "mfu_low": interval.around(g(t["mfu"]))[0],
                "mfu_high": interval.around(g(t["mfu"]))[2],
                "mfu_level": interval.level,
                "mfu_range": interval.label,
                "hfu": g(t["hfu"]),
                "tokens_per_s": g(t["tokens_per_s"]),
                "energy_j_per_token": g(energy_j) / g(tokens),
                "usd_per_million_tokens": g(per_token["cost"]) * 1e6,
                "breakdown": {k: g(t[k]) for k in BREAKDOWN},
                "memory": {k: g(kept[k]) for k in (*MEMORY_PARTS, "total")},
                "usable_bytes": float(mem["usable"][0]),
                **fit_verdict({k: v[j] for k, v in kept.items()}, prof.name),
            }
        )
    return {
        "model": cfg.name,
        "chip": prof.name,
        "chips": chips,
        "seq_len": s,
        "rank_by": rank_by,
        "candidates": len(cand),
        "fitting": int(fits.sum()),
        "tight": int(ok.size - fits.sum()),
        "memory_band": band.basis,
        "mfu_interval": interval.basis,
        "seconds": time.perf_counter() - t0,
        "plans": rows,
    }


def best(cfg: ModelConfig, prof: ChipProfile, chips: int, **kw) -> dict:
    """The fastest fitting layout's row, or where none fits the fastest tight one (what a training
    estimate without --mfu uses)."""
    return search(cfg, prof, chips, top=1, **kw)["plans"][0]
