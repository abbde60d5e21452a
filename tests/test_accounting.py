"""Analytic counts against hand arithmetic and the published tables."""

import numpy as np
import pytest

from glamsim.accounting import (
    ModelArrays,
    count,
    expert_slots_per_token,
    params,
    published_deltas,
    train_flops_per_token,
)
from glamsim.config import load_model, model_presets, validate_model

# A tiny GLaM-like config counted by hand below: 2 layers (layer 1 is MoE), d=8, 2 heads x 4,
# FFN 16 (gated dense, two-matrix experts), 4 experts top-2, vocab 10, 4 relative-bias buckets.
TINY = dict(
    name="hand",
    n_layers=2,
    d_model=8,
    n_heads=2,
    d_head=4,
    d_ff=16,
    vocab_size=10,
    max_seq_len=16,
    n_experts=4,
    top_k=2,
    moe_every=2,
    moe_offset=1,
    rel_pos_buckets=4,
    router_group_size=16,
)


def test_tiny_config_counted_layer_by_layer_by_hand():
    c = count(validate_model(TINY, "hand"), seq_len=16)
    attn = 4 * 8 * 8 + 4 * 2 + 8  # q,k,v,o + rel-pos buckets x heads + RMSNorm
    dense_ffn = 3 * 8 * 16 + 8  # gated: wi_0, wi_1, wo + norm
    expert = 2 * 8 * 16
    moe_total = 8 * 4 + 4 * expert + 8  # router + 4 experts + norm
    moe_active = 8 * 4 + 2 * expert + 8
    emb = 10 * 8 + 8  # tied embedding + final norm
    layers = c.layers
    assert list(layers.kind) == ["dense", "moe"]
    assert list(layers.params_total) == [attn + dense_ffn, attn + moe_total]
    assert list(layers.params_active) == [attn + dense_ffn, attn + moe_active]
    assert c.params_total == 2 * attn + dense_ffn + moe_total + emb
    assert c.params_active == 2 * attn + dense_ffn + moe_active + emb
    assert c.params_embedding == emb
    # forward FLOPs per token: 2 per MAC, attention scores 4 x S x heads x d_head (unhalved)
    proj, scores = 2 * 4 * 8 * 8, 4 * 16 * 2 * 4
    dense_fwd = proj + scores + 2 * 3 * 8 * 16
    moe_fwd = proj + scores + 2 * 2 * (2 * 8 * 16) + 2 * 8 * 4
    assert list(layers.flops_fwd_per_token) == [dense_fwd, moe_fwd]
    logits = 2 * 8 * 10
    assert c.flops_per_token_train == 3 * (dense_fwd + moe_fwd + logits)
    assert c.flops_per_token_infer == dense_fwd + moe_fwd + logits
    assert c.flops_per_token_infer_2n == 2 * c.params_active
    assert c.router_flops_per_token == 2 * 8 * 4
    # capacity 2.0 x 16 / 4 = 8 slots per expert -> 4 x 8 / 16 = 2 evaluations per token
    assert c.expert_slots_per_token == 2.0
    # hardware FLOPs add the softmax (3 per score forward) in both layers and the activation
    # (8 per hidden unit: 16 dense, 2 experts x 16 in the MoE layer); x3 for training
    assert c.flops_per_token_train_hardware == c.flops_per_token_train + 3 * (2 * 3 * 16 * 2 + 8 * (16 + 2 * 16))


def test_hardware_flops_follow_capacity_factor():
    base = count(validate_model(TINY, "hand"), seq_len=16)
    c = count(validate_model({**TINY, "capacity_factor": 3.0}, "hand"), seq_len=16)
    extra_slots = 3.0 - 2.0  # 3.0 x 16 / 4 = 12 slots x 4 / 16 = 3 per token, 2 used by the model
    assert c.flops_per_token_train == base.flops_per_token_train
    assert c.flops_per_token_train_hardware - base.flops_per_token_train_hardware == pytest.approx(
        3 * extra_slots * (2 * (2 * 8 * 16) + 8 * 16)
    )


def test_vectorised_matches_single_counts():
    cfgs = list(model_presets().values())
    arr = ModelArrays.of(cfgs)
    totals = params(arr)
    train = train_flops_per_token(arr, 1024)
    for i, cfg in enumerate(cfgs):
        c = count(cfg, 1024)
        assert totals[i] == c.params_total
        assert train[i] == pytest.approx(c.flops_per_token_train)


def test_vectorised_expert_sweep():
    arr = ModelArrays.of(load_model("glam-1.7b-64e"))
    n = np.array([32, 64, 128, 256])
    sweep = params(arr.with_(n_experts=n))
    for e, total in zip(n, sweep):
        assert total == count(load_model(f"glam-1.7b-{e}e")).params_total


# Published rows: Du et al. 2022 (GLaM) Table 4; Brown et al. 2020 Table D.1.
def test_headline_models_within_half_percent():
    glam = published_deltas(load_model("glam-64b-64e"))
    assert glam["params_total"] == pytest.approx(1.162e12, rel=0.005)
    assert glam["params_active"] == pytest.approx(96.6e9, rel=0.005)
    gpt3 = published_deltas(load_model("gpt3-175b"))
    assert gpt3["params_total"] == pytest.approx(174.6e9, rel=0.005)


@pytest.mark.parametrize("name", [n for n, c in model_presets().items() if n.startswith("glam-") and c.published])
def test_glam_rows_within_15_percent(name):
    d = published_deltas(load_model(name))
    assert abs(d["params_active_delta"]) <= 0.15
    if name == "glam-1.7b-32e":  # the paper's 20B does not follow from its own architecture
        assert d["params_total_delta"] < -0.25
    else:
        assert abs(d["params_total_delta"]) <= 0.15


def test_inference_flops_conventions():
    gpt3 = count(load_model("gpt3-175b"))
    assert gpt3.flops_per_token_infer_2n == pytest.approx(350e9, rel=0.02)
    glam = count(load_model("glam-64b-64e"))
    # 2 x 96.6B activated = 193 GFLOPs; the paper prints 180 (Table 1)
    assert glam.flops_per_token_infer_2n == pytest.approx(193.2e9, rel=0.005)
    assert glam.flops_per_token_infer_2n < 0.56 * gpt3.flops_per_token_infer_2n


# Dense leading layers, shared experts of their own width behind a sigmoid gate, q/k/v biases
# without an output bias, dropless routing: 3 layers (layer 0 dense, then MoE in every layer),
# d=8, 2 heads x 4, dense FFN 16 (gated), 4 gated experts of width 4, top-2, 2 shared experts of width 6.
MODERN = dict(
    TINY,
    n_layers=3,
    first_dense_layers=1,
    moe_every=1,
    moe_offset=0,
    d_ff_expert=4,
    expert_gated=True,
    n_shared_experts=2,
    d_ff_shared=6,
    shared_expert_gate=True,
    qkv_bias=True,
    out_bias=False,
    routing="dropless",
)


def test_modern_moe_counted_by_hand():
    cfg = validate_model(MODERN, "hand")
    assert cfg.capacity_factor is None and [cfg.is_moe_layer(i) for i in range(3)] == [False, True, True]
    c = count(cfg, seq_len=16)
    attn = 4 * 8 * 8 + 3 * 8 + 4 * 2 + 8  # q,k,v,o + q/k/v biases (no output bias) + rel-pos + norm
    dense_ffn = 3 * 8 * 16 + 8
    expert, shared = 3 * 8 * 4, 2 * 3 * 8 * 6 + 8  # gated experts; 2 shared experts + their gate (d_model)
    moe_total = 8 * 4 + 4 * expert + shared + 8
    moe_active = 8 * 4 + 2 * expert + shared + 8
    emb = 10 * 8 + 8
    assert list(c.layers.kind) == ["dense", "moe", "moe"]
    assert c.params_total == 3 * attn + dense_ffn + 2 * moe_total + emb
    assert c.params_active == 3 * attn + dense_ffn + 2 * moe_active + emb
    proj, scores = 2 * 4 * 8 * 8, 4 * 16 * 2 * 4
    moe_fwd = proj + scores + 2 * (2 * expert + 2 * 3 * 8 * 6 + 8) + 2 * 8 * 4
    assert list(c.layers.flops_fwd_per_token) == [proj + scores + 2 * 3 * 8 * 16, moe_fwd, moe_fwd]
    # dropless: no capacity padding, the top-2 experts are what the hardware computes
    assert c.expert_slots_per_token == 2.0
    m = ModelArrays.of(cfg)
    act = 8 * (16 + 2 * (2 * 4 + 2 * 6))  # activation FLOPs: dense 16 units, each MoE layer 2x4 + 2x6
    softmax = 3 * 3 * 16 * 2
    assert c.flops_per_token_train_hardware == c.flops_per_token_train + 3 * (act + softmax)
    # a capacity-buffer dispatch of a dropless model holds a whole group per expert: 4 slots per token
    assert float(expert_slots_per_token(m, 16, "scatter")[0]) == 4.0
    assert float(expert_slots_per_token(m, 16, "dropless")[0]) == 2.0


def test_dropless_routing_and_capacity_factor_null_are_the_same():
    a = validate_model({**MODERN}, "a")
    b = validate_model({**{k: v for k, v in MODERN.items() if k != "routing"}, "capacity_factor": None}, "b")
    assert a.dropless and b.dropless and a.capacity_factor is b.capacity_factor is None
    back = a.replace(capacity_factor=1.5)  # a capacity factor alone switches back to capacity routing
    assert back.routing == "capacity" and back.expert_capacity(16) == 6
    assert back.replace(routing="dropless").capacity_factor is None


def test_glam_presets_unchanged_by_the_new_placement_rule():
    for name in ("glam-64b-64e", "glam-tiny", "glam-1.7b-64e"):
        cfg = load_model(name)
        assert cfg.first_dense_layers == 0
        assert [cfg.is_moe_layer(i) for i in range(cfg.n_layers)] == [i % 2 == 1 for i in range(cfg.n_layers)]
    assert published_deltas(load_model("glam-64b-64e"))["params_total"] == pytest.approx(1.162e12, rel=0.005)


def test_closed_form_moe_layer_count_matches_the_rule():
    base = validate_model(TINY, "t")
    for n in (1, 2, 5, 12):
        for first in range(0, n):
            for every in (1, 2, 3):
                for offset in range(every):
                    try:
                        cfg = base.replace(n_layers=n, first_dense_layers=first, moe_every=every, moe_offset=offset)
                    except Exception:
                        assert sum(1 for i in range(first, n) if (i - first) % every == offset) == 0
                        continue
                    assert cfg.n_moe_layers == sum(cfg.is_moe_layer(i) for i in range(n))


def test_plain_numbers_and_arrays_give_the_same_capacity_and_communication():
    """`glamsim.accounting.xp` on plain numbers equals numpy on one-row arrays, bit for bit, NaN and
    infinities included: GShard capacity, slots and the all-to-all bytes of a capacity model and a
    dropless one (the single estimate's path vs a sweep's)."""
    import numpy as np

    from glamsim.accounting import ModelArrays, expert_capacity, expert_slots_per_token, scalar_arrays, xp
    from glamsim.cost import communication as comm

    for name in ("glam-64b-64e", "mixtral-8x7b", "gpt3-175b"):
        cfg = load_model(name)
        s, a = scalar_arrays(cfg), ModelArrays.of(cfg)
        for group in (None, 17.0, 4096.0):
            assert [float(v) for v in expert_capacity(s, group)] == [
                float(v[0]) if np.ndim(v) else float(v)
                for v in expert_capacity(a, None if group is None else np.array([group]))
            ]
        assert float(expert_slots_per_token(s)) == float(expert_slots_per_token(a)[0])
        plain = comm.training_comm_bytes(s, 2.0**20, 1024, 8.0, 2.0, 4.0)
        rows = comm.training_comm_bytes(a, 2.0**20, 1024, 8.0, 2.0, 4.0)
        assert all(type(v) is float for v in plain.values()), name  # no numpy on the plain path
        assert plain == {k: float(np.asarray(v).reshape(-1)[0]) for k, v in rows.items()}, name
        for chips in (1, 96, 1000, 1024):  # gcd(chips, experts), 1 for a dense model: 64 experts on 96 chips -> 32
            assert comm.default_expert_parallel(s, chips) == float(comm.default_expert_parallel(a, chips)[0])
        by_hand = {"glam-64b-64e": 32.0, "mixtral-8x7b": 8.0, "gpt3-175b": 1.0}[name]
        assert comm.default_expert_parallel(s, 96) == by_hand
    for x, y in ((1.0, np.nan), (np.nan, 1.0), (np.inf, 2.0), (-0.0, 0.0)):
        assert np.array_equal(xp.maximum(x, y), np.maximum(x, y), equal_nan=True)
        assert np.array_equal(xp.minimum(x, y), np.minimum(x, y), equal_nan=True)
    for x in (2.5, -2.5, 3.0, np.inf, -np.inf, np.nan):
        assert np.array_equal(xp.ceil(x), np.ceil(x), equal_nan=True)
