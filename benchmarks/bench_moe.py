"""MoE dispatch benchmarks (issue 16): ratios measured inside one process, medians after warm-up.

    .venv/bin/python benchmarks/bench_moe.py [layer|step|xla|all] [--rounds N] [--repeats N]

- layer: MoE layer (top-2 of 8 and of 64 two-matrix GELU experts of width 1024, d_model 256) over
         the dense FFN with the same activated FLOPs (width 2 x 1024), forward + backward, at 2,048
         and 8,192 tokens, for each dispatch: scatter and einsum (capacity factor 2, routing groups
         of 512), dropless padded (the CPU default) and dropless ragged (jax.lax.ragged_dot; only at
         2,048 tokens, 3 rounds: on CPU it is a dense masked matmul, E x the useful FLOPs).  Each
         round times, per candidate, a dense FFN call then the candidate: the median over rounds of
         that ratio, which the 2-4x swings of a shared machine leave far steadier than a ratio of
         separate medians.  Goal <= 1.3.
- step:  glam-small training step (batch 8 x 256): achieved model FLOP/s over the same-process
         matmul (`glamsim.measure.run.measure`), for scatter and dropless, repeated: the range.
         Goal >= 0.6 with the best dispatch.
- xla:   XLA / analytic FLOPs of each dispatch on the layer (forward + backward) at 2,048 tokens.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from glamsim.config import load_model
from glamsim.measure.timing import matmul_peak_flops
from glamsim.measure.xla import program_cost
from glamsim.model.layers import FeedForward
from glamsim.model.moe import MoE

D, F, SEQ, GROUP = 256, 1024, 256, 512


def _cfg(experts: int = 0, dense_width: int | None = None):
    base = load_model("glam-small")
    if dense_width:
        return base.replace(
            name="dense-ffn",
            d_model=D,
            d_ff=dense_width,
            dense_ffn_gated=False,
            n_experts=0,
            top_k=0,
            moe_every=0,
            moe_offset=0,
        )
    return base.replace(
        name=f"moe-{experts}",
        d_model=D,
        d_ff=F,
        n_experts=experts,
        top_k=2,
        router_group_size=GROUP,
        capacity_factor=2.0,
    )


def layer_step(module, tokens: int):
    """Jitted forward + backward of a layer on [tokens / 256, 256, D] (sum of outputs as the loss):
    (call, XLA FLOPs)."""
    graphdef, params = nnx.split(module)

    def loss(p, x):
        out = nnx.merge(graphdef, p)(x)
        out = out[0] if isinstance(out, tuple) else out
        return jnp.sum(out)

    x = jax.random.normal(jax.random.key(1), (tokens // SEQ, SEQ, D))
    compiled = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(params, x).compile()
    return (lambda: jax.block_until_ready(compiled(params, x))), program_cost(compiled).flops


def paired(dense, calls: dict, rounds: int, warmup: int = 2) -> dict[str, np.ndarray]:
    """Per round and candidate: a dense call, then the candidate; the ratio of the two.  Timing the
    dense FFN right before each candidate keeps both under the same load (and away from the after-
    effects of a slow neighbour, e.g. a call that allocated gigabytes)."""
    for f in (dense, *calls.values()):
        for _ in range(warmup):
            f()
    out = {k: [] for k in calls}
    for _ in range(rounds):
        for k, f in calls.items():
            t0 = time.perf_counter()
            dense()
            t1 = time.perf_counter()
            f()
            out[k].append((time.perf_counter() - t1) / (t1 - t0))
    return {k: np.asarray(v) for k, v in out.items()}


def candidates(tokens: int, slow: bool = False):
    """(name, module) for every dispatch measured at this token count; `slow`: the ragged_dot
    dropless, E x the useful FLOPs on CPU (timed apart, a few rounds)."""
    out = []
    for experts in (8, 64):
        cfg = _cfg(experts)
        if slow:
            out.append(
                (
                    f"dropless E={experts} (ragged)",
                    MoE(cfg, dispatch="dropless", dropless_impl="ragged", rngs=nnx.Rngs(0)),
                )
            )
            continue
        out += [
            (f"scatter  E={experts}", MoE(cfg, dispatch="scatter", rngs=nnx.Rngs(0))),
            (f"einsum   E={experts}", MoE(cfg, dispatch="einsum", rngs=nnx.Rngs(0))),
            (f"dropless E={experts} (padded)", MoE(cfg, dispatch="dropless", dropless_impl="padded", rngs=nnx.Rngs(0))),
        ]
    return out


def bench_layer(rounds: int) -> None:
    for tokens in (2048, 8192):
        dense, dense_flops = layer_step(
            FeedForward(_cfg(dense_width=2 * F), dtype=jnp.float32, rngs=nnx.Rngs(0)), tokens
        )
        print(f"{tokens} tokens: dense FFN (width {2 * F}), XLA {dense_flops:.3g} FLOPs; {rounds} rounds")
        for slow in (False, True):
            if slow and tokens > 2048:
                continue
            calls, flops = {}, {}
            for name, module in candidates(tokens, slow):
                calls[name], flops[name] = layer_step(module, tokens)
            ratios = paired(dense, calls, 3 if slow else rounds, warmup=1 if slow else 2)
            for name, ratio in ratios.items():
                print(
                    f"  {name:28s} time / dense: median {np.median(ratio):.2f} (p25 {np.percentile(ratio, 25):.2f}, "
                    f"p75 {np.percentile(ratio, 75):.2f}); XLA FLOPs / dense {flops[name] / dense_flops:.2f}"
                )


def bench_xla() -> None:
    tokens = 2048
    _, dense_flops = layer_step(FeedForward(_cfg(dense_width=2 * F), dtype=jnp.float32, rngs=nnx.Rngs(0)), tokens)
    for name, module in candidates(tokens) + candidates(tokens, slow=True):
        _, flops = layer_step(module, tokens)
        print(
            f"{name:28s} XLA FLOPs fwd+bwd {flops:.3g} = {flops / dense_flops:.2f} x the dense FFN of equal "
            f"activated FLOPs"
        )


def bench_step(repeats: int) -> None:
    from glamsim.measure.run import measure

    cfg = load_model("glam-small")
    for dispatch in ("scatter", "dropless"):
        mfus, steps = [], []
        for _ in range(repeats):
            rec = measure(cfg, batch=8, steps=8, warmup=2, dispatch=dispatch, predict=False)
            mfus.append(rec.mfu)
            steps.append(rec.step_time_median_s)
        print(
            f"glam-small step, {dispatch:8s}: model FLOP/s / same-process matmul {min(mfus):.2f}-{max(mfus):.2f} "
            f"(median {np.median(mfus):.2f}) over {repeats} runs; step {min(steps) * 1e3:.0f}-{max(steps) * 1e3:.0f} "
            f"ms; dropped fraction {rec.routing.get('dropped_fraction', 0):.3f} (goal >= 0.6)"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("which", nargs="?", default="all", choices=["layer", "step", "xla", "all"])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(
        f"jax {jax.__version__} on {jax.devices()[0].device_kind}; matmul {matmul_peak_flops() / 1e9:.1f} GFLOP/s now"
    )
    if args.which in ("layer", "all"):
        bench_layer(args.rounds)
    if args.which in ("xla", "all"):
        bench_xla()
    if args.which in ("step", "all"):
        bench_step(args.repeats)
