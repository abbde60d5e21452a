"""`glamsim.parallel` without several devices: mesh parsing, the sharding rule table on the real
parameter paths, cluster arguments and the one-line errors of `glamsim train --mesh`.
(Sharded execution on 8 faked devices and two processes: tests/test_parallel_devices.py.)"""

from types import SimpleNamespace

import pytest
from jax.sharding import PartitionSpec as P
from typer.testing import CliRunner

from glamsim.cli import app
from glamsim.config import ConfigError, load_model
from glamsim.model import checkpoint
from glamsim.model.train import TrainConfig, abstract_state
from glamsim.parallel import distributed, spmd
from glamsim.parallel.mesh import parse_mesh
from glamsim.parallel.rules import spec_for

TINY = load_model("glam-tiny")


def test_parse_mesh_orders_axes_and_rejects_bad_text():
    assert parse_mesh("expert=4, data=2") == {"data": 2, "expert": 4}
    assert list(parse_mesh("model=2,data=1,expert=2")) == ["data", "expert", "model"]
    for text, why in (
        ("data=2,experts=4", "'experts=4' is not AXIS=SIZE"),
        ("data=0", "positive integer"),
        ("data=two", "positive integer"),
        ("data=2,data=2", "given twice"),
        ("", "not AXIS=SIZE"),
    ):
        with pytest.raises(ConfigError, match=why):
            parse_mesh(text)


@pytest.fixture(scope="module")
def leaves() -> dict:
    """Every leaf of glam-tiny's training state (parameters and Adafactor statistics), by path."""
    state = abstract_state(TINY, TrainConfig())
    return {"." + k: v.shape for k, v in checkpoint.flatten(state.arrays()).items()}


def test_rules_split_experts_and_replicate_the_rest(leaves):
    mesh = {"data": 2, "expert": 4}
    specs = {k: spec_for(k, shape, mesh) for k, shape in leaves.items()}
    for layer in (1, 3):
        for w in ("wi_0", "wo"):
            assert specs[f".params.layers.{layer}.ffn.experts.{w}.value"] == P("expert")
            # Adafactor runs layer by layer: a statistic's path is its layer, then its parameter's path
            assert specs[f".opt_state.inner_state.1.layers.{layer}.0.v.ffn.experts.{w}.value"] == P("expert")
    split = {k for k, s in specs.items() if s != P()}
    assert all(".experts." in k for k in split)
    assert len([k for k in split if k.startswith(".params.")]) == 4
    # Adafactor's (1,) placeholders for unfactored statistics cannot be split: replicated
    assert specs[".opt_state.inner_state.1.layers.1.0.v_row.ffn.experts.wi_0.value"] == P()


def test_rules_split_heads_and_widths_on_a_model_axis(leaves):
    mesh = {"data": 1, "expert": 2, "model": 2}
    assert spec_for(".params.layers.0.attn.q.kernel.value", leaves[".params.layers.0.attn.q.kernel.value"], mesh) == P(
        None, "model"
    )
    assert spec_for(".params.layers.0.attn.o.kernel.value", (64, 64), mesh) == P("model")
    assert spec_for(".params.layers.0.ffn.wi_1.kernel.value", (64, 256), mesh) == P(None, "model")
    assert spec_for(".params.layers.1.ffn.experts.wi_0.value", (8, 64, 256), mesh) == P("expert", None, "model")
    assert spec_for(".params.layers.1.ffn.experts.wo.value", (8, 256, 64), mesh) == P("expert", "model")
    assert spec_for(".params.embed.embedding.value", (256, 64), mesh) == P()


def test_an_axis_that_does_not_divide_a_dimension_leaves_it_replicated():
    assert spec_for(".params.layers.1.ffn.experts.wi_0.value", (8, 64, 256), {"expert": 3}) == P()
    assert spec_for(".params.layers.1.ffn.experts.wi_0.value", (8, 64, 256), {"data": 8}) == P()


def test_layout_checks_batch_and_routing_groups():
    mesh = SimpleNamespace(shape={"data": 2, "expert": 4})
    spmd.check_layout(TINY, mesh, 16, 128)  # 2048 tokens: 8 groups of 256
    with pytest.raises(ConfigError, match="batch=12: must be divisible"):
        spmd.check_layout(TINY, mesh, 12, 128)
    with pytest.raises(ConfigError, match="4 MoE routing groups"):
        spmd.check_layout(TINY, mesh, 8, 128)
    with pytest.raises(ConfigError, match="expert=3 must divide n_experts=8"):
        spmd.check_layout(TINY, SimpleNamespace(shape={"expert": 3}), 24, 128)


def test_cluster_arguments_from_flags_or_environment(monkeypatch):
    for k in distributed.ENV.values():
        monkeypatch.delenv(k, raising=False)
    assert distributed.resolve() is None
    assert distributed.resolve("10.0.0.1:1234", 4, 3) == {
        "coordinator_address": "10.0.0.1:1234",
        "num_processes": 4,
        "process_id": 3,
    }
    assert distributed.resolve("auto") == {}
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "host:99")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "2")
    monkeypatch.setenv("JAX_PROCESS_ID", "1")
    assert distributed.resolve() == {"coordinator_address": "host:99", "num_processes": 2, "process_id": 1}
    assert distributed.resolve(process_id=0)["process_id"] == 0  # a flag beats the environment
    for args, why in (
        (("host", 2, 0), "expected HOST:PORT"),
        (("h:1", 2, 2), "process_id=2"),
        (("auto", 2, 0), "JAX detects"),
    ):
        with pytest.raises(ConfigError, match=why):
            distributed.resolve(*args)
    monkeypatch.setenv("JAX_NUM_PROCESSES", "many")
    with pytest.raises(ConfigError, match="JAX_NUM_PROCESSES='many'"):
        distributed.resolve()


@pytest.mark.parametrize(
    "args, why",
    [
        (["--mesh", "data=2,expert=4"], "needs 8 devices, this cluster has 1"),
        (["--mesh", "data=2,gpu=4"], "'gpu=4' is not AXIS=SIZE"),
        (["--num-processes", "2", "--process-id", "0"], "coordinator=None"),
        (["--coordinator", "127.0.0.1:9", "--num-processes", "2", "--process-id", "0"], "mesh=None"),
    ],
)
def test_train_refuses_bad_parallel_flags_in_one_line(args, why, monkeypatch):
    for k in distributed.ENV.values():
        monkeypatch.delenv(k, raising=False)
    r = CliRunner().invoke(app, ["train", "--steps", "1", *args])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and why in lines[0], r.stderr
