"""Bad-input corpus for the counting and cost commands: every case exits 2 with one stderr line.

Files (model presets, chip and datacenter profiles, measurement records) are written once per
module into a folder that is also the working folder, so the contract's "nothing written" check
covers them too.  Each case names the text its one line must contain (the field or flag and, where
it is short, the value).
"""

from __future__ import annotations

import json

import pytest
import yaml
from badinput import accepted, refused

from glamsim.config import data_dir, model_presets

TINY = model_presets()["glam-tiny"].model_dump(mode="json", exclude_none=True)
CHIP = yaml.safe_load((data_dir("hardware_profiles") / "chips" / "tpu-v4.yaml").read_text())
DC = yaml.safe_load((data_dir("hardware_profiles") / "datacenters" / "us-average.yaml").read_text())
DEEP = "a:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(60)) + "  " * 61 + "v: 1\n"
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi")
)


def dump(d: dict) -> str:
    return yaml.safe_dump(d, sort_keys=False)


def model(**changes) -> str:
    return dump({**TINY, **changes})


def chip(**changes) -> str:
    return dump({**CHIP, **changes})


def dc(**changes) -> str:
    return dump({**DC, **changes})


def spec(value) -> dict:
    return {"value": value, "source": "test", "date": "2025"}


MODELS = {  # file name -> (text, what the error line names)
    "m_malformed.yaml": ("name: [unclosed\n", "malformed YAML"),
    "m_list.yaml": ("- 1\n- 2\n", "expected a mapping"),
    "m_scalar.yaml": ("42\n", "expected a mapping"),
    "m_empty.yaml": ("", "expected a mapping"),
    "m_unknown_key.yaml": (model(n_layerz=4), "n_layerz"),
    "m_missing.yaml": (dump({k: v for k, v in TINY.items() if k != "d_model"}), "d_model"),
    "m_layers_neg.yaml": (model(n_layers=-1), "n_layers=-1"),
    "m_layers_zero.yaml": (model(n_layers=0), "n_layers=0"),
    "m_layers_huge.yaml": (model(n_layers=10**12), "n_layers"),
    "m_layers_str.yaml": (model(n_layers="four"), "n_layers"),
    "m_layers_float.yaml": (model(n_layers=4.5), "n_layers=4.5"),
    "m_dmodel_zero.yaml": (model(d_model=0), "d_model=0"),
    "m_heads_divide.yaml": (model(d_model=64, n_heads=5, d_head=None), "n_heads=5"),
    "m_kv_heads.yaml": (model(n_kv_heads=3), "n_kv_heads=3"),
    "m_topk_big.yaml": (model(top_k=9), "top_k=9"),
    "m_topk_zero.yaml": (model(top_k=0), "top_k=0"),
    "m_experts_huge.yaml": (model(n_experts=10**20), "n_experts"),
    "m_experts_neg.yaml": (model(n_experts=-8), "n_experts=-8"),
    "m_no_moe_layers.yaml": (model(moe_every=0), "n_experts=8"),
    "m_offset.yaml": (model(moe_offset=2), "moe_offset=2"),
    "m_offset_none.yaml": (model(n_layers=1, moe_every=2, moe_offset=1), "moe_offset=1"),
    "m_cap_inf.yaml": (model(capacity_factor=".inf").replace("'.inf'", ".inf"), "capacity_factor"),
    "m_cap_nan.yaml": (model(capacity_factor=".nan").replace("'.nan'", ".nan"), "capacity_factor"),
    "m_cap_neg.yaml": (model(capacity_factor=-1.0), "capacity_factor=-1.0"),
    "m_cap_zero.yaml": (model(capacity_factor=0), "capacity_factor=0"),
    "m_cap_sub.yaml": (model(capacity_factor=1e-320), "capacity_factor"),
    "m_vocab_huge.yaml": (model(vocab_size=10**30), "vocab_size"),
    "m_seq_zero.yaml": (model(max_seq_len=0), "max_seq_len=0"),
    "m_activation.yaml": (model(activation="tanh"), "activation='tanh'"),
    "m_position.yaml": (model(position="alibi"), "position='alibi'"),
    "m_norm.yaml": (model(norm="batchnorm"), "norm='batchnorm'"),
    "m_name_escape.yaml": (model(name="../../x"), "name='../../x'"),
    "m_name_abs.yaml": (model(name="/etc/passwd"), "name='/etc/passwd'"),
    "m_name_space.yaml": (model(name="my model"), "name='my model'"),
    "m_name_empty.yaml": (model(name=""), "name=''"),
    "m_duplicate.yaml": (model() + "n_layers: 8\n", "duplicate key 'n_layers'"),
    "m_deep.yaml": (model() + DEEP, "nested deeper"),
    "m_bomb.yaml": (BOMB, "aliases"),
    "m_binary.yaml": (None, "not UTF-8"),
    "m_tab.yaml": ("name: x\n\tn_layers: 4\n", "malformed YAML"),
    "m_aux_neg.yaml": (model(aux_loss_weight=-0.1), "aux_loss_weight=-0.1"),
    "m_group_zero.yaml": (model(router_group_size=0), "router_group_size=0"),
}

CHIPS = {
    "c_peak_inf.yaml": (chip(peak_flops_bf16=spec(".inf")).replace("'.inf'", ".inf"), "peak_flops_bf16"),
    "c_peak_neg.yaml": (chip(peak_flops_bf16=spec(-1.0)), "peak_flops_bf16"),
    "c_peak_str.yaml": (chip(peak_flops_bf16=spec("fast")), "peak_flops_bf16"),
    "c_hbm_zero.yaml": (chip(hbm_gb=spec(0)), "hbm_gb"),
    "c_sustained_neg.yaml": (chip(matmul_sustained_flops_bf16=spec(-1.0)), "matmul_sustained_flops_bf16"),
    "c_sustained_inf.yaml": (
        chip(matmul_sustained_flops_bf16=spec(".inf")).replace("'.inf'", ".inf"),
        "matmul_sustained_flops_bf16",
    ),
    "c_sustained_str.yaml": (chip(matmul_sustained_flops_bf16=spec("fast")), "matmul_sustained_flops_bf16"),
    "c_sustained_above_peak.yaml": (chip(matmul_sustained_flops_bf16=spec(2e20)), "matmul_sustained_flops_bf16"),
    "c_burst_neg.yaml": (chip(matmul_burst_flops_bf16=spec(-1.0)), "matmul_burst_flops_bf16.value=-1.0: must be > 0"),
    "c_burst_nan.yaml": (
        chip(matmul_burst_flops_bf16=spec(".nan")).replace("'.nan'", ".nan"),
        "finite number",
    ),
    "c_burst_inf.yaml": (
        chip(matmul_burst_flops_bf16=spec(".inf")).replace("'.inf'", ".inf"),
        "finite number",
    ),
    "c_burst_zero.yaml": (chip(matmul_burst_flops_bf16=spec(0)), "matmul_burst_flops_bf16.value=0.0: must be > 0"),
    "c_burst_str.yaml": (chip(matmul_burst_flops_bf16=spec("quick")), "matmul_burst_flops_bf16.value='quick'"),
    "c_burst_above_peak.yaml": (
        chip(matmul_burst_flops_bf16=spec(2e20)),
        "matmul_burst_flops_bf16.value=2e+20: must not exceed peak_flops_bf16",
    ),
    "c_sustained_above_burst.yaml": (
        chip(matmul_sustained_flops_bf16=spec(9e13), matmul_burst_flops_bf16=spec(8e13)),
        "matmul_sustained_flops_bf16.value=90000000000000.0: must not exceed matmul_burst_flops_bf16",
    ),
    "c_sms_neg.yaml": (chip(sm_count=spec(-132)), "sm_count"),
    "c_sms_zero.yaml": (chip(sm_count=spec(0)), "sm_count"),
    "c_sms_str.yaml": (chip(sm_count=spec("many")), "sm_count"),
    "c_sms_fraction.yaml": (chip(sm_count=spec(131.5)), "sm_count.value=131.5: must be a whole number"),
    "c_sms_inf.yaml": (chip(sm_count=spec(".inf")).replace("'.inf'", ".inf"), "sm_count"),
    "c_sms_nan.yaml": (chip(sm_count=spec(".nan")).replace("'.nan'", ".nan"), "sm_count"),
    "c_sustained_no_bf16_peak.yaml": (
        dump({k: v for k, v in CHIP.items() if k != "peak_flops_bf16"})
        + "matmul_sustained_flops_bf16: {value: 1.0e+14, source: test, date: '2025'}\n",
        "needs peak_flops_bf16",
    ),
    "c_burst_no_bf16_peak.yaml": (
        dump({k: v for k, v in CHIP.items() if k != "peak_flops_bf16"})
        + "matmul_burst_flops_bf16: {value: 1.0e+14, source: test, date: '2025'}\n",
        "matmul_burst_flops_bf16.value=100000000000000.0: needs peak_flops_bf16",
    ),
    "c_power_nan.yaml": (
        chip(measured_system_power_w=spec(".nan")).replace("'.nan'", ".nan"),
        "measured_system_power_w",
    ),
    "c_no_source.yaml": (chip(hbm_gb={"value": 32, "date": "2025"}), "hbm_gb.source"),
    "c_missing_hbm.yaml": (dump({k: v for k, v in CHIP.items() if k != "hbm_gb"}), "hbm_gb"),
    "c_unknown_key.yaml": (chip(flops=1), "flops"),
    "c_dtype.yaml": (chip(default_dtype="fp8"), "default_dtype='fp8'"),
    "c_dtype_unknown.yaml": (chip(default_dtype="fp4"), "default_dtype"),
    "c_name_escape.yaml": (chip(name="../../evil"), "name='../../evil'"),
    "c_duplicate.yaml": (chip() + "vendor: other\n", "duplicate key 'vendor'"),
    "c_bomb.yaml": (BOMB, "aliases"),
    "c_deep.yaml": (chip() + DEEP, "nested deeper"),
    "c_list.yaml": ("[1, 2]\n", "expected a mapping"),
    "c_price_inf.yaml": (
        chip(price_per_chip_hour_usd=spec(".inf")).replace("'.inf'", ".inf"),
        "price_per_chip_hour_usd",
    ),
}

DCS = {
    "d_pue_low.yaml": (dc(pue=spec(0.5)), "pue"),
    "d_pue_inf.yaml": (dc(pue=spec(".inf")).replace("'.inf'", ".inf"), "pue"),
    "d_ci_neg.yaml": (dc(carbon_intensity_net_kg_per_kwh=spec(-0.1)), "carbon_intensity_net_kg_per_kwh"),
    "d_missing_pue.yaml": (dump({k: v for k, v in DC.items() if k != "pue"}), "pue"),
    "d_name_escape.yaml": (dc(name="a/b"), "name='a/b'"),
    "d_malformed.yaml": ("pue: {value: 1.1\n", "malformed YAML"),
    "d_unknown.yaml": (dc(wue=1.8), "wue"),
    "d_wue_neg.yaml": (dc(wue_onsite_l_per_kwh=spec(-0.5)), "wue_onsite_l_per_kwh.value=-0.5"),
    "d_wue_nan.yaml": (dc(wue_onsite_l_per_kwh=spec(".nan")).replace("'.nan'", ".nan"), "wue_onsite_l_per_kwh"),
    "d_water_neg.yaml": (dc(water_offsite_l_per_kwh=spec(-3)), "water_offsite_l_per_kwh.value=-3"),
    "d_kind_bad.yaml": (dc(kind="planet"), "kind='planet'"),
}


def record(**changes) -> str:
    base = {
        "record_schema": "glamsim.measurement/1",
        "created_at": "2026-01-01T00:00:00+00:00",
        "glamsim_version": "0.1.0",
        "model": "glam-tiny",
        "model_config_data": TINY,
        "batch": 2,
        "seq_len": 32,
        "dispatch": "scatter",
        "backend": "cpu",
        "device_kind": "cpu",
        "n_devices": 1,
        "jax_version": "0",
        "lower_s": 0.1,
        "compile_s": 1.0,
        "xla_flops_per_step_per_device": 1e9,
        "xla_bytes_per_step_per_device": 1e8,
        "xla_flops_per_step": 1e9,
        "model_flops_per_step": 9e8,
        "hardware_flops_per_step": 9.5e8,
        "steps": 2,
        "step_time_median_s": 0.01,
        "step_time_p10_s": 0.009,
        "step_time_p90_s": 0.011,
        "tokens_per_s": 6400.0,
        "achieved_model_flops_per_s": 9e10,
        "achieved_xla_flops_per_s": 1e11,
        "peak_flops_per_s": 1e12,
        "peak_source": "test",
        "mfu": 0.09,
        "hfu": 0.1,
    }
    return json.dumps({k: v for k, v in {**base, **changes}.items() if v is not ...})


RECORDS = {
    "r_mfu_inf.json": (record(mfu=1.0).replace('"mfu": 1.0', '"mfu": Infinity'), "Infinity"),
    "r_mfu_nan.json": (record(mfu=1.0).replace('"mfu": 1.0', '"mfu": NaN'), "NaN"),
    "r_mfu_neg.json": (record(mfu=-0.1), "mfu=-0.1"),
    "r_step_zero.json": (record(step_time_median_s=0), "step_time_median_s=0"),
    "r_no_mfu.json": (record(mfu=...), "mfu"),
    "r_schema.json": (record(record_schema="other/2"), "record_schema='other/2'"),
    "r_not_json.json": ("{not json", "corrupted JSON"),
    "r_list.json": ("[1, 2, 3]", "record_schema='list'"),
    "r_empty.json": ("", "corrupted JSON"),
    "r_deep.json": ("[" * 5000 + "]" * 5000, "nested"),
    "r_deep_field.json": (
        record(routing={"a": 1.0}).replace('{"a": 1.0}', '{"a":' * 40 + "1" + "}" * 40),
        "nested deeper",
    ),
    "r_dispatch.json": (record(dispatch="magic"), "dispatch='magic'"),
    "r_batch_huge.json": (record(batch=10**30), "batch"),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    for name, (text, _) in {**MODELS, **CHIPS, **DCS, **RECORDS}.items():
        if text is None:
            (d / name).write_bytes(b"\xff\xfe\x00binary\x80")
        else:
            (d / name).write_text(text)
    (d / "good_chip.yaml").write_text(chip(name="good-cpu", device_kinds=["cpu"]))
    (d / "a_file.txt").write_text("not a folder\n")
    (d / "a_dir").mkdir()
    (d / "profiles_bad" / "chips").mkdir(parents=True)
    (d / "profiles_bad" / "chips" / "x.yaml").write_text(CHIPS["c_peak_inf.yaml"][0])
    return d


TRAIN = ["estimate", "train", "--model", "glam-tiny", "--chips", "8", "--tokens", "1e9"]
SERVE = ["estimate", "serve", "--model", "glam-tiny", "--chip", "h100-sxm"]

CASES = [
    # model files: counted, estimated and compared
    *[pytest.param(["count", f], why, id=f"count-{f}") for f, (_, why) in MODELS.items()],
    *[
        pytest.param(["estimate", "train", "--model", f, "--chips", "8", "--tokens", "1e9"], why, id=f"estimate-{f}")
        for f, (_, why) in list(MODELS.items())[::3]
    ],
    *[pytest.param(["compare", f, "gpt3-175b"], why, id=f"compare-{f}") for f, (_, why) in list(MODELS.items())[1::6]],
    # chip and datacenter profiles, by file and through --profiles-dir
    *[pytest.param([*TRAIN, "--chip", f], why, id=f"chip-{f}") for f, (_, why) in CHIPS.items()],
    *[pytest.param([*SERVE[:4], "--chip", f], why, id=f"serve-chip-{f}") for f, (_, why) in list(CHIPS.items())[::4]],
    *[pytest.param([*TRAIN, "--datacenter", f], why, id=f"dc-{f}") for f, (_, why) in DCS.items()],
    pytest.param(["profiles", "--profiles-dir", "profiles_bad"], "peak_flops_bf16", id="profiles-bad-dir"),
    pytest.param(["profiles", "--profiles-dir", "missing"], "not a folder", id="profiles-missing-dir"),
    pytest.param(["profiles", "--profiles-dir", "a_file.txt"], "not a folder", id="profiles-file-dir"),
    pytest.param([*TRAIN, "--profiles-dir", "profiles_bad"], "peak_flops_bf16", id="estimate-bad-dir"),
    # measurement records
    *[
        pytest.param([*TRAIN, "--chip", "good_chip.yaml", "--measured", f], why, id=f"measured-{f}")
        for f, (_, why) in RECORDS.items()
    ],
    pytest.param([*TRAIN, "--measured", "missing.json"], "cannot read", id="measured-missing"),
    pytest.param([*TRAIN, "--measured", "a_dir"], "not a regular file", id="measured-dir"),
    pytest.param([*TRAIN, "--measured", "m_binary.yaml"], "UTF-8", id="measured-binary"),
    # numbers on the command line
    *[
        pytest.param(["estimate", "train", "--model", "glam-tiny", *args], why, id=f"train{args}")
        for args, why in [
            (["--chips", "0", "--tokens", "1e9"], "--chips"),
            (["--chips", "-1", "--tokens", "1e9"], "--chips"),
            (["--chips", "abc", "--tokens", "1e9"], "--chips"),
            (["--chips", "1.5", "--tokens", "1e9"], "--chips"),
            (["--chips", "99999999999999999999999", "--tokens", "1e9"], "--chips"),
            (["--chips", "8", "--tokens", "-1"], "tokens"),
            (["--chips", "8", "--tokens", "0"], "tokens"),
            (["--chips", "8", "--tokens", "inf"], "--tokens=inf"),
            (["--chips", "8", "--tokens", "nan"], "--tokens=nan"),
            (["--chips", "8", "--tokens", "1e400"], "--tokens=inf"),
            (["--chips", "8", "--tokens", "lots"], "--tokens"),
            (["--chips", "8", "--tokens", "1e31"], "--tokens"),
            (["--chips", "8", "--tokens", "1e-320"], "subnormal"),
            (["--chips", "8", "--train-flops", "1e20"], "not both"),
        ]
    ],
    *[
        pytest.param([*TRAIN, *args], why, id=f"train{args}")
        for args, why in [
            (["--mfu", "0"], "mfu"),
            (["--mfu", "1.5"], "mfu"),
            (["--mfu", "-0.1"], "mfu"),
            (["--mfu", "inf"], "mfu"),
            (["--mfu", "nan"], "mfu"),
            (["--mfu", "1e-320"], "subnormal"),
            (["--mfu", "0.5,0.3,0.4"], "low <= nominal"),
            (["--mfu", "a,b,c"], "mfu"),
            (["--mfu", "0.1,0.2"], "mfu"),
            (["--mfu", "0.1,0.2,0.3,0.4"], "mfu"),
            (["--mfu", "0.2,0.3,inf"], "mfu"),
            (["--mfu", ""], "mfu"),
            (["--hours", "0"], "hours"),
            (["--hours", "-5"], "hours"),
            (["--hours", "inf"], "--hours"),
            (["--hours", "1e-9"], "hours"),
            (["--hours", "10", "--mfu", "0.3"], "mfu"),
            (["--pue", "0.5"], "pue"),
            (["--pue", "inf"], "pue"),
            (["--pue", "nan"], "pue"),
            (["--power-w", "0"], "--power-w=0"),
            (["--power-w", "-5"], "--power-w=-5"),
            (["--power-w", "inf"], "--power-w"),
            (["--price-per-chip-hour", "-1"], "--price-per-chip-hour-usd=-1"),
            (["--price-per-chip-hour-usd", "inf"], "price"),
            (["--carbon-intensity", "-1"], "--carbon-intensity-kg-per-kwh=-1"),
            (["--carbon-intensity-kg-per-kwh", "nan"], "carbon-intensity"),
            (["--train-flops", "inf"], "--train-flops"),
            (["--train-flops", "0"], "--train-flops=0"),
            (["--train-flops", "-1e20"], "--train-flops"),
            (["--train-flops", "1e20"], "not both"),
            (["--dtype", "fp4"], "dtype='fp4'"),
            (["--dtype", "fp8"], "dtype='fp8'"),
            (["--seq-len", "0"], "--seq-len"),
            (["--seq-len", "-1"], "--seq-len"),
            (["--chip", "nope"], "chip='nope'"),
            (["--chip", "missing.yaml"], "cannot read"),
            (["--datacenter", "mars"], "datacenter='mars'"),
            (["--comm-overlap", "1.5"], "--comm-overlap=1.5"),
            (["--comm-overlap", "-0.1"], "--comm-overlap"),
            (["--comm-overlap", "nan"], "--comm-overlap"),
            (["--expert-parallel", "3"], "--expert-parallel=3"),
            (["--expert-parallel", "0"], "--expert-parallel"),
            (["--expert-parallel", "16"], "--expert-parallel=16"),
            (["--interconnect-gb-per-s", "0"], "interconnect"),
            (["--interconnect-gb-per-s", "-1"], "interconnect"),
            (["--interconnect-gb-per-s", "inf"], "--interconnect"),
            (["--tokens-per-step", "0"], "--tokens-per-step=0"),
            (["--tokens-per-step", "inf"], "--tokens-per-step"),
            (["--chip", "h100-sxm", "--tdp-fraction", "0"], "--tdp-fraction=0"),
            (["--chip", "h100-sxm", "--tdp-fraction", "1.5"], "--tdp-fraction"),
            (["--chip", "h100-sxm", "--tdp-fraction", "inf"], "--tdp-fraction"),
            (["--model", "nope"], "model='nope'"),
            (["--json", "--foo"], "--foo"),
            (["--statement", "--mfu", "2"], "mfu"),
        ]
    ],
    # the inputs added with the predictor, the power model and the serving targets: each way they can be wrong
    *[
        pytest.param([*TRAIN, *args], why, id=f"train-new{args}")
        for args, why in [
            (["--layout", "tp=x"], "tp"),
            (["--layout", "tp=3"], "tp"),
            (["--layout", "bogus=2"], "bogus"),
            (["--layout", "tp=8,stack=jax"], "stack='jax'"),
            (["--layout", "tp=8,stack="], "stack"),
            (["--layout", "tp=8,attn=fa3"], "attn='fa3'"),
            (["--layout", "tp=8,attn="], "attn"),
            (["--layout", "tp=8,a2a_dedup=2"], "a2a_dedup='2'"),
            (["--layout", "tp=8,recompute=full,recompute_layers=-1"], "recompute_layers='-1'"),
            (["--layout", "tp=8,recompute_layers=4"], "recompute_layers=4"),
            (["--layout", "tp=8,cp_comm=nccl"], "cp_comm='nccl'"),
            (["--layout", "tp=8,bucket_mb=-1"], "bucket_mb='-1'"),
            (["--layout", "fsdp=8,bucket_mb=100"], "bucket_mb=100"),
            (["--software", "bucket_mb=0"], "bucket_mb='0'"),
            (["--layout", "fsdp=8,gather_overlap=0"], "gather_overlap=0"),
            (["--software", "gather_overlap=2"], "gather_overlap='2'"),
            (["--layout", "fsdp=8,grad_overlap=0"], "grad_overlap=0"),
            (["--software", "grad_overlap=nan"], "grad_overlap='nan'"),
            (["--layout", "tp=8,pp=2,vp=2,pp_overlap=off-ish"], "pp_overlap='off-ish'"),
            (["--software", "pp_overlap=-1"], "pp_overlap='-1'"),
            (["--layout", "dp=8,recompute=full,recompute_moe=1"], "recompute_moe=1"),
            (["--layout", "dp=8,recompute_moe=2"], "recompute_moe='2'"),
            (["--model", "glam-tiny-dense", "--layout", "dp=8,recompute_moe=1"], "has no MoE layers"),
            (["--software", "recompute_moe=1"], "recompute_moe is chosen by the layout search"),
            (["--software", "cp_comm=ring"], "cp_comm='ring'"),
            (["--software", "tp=8"], "--software='tp=8': tp is chosen"),
            (["--software", "stack=jax"], "stack='jax'"),
            (["--software", ""], "--software"),
            (["--software", "stack=xla", "--mfu", "0.3"], "--software"),
            (["--software", "stack=xla", "--layout", "tp=8"], "--software"),
            (["--software", "expert_spread=contiguous"], "a2a_dedup=1"),
            (["--layout", "tp=8,expert_spread=contiguous"], "a2a_dedup=1"),
            (["--layout", "tp=8,a2a_dedup=1,expert_spread="], "expert_spread"),
            (["--layout", ""], "layout"),
            (["--layout", "tp=8", "--mfu", "0.3"], "layout"),
            (["--global-batch", "0"], "--global-batch"),
            (["--global-batch", "1.5"], "--global-batch"),
            (["--global-batch", "99999999999999999999"], "--global-batch"),
            (["--power-model", "magic"], "--power-model="),
            (["--power-model", "TDP"], "--power-model='TDP'"),
            (["--power-model", "tdp", "--tdp-fraction", "0"], "--tdp-fraction"),
            (["--power-model", "tdp", "--tdp-fraction", "1.5"], "--tdp-fraction"),
            (["--mfu", "0.3", "--hours", "100"], "give --mfu or --hours"),
            (["--layout", "tp=8", "--hours", "100"], "give --layout or --hours"),
            (["--datacenter", "us-ai-datacenterx"], "us-ai-datacenterx"),
            (["--chip-lifetime-years", "0"], "chip-lifetime-years"),
            (["--chip-lifetime-years", "inf"], "--chip-lifetime-years"),
            (["--chip-lifetime-utilisation", "1.5"], "chip-lifetime-utilisation"),
            (["--chip-lifetime-utilisation", "nan"], "--chip-lifetime-utilisation"),
        ]
    ],
    *[
        pytest.param([*SERVE, *args], why, id=f"serve-new{args}")
        for args, why in [
            (["--weight-precision", "fp3"], "--weight-precision="),
            (["--kv-precision", "int2"], "--kv-precision="),
            (["--weight-precision", "fp8", "--bytes-per-param", "1"], "not both"),
            (["--ttft-ms", "-1"], "ttft"),
            (["--ttft-ms", "0"], "ttft"),
            (["--ttft-ms", "inf"], "--ttft-ms"),
            (["--tpot-ms", "nan"], "--tpot-ms"),
            (["--tpot-ms", "1e40"], "--tpot-ms"),
            (["--tpot-ms", "fast"], "--tpot-ms"),
            (["--tpot-ms", "1e-6"], "--tpot-ms"),
            (["--bytes-per-kv", "-2"], "bytes-per-kv"),
            (["--placement", "ring"], "--placement="),
            (["--routing-skew", "0.5"], "routing-skew"),
            (["--routing-skew", "nan"], "--routing-skew"),
            (["--routing-skew", "1e9"], "routing-skew"),
            (["--prefill-chips", "0"], "prefill-chips"),
            (["--prefill-chips", "2.5"], "--prefill-chips"),
            (["--measured", "missing.json"], "missing.json"),
            (["--busy-fraction", "0"], "busy-fraction"),
            (["--busy-fraction", "1.5"], "busy-fraction"),
            (["--busy-fraction", "nan"], "--busy-fraction"),
            (["--dtype", "int4"], "dtype='int4'"),
            (["--dtype", "int3"], "--dtype"),
            (["--busy-fraction", "half"], "--busy-fraction"),
            (["--routing-skew", "inf"], "--routing-skew"),
            (["--routing-skew", "-2"], "routing-skew"),
            (["--prefill-chips", "-1"], "prefill-chips"),
            (["--prefill-chips", "99999999999999999999"], "--prefill-chips"),
        ]
    ],
    pytest.param(
        ["estimate", "serve", "--model", "gpt3-175b", "--chip", "h100-sxm", "--prefill-chips", "1"],
        "--prefill-chips=1",
        id="serve-prefill-pool-too-small",
    ),
    pytest.param(["estimate", "train", "--inference"], "--inference", id="train-serving-flag"),
    pytest.param(["estimate", "train", "--batch", "8"], "--batch", id="train-batch"),
    pytest.param(["estimate", "--model", "glam-tiny", "--chips", "0"], "--chips=0", id="legacy-train"),
    pytest.param(["estimate", "--inference", "--batch", "0"], "--batch=0", id="legacy-serve"),
    pytest.param(["estimate", "plan"], "plan", id="estimate-unknown-kind"),
    # the predictor's validation against published runs: one run or one source family
    *[
        pytest.param(["validate-predictions", *args], why, id=f"validate{args}")
        for args, why in [
            (["--run", "llama3-16k"], ["--run='llama3-16k'", "did you mean llama3_16k"]),
            (["--run", ""], "--run=''"),
            (["--run", "x" * 300], "--run="),
            (["--family", "NeMo"], ["--family='NeMo'", "nemo-2407"]),
            (["--family", ""], "--family=''"),
            (["--run", "palm_mfu", "--family", "palm2022"], "give --run or --family"),
            (["--run", "palm_mfu", "--json", "--family", "x"], "not both"),
        ]
    ],
    *[
        pytest.param([*SERVE, *args], why, id=f"serve{args}")
        for args, why in [
            (["--batch", "0"], "--batch"),
            (["--batch", "-4"], "--batch"),
            (["--batch", "x"], "--batch"),
            (["--prompt-len", "0"], "--prompt-len"),
            (["--gen-len", "0"], "--gen-len"),
            (["--gen-len", "1e3"], "--gen-len"),
            (["--mbu", "0"], "mbu"),
            (["--mbu", "1.5"], "mbu"),
            (["--mbu", "inf"], "mbu"),
            (["--mfu", "2"], "mfu"),
            (["--chips", "0"], "--chips"),
            (["--power-w", "nan"], "--power-w"),
            (["--tokens", "1e9"], "--tokens"),
            (["--hours", "3"], "--hours"),
            (["--pue", "0.9"], "pue"),
            (["--model", "glam-64b-64e", "--chips", "1"], "chips"),
        ]
    ],
    pytest.param([*SERVE, "--prompt-len", "1e3"], "--prompt-len", id="serve-float-prompt"),
    # compare, count, models, profiles, reproduce and the top level
    *[
        pytest.param(["compare", *args], why, id=f"compare{args}")
        for args, why in [
            ([], "'models'"),
            (["nope"], "model='nope'"),
            (["glam-tiny", "--chips", "0"], "--chips"),
            (["glam-tiny", "--tokens", "inf"], "--tokens"),
            (["glam-tiny", "--tokens", "-1"], "tokens"),
            (["glam-tiny", "--mfu", "2"], "mfu"),
            (["glam-tiny", "--serve-chip", "nope"], "chip='nope'"),
            (["glam-tiny", "--batch", "0"], "--batch"),
            (["glam-tiny", "--chip", "c_bomb.yaml"], "aliases"),
            (["glam-tiny", "--datacenter", "d_pue_low.yaml"], "pue"),
        ]
    ],
    *[
        pytest.param(["count", *args], why, id=f"count{args}")
        for args, why in [
            (["nope"], "model='nope'"),
            (["glam-tiny", "--seq-len", "0"], "--seq-len"),
            (["glam-tiny", "--seq-len", "-1"], "--seq-len"),
            (["glam-tiny", "--seq-len", "1e9"], "--seq-len"),
            (["glam-tiny", "--batch", "0"], "--batch"),
            ([], "'model'"),
            (["missing.yaml"], "cannot read"),
            (["a_dir"], "model='a_dir'"),
            (["glam-tiny", "--xla", "--dispatch", "magic"], "dispatch"),
        ]
    ],
    pytest.param(["models", "--foo"], "--foo", id="models-flag"),
    pytest.param(["reproduce", "extra"], "extra", id="reproduce-arg"),
    pytest.param(["profiles", "--json", "x"], "x", id="profiles-arg"),
    pytest.param(["frobnicate"], "frobnicate", id="unknown-command"),
    pytest.param(["--nope"], "--nope", id="unknown-top-flag"),
]


QUALITY = ["quality", "--target-loss", "2.3"]
CASES += [  # glamsim quality: the fields of QualityScenario, the laws and the reference model
    pytest.param(["quality", *args], why, id=f"quality{args}")
    for args, why in [
        (["--target-loss", "nan"], "--target-loss=nan"),
        (["--target-loss", "inf"], "--target-loss=inf"),
        (["--target-loss", "-1"], "--target-loss=-1"),
        (["--target-loss", "0"], "--target-loss=0"),
        (["--target-loss", "1.5"], ["--target-loss=1.5", "irreducible loss E=1.69"]),
        (["--target-loss", "1.69"], "irreducible"),
        (["--target-loss", "1.8", "--dense-law", "besiroglu"], ["1.8", "besiroglu's irreducible loss E=1.817"]),
        (["--target-loss", "two"], "--target-loss"),
        (["--target-loss", "2.3", "--experts", "0"], ["--experts='0'", "0 experts"]),
        (["--target-loss", "2.3", "--experts", "-8"], ["--experts='-8'", "-8 experts"]),
        (["--target-loss", "2.3", "--experts", "1"], "--experts='1'"),
        (["--target-loss", "2.3", "--experts", "a,b"], ["--experts='a,b'", "whole expert counts"]),
        (["--target-loss", "2.3", "--experts", "8.5"], "--experts='8.5'"),
        (["--target-loss", "2.3", "--experts", "[8, 64]"], "--experts"),
        (["--target-loss", "2.3", "--experts", ","], "--experts"),
        (["--target-loss", "2.3", "--experts", "99999999999"], "--experts"),
        (["--target-loss", "2.3", "--experts", ",".join(map(str, range(2, 20)))], "1 to 16 expert counts"),
        (["--target-loss", "2.3", "--experts", "8", "--top-k", "16"], "fewer than top_k=16"),
        (["--target-loss", "2.3", "--top-k", "0"], "--top-k=0"),
        (["--target-loss", "2.3", "--served-tokens", "-1"], "--served-tokens=-1"),
        (["--target-loss", "2.3", "--served-tokens", "nan"], "--served-tokens=nan"),
        (["--target-loss", "2.3", "--served-tokens", "1e30"], "--served-tokens"),
        (["--target-loss", "2.3", "--dense-law", "nope"], ["--dense-law='nope'", "unknown scaling law"]),
        (["--target-loss", "2.3", "--dense-law", "clark-sbase"], ["--dense-law='clark-sbase'", "routed law"]),
        (["--target-loss", "2.3", "--routed-law", "chinchilla"], ["--routed-law='chinchilla'", "dense law"]),
        (["--target-loss", "2.3", "--routed-law", "missing.yaml"], "missing.yaml"),
        (["--target-loss", "2.3", "--spread-laws", "nope"], ["--spread-laws='nope'", "unknown scaling law"]),
        (["--target-loss", "2.3", "--spread-laws", "clark-sbase"], "routed law"),
        (["--target-loss", "2.3", "--dense-law", "m_malformed.yaml"], "malformed YAML"),
        (["--as-good-as", "nope", "--tokens", "3e11"], ["--as-good-as='nope'", "unknown preset"]),
        (["--as-good-as", "m_layers_neg.yaml", "--tokens", "3e11"], "n_layers=-1"),
        (["--as-good-as", "gpt3-175b"], ["--as-good-as='gpt3-175b'", "needs tokens"]),
        (["--as-good-as", "gpt3-175b", "--tokens", "-3e11"], "--tokens=-3"),
        (["--as-good-as", "gpt3-175b", "--tokens", "inf"], "--tokens=inf"),
        (["--tokens", "3e11"], ["--tokens=3e+11", "goes with as_good_as"]),
        (["--target-loss", "2.3", "--tokens", "3e11"], "--tokens=3e+11"),
        (["--target-loss", "2.3", "--as-good-as", "gpt3-175b", "--tokens", "3e11"], "one of them"),
        ([], "give --target-loss or --as-good-as"),
        (["--target-loss", "2.3", "--chip", "nope"], "nope"),
        (["--target-loss", "2.3", "--chips", "0"], "--chips=0"),
        (["--target-loss", "2.3", "--mfu", "1.5"], "--mfu=1.5"),
        (["--target-loss", "2.3", "--batch", "0"], "--batch=0"),
        (["--target-loss", "2.3", "--template", "nope"], "nope"),
    ]
]


@pytest.mark.parametrize(("args", "mentions"), CASES)
def test_refused_in_one_line(folder, args, mentions):
    refused(args, folder, mentions=mentions)


def test_corpus_is_large():
    assert len(CASES) >= 200


def test_measured_loop_end_to_end(folder):
    """A real `glamsim measure` record carried into `estimate train --measured` on a chip whose device
    kinds match it (a user profile for this CPU): its MFU and FLOPs ratio are used, the ledger names
    the record file, and a user --mfu still wins over it."""
    accepted(
        [
            "measure",
            "--model",
            "glam-tiny",
            "--batch",
            "2",
            "--seq-len",
            "32",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--out",
            "rec.json",
            "--json",
        ],
        folder,
    )
    rec = json.loads((folder / "rec.json").read_text())
    for chip_arg in (["--chip", "good_chip.yaml"], ["--chip", "good-cpu", "--profiles-dir", "user_profiles"]):
        (folder / "user_profiles" / "chips").mkdir(parents=True, exist_ok=True)
        (folder / "user_profiles" / "chips" / "good.yaml").write_text((folder / "good_chip.yaml").read_text())
        r = accepted([*TRAIN, *chip_arg, "--measured", "rec.json", "--json"], folder)
        d = json.loads(r.stdout)
        led = {e["name"]: e for e in d["ledger"]}
        assert d["mfu"] == pytest.approx(rec["mfu"]) and led["mfu"]["value"] == pytest.approx(rec["mfu"])
        assert "rec.json" in led["mfu"]["source"] and "rec.json" in led["hw_flops_ratio"]["source"]
        assert d["hfu"] == pytest.approx(rec["mfu"] * rec["xla_flops_per_step"] / rec["model_flops_per_step"])
        assert "measured MFU" in r.stderr
    d = json.loads(
        accepted(
            [*TRAIN, "--chip", "good_chip.yaml", "--measured", "rec.json", "--mfu", "0.2", "--json"], folder
        ).stdout
    )
    assert d["mfu"] == pytest.approx(0.2)
    # on a chip the record was not measured on, only the FLOPs ratio carries over
    d = json.loads(accepted([*TRAIN, "--chip", "tpu-v4", "--measured", "rec.json", "--json"], folder).stdout)
    led = {e["name"]: e for e in d["ledger"]}
    assert "predicted" in led["mfu"]["source"] and "rec.json" in led["hw_flops_ratio"]["source"]


def test_suspicious_inputs_warn(folder):
    r = accepted(
        [
            "estimate",
            "--model",
            "glam-64b-64e",
            "--chips",
            "2048",
            "--tokens",
            "1e9",
            "--tokens-per-step",
            "1048576",
            "--mfu",
            "0.3",
            "--json",
        ],
        folder,
    )
    # a typed MFU (a predicted one plans its own batch and charges its own exposed communication)
    assert "warning: chips=2048 exceed the 1024 sequences per step" in r.stderr
    assert json.loads(r.stdout)["warnings"]
    r = accepted(
        ["estimate", "--model", "glam-64b-64e", "--chips", "1024", "--tokens", "1e9", "--mfu", "0.3"]
        + ["--interconnect-gb-per-s", "1"],
        folder,
    )
    assert "warning: communication" in r.stderr and "--comm-overlap 1" in r.stderr
    r = accepted(["estimate", "--model", "glam-64b-64e", "--chips", "1024", "--tokens", "1e9"], folder)
    assert "warning" not in r.stderr


def test_a_huge_batch_is_refused_at_once_not_searched(tmp_path):
    """A latency-target search tries each batch up to --batch: a batch beyond 2**20 sequences is
    refused in one line before any work (it once ran the machine out of memory)."""
    line = refused(["estimate", "serve", "--batch", "100000000", "--tpot-ms", "1000"], tmp_path, mentions="--batch")
    assert "<= 1,048,576" in line
