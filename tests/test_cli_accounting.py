"""`glamsim models` and `glamsim count` as a user runs them (subprocess: real exit codes)."""

import json
import subprocess
import sys

import pytest


def glamsim(*args):
    return subprocess.run([sys.executable, "-m", "glamsim", *args], capture_output=True, text=True)


def test_count_json_keys_and_values():
    r = glamsim("count", "glam-64b-64e", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    for key in (
        "params_total",
        "params_active",
        "params_embedding",
        "flops_per_token_train",
        "flops_per_token_infer",
        "layers",
    ):
        assert key in d
    assert len(d["layers"]) == 64 and d["params_total"] == pytest.approx(1.162e12, rel=0.005)


def test_models_lists_deltas():
    r = glamsim("models")
    assert r.returncode == 0 and "glam-64b-64e" in r.stdout and "gpt3-175b" in r.stdout


@pytest.mark.parametrize(
    "yaml_text, field",
    [
        (
            "name: x\nn_layers: 2\nd_model: 8\nn_heads: 2\nd_ff: 16\nvocab_size: 10\nmax_seq_len: 16\n"
            "n_experts: 2\ntop_k: 3\nmoe_every: 2\nmoe_offset: 1\n",
            "top_k",
        ),
        ("name: x\nn_layers: -2\nd_model: 8\nn_heads: 2\nd_ff: 16\nvocab_size: 10\nmax_seq_len: 16\n", "n_layers"),
        ("name: x\nn_layers: 2\nd_model: 8\nn_heads: 3\nd_ff: 16\nvocab_size: 10\nmax_seq_len: 16\n", "n_heads"),
        (
            "name: x\nn_layers: 2\nd_model: 8\nn_heads: 2\nd_ff: 16\nvocab_size: 10\nmax_seq_len: 16\nmoe_every: 2\n",
            "moe_every",
        ),
        ("name: [x\n", "malformed"),
    ],
)
def test_bad_config_exit_2_one_line(tmp_path, yaml_text, field):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml_text)
    r = glamsim("count", str(p))
    assert r.returncode == 2
    assert field in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_unknown_model_and_bad_option():
    assert glamsim("count", "nope").returncode == 2
    assert glamsim("count", "glam-tiny", "--seq-len", "-5").returncode == 2
