"""`glamsim plan` (issue 14): the vectorised search agrees with the one-layout evaluation, its JSON,
the issue's two large searches, and that planning imports neither JAX nor pandas."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from badinput import accepted

from glamsim.config import load_model
from glamsim.predict import evaluate, parse_layout
from glamsim.predict.plan import best, candidates, search
from glamsim.profiles import load_chip

PLAN_KEYS = {
    "layout",
    "global_batch",
    "microbatches",
    "step_s",
    "mfu",
    "mfu_low",
    "mfu_high",
    "hfu",
    "tokens_per_s",
    "energy_j_per_token",
    "usd_per_million_tokens",
    "breakdown",
    "memory",
    "usable_bytes",
}


def test_plan_json_lists_fitting_layouts_fastest_first(tmp_path):
    r = accepted(
        ["plan", "glam-tiny", "--chip", "h100-sxm", "--chips", "8", "--top", "4", "--tokens", "1e9", "--json"], tmp_path
    )
    d = json.loads(r.stdout)
    assert (d["model"], d["chip"], d["chips"], d["rank_by"]) == ("glam-tiny", "h100-sxm", 8, "time")
    assert d["candidates"] >= d["fitting"] > 0 and len(d["plans"]) == 4
    per_token = [p["step_s"] / (p["global_batch"] * d["seq_len"]) for p in d["plans"]]
    assert per_token == sorted(per_token)
    for p in d["plans"]:
        assert PLAN_KEYS <= set(p) and {"train_days", "energy_mwh_chips", "cost_usd"} <= set(p)
        assert p["memory"]["total"] <= p["usable_bytes"]
        assert set(p["breakdown"]) == {
            "compute_s",
            "moe_permute_s",
            "recompute_s",
            "tp_exposed_s",
            "ep_exposed_s",
            "cp_exposed_s",
            "pp_exposed_s",
            "bubble_s",
            "dp_exposed_s",
            "optimizer_s",
        }
        assert sum(p["breakdown"].values()) == pytest.approx(p["step_s"])
        lay = parse_layout(p["layout"])
        assert lay.chips == 8 and lay.gbs == p["global_batch"]


def test_search_agrees_with_the_single_layout_evaluation():
    cfg, chip = load_model("glam-64b-64e"), load_chip("tpu-v4")
    r = search(cfg, chip, 1024, top=3)
    for p in r["plans"]:
        one = evaluate(cfg, chip, p["layout"], chips=1024)
        assert one["fits"]
        assert one["step_s"] == pytest.approx(p["step_s"], rel=1e-12)
        assert one["mfu"] == pytest.approx(p["mfu"], rel=1e-12)
        assert one["memory"]["total"] == pytest.approx(p["memory"]["total"], rel=1e-12)
    assert best(cfg, chip, 1024)["layout"] == r["plans"][0]["layout"]


@pytest.mark.parametrize("model, chip, chips", [("glam-64b-64e", "tpu-v4", 1024), ("gpt3-175b", "v100", 10000)])
def test_the_issue_searches_find_fitting_layouts(model, chip, chips):
    r = search(load_model(model), load_chip(chip), chips, top=5)
    assert r["fitting"] > 0 and len(r["plans"]) == 5
    assert all(0 < p["mfu"] < 1 for p in r["plans"])
    for p in r["plans"]:  # every plan divides the chips exactly and uses the batch the search chose
        assert parse_layout(p["layout"]).chips == chips


def test_given_global_batch_is_kept_and_candidates_respect_the_model():
    cfg = load_model("gpt3-175b")
    r = search(cfg, load_chip("a100-80gb"), 1024, global_batch=1536, top=10)
    assert {p["global_batch"] for p in r["plans"]} == {1536}
    c = candidates(cfg, 1024, 2048, 8, parse_layout("dp=1"))
    assert set(c.tp) <= {1, 2, 4, 8}  # tensor parallelism inside a node
    slots = 96 + 2 * c.embed_loss  # the embedding and the loss as a layer each under embed_loss
    assert (c.tp * c.pp * c.dp * c.cp == 1024).all() and (c.pp * c.vp <= slots).all()
    # stage counts that do not divide the 96 layers (98 slots) are marked uneven (64 stages: 2 layers
    # on the slowest)
    assert ((slots % (c.pp * c.vp) > 0) == (c.uneven > 0)).all() and 64 in set(c.pp)
    # Megatron's split counting the embedding and the loss needs pp x vp to divide the 98 slots
    # (Megatron-Core asserts it), and on two stages it is the split without them: none here
    assert not (c.embed_loss > 0).any()


def test_the_search_recomputes_half_of_each_chunk_where_memory_allows_no_less():
    # candidates: full recomputation of half of each model chunk's layers (floor(chunk / 2)), never for
    # one-layer chunks; on 96 A100-40GB, GPT-3 175B fits only with recomputation, and recomputing 4 of
    # each 12-stage pipeline's 8 layers ranks among the fastest, ahead of the same split recomputing all 8
    cfg, chip = load_model("gpt3-175b"), load_chip("a100-40gb")
    c = candidates(cfg, 96, 2048, 8, parse_layout("dp=1"))
    half = c.recompute_layers > 0
    from glamsim.accounting import ModelArrays
    from glamsim.predict.stage import chunk_layers

    chunk = chunk_layers(ModelArrays.of(cfg), c)
    assert half.any() and (c.recompute[half] == 2).all()
    assert (c.recompute_layers[half] == np.floor(chunk[half] / 2)).all() and (chunk[half] >= 2).all()
    # a one-layer chunk has no half (pp x vp = 96 here), and XLA's remat is not a layer count
    assert ((chunk == 1) & (c.recompute == 2)).any() and not (half & (chunk == 1)).any()
    assert not (candidates(cfg, 96, 2048, 8, parse_layout("dp=1,stack=xla")).recompute_layers > 0).any()
    r = search(cfg, chip, 96, top=12)
    ranks = [i for i, p in enumerate(r["plans"]) if "recompute_layers" in p["layout"]]
    assert ranks and ranks[0] <= 2  # among the three fastest per token
    plan = r["plans"][ranks[0]]
    lay = parse_layout(plan["layout"])
    every = evaluate(cfg, chip, lay.model_copy(update={"recompute_layers": None}), chips=96)
    assert every["fits"] and plan["step_s"] < 0.95 * every["step_s"]
    # recomputing nothing does not fit: the partial layout's memory lies between the two
    nothing = evaluate(cfg, chip, lay.model_copy(update={"recompute": "none", "recompute_layers": None}), chips=96)
    assert not nothing["fits"]
    assert every["memory"]["total"] < plan["memory"]["total"] < nothing["memory"]["total"]


def test_rank_by_energy_and_cost():
    cfg, chip = load_model("glam-tiny"), load_chip("tpu-v4")
    for key in ("energy", "cost"):
        r = search(cfg, chip, 8, rank_by=key, top=3)
        vals = [p["energy_j_per_token" if key == "energy" else "usd_per_million_tokens"] for p in r["plans"]]
        assert vals == sorted(vals)


def test_one_layout_prints_its_breakdown_and_shortfall(tmp_path):
    r = accepted(["plan", "gpt3-175b", "--chip", "v100", "--chips", "64", "--layout", "tp=8,pp=8,gbs=64"], tmp_path)
    assert "does not fit" in r.stderr and "GB more than" in r.stderr
    assert "bubble" in r.stdout and "memory: activations" in r.stdout


def test_one_layout_carries_the_range_the_search_and_the_estimate_give(tmp_path):
    """`plan --layout` shows the MFU range of that layout: the search's for the same layout (its
    `mfu_low`/`mfu_high`) and the training estimate's ledger basis; an unvalidated kernel (cuDNN
    9.19) widens all three the same way."""
    from glamsim.cost.training import estimate_training
    from glamsim.predict.layout import parse_layout

    for layout in ("tp=8,pp=16,dp=8,gbs=1024", "tp=8,pp=16,dp=8,gbs=1024,attn=cudnn-9.19"):
        args = ["plan", "gpt3-175b", "--chip", "h100-sxm", "--chips", "1024", "--layout", layout]
        one = json.loads(accepted([*args, "--json"], tmp_path).stdout)
        # the search over layouts with the same software keys: the same factors on each plan's MFU
        found = search(load_model("gpt3-175b"), load_chip("h100-sxm"), 1024, base=parse_layout(layout), top=1)
        top = found["plans"][0]
        factors = (one["mfu_low"] / one["mfu"], one["mfu_high"] / one["mfu"])
        assert factors == pytest.approx((top["mfu_low"] / top["mfu"], top["mfu_high"] / top["mfu"]))
        assert one["mfu_interval"] == found["mfu_interval"] and one["mfu_range"] == top["mfu_range"]
        e = estimate_training(model=load_model("gpt3-175b"), tokens=1e10, chip="h100-sxm", chips=1024, layout=layout)
        assert one["mfu_interval"] in e.ledger["mfu"].source
        assert ("95%" in one["mfu_range"]) == ("cudnn-9.19" in layout)
        table = accepted(args, tmp_path).stdout
        assert f"MFU {one['mfu_range']} range" in table


def test_one_hybrid_sharded_layout_keeping_its_weights_is_planned_and_estimated(tmp_path):
    """`fsdp=8,dp=8,reshard=0` (torchtitan's HSDP under pipeline parallelism) comes back from the
    prediction as it went in, so the faces that re-read the predicted layout (its MFU range) take it."""
    from glamsim.cost.training import estimate_training

    layout = "fsdp=8,dp=8,reshard=0"
    one = json.loads(
        accepted(
            ["plan", "glam-1.7b-dense", "--chip", "h100-sxm", "--chips", "64", "--layout", layout, "--json"], tmp_path
        ).stdout
    )
    assert one["layout"].startswith("fsdp=8,dp=8,reshard=0,") and one["mfu_low"] < one["mfu"] < one["mfu_high"]
    e = estimate_training(model=load_model("glam-1.7b-dense"), tokens=1e10, chip="h100-sxm", chips=64, layout=layout)
    assert e.mfu == pytest.approx(one["mfu"])


def test_planning_imports_neither_jax_nor_pandas():
    code = (
        "import sys; from glamsim.cli import main; sys.argv = ['glamsim', 'plan', 'glam-tiny', '--chip', "
        "'tpu-v4', '--chips', '8', '--json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'jax', 'pandas', 'matplotlib'}), file=sys.stderr)"
    )
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "[]"
    assert json.loads(r.stdout)["plans"]


def test_the_planner_ranks_by_the_stack_it_is_told():
    """GPT-3 175B on 1,536 A100s with DeepSpeed: ZeRO-3 gathers every tensor with a 5e7-parameter
    prefetch, so tensor + pipeline parallelism ranks first, as Narayanan et al. 2021 (Table 2)
    measured; each plan carries its MFU interval."""
    from glamsim.predict.intervals import mfu_interval
    from glamsim.predict.layout import Layout

    r = search(load_model("gpt3-175b"), load_chip("a100-80gb"), 1536, global_batch=1536, base=Layout(stack="deepspeed"))
    top = r["plans"][0]
    assert "fsdp=" not in top["layout"] and "pp=" in top["layout"] and "stack=deepspeed" in top["layout"]
    # the interval of a dense DeepSpeed prediction on the A100: DeepSpeed's attention runs as matmuls
    # there, which no published run used, so it widens to the 95% quantile
    from glamsim.predict.intervals import FAR_LEVEL, attention_kernel_of

    kernel = attention_kernel_of(Layout(stack="deepspeed"), "a100-80gb")
    iv = mfu_interval("deepspeed", chip="a100-80gb", seq_len=2048, kernel=kernel)
    assert iv.level == FAR_LEVEL and "as matmuls on Ampere" in iv.basis and iv.basis == r["mfu_interval"]
    assert top["mfu_low"] == pytest.approx(top["mfu"] * iv.low) and top["mfu_high"] == pytest.approx(
        top["mfu"] * iv.high
    )


def test_a_layout_without_a_stack_takes_the_chip_s_usual_software():
    """XLA on a TPU (GShard's dispatch einsums for an MoE), Megatron-style on a GPU; a named stack wins."""
    from glamsim.predict import evaluate

    tpu = search(load_model("glam-tiny"), load_chip("tpu-v4"), 8, top=1)["plans"][0]
    gpu = search(load_model("glam-tiny"), load_chip("h100-sxm"), 8, top=1)["plans"][0]
    assert "stack=xla" in tpu["layout"] and "stack=megatron" in gpu["layout"]
    assert "stack=xla" in evaluate("glam-tiny", "tpu-v4", "dp=8,mb=1", chips=8)["layout"]
    assert "stack=pytorch-fsdp" in evaluate("glam-tiny", "tpu-v4", "dp=8,mb=1,stack=pytorch-fsdp", chips=8)["layout"]
    # a named megatron on a TPU is kept: gather/scatter token movement, not the einsums
    xla = evaluate("glam-tiny", "tpu-v4", "dp=8,mb=1", chips=8)["breakdown"]["moe_permute_s"]
    named = evaluate("glam-tiny", "tpu-v4", "dp=8,mb=1,stack=megatron", chips=8)
    meg = named["breakdown"]["moe_permute_s"]
    assert meg != pytest.approx(xla, rel=1e-3)
    # the layout string it reports names the stack, so feeding it back gives the same prediction
    again = evaluate("glam-tiny", "tpu-v4", named["layout"], chips=8)
    assert "stack=megatron" in named["layout"] and again["breakdown"]["moe_permute_s"] == pytest.approx(meg)
    # a plan on a chip no published run used carries the wider interval
    far = search(load_model("glam-tiny"), load_chip("tpu-v5p"), 8, top=1)
    assert far["plans"][0]["mfu_level"] == 0.95 and "no published run on tpu-v5p" in far["mfu_interval"]


def test_the_ledger_says_which_stack_a_predicted_mfu_assumes_and_why():
    from glamsim.cost.training import estimate_training

    tpu = estimate_training(model=load_model("glam-tiny"), tokens=1e9, chip="tpu-v4", chips=8)
    assert "stack xla: the usual software on Google chips" in tpu.ledger["layout"].source
    named = estimate_training(
        model=load_model("glam-tiny"), tokens=1e9, chip="tpu-v4", chips=8, layout="dp=8,mb=1,stack=megatron"
    )
    assert "stack megatron: named in the layout" in named.ledger["layout"].source


def test_search_keeps_the_base_kernel_and_loss_keys_and_agrees_with_evaluate():
    """A base layout's attention kernel and loss precision reach every planned layout's string, and
    re-evaluating that string gives the plan's figures; Transformer Engine's cuDNN attention
    (539 / 477 TFLOP/s on an H100 against FlashAttention-2's 335 / 318) spends less time in
    attention on the same layout than PyTorch's default kernel."""
    from glamsim.predict.layout import Layout

    cfg, chip = load_model("glam-tiny"), load_chip("h100-sxm")
    base = Layout(stack="pytorch-fsdp", attn="cudnn", loss_upcast=False)
    r = search(cfg, chip, 8, base=base, top=3)
    for p in r["plans"]:
        lay = parse_layout(p["layout"])
        assert (lay.stack, lay.attn, lay.loss_upcast) == ("pytorch-fsdp", "cudnn", False)
        one = evaluate(cfg, chip, p["layout"], chips=8)
        assert one["step_s"] == pytest.approx(p["step_s"], rel=1e-12)
        plain = evaluate(cfg, chip, p["layout"].replace(",attn=cudnn", ""), chips=8)
        assert plain["attention_s"] > one["attention_s"]


def test_software_keys_shape_every_plan_alike_on_every_face(tmp_path):
    """`--software` keys (the stack, the element-wise fusion, DeepEP's one copy per rank) reach every
    planned layout of `glamsim plan`, the same layouts in the same order as `glamsim.api.layouts`,
    and a training estimate given them plans the first of those layouts and says where its stack
    came from; the keys the search itself chooses are refused there."""
    import glamsim.api as gs
    from glamsim.config import ConfigError
    from glamsim.cost.training import estimate_training

    keys, model = "stack=pytorch-fsdp,fused=1,a2a_dedup=1", "qwen1.5-moe-a2.7b"  # dropless, as DeepEP runs
    r = accepted(
        ["plan", model, "--chip", "h100-sxm", "--chips", "8", "--top", "3", "--software", keys, "--json"], tmp_path
    )
    plans = [p["layout"] for p in json.loads(r.stdout)["plans"]]
    for text in plans:
        lay = parse_layout(text)
        assert (lay.stack, lay.fused, lay.a2a_dedup) == ("pytorch-fsdp", True, True)
    assert list(gs.layouts(model, "h100-sxm", 8, top=3, software=keys)["layout"]) == plans
    est = estimate_training(model=load_model(model), tokens=1e9, chip="h100-sxm", chips=8, software=keys)
    assert est.ledger["layout"].value == plans[0]
    assert "stack pytorch-fsdp: named in the software keys" in est.ledger["layout"].source
    with pytest.raises(ConfigError, match="mb is chosen by the layout search"):
        gs.layouts("glam-tiny", "h100-sxm", 8, software="stack=xla,mb=2")


def test_a_dropless_moe_plan_on_megatron_labels_and_explains_its_wider_range():
    """The plan's (and `gs.layouts`') range for a dropless MoE on Megatron reaches down to NeMo's
    Qwen3-30B runs (and the B200 Qwen3-235B runs and four of Megatron-Core's model-zoo runs, beyond
    the pooled band: 10 rows), and the label and basis say so; at
    Mixtral's whole 32K context the published long-context rows widen it too."""
    import glamsim.api as gs

    r = search(load_model("mixtral-8x7b"), load_chip("h100-sxm"), 64, top=2, seq_len=4096)
    top = r["plans"][0]
    assert "stack=megatron" in top["layout"] and top["mfu_range"] == "80% + 10 MoE rows"
    assert top["mfu_low"] < 0.45 * top["mfu"] and "nemo-qwen3-30b-16-fp8" in r["mfu_interval"]
    df = gs.layouts("mixtral-8x7b", "h100-sxm", 64, top=2, seq_len=4096)
    assert list(df["mfu_range"]) == ["80% + 10 MoE rows"] * 2 and (df["mfu_basis"] == r["mfu_interval"]).all()
    whole = search(load_model("mixtral-8x7b"), load_chip("h100-sxm"), 64, top=1)["plans"][0]
    assert whole["mfu_range"].startswith("80% + 10 MoE + ") and whole["mfu_range"].endswith(" long-context rows")


def test_the_search_counts_the_embedding_and_loss_in_the_split_as_evaluate_does():
    """94 layers (Qwen3-235B's count) on 24 stages x 4 virtual stages: 96 chunks, reachable only with
    the embedding and the loss in the split (`embed_loss=1`, one layer a chunk).  The search offers
    that split on Megatron only, where pp x vp divides the 96 slots (Megatron-Core asserts it) and
    exceeds 2 (two stages each give a slot: the split without them); each candidate passes the
    layout check and predicts what the one-layout evaluation predicts, recomputing half of each
    chunk where it says so."""
    from glamsim.accounting import ModelArrays
    from glamsim.predict.layout import check_layout
    from glamsim.predict.steptime import predict
    from glamsim.predict.tiers import Fabric

    cfg, chip = load_model("glam-tiny-dense").model_copy(update={"n_layers": 94}), load_chip("h100-sxm")
    base = parse_layout("dp=1")
    c = candidates(cfg, 24, 128, 8, base, global_batch=48)
    el = c.embed_loss > 0
    stages = c.pp * c.vp
    assert (stages[el] > 2).all() and (96 % stages[el] == 0).all() and (c.uneven[el] == 0).all()
    assert {(2.0, 2.0), (2.0, 4.0), (3.0, 1.0), (24.0, 4.0)} <= set(zip(c.pp[el], c.vp[el]))
    assert not (stages[~el] > 94).any()  # 96 chunks only with it
    assert not (candidates(cfg, 24, 128, 8, parse_layout("dp=1,stack=xla"), global_batch=48).embed_loss > 0).any()
    for i in range(len(c)):
        check_layout(c.layout(i, base), cfg, 24, 128)
    t = predict(ModelArrays.of(cfg), 128, c, Fabric.of(chip))
    picks = [int(np.flatnonzero(el & (stages == 96))[0]), int(np.flatnonzero(el & (c.recompute_layers > 0))[0])]
    picks += [int(np.flatnonzero(el & (c.pp == pp))[0]) for pp in (2, 3, 8)]
    for i in picks:
        lay = c.layout(i, base)
        assert lay.embed_loss
        one = evaluate(cfg, chip, lay, chips=24, seq_len=128)
        assert one["step_s"] == pytest.approx(float(t["step_s"][i]), rel=1e-12)


def test_the_search_folds_the_experts_on_megatron_as_evaluate_does():
    """An MoE model (4 heads: tp up to 4) on Megatron with tp > 1: beside ep inside dp (experts split by tp) the search
    offers the folded expert layers (`etp=1`, each expert whole) with ep any divisor of
    gcd(experts, tp x cp x dp), so EP may span the tensor ranks; not on XLA.  Every candidate passes
    the layout check and predicts what the one-layout evaluation predicts."""
    from glamsim.accounting import ModelArrays
    from glamsim.predict.layout import check_layout
    from glamsim.predict.steptime import predict
    from glamsim.predict.tiers import Fabric

    cfg, chip = load_model("glam-tiny"), load_chip("h100-sxm")
    base = parse_layout("dp=1")
    c = candidates(cfg, 8, 128, 8, base, global_batch=16)
    folded = c.etp < c.tp
    assert folded.any() and (c.etp[folded] == 1).all() and (c.tp[folded] > 1).all()
    assert {(2.0, 4.0, 8.0), (4.0, 2.0, 8.0), (4.0, 1.0, 4.0), (2.0, 4.0, 1.0)} <= set(
        zip(c.tp[folded], c.dp[folded], c.ep[folded])
    )
    assert (c.ep[~folded] <= c.dp[~folded]).all() and (c.etp[~folded] == c.tp[~folded]).all()
    xla = candidates(cfg, 8, 128, 8, parse_layout("dp=1,stack=xla"), global_batch=16)
    assert not (xla.etp < xla.tp).any()
    for i in range(len(c)):
        check_layout(c.layout(i, base), cfg, 8, 128)
    t = predict(ModelArrays.of(cfg), 128, c, Fabric.of(chip))
    for i in np.flatnonzero(folded & (c.ep > c.dp))[:4]:
        lay = c.layout(int(i), base)
        assert lay.folded and lay.etp == 1
        one = evaluate(cfg, chip, lay, chips=8, seq_len=128)
        assert one["step_s"] == pytest.approx(float(t["step_s"][i]), rel=1e-12)


def test_folded_zero_is_kept_where_the_experts_group_spans_ranks():
    """ZeRO over one rank is ZeRO-0, and the search drops it; folded, the experts' data-parallel
    group is tp x cp x dp / ep ranks, so a folded layout with dp = 1 keeps its ZeRO rows where
    tp / ep > 1 and drops them where it is 1."""
    c = candidates(load_model("glam-tiny"), 8, 128, 8, parse_layout("dp=1"), global_batch=16)
    folded, one_rank = c.etp < c.tp, c.dp * c.cp == 1
    group = c.tp * c.cp * c.dp / c.ep
    assert ((c.zero > 0) & folded & one_rank & (group > 1)).any()
    assert not ((c.zero > 0) & one_rank & ~(folded & (group > 1))).any()


def test_tight_layouts_rank_after_every_layout_that_fits():
    """Llama 2 7B on 8 H100: of the layouts the memory count allows, those counted over the usable
    HBM but within the count's error on published peaks (`tight`) come after every one that fits;
    each agrees with the single evaluation's verdict."""
    from glamsim.predict.intervals import memory_band

    r = search(load_model("llama-2-7b"), load_chip("h100-sxm"), 8, top=10_000)
    verdicts = [p["memory_verdict"] for p in r["plans"]]
    assert r["tight"] > 0 and verdicts.count("tight") == r["tight"] and verdicts.count("fits") == r["fitting"]
    assert verdicts == sorted(verdicts, key=lambda v: v == "tight")  # every fit first
    q = memory_band().q
    first_tight = verdicts.index("tight")
    for p in [r["plans"][i] for i in (0, first_tight - 1, first_tight, first_tight + 1, len(verdicts) - 1)]:
        ratio = p["memory"]["total"] / p["usable_bytes"]
        assert (ratio <= 1) if p["fits"] else (1 < ratio <= np.exp(q))
        assert evaluate("llama-2-7b", "h100-sxm", p["layout"], chips=8)["memory_verdict"] == p["memory_verdict"]


def test_with_only_tight_layouts_the_plan_offers_them(tmp_path):
    """GLaM 137B dense on 64 TPU v4 (32 GiB): nothing fits the count, two layouts are tight; the plan
    gives them, saying so, rather than refusing a layout a run could hold."""
    r = accepted(["plan", "glam-137b-dense", "--chip", "tpu-v4", "--chips", "64"], tmp_path)
    assert "0 fitting and 2 tight layouts" in r.stdout.replace("\n", " ") and " tight" in r.stdout
    assert "ranked after every layout that fits" in r.stdout


def _plans_keep_it_below_zero3(key: str):
    """Plan Llama 2 7B on 16 H100s given `key=0`: the top rows at ZeRO 0-2 keep it, those at ZeRO-3
    (which has no step's gather or reduction) drop it, and both kinds are among them; the model."""
    from glamsim.predict.layout import parse_software

    cfg = load_model("llama-2-7b")
    r = search(cfg, load_chip("h100-sxm"), 16, base=parse_software(f"{key}=0"), top=40)
    zeros = set()
    for p in r["plans"]:
        lay = parse_layout(p["layout"])
        zeros.add(lay.zero)
        assert getattr(lay, key) is (None if lay.zero == 3 else False), p["layout"]
    assert {1, 3} <= zeros
    return cfg


def test_searched_rows_keep_the_named_gather_and_otherwise_the_stacks_at_their_zero():
    """A plan given `gather_overlap=0` keeps it on every row below ZeRO-3 and drops it at ZeRO-3
    (which gathers per microbatch); given none, each row takes its stack's default at its own ZeRO
    stage (PyTorch: ZeroRedundancyOptimizer's step-time sync at ZeRO-1, exposed; FSDP's forward
    gathers at ZeRO-2, hidden), the same the layout string gives when evaluated alone."""
    from glamsim.predict.layout import parse_software
    from glamsim.predict.plan import candidates

    cfg = _plans_keep_it_below_zero3("gather_overlap")
    base = parse_software("stack=pytorch-fsdp")
    rows = candidates(cfg, 16, 4096, 8, base)
    for i in range(len(rows)):
        lay = rows.layout(i, base)
        assert rows.gather_overlap[i] == lay.gather_overlap_code == float(lay.zero >= 2)  # ZeRO-0 as ZeRO-1: no gather


def test_searched_rows_keep_the_named_gradient_reduction_and_otherwise_the_stacks():
    """A plan given `grad_overlap=0` keeps it on every row that reduces a step's gradients (ZeRO
    0-2) and drops it at ZeRO-3, which reduce-scatters every microbatch's; given none, each row
    takes its stack's (DeepSpeed: after the backward, 0; Megatron: in it, 1), the same the layout
    string gives when evaluated alone (predicted both ways, on rows at every ZeRO stage)."""
    from glamsim.predict.layout import parse_software
    from glamsim.predict.plan import candidates

    cfg, chip = _plans_keep_it_below_zero3("grad_overlap"), load_chip("h100-sxm")
    # each searched row predicts what its layout string predicts evaluated alone, named or not
    from glamsim.accounting import ModelArrays
    from glamsim.predict.layout import LayoutArrays
    from glamsim.predict.steptime import predict
    from glamsim.predict.tiers import Fabric

    arrays, fab = ModelArrays.of(cfg), Fabric.of(chip)
    for text in ("stack=deepspeed", "stack=deepspeed,grad_overlap=1", "grad_overlap=0"):
        base = parse_software(text)
        rows = candidates(cfg, 16, 4096, 8, base)
        picked = list(range(0, len(rows), max(len(rows) // 40, 1)))
        alone = [parse_layout(rows.layout(i, base).compact()) for i in picked]
        want = predict(arrays, 4096, LayoutArrays.of(alone), fab)["step_s"]
        assert np.allclose(predict(arrays, 4096, rows.take(picked), fab)["step_s"], want), text
        assert {lay.zero for lay in alone} >= {0, 3}


def test_searched_rows_keep_named_blocking_pipeline_sends_where_they_interleave():
    """A plan given `pp_overlap=0` keeps it on every interleaved row (vp >= 2) and names none
    without virtual stages; each searched row predicts what its layout string predicts alone."""
    from glamsim.accounting import ModelArrays
    from glamsim.predict.layout import LayoutArrays, parse_software
    from glamsim.predict.plan import candidates
    from glamsim.predict.steptime import predict
    from glamsim.predict.tiers import Fabric

    cfg, chip = load_model("gpt3-175b"), load_chip("a100-80gb")
    base = parse_software("pp_overlap=0")
    rows = candidates(cfg, 64, 2048, 64, base)
    vps = rows.vp
    assert (vps > 1).any() and (vps == 1).any()
    assert set(rows.pp_overlap) == {0.0}  # blocking where interleaved, nothing to overlap elsewhere
    megatron = candidates(cfg, 64, 2048, 64, parse_software("stack=megatron"))
    assert (megatron.pp_overlap == (megatron.vp > 1)).all()  # Megatron's default: overlapped when interleaved
    other = candidates(cfg, 64, 2048, 64, parse_software("stack=deepspeed"))
    assert (other.vp > 1).any() and set(other.pp_overlap) == {0.0}
    picked = [int(i) for i in np.flatnonzero(vps > 1)[:20]] + [int(i) for i in np.flatnonzero(vps == 1)[:20]]
    alone = [rows.layout(i, base) for i in picked]
    assert all(lay.pp_overlap is (False if lay.vp > 1 else None) for lay in alone)
    arrays, fab = ModelArrays.of(cfg), Fabric.of(chip)
    want = predict(arrays, 2048, LayoutArrays.of([parse_layout(x.compact()) for x in alone]), fab)["step_s"]
    assert np.allclose(predict(arrays, 2048, rows.take(picked), fab)["step_s"], want)
