"""Expert and data parallelism on 8 CPU devices faked by XLA, and on two processes forming one cluster.

The device count must be set before JAX is imported, and this pytest process already imported it
with one device, so the 8-device checks run once in a subprocess (this file run as a script, one
compile per program) that writes its measurements to JSON; the tests below judge them.  The
multi-process test starts two real `glamsim train` processes with 4 devices each on localhost.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

MESH = "data=2,expert=4"
BATCH, SEQ, STEPS = 16, 128, 3  # 2048 tokens: 8 routing groups of 256, one per device
CORPUS = str(Path(sysconfig.get_paths()["stdlib"]) / "argparse.py")
TRAIN_ARGS = [
    "--model",
    "glam-tiny",
    "--steps",
    STEPS,
    "--batch",
    BATCH,
    "--seq-len",
    SEQ,
    "--corpus",
    CORPUS,
    "--eval-batches",
    "1",
    "--eval-every",
    "1000",
    "--json",
]
WORKER_DEADLINE_S = 300
CLUSTER_DEADLINE_S = 240


def _env(n_devices: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    env.update(XLA_FLAGS=f"--xla_force_host_platform_device_count={n_devices}", JAX_PLATFORMS="cpu")
    return env


@pytest.fixture(scope="module")
def eight(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("parallel") / "eight.json"
    proc = subprocess.run(
        [sys.executable, __file__, str(out)], env=_env(8), capture_output=True, text=True, timeout=WORKER_DEADLINE_S
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_sharded_loss_and_gradients_equal_single_device(eight):
    for mesh, r in eight["equality"].items():
        assert r["loss_rel_err"] <= 1e-5, mesh
        assert r["grad_max_rel_err"] <= 1e-5, (mesh, r["worst_leaf"])
        assert r["n_grad_leaves"] == eight["n_param_leaves"]


def test_expert_weights_are_split_over_the_expert_axis(eight):
    e = eight["experts"]
    assert e["n_leaves"] == 4  # wi_0 and wo of two MoE layers
    assert e["rows_per_device"] == [8 // 4]  # each device holds E / 4 experts...
    assert e["distinct_slices"] == 4  # ...4 different slices, each on the 2 data replicas
    assert e["replicated_leaves_whole_everywhere"]


@pytest.mark.parametrize("dispatch", ["scatter", "einsum"])
def test_compiled_step_exchanges_experts_by_all_to_all(eight, dispatch):
    assert eight["measurement"] == {"mesh": {"data": 2, "expert": 4}, "n_devices": 8, "flops_ratio": 8}
    hlo = eight["collectives" if dispatch == "scatter" else "collectives_einsum"]  # scatter: `measure --mesh`'s record
    n_moe = 2
    assert hlo["all-to-all"]["count"] == 4 * n_moe  # dispatch and combine, forward and backward
    assert hlo["all-to-all"]["bytes"] == eight["collectives"]["all-to-all"]["bytes"]
    assert "all-gather" not in hlo, f"XLA fell back to all-gathers: {hlo}"


def test_cost_model_counts_the_compiled_all_to_all_bytes(eight):
    from glamsim.accounting import ModelArrays
    from glamsim.config import load_model
    from glamsim.cost import communication as comm

    m = ModelArrays.of(load_model("glam-tiny"))
    a2a = comm.alltoall_bytes_per_chip(m, BATCH * SEQ, 8, bytes_per_activation=4)[0]
    assert a2a == eight["collectives"]["all-to-all"]["bytes"]  # f32 on CPU
    replicated, expert = comm.gradient_bytes_per_chip(m, expert_parallel=4, bytes_per_grad=4)
    # XLA all-reduces every gradient (and some pre-reduction intermediates, e.g. the position bias)
    assert replicated[0] + expert[0] <= eight["collectives"]["all-reduce"]["bytes"] <= 2 * (replicated[0] + expert[0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _summary(text: str) -> dict:
    """The --json summary among the CPU collectives' own log lines."""
    match = re.search(r"^\{$.*?^\}$", text, re.S | re.M)
    assert match, text[-2000:]
    return json.loads(match.group(0))


def run_cluster(cmds: list[list[str]], env: dict, logs: list[Path], deadline_s: float) -> list[str]:
    """Start every process, poll them; on a failure or past the deadline SIGKILL the rest (JAX ignores
    SIGTERM, and a live peer of a dead process waits forever)."""
    files = [p.open("w") for p in logs]
    procs = [subprocess.Popen(c, env=env, stdout=f, stderr=subprocess.STDOUT) for c, f in zip(cmds, files)]
    end = time.monotonic() + deadline_s
    try:
        while any(p.poll() is None for p in procs):
            failed = any(p.poll() not in (None, 0) for p in procs)
            if failed or time.monotonic() > end:
                break
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for p, f in zip(procs, files):
            p.wait()
            f.close()
    texts = [p.read_text() for p in logs]
    for p, t in zip(procs, texts):
        assert p.returncode == 0, f"process exited {p.returncode}:\n{t[-3000:]}"
    return texts


def test_two_processes_train_like_one_process_with_eight_devices(eight, tmp_path):
    port = _free_port()
    cmds = [
        [
            sys.executable,
            "-m",
            "glamsim",
            "train",
            *map(str, TRAIN_ARGS),
            "--mesh",
            MESH,
            "--coordinator",
            f"127.0.0.1:{port}",
            "--num-processes",
            "2",
            "--process-id",
            str(i),
        ]
        for i in range(2)
    ]
    texts = run_cluster(cmds, _env(4), [tmp_path / f"p{i}.log" for i in range(2)], CLUSTER_DEADLINE_S)
    got = _summary(texts[0])
    assert "{" not in texts[1]  # process 1 trains but stays quiet
    assert got["n_devices"] == 8 and got["mesh"] == {"data": 2, "expert": 4}
    want = eight["train"]
    assert got["loss"] == pytest.approx(want["loss"], rel=1e-5)
    assert got["val_loss"] == pytest.approx(want["val_loss"], rel=1e-5)


# ---- the 8-device worker (this file run as a script) ---------------------------------------------


def _worker(out: str) -> None:
    import jax
    import numpy as np
    from jax.sharding import NamedSharding

    from glamsim.config import load_model
    from glamsim.measure.run import measure
    from glamsim.measure.xla import collectives
    from glamsim.model import checkpoint
    from glamsim.model.data import load_corpus
    from glamsim.model.train import TrainConfig, abstract_state, loss_and_metrics, train_step
    from glamsim.parallel import spmd
    from glamsim.parallel.mesh import make_mesh
    from glamsim.parallel.rules import batch_spec
    from glamsim.trainer import train

    assert jax.device_count() == 8
    cfg = load_model("glam-tiny")
    tc = TrainConfig(batch_size=BATCH, seq_len=SEQ, steps=STEPS, eval_batches=1, eval_every=1000)
    tokens = np.random.default_rng(0).integers(0, 256, size=(BATCH, SEQ + 1)).astype(np.int32)
    host_batch = {"inputs": tokens[:, :-1], "targets": tokens[:, 1:]}
    grad_fn = jax.value_and_grad(loss_and_metrics, has_aux=True)
    res: dict = {"equality": {}}

    def host(tree) -> dict:
        return {k: np.asarray(v) for k, v in checkpoint.flatten(tree).items()}

    def rel(a, b) -> float:
        return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))

    for mesh_text in (MESH, "data=2,expert=2,model=2"):
        mesh = make_mesh(mesh_text)
        state = spmd.init_state(cfg, 0, tc, mesh)
        (loss_s, _), grads_s = jax.jit(grad_fn, static_argnums=1)(
            state.params, state.graphdef, spmd.shard_batch(host_batch, mesh)
        )
        # the same parameters on one device, through the unsharded model (identity constraint hook)
        single = jax.device_put(jax.tree_util.tree_map(np.asarray, state.params), jax.devices()[0])
        plain_graphdef = abstract_state(cfg, tc).graphdef
        (loss_1, _), grads_1 = jax.jit(grad_fn, static_argnums=1)(single, plain_graphdef, host_batch)
        gs, g1 = host(grads_s), host(grads_1)
        errs = {k: rel(gs[k], g1[k]) for k in g1}
        worst = max(errs, key=errs.get)
        res["equality"][mesh_text] = {
            "loss_rel_err": abs(float(loss_s) - float(loss_1)) / abs(float(loss_1)),
            "grad_max_rel_err": errs[worst],
            "worst_leaf": worst,
            "n_grad_leaves": len(gs),
        }
        if mesh_text == MESH:
            params = checkpoint.flatten(state.params)
            res["n_param_leaves"] = len(params)
            expert = {k: v for k, v in params.items() if ".experts." in k}
            rows = {s.data.shape[0] for v in expert.values() for s in v.addressable_shards}
            slices = {(s.index[0].start, s.index[0].stop) for v in expert.values() for s in v.addressable_shards}
            whole = all(
                s.data.shape == v.shape for k, v in params.items() if ".experts." not in k for s in v.addressable_shards
            )
            res["experts"] = {
                "n_leaves": len(expert),
                "rows_per_device": sorted(rows),
                "distinct_slices": len(slices),
                "replicated_leaves_whole_everywhere": whole,
            }
            rec = measure(cfg, batch=BATCH, seq_len=SEQ, steps=1, warmup=1, mesh=mesh)  # compiles the sharded step
            res["collectives"] = rec.collectives
            res["measurement"] = {
                "mesh": rec.mesh,
                "n_devices": rec.n_devices,
                "flops_ratio": rec.xla_flops_per_step / rec.xla_flops_per_step_per_device,
            }
            summary = train(cfg, tc, load_corpus([CORPUS]), progress=False, mesh=mesh)
            res["train"] = {"loss": summary["loss"], "val_loss": summary["val_loss"]}
            # the einsum dispatch, compiled from abstract shapes
            tc_e = tc.model_copy(update={"dispatch": "einsum"})
            abstract, shardings = spmd.state_shardings(cfg, tc_e, mesh)
            batch_sharding = NamedSharding(mesh, batch_spec(mesh))
            step = jax.jit(train_step, static_argnums=0, in_shardings=(shardings, batch_sharding))
            batch = {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=batch_sharding) for k, v in host_batch.items()}
            res["collectives_einsum"] = collectives(step.lower(abstract.graphdef, abstract, batch).compile().as_text())
    Path(out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    _worker(sys.argv[1])
