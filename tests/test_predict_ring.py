"""Context-parallel ring attention (issue 22): PyTorch's ring as torchtitan ran it and Transformer
Engine's P2P ring as Megatron runs it, by hand.

Figures: Llama 3 8B (32 query heads, 8 KV heads of 128), Llama 3 405B (128 and 8); H100 SXM
NVLink 450 GB/s one-way, InfiniBand 50 GB/s per GPU, 3 / 8 us per message, 8 GPUs a node, HBM
3.35 TB/s; links attain LINK_EFFICIENCY (0.8).
"""

from __future__ import annotations

import numpy as np
import pytest

from glamsim.accounting import ModelArrays
from glamsim.predict import efficiency as eff
from glamsim.predict.collectives import microbatch_comm
from glamsim.predict.compute import microbatch_compute
from glamsim.predict.layout import LayoutArrays, parse_layout
from glamsim.predict.ring import gathered_kv_bytes, kv_width, merge_s, p2p_comm, ring_comm
from glamsim.predict.steptime import predict
from glamsim.predict.tiers import Fabric
from glamsim.predict.validation import predictions
from glamsim.profiles import load_chip

H100 = Fabric.of(load_chip("h100-sxm"))
NV, IB = 450e9 * eff.LINK_EFFICIENCY, 50e9 * eff.LINK_EFFICIENCY
MODELS = predictions()[0]  # the Llama 3 models of the published rows
L8B = ModelArrays.of(MODELS["llama3-8b"])


def arr(text: str) -> LayoutArrays:
    return LayoutArrays.of(parse_layout(text))


def one(x) -> float:
    return float(np.asarray(x).reshape(-1)[0])


def _405b():
    return ModelArrays.of(MODELS["llama3-405b"])


def test_torchtitan_moves_k_and_v_at_the_query_heads_width():
    # torchtitan repeats K and V to the 32 query heads before SDPA: 32 x 128 = 4,096 values a
    # token; Megatron passes the 8 KV heads: 1,024
    assert one(kv_width(L8B, arr("cp=8,gbs=1,stack=pytorch-fsdp"))) == 4096
    assert one(kv_width(L8B, arr("cp=8,gbs=1,stack=megatron"))) == 1024
    # 405B under TP 8: 16 local query heads (2,048 values) against one KV head (128)
    m = _405b()
    assert one(kv_width(m, arr("tp=8,cp=8,gbs=1,stack=pytorch-fsdp"))) == 16 * 128
    assert one(kv_width(m, arr("tp=8,cp=8,gbs=1,stack=megatron"))) == 128
    # the whole sequence's K and V after the gather, 2 bytes a value: 2 x 262,144 x 4,096 x 2
    lay = arr("cp=8,gbs=1,stack=pytorch-fsdp")
    assert one(gathered_kv_bytes(L8B, 262144, lay, 2.0)) == 2 * 262144 * 4096 * 2


def test_ring_merges_stream_their_fp32_passes_through_hbm():
    # 8B, 262,144 tokens on cp = 8: a rank's attention output is 32,768 x 4,096 values; per ring
    # step, eager, 46 bytes each forward and 60 backward (counted from PyTorch's _SDPAMerger and
    # its backward, op by op), 8 steps, at 3.35 TB/s
    e = 32768 * 4096
    f, b = merge_s(L8B, 262144, arr("cp=8,gbs=1,stack=pytorch-fsdp"), H100)
    assert one(f) == pytest.approx(8 * 46 * e / 3.35e12)
    assert one(b) == pytest.approx(8 * 60 * e / 3.35e12)
    # compiled (torchtitan's fullgraph blocks): each point-wise chain one kernel, 10 and 30 bytes
    f, b = merge_s(L8B, 262144, arr("cp=8,gbs=1,stack=pytorch-fsdp,fused=1"), H100)
    assert one(f) == pytest.approx(8 * 10 * e / 3.35e12)
    assert one(b) == pytest.approx(8 * 30 * e / 3.35e12)
    # Transformer Engine's ring (Megatron, its corrections torch.compile'd), per layer: forward 8
    # steps of 5.5 bytes per output element and 2 per K/V element + 2.5 and 6 once; backward 8 of
    # 7.5 and 17 - 3.5 and + 7 once; Megatron's K and V are the 8 KV heads, a quarter of the output
    f, b = merge_s(L8B, 262144, arr("cp=8,gbs=1,stack=megatron"), H100)
    assert one(f) == pytest.approx(((8 * 5.5 + 2.5) * e + (8 * 2 + 6) * e / 4) / 3.35e12)
    assert one(b) == pytest.approx(((8 * 7.5 - 3.5) * e + (8 * 17 + 7) * e / 4) / 3.35e12)
    # the merges are the exchange's code: PyTorch's ring named on a Megatron layout costs PyTorch's
    f, b = merge_s(L8B, 262144, arr("cp=8,gbs=1,stack=megatron,cp_comm=allgather-overlap"), H100)
    assert one(f) == pytest.approx(8 * 10 * e / 3.35e12) and one(b) == pytest.approx(
        8 * (10 * e + 20 * e / 4) / 3.35e12
    )
    # no ring without context parallelism, none over a gathered sequence, none counted for DeepSpeed
    assert one(merge_s(L8B, 32768, arr("dp=8,gbs=8,stack=pytorch-fsdp"), H100)[0]) == 0.0
    assert one(merge_s(L8B, 262144, arr("cp=8,gbs=1,stack=megatron,cp_comm=allgather"), H100)[1]) == 0.0
    assert one(merge_s(L8B, 262144, arr("cp=8,gbs=1,stack=deepspeed"), H100)[1]) == 0.0


def test_all_gather_hides_behind_the_first_block_and_gradients_behind_the_next_step():
    # 8B, cp = 8 inside one node: the gather of 2 x 262,144 x 4,096 x 2 bytes receives 7/8 of it
    # over NVLink plus a ring of 7 messages
    kv = 2 * 262144 * 4096 * 2
    gather = 7 / 8 * kv / NV + 7 * 3e-6
    hop = 2 * 4 * 32768 * 4096 / NV + 3e-6  # one rank's K/V gradients in fp32 to the next rank
    lay = arr("cp=8,gbs=1,stack=pytorch-fsdp")
    layers = 32
    # attention long enough to hide everything but the last gradient transfer of each backward
    r = ring_comm(L8B, 262144, lay, H100, attn_fwd_s=1.0, attn_bwd_s=2.5)
    assert one(r["cp_s"]) == pytest.approx(layers * hop)
    # attention so short that nothing hides: per layer the forward gather, the backward gather,
    # the 7 gradient hops and the last one
    r = ring_comm(L8B, 262144, lay, H100, attn_fwd_s=0.0, attn_bwd_s=0.0)
    assert one(r["cp_s"]) == pytest.approx(layers * (gather + gather + 7 * hop + hop))
    # full recomputation gathers again in the recomputed forward
    full = arr("cp=8,gbs=1,stack=pytorch-fsdp,recompute=full")
    r = ring_comm(L8B, 262144, full, H100, attn_fwd_s=0.0, attn_bwd_s=0.0)
    assert one(r["cp_s"]) == pytest.approx(layers * (3 * gather + 8 * hop))
    # partly hidden: a forward step of 1/8 of 8 ms = 1 ms hides 1 ms of the gather
    r = ring_comm(L8B, 262144, lay, H100, attn_fwd_s=8e-3, attn_bwd_s=1.0)
    assert one(r["cp_s"]) == pytest.approx(layers * (gather - 1e-3 + hop))
    # compiled (torchtitan's per-block torch.compile traces the ring): every functional collective
    # is waited for as soon as it is issued, so however long the attention nothing hides: the
    # forward gather, the backward gather and all 8 gradient hops
    compiled = arr("cp=8,gbs=1,stack=pytorch-fsdp,fused=1")
    r = ring_comm(L8B, 262144, compiled, H100, attn_fwd_s=1.0, attn_bwd_s=2.5)
    assert one(r["cp_s"]) == pytest.approx(layers * (gather + gather + 8 * hop))
    # compiled with full recomputation: the recomputed forward gathers again, exposed too
    compiled_full = arr("cp=8,gbs=1,stack=pytorch-fsdp,fused=1,recompute=full")
    r = ring_comm(L8B, 262144, compiled_full, H100, attn_fwd_s=1.0, attn_bwd_s=2.5)
    assert one(r["cp_s"]) == pytest.approx(layers * (3 * gather + 8 * hop))
    # eager PyTorch elsewhere too: a Megatron layout naming PyTorch's ring with eager element-wise
    # kernels hides as above (its K and V at the 8 KV heads' width, 1,024 values a token)
    named = arr("cp=8,gbs=1,stack=megatron,fused=0,cp_comm=allgather-overlap")
    r = ring_comm(L8B, 262144, named, H100, attn_fwd_s=1.0, attn_bwd_s=2.5)
    assert one(r["cp_s"]) == pytest.approx(layers * (2 * 4 * 32768 * 1024 / NV + 3e-6))


def test_a_ring_across_nodes_pays_the_network():
    # 405B with TP 8 filling the node: the cp = 8 ranks sit on 8 nodes; the gather of
    # 2 x 262,144 x 2,048 x 2 bytes receives 7/8 over InfiniBand (one member a node) plus a ring
    # of 8 messages between nodes (`tiers.ring_latency_s`), the fp32 gradient hop crosses the
    # network too
    m = _405b()
    lay = arr("tp=8,cp=8,gbs=1,stack=pytorch-fsdp")
    kv = 2 * 262144 * 2048 * 2
    gather = 7 / 8 * kv / IB + 8 * 8e-6
    hop = 2 * 4 * 32768 * 2048 / IB + 8e-6
    r = ring_comm(m, 262144, lay, H100, attn_fwd_s=0.0, attn_bwd_s=0.0)
    assert one(r["cp_s"]) == pytest.approx(126 * (2 * gather + 8 * hop))


def test_transformer_engine_sends_each_chunk_behind_a_step():
    # Megatron's 8B, cp = 8 inside one node: a rank's chunk of K and V is 2 x 32,768 x 1,024 x 2
    # bytes (the 8 KV heads); forward 7 sends of it, backward the first step's K/V, 6 sends of K/V
    # with dK/dV (twice the bytes) and the last step's dK/dV, each posted before its step's kernel
    chunk = 2 * 32768 * 1024 * 2
    hop, hop2 = chunk / NV + 3e-6, 2 * chunk / NV + 3e-6
    lay = arr("cp=8,gbs=1,stack=megatron")
    layers = 32
    # attention long enough to hide every send
    r = p2p_comm(L8B, 262144, lay, H100, attn_fwd_s=1.0, attn_bwd_s=2.5)
    assert one(r["cp_s"]) == 0.0
    # so short that nothing hides
    r = p2p_comm(L8B, 262144, lay, H100, attn_fwd_s=0.0, attn_bwd_s=0.0)
    assert one(r["cp_s"]) == pytest.approx(layers * (7 * hop + 2 * hop + 6 * hop2))
    assert one(r["cp_bytes"]) == pytest.approx(layers * (7 + 14) * chunk)
    # full recomputation sends the chunks again in the recomputed forward, as does selective
    # recomputation (the core attention re-run); half the layers recomputed, half the extra
    full = p2p_comm(L8B, 262144, arr("cp=8,gbs=1,recompute=full"), H100, attn_fwd_s=0.0, attn_bwd_s=0.0)
    assert one(full["cp_s"]) == pytest.approx(layers * (14 * hop + 2 * hop + 6 * hop2))
    sel = p2p_comm(L8B, 262144, arr("cp=8,gbs=1,recompute=selective"), H100, attn_fwd_s=0.0, attn_bwd_s=0.0)
    assert one(sel["cp_s"]) == pytest.approx(one(full["cp_s"]))
    half = arr("cp=8,gbs=1,recompute=full,recompute_layers=16")
    assert one(p2p_comm(L8B, 262144, half, H100, 0.0, 0.0)["cp_s"]) == pytest.approx(
        (one(full["cp_s"]) + one(r["cp_s"])) / 2
    )
    # partly hidden: forward steps half as long as a send hide half of each
    r = p2p_comm(L8B, 262144, lay, H100, attn_fwd_s=8 * hop / 2, attn_bwd_s=1.0)
    assert one(r["cp_s"]) == pytest.approx(layers * 7 * hop / 2)
    # across nodes: 405B with TP 8 filling the node, every send crosses InfiniBand (one KV head)
    m = _405b()
    chunk = 2 * 32768 * 128 * 2
    hop, hop2 = chunk / IB + 8e-6, 2 * chunk / IB + 8e-6
    r = p2p_comm(m, 262144, arr("tp=8,cp=8,gbs=1,stack=megatron"), H100, 0.0, 0.0)
    assert one(r["cp_s"]) == pytest.approx(126 * (9 * hop + 6 * hop2))
    # no ring without context parallelism
    assert one(p2p_comm(L8B, 8192, arr("dp=8,gbs=8"), H100, 0.0, 0.0)["cp_s"]) == 0.0


def test_step_time_uses_the_exchange_the_stack_runs_or_the_layout_names():
    # pytorch-fsdp: PyTorch's overlapped ring and its merges inside the attention time; megatron:
    # Transformer Engine's P2P ring; cp_comm=allgather: the whole-sequence gather exposed
    s = 131072
    for stack, named, expect in (
        ("pytorch-fsdp", "", "ring"),
        ("megatron", "", "p2p"),
        ("megatron", ",cp_comm=allgather", "gather"),
        ("pytorch-fsdp", ",cp_comm=p2p", "p2p"),
    ):
        lay = arr(f"fsdp=2,cp=4,gbs=2,recompute=full,stack={stack}{named}")
        c = microbatch_compute(L8B, s, lay, H100)
        t = predict(L8B, s, lay, H100)
        f, b = merge_s(L8B, s, lay, H100)
        assert one(c["attention_s"]) == pytest.approx(
            32 * (one(c["attention_kernel_fwd_s"]) + one(f) + one(c["attention_kernel_bwd_s"]) + one(b))
        )
        assert (one(f) > 0) == (expect != "gather")
        kernels = c["attention_kernel_fwd_s"], c["attention_kernel_bwd_s"]
        want = {
            "ring": ring_comm(L8B, s, lay, H100, *kernels)["cp_s"],
            "p2p": p2p_comm(L8B, s, lay, H100, *kernels)["cp_s"],
            "gather": microbatch_comm(L8B, s, lay, H100)["cp_s"],
        }[expect]
        assert one(t["cp_exposed_s"]) == pytest.approx(one(want)), (stack, named)  # one microbatch a step
