"""Serving curves and memory per chip in the library (issue 25, item 2): `glamsim.api.serving_curves`
equals `serve` and the single estimate for the same inputs; a target that even batch 1 misses keeps its
row with the estimate's own refusal; weights, KV cache and activations per chip add up as laid out."""

from __future__ import annotations

import pytest

import glamsim.api as gs
from glamsim.config import ConfigError, load_model
from glamsim.cost import estimate_serving
from glamsim.profiles import load_chip
from glamsim.scenario import ServingScenario


def test_memory_per_chip_sharded_gpt3_by_hand():
    est = estimate_serving(model="gpt3-175b", chip="h100-sxm", batch=64, prompt_len=1000, gen_len=200)
    chips = est["serving_chips_used"]
    assert est["weights_gb_per_chip"] == pytest.approx(est["weight_gb_total"] / chips)
    assert est["kv_cache_gb_per_chip"] == pytest.approx(est["kv_cache_gb_full_context"] / chips)
    # prefill of 64 x 1,000 tokens: the residual and its normed copy (2 x 12,288) plus the wider of the
    # attention projections (4 x 96 x 128 = 49,152) and the FFN (49,152) over the chips, and 64 last-token
    # logits over a 50,257-token vocabulary; 2 bytes each (bf16)
    cfg = load_model("gpt3-175b")
    assert (cfg.d_model, cfg.d_ff, cfg.n_heads, cfg.vocab_size) == (12288, 49152, 96, 50257)
    by_hand = (64_000 * (2 * 12288 + 49152 / chips) + 64 * 50257 / chips) * 2 / 1e9
    assert est["activations_gb_per_chip"] == pytest.approx(by_hand)


def test_memory_per_chip_placed_experts_and_the_study_rows_agree():
    kw = dict(model="glam-64b-64e", chip="h100-sxm", batch=32, placement="expert")
    est = estimate_serving(**kw)
    row = gs.serve(**kw).frame.iloc[0]
    for key in ("weights_gb_per_chip", "kv_cache_gb_per_chip", "activations_gb_per_chip"):
        assert row[key] == pytest.approx(est[key])
    # each chip holds ceil(64 / chips) whole experts of each of the 32 MoE layers, beside its dense share
    chips, shards = est["serving_chips_used"], est["dense_shards"]
    cfg = load_model("glam-64b-64e")
    expert = 2 * cfg.d_model * cfg.d_ff * 2 / 1e9  # two matrices, bf16, GB
    held = 32 * -(-64 // chips) * expert
    dense = est["weight_gb_total"] - 32 * 64 * expert
    assert est["weights_gb_per_chip"] == pytest.approx(dense / shards + held)
    usable = load_chip("h100-sxm").hbm_gb.value * ServingScenario.model_fields["hbm_usable_fraction"].default
    assert est["weights_gb_per_chip"] + est["kv_cache_gb_per_chip"] <= usable * (1 + 1e-9)  # the layout's own rule


def test_serving_curves_equal_the_front_door_and_the_estimate():
    fields = dict(chip="h100-sxm", weight_precision="int8", pue=1.4, batch=64, tpot_ms=20.0)
    c = gs.serving_curves(["glam-64b-64e", "gpt3-175b"], batches=[1, 8, 64], **fields)
    plain = gs.serve(
        model=["glam-64b-64e", "gpt3-175b"],
        batch=[1, 8, 64],
        grid=True,
        chip="h100-sxm",
        weight_precision="int8",
        pue=1.4,
    ).frame
    assert c["batch"]["joules_per_token"].tolist() == pytest.approx(plain["joules_per_token"].tolist())
    assert c["batch"]["meets_targets"].tolist() == (plain["decode_step_s"] <= 0.020).tolist()
    t = c["target"].set_index(["model", "tpot_ms"])
    assert sorted(set(c["target"]["tpot_ms"])) == pytest.approx(sorted(20.0 * f for f in gs.TARGET_STEPS))
    for model in ("glam-64b-64e", "gpt3-175b"):
        for target in (20.0, 50.0):
            try:
                est = estimate_serving(model=model, **{**fields, "tpot_ms": target})
            except ConfigError as err:  # the estimate refuses: the curve keeps the row, with the same words
                assert t.loc[(model, target), "refusal"] == str(err)
                assert (
                    t.loc[(model, target), "usd_per_million_tokens"] != t.loc[(model, target), "usd_per_million_tokens"]
                )
                continue
            assert t.loc[(model, target), "batch_served"] == est["batch_served"]
            assert t.loc[(model, target), "usd_per_million_tokens"] == pytest.approx(est["usd_per_million_tokens"])
    assert t.loc[("gpt3-175b", 20.0), "refusal"].startswith("tpot_ms=20 (batch 1 takes")


def test_serving_curves_on_given_chips_keep_the_batches_that_fit():
    c = gs.serving_curves(["glam-64b-64e", "gpt3-175b"], chip="h100-sxm", chips=16, batches=[1, 64, 1024])
    assert set(c["batch"]["model"]) == {"gpt3-175b"}  # GLaM's 1.16T parameters need more than 16 H100s
    assert (c["batch"]["serving_chips_used"] == 16).all()
    need = gs.serve(model="gpt3-175b", chip="h100-sxm", batch=[1, 64, 1024]).frame["serving_min_chips"]
    assert c["batch"]["batch"].tolist() == [b for b, n in zip([1, 64, 1024], need) if n <= 16]
