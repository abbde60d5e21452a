"""Communication in the cost model: bytes derived by hand, their time on the interconnect, and how
the training and serving estimates charge them.  (The all-to-all bytes are also checked against a
compiled sharded step in tests/test_parallel_devices.py.)"""

import json

import numpy as np
import pytest
from cores import train_core
from typer.testing import CliRunner

from glamsim.accounting import ModelArrays, expert_capacity, expert_params, params
from glamsim.cli import app
from glamsim.config import ConfigError, load_model
from glamsim.cost import communication as comm
from glamsim.cost.serving import estimate_serving
from glamsim.cost.training import estimate_training

GLAM = ModelArrays.of(load_model("glam-64b-64e"))
GPT3 = ModelArrays.of(load_model("gpt3-175b"))


def test_glam_all_to_all_bytes_by_hand():
    # 2^20 tokens in groups of 1024, capacity 2 x 1024 / 64 = 32 slots: 2 slots per token, so one
    # buffer is 2^20 x 2 x 8192 x 2 bytes = 2^35; 4 exchanges x 32 MoE layers, over 1024 chips: 2^32.
    got = comm.alltoall_bytes_per_chip(GLAM, 2**20, 1024, bytes_per_activation=2)
    assert got[0] == 2**32
    wire = comm.training_comm_bytes(GLAM, 2**20, 1024, 64)["alltoall_wire_bytes_per_chip_step"]
    assert wire[0] == 2**32 * 63 / 64  # a 64-way expert split keeps 1/64 of the buffer on the chip


def test_capacity_follows_the_model_config():
    cfg = load_model("glam-tiny")
    m = ModelArrays.of(cfg)
    for group in (256, 100, 7):  # ceil(2.0 x group / 8): 64, 25, 2
        assert expert_capacity(m, group)[1][0] == cfg.expert_capacity(group) == -(-2 * group // 8)


def test_dense_model_has_no_all_to_all_and_reduces_every_gradient_over_all_chips():
    out = comm.training_comm_bytes(GPT3, 2**20, 1024, 1)
    assert out["alltoall_bytes_per_chip_step"][0] == 0
    p = params(GPT3)[0]
    assert out["grad_bytes_per_chip_step"][0] == p * 4
    assert out["allreduce_wire_bytes_per_chip_step"][0] == pytest.approx(p * 4 * 2 * 1023 / 1024)


def test_expert_gradients_reduce_over_their_data_replicas_only():
    replicated, expert = comm.gradient_bytes_per_chip(GLAM, expert_parallel=64, bytes_per_grad=4)
    routed = 32 * 64 * expert_params(GLAM)[0]
    assert expert[0] == routed / 64 * 4
    assert replicated[0] == (params(GLAM)[0] - routed) * 4
    wire = comm.training_comm_bytes(GLAM, 2**20, 1024, 64)["allreduce_wire_bytes_per_chip_step"][0]
    assert wire == pytest.approx(replicated[0] * 2 * 1023 / 1024 + expert[0] * 2 * 15 / 16)  # 1024 / 64 = 16


def test_communication_is_vectorised_over_scenarios():
    chips = np.array([64, 256, 1024])
    x = comm.default_expert_parallel(GLAM, chips)
    assert list(x) == [64, 64, 64]
    out = comm.training_comm(GLAM, 6e11, 2**20, chips, x, 300.0)
    assert out["comm_s_per_step"].shape == (3,)
    assert np.all(np.diff(out["alltoall_bytes_per_chip_step"]) < 0)  # more chips, smaller share each
    assert list(comm.default_expert_parallel(GPT3, chips)) == [1, 1, 1]


def test_training_estimate_shows_compute_and_communication_time():
    kw = dict(model="glam-64b-64e", tokens=6e11, chip="tpu-v4", chips=1024, mfu=0.3)
    hidden = estimate_training(**kw)
    charged = estimate_training(**kw, comm_overlap=0.25)
    compute_h = hidden.flops_total / (1024 * 2.75e14 * 0.3) / 3600
    assert hidden.compute_hours == pytest.approx(compute_h) and hidden.train_hours == pytest.approx(compute_h)
    assert hidden.comm_exposed_hours == 0 and hidden.mfu == hidden.mfu_effective == 0.3  # default: nothing exposed
    c = charged.communication
    assert c["steps"] == 6e11 / 2**20
    assert c["comm_s_per_step"] == pytest.approx(c["comm_wire_bytes_per_chip_step"] / 300e9)  # tpu-v4 ICI figure
    assert charged.comm_hours == pytest.approx(c["comm_s_per_step"] * c["steps"] / 3600)
    assert charged.comm_exposed_hours == pytest.approx(0.75 * charged.comm_hours)
    assert charged.train_hours == pytest.approx(compute_h + 0.75 * charged.comm_hours)
    assert charged.mfu_effective == pytest.approx(0.3 * compute_h / charged.train_hours)
    assert charged.energy_mwh / hidden.energy_mwh == pytest.approx(charged.train_hours / compute_h)
    led = charged.ledger
    assert led["interconnect_bandwidth_gb_per_s"].value == 300
    assert "tpu-v4.yaml: interconnect_bandwidth_gb_per_s" in led["interconnect_bandwidth_gb_per_s"].source
    assert led["comm_overlap"].source == "user input"
    assert led["expert_parallel"].value == 64 and led["tokens_per_step"].value == 2**20


def test_given_hours_leave_less_compute_time_and_refuse_impossible_overlap():
    kw = dict(model="glam-tiny", tokens=1e9, chip="tpu-v4", chips=8, tokens_per_step=2048, hours=1.0)
    e = estimate_training(**kw, comm_overlap=0.0)
    assert e.train_hours == 1.0 and e.compute_hours == pytest.approx(1.0 - e.comm_hours)
    with pytest.raises(ConfigError, match="comm_overlap"):
        estimate_training(**{**kw, "hours": e.comm_hours / 2}, comm_overlap=0.0)


def test_core_broadcasts_communication_inputs():
    r = train_core(
        1e21,
        8,
        1e14,
        300,
        1.1,
        0.1,
        2.0,
        mfu=0.5,
        comm_hours=np.array([0.0, 1.0, 2.0]),
        comm_overlap=np.array([[1.0], [0.5]]),
    )
    assert r["train_hours"].shape == (2, 3)
    base = 1e21 / (8 * 1e14 * 0.5) / 3600
    np.testing.assert_allclose(r["train_hours"], [[base] * 3, [base, base + 0.5, base + 1.0]])


def test_bad_communication_inputs_are_one_line_errors():
    with pytest.raises(ConfigError, match="expert_parallel=3"):
        estimate_training(model="glam-tiny", tokens=1e9, chip="tpu-v4", chips=8, expert_parallel=3)
    with pytest.raises(ConfigError, match="comm_overlap=1.5"):
        estimate_training(model="glam-tiny", tokens=1e9, chip="tpu-v4", chips=8, comm_overlap=1.5)
    with pytest.raises(ConfigError, match="needs --model"):
        estimate_training(train_flops=1e22, chip="tpu-v4", chips=8, comm_overlap=0.5, mfu=0.3)
    with pytest.raises(ConfigError, match="a predicted MFU already charges"):  # no typed MFU: predicted
        estimate_training(model="glam-tiny", tokens=1e9, chip="tpu-v4", chips=8, comm_overlap=0.5)


def test_serving_charges_the_decode_all_to_all_when_experts_span_chips():
    hidden = estimate_serving(model="glam-64b-64e", chip="tpu-v4", batch=32)
    charged = estimate_serving(model="glam-64b-64e", chip="tpu-v4", batch=32, comm_overlap=0.0)
    chips = hidden["serving_chips_used"]
    assert hidden["serving_expert_parallel_used"] == 64
    # dispatch + combine x 32 MoE layers x 32 tokens x top-2 x 8192 x 2 bytes, 63/64 off-chip, over the chips
    want = 2 * 32 * 32 * 2 * 8192 * 2 * 63 / 64 / chips
    assert charged["decode_alltoall_bytes_per_chip_step"] == pytest.approx(want)
    a2a_s = want / 300e9 + 2 * 32 * 1e-6  # + a 1 us ICI latency per all-to-all (64 chips: one slice)
    assert charged["decode_alltoall_s"] == pytest.approx(a2a_s)
    assert charged["decode_step_s"] == pytest.approx(hidden["decode_step_s"] + a2a_s)
    assert charged.ledger["comm_overlap"].value == 0.0
    dense = estimate_serving(model="gpt3-175b", chip="tpu-v4", batch=32, comm_overlap=0.0)
    assert dense["decode_alltoall_bytes_per_chip_step"] == 0


def test_cli_estimate_prints_communication():
    run = CliRunner()
    r = run.invoke(
        app,
        [
            "estimate",
            "train",
            "--model",
            "glam-tiny",
            "--tokens",
            "1e9",
            "--chips",
            "8",
            "--comm-overlap",
            "0",
            "--mfu",
            "0.3",
            "--tokens-per-step",
            "2048",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["train_hours"] == pytest.approx(d["compute_hours"] + d["comm_hours"])
    assert (
        d["alltoall_bytes_per_chip_step"]
        == comm.alltoall_bytes_per_chip(ModelArrays.of(load_model("glam-tiny")), 2048, 8)[0]
    )
    bad = run.invoke(
        app, ["estimate", "--model", "glam-tiny", "--tokens", "1e9", "--chips", "8", "--expert-parallel", "3"]
    )
    assert bad.exit_code == 2 and bad.stderr.strip().count("\n") == 0 and "--expert-parallel=3" in bad.stderr


def test_dropless_all_to_all_moves_top_k_rows_per_token():
    """Dropless routing has no capacity buffer: each of the 4 all-to-alls per MoE layer moves the
    top_k rows of every token: Mixtral 8x7B (32 MoE layers, top-2, d_model 4096), 1M tokens on 1,024
    chips, bf16: 4 x 32 x 2^20 x 2 x 4096 x 2 / 1024 bytes per chip."""
    cfg = load_model("mixtral-8x7b")
    assert cfg.routing == "dropless" and cfg.n_moe_layers == 32 and cfg.top_k == 2 and cfg.d_model == 4096
    got = comm.alltoall_bytes_per_chip(ModelArrays.of(cfg), 2**20, 1024)[0]
    assert got == 4 * 32 * 2**20 * 2 * 4096 * 2 / 1024
