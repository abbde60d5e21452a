"""ModelConfig validation and the preset registry."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from glamsim.config import ConfigError, load_model, model_presets, validate_model

BASE = dict(name="t", n_layers=2, d_model=8, n_heads=2, d_ff=16, vocab_size=10, max_seq_len=16)


@pytest.mark.parametrize(
    "changes, field",
    [
        (dict(n_experts=4, top_k=5, moe_every=2, moe_offset=1), "top_k"),
        (dict(n_heads=3), "n_heads"),  # does not divide d_model=8
        (dict(n_heads=4, n_kv_heads=3), "n_kv_heads"),
        (dict(d_model=-8), "d_model"),
        (dict(d_ff=0), "d_ff"),
        (dict(moe_every=2, moe_offset=1), "moe_every"),  # MoE placement with no experts
        (dict(n_experts=4, top_k=2), "n_experts"),  # experts without placement
        (dict(n_experts=4, top_k=2, moe_every=2, moe_offset=2), "moe_offset"),
        (dict(n_experts=4, top_k=0, moe_every=2, moe_offset=1), "top_k"),
        (dict(capacity_factor=-1.0), "capacity_factor"),
        (dict(position="sinusoidal"), "position"),
        (dict(colour="blue"), "colour"),
        (dict(first_dense_layers=1), "first_dense_layers"),  # dense leading layers of a dense model
        (dict(n_experts=4, top_k=2, moe_every=1, first_dense_layers=2), "first_dense_layers"),  # >= n_layers
        (dict(n_experts=4, top_k=2, moe_every=2, moe_offset=1, first_dense_layers=1), "moe_offset"),  # none left
        (dict(n_experts=4, top_k=2, moe_every=1, d_ff_shared=8), "d_ff_shared"),  # no shared expert
        (dict(n_experts=4, top_k=2, moe_every=1, shared_expert_gate=True), "shared_expert_gate"),
        (dict(n_experts=4, top_k=2, moe_every=1, routing="dropless", capacity_factor=2.0), "capacity_factor"),
        (dict(n_experts=4, top_k=2, moe_every=1, routing="capacity", capacity_factor=None), "capacity_factor"),
        (dict(routing="greedy"), "routing"),
        (dict(position="rotary", rotary_fraction=0.1), "rotary_fraction"),  # 0 of 4 dims
        (dict(rotary_fraction=0.5), "rotary_fraction"),  # without rotary positions
        (dict(rope_theta=float("inf")), "rope_theta"),
    ],
)
def test_bad_configs_fail_with_one_line_naming_field(changes, field):
    with pytest.raises(ConfigError) as err:
        validate_model({**BASE, **changes}, "my.yaml")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("my.yaml: ") and field in msg


def test_valid_moe_config_properties():
    cfg = validate_model({**BASE, "n_layers": 4, "n_experts": 4, "top_k": 2, "moe_every": 2, "moe_offset": 1}, "x")
    assert [cfg.is_moe_layer(i) for i in range(4)] == [False, True, False, True]
    assert cfg.n_moe_layers == 2 and cfg.head_dim == 4 and cfg.kv_heads == 2
    assert cfg.expert_capacity(16) == 8  # 2.0 x 16 / 4
    with pytest.raises(ValidationError):
        cfg.n_layers = 3  # frozen


def test_presets_load_and_dense_twin():
    presets = model_presets()
    assert {"glam-64b-64e", "gpt3-175b", "glam-tiny", "glam-tiny-dense", "glam-small", "glam-small-dense"} <= set(
        presets
    )
    glam = load_model("glam-64b-64e")
    assert glam.n_moe_layers == 32 and glam.top_k == 2 and glam.n_experts == 64
    twin = glam.dense_twin()
    assert twin.n_moe_layers == 0 and twin.d_ff == glam.d_ff
    for cfg in presets.values():  # every published number carries a source
        if cfg.published and cfg.published.params_total:
            assert cfg.published.params_total.source


def test_load_from_file_and_errors(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("name: m\nn_layers: 2\nd_model: 8\nn_heads: 2\nd_ff: 16\nvocab_size: 10\nmax_seq_len: 16\n")
    assert load_model(str(p)).d_model == 8
    p.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="malformed YAML"):
        load_model(str(p))
    with pytest.raises(ConfigError, match="unknown preset"):
        load_model("glam-9000")
    with pytest.raises(ConfigError, match="cannot read"):
        load_model(str(tmp_path / "missing.yaml"))


def test_a_bare_preset_or_chip_name_is_the_shipped_one_even_beside_a_file_of_that_name(tmp_path, monkeypatch):
    """A stray file named like a preset or a chip in the working folder does not change an answer;
    `./name` reads that file."""
    import yaml

    from glamsim.profiles import load_chip

    shipped = load_model("gpt3-175b")
    (tmp_path / "gpt3-175b").write_text(yaml.safe_dump({**BASE, "name": "gpt3-175b"}))
    h100 = Path(__file__).resolve().parent.parent / "hardware_profiles" / "chips" / "h100-sxm.yaml"
    (tmp_path / "a100-80gb").write_text(h100.read_text().replace("name: h100-sxm", "name: a100-80gb", 1))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine" / "chips").mkdir(parents=True)  # a user's profile folder, holding none of these
    for _ in range(2):  # the first call and the cached one answer alike
        assert load_model("gpt3-175b") is shipped and load_model("gpt3-175b").n_layers == 96
        for extra in ((), [], ("mine",)):
            assert load_chip("a100-80gb", extra).peak_flops_bf16.value == 312e12
    for path in ("./gpt3-175b", Path("gpt3-175b"), tmp_path / "gpt3-175b"):
        assert load_model(path).n_layers == 2
    for path in ("./a100-80gb", Path("a100-80gb")):
        assert load_chip(path).peak_flops_bf16.value != 312e12
