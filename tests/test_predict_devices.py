"""The predictor's collectives against the compiled program on 8 CPU devices faked by XLA (issue 14).

The device count must be set before JAX is imported, so the compiles run once in a subprocess (this
file run as a script) that lowers the real sharded training step of glam-tiny from abstract shapes
(nothing allocated, nothing run) and writes the collectives of its HLO to JSON.  The tests compare
them with `glamsim.predict.collectives` under the equivalent layout: glamsim's mesh data=D,expert=X
shards the batch over all D x X devices and the experts over X, which is dp = D x X, ep = X.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BATCH, SEQ = 16, 128  # 2,048 tokens: 256 a device, one routing group each
MESHES = {"data=2,expert=4": "dp=8,ep=4", "data=8": "dp=8"}
DEADLINE_S = 300


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("predict_devices") / "hlo.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    env.update(XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, __file__, str(out)], env=env, check=False, capture_output=True, text=True, timeout=DEADLINE_S
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def _predicted(layout: str) -> tuple[dict, dict]:
    from glamsim.accounting import ModelArrays
    from glamsim.config import load_model
    from glamsim.predict.collectives import data_parallel_comm, microbatch_comm
    from glamsim.predict.layout import LayoutArrays, parse_layout
    from glamsim.predict.tiers import Fabric
    from glamsim.profiles import load_chip

    m = ModelArrays.of(load_model("glam-tiny"))
    lay = LayoutArrays.of(parse_layout(f"{layout},mb={BATCH // 8},gbs={BATCH},params=fp32,grads=fp32"))
    fab = Fabric(**{**Fabric.of(load_chip("tpu-v4")).__dict__, "act_bytes": 4.0})  # f32 on CPU

    def one(d: dict) -> dict:
        return {k: float(np.asarray(v).reshape(-1)[0]) for k, v in d.items()}

    return one(microbatch_comm(m, SEQ, lay, fab)), one(data_parallel_comm(m, lay, fab))


def test_expert_all_to_alls_match_the_compiled_program(compiled):
    hlo = compiled["data=2,expert=4"]
    mb, _ = _predicted(MESHES["data=2,expert=4"])
    # 2 MoE layers x (dispatch, combine) x (forward, backward) = 8 all-to-alls, each of one device's
    # share of the capacity buffer: 256 tokens x 2 slots x 64 x 4 bytes
    assert hlo["all-to-all"]["count"] == 8
    assert mb["ep_bytes"] == hlo["all-to-all"]["bytes"] == 8 * 256 * 2 * 64 * 4
    assert "all-to-all" not in compiled["data=8"]  # no expert parallelism, no all-to-all
    assert _predicted("dp=8")[0]["ep_bytes"] == 0


@pytest.mark.parametrize("mesh", list(MESHES))
def test_gradient_all_reduce_bytes_match_the_compiled_program(compiled, mesh):
    _, dp = _predicted(MESHES[mesh])
    got = compiled[mesh]["all-reduce"]["bytes"]
    # XLA all-reduces every gradient, and GLaM's relative position bias before it is scattered into
    # its 32 buckets: 4 layers x 4 heads x 128 x 128 query-key pairs x 4 bytes; the rest (loss and
    # routing statistics, small partial sums) stays under 64 KiB on either mesh
    bias = 4 * 4 * SEQ * SEQ * 4
    assert 0 <= got - dp["dp_bytes"] - bias <= 64 * 2**10, (dp["dp_bytes"], got)


# ---- the worker (this file run as a script) ------------------------------------------------------


def _worker(out: str) -> None:
    import jax
    import jax.numpy as jnp
    from jax.sharding import NamedSharding

    from glamsim.config import load_model
    from glamsim.measure.xla import collectives
    from glamsim.model.train import TrainConfig, train_step
    from glamsim.parallel import spmd
    from glamsim.parallel.mesh import make_mesh
    from glamsim.parallel.rules import batch_spec

    assert jax.device_count() == 8
    cfg = load_model("glam-tiny")
    tc = TrainConfig(batch_size=BATCH, seq_len=SEQ)
    res = {}
    for mesh_text in MESHES:
        mesh = make_mesh(mesh_text)
        abstract, shardings = spmd.state_shardings(cfg, tc, mesh)
        sharding = NamedSharding(mesh, batch_spec(mesh))
        step = jax.jit(train_step, static_argnums=0, in_shardings=(shardings, sharding))
        batch = {k: jax.ShapeDtypeStruct((BATCH, SEQ), jnp.int32, sharding=sharding) for k in ("inputs", "targets")}
        res[mesh_text] = collectives(step.lower(abstract.graphdef, abstract, batch).compile().as_text())
    Path(out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    _worker(sys.argv[1])
