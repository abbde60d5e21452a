"""Request-level serving: requests arriving over time on a vLLM-style continuous-batching scheduler.

Requests arrive Poisson at a rate (requests/s), or from N closed-loop clients (each sends its next
request when its previous one completes, as benchmark clients such as NVIDIA's genai-perf/AIPerf
do at a fixed concurrency), with fixed prompt/output lengths or a trace of them.  Each iteration
the scheduler does what vLLM v1's does (`vllm/v1/core/sched/scheduler.py`, FCFS):

- running requests first, in admission order, each taking the tokens it still needs (its
  uncomputed prompt, a chunk of it, or one decode token) while the per-step token budget lasts
  (max_num_batched_tokens; chunked prefill);
- KV-cache blocks (of `block_size` tokens) for what each computes; when they run out the newest
  running requests are preempted (their cache freed, recomputed later from scratch: vLLM v1's
  recompute preemption) and go back to the front of the queue, and no one is admitted that step;
- then waiting requests, oldest first, while the budget, max_num_seqs and free blocks allow.

A step's time is the closed form's own step (`glamsim.cost.serving.core.step_parts`: roofline of
its FLOPs over peak x mfu against weights read once plus its KV reads over bandwidth x mbu, the
experts its tokens touch, the all-to-alls), tabulated once per token count, since a step is
max(compute, memory) + rest with compute linear in its attention context and memory in its KV
reads.  Prefill emits the first token; a token at position p attends to p + 1 keys.  Stretches in
which every running request decodes and nothing can change are advanced in one vectorised step
(until the first completion, the next arrival that could be admitted, or the cache's limit).

Defaults are vLLM's (vLLM engine arguments, docs.vllm.ai): max_num_seqs 256, block_size 16,
gpu_memory_utilization 0.9 (the scenario's hbm_usable_fraction); max_num_batched_tokens 8192, the
value `vllm serve` sets for its OpenAI server on large-memory GPUs (EngineArgs, V1 engine; 2048 on
smaller ones).  Goodput is DistServe's (Zhong et al., OSDI 2024): completed requests per second that
meet both the TTFT and the TPOT target.
"""

from __future__ import annotations

import csv
import json
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glamsim.accounting import ModelArrays, forward_flops_per_token
from glamsim.config import ConfigError, read_text, show
from glamsim.cost.power import CURVE
from glamsim.cost.power import power_w as power_at_load
from glamsim.cost.serving.core import step_parts
from glamsim.cost.serving.memory import kv_cache_bytes, weight_bytes_total

VLLM_MAX_NUM_SEQS = 256  # vLLM engine arguments: --max-num-seqs
VLLM_MAX_NUM_BATCHED_TOKENS = 8192  # vLLM V1 `vllm serve` on large-memory GPUs: --max-num-batched-tokens
VLLM_BLOCK_SIZE = 16  # vLLM engine arguments: --block-size (CUDA)
MAX_TRACE_ROWS = 1_000_000
MAX_TRACE_BYTES = 64 * 2**20
MAX_LEN_TOKENS = 2**24
PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class Workload:
    """Requests: their prompt and output lengths, and how they arrive (`arrival_s` sorted, Poisson;
    else `concurrency` closed-loop clients)."""

    prompt_len: np.ndarray
    output_len: np.ndarray
    arrival_s: np.ndarray | None = None
    concurrency: int | None = None


def read_trace(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """prompt_len, output_len of each row of a CSV (header prompt_len,output_len) or JSONL file
    (one {"prompt_len": .., "output_len": ..} per line); a one-line ConfigError naming the file,
    the line and the value otherwise."""
    p = Path(path)
    where = f"trace={show(str(path))}"
    if not os.path.lexists(p):
        raise ConfigError(f"{where}: no such file")
    text = read_text(p, "trace", where, limit=MAX_TRACE_BYTES)  # a regular file (a FIFO would block), bounded
    rows: list[tuple[int, object, object]] = []
    if p.suffix.lower() in (".jsonl", ".ndjson"):
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                raise ConfigError(f"{where}: line {i}: not a JSON object") from None
            if not isinstance(obj, dict) or not {"prompt_len", "output_len"} <= set(obj):
                raise ConfigError(f"{where}: line {i}: expected keys prompt_len and output_len")
            rows.append((i, obj["prompt_len"], obj["output_len"]))
    else:
        reader = csv.reader(text.splitlines())
        header = [h.strip() for h in next(reader, [])]
        if "prompt_len" not in header or "output_len" not in header:
            raise ConfigError(f"{where}: line 1: expected a header with prompt_len and output_len")
        ip, io = header.index("prompt_len"), header.index("output_len")
        for i, rec in enumerate(reader, 2):
            if not rec:
                continue
            if len(rec) != len(header):
                raise ConfigError(f"{where}: line {i}: {len(rec)} fields, expected {len(header)}")
            rows.append((i, rec[ip].strip(), rec[io].strip()))
        if len(rows) > MAX_TRACE_ROWS:
            raise ConfigError(f"{where}: more than {MAX_TRACE_ROWS:,} rows")
    if not rows:
        raise ConfigError(f"{where}: no requests in it")
    if len(rows) > MAX_TRACE_ROWS:
        raise ConfigError(f"{where}: more than {MAX_TRACE_ROWS:,} rows")
    out = np.empty((len(rows), 2), dtype=np.int64)
    for j, (i, *values) in enumerate(rows):
        for k, (name, v) in enumerate(zip(("prompt_len", "output_len"), values)):
            out[j, k] = _length(v, f"{where}: line {i}: {name}")
    return out[:, 0], out[:, 1]


def _length(value, where: str) -> int:
    """A token count in [1, 2**24] from a trace cell (an int, or text of one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{where}={value!r}: expected a whole number of tokens")
    try:
        v = float(value)
    except ValueError:
        raise ConfigError(f"{where}={value!r}: expected a whole number of tokens") from None
    if not np.isfinite(v) or v != int(v):
        raise ConfigError(f"{where}={value!r}: expected a whole number of tokens")
    if not 1 <= v <= MAX_LEN_TOKENS:
        raise ConfigError(f"{where}={value!r}: must be between 1 and {MAX_LEN_TOKENS:,}")
    return int(v)


def poisson_arrivals(rate_per_s: float, n: int, seed: int = 0) -> np.ndarray:
    """Arrival times (s) of n requests of a Poisson process at `rate_per_s`, the first at its first
    exponential gap."""
    return np.cumsum(np.random.default_rng(seed).exponential(1.0 / rate_per_s, n))


class StepTable:
    """A step's parts by token count T (0..max_tokens), for the simulator's scalar lookups:
    time = max(c0[T] + cf[T] x Sf, m0[T] + mk[T] x Sk) + r[T], where Sf is the step's attention
    context summed over its tokens and Sk the KV entries it reads; busy_* the same at full
    utilisation (for the power model).  Built from `core.step_parts` in one vectorised call each."""

    UNIT = 1e6  # context tokens of the second evaluation, from which the slopes are read

    def __init__(self, m: ModelArrays, max_tokens: int, bytes_per_kv: float, **step_kwargs):
        t = np.arange(max_tokens + 1, dtype=np.float64)
        f0 = float(np.asarray(forward_flops_per_token(m, 0.0)).reshape(-1)[0])
        df = float(np.asarray(forward_flops_per_token(m, 1.0)).reshape(-1)[0]) - f0  # FLOPs per key attended
        kv = float(np.asarray(kv_cache_bytes(m, 1, 1, bytes_per_kv)).reshape(-1)[0])  # bytes per KV entry
        at = lambda s_ctx: step_parts(m, t, t * f0 + df * s_ctx, kv * s_ctx, **step_kwargs)  # noqa: E731
        a, b = at(0.0), at(self.UNIT)
        part = lambda d, k: np.broadcast_to(np.asarray(d[k], dtype=np.float64), t.shape)  # noqa: E731
        slope = lambda k: (part(b, k) - part(a, k)) / self.UNIT  # noqa: E731
        self.c0, self.cf = part(a, "compute_s"), slope("compute_s")
        self.m0, self.mk = part(a, "memory_s"), slope("memory_s")
        self.r = part(a, "rest_s")
        self.bc0, self.bcf = part(a, "busy_compute_s"), slope("busy_compute_s")
        self.bm0, self.bmk = part(a, "busy_memory_s"), slope("busy_memory_s")
        self._py = [x.tolist() for x in (self.c0, self.cf, self.m0, self.mk, self.r)]

    def time_s(self, tokens: int, s_flops: float, s_kv: float) -> float:
        c0, cf, m0, mk, r = self._py
        return max(c0[tokens] + cf[tokens] * s_flops, m0[tokens] + mk[tokens] * s_kv) + r[tokens]

    def times_s(self, tokens, s_flops, s_kv) -> np.ndarray:
        return (
            np.maximum(self.c0[tokens] + self.cf[tokens] * s_flops, self.m0[tokens] + self.mk[tokens] * s_kv)
            + (self.r[tokens])
        )

    def busy_s(self, tokens, s_flops, s_kv) -> tuple[np.ndarray, np.ndarray]:
        return self.bc0[tokens] + self.bcf[tokens] * s_flops, self.bm0[tokens] + self.bmk[tokens] * s_kv


def kv_capacity_tokens(m: ModelArrays, chips, hbm_bytes, usable_fraction, bytes_per_param, bytes_per_kv) -> float:
    """KV-cache tokens the replica holds: its chips' usable HBM less every weight, over the bytes of
    one token's keys and values (what vLLM's profiling leaves for the cache, activations aside)."""
    room = chips * hbm_bytes * usable_fraction - weight_bytes_total(m, bytes_per_param)
    per_token = kv_cache_bytes(m, 1, 1, bytes_per_kv)
    return float(np.asarray(room / per_token).reshape(-1)[0])


def simulate(
    table: StepTable,
    work: Workload,
    kv_blocks: int,
    max_num_seqs: int = VLLM_MAX_NUM_SEQS,
    max_num_batched_tokens: int = VLLM_MAX_NUM_BATCHED_TOKENS,
    block_size: int = VLLM_BLOCK_SIZE,
) -> dict:
    """Run the scheduler until every request completes.  Returns per request `arrival_s`,
    `first_token_s`, `finish_s`; per step `tokens`, `seqs`, `step_s`, `s_flops`, `s_kv`;
    and `preemptions`.

    Plain Python scalars and lists, no numpy inside the loop: a step touches a few dozen requests,
    where numpy's per-call overhead would cost more than the arithmetic.  Decode-only stretches are
    stepped in a tight loop on the table's scalars and stored as (batch, first context, steps),
    expanded into per-step rows once at the end."""
    P, G = work.prompt_len.astype(np.int64).tolist(), work.output_len.astype(np.int64).tolist()
    n = len(P)
    need_most = max(-(-(p + g) // block_size) for p, g in zip(P, G))
    if need_most > kv_blocks:
        raise ConfigError(
            f"prompt_len+output_len={max(p + g for p, g in zip(P, G))}: one request's KV cache needs more than the "
            f"{kv_blocks * block_size:,} tokens the replica holds"
        )
    closed = work.arrival_s is None
    arrival = [0.0] * n if closed else np.asarray(work.arrival_s, dtype=np.float64).tolist()
    released = min(work.concurrency or n, n) if closed else 0
    nan = float("nan")
    first, finish = [nan] * n, [nan] * n
    computed, generated = [0] * n, [0] * n
    running: list[int] = []
    requeued: deque[int] = deque()  # preempted, at the front of the queue
    fresh = 0  # next request never yet admitted
    now, done, preemptions = 0.0, 0, 0
    steps: list[tuple] = []  # regular steps: (tokens, seqs, step_s, s_flops, s_kv)
    stretches: list[tuple] = []  # decode-only stretches: (batch, first step's context sum, steps)
    c0, cf, m0, mk, r0 = table._py
    cap, bs = kv_blocks, block_size
    while done < n:
        if not closed:
            while released < n and arrival[released] <= now:
                released += 1
        if not running and not requeued and fresh >= released:
            now = arrival[fresh]  # idle until the next arrival
            continue
        budget, used, new = max_num_batched_tokens, 0, []
        seqs = 0
        s_flops = s_kv = 0.0
        for i, q in enumerate(running):
            c = computed[q]
            t = min(P[q] + generated[q] - c, budget)
            blk = -(-(c + t) // bs)
            if used + blk > cap:  # out of blocks: preempt this request and every newer one
                victims = running[i:]
                for v in victims:
                    computed[v] = 0
                preemptions += len(victims)
                requeued.extendleft(reversed(victims))
                running = running[:i]
                break
            used += blk
            budget -= t
            new.append(t)
            if t:
                seqs += 1
                s_flops += t * c + t * (t + 1) / 2
                s_kv += c + t
        else:
            while budget > 0 and len(running) < max_num_seqs:
                if requeued:
                    q = requeued[0]
                elif fresh < released:
                    q = fresh
                else:
                    break
                take = min(P[q] + generated[q], budget)  # computed is 0: new, or preempted
                need = -(-take // bs)
                if used + need > cap:
                    break
                if requeued:
                    requeued.popleft()
                else:
                    fresh += 1
                used += need
                budget -= take
                running.append(q)
                new.append(take)
                seqs += 1
                s_flops += take * (take + 1) / 2
                s_kv += take
        tokens = max_num_batched_tokens - budget
        if tokens == 0:  # nothing fits (cannot happen once one request fits the cache alone)
            raise ConfigError("max_num_batched_tokens: no request could be scheduled")
        dt = max(c0[tokens] + cf[tokens] * s_flops, m0[tokens] + mk[tokens] * s_kv) + r0[tokens]
        steps.append((tokens, seqs, dt, s_flops, s_kv))
        now += dt
        ended = 0
        decoding, total, k = True, 0, 1 << 62  # after the step: all decoding? their context, steps left
        for q, t in zip(running, new):
            if t:
                computed[q] += t
                if computed[q] == P[q] + generated[q]:
                    generated[q] += 1
                    if first[q] != first[q]:
                        first[q] = now
                    if generated[q] == G[q]:
                        finish[q] = now
                        ended += 1
                        continue
            c, g = computed[q], generated[q]
            decoding = decoding and c == P[q] + g - 1
            total += c
            k = min(k, G[q] - g)
        if ended:
            done += ended
            running = [q for q in running if generated[q] < G[q]]
            if closed:
                k = min(ended, n - released)
                arrival[released : released + k] = [now] * k
                released += k
        # stretches where every running request decodes and nothing else can change: stepped at once,
        # one after another while that holds (a completion with no one waiting ends one, not them)
        while running and decoding:
            if not closed:
                while released < n and arrival[released] <= now:
                    released += 1
            waiting = bool(requeued) or fresh < released
            room = len(running) < max_num_seqs and len(running) < max_num_batched_tokens
            b = len(running)
            k = min(k, (cap * bs - total - b * bs) // b)
            if (waiting and room) or k < 1:
                break
            until = arrival[fresh] if room and not waiting and not closed and fresh < n else float("inf")
            a0, af, b0, bk, rb = c0[b], cf[b], m0[b], mk[b], r0[b]
            x, j = float(total + b), 0  # a decode token at context c attends to c + 1 keys
            while j < k:
                now += max(a0 + af * x, b0 + bk * x) + rb
                j += 1
                x += b
                if now >= until:
                    break
            stretches.append((b, total + b, j))
            ended, total, k = 0, 0, 1 << 62
            for q in running:
                computed[q] += j
                generated[q] += j
                if generated[q] == G[q]:
                    finish[q] = now
                    ended += 1
                else:
                    total += computed[q]
                    k = min(k, G[q] - generated[q])
            if ended:
                done += ended
                running = [q for q in running if generated[q] < G[q]]
                if closed:
                    e = min(ended, n - released)
                    arrival[released : released + e] = [now] * e
                    released += e
    return {
        "arrival_s": np.array(arrival),
        "first_token_s": np.array(first),
        "finish_s": np.array(finish),
        "preemptions": preemptions,
        **_step_rows(table, steps, stretches),
    }


def _step_rows(table: StepTable, steps: list[tuple], stretches: list[tuple]) -> dict[str, np.ndarray]:
    """Per-step rows (tokens, seqs, step_s, s_flops, s_kv): the regular steps as recorded, each
    decode stretch (b, s0, k) expanded into its k steps (context sums s0, s0 + b, ...)."""
    rows = np.array(steps, dtype=np.float64).reshape(-1, 5).T
    if stretches:
        b, s0, k = (np.array(x, dtype=np.int64) for x in zip(*stretches))
        bb = np.repeat(b, k)
        j = np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k)
        s = (np.repeat(s0, k) + bb * j).astype(np.float64)
        dt = table.times_s(bb, s, s)
        rows = np.concatenate([rows, np.stack([bb, bb, dt, s, s]).astype(np.float64)], axis=1)
    return dict(zip(("tokens", "seqs", "step_s", "s_flops", "s_kv"), rows))


def percentiles(x: np.ndarray, name: str, unit: str = "s") -> dict[str, float]:
    """p50/p90/p99 and the mean of the finite values of x (NaN when none)."""
    x = x[np.isfinite(x)]
    out = {f"{name}_p{q}_{unit}": float(np.percentile(x, q)) if x.size else np.nan for q in PERCENTILES}
    return out | {f"{name}_mean_{unit}": float(x.mean()) if x.size else np.nan}


def request_outputs(
    table: StepTable,
    work: Workload,
    sim: dict,
    *,
    chips: float,
    pue: float,
    price_per_chip_hour_usd: float,
    power_w: float,
    ttft_slo_s: float = np.nan,
    tpot_slo_s: float = np.nan,
    warmup_requests: int = 0,
    **curve,
) -> dict[str, float]:
    """Latency percentiles, throughput, goodput, mean batch, energy and dollars of a simulation.

    Power per chip follows each step's tensor-core and HBM utilisation (`glamsim.cost.power.power_w`
    with the scenario's curve, `power_<name>` keywords); gaps with no request running draw the
    power at zero utilisation.  Energy is on the facility boundary (x PUE) and the boards'.
    Latency, throughput and goodput leave out the first `warmup_requests` requests by arrival (a
    benchmark's warm-up, or the ramp before its steady-state windows): they are measured over the
    others, from the first of them to arrive to the last to finish; energy and dollars count all."""
    arrival, first, finish = sim["arrival_s"], sim["first_token_s"], sim["finish_s"]
    out_len = work.output_len.astype(np.float64)
    makespan = float(finish.max() - min(arrival.min(), 0.0))
    kept = np.argsort(arrival, kind="stable")[min(int(warmup_requests), len(arrival) - 1) :]
    a, f, e, o = arrival[kept], first[kept], finish[kept], out_len[kept]
    ttft, e2e = f - a, e - a
    tpot = np.where(o > 1, (e - f) / np.maximum(o - 1, 1), np.nan)
    window = makespan if warmup_requests == 0 else float(e.max() - a.min())
    dt = sim["step_s"]
    tok = sim["tokens"].astype(np.int64)
    bc, bm = table.busy_s(tok, sim["s_flops"], sim["s_kv"])
    args = [power_w, *(curve[f"power_{k}"] for k in CURVE)]
    step_w = power_at_load(bc / dt, bm / dt, *args)
    idle_w = power_at_load(0.0, 0.0, *args)
    idle_s = max(makespan - float(dt.sum()), 0.0)
    server_j = chips * (float((step_w * dt).sum()) + float(idle_w) * idle_s)
    host_j = chips * curve["power_host_w"] * makespan
    n, tokens_out = len(arrival), float(out_len.sum())
    good = np.ones(len(kept), dtype=bool)
    if np.isfinite(ttft_slo_s):
        good &= ttft <= ttft_slo_s
    if np.isfinite(tpot_slo_s):
        good &= ~(tpot > tpot_slo_s)  # a one-token request has no TPOT to miss
    usd = price_per_chip_hour_usd * chips * makespan / 3600.0
    return {
        **percentiles(ttft, "ttft"),
        **percentiles(tpot, "tpot"),
        **percentiles(e2e, "e2e_latency"),
        "requests_simulated": n,
        "simulated_s": makespan,
        "requests_per_s": len(kept) / window,
        "output_tokens_per_s": float(o.sum()) / window,
        "output_tokens_per_s_per_chip": float(o.sum()) / window / chips,
        "goodput_requests_per_s": float(good.sum()) / window,
        "slo_attainment": float(good.mean()),
        "mean_batch_sequences": float(sim["seqs"].mean()),
        "preemptions": sim["preemptions"],
        "joules_per_request": server_j * pue / n,
        "joules_per_output_token": server_j * pue / tokens_out,
        "joules_per_output_token_boards": (server_j - host_j) / tokens_out,  # NaN where no host share is known
        "usd_per_request": usd / n,
        "usd_per_million_output_tokens": usd / tokens_out * 1e6,
    }
