"""Expert parallelism (issue 6): the compiled sharded training step against the cost model.

    .venv/bin/python benchmarks/bench_parallel.py [MODEL ...]     (default: glam-tiny glam-8b-64e glam-64b-64e)

Runs itself with 8 CPU devices faked by XLA.  For each model it lowers and compiles the sharded
training step on a data=2,expert=4 mesh from abstract shapes (nothing allocated, so the
1.2T-parameter GLaM compiles on a laptop), then prints the collectives XLA emitted (count and
result bytes per device, by kind) beside `glamsim.cost.communication`'s all-to-all and gradient
bytes for the same step, and the lower/compile times.  Batch: sequences of up to 512 tokens making
8 routing groups of the model's router size (one per device), f32.
"""

from __future__ import annotations

import os
import sys
import time

if __name__ == "__main__" and "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    os.environ["JAX_PLATFORMS"] = "cpu"
    os.execv(sys.executable, [sys.executable, *sys.argv])

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax.sharding import NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P

from glamsim.accounting import ModelArrays  # noqa: E402
from glamsim.config import load_model  # noqa: E402
from glamsim.cost import communication as comm  # noqa: E402
from glamsim.measure.xla import collectives  # noqa: E402
from glamsim.model.train import TrainConfig, train_step  # noqa: E402
from glamsim.parallel import spmd  # noqa: E402
from glamsim.parallel.mesh import make_mesh  # noqa: E402
from glamsim.parallel.rules import batch_spec  # noqa: E402

MESH = "data=2,expert=4"
SEQ = 512


def bench(name: str) -> None:
    cfg = load_model(name)
    seq = min(SEQ, cfg.max_seq_len)
    batch_size = max(1, 8 * cfg.router_group_size // seq)
    mesh = make_mesh(MESH)
    train_cfg = TrainConfig(batch_size=batch_size, seq_len=seq)
    spmd.check_layout(cfg, mesh, batch_size, seq)
    state, shardings = spmd.state_shardings(cfg, train_cfg, mesh)
    batch = {
        k: jax.ShapeDtypeStruct((batch_size, seq), jnp.int32, sharding=NamedSharding(mesh, batch_spec(mesh)))
        for k in ("inputs", "targets")
    }
    step = jax.jit(
        train_step,
        static_argnums=0,
        in_shardings=(shardings, NamedSharding(mesh, batch_spec(mesh))),
        out_shardings=(shardings, NamedSharding(mesh, P())),
    )
    t0 = time.perf_counter()
    lowered = step.lower(state.graphdef, state, batch)
    t1 = time.perf_counter()
    compiled = lowered.compile()
    t2 = time.perf_counter()
    hlo = collectives(compiled.as_text())
    m = ModelArrays.of(cfg)
    a2a = comm.alltoall_bytes_per_chip(m, batch_size * seq, 8, bytes_per_activation=4)[0]
    replicated, expert = comm.gradient_bytes_per_chip(m, expert_parallel=4, bytes_per_grad=4)
    grads = replicated[0] + expert[0]
    print(f"\n{name}: {batch_size} x {seq} tokens on {MESH} (f32); lower {t1 - t0:.1f} s, compile {t2 - t1:.1f} s")
    for kind, c in sorted(hlo.items()):
        print(f"  HLO {kind:11s} {int(c['count']):4d} ops  {c['bytes'] / 1e6:12.3f} MB per device")
    got = hlo.get("all-to-all", {"count": 0, "bytes": 0})
    print(
        f"  all-to-all ops: {int(got['count'])} (expected 4 x {cfg.n_moe_layers} MoE layers = {4 * cfg.n_moe_layers})"
    )
    print(f"  all-to-all bytes: HLO {got['bytes']:.0f}, cost model {a2a:.0f}, ratio {got['bytes'] / a2a:.6f}")
    ar = hlo.get("all-reduce", {"bytes": 0})["bytes"]
    print(f"  all-reduce bytes: HLO {ar:.0f}, cost model gradients {grads:.0f}, ratio {ar / grads:.4f}")


if __name__ == "__main__":
    for model in sys.argv[1:] or ["glam-tiny", "glam-8b-64e", "glam-64b-64e"]:
        bench(model)
