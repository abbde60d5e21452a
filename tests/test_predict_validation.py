"""The predictor against published runs (issue 14), the profiles' one-way link convention, and the
CPU check's arithmetic (the measured comparison is benchmarks/bench_predict.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from glamsim.cli import app
from glamsim.config import ConfigError, load_model
from glamsim.cost.reproduce import prediction_rows, published_runs, reproduce
from glamsim.predict import efficiency as eff
from glamsim.predict.cpu import Host, predict_step, routing_group
from glamsim.predict.validation import predictions
from glamsim.profiles import registry

RUNS = {"gpt3_v100", "glam_v4", "palm_mfu", "palm_hfu", "megatron_1t", "llama3_8k", "llama3_16k", "llama3_cp"}
PUBLISHED = {
    "gpt3_v100": 24.6,
    "glam_v4": 0.285,
    "palm_mfu": 0.462,
    "palm_hfu": 0.578,
    "megatron_1t": 163,
    "llama3_8k": 430,
    "llama3_16k": 400,
    "llama3_cp": 380,
}


def test_validation_rows_present_with_sources_and_layouts():
    every = {r["id"]: r for r in prediction_rows()}
    assert RUNS <= set(every) and len(every) >= 40  # issue 22: at least 40 rows
    assert len({r["stack"] for r in every.values()}) >= 4 and len({r["family"] for r in every.values()}) >= 8
    assert all(r["source"] and r["layout_source"] and r["family"] for r in every.values())
    rows = {k: v for k, v in every.items() if k in RUNS}
    for rid, r in rows.items():
        assert r["published"] == PUBLISHED[rid]
        assert r["source"] and r["layout_source"].startswith(("published", "assumed", "as palm_mfu"))
        assert r["rel_error"] == pytest.approx(r["predicted"] / r["published"] - 1)
        assert r["tolerance"] == 0.15 and r["ok"] == (abs(r["rel_error"]) <= 0.15)
        assert 0 < r["mfu"] < 1 and r["step_s"] > 0
    # the published layouts are the ones the papers give
    assert rows["megatron_1t"]["layout"].startswith("tp=8,pp=64,dp=6")
    # PaLM: 12-way model parallelism, 256-way sharding in a pod, two pods replicating (Sec. 4)
    assert "tp=12" in rows["palm_mfu"]["layout"] and rows["palm_mfu"]["layout"].startswith("fsdp=256,dp=2,")
    assert "cp=16" in rows["llama3_cp"]["layout"]
    # wall-clock rows (total run time) carry the goodput; step rows do not
    assert {r["id"] for r in rows.values() if r["basis"] == "wall_clock"} == {"gpt3_v100", "glam_v4"}


def test_validation_models_are_data_with_sources():
    models, runs = predictions()
    assert {"palm-540b", "megatron-1t", "llama3-405b"} <= set(models)
    from glamsim.accounting import ModelArrays, params

    total = {name: float(params(ModelArrays.of(cfg))[0]) for name, cfg in models.items()}
    assert total["palm-540b"] == pytest.approx(540e9, rel=0.01)  # PaLM Table 1: 540.35B
    assert total["llama3-405b"] == pytest.approx(405e9, rel=0.01)
    assert total["megatron-1t"] == pytest.approx(1008e9, rel=0.01)  # Narayanan et al. Table 1: 1,008B
    assert all(r.published.source for r in runs)


def test_reproduce_keeps_its_checks_and_exit_code():
    assert "predictions" in published_runs().model_fields_set  # the section is part of the data file
    assert all(r["ok"] for r in reproduce())  # the published checks, unchanged


def test_validate_predictions_command(tmp_path):
    r = CliRunner().invoke(app, ["validate-predictions", "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert RUNS <= {row["id"] for row in got}
    assert all(row["low"] <= row["predicted"] <= row["high"] for row in got)
    text = CliRunner().invoke(app, ["validate-predictions"])
    assert text.exit_code == 0 and "within tolerance" in text.stdout and "does not change the exit code" in text.stdout
    # a widened row says so in its interval (the long-sequence rows span other sources' long-context rows)
    assert "long-context" in text.stdout
    assert any(row["range"].endswith("long-context rows") for row in got if row["id"].startswith("nemo-longseq"))


def test_validate_predictions_opens_one_run_or_one_family(tmp_path):
    """`--run ID`: one published run with its breakdown (the items add up to the step) and memory per
    chip against the usable HBM, its sources; `--family F`: that source's rows only; an unknown id
    or family, or both at once, refused in one line naming the flag and the value."""
    from badinput import refused

    r = CliRunner().invoke(app, ["validate-predictions", "--run", "korthikanti22-22b-full", "--json"])
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    assert row["id"] == "korthikanti22-22b-full" and row["family"] == "korthikanti2022"
    assert sum(row["breakdown"].values()) == pytest.approx(row["step_s"])
    assert row["memory"]["total"] <= row["memory"]["usable"]
    text = CliRunner().invoke(app, ["validate-predictions", "--run", "korthikanti22-22b-full"]).stdout
    assert "layout as predicted" in text and "memory: activations" in text and "Korthikanti et al. 2022" in text
    assert "network between servers" not in text and "server or slice" not in text  # the profile's
    palm = CliRunner().invoke(app, ["validate-predictions", "--run", "palm_mfu"]).stdout
    assert "3,072 chips a server or slice, the run's own" in palm  # PaLM's two pods
    own = CliRunner().invoke(app, ["validate-predictions", "--run", "ibm-fsdp-7b-128-a100"]).stdout
    assert "network between servers" in own and "6.25 GB/s one way a chip, the run's own" in own
    fam = json.loads(CliRunner().invoke(app, ["validate-predictions", "--family", "palm2022", "--json"]).stdout)
    assert {f["id"] for f in fam} == {"palm_mfu", "palm_hfu"}
    line = refused(["validate-predictions", "--run", "llama3_8"], tmp_path, mentions="--run")
    assert "did you mean llama3_8k" in line
    refused(["validate-predictions", "--family", "nemo2"], tmp_path, mentions=["--family", "nemo2", "nemo-2407"])
    refused(
        ["validate-predictions", "--run", "palm_mfu", "--family", "palm2022"],
        tmp_path,
        mentions=["give --run or --family", "palm_mfu"],
    )


def test_figures_their_publisher_files_as_regressions_are_marked_and_kept():
    """The NeMo Qwen3 figures NVIDIA's own tracker reports as performance regressions (the dropless
    Qwen3-30B of 25.11, the MXFP8 Qwen3-235B on B200 of 25.11) and, by inference, the dropless
    Qwen3-30B of 26.02 carry the report in the row, quoted with where it stands; no other row does;
    they stay in the table (counted), which lists exactly them, and one run's drill-down shows it."""
    every = {r.id: r for r in predictions()[1]}
    filed = {rid for rid, r in every.items() if r.publisher_regression}
    assert filed == {
        "nemo-qwen3-30b-16-fp8",
        "nemo-qwen3-30b-16-fp8-2602",
        "nemo-qwen3-30b-8-b200-fp8",
        "nemo-qwen3-30b-8-b200-fp8-2602",
        "nemo-qwen3-235b-64-b200-fp8",
    }
    for rid in filed:
        text = every[rid].publisher_regression
        assert "Megatron-Bridge issue #" in text and "regression" in text.lower(), rid
        # a report that predates the figure is an inference, and says so first
        assert text.startswith("inferred, not filed") == rid.endswith("-2602"), rid
    r = CliRunner().invoke(app, ["validate-predictions", "--run", "nemo-qwen3-30b-16-fp8"])
    assert r.exit_code == 0
    assert "its publisher's regression report: NVIDIA-NeMo/Megatron-Bridge issue #1998" in r.stdout.replace("\n", " ")
    table = CliRunner().invoke(app, ["validate-predictions", "--family", "nemo"]).stdout
    line = next(x for x in table.splitlines() if "performance-regression reports" in x)
    assert "(kept, counted; 2 by inference): " in line
    assert set(line.split("by inference): ")[1].split(", ")) == filed


@pytest.mark.parametrize(
    "name,layers,d_model,heads,mlp,billions",
    [("16b", 32, 5120, 32, 32768, 16.27), ("32b", 32, 10240, 32, 32768, 32.55)]
    + [("64b", 64, 10240, 32, 32768, 64.76), ("128b", 64, 10240, 64, 65536, 129.19)],
)
def test_maxtext_v5e_models_come_to_their_parameter_counts(name, layers, d_model, heads, mlp, billions):
    """MaxText's base config scaled by global_parameter_scale: four projections of heads x 256, two
    ungated MLP matrices and two RMSNorm scales a layer, a final norm, one tied embedding of 32,768
    tokens, by hand; 16.27 / 32.55 / 64.76 / 129.19B as the rows carry them."""
    from glamsim.accounting import ModelArrays, params

    cfg = predictions()[0][f"maxtext-{name}"]
    by_hand = layers * (4 * d_model * heads * 256 + 2 * d_model * mlp + 2 * d_model) + d_model + 32768 * d_model
    counted = float(params(ModelArrays.of(cfg), active=True)[0])
    assert counted == pytest.approx(by_hand, rel=1e-9)
    assert round(counted / 1e9, 2) == billions


def test_transcribed_rows_read_in_their_own_units():
    """Seconds per iteration and tokens/s per chip come straight from the predicted step."""
    rows = {r["id"]: r for r in prediction_rows()}
    k = rows["korthikanti22-22b-full"]  # 4 sequences per step on 8 A100s
    assert k["quantity"] == "step_s" and k["predicted"] == pytest.approx(k["step_s"])
    t = rows["nemo-llama3-8b-8-fp8"]  # global batch 128 x 8,192 tokens over 8 GPUs
    assert t["predicted"] == pytest.approx(128 * 8192 / (8 * t["step_s"]))
    m = rows["maxtext-v5e-16b-256"]  # MaxText's TFLOP/s: (6 N + 6 L s a d) x tokens/s per chip
    cfg = predictions()[0]["maxtext-16b"]
    from glamsim.accounting import ModelArrays, params

    per_token = 6 * float(params(ModelArrays.of(cfg), active=True)[0]) + 6 * 32 * 2048 * 32 * 256
    assert m["predicted"] == pytest.approx(per_token * 1536 * 2048 / (256 * m["step_s"]) / 1e12)


@pytest.mark.parametrize(
    "ptdp,zero3",
    [("175b-384", "175b-384"), ("175b-768", "175b-768"), ("175b-1536", "175b-1536")]
    + [("530b-560", "530b-640"), ("530b-1120", "530b-1120"), ("530b-2240", "530b-2240")],
)
def test_deepspeed_zero3_ranks_below_tensor_and_pipeline_parallelism_at_scale(ptdp, zero3):
    """Narayanan et al. 2021, Table 2: PTD-P 153 / 149 / 141 TFLOP/s per GPU against ZeRO-3's
    144 / 88 / 44 at 384 / 768 / 1,536 GPUs (175B); 171 / 167 / 159 on 560 / 1,120 / 2,240 against
    138 / 98 / 48 on 640 / 1,120 / 2,240 (530B; ZeRO-3 did not fit 560 at microbatch 4)."""
    rows = {r["id"]: r for r in prediction_rows()}
    assert rows[f"megatron21-t2-ptdp-{ptdp}"]["predicted"] > rows[f"megatron21-t2-zero3-{zero3}"]["predicted"]
    assert rows[f"megatron21-t2-ptdp-{ptdp}"]["published"] > rows[f"megatron21-t2-zero3-{zero3}"]["published"]


def test_intervals_come_from_other_sources_only():
    from glamsim.predict.intervals import mfu_interval, residuals
    from glamsim.predict.validation import validation_rows

    res = residuals()
    for fam in {r[1] for r in res}:
        mine = mfu_interval("megatron", exclude=fam)  # a dense model: the other sources' dense rows
        assert mine.rows == sum(r[1] != fam and r[4] == "dense" for r in res)
        assert mine.low < 1 < mine.high
        moe = mfu_interval("megatron", exclude=fam, routing="capacity")  # an MoE: its routing's rows too
        assert moe.rows == sum(r[1] != fam and r[4] in ("dense", "capacity") for r in res)
    # a row's band is its prediction times exp(-q), exp(+q): q the others' 80th percentile of |error|
    row = next(r for r in validation_rows() if r["id"] == "glam_v4")  # a capacity MoE: dense + capacity rows
    q = np.quantile([abs(r[3]) for r in res if r[1] != "glam2022" and r[4] in ("dense", "capacity")], 0.8)
    assert row["low"] == pytest.approx(row["predicted"] * np.exp(-q))
    assert row["high"] == pytest.approx(row["predicted"] * np.exp(q))
    dense = next(r for r in validation_rows() if r["id"] == "megatron21-t1-1.7b")  # a dense row: dense rows
    q = np.quantile([abs(r[3]) for r in res if r[1] != "narayanan2021" and r[4] == "dense"], 0.8)
    assert (dense["low"], dense["high"]) == pytest.approx(
        (dense["predicted"] * np.exp(-q), dense["predicted"] * np.exp(q))
    )


def test_constants_are_few_and_named():
    assert len(eff.CALIBRATED) == 4 and len(eff.FIXED) == 3
    for name in eff.CALIBRATED + eff.FIXED:
        assert isinstance(getattr(eff, name), float)


# ---- profiles: one-way link bandwidth per chip, tiers with sources -------------------------------

ONE_WAY = {
    "v100": 150,
    "a100-40gb": 300,
    "a100-80gb": 300,
    "h100-sxm": 450,
    "h200": 450,
    "b200": 900,
    "gb200": 900,
    "mi300x": 448,
    "tpu-v3": 328,
    "tpu-v4": 300,
    "tpu-v5e": 200,
    "tpu-v5p": 600,
    "tpu-v6e": 448,
}


def test_every_builtin_chip_states_one_way_links_and_its_tiers():
    chips = registry("chips")
    for name, gb in ONE_WAY.items():
        c = chips[name]
        assert c.interconnect_bandwidth_gb_per_s.value == gb
        assert "one-way" in c.interconnect_bandwidth_gb_per_s.note
        for field in (
            "chips_per_node",
            "inter_node_bandwidth_gb_per_s",
            "intra_node_latency_us",
            "inter_node_latency_us",
        ):
            spec = getattr(c, field)
            assert spec is not None and spec.value > 0 and spec.source and spec.date, (name, field)
        for field in ("intra_node_latency_us", "inter_node_latency_us"):
            assert getattr(c, field).source.startswith("assumption"), (name, field)  # no published figure
        assert (c.torus_dims is not None) == name.startswith("tpu")
    for gpu in ("v100", "a100-80gb", "h100-sxm", "b200"):
        assert chips[gpu].chips_per_node.value == 8
        assert "two-way" in chips[gpu].interconnect_bandwidth_gb_per_s.note
    assert chips["h100-sxm"].inter_node_bandwidth_gb_per_s.value == 50  # 400 Gb/s per GPU
    assert chips["v100"].inter_node_bandwidth_gb_per_s.value == 6.25  # 4 x 100 Gb/s per 8 GPUs


# ---- the CPU check's arithmetic -------------------------------------------------------------

HOST = Host(matmul_flops_per_s=1e11, memory_bytes_per_s=1e10, cache_bytes=32 * 2**20, cache_bytes_per_s=4e10)


def test_cpu_prediction_structure():
    cfg = load_model("glam-small")
    p = predict_step(cfg, 8, 256, "scatter", HOST)
    parts = sum(p["breakdown"].values())
    assert p["step_s"] == pytest.approx(parts) and p["step_s"] > 0
    assert p["group_size"] == routing_group(8 * 256, 512) == 512
    # GShard's one-hot einsums cost more than scatter dispatch; a dense twin costs less than the MoE
    assert predict_step(cfg, 8, 256, "einsum", HOST)["step_s"] > p["step_s"]
    assert predict_step(load_model("glam-small-dense"), 8, 256, "scatter", HOST)["step_s"] != p["step_s"]
    # twice the matmul rate and bandwidth: half the time (no latencies on one device)
    fast = Host(2e11, 2e10, 32 * 2**20, 8e10)
    assert predict_step(cfg, 8, 256, "scatter", fast)["step_s"] == pytest.approx(p["step_s"] / 2)


def test_cpu_cache_rule_and_host_refusals():
    # glam-tiny's layers (11 MiB of activations) fit a 32 MiB cache: element-wise work at the cache rate
    tiny = predict_step(load_model("glam-tiny"), 8, 128, "scatter", HOST)
    assert tiny["in_cache"] and tiny["working_set_bytes"] < 32 * 2**20
    small = predict_step(load_model("glam-small"), 8, 256, "scatter", HOST)
    assert not small["in_cache"]
    assert routing_group(1000, 256) == 250  # the largest divisor of the tokens not above the target
    for bad in ({"matmul_flops_per_s": 0.0}, {"memory_bytes_per_s": float("nan")}, {"cache_bytes": -1.0}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            Host(**{"matmul_flops_per_s": 1e11, "memory_bytes_per_s": 1e10, **bad})
    with pytest.raises(ConfigError, match="dispatch"):
        predict_step(load_model("glam-tiny"), 8, 128, "ragged", HOST)


def test_a_predicted_mfu_carries_its_interval_into_time_and_cost():
    """The training estimate's days range is the nominal days over the interval's factors."""
    from glamsim.cost.training import estimate_training
    from glamsim.predict.intervals import mfu_interval

    e = estimate_training(model=load_model("glam-1.7b-dense"), tokens=1e10, chip="h100-sxm", chips=8)
    iv = mfu_interval("megatron")
    low, high = e.ranges["train_days"]
    assert low == pytest.approx(e.train_days / iv.high) and high == pytest.approx(e.train_days / iv.low)
    assert "80% range from errors on" in e.ledger["mfu"].source
    assert "0.878 x the A100-calibrated fraction" in e.ledger["mfu"].source  # 698.6 / 989 over 251.0 / 312
    assert "sustains 698.6 TFLOP/s" in e.ledger["mfu"].source


def test_the_ledger_names_the_attention_kernel_and_its_published_rate():
    """A predicted MFU's source says which fused-attention kernel the layout runs and at what share
    of the peak: cuDNN on an H100 at 539 / 989 = 54.5% forward and 516 x 497.68 / 538.46 / 989 =
    48.2% backward for 128-wide heads (Shah et al., cuDNN 9.1.1), at 64-wide heads 388 / 989 = 39.2%
    and 433 x 497.68 / 538.46 / 989 = 40.5%; at 4K tokens a call x0.92 / x0.89 of those (the cuDNN
    frontend benchmark's sweep: 542.32 / 586.82 and 443.60 / 497.68), FlashAttention-3 with no sweep
    rolling off as matmuls; x0.88 at the H100's sustained clock (698.6 / 794.5); without fused
    attention, or on a chip without a published rate, as matmuls."""
    from glamsim.cost.resolve import attention_roof
    from glamsim.cost.training import estimate_training
    from glamsim.profiles import load_chip

    h100 = load_chip("h100-sxm")
    wide, narrow = load_model("glam-1.7b-dense"), load_model("glam-1.7b-dense").model_copy(update={"d_head": 64})
    text = attention_roof({"layout": "dp=8"}, h100, wide)
    assert f"cudnn at 54.5% / 48.2% of the 16-bit peak forward / backward for {wide.head_dim}-wide heads" in text
    assert "cuDNN 9.1.1" in text and "x0.88 at the sustained clock" in text
    assert "those are its 16K rates, at 4,096 tokens a call x0.92 / x0.89" in attention_roof(
        {"layout": "dp=8"}, h100, wide, 4096
    )
    assert "at 4,096 tokens a call" in attention_roof({"layout": "dp=8,cp=2"}, h100, wide, 8192)  # S / cp
    assert "rolling off as matmuls" in attention_roof({"layout": "dp=8,attn=flash3"}, h100, wide)
    assert "cudnn at 39.2% / 40.5%" in attention_roof({"layout": "dp=8"}, h100, narrow)
    assert "flash3 at 62.3% / 56.7%" in attention_roof({"layout": "dp=8,attn=flash3"}, h100, wide)
    unfused = attention_roof({"layout": "dp=8,flash=0"}, h100, wide)
    assert unfused == "attention as matmuls: no fused attention (flash=0)"
    on_tpu = attention_roof({"layout": "dp=8"}, load_chip("tpu-v4"), wide)
    assert on_tpu == "attention as matmuls: no published fused-attention rate on this chip"
    # the training estimate's ledger carries it for its best layout (Megatron's cuDNN on the H100)
    e = estimate_training(model=wide, tokens=1e10, chip="h100-sxm", chips=8)
    assert "fused attention cudnn at 54.5% / 48.2% of the 16-bit peak" in e.ledger["mfu"].source


def test_a_predicted_mfu_carries_its_range_as_outputs_and_a_typed_one_does_not():
    """`mfu_low` / `mfu_high`: the predicted MFU times the interval's factors (`mfu_interval` for its
    stack), the same ends as the estimate's range of the wall-clock MFU (no exposed communication
    is charged on top of a predicted MFU); NaN for a typed MFU."""
    from glamsim.cost.training import estimate_training
    from glamsim.predict.intervals import mfu_interval

    e = estimate_training(model=load_model("glam-1.7b-dense"), tokens=1e10, chip="h100-sxm", chips=8)
    out, iv = e.to_dict(), mfu_interval("megatron", chip="h100-sxm", seq_len=2048)
    assert (out["mfu_low"], out["mfu_high"]) == pytest.approx((out["mfu"] * iv.low, out["mfu"] * iv.high))
    assert (out["mfu_low"], out["mfu_high"]) == pytest.approx(e.ranges["mfu_effective"])
    typed = estimate_training(model=load_model("glam-1.7b-dense"), tokens=1e10, chip="h100-sxm", chips=8, mfu=0.4)
    assert np.isnan(typed.to_dict()["mfu_low"]) and np.isnan(typed.to_dict()["mfu_high"])


def test_the_headline_at_the_ends_of_a_predicted_mfus_range():
    """`<output>_at_mfu_low|high`: the days scale as 1 / MFU (nothing exposed is charged on top of a
    predicted MFU); energy, carbon and dollars are the estimate with the MFU typed at that end (the
    power follows the load) and the tornado's `mfu` row; NaN for a typed MFU."""
    from glamsim.cost.training import estimate_training
    from glamsim.outputs import TRAINING_HEADLINE

    fields = dict(model=load_model("glam-1.7b-dense"), tokens=1e10, chip="h100-sxm", chips=8)
    e = estimate_training(**fields)
    out, (mfu_row,) = e.to_dict(), [r for r in e.tornado if r["input"] == "mfu"]
    for end in ("low", "high"):
        assert out[f"train_days_at_mfu_{end}"] == pytest.approx(out["train_days"] * out["mfu"] / out[f"mfu_{end}"])
        typed = estimate_training(**fields, mfu=out[f"mfu_{end}"]).to_dict()
        for o in TRAINING_HEADLINE:
            assert out[f"{o}_at_mfu_{end}"] == pytest.approx(typed[o]), (o, end)
            assert out[f"{o}_at_mfu_{end}"] == pytest.approx(mfu_row[f"{o}_at_{end}"]), (o, end)
            assert np.isnan(typed[f"{o}_at_mfu_{end}"])
    assert out["energy_mwh_at_mfu_low"] > out["energy_mwh"] > out["energy_mwh_at_mfu_high"]


def test_a_chip_without_a_sustained_matmul_rate_says_its_roof_is_unvalidated():
    from glamsim.cost.resolve import matmul_roof
    from glamsim.profiles import load_chip

    assert "has no matmul_sustained_flops_bf16" in matmul_roof(load_chip("tpu-v4"))
    assert "x the A100-calibrated fraction: the chip sustains 251 TFLOP/s" in matmul_roof(load_chip("a100-80gb"))
    assert "1.15 x the A100-calibrated" in matmul_roof(load_chip("tpu-v5e"))  # 181.8 / 197 over 251.0 / 312


def _burst_only(tmp_path, chip: str = "gb200") -> str:
    """`chip`'s profile without its sustained matmul rate (the GB200's as it stood until 2026-12-07:
    its burst rate alone), written to `tmp_path`; the path, which `load_chip` reads."""
    from glamsim.readers import data_dir

    text = (data_dir("hardware_profiles") / "chips" / f"{chip}.yaml").read_text()
    kept = [line for line in text.splitlines() if not line.startswith("matmul_sustained_flops_bf16:")]
    assert len(kept) == len(text.splitlines()) - 1
    path = tmp_path / f"{chip}-burst.yaml"
    path.write_text("\n".join(kept) + "\n")
    return str(path)


def test_a_burst_rate_bounds_the_roof_where_no_sustained_rate_is_measured(tmp_path):
    """A GB200 whose only measured matmul rate is a burst (MAMF 1,822 of 2,500 TFLOP/s, 72.9%), below
    the reference's sustained 80.5%: its roof is capped there, 0.729 / 0.805 = 0.906x, and said to be
    an upper bound; a burst above the reference fraction leaves it (a cap, never a raise), and a
    sustained rate, where measured, wins: the GB200's own, 1,477.8 (Azure's FP8 GEMM, 58.1% of the
    FP8 peak, over the Blackwell fp8 / 16-bit ratio, on the 16-bit peak)."""
    from glamsim.cost.resolve import matmul_roof
    from glamsim.predict.efficiency import REFERENCE_SUSTAINED_FRACTION, matmul_relative
    from glamsim.predict.tiers import Fabric
    from glamsim.profiles import load_chip

    burst = load_chip(_burst_only(tmp_path))
    assert Fabric.of(burst).matmul_relative == pytest.approx(1822 / 2500 / REFERENCE_SUSTAINED_FRACTION)
    assert 0.90 < Fabric.of(burst).matmul_relative < 0.91
    assert "at most the chip's burst rate 1822 TFLOP/s" in matmul_roof(burst) and "upper bound" in matmul_roof(burst)
    gb200 = load_chip("gb200")
    # Azure's FP8 GEMM, 2,906.9 of 5,000 TFLOP/s, as the 16-bit rate whose fp8 linears run at it
    fp8_ratio = (3432.5 / 4500) / (1745.0 / 2250)  # the B200's fp8 / bf16 MAMF pair
    assert gb200.matmul_sustained_flops_bf16.value == pytest.approx(2906.9 / 5000 / fp8_ratio * 2500e12, rel=1e-4)
    sustained = Fabric.of(gb200, dtype="fp8")
    assert sustained.matmul_relative * REFERENCE_SUSTAINED_FRACTION * fp8_ratio == pytest.approx(
        2906.9 / 5000, rel=1e-4
    )
    assert "upper bound" not in matmul_roof(gb200)
    assert matmul_relative(None, 2500e12, 2400e12) == 1.0  # 96%: above the reference, no cap
    assert matmul_relative(1426.4e12, 2250e12, 1751.2e12) == pytest.approx(0.634 / REFERENCE_SUSTAINED_FRACTION, 1e-3)
    assert matmul_relative(None, 2500e12) == 1.0


def test_a_burst_bound_roof_lowers_the_low_end_of_the_interval_by_the_measured_throttle(tmp_path):
    """An upper-bound roof leans fast: the interval's low end also allows the B200's measured
    throttle (1,426.4 sustained / 1,751.2 burst TFLOP/s), the high end stays; every face passes it."""
    from glamsim.cost.training import estimate_training
    from glamsim.predict.efficiency import BURST_ONLY_THROTTLE, roof_is_burst_bound
    from glamsim.predict.intervals import mfu_interval
    from glamsim.predict.tiers import roof_burst_bound
    from glamsim.profiles import load_chip

    burst = _burst_only(tmp_path)
    assert BURST_ONLY_THROTTLE == pytest.approx(0.8145, abs=1e-4)
    assert roof_burst_bound(load_chip(burst)) and not roof_burst_bound(load_chip("b200"))
    assert not roof_burst_bound(load_chip("gb200"))  # measured since 2026-12-07
    assert not roof_is_burst_bound(None, 2500e12, 2400e12)  # a burst above the reference: no cap, no bound
    plain, bound = (mfu_interval("megatron", chip="gb200", burst_bound=b) for b in (False, True))
    assert bound.low == pytest.approx(plain.low * BURST_ONLY_THROTTLE) and bound.high == plain.high
    assert "burst rate, an upper bound" in bound.basis and "upper bound" not in plain.basis
    # the same chip with the same rate given as sustained: the same prediction, the low end higher
    same = (tmp_path / "gb200-burst.yaml").read_text().replace("matmul_burst_flops_bf16", "matmul_sustained_flops_bf16")
    (tmp_path / "gb200-same.yaml").write_text(same)
    fields = dict(model=load_model("glam-8b-64e"), tokens=1e9, chips=64)
    as_bound = estimate_training(**fields, chip=burst).to_dict()
    as_sustained = estimate_training(**fields, chip=str(tmp_path / "gb200-same.yaml")).to_dict()
    assert as_bound["mfu"] == as_sustained["mfu"] and as_bound["mfu_high"] == as_sustained["mfu_high"]
    assert as_bound["mfu_low"] == pytest.approx(as_sustained["mfu_low"] * BURST_ONLY_THROTTLE)


def test_a_planned_layout_names_the_published_run_it_differs_from():
    """GLaM on 1,024 TPU v4: the planner's layout is compared with the paper's, key by key."""
    from glamsim.cost.training import estimate_training
    from glamsim.predict.explain import differences

    assert differences("tp=8,dp=4,mb=1,gbs=8", "tp=4,dp=8,mb=1,gbs=8") == ["tp 8 -> 4", "dp 4 -> 8"]
    # expert tensor parallelism: unset means as tp; a line only where it really differs
    assert differences("tp=2,dp=4,ep=4,sp=1", "tp=2,dp=4,ep=8,etp=1,sp=1") == ["ep 4 -> 8", "etp 2 -> 1"]
    assert differences("tp=2,dp=16,ep=32,etp=1,sp=1", "tp=1,dp=32,ep=32,sp=1") == ["tp 2 -> 1", "dp 16 -> 32"]
    e = estimate_training(model=load_model("glam-64b-64e"), tokens=1e9, chip="tpu-v4", chips=1024)
    note = e.ledger["published_run"].source
    assert "glam_v4" in note and "0.285 published" in note and f"predicts {e.mfu:.3g}" in note
    assert "recompute full -> " in note or "gbs 1024 -> " in note


def test_a_published_run_given_in_tokens_per_second_is_named_as_an_mfu_of_its_own_peak():
    """Llama 2 7B on 8 H100: NeMo 24.07 ran it in fp8 at 16,847 tokens/s per GPU, 776 model
    TFLOP/s, an MFU of 776 / 1,979 = 0.392 of the fp8 peak; a bf16 estimate is told the two
    peaks differ, an fp8 one is not.  Of the two GPT-3 175B runs the one nearest in size is named."""
    from glamsim.cost.training import estimate_training

    bf16 = estimate_training(model=load_model("llama-2-7b"), tokens=1e9, chip="h100-sxm", chips=8)
    note = bf16.ledger["published_run"].source
    assert "nemo2407-llama2-7b-8-fp8" in note and f"MFU {776 / 1979:.3g} of the fp8 peak published" in note
    assert f"predicts {bf16.mfu:.3g} of the bf16 peak" in note
    fp8 = estimate_training(model=load_model("llama-2-7b"), tokens=1e9, chip="h100-sxm", chips=8, dtype="fp8")
    assert f"MFU {776 / 1979:.3g} published" in fp8.ledger["published_run"].source
    for chips, run in ((128, "nemo2407-gpt3-175b-128-fp8"), (512, "nemo2407-gpt3-175b-512-fp8")):
        e = estimate_training(model=load_model("gpt3-175b"), tokens=1e9, chip="h100-sxm", chips=chips, dtype="fp8")
        assert e.ledger["published_run"].source.startswith(f"published run {run} ")


def test_an_interval_far_from_the_published_rows_widens_and_says_why():
    """A chip no published run used, or more experts than any validated MoE row (Qwen3's 128), takes
    the 95th percentile of the other sources' |errors| instead of the 80th, and the basis says why."""
    from glamsim.predict.intervals import mfu_interval, residuals

    near = mfu_interval("megatron", chip="h100-sxm", n_experts=64)
    assert near.level == 0.8 and "far from" not in near.basis
    sizes = [abs(r[3]) for r in residuals() if r[4] == "dense"]  # a dense model's: the dense rows
    for far, why in (
        (mfu_interval("megatron", chip="tpu-v5p"), "no published run on tpu-v5p"),
        (mfu_interval("megatron", chip="h100-sxm", n_experts=256), "256 experts, beyond the 128"),
    ):
        assert far.level == 0.95 and why in far.basis
        assert far.high == pytest.approx(np.exp(np.quantile(sizes, 0.95))) and far.high > near.high


def test_a_stacks_row_count_is_the_rows_its_interval_pools(monkeypatch):
    """`MIN_ROWS` counts the stack's rows among those the interval pools: a dense prediction counts
    the dense rows only, a dropless MoE its routing class too (synthetic residuals: stack "s" has 3
    dense and 3 dropless rows of other sources, 5 needed)."""
    from glamsim.predict import intervals

    rows = [(f"d{i}", "a", "s", 0.01 * i, "dense", 4096, True) for i in range(3)]
    rows += [(f"m{i}", "b", "s", 0.02 * i, "dropless", 4096, True) for i in range(3)]
    rows += [(f"o{i}", "c", "other", 0.03, "dense", 4096, True) for i in range(20)]
    monkeypatch.setattr(intervals, "residuals", lambda: tuple(rows))
    dense = intervals.far_from_validated("s", chip="h100-sxm")
    moe = intervals.far_from_validated("s", chip="h100-sxm", n_experts=8, routing="dropless")
    capacity = intervals.far_from_validated("s", chip="h100-sxm", n_experts=8, routing="capacity")
    assert dense == capacity == [f"fewer than {intervals.MIN_ROWS} rows on its stack"] and moe == []
    # leaving out the dense rows' source leaves the MoE prediction 3 rows: far again
    assert intervals.far_from_validated("s", "h100-sxm", 8, exclude="a", routing="dropless") == dense


def test_an_attention_kernel_no_published_run_used_widens_the_interval(monkeypatch):
    """The published rows ran cuDNN (Megatron and NeMo Automodel on Hopper, NeMo on B200),
    FlashAttention-2 on Hopper (PyTorch, torchtitan) and on an A100 (Dao 2023's end-to-end rows and
    IBM's FSDP rows: with either source held out, the other vouches for it).  A layout on Hopper
    naming FlashAttention-3 or cuDNN 9.19 takes the 95th percentile and says which kernel on which
    generation; naming a kernel
    the rows ran there, or none, keeps the 80th; fused attention without a rate on a GPU (the matmul
    model) widens; without fused attention, or on a TPU (no kernel rates), nothing widens for it."""
    from glamsim.cost.training import estimate_training
    from glamsim.predict.intervals import attention_kernel_of, mfu_interval
    from glamsim.predict.layout import parse_layout
    from glamsim.predict.plan import search
    from glamsim.profiles import load_chip

    def interval(layout, chip="h100-sxm", exclude=None):
        lay = parse_layout(layout)
        return mfu_interval(lay.stack, exclude=exclude, chip=chip, kernel=attention_kernel_of(lay, chip))

    for layout in ("dp=8", "dp=8,attn=cudnn", "dp=8,attn=flash2", "dp=8,stack=pytorch-fsdp", "dp=8,flash=0"):
        iv = interval(layout)
        assert iv.level == 0.8 and "far from" not in iv.basis
    for attn in ("flash3", "cudnn-9.19"):
        iv = interval(f"dp=8,attn={attn}")
        assert iv.level == 0.95 and f"the {attn} attention kernel on Hopper, which no published run" in iv.basis
        # off Hopper the named kernel has no rate: fused attention on the matmul model, which no
        # published GPU row ran either
        assert attention_kernel_of(parse_layout(f"dp=8,attn={attn}"), "a100-80gb") == "matmul"
        assert "fused attention as matmuls on Blackwell" in interval(f"dp=8,attn={attn}", chip="b200").basis
    assert "fused attention as matmuls on Hopper" in interval("dp=8,stack=deepspeed").basis  # no DeepSpeed rate
    assert interval("dp=8,flash=0", chip="a100-80gb").level == 0.8
    assert interval("dp=8", chip="a100-80gb").level == 0.8  # FlashAttention-2 on Ampere: Dao 2023's rows
    for source in ("dao2023", "ibm-fsdp-2024"):  # and IBM's: either vouches without the other
        assert interval("dp=8", chip="a100-80gb", exclude=source).level == 0.8
    import glamsim.predict.intervals as intervals_module

    hopper_only = frozenset(k for k in intervals_module._validated_kernels(None) if k[1] != "ampere")
    monkeypatch.setattr(intervals_module, "_validated_kernels", lambda exclude=None: hopper_only)
    assert "flash2 attention kernel on Ampere" in interval("dp=8", chip="a100-80gb").basis  # neither source
    monkeypatch.undo()
    assert interval("dp=8", chip="b200").level == 0.8  # cuDNN on Blackwell: NeMo's B200 rows
    assert interval("dp=8", chip="tpu-v4").level == 0.8  # no kernel rates on TPUs: not a kernel question
    # the front door's estimate and the planner carry it into their ranges
    e = estimate_training(
        model=load_model("glam-1.7b-dense"), tokens=1e10, chip="h100-sxm", chips=8, layout="dp=8,attn=cudnn-9.19"
    )
    assert "cudnn-9.19 attention kernel" in e.ledger["mfu"].source
    plan = search(load_model("glam-1.7b-dense"), load_chip("h100-sxm"), 8, base=parse_layout("attn=flash3"), top=1)
    assert "flash3 attention kernel" in plan["mfu_interval"]


def test_the_validated_kernels_are_those_rows_of_other_sources_ran_with_fused_attention(monkeypatch):
    """Four made-up rows: Megatron on an H100 (cuDNN), a row labelled `pytorch` whose layout names
    PyTorch FSDP (FlashAttention-2), Megatron on an A100 without fused attention (none: it must not
    vouch for FlashAttention-2) and one naming FlashAttention-3; leaving a source out drops what
    only it ran."""
    from glamsim.predict import intervals, validation
    from glamsim.predict.validation import PredictionRun

    def row(family, stack, chip, layout):
        return PredictionRun(
            id=family, label=family, family=family, stack=stack, model="gpt3-175b", chip=chip, seq_len=2048,
            layout=layout, layout_source="test", quantity="mfu", published={"value": 0.5, "source": "test"},
        )  # fmt: skip

    rows = (
        row("a", "megatron", "h100-sxm", "dp=8"),
        row("b", "pytorch", "h100-sxm", "dp=8,stack=pytorch-fsdp"),
        row("c", "megatron", "a100-80gb", "dp=8,flash=0"),
        row("d", "megatron", "h100-sxm", "dp=8,attn=flash3"),
    )
    monkeypatch.setattr(validation, "predictions", lambda: ({}, rows))
    intervals._validated_kernels.cache_clear()
    try:
        hopper = {(k, "hopper") for k in ("cudnn", "flash2", "flash3")}
        assert intervals._validated_kernels(None) == hopper  # row c: flash=0, no kernel at all
        assert intervals._validated_kernels("d") == hopper - {("flash3", "hopper")}
        assert intervals._validated_kernels("b") == hopper - {("flash2", "hopper")}  # row c ran no fused kernel
        assert intervals._validated_kernels("a") == hopper - {("cudnn", "hopper")}
    finally:
        intervals._validated_kernels.cache_clear()


def test_a_training_estimate_on_an_unvalidated_chip_carries_the_wider_range():
    from glamsim.cost.training import estimate_training
    from glamsim.predict.intervals import mfu_interval

    e = estimate_training(model=load_model("glam-1.7b-dense"), tokens=1e10, chip="tpu-v6e", chips=8)
    iv = mfu_interval("xla", chip="tpu-v6e")
    assert iv.level == 0.95
    assert "95% range from" in e.ledger["mfu"].source and "no published run on tpu-v6e" in e.ledger["mfu"].source
    low, high = e.ranges["train_days"]
    assert low == pytest.approx(e.train_days / iv.high) and high == pytest.approx(e.train_days / iv.low)


def test_an_moe_interval_spans_the_errors_of_the_published_moe_rows_of_its_stack_and_routing():
    """NeMo's dropless Qwen3-30B rows ran at under half the predicted throughput (published 5,275 and
    5,113 tokens/s/GPU on H100, 9,299 and 9,691 on B200), its B200 Qwen3-235B rows 1.6-2.4x under
    it, its H100 Qwen3-235B rows 3-5% above it; Megatron-Core's model zoo ran Qwen3-235B from 48%
    under to 38% over it: a dropless MoE on Megatron gets a range reaching below half its MFU and
    above the pooled band, the ten rows outside the pooled band named as what widened it. The band
    pools the dense rows, and for an MoE the rows of its routing class; another routing, or a source
    left out (leave-one-source-out), keeps what the others' rows say."""
    from glamsim.predict.intervals import mfu_interval, residuals

    def band(routing, exclude=None):
        q = np.quantile([abs(r[3]) for r in residuals() if r[1] != exclude and r[4] in ("dense", routing)], 0.8)
        return np.exp(-q), np.exp(q)

    dense = mfu_interval("megatron", chip="h100-sxm")
    # capacity routing: GLaM's row (XLA), Megatron-Bridge 25.09's six token-drop rows and the MoE
    # parallel folding paper's eight, which are also the capacity-routed Megatron neighbours that widen
    # the band where they lie outside it
    capacity = mfu_interval("megatron", chip="h100-sxm", n_experts=128, routing="capacity")
    moe = mfu_interval("megatron", chip="h100-sxm", n_experts=128, routing="dropless")
    n_dense = sum(r[4] == "dense" for r in residuals())
    assert dense.rows == n_dense < capacity.rows == n_dense + 15 and moe.rows == n_dense + 23
    assert (dense.low, dense.high) == pytest.approx(band("dense"))
    drop = {r[0]: r[3] for r in residuals() if r[0].endswith("-2509") or r[1] == "folding2025"}
    q_cap = -np.log(band("capacity")[0])
    assert set(capacity.widened_by) == {i for i, v in drop.items() if abs(v) > q_cap} != set()
    assert capacity.low == pytest.approx(np.exp(min(-q_cap, *drop.values())))
    assert capacity.high == pytest.approx(np.exp(max(q_cap, *drop.values())))
    zoo = {r[0]: r[3] for r in residuals() if r[1] == "mcore-moe-zoo"}
    assert moe.low < 0.45 and moe.high == pytest.approx(np.exp(max(zoo.values())))  # the zoo's FSDP run, +38%
    nemo_outside = {
        "nemo-qwen3-30b-16-fp8",
        "nemo-qwen3-30b-16-fp8-2602",
        "nemo-qwen3-30b-8-b200-fp8",
        "nemo-qwen3-30b-8-b200-fp8-2602",
        "nemo-qwen3-235b-64-b200-fp8",
        "nemo-qwen3-235b-256-b200-fp8-2602",
    }  # the GB200 runs lie within since its sustained matmul rate was measured (2026-12-07); its 25.11
    # Qwen3-30B run (-15%) lay outside while the pooled band was narrower (2026-12-08, before IBM's rows)
    q = -np.log(band("dropless")[0])
    zoo_outside = {i for i, v in zoo.items() if abs(v) > q}
    # at 4K all but the DeepEP run without overlap; the long-context forced-balance runs lie within
    assert zoo_outside == {f"mcore-zoo-qwen3-235b-{k}" for k in ("deepep-1f1b", "fsdp", "tp4", "pp32")}
    assert set(moe.widened_by) == nemo_outside | zoo_outside
    assert moe.label == "80% + 10 MoE rows" and dense.label == "80%"
    assert capacity.label == f"80% + {len(capacity.widened_by)} MoE rows"
    assert "nemo-qwen3-235b-256-fp8" in moe.basis and "dropless MoE rows (22) on the megatron stack" in moe.basis
    # the NeMo rows left out: the zoo's rows (another source) still widen the band, NeMo's do not
    held = mfu_interval("megatron", chip="h100-sxm", n_experts=128, routing="dropless", exclude="nemo")
    assert set(held.widened_by) == {i for i, v in zoo.items() if abs(v) > -np.log(band("dropless", "nemo")[0])}
    assert not any(i.startswith("nemo-") for i in held.widened_by) and "nemo-qwen3" not in held.basis
    # a neighbour inside the pooled band widens nothing, and the basis says it lies inside
    glam = mfu_interval("xla", chip="tpu-v4", n_experts=64, routing="capacity")
    assert (
        glam.widened_by == () and "inside it" in glam.basis and (glam.low, glam.high) == pytest.approx(band("capacity"))
    )


def test_a_long_context_interval_spans_the_published_long_context_rows_of_other_sources():
    """From 32K tokens a GPU prediction's range spans the errors of the other sources' published GPU
    rows at lengths within 4x of its own, any stack (NeMo's long-sequence table and torchtitan's
    context-parallel rows, predicted from 10% under to 37% over what they published); shorter sequences and
    TPUs keep the pooled quantile; a held-out long-context row is not widened by its own source;
    the label counts each kind of row."""
    from glamsim.predict.intervals import (
        LONG_CONTEXT,
        long_context_neighbours,
        mfu_interval,
        moe_neighbours,
        residuals,
    )

    plain = mfu_interval("megatron", chip="h100-sxm", seq_len=LONG_CONTEXT - 1)
    long = mfu_interval("megatron", chip="h100-sxm", seq_len=LONG_CONTEXT)
    near = long_context_neighbours(LONG_CONTEXT, chip="h100-sxm")
    ids = {i for i, _ in near}
    assert {"nemo-longseq-llama2-7b-128k-fp8", "torchtitan-8b-8-cp4-128k", "torchtitan-8b-8-cp1-32k"} <= ids
    assert "nemo-longseq-llama2-7b-16k-fp8" not in ids and "nemo-longseq-llama2-7b-256k-fp8" not in ids
    far = {i for i, _ in long_context_neighbours(2**20, chip="h100-sxm")}
    assert "nemo-longseq-llama2-7b-1024k-fp8" in far and "torchtitan-8b-8-cp2-64k" not in far
    assert long.low == pytest.approx(np.exp(min(v for _, v in near))) and long.low < plain.low
    assert long.high == plain.high and long.label.endswith("long-context rows") and "32,768+ token" in long.basis
    assert mfu_interval("xla", chip="tpu-v4", seq_len=65536).widened_by == ()  # no TPU row that long
    assert mfu_interval("megatron", chip="mi300x", seq_len=65536).widened_by  # a GPU, though not NVIDIA's
    both = mfu_interval("megatron", chip="h100-sxm", n_experts=128, routing="dropless", seq_len=LONG_CONTEXT)
    q_dropless = np.quantile([abs(r[3]) for r in residuals() if r[4] in ("dense", "dropless")], 0.8)
    moe = sum(abs(v) > q_dropless for _, v in moe_neighbours("megatron", "dropless"))
    assert (
        moe >= 10 and both.label == f"80% + {moe} MoE + {sum(abs(v) > q_dropless for _, v in near)} long-context rows"
    )
    held = long_context_neighbours(262144, exclude="nemo-longseq")
    assert held and not any(i.startswith("nemo-longseq") for i, _ in held)


def test_held_out_moe_rows_are_not_widened_by_their_own_source():
    """Leave one source out: the NeMo Qwen3-30B rows' validation bands are the pooled band of the
    other sources' dense and dropless rows, widened only by the other sources' dropless Megatron rows
    (Megatron-Core's model zoo, down to 48% under); their own source's rows would have covered them,
    so both stay uncovered."""
    from glamsim.predict.intervals import residuals
    from glamsim.predict.validation import validation_rows

    rows = {r["id"]: r for r in validation_rows()}
    others = [r for r in residuals() if r[1] != "nemo" and r[4] in ("dense", "dropless")]
    q = np.quantile([abs(r[3]) for r in others], 0.8)
    lowest = min([-q] + [r[3] for r in others if r[2] == "megatron" and r[4] == "dropless"])
    assert lowest < -q  # the zoo widens it
    for i in ("nemo-qwen3-30b-16-fp8", "nemo-qwen3-30b-16-fp8-2602"):
        assert rows[i]["low"] / rows[i]["predicted"] == pytest.approx(np.exp(lowest))
        assert not rows[i]["covered"] and rows[i]["published"] < 0.5 * rows[i]["predicted"]


def test_a_dropless_moe_estimate_on_megatron_carries_the_range_of_its_published_neighbours():
    from glamsim.cost.training import estimate_training
    from glamsim.predict.intervals import mfu_interval

    e = estimate_training(
        model=load_model("mixtral-8x7b"),
        tokens=1e10,
        chip="h100-sxm",
        chips=64,
        layout="tp=8,dp=8,ep=8,sp=1,stack=megatron",
    )
    iv = mfu_interval("megatron", chip="h100-sxm", n_experts=8, routing="dropless")
    assert "nemo-qwen3-30b-16-fp8" in e.ledger["mfu"].source
    low, high = e.ranges["train_days"]
    assert low == pytest.approx(e.train_days / iv.high) and high == pytest.approx(e.train_days / iv.low)
    assert high > 2 * e.train_days  # the Qwen3-30B rows: published under half the predicted throughput


def test_nemo_2407_rows_added_after_the_constants_froze_are_predicted_within_20_percent():
    """NeMo 24.07's DGX-H100 FP8 pre-training table (12 runs: GPT-3 5B-175B, Llama 2 7B-70B,
    Nemotron 8B-340B, Llama 3 8B/70B) was transcribed after the four constants were frozen: every
    run fits 80 GB as it ran (Nemotron-4 340B on TP 8 x PP 8 x DP 2 only since an untied output
    matrix stopped being counted beside the input embedding) and lands within 20% of its published
    tokens/s per GPU: a guard on the figures measured when the rows were added (median 8.3%, worst
    +17.9%), its bounds set after seeing them."""
    rows = [r for r in prediction_rows() if r["family"] == "nemo-2407"]
    assert len(rows) == 12 and all(r["fits"] for r in rows)
    errors = sorted(abs(r["rel_error"]) for r in rows)
    assert errors[-1] < 0.20 and np.median(errors) < 0.10


# NeMo 24.07 performance summary (NVIDIA/NeMo docs/source/performance/performance_summary.md,
# commit 070a0bb), DGX-H100 FP8 pre-training: model TFLOP/s per GPU beside each row's tokens/s
NEMO_2407_MODEL_TFLOPS = {
    "gpt3-5b-64": 736,
    "gpt3-20b-64": 750,
    "gpt3-175b-128": 782,
    "gpt3-175b-512": 842,
    "llama2-7b-8": 776,
    "llama2-13b-16": 754,
    "llama2-70b-64": 759,
    "nemotron-8b-64": 653,
    "nemotron-22b-64": 554,
    "nemotron-340b-128": 678,
    "llama3-8b-8": 697,
    "llama3-70b-64": 738,
}


# The same page's 'Long Input Sequences' table (NeMo 24.03.01): Llama 2 7B, model TFLOP/s per GPU by
# context in K tokens
NEMO_LONGSEQ_MODEL_TFLOPS = {4: 768, 8: 730, 16: 660, 32: 610, 64: 574, 128: 555, 256: 549, 512: 549, 1024: 536}


def test_nemo_model_flops_per_token_match_the_tables():
    """A table's model TFLOP/s over its tokens/s is NeMo's own FLOPs per token: glamsim's count
    agrees within 0.5% for the 24.07 table's twelve runs (a check on the seven architectures read
    from the launcher's configs, vocabularies included) and for the long-sequence table's nine,
    4K to 1M tokens (causal attention counted alike)."""
    from glamsim.predict.validation import predict_run, predictions

    models, runs = predictions()
    rows = [r for r in runs if r.family in ("nemo-2407", "nemo-longseq")]
    published = {f"nemo2407-{k}-fp8": v for k, v in NEMO_2407_MODEL_TFLOPS.items()}
    published |= {f"nemo-longseq-llama2-7b-{k}k-fp8": v for k, v in NEMO_LONGSEQ_MODEL_TFLOPS.items()}
    assert {r.id for r in rows} == set(published)
    for r in rows:
        p = predict_run(r, models)["prediction"]
        theirs = published[r.id] * 1e12 / r.published.value
        assert p["model_flops_per_step"] / p["tokens_per_step"] == pytest.approx(theirs, rel=0.005), r.id


def test_nemo_long_sequence_rows_fit_and_the_p2p_ring_hides_its_sends():
    """NeMo's long-sequence table (Llama 2 7B, 4K to 1M tokens on 4 to 1,024 H100, context
    parallelism to 32), transcribed after the constants froze: every run fits; Transformer
    Engine's ring hides its sends behind the steps (under 5% of a step exposed); with the attention
    in FlashAttention-2, as the container's launcher ran it (NVTE_FUSED_ATTN=0), every run is
    predicted 5-10% under what it published, flat from 4K to 1M tokens (with cuDNN's kernel, the
    stack's default, +6% at 4K rising to +33% at 1M as attention took more of the step): a
    regression guard, bounds set after seeing them, not a check."""
    from glamsim.predict.layout import parse_layout
    from glamsim.predict.validation import predict_run, predictions

    rows = [r for r in prediction_rows() if r["family"] == "nemo-longseq"]
    assert len(rows) == 9 and all(r["fits"] for r in rows)
    got = [(r["chips"], parse_layout(r["layout"]).cp) for r in rows]  # the table's GPUs and CP degrees
    assert got == [(4, 1), (8, 1), (16, 1), (32, 2), (64, 2), (128, 4), (256, 8), (512, 16), (1024, 32)]
    errors = [r["rel_error"] for r in rows]
    assert all(-0.12 < e < 0 for e in errors) and max(errors) - min(errors) < 0.06
    assert all("attn=flash2" in r["layout"] for r in rows)
    models, runs = predictions()
    for run in runs:
        if run.family == "nemo-longseq" and parse_layout(run.layout).cp > 1:
            p = predict_run(run, models)["prediction"]
            assert p["cp_exposed_s"] < 0.05 * p["step_s"], run.id


def test_palm_recomputes_the_share_of_its_forward_that_its_published_hfu_over_mfu_implies():
    """A guard on a layout read from published data, not a validation: PaLM 540B's rematerialisation
    is read from Table 3's pair, 57.8% HFU over 46.2% MFU, as the number of its 118 layers
    recomputed whole whose HFU / MFU is nearest that ratio: 90 (76% of the forward), where every
    layer recomputed would give 1.33; the layout fits the TPU v4's 32 GiB."""
    from glamsim.predict.layout import parse_layout
    from glamsim.predict.validation import predict_run, predictions

    models, runs = predictions()
    row = next(r for r in runs if r.id == "palm_mfu")
    assert parse_layout(row.layout).recompute_layers == 90

    def ratio(n: int | None):
        text = row.layout.replace(",recompute_layers=90", "" if n is None else f",recompute_layers={n}")
        p = predict_run(row.model_copy(update={"layout": text}), models)["prediction"]
        return p["hfu"] / p["mfu"], p["fits"]

    target = 0.578 / 0.462
    (r89, _), (r90, fits), (r91, _) = ratio(89), ratio(90), ratio(91)
    assert abs(r90 - target) < min(abs(r89 - target), abs(r91 - target)) and abs(r90 - target) < 0.002
    assert fits and ratio(None)[0] > 1.32


def test_the_model_zoos_pp32_run_needs_the_embedding_and_loss_in_the_pipeline_split():
    """Megatron-Core's model zoo ran Qwen3-235B's 94 layers on PP 32 x VP 3 = 96 virtual stages, its
    configs counting the embedding and the loss as a layer each: the row's layout runs as published,
    and the same layout without `embed_loss` is refused as more stages than layers."""
    from glamsim.predict.layout import check_layout, parse_layout
    from glamsim.predict.validation import run_model

    models, runs = predictions()
    run = next(r for r in runs if r.id == "mcore-zoo-qwen3-235b-pp32")
    cfg = run_model(run.model, models)
    lay = parse_layout(run.layout)
    assert lay.embed_loss and lay.pp * lay.vp == cfg.n_layers + 2
    check_layout(lay, cfg, 256, run.seq_len)
    with pytest.raises(ConfigError, match="96 pipeline stages for 94 layers"):
        check_layout(lay.model_copy(update={"embed_loss": False}), cfg, 256, run.seq_len)


def test_token_drop_rows_route_with_megatron_capacity():
    """Megatron-Bridge 25.09's six token-drop Qwen3 rows: each model is its dropless twin routed
    with Megatron-Core's capacity, ceil(1.0 x tokens x top-k / experts) padded slots per expert (256
    of a 4,096-token group for top-8 of 128: 8 slots per token); the rows fit as they ran, and a
    capacity-routed MoE on Megatron has published neighbours: these rows, the MoE parallel folding
    paper's (capacity factor 1 as well), and no dropless one."""
    import math

    from glamsim.accounting import ModelArrays, expert_slots_per_token
    from glamsim.predict.intervals import moe_neighbours
    from glamsim.predict.validation import predictions

    models, runs = predictions()
    routing = {"name", "description", "routing", "capacity_factor", "router_group_size"}
    for name in ("qwen3-30b-a3b-tokendrop", "qwen3-235b-a22b-tokendrop"):
        cfg, twin = models[name], models[name.removesuffix("-tokendrop")]
        assert cfg.expert_capacity(4096) == math.ceil(1.0 * 4096 * 8 / 128) == 256
        assert float(expert_slots_per_token(ModelArrays.of(cfg), 4096)[0]) == 8.0
        assert cfg.model_dump(exclude=routing) == twin.model_dump(exclude=routing) and twin.dropless
    ids = {r.id for r in runs if r.id.endswith("-2509")}
    assert len(ids) == 6 and {r.model for r in runs if r.id in ids} == set(models) & {
        "qwen3-30b-a3b-tokendrop",
        "qwen3-235b-a22b-tokendrop",
    }
    folding = {r.id for r in runs if r.family == "folding2025"}
    assert {i for i, _ in moe_neighbours("megatron", "capacity")} == ids | folding and len(folding) == 8
    assert all(r["may_fit"] for r in prediction_rows() if r["id"] in ids)


def test_megablocks_rows_count_the_papers_flops_and_weights():
    """Gale et al. 2023 (MegaBlocks), Table 1: Transformer-XS 46M weights and 316 GFLOPs per
    1,024-token sequence, Transformer-XL 1,316M and 8,684 (Narayanan et al.'s expression, which
    counts the logits and full S x S attention, no recomputation): the rows' MFU is read against
    the same FLOPs, so glamsim's model count must reproduce them to the GFLOP."""
    from glamsim.accounting import ModelArrays, params
    from glamsim.predict.validation import predict_run

    models, runs = predictions()
    table = {"megablocks-xs-8-a100": (46e6, 316e9), "megablocks-xl-8-a100": (1316e6, 8684e9)}
    rows = {r.id: r for r in runs if r.family == "megablocks2023"}
    assert set(rows) == set(table)
    for run_id, (weights, flops_per_sequence) in table.items():
        run = rows[run_id]
        cfg = models[run.model]
        assert float(params(ModelArrays.of(cfg))[0]) == pytest.approx(weights, rel=0.01)
        p = predict_run(run, models)["prediction"]
        per_sequence = p["model_flops_per_step"] / p["tokens_per_step"] * run.seq_len
        assert per_sequence == pytest.approx(flops_per_sequence, abs=0.5e9), run_id  # to the GFLOP
        assert p["fits"], run_id  # Table 3's micro-batches fit on 80 GB


def test_flashattention2_rows_count_the_papers_flops():
    """Dao 2023 (FlashAttention-2), Sec. 4.3 counts 6 x seqlen x params + 12 x layers x hidden x
    seqlen^2 per sequence, the attention not halved for the causal mask, params (read as
    model.parameters()) including the learned positions at the run's length: glamsim's model count
    per token agrees within 1%; the positions' share (0.3% at 2K, 0.8% at 8K) is the difference, up
    to the biases and norms (about 0.05%), which glamsim's FLOPs leave out."""
    from glamsim.accounting import ModelArrays, params
    from glamsim.predict.validation import predict_run

    models, runs = predictions()
    rows = [r for r in runs if r.family == "dao2023"]
    assert {r.seq_len for r in rows} == {2048, 8192}
    for run in rows:
        cfg = models[run.model]
        p = predict_run(run, models)["prediction"]
        ours = p["model_flops_per_step"] / p["tokens_per_step"]
        n_at_run = float(params(ModelArrays.of(cfg))[0]) - (cfg.max_seq_len - run.seq_len) * cfg.d_model
        theirs = 6 * n_at_run + 12 * cfg.n_layers * cfg.d_model * run.seq_len
        assert theirs / ours == pytest.approx(1 + 6 * run.seq_len * cfg.d_model / ours, rel=1e-3), run.id
        assert abs(theirs / ours - 1) < 0.01, run.id


def test_dgx_cloud_rows_count_the_recipes_model_flops():
    """NVIDIA's DGX Cloud recipes (dgxc-benchmarking llama3.1/README_8b.md, README_70b.md, README_405b.md, Notes)
    count per token 12 L h^2 (1 + groups/heads + s/h) + 18 L F h + 6 V h: 20,937,965,568 +
    33,822,867,456 + 3,152,019,456 for Llama 3.1 8B, 136,902,082,560 + 338,228,674,560 +
    6,304,038,912 for 70B and 659,545,915,392 + 1,978,637,746,176 + 12,608,077,824 for 405B at 8,192
    tokens (4.74E+14, 3.94E+15 and 2.17E+16 a sequence, as published); glamsim's model count per
    sequence agrees to 0.1%."""
    from glamsim.predict.validation import predict_run

    readme = {
        "llama3-8b": 20_937_965_568 + 33_822_867_456 + 3_152_019_456,
        "llama3-70b": 136_902_082_560 + 338_228_674_560 + 6_304_038_912,
    }
    # the published per-sequence figures (README_70b's Notes multiply by "8129", a typo: 3.94E+15 is 8,192 x)
    assert 8192 * readme["llama3-8b"] == pytest.approx(4.74e14, rel=5e-3)
    assert 8192 * readme["llama3-70b"] == pytest.approx(3.94e15, rel=5e-3)
    # README_405b counts NeMo's launcher config of the model, 16 query groups (Meta's has 8 KV heads):
    # 659,545,915,392 + 1,978,637,746,176 + 12,608,077,824, 2.17E16 a sequence ("8129 *" again a typo)
    readme["llama3-405b-nemo"] = 659_545_915_392 + 1_978_637_746_176 + 12_608_077_824
    assert 12 * 126 * 16384**2 * (1 + 16 / 128 + 8192 / 16384) == 659_545_915_392
    assert 8192 * readme["llama3-405b-nemo"] == pytest.approx(2.17e16, rel=5e-3)
    models, runs = predictions()
    rows = [r for r in runs if r.family == "dgxc-2409"]
    assert {r.model for r in rows} == set(readme) and len(rows) == 12
    for run in rows:
        p = predict_run(run, models)["prediction"]
        per_sequence = p["model_flops_per_step"] / p["tokens_per_step"] * run.seq_len
        assert per_sequence == pytest.approx(run.seq_len * readme[run.model], rel=1e-3), run.id


def test_nemotron4_rows_reproduce_the_reports_weights_and_mfu():
    """Parmar et al. 2024 (Nemotron-4 15B), Sec. 2: 3.2 billion embedding and 12.5 billion
    non-embedding weights (2 x 256,000 x 6,144 untied = 3.15e9, the report rounding up), and Table 2:
    MFU 34.3 / 33.3 / 30.5% of 989 TFLOP/s at 0.57 / 0.58 / 0.64 s an iteration on 768 / 1,536 /
    2,304 GPUs, batches of 384 / 768 / 1,152 sequences of 4,096: glamsim's model FLOPs over the
    published iteration time give the published MFU within the time's two-figure rounding."""
    from glamsim.accounting import ModelArrays, params
    from glamsim.predict.validation import predict_run

    models, runs = predictions()
    cfg = models["nemotron4-15b"]
    embedding = 2 * cfg.vocab_size * cfg.d_model
    assert embedding == pytest.approx(3.2e9, rel=0.02)
    assert float(params(ModelArrays.of(cfg))[0]) - embedding == pytest.approx(12.5e9, rel=0.005)
    table = {768: (0.57, 0.343, 384), 1536: (0.58, 0.333, 768), 2304: (0.64, 0.305, 1152)}
    rows = [r for r in runs if r.family == "nemotron4-2024"]
    assert len(rows) == 3
    for run in rows:
        gpus = int(run.id.rsplit("-", 1)[1])
        seconds, mfu, batch = table[gpus]
        assert run.published.value == seconds and f"batch size {batch:,}" in run.published.source
        p = predict_run(run, models)["prediction"]
        assert p["tokens_per_step"] == batch * 4096
        implied = p["model_flops_per_step"] / (seconds * gpus * 989e12)
        assert implied == pytest.approx(mfu, rel=0.005 / seconds + 0.0005 / mfu), run.id  # both figures' rounding


def test_glm_130b_row_is_the_papers_model_and_recomputation():
    """Zeng et al. 2023 (GLM-130B), Sec. 2.3: 70 layers of hidden 12,288 whose "model size has to be
    no more than 130B parameters" (GeGLU of 32,768, tied 150,528-token embeddings: 128.7B; untied it
    would be 130.5B), 9 x 8 - 2 layers on 8 pipeline stages (the embedding and output layer in the
    split), and "HFU of 43.3% and MFU of 32.5% due to re-materialization": recomputing every layer's
    forward, as the row does, puts glamsim's HFU / MFU within 3% of the published 1.33."""
    from glamsim.accounting import ModelArrays, params
    from glamsim.predict.layout import parse_layout
    from glamsim.predict.validation import predict_run

    models, runs = predictions()
    cfg = models["glm-130b"]
    assert 126e9 < float(params(ModelArrays.of(cfg))[0]) <= 130e9
    assert cfg.dropout == 0.1  # Table 11: attention_dropout and hidden_dropout 0.1
    run = next(r for r in runs if r.family == "glm2022")
    lay = parse_layout(run.layout)
    assert (lay.tp, lay.pp, lay.dp, lay.embed_loss, lay.recompute) == (4, 8, 24, True, "full")
    assert (cfg.n_layers + 2) / lay.pp == 9
    p = predict_run(run, models)["prediction"]
    assert p["fits"]
    assert p["hfu"] / p["mfu"] == pytest.approx(43.3 / 32.5, rel=0.03)
    assert p["tokens_per_step"] == 4224 * 2048
    # the project's logged speed test (88.5 s an iteration at this batch) is the paper's MFU by this count
    assert p["model_flops_per_step"] / (88.5 * 768 * 312e12) == pytest.approx(0.325, abs=0.0025)


def test_parallel_folding_rows_are_the_papers_models_and_splits():
    """Liu et al. 2025 (MoE Parallel Folding), Sec. 4.1 and Table 3: Mixtral 8x22B (141B weights, 39B
    active, Mistral AI's figures), Qwen2-57B-A14B (57B, 14B active: its name) and Mixtral-8x22B-G8T8
    (the same weights cut into 64 experts of an eighth, top-8), at global batch 256 of 4,096 tokens
    on the GPUs and TP / EP / PP / ETP of Table 3, routed with capacity factor 1 (slots per token =
    top-k), the rest of each GPU count data parallel."""
    from glamsim.accounting import ModelArrays, params
    from glamsim.predict.layout import parse_layout

    models, runs = predictions()
    weights = {
        "mixtral-8x22b-tokendrop": (141e9, 39e9),
        "qwen2-57b-a14b-tokendrop": (57e9, 14e9),
    }
    for name, (total, active) in weights.items():
        arrays = ModelArrays.of(models[name])
        assert float(params(arrays)[0]) == pytest.approx(total, rel=0.01), name
        assert float(params(arrays, active=True)[0]) == pytest.approx(active, rel=0.025), name
    mixtral, g8t8 = (models[n] for n in ("mixtral-8x22b-tokendrop", "mixtral-8x22b-g8t8-tokendrop"))
    assert g8t8.n_experts * g8t8.d_ff_expert == mixtral.n_experts * mixtral.d_ff_expert
    for cfg in (mixtral, g8t8, models["qwen2-57b-a14b-tokendrop"]):
        assert cfg.routing == "capacity" and cfg.capacity_factor == cfg.top_k
    table = {  # (model, folded, dtype): (GPUs, TP, EP, PP, MFU or, in FP8, Table 2's TFLOP/s per GPU)
        ("mixtral-8x22b-tokendrop", False, "bf16"): (128, 2, 4, 8, 0.463),
        ("mixtral-8x22b-tokendrop", True, "bf16"): (128, 2, 8, 8, 0.493),
        ("mixtral-8x22b-tokendrop", False, "fp8"): (128, 2, 4, 8, 575.1),
        ("mixtral-8x22b-tokendrop", True, "fp8"): (128, 2, 8, 8, 631.7),
        ("qwen2-57b-a14b-tokendrop", False, "bf16"): (64, 2, 4, 4, 0.353),
        ("qwen2-57b-a14b-tokendrop", True, "bf16"): (64, 2, 4, 4, 0.390),
        ("mixtral-8x22b-g8t8-tokendrop", False, "bf16"): (128, 2, 8, 8, 0.171),
        ("mixtral-8x22b-g8t8-tokendrop", True, "bf16"): (128, 4, 8, 8, 0.288),
    }
    rows = [r for r in runs if r.family == "folding2025"]
    # Table 2's BF16 figures (458.3 and 487.7 TFLOP/s) are the BF16 rows' MFU of the 989.5 TFLOP/s peak:
    # the FP8 rows read Table 3's splits
    mixtral = [r for r in rows if r.model == "mixtral-8x22b-tokendrop" and r.dtype == "bf16"]
    bf16 = {parse_layout(r.layout).folded: r.published.value for r in mixtral}
    assert (458.3 / 989.5, 487.7 / 989.5) == pytest.approx((bf16[False], bf16[True]), abs=5e-4)
    keys = {(r.model, parse_layout(r.layout).folded, r.dtype) for r in rows}
    assert keys == set(table) and len(rows) == len(table)
    for run in rows:
        lay = parse_layout(run.layout)
        gpus, tp, ep, pp, mfu = table[(run.model, lay.folded, run.dtype)]
        assert lay.expert_tp == (1 if lay.folded else tp), run.id
        assert (lay.tp * lay.pp * lay.dp, lay.tp, lay.ep, lay.pp, lay.cp) == (gpus, tp, ep, pp, 1), run.id
        assert (lay.gbs, run.seq_len, run.published.value) == (256, 4096, mfu), run.id


def test_gb200_rows_are_predicted_within_a_quarter_since_its_sustained_rate_was_measured():
    """The eight GB200 rows of Megatron-Bridge's performance summary at the frozen constants: with the
    roof capped by the GB200's burst rate they ran +9% to +34% over published; with Azure's measured
    sustained FP8 GEMM rate (58.1% of the peak) each lies within 25%, the dense Llama rows within
    15%, and the prediction no longer leans one way (some rows under, some over). The model zoo's
    GB200 row, added after, lies within 25% too."""
    from glamsim.predict.validation import predict_run

    models, runs = predictions()
    rows = [r for r in runs if r.chip == "gb200"]
    assert len(rows) == 9 and sum(r.family == "mcore-moe-zoo" for r in rows) == 1
    errors = {}
    for run in rows:
        p = predict_run(run, models)
        ratio = p["predicted"] / run.published.value
        errors[run.id] = 1 / ratio - 1 if run.quantity == "step_s" else ratio - 1
    assert all(abs(e) < 0.25 for e in errors.values()), errors
    assert all(abs(e) < 0.15 for i, e in errors.items() if "llama" in i), errors
    assert min(errors.values()) < 0 < max(errors.values())


def megatron_flops_per_token(cfg, seq_len: int) -> float:
    """Megatron-LM's count (megatron/training/training.py, `num_floating_point_operations`, written
    out by hand for a dense-attention MoE decoder without shared experts): 12 L h^2 ((1 + g / a) +
    s / (2 h)) q / h for the attention (q = heads x head dim; causal: half the scores), 12 L h f k
    (3 / 2 gated) for the routed experts, 6 h V for the logits."""
    h, q = cfg.d_model, cfg.n_heads * cfg.head_dim
    attention = 12 * cfg.n_layers * h * h * ((1 + cfg.n_kv_heads / cfg.n_heads) + seq_len / (2 * h)) * q / h
    experts = 12 * cfg.n_layers * h * cfg.d_ff_expert * cfg.top_k * 1.5
    return attention + experts + 6 * h * cfg.vocab_size


def test_model_zoo_long_context_rows_follow_megatrons_count_and_the_pages_layout():
    """The model zoo's long-context table (Qwen3-235B-A22B on 32 nodes of H100, TP 4, CP 1-8, PP 8 x
    VPP 4, EP 8, GBS 256, the MoE blocks recomputed, forced balance): Megatron-LM's FLOP count
    reproduces the page's 4K row (245 TFLOP/s per GPU at 19.7 s for 2,048 sequences on 256 GPUs)
    within 0.5% (246.2 by the count; 19.7 s read as 19.65-19.75), and glamsim's `6nd_causal`
    count, which the rows use, exceeds it only by the input embedding and router it counts: 2.0% at 16K to
    0.5% at 128K (the figures the rows' note gives)."""
    from glamsim.accounting import ModelArrays, params
    from glamsim.predict.layout import parse_layout

    models, runs = predictions()
    cfg = models["qwen3-235b-a22b-128k"]
    rate = megatron_flops_per_token(cfg, 4096) * 2048 * 4096 / (256 * 19.7) / 1e12
    assert rate == pytest.approx(245, rel=0.006)
    n_active = float(params(ModelArrays.of(cfg), active=True)[0])
    rows = [r for r in runs if r.model == "qwen3-235b-a22b-128k"]
    assert {r.published.value for r in rows} == {295, 335, 368, 389}
    excess = {}
    for run in rows:
        lay = parse_layout(run.layout)
        assert lay.chips == 256 and (lay.tp, lay.pp, lay.vp, lay.ep, lay.gbs) == (4, 8, 4, 8, 256)
        assert lay.recompute_moe and lay.recompute == "none" and run.convention == "6nd_causal"
        assert run.seq_len == 16384 * lay.cp and lay.folded
        s = run.seq_len
        ours = 6 * n_active + 6 * cfg.n_layers * s * cfg.n_heads * cfg.head_dim
        excess[s] = ours / megatron_flops_per_token(cfg, s) - 1
    assert [round(100 * excess[s], 1) for s in sorted(excess)] == [2.0, 1.4, 0.9, 0.5]
    # the page's GB200 row (4K, the base model): 2.7% high on the same account
    base = models["qwen3-235b-a22b"]
    gb200 = next(r for r in runs if r.id == "mcore-zoo-qwen3-235b-gb200-bf16")
    assert gb200.convention == "6nd_causal" and gb200.published.value == 750
    n_base = float(params(ModelArrays.of(base), active=True)[0])
    ours = 6 * n_base + 6 * base.n_layers * 4096 * base.n_heads * base.head_dim
    assert round(100 * (ours / megatron_flops_per_token(base, 4096) - 1), 1) == 2.7


def test_ibm_fsdp_rows_are_the_blogs_models_layouts_and_networks():
    """IBM and Meta's FSDP blog (2024-03-13), Table 1: batch 2 of 4,096 a GPU on 128 A100 (400 Gb/s
    a server) and 96 H100 (800 Gb/s); HSDP for the 7B, FSDP for the rest (fms-fsdp's README), and
    the 7B compiled (the README's later table).  The
    34B as fms-fsdp configures it, counted by hand: per layer 2 x 8,192^2 (Q, O) + 2 x 8,192 x 1,024
    (8 KV heads of 128) + 3 x 8,192 x 22,016 (SwiGLU) + 2 x 8,192 (norms) = 692,076,544; 48 layers,
    2 x 32,000 x 8,192 untied embeddings and a final norm: 33,743,970,304."""
    from glamsim.accounting import ModelArrays, params
    from glamsim.predict.validation import _scenario, predict_run

    models, runs = predictions()
    assert float(params(ModelArrays.of(models["llama2-34b"]))[0]) == 33_743_970_304
    rows = {r.id: r for r in runs if r.family == "ibm-fsdp-2024"}
    published = {("7b", 128): 3700, ("13b", 128): 1800, ("34b", 128): 700, ("70b", 128): 370}
    published |= {("7b", 96): 7500, ("13b", 96): 3800, ("34b", 96): 1550, ("70b", 96): 800}
    compiled = {128: 4550, 96: 9600}  # fms-fsdp's README updated with torch.compile: the 7B, HSDP
    assert len(rows) == 10
    for gpus, value in compiled.items():
        run = rows[f"ibm-fsdp-7b-{gpus}-{'a100' if gpus == 128 else 'h100'}-compile"]
        assert run.published.value == value and "fused=1" in run.layout and f"fsdp=8,dp={gpus // 8}" in run.layout
        assert run.inter_node_gb_per_s.value == {128: 400, 96: 800}[gpus] / 8 / 8
    for (size, gpus), value in published.items():
        run = rows[f"ibm-fsdp-{size}-{gpus}-{'a100' if gpus == 128 else 'h100'}"]
        assert run.published.value == value and run.stack == "pytorch-fsdp"
        assert run.inter_node_gb_per_s.value == {128: 400, 96: 800}[gpus] / 8 / 8  # Gb/s a server, 8 GPUs
        p = predict_run(run, models)["prediction"]
        assert p["chips"] == gpus and p["tokens_per_step"] == 2 * 4096 * gpus
        assert ("fsdp=8" if size == "7b" else f"fsdp={gpus}") in run.layout
        recompute = {"7b": "recompute=none", "13b": "recompute=full,recompute_layers=20", "34b": "recompute=full"}
        assert recompute.get(size, "recompute=full") + "," in run.layout + ","
        chip = _scenario(run, models)[0][1]  # predicted on the chip profile with the run's network
        assert chip.inter_node_bandwidth_gb_per_s.value == run.inter_node_gb_per_s.value
    # every row over-predicted at the frozen constants, the 70B on the A100 least (+5.7%): a known gap
    over = {i: predict_run(r, models)["predicted"] / r.published.value - 1 for i, r in rows.items()}
    assert min(over.values()) > 0.05 and min(over, key=over.get) == "ibm-fsdp-70b-128-a100"


def test_a_runs_own_network_replaces_the_chip_profiles():
    """A published run's own network (`inter_node_gb_per_s`) predicts what the chip profile with
    that network predicts, written by hand here (a user's own cluster is such a profile: `--chip
    my.yaml`), slower the thinner the network where the exchange is exposed; a bad figure is
    refused in one line naming the field, and so is a server of under one chip."""
    from glamsim.predict import evaluate
    from glamsim.predict.validation import predict_run
    from glamsim.profiles import load_chip

    models, runs = predictions()
    run = next(r for r in runs if r.id == "ibm-fsdp-13b-96-h100")
    h100 = load_chip("h100-sxm")
    spec = h100.inter_node_bandwidth_gb_per_s.model_copy(update={"value": 12.5})
    thin = h100.model_copy(update={"inter_node_bandwidth_gb_per_s": spec})
    cfg, layout = models["llama2-13b"], run.layout + ",stack=pytorch-fsdp"
    by_hand = evaluate(cfg, thin, layout, seq_len=4096, dtype="bf16")
    own = predict_run(run, models)["prediction"]
    assert own["step_s"] == by_hand["step_s"]
    assert own["step_s"] > evaluate(cfg, h100, layout, seq_len=4096, dtype="bf16")["step_s"]  # 50 GB/s
    for bad in (0.0, -1.0):  # non-finite figures are refused by every published number already
        with pytest.raises(ValueError, match=r"inter_node_gb_per_s\.value=.*must be positive"):
            run.model_validate({**run.model_dump(), "inter_node_gb_per_s": {"value": bad, "source": "test"}})
    for bad in (0, 0.5, -8, float("nan"), "8", True, 10**400):  # a server holds one chip at least
        with pytest.raises(ConfigError, match=r"^chips_per_node=") as err:
            evaluate("glam-small-dense", "a100-80gb", "dp=16,mb=1,gbs=16", chips_per_node=bad)
        assert "\n" not in str(err.value)
    # a plan set beside a published run on its own network names the difference
    from glamsim.predict.explain import against_published

    text = against_published("llama2-70b", "h100-sxm", "fsdp=96,mb=2", 0.4, chips=96)
    assert "published run ibm-fsdp-70b-96-h100" in text
    assert "the network between servers: 12.5 GB/s one way a chip, the run's own" in text
    slices = against_published("maxtext-v4-22b", "tpu-v4", "fsdp=64,mb=13", 0.5, chips=64)
    assert "the server or slice: 64 chips a server or slice, the run's own" in slices  # a v4-128 slice


def test_maxtext_v4_rows_are_the_tables_models_slices_and_batches():
    """MaxText's TPU v4 table: 22B on 1, 2, 4 and 8 v4-128 slices (64 chips each: a v4-N slice has N
    TensorCores) at 156, 152, 149 and 146 TFLOP/s a chip, 52B on 1 and 2 v4-384 slices at 154 and
    162, MFU over the 275 TFLOP/s peak.  Weights counted by hand: 22B, per layer 4 x 6,144^2 +
    2 x 6,144 x 24,576 + 2 x 6,144 = 452,997,120, 48 layers, a tied 32,768 x 6,144 embedding and a
    final norm: 21,945,194,496; 52B, per layer 4 x 12,288 x 8,192 (32 heads of 256) + 2 x 12,288 x
    49,152 + 2 x 12,288 = 1,610,637,312, 32 layers, the embedding and a norm: 51,943,059,456."""
    from glamsim.accounting import ModelArrays, params
    from glamsim.predict.validation import predict_run

    models, runs = predictions()
    assert float(params(ModelArrays.of(models["maxtext-v4-22b"]))[0]) == 21_945_194_496
    assert float(params(ModelArrays.of(models["maxtext-v4-52b"]))[0]) == 51_943_059_456
    table = {("22b", 1): 156, ("22b", 2): 152, ("22b", 4): 149, ("22b", 8): 146, ("52b", 1): 154, ("52b", 2): 162}
    rows = {r.id: r for r in runs if r.family == "maxtext-v4"}
    assert len(rows) == len(table)
    for (size, slices), tflops in table.items():
        per_slice, batch = {"22b": (64, 13), "52b": (192, 7)}[size]
        run = rows[f"maxtext-v4-{size}-{per_slice * slices}"]
        assert run.published.value == tflops and run.chips_per_node.value == per_slice
        mfu = float(run.published.source.rsplit("MFU ", 1)[1].rstrip("%")) / 100
        assert tflops / 275 == pytest.approx(mfu, abs=0.0005 + 0.5 / 275)  # both figures rounded
        p = predict_run(run, models)["prediction"]
        assert p["chips"] == per_slice * slices and p["tokens_per_step"] == batch * per_slice * slices * 2048
        assert p["memory_verdict"] == ("tight" if size == "22b" else "fits")  # they ran: none refused
        assert abs(predict_run(run, models)["predicted"] / tflops - 1) < 0.06  # -2.7% to +5.0% at the frozen constants
    # across slices the gradients' all-reduce over the data-center network runs synchronously (the
    # scripts make only the all-gathers asynchronous: grad_overlap=0): the 22B's prediction falls 3.7%
    # by 8 slices, of the published 6.4% (a part of the fall left unexplained, pinned)
    one, eight = (predict_run(rows[f"maxtext-v4-22b-{n}"], models)["predicted"] for n in (64, 512))
    assert 0.95 < eight / one < 0.97 and rows["maxtext-v4-22b-512"].published.value / 156 < eight / one
    assert all("grad_overlap=0" in r.layout for r in rows.values() if ",dp=" in r.layout)
