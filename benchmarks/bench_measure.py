"""Instrumentation benchmarks (issue 5): ratios measured inside one process, medians after warm-up.

    .venv/bin/python benchmarks/bench_measure.py [moe|step|dispatch|count|all]

- moe:      MoE layer (top-2 of 8 and of 64 experts) vs the dense FFN with the same activated
            FLOPs (two-matrix GELU FFN of width 2 x expert width), forward + backward, at 2,048 and
            8,192 tokens (the slots per expert, hence the size of each expert matmul, grow with
            the tokens). Goal <= 1.3.
- step:     glam-small training step: achieved model FLOP/s / same-process matmul FLOP/s. Goal >= 0.6.
- dispatch: scatter vs einsum vs dropless dispatch, time and XLA FLOPs, routing groups of 256 and 2,048
            tokens (benchmarks/bench_moe.py measures the dispatches against the dense FFN).
- count:    `glamsim count glam-64b-64e --xla` (1.16T parameters from abstract shapes) and GPT-3:
            wall time, peak resident memory, XLA / analytic. Goal < 10 s and < 1 GB.
"""

from __future__ import annotations

import subprocess
import sys
import time

import jax
import jax.numpy as jnp
from flax import nnx

from glamsim.config import load_model
from glamsim.measure.timing import matmul_peak_flops, time_calls
from glamsim.measure.xla import program_cost
from glamsim.model.layers import FeedForward
from glamsim.model.moe import MoE

D, F, BATCH, SEQ = 256, 1024, 8, 256


def _layer_step(module, batch: int = BATCH):
    """Jitted forward + backward of a layer on a [B, S, D] input (sum of outputs as the loss)."""
    graphdef, params = nnx.split(module)

    def loss(p, x):
        out = nnx.merge(graphdef, p)(x)
        out = out[0] if isinstance(out, tuple) else out
        return jnp.sum(out)

    f = jax.jit(jax.grad(loss, argnums=(0, 1)))
    x = jax.random.normal(jax.random.key(1), (batch, SEQ, D))
    compiled = f.lower(params, x).compile()
    return (lambda: jax.block_until_ready(compiled(params, x))), program_cost(compiled).flops


def _cfg(experts: int, group: int, dense_width: int | None = None):
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
    return base.replace(name=f"moe-{experts}", d_model=D, d_ff=F, n_experts=experts, top_k=2, router_group_size=group)


def bench_moe() -> None:
    for batch in (BATCH, 4 * BATCH):
        tokens = batch * SEQ
        dense = FeedForward(_cfg(0, 0, 2 * F), dtype=jnp.float32, rngs=nnx.Rngs(0))
        dense_fn, dense_flops = _layer_step(dense, batch)
        t_dense = time_calls(dense_fn, 10, warmup=2).median_s
        print(
            f"{tokens} tokens: dense FFN (width {2 * F}, the activated FLOPs of top-2 of width {F}): "
            f"{t_dense * 1e3:.1f} ms, XLA {dense_flops:.3g} FLOPs"
        )
        for experts in (8, 64):
            fn, flops = _layer_step(MoE(_cfg(experts, 512), rngs=nnx.Rngs(0)), batch)
            t = time_calls(fn, 10, warmup=2).median_s
            print(
                f"  MoE top-2 of {experts:2d} experts (group 512, capacity factor 2, {2 * tokens // experts} "
                f"slots per expert): {t * 1e3:.1f} ms, XLA {flops:.3g} FLOPs -> time ratio MoE/dense "
                f"{t / t_dense:.2f} (goal <= 1.3), FLOPs ratio {flops / dense_flops:.2f}"
            )


def bench_step() -> None:
    from glamsim.measure.run import measure

    rec = measure(load_model("glam-small"), batch=8, steps=8, warmup=2)
    print(
        f"glam-small train step (batch 8 x 256): median {rec.step_time_median_s * 1e3:.0f} ms "
        f"(p10 {rec.step_time_p10_s * 1e3:.0f}, p90 {rec.step_time_p90_s * 1e3:.0f}), "
        f"{rec.tokens_per_s:.0f} tokens/s"
    )
    print(
        f"  model FLOP/s {rec.achieved_model_flops_per_s:.3g}, XLA FLOP/s {rec.achieved_xla_flops_per_s:.3g}, "
        f"same-process matmul {rec.peak_flops_per_s:.3g}"
    )
    print(
        f"  achieved / matmul: model FLOPs {rec.mfu:.2f}, XLA FLOPs {rec.hfu:.2f} (goal >= 0.6); "
        f"XLA / analytic hardware FLOPs {rec.xla_flops_per_step / rec.hardware_flops_per_step:.4f}"
    )


def bench_dispatch() -> None:
    for group in (256, 2048):
        res = {}
        for dispatch in ("scatter", "einsum", "dropless"):
            fn, flops = _layer_step(MoE(_cfg(8, group), dispatch=dispatch, rngs=nnx.Rngs(0)))
            res[dispatch] = (time_calls(fn, 5, warmup=1).median_s, flops)
        (ts, fs), (te, fe), (td, fd) = res["scatter"], res["einsum"], res["dropless"]
        print(
            f"group {group:4d}: scatter {ts * 1e3:.1f} ms / {fs:.3g} FLOPs, einsum {te * 1e3:.1f} ms / "
            f"{fe:.3g} FLOPs -> einsum/scatter time {te / ts:.2f}, FLOPs {fe / fs:.2f}; dropless (no groups, "
            f"nothing dropped) {td * 1e3:.1f} ms -> dropless/scatter time {td / ts:.2f} (XLA counts its largest "
            f"capacity rung: {fd / fs:.2f} x scatter's FLOPs)"
        )


def bench_count() -> None:
    """Each count in a fresh process; its peak RSS from /usr/bin/time (a forked child's own
    ru_maxrss would include this benchmark process's pages from before exec)."""
    import json
    import shutil
    import tempfile

    timer = shutil.which("time") or "/usr/bin/time"
    for model in ("glam-64b-64e", "gpt3-175b"):
        with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
            t0 = time.perf_counter()
            r = subprocess.run(
                [timer, "-f", "%M", "-o", rss.name, sys.executable, "-m", "glamsim", "count", model, "--xla", "--json"],
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - t0
            peak_gb = int(rss.read().split()[-1]) / 2**20
        d = json.loads(r.stdout)
        print(
            f"count {model} --xla: {wall:.1f} s wall (lower {d['lower_s']:.1f} s + cost analysis "
            f"{d['cost_analysis_s']:.1f} s), peak RSS {peak_gb:.2f} GB (goal < 10 s, < 1 GB); "
            f"XLA / analytic hardware {d['xla_over_hardware']:.4f}, XLA / model {d['xla_over_model']:.4f}"
        )


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    print(
        f"jax {jax.__version__} on {jax.devices()[0].device_kind}; matmul {matmul_peak_flops() / 1e9:.1f} GFLOP/s now"
    )
    for name, fn in (("moe", bench_moe), ("step", bench_step), ("dispatch", bench_dispatch), ("count", bench_count)):
        if which in (name, "all"):
            fn()
