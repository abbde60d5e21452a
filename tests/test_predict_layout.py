"""Parallel layouts (issue 14): the compact string, its checks against a model and a chip count,
and the bad-input contract of `glamsim plan` (one stderr line naming the key and value, exit 2)."""

from __future__ import annotations

import pytest
import yaml
from badinput import refused

from glamsim.config import ConfigError, data_dir, load_model
from glamsim.predict import Layout, check_layout, parse_layout
from glamsim.predict.estimate import resolve_layout
from glamsim.predict.layout import LayoutArrays, default_batch

TINY = load_model("glam-tiny")  # 4 layers, 4 heads, d_ff 256, 8 experts, context 128


def test_parse_the_issue_examples():
    a = parse_layout("tp=8,pp=16,dp=8,ep=1,mb=1,recompute=selective")
    assert (a.tp, a.pp, a.dp, a.ep, a.mb, a.recompute, a.zero) == (8, 16, 8, 1, 1, "selective", 0)
    assert a.chips == 8 * 16 * 8
    b = parse_layout("fsdp=64,mb=4,recompute=full")
    assert (b.dp, b.zero, b.mb, b.recompute) == (64, 3, 4, "full")


def test_keys_values_aliases_and_defaults():
    lay = parse_layout(
        " TP = 2 , vp=2, pp=2, sp=yes, flash=0, params=fp32, grads=bf16, opt_state=bf16,"
        "optimizer=adafactor, global_batch=64, microbatch=2, dp=4, cp=1, zero=1, tp_overlap=on"
    )
    assert lay.schedule == "interleaved" and lay.vp == 2  # vp > 1 implies the interleaved schedule
    assert (lay.sp, lay.flash, lay.tp_overlap) == (True, False, True)
    assert (lay.params, lay.grads, lay.opt_state, lay.optimizer) == ("fp32", "bf16", "bf16", "adafactor")
    assert (lay.gbs, lay.mb, lay.microbatches) == (64, 2, 8)
    d = Layout()
    assert (d.tp, d.pp, d.dp, d.cp, d.ep, d.zero, d.mb, d.recompute, d.flash, d.sp) == (
        1,
        1,
        1,
        1,
        1,
        0,
        1,
        "none",
        True,
        False,
    )
    assert (d.params, d.grads, d.opt_state, d.optimizer) == ("bf16", "fp32", "fp32", "adam")


@pytest.mark.parametrize(
    "text",
    [
        "tp=8,pp=16,dp=8,mb=1,recompute=selective",
        "fsdp=64,mb=4,recompute=full",
        "tp=2,pp=4,dp=2,vp=2,gbs=64,sp=1,flash=0,optimizer=adafactor",
        "tp=4,cp=2,dp=8,ep=4,zero=2,mb=2,params=fp32",
        "pp=3,uneven=1,tp_overlap=1",
        "pp=2,dp=4,embed_loss=1,uneven=1",
        "fsdp=8,stack=pytorch-fsdp,attn=cudnn,loss_upcast=0",
        "dp=8,ep=8,a2a_dedup=1,expert_spread=contiguous",
        "pp=2,dp=4,recompute=full,recompute_layers=1",
        "fsdp=4,cp=2,stack=pytorch-fsdp,cp_comm=p2p",
        "fsdp=8,dp=8,stack=pytorch-fsdp",  # hybrid sharding
        "fsdp=8,dp=8,pp=2,reshard=0",  # ...keeping the gathered weights between microbatches
        "fsdp=8,reshard=0",
        "tp=2,dp=4,ep=8,etp=1,sp=1",  # parallel folding
        "tp=8,dp=96,zero=1,bucket_mb=100",  # Apex's DistributedFusedAdam buckets
        "tp=8,dp=96,zero=1,gather_overlap=0",  # the weights' gather after the optimizer step
        "dp=8,zero=2,stack=deepspeed,gather_overlap=1",
        "fsdp=8,reshard=0,gather_overlap=0",  # FSDP keeping its weights (ZeRO-2), the gather exposed
        "tp=8,pp=4,dp=32,grad_overlap=0",  # the gradients all-reduced after the backward (2021 local DDP)
        "dp=8,zero=1,stack=deepspeed,grad_overlap=1",
        "tp=12,fsdp=256,dp=2,grad_overlap=0",  # hybrid sharding, the replicas' all-reduce after the backward
        "tp=8,pp=8,dp=2,vp=2,pp_overlap=0",  # blocking pipeline sends (Megatron-LM of 2021-2022)
        "dp=8,ep=8,recompute=selective,recompute_moe=1",  # Megatron-Core's --recompute-modules moe
    ],
)
def test_compact_round_trips(text):
    lay = parse_layout(text)
    assert parse_layout(lay.compact()) == lay


def test_layout_is_frozen_and_forbids_unknown_fields():
    from pydantic import ValidationError

    lay = Layout(tp=2)
    with pytest.raises(ValidationError, match="frozen"):
        lay.tp = 4
    with pytest.raises(ValidationError, match="tq"):
        Layout(tq=2)


def test_check_layout_against_model_and_chips():
    check_layout(parse_layout("tp=2,pp=2,dp=2,ep=2,sp=1,gbs=8"), TINY, 8, 128)
    # Megatron-Core refuses expert with tensor parallelism without sequence parallelism; other stacks run it
    with pytest.raises(
        ConfigError, match=r"^layout ep=2: expert parallelism with tensor parallelism \(tp=2\) on megatron"
    ):
        check_layout(parse_layout("tp=2,pp=2,dp=2,ep=2,gbs=8"), TINY, 8, 128)
    check_layout(parse_layout("tp=2,pp=2,dp=2,ep=2,gbs=8,stack=pytorch-fsdp"), TINY, 8, 128)
    check_layout(parse_layout("tp=2,pp=2,dp=2,gbs=8"), TINY, 8, 128)  # no expert parallelism: no rule
    check_layout(parse_layout("fsdp=8,ep=8,gbs=8"), TINY, 8, 128)
    with pytest.raises(ConfigError, match="not the 16 chips"):
        check_layout(parse_layout("tp=2,dp=4"), TINY, 16, 128)
    # uneven stages only when asked (Llama 3: 126 layers on 16 stages)
    with pytest.raises(ConfigError, match="pp=3: must divide the 4 layers"):
        check_layout(parse_layout("pp=3"), TINY, 3, 128)
    check_layout(parse_layout("pp=3"), TINY, 3, 128, uneven_stages=True)
    check_layout(parse_layout("pp=3,uneven=1"), TINY, 3, 128)
    # Megatron's embedding and loss in the pipeline split: 4 layers + 2 slots on 6 stages, 1 each
    # (without embed_loss, 6 stages for 4 layers is refused)
    check_layout(parse_layout("pp=6,embed_loss=1"), TINY, 6, 128)
    with pytest.raises(ConfigError, match="pp=6: 6 pipeline stages for 4 layers"):
        check_layout(parse_layout("pp=6,uneven=1"), TINY, 6, 128)
    with pytest.raises(ConfigError, match=r"pp=4: must divide the 4 layers and the embedding and loss \(6 slots\)"):
        check_layout(parse_layout("pp=4,embed_loss=1"), TINY, 4, 128)
    # recompute_layers counts the layers of one model chunk: 4 layers on pp x vp = 2 x 2 chunks of 1
    check_layout(parse_layout("pp=2,vp=2,gbs=4,recompute=full,recompute_layers=1"), TINY, 2, 128)
    with pytest.raises(ConfigError, match="recompute_layers=2: more than the 1 layers of each model chunk"):
        check_layout(parse_layout("pp=2,vp=2,gbs=4,recompute=full,recompute_layers=2"), TINY, 2, 128)


def test_global_batch_defaults_to_about_4m_tokens_rounded_to_dp_x_mb():
    assert default_batch(8, 1024) == 4096  # 4M tokens / 1,024
    assert default_batch(3, 2048) == 2049  # 2,048 sequences rounded up to a multiple of 3
    lay = resolve_layout("dp=8,mb=2", TINY, 8, 128)
    assert lay.gbs % 16 == 0 and lay.gbs * 128 >= 4 * 2**20
    assert resolve_layout("dp=8", TINY, 8, 128, global_batch=64).gbs == 64


def test_layout_arrays_carry_every_field():
    rows = [
        parse_layout("tp=2,pp=2,dp=2,gbs=8,vp=2,recompute=full,recompute_layers=3,sp=1,cp_comm=allgather"),
        parse_layout("fsdp=8,gbs=16"),
    ]
    arr = LayoutArrays.of(rows)
    assert list(arr.tp) == [2, 1] and list(arr.zero) == [0, 3] and list(arr.recompute) == [2, 0]
    assert list(arr.recompute_layers) == [3, 0]  # 0: every layer
    assert list(arr.cp_comm) == [1, 0]  # 1 + index of allgather; 0: the stack's
    assert list(arr.param_bytes) == [2, 2] and list(arr.grad_bytes) == [4, 4] and list(arr.adam) == [1, 1]
    assert arr.layout(0) == rows[0] and arr.layout(1) == rows[1]
    with pytest.raises(ConfigError, match="gbs"):
        LayoutArrays.of(parse_layout("dp=2"))


# ---- the command line's bad-input contract -----------------------------------------------------

PLAN = ["plan", "glam-tiny", "--chip", "tpu-v4", "--chips", "8"]
CHIP = yaml.safe_load((data_dir("hardware_profiles") / "chips" / "tpu-v4.yaml").read_text())

LAYOUTS = {  # layout string (on 8 chips unless the case gives other arguments) -> text the line must hold
    "empty": ("", ["layout=''", "empty"]),
    "no_equals": ("tp8", ["'tp8'", "key=value"]),
    "two_equals": ("tp=1=2", ["'tp=1=2'", "key=value"]),
    "empty_item": ("tp=2,,dp=4", ["empty item"]),
    "unknown_key": ("tq=2", ["'tq'", "unknown"]),
    "twice": ("dp=4,dp=4", ["'dp'", "twice"]),
    "not_int": ("tp=x", ["tp='x'", "whole number"]),
    "negative": ("tp=-2", ["tp='-2'"]),
    "fraction": ("tp=1.5", ["tp='1.5'"]),
    "zero_ways": ("tp=0", ["tp=0"]),
    "huge": ("dp=99999999999999999999", ["dp=", "at most 2**53"]),
    "beyond_max": ("dp=2000000", ["dp=2000000"]),
    "zero_stage": ("zero=4", ["zero=4"]),
    "recompute": ("recompute=some", ["recompute='some'", "selective"]),
    "schedule": ("schedule=gpipe", ["schedule='gpipe'"]),
    "bool": ("sp=maybe", ["sp='maybe'"]),
    "precision": ("params=int4", ["params='int4'"]),
    "optimizer": ("optimizer=sgd", ["optimizer='sgd'"]),
    "fsdp_zero": ("fsdp=8,zero=1", ["fsdp=8", "zero=1"]),
    "fsdp_dp": ("fsdp=8,dp=4", ["= 32", "8 chips"]),  # hybrid sharding: 8 x 4 data-parallel ranks
    "reshard_no_fsdp": ("dp=8,reshard=0", ["reshard=0", "fsdp"]),
    "stack": ("dp=8,stack=jax", ["stack='jax'"]),
    "fused": ("dp=8,fused=perhaps", ["fused='perhaps'"]),
    "loss_upcast": ("dp=8,loss_upcast=half", ["loss_upcast='half'"]),
    "a2a_overlap": ("dp=8,a2a_overlap=2", ["a2a_overlap='2'"]),
    "master": ("dp=8,master=fp16", ["master='fp16'"]),
    "attn": ("dp=8,attn=fa3", ["attn='fa3'"]),
    "attn_unfused": ("dp=8,flash=0,attn=cudnn", ["attn=cudnn", "flash=1"]),
    "attn_version": ("dp=8,attn=cudnn-9.2", ["attn='cudnn-9.2'", "cudnn-9.19"]),
    "attn_number": ("dp=8,attn=2", ["attn='2'"]),
    "attn_nan": ("dp=8,attn=nan", ["attn='nan'"]),
    "attn_inf": ("dp=8,attn=inf", ["attn='inf'"]),
    "attn_empty": ("dp=8,attn=", ["attn=''"]),
    "a2a_dedup": ("dp=8,a2a_dedup=twice", ["a2a_dedup='twice'"]),
    "expert_spread": ("dp=8,a2a_dedup=1,expert_spread=zipf", ["expert_spread='zipf'", "contiguous"]),
    "spread_copies": ("dp=8,expert_spread=contiguous", ["expert_spread=contiguous", "a2a_dedup=1"]),
    "reshard_word": ("fsdp=8,reshard=later", ["reshard='later'"]),
    "hsdp_huge": ("fsdp=1024,dp=2048", ["fsdp=1024", "dp=2048"]),
    "hsdp_zero": ("fsdp=8,dp=0", ["dp=0"]),
    "vp_no_pp": ("vp=2,dp=8", ["vp=2", "pp"]),
    "interleaved_no_vp": ("schedule=interleaved,pp=2,dp=4", ["vp=1", "interleaved"]),
    "1f1b_vp": ("schedule=1f1b,vp=2,pp=2,dp=4", ["vp=2", "interleaved"]),
    "ep_not_dp": ("dp=8,ep=3", ["ep=3", "dp=8"]),
    "gbs_multiple": ("dp=8,mb=3,gbs=16", ["gbs=16", "dp x mb"]),
    "too_few_chips": ("tp=4", ["tp x pp x dp x cp = 4", "8 chips"]),
    "tp_heads": ("tp=8", ["tp=8", "4 attention heads"]),
    "too_many_stages": ("pp=8", ["pp=8", "4 layers"]),
    "too_many_stages_embed_loss": ("pp=8,embed_loss=1", ["pp=8", "4 layers and the embedding and loss (6 slots)"]),
    "embed_loss_no_pp": ("dp=8,embed_loss=1", ["embed_loss=1", "pp >= 2"]),
    "embed_loss_value": ("pp=2,dp=4,embed_loss=2", ["embed_loss", "'2'"]),
    "experts": ("dp=8,ep=8,tp=1", None),  # valid: 8 experts over 8 chips (control, see below)
    "interleaved_microbatches": ("pp=2,dp=4,vp=2,gbs=4", ["microbatches", "pp=2"]),
    "long": ("tp=1," * 300 + "tp=1", ["at most 1000"]),
    "cp_comm": ("dp=8,cp_comm=ring", ["cp_comm='ring'", "allgather-overlap", "p2p"]),
    "cp_comm_empty": ("dp=8,cp_comm=", ["cp_comm=''"]),
    "recompute_layers_not_full": (
        "dp=8,recompute=selective,recompute_layers=2",
        ["recompute_layers=2", "recompute=full"],
    ),
    "recompute_layers_alone": ("dp=8,recompute_layers=2", ["recompute_layers=2", "not none"]),
    "recompute_layers_zero": ("dp=8,recompute=full,recompute_layers=0", ["recompute_layers='0'", ">= 1"]),
    "recompute_layers_negative": ("dp=8,recompute=full,recompute_layers=-1", ["recompute_layers='-1'", ">= 1"]),
    "recompute_layers_word": ("dp=8,recompute=full,recompute_layers=half", ["recompute_layers='half'"]),
    "recompute_layers_inf": ("dp=8,recompute=full,recompute_layers=inf", ["recompute_layers='inf'"]),
    "recompute_layers_nan": ("dp=8,recompute=full,recompute_layers=nan", ["recompute_layers='nan'"]),
    "recompute_layers_huge": ("dp=8,recompute=full,recompute_layers=99999999999999999999", ["recompute_layers="]),
    "cp_comm_number": ("dp=8,cp_comm=2", ["cp_comm='2'"]),
    "etp_zero": ("tp=2,dp=4,ep=8,etp=0", ["etp='0'", ">= 1"]),
    "etp_negative": ("tp=2,dp=4,ep=8,etp=-1", ["etp='-1'", ">= 1"]),
    "etp_word": ("tp=2,dp=4,ep=8,etp=half", ["etp='half'"]),
    "etp_fraction": ("tp=2,dp=4,ep=8,etp=0.5", ["etp='0.5'"]),
    "etp_inf": ("tp=2,dp=4,ep=8,etp=inf", ["etp='inf'"]),
    "etp_nan": ("tp=2,dp=4,ep=8,etp=nan", ["etp='nan'"]),
    "etp_huge": ("tp=2,dp=4,ep=8,etp=99999999999999999999", ["etp="]),
    "etp_above_tp": ("tp=2,dp=4,ep=8,etp=4,sp=1", ["etp=4", "must be 1 (parallel folding) or unset (as tp=2)"]),
    "etp_between": ("tp=4,dp=2,ep=8,etp=2,sp=1", ["etp=2", "must be 1 (parallel folding) or unset (as tp=4)"]),
    "etp_fold_ranks": ("tp=2,dp=4,ep=16,etp=1,sp=1", ["ep=16", "tp x cp x dp = 8"]),
    "etp_no_sp": ("tp=2,dp=4,ep=8,etp=1", ["etp=1", "sp=1"]),
    "ep_over_tp_unfolded": ("tp=2,dp=4,ep=8", ["ep=8", "dp=4", "etp=1 folds"]),
    "bucket_mb_zero": ("dp=8,zero=1,bucket_mb=0", ["bucket_mb='0'", ">= 1"]),
    "bucket_mb_negative": ("dp=8,zero=1,bucket_mb=-100", ["bucket_mb='-100'", ">= 1"]),
    "bucket_mb_fraction": ("dp=8,zero=1,bucket_mb=12.5", ["bucket_mb='12.5'"]),
    "bucket_mb_word": ("dp=8,zero=1,bucket_mb=big", ["bucket_mb='big'"]),
    "bucket_mb_nan": ("dp=8,zero=1,bucket_mb=nan", ["bucket_mb='nan'"]),
    "bucket_mb_inf": ("dp=8,zero=1,bucket_mb=inf", ["bucket_mb='inf'"]),
    "bucket_mb_huge": ("dp=8,zero=1,bucket_mb=99999999999999999999", ["bucket_mb="]),
    "bucket_mb_empty": ("dp=8,zero=1,bucket_mb=", ["bucket_mb=''"]),
    "bucket_mb_zero3": ("fsdp=8,bucket_mb=100", ["bucket_mb=100", "zero 0-2"]),
    "gather_overlap_word": ("dp=8,zero=1,gather_overlap=later", ["gather_overlap='later'", "1/0"]),
    "gather_overlap_two": ("dp=8,zero=1,gather_overlap=2", ["gather_overlap='2'", "1/0"]),
    "gather_overlap_empty": ("dp=8,zero=1,gather_overlap=", ["gather_overlap=''"]),
    "gather_overlap_zero3": ("fsdp=8,gather_overlap=1", ["gather_overlap=1", "zero 1-2"]),
    "gather_overlap_zero3_off": ("tp=2,fsdp=4,gather_overlap=0", ["gather_overlap=0", "zero 1-2"]),
    "grad_overlap_word": ("dp=8,grad_overlap=later", ["grad_overlap='later'", "1/0"]),
    "grad_overlap_two": ("dp=8,zero=1,grad_overlap=2", ["grad_overlap='2'", "1/0"]),
    "grad_overlap_negative": ("dp=8,grad_overlap=-1", ["grad_overlap='-1'", "1/0"]),
    "grad_overlap_empty": ("dp=8,grad_overlap=", ["grad_overlap=''"]),
    "grad_overlap_zero3": ("fsdp=8,grad_overlap=0", ["grad_overlap=0", "hybrid"]),
    "grad_overlap_zero3_zero": ("dp=8,zero=3,grad_overlap=1", ["grad_overlap=1", "zero 0-2"]),
    "pp_overlap_word": ("pp=4,vp=2,pp_overlap=blocking", ["pp_overlap='blocking'", "1/0"]),
    "pp_overlap_two": ("pp=4,vp=2,pp_overlap=2", ["pp_overlap='2'", "1/0"]),
    "pp_overlap_empty": ("pp=4,vp=2,pp_overlap=", ["pp_overlap=''"]),
    "pp_overlap_huge": ("pp=4,vp=2,pp_overlap=99999999999999999999", ["pp_overlap='99999999999999999999'", "1/0"]),
    "grad_overlap_inf": ("dp=8,grad_overlap=inf", ["grad_overlap='inf'", "1/0"]),
    "pp_overlap_nan": ("pp=4,vp=2,pp_overlap=nan", ["pp_overlap='nan'", "1/0"]),
    "recompute_moe_word": ("dp=8,ep=8,recompute_moe=sometimes", ["recompute_moe='sometimes'", "1/0"]),
    "recompute_moe_full": ("dp=8,ep=8,recompute=full,recompute_moe=1", ["recompute_moe=1", "none or selective"]),
    "recompute_moe_op": ("dp=8,ep=8,recompute=op,recompute_moe=1", ["recompute_moe=1", "not op"]),
    "recompute_layers_too_many": ("pp=2,dp=4,recompute=full,recompute_layers=3", ["recompute_layers=3", "2 layers"]),
}


@pytest.mark.parametrize("case", [k for k, v in LAYOUTS.items() if v[1] is not None])
def test_bad_layout_strings_are_refused_in_one_line(tmp_path, case):
    text, mentions = LAYOUTS[case]
    refused([*PLAN, "--layout", text], tmp_path, mentions=mentions)


OTHER = {  # whole argument lists -> text the line must hold
    "stack": (["plan", "glam-tiny", "--chip", "tpu-v4", "--chips", "8", "--stack", "jax"], ["--stack='jax'", "xla"]),
    "stack_empty": (["plan", "glam-tiny", "--chip", "tpu-v4", "--chips", "8", "--stack", ""], ["--stack=''"]),
    "stack_beside_layout": ([*PLAN, "--layout", "dp=8", "--stack", "xla"], ["--stack='xla'", "stack=xla"]),
    "attn": (["plan", "glam-tiny", "--chip", "h100-sxm", "--chips", "8", "--attn", "fa3"], ["--attn='fa3'", "cudnn"]),
    "attn_beside_layout": ([*PLAN, "--layout", "dp=8", "--attn", "cudnn"], ["--attn='cudnn'", "attn=cudnn"]),
    "software_searched": ([*PLAN, "--software", "stack=xla,tp=2"], ["--software=", "tp is chosen"]),
    "software_recompute_layers": ([*PLAN, "--software", "recompute_layers=2"], ["recompute_layers is chosen"]),
    "software_value": ([*PLAN, "--software", "fused=often"], ["--software=", "fused='often'"]),
    "software_beside_layout": ([*PLAN, "--layout", "dp=8", "--software", "stack=xla"], ["--software='stack=xla'"]),
    "software_dedup_capacity": ([*PLAN, "--software", "a2a_dedup=1"], ["a2a_dedup=1", "capacity buffers"]),
    "software_and_stack": (
        [*PLAN, "--software", "stack=xla", "--stack", "megatron"],
        ["--software with --stack/--attn=", "'stack': given twice"],
    ),
    "layers_uneven": (
        ["plan", "glam-tiny", "--chip", "tpu-v4", "--chips", "3", "--layout", "pp=3"],
        ["pp=3", "4 layers"],
    ),
    "dense_ep": (
        ["plan", "glam-tiny-dense", "--chip", "tpu-v4", "--chips", "8", "--layout", "dp=8,ep=2"],
        ["ep=2", "no experts"],
    ),
    "ep_experts": (
        ["plan", "glam-tiny", "--chip", "tpu-v4", "--chips", "16", "--layout", "dp=16,ep=16"],
        ["ep=16", "8 experts"],
    ),
    "ep_tp_no_sp_megatron": (  # Megatron-Core's rule; the GPU's default stack is megatron
        ["plan", "glam-tiny", "--chip", "h100-sxm", "--chips", "8", "--layout", "tp=2,dp=4,ep=4"],
        ["ep=4", "expert parallelism with tensor parallelism (tp=2) on megatron needs sp=1"],
    ),
    "cp_seq": (
        ["plan", "glam-tiny", "--chip", "tpu-v4", "--chips", "3", "--layout", "cp=3"],
        ["cp=3", "sequence length 128"],
    ),
    "gbs_conflict": ([*PLAN, "--layout", "dp=8,gbs=16", "--global-batch", "32"], ["gbs=16", "32"]),
    "global_batch_multiple": ([*PLAN, "--layout", "dp=8", "--global-batch", "12"], ["--global-batch=12", "dp x mb"]),
    "rank_by": ([*PLAN, "--rank-by", "speed"], ["--rank-by='speed'"]),
    "chips_zero": (["plan", "glam-tiny", "--chip", "tpu-v4", "--chips", "0"], ["--chips"]),
    "top_zero": ([*PLAN, "--top", "0"], ["--top"]),
    "tokens_nan": ([*PLAN, "--tokens", "nan"], ["--tokens"]),
    "global_batch_zero": ([*PLAN, "--global-batch", "0"], ["--global-batch"]),
    "seq_len_long": ([*PLAN, "--seq-len", "4096"], ["--seq-len=4096", "context"]),
    "unknown_chip": (["plan", "glam-tiny", "--chip", "tpu-v99", "--chips", "8"], ["chip='tpu-v99'"]),
    "unknown_model": (["plan", "glam-9000", "--chip", "tpu-v4", "--chips", "8"], ["model='glam-9000'"]),
    "no_chip": (["plan", "glam-tiny", "--chips", "8"], ["--chip"]),
    "nothing_fits": (["plan", "gpt3-175b", "--chip", "v100", "--chips", "1"], ["no layout", "GB"]),
    "no_measurement": ([*PLAN, "--measurement", "missing.json"], ["missing.json"]),
}


@pytest.mark.parametrize("case", list(OTHER))
def test_bad_plan_arguments_are_refused_in_one_line(tmp_path, case):
    args, mentions = OTHER[case]
    refused(args, tmp_path, mentions=mentions)


def test_chip_without_link_fields_is_refused_naming_the_field(tmp_path):
    old = {k: v for k, v in CHIP.items() if k not in ("chips_per_node", "inter_node_bandwidth_gb_per_s")}
    (tmp_path / "old.yaml").write_text(yaml.safe_dump({**old, "name": "old-chip"}))
    refused(
        ["plan", "glam-tiny", "--chip", "old.yaml", "--chips", "8"], tmp_path, mentions=["old-chip", "chips_per_node"]
    )


def test_valid_control_case_is_accepted(tmp_path):
    from badinput import accepted

    r = accepted([*PLAN, "--layout", LAYOUTS["experts"][0], "--json"], tmp_path)
    assert '"fits": true' in r.stdout


def test_embedding_and_loss_take_a_layers_place_in_the_pipeline_split():
    """Megatron's --account-for-embedding/loss-in-pipeline-split: 94 layers + 2 slots.  On 32
    virtual stages (pp 8 x vp 4) the fullest chunk holds ceil(96 / 32) = 3 layers, a middle stage
    12 (as ceil(94 / 32) x 4 without), the first stage, which gave a slot to the embedding and
    holds the most activations in flight, 11; on pp 32 x vp 3 (Megatron-Core's model zoo,
    Qwen3-235B) one slot a chunk: 3 layers on a middle stage, 2 on the first; with two stages each
    gives a slot: ceil(96 / 2) - 1 = 47 layers on both."""
    from glamsim.accounting import ModelArrays
    from glamsim.predict.stage import chunk_layers, first_stage_layers, layers_per_stage

    m = ModelArrays.of(load_model("glam-tiny").model_copy(update={"n_layers": 94, "moe_every": 2}))

    def counts(text):
        lay = LayoutArrays.of(parse_layout(text + ",gbs=96"))
        return tuple(float(f(m, lay)[0]) for f in (chunk_layers, layers_per_stage, first_stage_layers))

    assert counts("pp=8,vp=4,embed_loss=1") == (3, 12, 11)
    assert counts("pp=8,vp=4,uneven=1") == (3, 12, 12)
    assert counts("pp=32,vp=3,embed_loss=1") == (1, 3, 2)
    assert counts("pp=2,embed_loss=1") == (47, 47, 47)
    assert counts("pp=2,vp=2,embed_loss=1") == (24, 47, 47)  # ceil(96 / 4) = 24 a chunk, one slot given
    assert counts("pp=2") == (47, 47, 47)
    # the activations: the first stage's 11 layers with 2 x 7 + 3 x 8 + 1 = 39 chunks in flight
    # (Megatron's interleaved warm-up), or the second stage's 12 with 37, whichever is more:
    # 12 x 37 > 11 x 39; without embed_loss the first stage's 12 x 39
    from glamsim.predict.memory import activations

    def stored(text):
        return float(activations(m, 128, LayoutArrays.of(parse_layout(text + ",gbs=96")))["activations"][0])

    assert stored("pp=8,vp=4,embed_loss=1") == pytest.approx(stored("pp=8,vp=4,uneven=1") * 37 / 39)
    # 1F1B on 8 stages (12 slots a stage): the first stage's 11 layers x 8 microbatches in flight
    # against the second's 12 x 7, the first's 12 x 8 without embed_loss
    assert stored("pp=8,embed_loss=1") == pytest.approx(stored("pp=8,uneven=1") * 11 / 12)


@pytest.mark.parametrize("vocab", [256, 262144])
def test_under_embed_loss_the_slower_of_the_last_and_a_middle_stage_sets_the_pace(vocab):
    """6 layers + 2 slots on 4 stages: the last stage runs 1 layer and the output layer, a middle one
    2 layers, each layer with its tensor-parallel collectives (tp=2).  Every layout below has 4
    stages and 8 microbatches, so a microbatch's time is (step - optimizer) / (8 + 3) (no data
    parallelism).  The time of a layer, collectives included, is 2 layers and the output layer (8
    layers on 4 stages) less 1 layer and it (4 layers).  With a small vocabulary (the output layer
    cheaper than a layer) a middle stage sets the pace: 2 layers and the sends; with a large one
    the last stage: 1 layer and the output layer, the 4-layer model's microbatch exactly (before
    2026-12-07 the collectives were counted for 2 layers there)."""
    from glamsim.accounting import ModelArrays
    from glamsim.predict.steptime import predict
    from glamsim.predict.tiers import Fabric
    from glamsim.profiles import load_chip

    fab = Fabric.of(load_chip("h100-sxm"))

    def run(n_layers, text):
        cfg = load_model("glam-tiny-dense").model_copy(update={"n_layers": n_layers, "vocab_size": vocab})
        lay = LayoutArrays.of(parse_layout(text + ",tp=2,pp=4,mb=1,gbs=8"))
        r = predict(ModelArrays.of(cfg), 128, lay, fab)
        return {k: float(v[0]) for k, v in r.items()}

    def microbatch(r):
        return (r["step_s"] - r["optimizer_s"]) / (8 + 3)

    one, two = run(4, "uneven=1"), run(8, "uneven=1")
    assert one["tp_exposed_s"] > 0  # the collectives are part of a layer's time
    layer = microbatch(two) - microbatch(one)
    sends = one["pp_exposed_s"] / 8
    out = microbatch(one) - layer - sends
    paced = run(6, "embed_loss=1")
    embed_loss = microbatch(paced)
    # the breakdown is the pace stage's own: a middle stage's two layers of collectives, or the last's one
    if vocab == 256:
        assert out < layer and embed_loss == pytest.approx(2 * layer + sends)
        assert paced["tp_exposed_s"] == pytest.approx(two["tp_exposed_s"])
    else:
        assert out > layer and embed_loss == pytest.approx(microbatch(one))
        assert paced["tp_exposed_s"] == pytest.approx(one["tp_exposed_s"])


def test_without_embed_loss_every_stage_count_is_the_ceiling():
    """Without `embed_loss` the first and the busiest stage hold the same ceil(layers / (pp x vp)) x
    vp layers, over a grid of layer counts, stages and virtual stages (uneven splits included)."""
    from glamsim.accounting import ModelArrays
    from glamsim.predict.stage import chunk_layers, first_stage_layers, layers_per_stage

    for n_layers in (4, 7, 94, 126):
        m = ModelArrays.of(load_model("glam-tiny-dense").model_copy(update={"n_layers": n_layers}))
        for pp, vp in ((1, 1), (2, 1), (2, 2), (3, 1), (4, 2)):
            if pp * vp > n_layers:
                continue
            text = f"pp={pp},uneven=1,gbs={8 * pp}" + (f",vp={vp}" if vp > 1 else "")
            lay = LayoutArrays.of(parse_layout(text))
            want = -(-n_layers // (pp * vp))
            assert float(chunk_layers(m, lay)[0]) == want
            assert float(layers_per_stage(m, lay)[0]) == float(first_stage_layers(m, lay)[0]) == want * vp
