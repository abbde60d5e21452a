"""Communication per parallel dimension and step time (issue 14): bytes and seconds derived by hand.

Link figures used below: H100 NVLink 450 GB/s one-way, 8 GPUs a node, InfiniBand 50 GB/s per GPU,
3 us / 8 us per message inside / between nodes; TPU v4 ICI 300 GB/s on a 3-D torus; collectives
attain LINK_EFFICIENCY (0.8) of a link.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from toys import TOY_GPT

from glamsim.accounting import ModelArrays, train_flops_per_step
from glamsim.config import load_model, validate_model
from glamsim.predict import efficiency as eff
from glamsim.predict import evaluate
from glamsim.predict.collectives import data_parallel_comm, microbatch_comm
from glamsim.predict.layout import LayoutArrays, parse_layout
from glamsim.predict.stage import chip_params
from glamsim.predict.steptime import predict
from glamsim.predict.tiers import (
    Fabric,
    all_gather_s,
    allreduce_s,
    alltoall_s,
    members_per_node,
    reduce_scatter_s,
    ring_latency_s,
    sendrecv_s,
)
from glamsim.profiles import load_chip

H100 = Fabric.of(load_chip("h100-sxm"))
V4 = Fabric.of(load_chip("tpu-v4"))
NV, IB = 450e9 * eff.LINK_EFFICIENCY, 50e9 * eff.LINK_EFFICIENCY
TINY = ModelArrays.of(load_model("glam-tiny"))
GPT = ModelArrays.of(validate_model({**TOY_GPT, "max_seq_len": 32}, "test"))


def arr(text: str) -> LayoutArrays:
    return LayoutArrays.of(parse_layout(text))


def one(x) -> float:
    return float(np.asarray(x).reshape(-1)[0])


def test_placement_inner_dimensions_fill_a_node_first():
    # 8 GPUs a node: tp = 8 (stride 1) stays inside; dp at stride 8 has one member per node;
    # dp at stride 2 has 4 members per node
    assert one(members_per_node(1, 8, H100)) == 8
    assert one(members_per_node(8, 16, H100)) == 1
    assert one(members_per_node(2, 16, H100)) == 4


def test_collective_seconds_by_hand():
    b = 1e9
    # ring all-reduce of 1 GB over 8 GPUs in a node: 2 x 7/8 x 1 GB / NVLink + 2 x 7 x 3 us
    assert one(allreduce_s(b, 8, 1, 64, H100)) == pytest.approx(2 * 7 / 8 * b / NV + 14 * 3e-6)
    # over 16 nodes, one GPU in each (stride 8): 2 x 15/16 x 1 GB over InfiniBand + 30 x 8 us
    assert one(allreduce_s(b, 16, 8, 128, H100)) == pytest.approx(2 * 15 / 16 * b / IB + 30 * 8e-6)
    # 16 GPUs at stride 2: 4 per node -> reduce-scatter/all-gather inside (2 x 3/4 x 1 GB over NVLink),
    # all-reduce of 1/4 GB between 4 nodes (2 x 3/4 x 0.25 GB over InfiniBand)
    want = 2 * 3 / 4 * b / NV + 2 * 3 / 4 * (b / 4) / IB + 2 * 3 * 3e-6 + 2 * 3 * 8e-6
    assert one(allreduce_s(b, 16, 2, 128, H100)) == pytest.approx(want)
    # all-to-all of 1 GB over 16 GPUs, 8 per node: 7/16 to node peers, 8/16 off the node, at once
    want = max(b * 7 / 16 / NV, b * 8 / 16 / IB) + 7 * 3e-6 + 8 * 8e-6
    assert one(alltoall_s(b, 16, 1, 128, H100)) == pytest.approx(want)
    # a pipeline send to a stage 8 GPUs away crosses nodes; 4 away stays inside while the 2 stages
    # share a node, and crosses once 4 stages span 16 GPUs (the boundary between nodes paces them)
    assert one(sendrecv_s(b, 8, H100, 2)) == pytest.approx(b / IB + 8e-6)
    assert one(sendrecv_s(b, 4, H100, 2)) == pytest.approx(b / NV + 3e-6)
    assert one(sendrecv_s(b, 4, H100, 4)) == pytest.approx(b / IB + 8e-6)
    # on 72-GPU NVLink racks (GB200 NVL72): 4 stages 16 apart (64 GPUs) stay on NVLink, 16 stages
    # 16 apart (256 GPUs, 4 racks) cross between racks
    gb200 = Fabric.of(load_chip("gb200"))
    nv72, ib72 = 900e9 * eff.LINK_EFFICIENCY, 50e9 * eff.LINK_EFFICIENCY
    assert one(sendrecv_s(b, 16, gb200, 4)) == pytest.approx(b / nv72 + 3e-6)
    assert one(sendrecv_s(b, 16, gb200, 16)) == pytest.approx(b / ib72 + 8e-6)
    assert one(allreduce_s(b, 1, 1, 8, H100)) == 0 and one(sendrecv_s(b, 8, H100, 1)) == 0


def test_gathers_and_scatters_pay_a_ring_of_latency():
    """NCCL runs all-gather and reduce-scatter as rings: n - 1 messages, one per node boundary
    crossed between nodes, the rest inside (hand count)."""
    b = 1e9
    # 1,536 GPUs, 8 a node: 192 nodes -> 192 messages between nodes, 1,535 - 191 inside
    assert one(ring_latency_s(1536, 1, H100)) == pytest.approx(192 * 8e-6 + (1535 - 191) * 3e-6)
    assert one(ring_latency_s(8, 1, H100)) == pytest.approx(7 * 3e-6)  # one node
    # bytes as half an all-reduce (7/8 of 1 GB over NVLink, 1/8 of it per GPU over 16 nodes' NICs)
    want = 7 / 8 * b / NV + 15 / 16 * (b / 8) / IB + one(ring_latency_s(128, 1, H100))
    assert one(reduce_scatter_s(b, 128, 1, 128, H100)) == pytest.approx(want)
    assert one(all_gather_s(b, 128, 1, 128, H100)) == one(reduce_scatter_s(b, 128, 1, 128, H100))
    # latency grows with ranks, not with nodes only: doubling the ranks about doubles it
    assert one(ring_latency_s(3072, 1, H100)) > 1.9 * one(ring_latency_s(1536, 1, H100))


def test_zero3_gathers_by_parameter_pay_latency_per_tensor():
    """DeepSpeed gathers each of a GPT layer's 12 tensors, FSDP one group per layer: per
    microbatch 3 passes x (layers x groups - 1) more ring latencies; and DeepSpeed's list-form
    collectives copy each of the 1,536 ranks' chunks with a kernel of its own (3.8 us a kernel,
    NVIDIA's CUDA Graphs blog) and the gathered bytes once more through HBM, in each of the
    3 passes x 4 layers x 12 tensors collectives."""
    fsdp, ds = arr("fsdp=1536,mb=1,gbs=1536"), arr("fsdp=1536,mb=1,gbs=1536,stack=deepspeed")
    a, b = data_parallel_comm(GPT, fsdp, H100), data_parallel_comm(GPT, ds, H100)
    latency = 3 * (4 * 12 - 1 - (4 * 1 - 1)) * one(ring_latency_s(1536, 1, H100))
    w = one(chip_params(GPT, ds)[0]) * 2  # the gathered bf16 weights
    copies = 3 * (4 * 12 * 1536 * 3.8e-6 + 2 * w / H100.hbm_bytes_per_s)
    assert one(b["dp_microbatch_s"]) - one(a["dp_microbatch_s"]) == pytest.approx(latency + copies)
    assert parse_layout("fsdp=8,stack=deepspeed").stack == "deepspeed"


def test_torus_groups_use_only_the_axes_they_span():
    # a 4,096-chip v4 slice is 16 chips an axis: 16 chips span 1 of 3 axes (1/3 of the ICI links),
    # 256 span 2, 4,096 span all 3
    b, ici = 1e9, 300e9 * eff.LINK_EFFICIENCY
    for size, axes in ((16, 1), (256, 2), (4096, 3)):
        want = 2 * (size - 1) / size * b / (ici * axes / 3) + 2 * (size - 1) * 1e-6
        assert one(allreduce_s(b, size, 1, 4096, V4)) == pytest.approx(want)


def test_tensor_pipeline_context_volumes_by_hand():
    # toy GPT, s = 32, mb = 2: T = 64 tokens, one all-reduce holds T h x 2 bytes = 8,192 bytes
    c = microbatch_comm(GPT, 32, arr("tp=2,mb=2,gbs=2"), H100)
    assert one(c["tp_bytes"]) == 4 * 4 * 8192  # 4 layers x (2 forward + 2 backward)
    c = microbatch_comm(GPT, 32, arr("tp=2,mb=2,gbs=2,recompute=full"), H100)
    assert one(c["tp_bytes"]) == 4 * 6 * 8192  # + 2 in the recomputed forward
    # pp = 2: per microbatch one send forward + one backward of T h / tp (scatter/gather) x 2 bytes
    c = microbatch_comm(GPT, 32, arr("tp=2,pp=2,mb=2,gbs=4"), H100)
    assert one(c["pp_bytes"]) == 2 * 8192 / 2
    # cp = 2: per layer an all-gather of K and V over the whole sequence (2 x b s x 64 x 2 bytes),
    # and a reduce-scatter of their gradients: 4 layers x 2
    c = microbatch_comm(GPT, 32, arr("cp=2,mb=2,gbs=2"), H100)
    assert one(c["cp_bytes"]) == 4 * 2 * (2 * 2 * 2 * 32 * 64)


def test_expert_all_to_all_volume_by_hand():
    # glam-tiny, s = 128, mb = 2: 256 tokens in one group, capacity 64 x 8 experts = 2 slots a token;
    # one all-to-all holds 256 x 2 x 64 x 2 bytes = 65,536; 2 MoE layers x 4 (dispatch, combine x fwd, bwd)
    c = microbatch_comm(TINY, 128, arr("dp=4,ep=4,mb=2,gbs=8"), H100)
    assert one(c["ep_bytes"]) == 2 * 4 * 65_536
    assert one(c["ep_s"]) == pytest.approx(8 * (65_536 * 3 / 4 / NV + 3 * 3e-6))


def test_data_parallel_gradients_by_hand():
    # glam-tiny on dp = 4 with ep = 4: 182,336 non-expert parameters all-reduce over 4 chips; each
    # chip's 2 experts (131,072 parameters) have dp / ep = 1 replica: nothing to reduce
    d = data_parallel_comm(TINY, arr("dp=4,ep=4,gbs=4"), H100)
    assert one(d["dp_bytes"]) == 182_336 * 4
    assert one(d["dp_step_s"]) == pytest.approx(2 * 3 / 4 * 182_336 * 4 / NV + 6 * 3e-6)
    # ZeRO-3 moves it every microbatch: weights gathered forward and backward, gradients reduce-scattered
    z = data_parallel_comm(TINY, arr("fsdp=4,gbs=4"), H100)
    assert one(z["dp_step_s"]) == 0 and one(z["dp_microbatch_s"]) > 0


def test_step_time_composition_and_overlap_rules():
    lay = arr("tp=2,pp=4,dp=2,mb=1,gbs=16")  # 8 microbatches per data-parallel rank
    t = predict(GPT, 32, lay, H100)
    parts = (
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
    )
    assert one(t["step_s"]) == pytest.approx(sum(one(t[k]) for k in parts))
    micro = (one(t["compute_s"]) + one(t["tp_exposed_s"]) + one(t["pp_exposed_s"])) / 8
    assert one(t["bubble_s"]) == pytest.approx(3 * micro)  # (pp - 1) microbatch times
    inter_lay = arr("tp=2,pp=2,dp=4,mb=1,gbs=16,vp=2")
    inter = predict(GPT, 32, inter_lay, H100)
    # (pp - 1) / vp microbatch times, their pipeline sends all exposed (Megatron overlaps only the
    # steady phase's, and the ramps are warm-up and flush)
    sends = one(microbatch_comm(GPT, 32, inter_lay, H100)["pp_s"])
    micro = sum(one(inter[k]) for k in ("compute_s", "tp_exposed_s")) / 4 + sends
    assert one(inter["bubble_s"]) == pytest.approx(1 / 2 * micro)
    assert one(inter["pp_exposed_s"]) < 4 * sends  # the steady phase's sends hide
    # tensor-parallel overlap (a decomposed collective matmul) hides the collectives behind the
    # matmuls, all but the last chunk of each reduce-scatter: half the traffic / tp
    hidden = predict(GPT, 32, arr("tp=2,pp=4,dp=2,mb=1,gbs=16,tp_overlap=1"), H100)
    assert one(hidden["tp_exposed_s"]) < one(t["tp_exposed_s"])
    big = validate_model({**TOY_GPT, "name": "wide", "d_model": 4096, "n_heads": 32, "d_ff": 16384}, "test")
    wide = ModelArrays.of(big)
    for tp in (2, 8):
        exposed = predict(wide, 2048, arr(f"tp={tp},dp=1,sp=1,mb=1,gbs=4"), H100)
        overlapped = predict(wide, 2048, arr(f"tp={tp},dp=1,sp=1,mb=1,gbs=4,tp_overlap=1"), H100)
        # the matmuls outlast the collectives here, so exactly the fill is left
        assert one(overlapped["tp_exposed_s"]) == pytest.approx(one(exposed["tp_exposed_s"]) / (2 * tp))
        # without sequence parallelism the all-reduces' all-gather half feeds a norm: exposed as well
        plain = predict(wide, 2048, arr(f"tp={tp},dp=1,mb=1,gbs=4"), H100)
        plain_overlap = predict(wide, 2048, arr(f"tp={tp},dp=1,mb=1,gbs=4,tp_overlap=1"), H100)
        want = one(plain["tp_exposed_s"]) * (1 / 2 + 1 / (2 * tp))
        assert one(plain_overlap["tp_exposed_s"]) == pytest.approx(want)
    # MFU counts model FLOPs over chips x step x peak
    flops = one(train_flops_per_step(GPT, 16, 32))
    assert one(t["mfu"]) == pytest.approx(flops / (16 * one(t["step_s"]) * H100.peak_flops))


def test_recomputation_costs_time_and_raises_hfu_over_mfu():
    gpt3 = ModelArrays.of(load_model("gpt3-175b"))
    base = "tp=8,pp=8,dp=16,gbs=1024,flash=0"
    none, full = predict(gpt3, 2048, arr(base), H100), predict(gpt3, 2048, arr(base + ",recompute=full"), H100)
    assert one(full["recompute_s"]) > 0 and one(none["recompute_s"]) == 0
    assert one(full["step_s"]) > one(none["step_s"])
    # full recomputation adds one forward to the three passes: HFU / MFU just under 4/3 (logits not recomputed)
    assert 1.30 < one(full["hfu"]) / one(full["mfu"]) < 4 / 3
    assert one(none["hfu"]) == pytest.approx(one(none["mfu"]), rel=1e-9)


def test_recomputing_some_layers_costs_their_share_of_the_forward():
    # Megatron's block method: recompute_layers=N of each stage's 96 / 8 = 12 layers recomputed whole;
    # the recomputed forward, its TP collectives and the HFU - MFU excess scale with N / 12
    gpt3 = ModelArrays.of(load_model("gpt3-175b"))
    base = "tp=8,pp=8,dp=16,gbs=1024,flash=0,recompute=full"
    full = predict(gpt3, 2048, arr(base), H100)
    assert one(predict(gpt3, 2048, arr(base + ",recompute_layers=12"), H100)["step_s"]) == one(full["step_s"])
    none = predict(gpt3, 2048, arr(base.replace("full", "none")), H100)
    third = predict(gpt3, 2048, arr(base + ",recompute_layers=4"), H100)
    assert one(third["recompute_s"]) == pytest.approx(one(full["recompute_s"]) / 3)
    excess = one(full["hfu"]) / one(full["mfu"]) - 1
    assert one(third["hfu"]) / one(third["mfu"]) - 1 == pytest.approx(excess / 3)
    tp_none, tp_full = (
        one(microbatch_comm(gpt3, 2048, arr(t), H100)["tp_bytes"]) for t in (base.replace("full", "none"), base)
    )
    tp_third = one(microbatch_comm(gpt3, 2048, arr(base + ",recompute_layers=4"), H100)["tp_bytes"])
    assert tp_third == pytest.approx(tp_none + (tp_full - tp_none) / 3)
    assert one(none["step_s"]) < one(third["step_s"]) < one(full["step_s"])


def test_the_recomputed_share_scales_every_collective_of_the_repeated_forward():
    # a recomputed layer repeats its forward's collectives: TP 4 + 2 per layer, the experts'
    # all-to-alls 4 + 2, the context gathers 2 + 1; with 2 of 4 layers (one stage) recomputed, + 1, + 1, + 0.5
    moe = ModelArrays.of(load_model("glam-tiny"))
    keys = "tp=2,cp=2,dp=2,ep=2,mb=2,gbs=4,recompute=full"
    none, full, half = (
        microbatch_comm(moe, 128, arr(k), H100)
        for k in (keys.replace("full", "none"), keys, keys + ",recompute_layers=2")
    )
    for key in ("tp_bytes", "ep_bytes", "cp_bytes"):
        assert one(none[key]) > 0
        assert one(half[key]) == pytest.approx((one(none[key]) + one(full[key])) / 2), key
    # DeepSpeed's ZeRO-3 gathers again for each recomputed layer's forward: half the extra gather
    gpt = ModelArrays.of(load_model("gpt3-175b"))
    ds = "fsdp=8,mb=1,gbs=8,stack=deepspeed,recompute="
    z_none, z_full, z_half = (
        one(data_parallel_comm(gpt, arr(ds + k), H100)["dp_microbatch_s"])
        for k in ("none", "full", "full,recompute_layers=48")
    )
    assert z_full > z_none and z_half == pytest.approx((z_none + z_full) / 2)


def test_capacity_and_measured_router_load_set_expert_work():
    # capacity factor 2 for top-2 is exactly the routed tokens: HFU = MFU (unfused attention, so the
    # causal half is computed too); a measured max/mean load of 1.5 makes the expert matmuls slower
    # (dropless) without adding FLOPs
    lay = "dp=8,ep=8,gbs=64,flash=0"
    r = evaluate("glam-tiny", "h100-sxm", lay, chips=8)
    loaded = evaluate("glam-tiny", "h100-sxm", lay, chips=8, expert_load=1.5)
    assert loaded["step_s"] > r["step_s"]
    assert r["hfu"] / r["mfu"] == pytest.approx(1.0, rel=1e-9)
    assert loaded["hfu"] / loaded["mfu"] == pytest.approx(1.0, rel=1e-9)
    # capacity factor 4 for top-2: twice the slots, twice the expert FLOPs executed
    from glamsim.config import load_model

    padded = evaluate(load_model("glam-tiny").replace(capacity_factor=4.0), "h100-sxm", lay, chips=8)
    assert padded["hfu"] / padded["mfu"] > 1.2


def test_hybrid_sharding_shards_in_the_group_and_all_reduces_across_replicas():
    """fsdp=4,dp=2 on 8 H100 (one node): ZeRO-3 collectives over 4 ranks, then each rank's
    gradient shard (1/4 of its gradients) all-reduced over the 2 replicas (stride 4), per step, one
    gather group (layer) at a time: 4 layers, 3 further all-reduces' latency."""
    hsdp = arr("fsdp=4,dp=2,mb=1,gbs=8")
    assert (one(hsdp.dp), one(hsdp.shard), one(hsdp.zero)) == (8, 4, 3)
    c = data_parallel_comm(GPT, hsdp, H100)
    dense = one(chip_params(GPT, hsdp)[0])
    grad, w = dense * 4, dense * 2  # fp32 gradients, bf16 weights
    step = one(allreduce_s(grad / 4, 2, 4, 8, H100)) + 3 * one(allreduce_s(0.0, 2, 4, 8, H100))
    assert one(c["dp_step_s"]) == pytest.approx(step)
    groups = 3 * (4 - 1) * one(ring_latency_s(4, 1, H100))  # 4 layers, one gather group each
    z3 = one(reduce_scatter_s(grad, 4, 1, 8, H100)) + 2 * one(all_gather_s(w, 4, 1, 8, H100)) + groups
    assert one(c["dp_microbatch_s"]) == pytest.approx(z3)
    # the shard held per chip: a quarter, not an eighth
    from glamsim.predict.memory import model_states

    full = model_states(GPT, arr("fsdp=8,mb=1,gbs=8"))["optimizer"]
    assert one(model_states(GPT, hsdp)["optimizer"]) == pytest.approx(2 * one(full))


def test_fsdp_without_resharding_is_billed_as_zero_2():
    """reshard=0 (torchtitan under pipeline parallelism): one gather and one reduce-scatter per
    step, whole 16-bit weights held."""
    assert parse_layout("fsdp=8,reshard=0").zero == 2
    assert parse_layout("fsdp=8,reshard=0").compact() == parse_layout("dp=8,zero=2").compact()


def test_loss_passes_over_the_logits_as_megatron_counts_them():
    """The loss streams each of the last stage's T x V / tp logits 2 x at 16 bits and 9 x in fp32
    (Megatron-Core's fused cross entropy: 40 bytes), 12 x unfused (52 bytes), fused at 16 bits
    throughout where PyTorch's loss does not upcast (11 x 2 = 22 bytes; Megatron upcasts whatever
    `loss_upcast` says); forward and backward apart; T = mb x seq / cp; none on a stage without the
    output layer."""
    from glamsim.predict.compute import loss_s, matmul_s, microbatch_compute

    bw = H100.hbm_bytes_per_s
    cases = {
        "mb=1,gbs=1": 40,
        "mb=1,gbs=1,loss_upcast=0": 40,
        "mb=1,gbs=1,fused=0": 52,
        "mb=1,gbs=1,stack=pytorch-fsdp,loss_upcast=0,fused=1": 22,
        "mb=2,gbs=2,cp=2": 40,  # 2 sequences, each split over 2 ranks: 32 tokens on a chip
    }
    for text, per_logit in cases.items():
        fwd, bwd = loss_s(GPT, 32, arr(text), H100)
        assert one(fwd) + one(bwd) == pytest.approx(32 * 128 * per_logit / bw), text
    fwd, bwd = loss_s(GPT, 32, arr("tp=2,mb=1,gbs=1"), H100)  # the vocabulary split over 2 ranks
    assert (one(fwd), one(bwd)) == pytest.approx((32 * 64 * (2 + 6 * 4) / bw, 32 * 64 * (2 + 3 * 4) / bw))
    lay = arr("pp=2,mb=1,gbs=2")
    last, middle = (microbatch_compute(GPT, 32, lay, H100, layers=1, output=o) for o in (1.0, 0.0))
    logits = one(matmul_s(32, 64, 128, H100))  # the output layer's [32, 64] x [64, 128] forward
    fwd, bwd = (one(x) for x in loss_s(GPT, 32, lay, H100))
    assert (fwd, bwd) == pytest.approx((32 * 128 * 26 / bw, 32 * 128 * 14 / bw))
    assert one(last["forward_s"]) - one(middle["forward_s"]) == pytest.approx(logits + fwd)
    assert one(last["backward_s"]) - one(middle["backward_s"]) == pytest.approx(2 * logits + bwd)
    assert one(last["elementwise_s"]) - one(middle["elementwise_s"]) == pytest.approx(fwd + bwd)


def test_unfused_elementwise_and_fp8_casts_cost_hbm_passes():
    """Eager PyTorch (pytorch-fsdp, fused unset) pays UNFUSED_ELEMENTWISE_FACTOR x the element-wise
    traffic; fp8 adds FP8_CAST_PASSES x the linear inputs' 16-bit bytes and keeps attention at the
    16-bit peak."""
    from glamsim.predict.compute import microbatch_compute
    from glamsim.predict.memory import layer_activation_bytes

    fused, eager = arr("fsdp=8,mb=1,gbs=8,stack=pytorch-fsdp,fused=1"), arr("fsdp=8,mb=1,gbs=8,stack=pytorch-fsdp")
    a, b = microbatch_compute(GPT, 32, fused, H100), microbatch_compute(GPT, 32, eager, H100)
    act = one(layer_activation_bytes(GPT, 32, fused, 2.0))
    extra = 3 * 4 * eff.ELEMENTWISE_PASSES * (eff.UNFUSED_ELEMENTWISE_FACTOR - 1) * act / H100.hbm_bytes_per_s
    # and the unfused loss's separate maximum and subtraction: 3 more fp32 passes over 32 x 128 logits
    extra += 32 * 128 * 3 * 4 / H100.hbm_bytes_per_s
    assert one(b["elementwise_s"]) - one(a["elementwise_s"]) == pytest.approx(extra)
    f8 = Fabric.of(load_chip("h100-sxm"), "fp8")
    assert f8.peak_flops == pytest.approx(2 * H100.peak_flops, rel=1e-3) and f8.peak_flops_16bit == H100.peak_flops
    c8 = microbatch_compute(GPT, 32, fused, f8)
    # linear inputs per layer and microbatch of 32 tokens: qkv, attention out, FFN in (h, h, h) and FFN out (f)
    inputs = 32 * (64 + 64 + 64 + 256)
    cast = 3 * 4 * eff.FP8_CAST_PASSES * 2 * inputs / H100.hbm_bytes_per_s
    assert one(c8["elementwise_s"]) - one(a["elementwise_s"]) == pytest.approx(cast)
    assert one(c8["attention_s"]) == pytest.approx(one(a["attention_s"]))  # scores stay at the bf16 peak


def test_deepspeed_prefetch_hides_only_what_it_fetches_ahead():
    """DeepSpeed fetches 5e7 parameters ahead: of a 100M-parameter gather group half can hide
    behind compute, half is exposed; FSDP prefetches whole units, so none is exposed when compute
    is long enough.  Full recomputation makes DeepSpeed gather once more."""
    big = ModelArrays.of(
        validate_model(
            {
                "name": "wide",
                "n_layers": 2,
                "d_model": 8192,
                "n_heads": 64,
                "d_ff": 32768,
                "vocab_size": 128,
                "max_seq_len": 4096,
                "dense_ffn_gated": False,
                "position": "rotary",
            },
            "test",
        )
    )
    dense = one(chip_params(big, arr("fsdp=8,mb=1,gbs=8"))[0])
    group = dense / (2 * 12)  # 12 tensors per layer, 2 layers
    ahead = min(5e7 / group, 1.0)
    ds = predict(big, 4096, arr("fsdp=8,mb=1,gbs=8,stack=deepspeed"), H100)
    z3 = one(data_parallel_comm(big, arr("fsdp=8,mb=1,gbs=8,stack=deepspeed"), H100)["dp_microbatch_s"])
    compute = one(ds["compute_s"]) + one(ds["recompute_s"])
    want = (1 - ahead) * z3 + max(ahead * z3 - compute, 0.0) + ahead * z3 / 2
    assert 0 < ahead < 1 and one(ds["dp_exposed_s"]) == pytest.approx(
        want + one(data_parallel_comm(big, arr("fsdp=8,mb=1,gbs=8,stack=deepspeed"), H100)["dp_step_s"])
    )
    full = data_parallel_comm(big, arr("fsdp=8,mb=1,gbs=8,stack=deepspeed,recompute=full"), H100)
    fsdp_full = data_parallel_comm(big, arr("fsdp=8,mb=1,gbs=8,stack=pytorch-fsdp,recompute=full"), H100)
    w = dense * 2
    extra_ds = (
        one(all_gather_s(w, 8, 1, 8, H100))
        + (2 * 12 - 1) * one(ring_latency_s(8, 1, H100))
        + 2 * 12 * 8 * 3.8e-6  # a copy kernel per rank in each of the 24 regathers
        + 2 * w / H100.hbm_bytes_per_s  # and the regathered bytes copied once
    )
    extra_fsdp = 0.0
    base_ds = one(data_parallel_comm(big, arr("fsdp=8,mb=1,gbs=8,stack=deepspeed"), H100)["dp_microbatch_s"])
    base_fsdp = one(data_parallel_comm(big, arr("fsdp=8,mb=1,gbs=8,stack=pytorch-fsdp"), H100)["dp_microbatch_s"])
    assert one(full["dp_microbatch_s"]) - base_ds == pytest.approx(extra_ds)
    assert one(fsdp_full["dp_microbatch_s"]) - base_fsdp == pytest.approx(extra_fsdp)


def test_fused_attention_runs_at_its_published_rate_each_way():
    """Shah et al. 2024 (FlashAttention-3, arXiv:2407.08608), H100 SXM, head dim 128, 16k tokens:
    FlashAttention-2 335 TFLOP/s forward (causal) and 322 backward (non-causal), cuDNN 539 and 516,
    FlashAttention-3 616 and 561; the backward made causal by the cuDNN frontend benchmark's
    causal / non-causal backward rates of the same kernels at 16k (cuDNN 497.68 / 538.46,
    FlashAttention-2 305.18 / 308.87; none for FlashAttention-3); cuDNN 9.19 on an H200 (NVIDIA's
    cuDNN frontend benchmark, causal, 16k) 673 and 579.  Two
    16k-token heads of 128 (long enough that the roll-off is within 2%): the backward pass over
    the same FLOPs takes 335 / 318 (FA-2) and 539 / 477 (cuDNN) of the forward's time, and the
    forward takes the FLOPs over the published rate at the sustained clock of a training run: the
    benchmark's burst rate x the H100's sustained / burst matmul rate, 698.6 / 794.5 TFLOP/s (MSMF
    on 8 H200s at once, MAMF of an H100 SXM; ml-engineering); the 500 W part at 614.3 / 794.5."""
    from glamsim.predict.compute import attention_s

    s, d = 16384, 128
    shapes = {"qk": (s, d, s, 2.0)}  # two heads of [s, d] x [d, s]
    flops = 2 * 2.0 * s * d * s
    low_power = Fabric.of(load_chip("h100-hbm2e-96gb"))
    # each stack's kernel, and a named kernel over the stack's (NeMo Automodel: PyTorch FSDP2 with
    # Transformer Engine's cuDNN attention; Megatron with FlashAttention-2)
    fa2_bwd, cudnn_bwd = 322e12 * 305.18 / 308.87, 516e12 * 497.68 / 538.46
    cases = (
        ("stack=pytorch-fsdp", 335e12, fa2_bwd),
        ("stack=megatron", 539e12, cudnn_bwd),
        ("stack=pytorch-fsdp,attn=cudnn", 539e12, cudnn_bwd),
        ("stack=megatron,attn=flash2", 335e12, fa2_bwd),
        ("stack=pytorch-fsdp,attn=flash3", 616e12, 561e12),
        # cuDNN 9.19 (NVIDIA's cuDNN frontend benchmark on an H200, causal, 16k: 673 and 579)
        ("stack=megatron,attn=cudnn-9.19", 673e12, 579e12),
    )
    for keys, fwd, bwd in cases:
        lay = arr(f"dp=8,gbs=8,{keys}")
        f = one(attention_s(shapes, lay, H100, head_dim=d))
        b = one(attention_s(shapes, lay, H100, head_dim=d, backward=True))
        assert b / f == pytest.approx(fwd / bwd)
        assert f == pytest.approx(flops / (fwd * 698.6 / 794.5), rel=0.02)
        # the 500 W part: the fraction of its own (estimated) peak, at its sustained clock
        f_low = one(attention_s(shapes, lay, low_power, head_dim=d))
        assert f_low == pytest.approx(flops / (fwd / 989 * 912 * 614.3 / 794.5 * 989 / 912), rel=0.02)
    # B200 (cuDNN frontend's training benchmark, bf16, head dim 128, causal, 16k): cuDNN 1,332 and
    # 1,075 TFLOP/s, FlashAttention-2 425 and 337, at the B200's sustained / burst matmul rate,
    # 1,426.4 / 1,751.2 (MSMF on 8 B200s at once, MAMF; ml-engineering)
    b200 = Fabric.of(load_chip("b200"))
    for keys, fwd, bwd in (("stack=megatron", 1332.42e12, 1074.78e12), ("stack=pytorch-fsdp", 425.13e12, 336.64e12)):
        lay = arr(f"dp=8,gbs=8,{keys}")
        f = one(attention_s(shapes, lay, b200, head_dim=d))
        b = one(attention_s(shapes, lay, b200, head_dim=d, backward=True))
        assert b / f == pytest.approx(fwd / bwd)
        assert f == pytest.approx(flops / (fwd * 1426.4 / 1751.2), rel=0.02)
    # a stack without a published kernel rate (xla on a GPU), or a kernel without one on the chip
    # (cuDNN on an A100, FlashAttention-3 on a B200), runs attention as matmuls at the roof
    half = eff.matmul_half_dim(H100.peak_flops, H100.hbm_bytes_per_s)
    roll = d / (d + half) * s / (s + half) * s / (s + half)
    assert one(attention_s(shapes, arr("dp=8,gbs=8,stack=xla,flash=1"), H100, head_dim=d)) == pytest.approx(
        flops / (989e12 * eff.MATMUL_PEAK_FRACTION * H100.matmul_relative * roll), rel=1e-6
    )
    a100 = Fabric.of(load_chip("a100-80gb"))
    half = eff.matmul_half_dim(a100.peak_flops, a100.hbm_bytes_per_s)
    roll = d / (d + half) * s / (s + half) * s / (s + half)
    assert one(attention_s(shapes, arr("dp=8,gbs=8,attn=cudnn"), a100, head_dim=d)) == pytest.approx(
        flops / (312e12 * eff.MATMUL_PEAK_FRACTION * a100.matmul_relative * roll), rel=1e-6
    )
    # and FlashAttention-3, written for Hopper, or cuDNN 9.19, measured on Hopper only, on a B200
    half = eff.matmul_half_dim(b200.peak_flops, b200.hbm_bytes_per_s)
    roll = d / (d + half) * s / (s + half) * s / (s + half)
    for kernel in ("flash3", "cudnn-9.19"):
        assert one(attention_s(shapes, arr(f"dp=8,gbs=8,attn={kernel}"), b200, head_dim=d)) == pytest.approx(
            flops / (2250e12 * eff.MATMUL_PEAK_FRACTION * b200.matmul_relative * roll), rel=1e-6
        )


def test_fused_attention_rate_follows_the_published_head_dimension_figures():
    """Shah et al. 2024, H100 SXM at 16k: forward (causal) at head dims 64 / 128 / 256,
    FlashAttention-2 299 / 335 / 298 TFLOP/s, cuDNN 388 / 539 / 509, FlashAttention-3 473 / 616 /
    642; backward (non-causal) at 64 / 128, 291 / 322, 433 / 516, 474 / 561.  Two 16k-token heads
    at each width, in both score orientations (Q K^T: [s, d] x [d, s]; A V: [s, s] x [s, d]): the
    time per FLOP at 128 over the time per FLOP at d is the published rate at d over the one at 128,
    for a named kernel and for the kernel a stack runs (Megatron: cuDNN; PyTorch: FlashAttention-2),
    on the H100 and, the same factor, on a B200 (cuDNN) and an A100 (FlashAttention-2); 96 sits
    halfway in log2 between 64 and 128; widths beyond the figures hold the end points (32 as 64,
    512 as 256); the backward above 128 takes the forward's factor."""
    import math

    from glamsim.predict.compute import attention_s

    s = 16384
    published = {  # kernel: ({head dim: forward}, {head dim: backward})
        "flash2": ({32: 299, 64: 299, 128: 335, 256: 298, 512: 298}, {32: 291, 64: 291, 128: 322}),
        "cudnn": ({32: 388, 64: 388, 128: 539, 256: 509, 512: 509}, {32: 433, 64: 433, 128: 516}),
        "flash3": ({32: 473, 64: 473, 128: 616, 256: 642, 512: 642}, {32: 474, 64: 474, 128: 561}),
        # cuDNN 9.19 has no full-causal figure off 128: cuDNN 9.1.1's ratios
        "cudnn-9.19": ({32: 388, 64: 388, 128: 539, 256: 509, 512: 509}, {32: 433, 64: 433, 128: 516}),
    }
    halfway = math.log2(96) - 6

    def per_flop(keys, d, chip=H100, backward=False, orientation="qk"):
        shapes = {"qk": (s, d, s, 2.0)} if orientation == "qk" else {"av": (s, s, d, 2.0)}
        seconds = attention_s(shapes, arr(f"dp=8,gbs=8,{keys}"), chip, head_dim=d, backward=backward)
        return one(seconds) / (4.0 * s * d * s)

    a100, b200 = Fabric.of(load_chip("a100-80gb")), Fabric.of(load_chip("b200"))
    cases = [(f"attn={k}", k, H100) for k in published]
    cases += [("stack=megatron", "cudnn", H100), ("stack=pytorch-fsdp", "flash2", H100)]
    cases += [("attn=cudnn", "cudnn", b200), ("stack=megatron", "flash2", a100)]
    for keys, kernel, chip in cases:
        fwd, bwd = published[kernel]
        for orientation in ("qk", "av"):
            base = per_flop(keys, 128, chip, orientation=orientation)
            for d, rate in fwd.items():
                assert base / per_flop(keys, d, chip, orientation=orientation) == pytest.approx(rate / fwd[128])
            mid = fwd[64] / fwd[128] + halfway * (1 - fwd[64] / fwd[128])
            assert base / per_flop(keys, 96, chip, orientation=orientation) == pytest.approx(mid)
        base_b = per_flop(keys, 128, chip, backward=True)
        for d, rate in bwd.items():
            assert base_b / per_flop(keys, d, chip, backward=True) == pytest.approx(rate / bwd[128])
        mid_b = bwd[64] / bwd[128] + halfway * (1 - bwd[64] / bwd[128])
        assert base_b / per_flop(keys, 96, chip, backward=True) == pytest.approx(mid_b)
        assert base_b / per_flop(keys, 256, chip, backward=True) == pytest.approx(fwd[256] / fwd[128])


def test_a_step_takes_the_models_head_dimension_not_a_shorter_sequence():
    """A microbatch of 64 tokens through 128-wide heads: its kernels run at their 128-wide rates
    (the sequence, not the head, is the thin side).  FlashAttention-2 over cuDNN on an H100: the
    forward FLOPs F at 335 against 539 TFLOP/s, the backward 2.5 F (Q K^T recomputed) at 318.16
    against 476.92 (322 and 516 made causal), each at its published sweep's shortest sequence
    (4k: FlashAttention-2 314.06 / 324.77 forward, 248.76 / 305.18 backward; cuDNN 542.32 / 586.82,
    443.60 / 497.68), everything else alike: 1.6133 (at the 64-wide rates it would be 1.442)."""
    from glamsim.predict.compute import microbatch_compute

    cfg = validate_model(
        dict(name="t", n_layers=2, d_model=1024, n_heads=8, d_ff=4096, vocab_size=1000, max_seq_len=64),
        "t",
    )
    m = ModelArrays.of(cfg)

    def attention(kernel):
        return one(microbatch_compute(m, 64, arr(f"dp=8,gbs=8,attn={kernel}"), H100)["attention_s"])

    fa2 = (335 * 314.06 / 324.77, 322 * 305.18 / 308.87 * 248.76 / 305.18)
    cudnn = (539 * 542.32 / 586.82, 516 * 497.68 / 538.46 * 443.60 / 497.68)
    expected = (1 / fa2[0] + 2.5 / fa2[1]) / (1 / cudnn[0] + 2.5 / cudnn[1])
    assert expected == pytest.approx(1.6133, abs=1e-4)
    assert attention("flash2") / attention("cudnn") == pytest.approx(expected, rel=1e-9)


def test_fused_attention_rate_follows_the_published_sequence_sweeps():
    """A kernel's rate by sequence over its 16k rate, from the vendor sweeps (causal, 128-wide):
    cuDNN on an H100 (NVIDIA's cuDNN frontend benchmark) 542.32 / 572.86 / 586.82 TFLOP/s forward at
    4k / 8k / 16k, 443.60 / 463.54 / 497.68 backward; FlashAttention-2 (PyTorch's SDPA) at 32k and
    64k 345.30 and 342.65 against 324.77; cuDNN 9.19 on an H200 591 at 4k against 673; on a B200,
    cuDNN 855.68 and 701.27 at 4k against 1,332.42 and 1,074.78, FlashAttention-2 342.99 at 4k (its
    shortest point: the batch-1 sweeps start at 4k) against 425.13.  Between points linear in log2
    (6k sits 0.585 of the way from 4k to 8k); beyond them held (1k as 4k, 1M as 64k).  Context
    parallelism: at a rank's queries, S / cp: 16k on cp 2 runs at the 8k rate.  FlashAttention-2 on
    an A100 and FlashAttention-3 on an H100 have no sweep: the roll-off as before."""
    import math

    from glamsim.predict.compute import attention_s

    def per_flop(keys, s, chip=H100, backward=False, cp=1):
        shapes = {"qk": (s / cp, 128, s, 2.0)}
        lay = arr(f"dp=8,gbs=8,cp={cp},{keys}" if cp > 1 else f"dp=8,gbs=8,{keys}")
        return one(attention_s(shapes, lay, chip, head_dim=128, backward=backward)) / (4.0 * s / cp * 128 * s)

    def factor(keys, s, chip=H100, backward=False, cp=1):  # the rate at s over the 16k rate
        return per_flop(keys, 16384, chip, backward) / per_flop(keys, s, chip, backward, cp)

    assert factor("stack=megatron", 4096) == pytest.approx(542.32 / 586.82)
    assert factor("stack=megatron", 8192, backward=True) == pytest.approx(463.54 / 497.68)
    assert factor("stack=megatron", 1024) == pytest.approx(542.32 / 586.82)
    w = math.log2(6144) - 12
    assert factor("stack=megatron", 6144) == pytest.approx((542.32 + w * (572.86 - 542.32)) / 586.82)
    assert factor("stack=pytorch-fsdp", 32768) == pytest.approx(345.30 / 324.77)
    assert factor("stack=pytorch-fsdp", 2**20) == pytest.approx(342.65 / 324.77)
    assert factor("attn=cudnn-9.19", 2048) == pytest.approx(591 / 673)
    b200 = Fabric.of(load_chip("b200"))
    assert factor("stack=megatron", 4096, b200) == pytest.approx(855.68 / 1332.42)
    assert factor("stack=megatron", 4096, b200, backward=True) == pytest.approx(701.27 / 1074.78)
    assert factor("stack=pytorch-fsdp", 512, b200) == pytest.approx(342.99 / 425.13)
    assert factor("stack=megatron", 16384, cp=2) == pytest.approx(572.86 / 586.82)
    for keys, chip in (("stack=megatron", Fabric.of(load_chip("a100-80gb"))), ("attn=flash3", H100)):
        half = eff.matmul_half_dim(chip.peak_flops, chip.hbm_bytes_per_s)
        rolled = (4096 / (4096 + half)) ** 2 / (16384 / (16384 + half)) ** 2
        assert factor(keys, 4096, chip) == pytest.approx(rolled)


def test_a_chip_runs_its_matmuls_at_its_sustained_rate_against_the_reference():
    """A large matmul runs at MATMUL_PEAK_FRACTION x the chip's sustained rate relative to the A100's
    (each over its own peak), 16-bit and fp8 alike; a chip without a measurement keeps the reference
    fraction.  By hand: the A100 sustains 271.2 x 1305 / 1410 = 251.0 of 312 TFLOP/s (80.45%), the
    GH100 at 700 W 698.6 of 989 (70.64%): 0.8780; held to 500 W, 698.6 x (425 / 625)^(1/3) = 614.3 of
    the 96 GB part's 912 (67.36%): 0.8373."""
    from glamsim.predict.compute import matmul_s

    a100 = 271.2e12 * 1305 / 1410 / 312e12
    assert H100.matmul_relative == pytest.approx(698.6 / 989 / a100, rel=1e-3)
    assert H100.matmul_relative == pytest.approx(0.8780, abs=2e-4)
    low_power = Fabric.of(load_chip("h100-hbm2e-96gb"))
    assert low_power.matmul_relative == pytest.approx(698.6 * (425 / 625) ** (1 / 3) / 912 / a100, rel=1e-3)
    assert Fabric.of(load_chip("a100-80gb")).matmul_relative == pytest.approx(1.0)
    assert V4.matmul_relative == 1.0  # no published rate for a TPU v4: the reference fraction
    # TPU v5e: XLA's 8192^3 bf16 matmul at 181.8 of 197 TFLOP/s (92.3%, the JAX Pallas guide), fixed clock
    assert Fabric.of(load_chip("tpu-v5e")).matmul_relative == pytest.approx(181.8 / 197 / a100, rel=1e-3)

    n = 16384  # large enough that the roll-off is near 1, computed exactly below
    # fp8: the measured fp8 / bf16 matmul efficiency of the chip's generation (ml-engineering MAMF
    # table): H100 70.9% / 80.3% (the H200, the same die, alike), B200 76.3% / 77.6%
    ratio = {"h100-sxm": 0.7087 / 0.8033, "h200": 0.7087 / 0.8033, "b200": 0.7628 / 0.7756}
    fp8 = [Fabric.of(load_chip(c), "fp8") for c in ratio]
    for fab in (H100, V4, *fp8):
        half = eff.matmul_half_dim(fab.peak_flops_16bit or fab.peak_flops, fab.hbm_bytes_per_s)
        frac = eff.MATMUL_PEAK_FRACTION * (ratio[fab.name] if fab.fp8_linears else 1.0)
        want = 2 * n**3 / (fab.peak_flops * frac * fab.matmul_relative * (n / (n + half)) ** 3)
        assert one(matmul_s(n, n, n, fab)) == pytest.approx(want, rel=1e-3)
    # the roof never exceeds the peak, whatever a profile's sustained rate (0.85 x relative capped at 1)
    fast = dataclasses.replace(H100, matmul_relative=2.0)
    assert one(matmul_s(n, n, n, fast)) == pytest.approx(2 * n**3 / (fast.peak_flops * _roll(fast, n)))
    # the same matmul on the 500 W part takes its lower sustained rate's time, whatever its peak estimate
    t_sxm, t_low = one(matmul_s(n, n, n, H100)), one(matmul_s(n, n, n, low_power))
    assert t_low / t_sxm == pytest.approx((625 / 425) ** (1 / 3) * _roll(H100, n) / _roll(low_power, n), rel=1e-3)


def _roll(fab, n):
    half = eff.matmul_half_dim(fab.peak_flops_16bit or fab.peak_flops, fab.hbm_bytes_per_s)
    return (n / (n + half)) ** 3


def test_megatron_interleaved_schedule_overlaps_its_steady_pipeline_sends():
    """Megatron's interleaved schedule posts each chunk's send beside the next step's compute
    (overlap_p2p_comm, its default with virtual stages), except in the warm-up and the flush:
    pp 4, vp 2, 16 microbatches = 32 chunks, of which 2 x 3 + 1 x 4 = 10 each way are warm-up and
    flush.  A microbatch's 2 vp = 4 sends of 1 s each, against chunks of 1 s forward and 2 s
    backward (a microbatch's 2 s and 4 s over 2 chunks): only the warm share shows, 10/32 of the
    4 s.  Against chunks of 0.25 s and 0.5 s, a forward send shows 0.5 s beyond a backward chunk,
    a backward send 0.75 s beyond a forward one.  1F1B (vp 1) and other stacks keep every send
    exposed."""
    from glamsim.predict.steptime import pipeline_exposed_s

    def arr(text):
        return LayoutArrays.of(parse_layout(text))

    inter = arr("pp=4,vp=2,gbs=16")
    assert inter.microbatches[0] == 16
    assert float(pipeline_exposed_s(4.0, 2.0, 4.0, inter)[0]) == pytest.approx(10 / 32 * 4)
    steady = 2 * (0.5 + 0.75)  # vp x (forward send + backward send) per microbatch
    assert float(pipeline_exposed_s(4.0, 0.5, 1.0, inter)[0]) == pytest.approx(10 / 32 * 4 + 22 / 32 * steady)
    for other in ("pp=4,gbs=16", "pp=4,vp=2,gbs=16,stack=pytorch-fsdp"):
        assert float(pipeline_exposed_s(4.0, 2.0, 4.0, arr(other))[0]) == 4.0
    # fewer chunks than the warm-up would hold: every send is a warm-up or flush send
    assert float(pipeline_exposed_s(4.0, 2.0, 4.0, arr("pp=4,vp=2,gbs=4"))[0]) == pytest.approx(4.0)
    # blocking sends (`pp_overlap=0`, Megatron-LM's 2021-2022 `_communicate`): all 4 s exposed; a
    # stack told it overlaps (`pp_overlap=1`) hides the steady ones as Megatron does
    assert float(pipeline_exposed_s(4.0, 2.0, 4.0, arr("pp=4,vp=2,gbs=16,pp_overlap=0"))[0]) == 4.0
    told = arr("pp=4,vp=2,gbs=16,stack=pytorch-fsdp,pp_overlap=1")
    assert float(pipeline_exposed_s(4.0, 2.0, 4.0, told)[0]) == pytest.approx(10 / 32 * 4)


def test_data_parallel_buckets_each_pay_their_ring_latency():
    """Below ZeRO-3 each gradient bucket is a collective of its own (hand count): Llama 2 7B on
    tp=8 x dp=96 H100 (one rank of each dp group a node: 96 messages a ring, 8 us each), ZeRO-1
    with fp32 gradients; a chip's share takes ceil(share x 4 bytes / bucket) buckets, each further
    one a reduce-scatter and an all-gather more of latency."""
    llama = ModelArrays.of(load_model("llama-2-7b"))
    base = data_parallel_comm(llama, arr("tp=8,dp=96,zero=1,gbs=96,bucket_mb=1048576"), H100)  # one bucket
    share = one(chip_params(llama, arr("tp=8,dp=96,gbs=96"))[0])
    ring = 96 * 8e-6
    assert one(ring_latency_s(96, 8, H100)) == pytest.approx(ring)
    for mib in (25, 100):
        buckets = np.ceil(share * 4 / (mib * 2**20))
        assert buckets > 1
        d = data_parallel_comm(llama, arr(f"tp=8,dp=96,zero=1,gbs=96,bucket_mb={mib}"), H100)
        assert one(d["dp_step_s"]) - one(base["dp_step_s"]) == pytest.approx(2 * (buckets - 1) * ring)
    # ZeRO-0 all-reduces each bucket: its latency is the all-reduce's (2 passes over the 96 nodes)
    d0 = data_parallel_comm(llama, arr("tp=8,dp=96,gbs=96,bucket_mb=100"), H100)
    z0 = data_parallel_comm(llama, arr("tp=8,dp=96,gbs=96,bucket_mb=1048576"), H100)
    buckets = np.ceil(share * 4 / (100 * 2**20))
    assert one(d0["dp_step_s"]) - one(z0["dp_step_s"]) == pytest.approx((buckets - 1) * 2 * 95 * 8e-6)
    # Megatron-Core's own buckets grow with dp (1e6 parameters a rank): 96e6 here
    mc = data_parallel_comm(llama, arr("tp=8,dp=96,zero=1,gbs=96"), H100)
    assert one(mc["dp_step_s"]) - one(base["dp_step_s"]) == pytest.approx(2 * (np.ceil(share / 96e6) - 1) * ring)


def test_each_stack_buckets_its_gradients_as_its_code_does():
    """Parameters per bucket (`efficiency.dp_buckets`): Megatron-Core max(4e7, 1e6 x dp), DeepSpeed
    5e8, PyTorch DDP 25 MiB of gradients, FSDP one collective per wrapped layer, XLA one per step;
    `bucket_mb` overrides any of them below ZeRO-3."""
    n, layers = np.array([1.0e9]), np.array([12.0])

    def buckets(text: str, group: float) -> float:
        return one(eff.dp_buckets(n, arr(text), group, layers))

    assert buckets("dp=16,zero=1,gbs=16", 16) == 25  # 1e9 / 4e7
    assert buckets("dp=256,zero=1,gbs=256", 256) == 4  # 1e9 / 2.56e8, rounded up
    assert buckets("dp=16,zero=1,gbs=16,stack=deepspeed", 16) == 2  # 1e9 / 5e8
    assert buckets("dp=16,gbs=16,stack=pytorch-fsdp", 16) == np.ceil(1e9 * 4 / (25 * 2**20))  # DDP, fp32
    assert buckets("fsdp=16,reshard=0,gbs=16,stack=pytorch-fsdp", 16) == 12  # a unit per layer
    assert buckets("dp=16,zero=1,gbs=16,stack=xla", 16) == 1
    assert buckets("dp=16,zero=1,gbs=16,grads=bf16,bucket_mb=100", 16) == np.ceil(1e9 * 2 / (100 * 2**20))
    assert one(eff.dp_buckets(np.array([0.0]), arr("dp=16,gbs=16"), 16, layers)) == 0  # nothing to reduce


def test_buckets_apply_to_hybrid_replicas_and_searched_rows():
    """Below ZeRO-3 hybrid sharding all-reduces across the replicas in the stack's pieces: FSDP's
    units (one more all-reduce latency per further layer), Megatron's buckets (the toy GPT's few
    parameters one bucket); a searched row keeps its buckets, and ZeRO-3 none."""
    from glamsim.predict.layout import Layout

    n, layers = np.array([1.0e9]), np.array([12.0])
    # FSDP: a collective per unit at zero 2-3, DDP's 25 MiB buckets at zero 0-1
    assert one(eff.dp_buckets(n, arr("fsdp=16,dp=2,gbs=32,stack=pytorch-fsdp"), 32, layers)) == 12
    assert one(eff.dp_buckets(n, arr("dp=16,zero=1,gbs=16,stack=pytorch-fsdp"), 16, layers)) == np.ceil(
        1e9 * 4 / (25 * 2**20)
    )
    # FSDP keeping its weights (zero 2) hybrid on 16 H100: 4 layers, 3 more cross-replica all-reduces
    # of latency than Megatron's one bucket (4e7 parameters hold the toy GPT's share)
    assert one(eff.dp_buckets(chip_params(GPT, arr("dp=16,zero=2,gbs=16"))[0], arr("dp=16,zero=2,gbs=16"), 16, 4)) == 1
    hsdp = arr("fsdp=8,dp=2,reshard=0,mb=1,gbs=16,stack=pytorch-fsdp")
    single = arr("fsdp=8,dp=2,reshard=0,mb=1,gbs=16")
    extra = 3 * one(allreduce_s(0.0, 2, 8, 16, H100)) + 2 * 3 * one(ring_latency_s(8, 1, H100))
    fsdp_step, megatron_step = (one(data_parallel_comm(GPT, x, H100)["dp_step_s"]) for x in (hsdp, single))
    assert fsdp_step - megatron_step == pytest.approx(extra)
    # a searched row keeps its buckets below ZeRO-3 and drops them at ZeRO-3
    rows = LayoutArrays.of([parse_layout("dp=8,zero=1,gbs=8,bucket_mb=100"), parse_layout("fsdp=8,gbs=8")])
    assert rows.layout(0, Layout()).bucket_mb == 100 and rows.layout(1, Layout()).bucket_mb is None


def test_weight_gather_hides_behind_the_next_forward_only_where_the_stack_issues_it_there():
    """At ZeRO 1-2 the gradients' reduce-scatter hides behind the last backward and the updated
    weights' all-gather behind the next step's first forward (Megatron-Core's overlap_param_gather,
    the stack's default) or nowhere (DeepSpeed's gather in step(), `gather_overlap=0`); each hidden
    collective leaves one layer's share exposed. Llama 2 7B on tp=8 x dp=96 H100, one microbatch
    of 4,096 tokens, 100 MiB buckets of fp32 gradients, whose exchange outlasts both windows; by
    hand from the collectives (the reduction: the reduce-scatter with a ring of latency for each
    further bucket) and the microbatch's passes."""
    from glamsim.predict.compute import microbatch_compute

    llama = ModelArrays.of(load_model("llama-2-7b"))
    text = "tp=8,dp=96,zero=1,mb=1,gbs=96,sp=1,bucket_mb=100"
    dp = data_parallel_comm(llama, arr(text), H100)
    step, gather = one(dp["dp_step_s"]), one(dp["dp_gather_s"])
    c = microbatch_compute(llama, 4096, arr(text), H100)
    fwd, bwd = one(c["forward_s"]), one(c["backward_s"])
    layers = 32  # pp=1: every layer on the chip
    share = one(chip_params(llama, arr(text))[0])
    buckets = np.ceil(share * 4 / (100 * 2**20))
    ring = (buckets - 1) * 96 * 8e-6  # a reduce-scatter's or a gather's further buckets' latency
    assert gather == pytest.approx(one(all_gather_s(share * 2, 96, 8, 768, H100)) + ring)
    reduce = step - gather
    assert reduce == pytest.approx(one(reduce_scatter_s(share * 4, 96, 8, 768, H100)) + ring)
    assert gather > fwd and reduce > bwd  # neither window hides its collective whole
    hidden = one(predict(llama, 4096, arr(text), H100)["dp_exposed_s"])
    assert hidden == pytest.approx((reduce - bwd) + reduce / layers + (gather - fwd) + gather / layers)
    exposed = one(predict(llama, 4096, arr(text + ",gather_overlap=0"), H100)["dp_exposed_s"])
    assert exposed == pytest.approx((reduce - bwd) + reduce / layers + gather)
    # DeepSpeed exposes it by default (its buckets of 5e8 elements: predicted with its own)
    ds = "tp=8,dp=96,zero=1,mb=1,gbs=96,sp=1,stack=deepspeed"
    by_default, named_off, named_on = (
        one(predict(llama, 4096, arr(ds + extra), H100)["dp_exposed_s"])
        for extra in ("", ",gather_overlap=0", ",gather_overlap=1")
    )
    assert by_default == named_off > named_on
    # ZeRO-0 all-reduces and gathers nothing; ZeRO-3 gathers per microbatch, not here
    assert one(data_parallel_comm(llama, arr("tp=8,dp=96,mb=1,gbs=96"), H100)["dp_gather_s"]) == 0
    assert one(data_parallel_comm(llama, arr("tp=8,fsdp=96,mb=1,gbs=96"), H100)["dp_gather_s"]) == 0


def test_the_gather_includes_the_experts_and_leaves_the_replicas_all_reduce_with_the_reduction():
    """An MoE at ZeRO-1 gathers its experts' weights over their own data-parallel group too, and
    hybrid sharding's all-reduce across replicas (in the backward) stays with the reduction: the
    gather is exactly the weights' all-gathers, by hand."""
    moe = data_parallel_comm(TINY, arr("dp=8,ep=4,zero=1,mb=1,gbs=8"), H100)
    dense_w, expert_w = (x * 2 for x in chip_params(TINY, arr("dp=8,ep=4,zero=1,mb=1,gbs=8")))
    assert one(expert_w) > 0
    want = one(all_gather_s(dense_w, 8, 1, 8, H100)) + one(all_gather_s(expert_w, 2, 4, 8, H100))
    assert one(moe["dp_gather_s"]) == pytest.approx(want)  # one bucket each: no further latency
    hsdp = data_parallel_comm(GPT, arr("fsdp=4,dp=2,reshard=0,mb=1,gbs=8"), H100)
    w = one(chip_params(GPT, arr("fsdp=4,dp=2,reshard=0,mb=1,gbs=8"))[0]) * 2
    assert one(hsdp["dp_gather_s"]) == pytest.approx(one(all_gather_s(w, 4, 1, 8, H100)))
    replicas = one(allreduce_s(w * 2 / 4, 2, 4, 8, H100))  # fp32 gradient shards across 2 replicas
    assert one(hsdp["dp_step_s"]) - one(hsdp["dp_gather_s"]) > replicas


def test_a_searched_row_keeps_the_named_gather_and_zero3_drops_it():
    """`gather_overlap` is software the plan keeps: a searched row below ZeRO-3 carries the named
    value into its arrays and back into its layout, and a ZeRO-3 row (which gathers per
    microbatch) none."""
    from glamsim.predict.layout import Layout

    base = parse_layout("dp=8,zero=1,gbs=8,gather_overlap=0")
    rows = LayoutArrays.of([base, parse_layout("fsdp=8,gbs=8")])
    assert list(rows.gather_overlap) == [0.0, 1.0]  # named, then Megatron's default
    assert rows.layout(0, base).gather_overlap is False and rows.layout(1, base).gather_overlap is None
    assert parse_layout(rows.layout(0, base).compact()) == rows.layout(0, base)
    assert rows.layout(0, Layout()).gather_overlap is None  # a base naming none keeps the stack's


def test_pytorch_exposes_its_zero1_gather_and_hides_its_fsdp_zero2_one():
    """PyTorch's ZeRO-1 (ZeroRedundancyOptimizer) syncs the updated shards in step(): the gather is
    exposed, as `gather_overlap=0` says; FSDP keeping its weights (ZeRO-2) gathers each unit at its
    first forward: hidden, as `gather_overlap=1` says, end to end through the step's prediction."""
    llama = ModelArrays.of(load_model("llama-2-7b"))

    def exposed(text):
        return one(predict(llama, 4096, arr(text), H100)["dp_exposed_s"])

    z1 = "tp=8,dp=96,zero=1,mb=1,gbs=96,sp=1,stack=pytorch-fsdp"
    assert exposed(z1) == exposed(z1 + ",gather_overlap=0") > exposed(z1 + ",gather_overlap=1")
    z2 = "tp=8,fsdp=96,reshard=0,mb=1,gbs=96,sp=1,stack=pytorch-fsdp"
    assert exposed(z2) == exposed(z2 + ",gather_overlap=1") < exposed(z2 + ",gather_overlap=0")


def test_the_gradient_reduction_hides_behind_the_last_backward_only_where_the_stack_reduces_there():
    """A step's gradient reduction below ZeRO-3 runs in the last microbatch's backward, its last
    bucket (one layer's share) after it, where the stack reduces there (Megatron-Core's
    overlap_grad_reduce, PyTorch DDP's hooks: `grad_overlap=1`); after the backward, all of it
    exposed, where it does not (DeepSpeed ZeRO 0-2's default, Megatron-LM's 2021 local DDP:
    `grad_overlap=0`). Llama 2 7B on tp=8 x dp=96 H100 at ZeRO-0 (nothing gathered), one microbatch
    whose backward hides part of the all-reduce; by hand from the collectives and the microbatch."""
    from glamsim.predict.compute import microbatch_compute

    llama = ModelArrays.of(load_model("llama-2-7b"))
    text = "tp=8,dp=96,mb=1,gbs=96,sp=1,bucket_mb=100"
    dp = data_parallel_comm(llama, arr(text), H100)
    reduce = one(dp["dp_step_s"])
    assert one(dp["dp_gather_s"]) == 0
    bwd = one(microbatch_compute(llama, 4096, arr(text), H100)["backward_s"])
    assert reduce > bwd > 0  # one microbatch's backward hides part of it
    hidden = one(predict(llama, 4096, arr(text), H100)["dp_exposed_s"])
    assert hidden == pytest.approx(reduce - bwd + reduce / 32)  # and the last of 32 layers' buckets after it
    exposed = one(predict(llama, 4096, arr(text + ",grad_overlap=0"), H100)["dp_exposed_s"])
    assert exposed == pytest.approx(reduce)
    assert one(predict(llama, 4096, arr(text + ",grad_overlap=1"), H100)["dp_exposed_s"]) == pytest.approx(hidden)
    # the exposed reduction lengthens the step by exactly what it no longer hides
    steps = [one(predict(llama, 4096, arr(text + x), H100)["step_s"]) for x in ("", ",grad_overlap=0")]
    assert steps[1] - steps[0] == pytest.approx(bwd - reduce / 32)
    # DeepSpeed reduces after the backward by default (ZeRO's overlap_comm off below ZeRO-3)
    ds = "tp=8,dp=96,zero=1,mb=1,gbs=96,sp=1,stack=deepspeed"
    by_default, named_off, named_on = (
        one(predict(llama, 4096, arr(ds + extra), H100)["dp_exposed_s"])
        for extra in ("", ",grad_overlap=0", ",grad_overlap=1")
    )
    assert by_default == named_off > named_on


def test_hybrid_sharding_exposes_the_replicas_all_reduce_when_told():
    """Under hybrid sharding (ZeRO-3 in a shard group, replicas all-reducing once a step) the
    replicas' all-reduce is the step's reduction: hidden behind the last backward but its last
    layer's share by default, all of it exposed with `grad_overlap=0` (PaLM's cross-pod transfer);
    the per-microbatch ZeRO-3 collectives do not move. By hand from the collectives."""
    from glamsim.predict.compute import microbatch_compute
    from glamsim.predict.stage import layers_per_stage

    text = "fsdp=4,dp=2,mb=1,gbs=8"
    dp = data_parallel_comm(GPT, arr(text), H100)
    replicas = one(dp["dp_step_s"])
    w = one(chip_params(GPT, arr(text))[0])
    layers = one(layers_per_stage(GPT, arr(text)))
    # the fp32 gradient shard (a quarter of the weights) all-reduced over 2 replicas (stride 4), in
    # one piece per layer (Megatron's gather groups), each further piece paying its latency
    shard_grads = w * 4 / 4
    want = one(allreduce_s(shard_grads, 2, 4, 8, H100)) + (layers - 1) * one(allreduce_s(0.0, 2, 4, 8, H100))
    assert replicas == pytest.approx(want)
    bwd = one(microbatch_compute(GPT, 2048, arr(text), H100)["backward_s"])
    on, off = (predict(GPT, 2048, arr(text + x), H100) for x in ("", ",grad_overlap=0"))
    hidden = max(replicas - bwd, 0.0) + replicas / layers
    assert one(off["dp_exposed_s"]) - one(on["dp_exposed_s"]) == pytest.approx(replicas - hidden)
    assert one(off["step_s"]) - one(on["step_s"]) == pytest.approx(replicas - hidden)


def test_a_hybrid_row_keeps_its_replicas_and_named_reduction_through_the_arrays():
    """A searched or validated row goes through `LayoutArrays` and back: hybrid sharding keeps its
    shard group and a named `grad_overlap` (which a plain ZeRO-3 row, reducing every microbatch,
    drops), and the rebuilt layout predicts what the arrays do."""
    from glamsim.predict.layout import Layout

    base = parse_layout("fsdp=4,dp=2,mb=1,gbs=8,grad_overlap=0")
    rows = LayoutArrays.of([base, parse_layout("fsdp=8,mb=1,gbs=8")])
    back = rows.layout(0, base)
    assert back.shard == 4 and back.dp == 8 and back.grad_overlap is False
    assert rows.layout(1, base).grad_overlap is None and rows.layout(1, base).shard is None
    assert list(rows.grad_overlap) == [0.0, 1.0]  # named, then Megatron's default
    again = predict(GPT, 2048, LayoutArrays.of([back, rows.layout(1, Layout())]), H100)
    first = predict(GPT, 2048, rows, H100)
    assert np.allclose(again["step_s"], first["step_s"])


def test_zero3_prefetch_runs_beside_the_intra_node_collectives_when_it_crosses_nodes():
    """The prefetch stream's gathers run beside the compute stream's whole microbatch: where a ZeRO-3
    shard group crosses nodes (8-GPU nodes) and a tensor- or expert-parallel group stays in one
    (NVLink beside InfiniBand), that group's exposed collectives cover them too; where one node holds
    the shard group (context parallelism counted in it, hybrid sharding's shard not its replicas, or a
    128-GPU NVLink domain) the two share links and only the compute covers them."""
    wide = ModelArrays.of(
        validate_model(
            {
                "name": "wide",
                "n_layers": 4,
                "d_model": 8192,
                "n_heads": 64,
                "d_ff": 32768,
                "vocab_size": 128,
                "max_seq_len": 1024,
                "dense_ffn_gated": False,
                "position": "rotary",
            },
            "test",
        )
    )
    big_node = dataclasses.replace(H100, chips_per_node=128.0)
    cases = (  # model, layout, fabric, the exposed items that cover the gathers (by hand)
        (wide, "fsdp=16,tp=8,mb=1,gbs=16", H100, ("tp_exposed_s",)),  # 128 ranks: 16 nodes
        (wide, "fsdp=16,tp=8,mb=1,gbs=16", big_node, ()),  # one 128-GPU domain
        (wide, "fsdp=2,tp=2,cp=2,mb=1,gbs=2", H100, ()),  # 8 ranks: one node
        (wide, "fsdp=4,dp=4,tp=2,mb=1,gbs=16,grad_overlap=0", H100, ()),  # shards of 8, replicas across nodes
        (TINY, "fsdp=16,ep=8,mb=1,gbs=16", H100, ("ep_exposed_s",)),  # experts' shards 8 apart
    )
    for model, text, fab, covering in cases:
        lay = arr(text + ",stack=pytorch-fsdp")
        t = predict(model, 1024 if model is wide else 32, lay, fab)
        dp = data_parallel_comm(model, lay, fab)
        z3, step = one(dp["dp_microbatch_s"]), one(dp["dp_step_s"])
        compute = one(t["compute_s"]) + one(t["recompute_s"]) + one(t["moe_permute_s"])
        side = sum(one(t[k]) for k in ("tp_exposed_s", "ep_exposed_s", "cp_exposed_s"))
        cover = compute + sum(one(t[k]) for k in covering)
        assert side > 0 and z3 > compute + side, text  # the case tells the two rules apart
        layers = model.n_layers
        assert one(t["dp_exposed_s"]) == pytest.approx(step + z3 - cover + z3 / layers), (text, fab.chips_per_node)
