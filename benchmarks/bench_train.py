"""Training speed and quality of the JAX GLaM on this machine's CPU.

1. glam-small step time and tokens/s (median of timed steps after warm-up, scatter and einsum
   dispatch, and the dense twin for reference);
2. glam-small trained for a few minutes on the default corpus (the stdlib's .py files):
   validation bits per byte before and after;
3. glam-tiny and its dense twin trained the same way for a fixed number of steps.

    .venv/bin/python benchmarks/bench_train.py [--minutes 3] [--batch 8]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax

from glamsim.config import load_model
from glamsim.model.data import load_corpus, train_batch
from glamsim.model.train import TrainConfig, init_state, train_step
from glamsim.trainer import train


def step_time(name: str, corpus, batch: int, dispatch: str, warmup: int = 3, timed: int = 10) -> dict:
    cfg = load_model(name)
    tcfg = TrainConfig(batch_size=batch, dispatch=dispatch)
    seq = tcfg.context(cfg)
    state = init_state(cfg, 0, tcfg)
    step = jax.jit(train_step, static_argnums=0)
    times = []
    for i in range(warmup + timed):
        b = train_batch(corpus, i, batch, seq, 0)
        t0 = time.perf_counter()
        state, m = step(state.graphdef, state, b)
        jax.block_until_ready(m)
        times.append(time.perf_counter() - t0)
    t = statistics.median(times[warmup:])
    return {
        "model": name,
        "dispatch": dispatch,
        "batch": batch,
        "seq_len": seq,
        "step_s": t,
        "tokens_per_s": batch * seq / t,
        "compile_and_first_step_s": times[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0, help="training budget for glam-small")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--tiny-steps", type=int, default=600)
    args = ap.parse_args()
    corpus = load_corpus()
    print(
        f"corpus: {corpus.source}, {corpus.n_files} files, train {corpus.train.size / 1e6:.1f} MB, "
        f"validation {corpus.validation.size / 1e6:.2f} MB; devices: {jax.devices()}"
    )

    print("\n1. step time (median of 10 after 3 warm-up steps)")
    rows = [
        step_time("glam-small", corpus, args.batch, "scatter"),
        step_time("glam-small", corpus, args.batch, "einsum"),
        step_time("glam-small-dense", corpus, args.batch, "scatter"),
    ]
    for r in rows:
        print(
            f"  {r['model']:<17} {r['dispatch']:<8} batch {r['batch']} x {r['seq_len']}: "
            f"{1000 * r['step_s']:.0f} ms/step, {r['tokens_per_s']:.0f} tokens/s "
            f"(compile + first step {r['compile_and_first_step_s']:.1f} s)"
        )

    steps = max(10, int(60 * args.minutes / rows[0]["step_s"]))
    print(f"\n2. glam-small, {steps} steps (about {args.minutes:g} min at the measured speed)")
    s = train(
        load_model("glam-small"),
        TrainConfig(steps=steps, batch_size=args.batch, eval_every=steps, eval_batches=8),
        corpus,
        progress=False,
    )
    print(
        f"  validation {s['val_bpb_start']:.3f} -> {s['val_bpb']:.3f} bits per byte in {s['wall_s']:.0f} s "
        f"({s['tokens_per_s']:.0f} tokens/s)"
    )

    print(f"\n3. glam-tiny and its dense twin, {args.tiny_steps} steps, batch {args.batch} x 128")
    for name in ("glam-tiny", "glam-tiny-dense"):
        s = train(
            load_model(name),
            TrainConfig(steps=args.tiny_steps, batch_size=args.batch, eval_every=args.tiny_steps, eval_batches=8),
            corpus,
            progress=False,
        )
        print(
            f"  {name:<16} validation {s['val_bpb_start']:.3f} -> {s['val_bpb']:.3f} bits per byte "
            f"in {s['wall_s']:.0f} s ({s['tokens_per_s']:.0f} tokens/s)"
        )


if __name__ == "__main__":
    main()
