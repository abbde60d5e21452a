"""MoE-specific step time (issue 22): token permutation, router traffic, dispatch einsums, expert
rows, all-to-all overlap; each figure derived by hand from the toy models below.

Toy MoE: 4 layers, d_model h = 64, 8 experts, top-2 in every layer; a microbatch of 2 sequences
of 32 tokens is T = 64 tokens on a chip.  H100 HBM bandwidth from its profile; activations bf16.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from glamsim.accounting import ModelArrays, einsum_dispatch_flops
from glamsim.config import ConfigError, validate_model
from glamsim.predict import efficiency as eff
from glamsim.predict.collectives import microbatch_comm
from glamsim.predict.compute import matmul_s, microbatch_compute, moe_dispatch_forward
from glamsim.predict.layout import Layout, LayoutArrays, parse_layout
from glamsim.predict.memory import layer_activation_bytes
from glamsim.predict.stage import ranks_per_token
from glamsim.predict.steptime import BREAKDOWN, predict
from glamsim.predict.tiers import Fabric
from glamsim.profiles import load_chip

H100 = Fabric.of(load_chip("h100-sxm"))
HBM = H100.hbm_bytes_per_s
SEQ, T, H, E, K = 32, 64, 64, 8, 2
BASE = {
    "name": "toy-moe",
    "n_layers": 4,
    "d_model": H,
    "n_heads": 4,
    "d_ff": 256,
    "vocab_size": 128,
    "max_seq_len": SEQ,
    "dense_ffn_gated": False,
    "position": "rotary",
    "n_experts": E,
    "top_k": K,
    "moe_every": 1,
}
DROPLESS = ModelArrays.of(validate_model({**BASE, "routing": "dropless"}, "test"))
# GShard capacity: groups of 64 tokens, ceil(4.0 x 64 / 8) = 32 slots per expert, 8 x 32 / 64 = 4 a token
CAPACITY = ModelArrays.of(validate_model({**BASE, "capacity_factor": 4.0, "router_group_size": 64}, "test"))
DENSE = ModelArrays.of(
    validate_model({k: v for k, v in BASE.items() if k not in ("n_experts", "top_k", "moe_every")}, "test")
)


def arr(text: str) -> LayoutArrays:
    return LayoutArrays.of(parse_layout(text))


def one(x) -> float:
    return float(np.asarray(x).reshape(-1)[0])


def test_permutation_passes_by_hand():
    # dropless on one chip: the dispatch reads k copies of each token and writes k slots, the
    # combine reads k and writes 1: (2 + 2 + 2 + 1) x T x h values of 2 bytes
    d = moe_dispatch_forward(DROPLESS, SEQ, arr("mb=2,gbs=2"), H100)
    assert one(d["permute_s"]) == pytest.approx(2 * 7 * T * H / HBM)
    assert one(d["flops"]) == 0
    # Megatron-Core with 2 local experts per chip (ep = 4) sorts again after the all-to-all and
    # before the one back: + 4 x s x T x h values
    d = moe_dispatch_forward(DROPLESS, SEQ, arr("dp=4,ep=4,mb=2,gbs=8"), H100)
    assert one(d["permute_s"]) == pytest.approx(2 * (7 + 4 * 2) * T * H / HBM)
    # one expert per chip (ep = 8), or a stack that sorts once: no second sort
    d = moe_dispatch_forward(DROPLESS, SEQ, arr("dp=8,ep=8,mb=2,gbs=16"), H100)
    assert one(d["permute_s"]) == pytest.approx(2 * 7 * T * H / HBM)
    d = moe_dispatch_forward(DROPLESS, SEQ, arr("dp=4,ep=4,mb=2,gbs=8,stack=pytorch-fsdp"), H100)
    assert one(d["permute_s"]) == pytest.approx(2 * 7 * T * H / HBM)
    # capacity padding: the dispatch writes all 4 slots a token, the combine reads the 2 filled
    d = moe_dispatch_forward(CAPACITY, SEQ, arr("mb=2,gbs=2"), H100)
    assert one(d["permute_s"]) == pytest.approx(2 * ((2 + 4) + (2 + 1)) * T * H / HBM)
    # tensor parallelism splits the tokens a chip dispatches
    d2 = moe_dispatch_forward(DROPLESS, SEQ, arr("tp=2,mb=2,gbs=2"), H100)
    assert one(d2["permute_s"]) == pytest.approx(2 * 7 * T * H / 2 / HBM)


def test_router_softmax_and_top_k_traffic():
    # fp32 logits: softmax reads 4 and writes 4 bytes per token and expert, top-k and the balancing
    # loss read 4 each: 16 x T x E bytes, whatever the stack or the tensor-parallel split
    for text in ("mb=2,gbs=2", "tp=2,mb=2,gbs=2,stack=xla"):
        d = moe_dispatch_forward(DROPLESS, SEQ, arr(text), H100)
        assert one(d["router_s"]) == pytest.approx(16 * T * E / HBM)
    assert one(moe_dispatch_forward(DENSE, SEQ, arr("mb=2,gbs=2"), H100)["router_s"]) == 0


def test_gshard_dispatch_einsums_on_xla_and_deepspeed():
    # one group of G = 64 tokens: [E C = 256, G] x [G, h] for the dispatch and again for the combine,
    # 2 x 2 x 256 x 64 x 64 FLOPs = 4 E C h per token, as the analytic count of GShard's einsums
    for stack in ("xla", "deepspeed"):
        lay = arr(f"mb=2,gbs=2,stack={stack}")
        d = moe_dispatch_forward(CAPACITY, SEQ, lay, H100)
        assert one(d["flops"]) == pytest.approx(2 * 2 * 256 * 64 * 64)
        assert one(d["flops"]) == pytest.approx(T * one(einsum_dispatch_flops(CAPACITY, 64)))
        assert one(d["permute_s"]) == pytest.approx(one(matmul_s(256, 64, 64, H100, 2)))
    # the einsums are executed FLOPs: the HFU counts them, the MFU does not
    plain = microbatch_compute(CAPACITY, SEQ, arr("mb=2,gbs=2"), H100)
    xla = microbatch_compute(CAPACITY, SEQ, arr("mb=2,gbs=2,stack=xla"), H100)
    extra = one(xla["flops_executed"]) - one(plain["flops_executed"])
    assert extra == pytest.approx(4 * 3 * 2 * 2 * 256 * 64 * 64)  # 4 MoE layers x (fwd + 2 bwd)


def test_token_movement_per_microbatch_and_no_double_count():
    lay = arr("mb=2,gbs=2")
    d = moe_dispatch_forward(DROPLESS, SEQ, lay, H100)
    per_layer = one(d["permute_s"]) + one(d["router_s"])
    c = microbatch_compute(DROPLESS, SEQ, lay, H100)
    # 4 MoE layers, forward + backward (2 x): 3 passes; full recomputation repeats the forward
    assert one(c["moe_permute_s"]) + one(c["moe_router_s"]) == pytest.approx(4 * 3 * per_layer)
    full = microbatch_compute(DROPLESS, SEQ, arr("mb=2,gbs=2,recompute=full"), H100)
    assert one(full["moe_permute_s"]) + one(full["moe_router_s"]) == pytest.approx(4 * 4 * per_layer)
    # the generic element-wise passes no longer stream what the items above stream: the dispatched
    # inputs (s x h bf16 values a token; Megatron stores no expert output, other stacks store it too,
    # 2 x s x h) over tp, and the router's 2 fp32 values per expert for the tokens it routes (T / tp
    # under Megatron's sequence parallelism, T on PyTorch); the loss adds its passes over the
    # T x 128 / tp logits: 2 bf16 + 9 fp32 values each (40 bytes)
    for text, io, tp, routed in (
        ("mb=2,gbs=2", 1, 1, T),
        ("mb=2,gbs=2,stack=pytorch-fsdp,fused=1", 2, 1, T),
        ("tp=2,sp=1,mb=2,gbs=2", 1, 2, T / 2),
        ("tp=2,sp=1,mb=2,gbs=2,stack=pytorch-fsdp,fused=1", 2, 2, T),
    ):
        at = arr(text)
        buffers = T * io * 2 * K * H / tp + routed * 2 * 4 * E
        act = one(layer_activation_bytes(DROPLESS, SEQ, at, 2.0))
        loss = T * 128 / tp * 40 / HBM
        got = one(microbatch_compute(DROPLESS, SEQ, at, H100)["elementwise_s"])
        assert got == pytest.approx(3 * 4 * eff.ELEMENTWISE_PASSES * (act - buffers) / HBM + loss), text
    dense = microbatch_compute(DENSE, SEQ, lay, H100)
    assert one(dense["moe_permute_s"]) == 0 and one(dense["moe_router_s"]) == 0
    act_dense = one(layer_activation_bytes(DENSE, SEQ, lay, 2.0))
    loss = T * 128 * 40 / HBM
    assert one(dense["elementwise_s"]) == pytest.approx(3 * 4 * eff.ELEMENTWISE_PASSES * act_dense / HBM + loss)


def test_expert_rows_padded_or_dropless():
    # each of a chip's E / ep experts computes T x ep x slots / E rows: 64 x 4 x 2 / 8 = 64 dropless,
    # 64 x 4 x 4 / 8 = 128 at capacity 4.0; the capacity version runs twice the expert FLOPs
    lay = arr("dp=4,ep=4,mb=2,gbs=8")
    drop = microbatch_compute(DROPLESS, SEQ, lay, H100)
    cap = microbatch_compute(CAPACITY, SEQ, lay, H100)
    expert_flops = 2 * 2 * H * 256  # two matrices h x d_ff per routed slot
    diff = one(cap["flops_executed"]) - one(drop["flops_executed"])
    assert diff == pytest.approx(4 * 3 * (4 - 2) * T * expert_flops)
    # the expert matmul time follows the rows an expert really gets (the thin-shape roll-off)
    # (4 layers; each matmul counted for the chip's 2 local experts)
    rows_drop, rows_cap = 64, 128
    want = 4 * (one(matmul_s(rows_drop, H, 256, H100, 2)) + one(matmul_s(rows_drop, 256, H, H100, 2)))
    assert one(drop["expert_matmul_fwd_s"]) == pytest.approx(want)
    want_cap = 4 * (one(matmul_s(rows_cap, H, 256, H100, 2)) + one(matmul_s(rows_cap, 256, H, H100, 2)))
    assert one(cap["expert_matmul_fwd_s"]) == pytest.approx(want_cap)


def test_all_to_all_exposed_or_overlapped():
    text = "dp=16,ep=8,mb=2,gbs=32"  # 16 chips: the all-to-all over 8 stays in an H100 node
    c = microbatch_compute(DROPLESS, SEQ, arr(text), H100)
    ep_s = one(microbatch_comm(DROPLESS, SEQ, arr(text), H100)["ep_s"])
    exposed = predict(DROPLESS, SEQ, arr(text), H100)
    assert one(exposed["ep_exposed_s"]) == pytest.approx(ep_s)  # default: exposed, 1 microbatch
    # Megatron-Core's overlap hides it behind another microbatch's matmuls (3 x the forward's)
    mc = predict(DROPLESS, SEQ, arr(text + ",a2a_overlap=1"), H100)
    assert one(mc["ep_exposed_s"]) == pytest.approx(max(ep_s - 3 * one(c["matmul_time_fwd_s"]), 0.0))
    # chunked pipelining (Tutel-style, the other stacks) only behind the expert matmuls
    tut = predict(DROPLESS, SEQ, arr(text + ",a2a_overlap=1,stack=deepspeed"), H100)
    assert one(tut["ep_exposed_s"]) == pytest.approx(max(ep_s - 3 * one(c["expert_matmul_fwd_s"]), 0.0))
    assert one(mc["ep_exposed_s"]) <= one(tut["ep_exposed_s"]) < ep_s
    # the all-to-all itself is the same either way, and the breakdown adds up to the step
    for t in (exposed, mc, tut):
        assert one(t["ep_s"]) == pytest.approx(ep_s)
        assert one(t["step_s"]) == pytest.approx(sum(one(t[k]) for k in BREAKDOWN))
        assert one(t["moe_permute_s"]) > 0


def test_deepep_kernels_take_their_sms_from_the_compute_they_overlap():
    """DeepEP (`a2a_dedup=1`) overlapped under Megatron-Core's other microbatch: its 20 SMs
    (DeepEP's and Megatron-Core's default) of the H100's 132 are missing from the compute beside
    it, so a microbatch takes max(all-to-all, compute + 20/132 x all-to-all).  At width 1,024 the
    compute outlasts the all-to-all (hidden whole): 20/132 of it is exposed.  The toy's all-to-all
    (latency-bound) outlasts its compute: already exposed, nothing more.  Without overlap, with
    NCCL's all-to-all (no dedup) or on a chip without an SM count nothing is charged."""
    from dataclasses import replace

    no_sms = replace(H100, sms=0.0)
    assert H100.sms == 132
    wide = ModelArrays.of(
        validate_model(
            {**BASE, "d_model": 1024, "d_ff": 4096, "n_heads": 16, "max_seq_len": 1024, "routing": "dropless"}, "t"
        )
    )
    text = "dp=16,ep=8,mb=2,gbs=32,a2a_dedup=1"
    for m, seq in ((wide, 1024), (DROPLESS, SEQ)):
        lay = arr(text + ",a2a_overlap=1")
        without, shared = predict(m, seq, lay, no_sms), predict(m, seq, lay, H100)
        ep_s, exposed = one(shared["ep_s"]), one(without["ep_exposed_s"])
        assert one(shared["ep_exposed_s"]) == pytest.approx(max(exposed, ep_s * 20 / 132))
        assert one(shared["step_s"]) == pytest.approx(sum(one(shared[k]) for k in BREAKDOWN))
        if m is wide:
            assert exposed == 0.0 and one(shared["ep_exposed_s"]) > 0
        else:
            assert exposed > ep_s * 20 / 132 and one(shared["ep_exposed_s"]) == exposed
        for t in (text, text.replace(",a2a_dedup=1", "") + ",a2a_overlap=1"):
            assert one(predict(m, seq, arr(t), H100)["ep_exposed_s"]) == pytest.approx(
                one(predict(m, seq, arr(t), no_sms)["ep_exposed_s"])
            )


def _expert_sets(e: int, k: int, spread: str) -> list:
    """Every token's k experts: each k-subset (random routing) or each token of the fake balanced
    gate, expert (t k + j) mod e (contiguous), over a whole period."""
    if spread == "random":
        return list(itertools.combinations(range(e), k))
    return [[(t * k + j) % e for j in range(k)] for t in range(e * k)]


def _naive_ranks(e: int, k: int, ep: int, spread: str) -> float:
    """Mean distinct ranks (blocks of e / ep experts) a token's k experts sit on, by enumeration."""
    n = e // ep
    sets = [{x // n for x in c} for c in _expert_sets(e, k, spread)]
    return sum(map(len, sets)) / len(sets)


def _naive_remote_nodes(e: int, k: int, nodes: int, spread: str) -> float:
    """Mean nodes other than the token's own that hold one of its k experts (the experts in blocks
    of e / nodes per node), by enumeration over every source node and token."""
    n = e // nodes
    hits = [len({x // n for x in c} - {src}) for src in range(nodes) for c in _expert_sets(e, k, spread)]
    return sum(hits) / len(hits)


@pytest.mark.parametrize("e,k,ep", [(4, 2, 2), (6, 2, 2), (12, 3, 4), (10, 3, 5), (8, 8, 2), (16, 4, 16)])
@pytest.mark.parametrize("spread", ["random", "contiguous"])
def test_ranks_per_token_against_enumeration(e, k, ep, spread):
    m = ModelArrays.of(validate_model({**BASE, "n_experts": e, "top_k": k, "routing": "dropless"}, "test"))
    lay = arr(f"dp={ep},ep={ep},gbs={ep},a2a_dedup=1,expert_spread={spread}")
    assert one(ranks_per_token(m, lay)) == pytest.approx(_naive_ranks(e, k, ep, spread), rel=1e-12)


@pytest.mark.parametrize("e,k,ep", [(16, 2, 16), (32, 4, 32), (32, 3, 16), (48, 2, 24)])
@pytest.mark.parametrize("spread", ["random", "contiguous"])
def test_deepep_crosses_nodes_once_per_destination_node(e, k, ep, spread):
    """DeepEP sends a token over RDMA once to each other node holding one of its experts (one peer
    per node) and forwards it over NVLink there: e experts over ep ranks of 8-GPU nodes, top-k.  With
    16 experts on 16 ranks a token's 2 copies go to 2 ranks (per-rank dedup saves nothing) but a node
    holds 8 experts: 1 - C(8,2)/C(16,2) = 0.767 copies cross nodes, not 2 x 8/16 = 1.  Random and
    the fake balanced gate's contiguous routing, over 2, 3 and 4 nodes."""
    m = ModelArrays.of(validate_model({**BASE, "n_experts": e, "top_k": k, "routing": "dropless"}, "test"))
    text = f"dp={ep},ep={ep},mb=2,gbs={2 * ep},a2a_dedup=1,expert_spread={spread}"
    nodes = -(-ep // 8)
    remote = _naive_remote_nodes(e, k, nodes, spread)
    if (e, k, ep, spread) == (16, 2, 16, "random"):
        assert remote == pytest.approx(1 - 28 / 120)  # both experts on the source node: C(8,2)/C(16,2)
    nbytes = 2 * T * _naive_ranks(e, k, ep, spread) * H  # bf16, a token once per destination rank
    ib, nv = H100.inter_bytes_per_s * eff.LINK_EFFICIENCY, H100.intra_bytes_per_s * eff.LINK_EFFICIENCY
    lat = 7 * H100.intra_latency_s + (nodes - 1) * H100.inter_latency_s  # one RDMA peer per node
    a2a = 4 * 4  # 4 MoE layers x (dispatch + combine) x (forward + backward)
    dedup = one(microbatch_comm(m, SEQ, arr(text), H100)["ep_s"])
    assert dedup == pytest.approx(a2a * (max(nbytes * (ep - 1) / ep / nv, 2 * T * remote * H / ib) + lat), rel=1e-9)
    # Megatron's alltoall dispatcher: every routed copy, the off-node share over InfiniBand
    plain = one(microbatch_comm(m, SEQ, arr(f"dp={ep},ep={ep},mb=2,gbs={2 * ep}"), H100)["ep_s"])
    per_copy = 2 * T * k * H
    lat_plain = 7 * H100.intra_latency_s + (ep - 8) * H100.inter_latency_s
    assert plain == pytest.approx(a2a * (max(per_copy * 7 / ep / nv, per_copy * (ep - 8) / ep / ib) + lat_plain))
    assert dedup < plain


def test_inside_one_node_deepep_moves_a_token_once_per_rank():
    """Inside one node nothing crosses nodes: per-rank dedup alone, over NVLink."""
    inside = "dp=8,ep=8,mb=2,gbs=16,a2a_dedup=1"
    nv = H100.intra_bytes_per_s * eff.LINK_EFFICIENCY
    copies = _naive_ranks(E, K, 8, "random")
    assert one(microbatch_comm(DROPLESS, SEQ, arr(inside), H100)["ep_s"]) == pytest.approx(
        16 * (2 * T * copies * H * 7 / 8 / nv + 7 * H100.intra_latency_s), rel=1e-9
    )


def test_deduplicated_all_to_all_moves_a_token_once_per_rank():
    # top-2 of 8 experts over 4 ranks (2 experts each): random routing hits 1 + 6/7 ranks on average
    # (the second expert shares the first's rank with probability 1/7); the fake balanced gate's
    # pairs (2t, 2t + 1) always share one.  Megatron's alltoall sends both copies.
    text = "dp=4,ep=4,mb=2,gbs=8"
    copies = one(microbatch_comm(DROPLESS, SEQ, arr(text), H100)["ep_bytes"])
    random = one(microbatch_comm(DROPLESS, SEQ, arr(text + ",a2a_dedup=1"), H100)["ep_bytes"])
    contiguous = one(
        microbatch_comm(DROPLESS, SEQ, arr(text + ",a2a_dedup=1,expert_spread=contiguous"), H100)["ep_bytes"]
    )
    per_copy = 2 * T * H  # bf16 bytes of one copy of every token of the microbatch
    n = 4 * 4  # 4 MoE layers x 4 all-to-alls (dispatch and combine, forward and backward)
    assert copies == pytest.approx(n * per_copy * K)
    assert random == pytest.approx(n * per_copy * (1 + 6 / 7))
    assert contiguous == pytest.approx(n * per_copy * 1)
    # and the seconds follow the bytes (no latency-only floor at these sizes on NVLink)
    s = [one(microbatch_comm(DROPLESS, SEQ, arr(text + x), H100)["ep_s"]) for x in ("", ",a2a_dedup=1")]
    assert s[1] < s[0]


def test_a2a_overlap_layout_key():
    lay = parse_layout("dp=8,ep=8,a2a_overlap=1")
    assert lay.a2a_overlap and "a2a_overlap=1" in lay.compact()
    assert parse_layout(lay.compact()) == lay
    assert not parse_layout("dp=8,ep=8").a2a_overlap
    with pytest.raises(ConfigError, match="a2a_overlap"):
        parse_layout("dp=8,ep=8,a2a_overlap=maybe")


def test_parallel_folding_layout_key():
    """`etp=1` < tp folds the expert layers onto their own etp x ep x edp grid over the stage's
    tp x cp x dp ranks (Megatron-Core's parallel folding): ep may then span the tensor ranks and
    must divide them; etp = tp is the unfolded layout; other etp values are not modelled."""
    lay = parse_layout("tp=2,dp=16,ep=32,etp=1,sp=1")
    assert lay.folded and lay.compact() == "tp=2,pp=1,dp=16,ep=32,etp=1,sp=1,stack=megatron"
    assert not parse_layout("tp=2,dp=16,ep=16,etp=2").folded
    assert arr("tp=4,dp=2,ep=2,gbs=2").etp[0] == 4  # unset: as tp
    for bad, named in (
        ("tp=2,dp=16,ep=32", "must divide dp=16"),  # unfolded, ep lives inside dp
        ("tp=2,dp=16,ep=32,etp=4,sp=1", "etp=4: must be 1 (parallel folding) or unset (as tp=2)"),
        ("tp=4,dp=16,ep=32,etp=3,sp=1", "etp=3: must be 1 (parallel folding) or unset (as tp=4)"),
        ("tp=2,dp=3,ep=4,etp=1,sp=1", "ep=4: must divide tp x cp x dp = 6"),
    ):
        with pytest.raises(ConfigError, match=re.escape(named)):
            parse_layout(bad)


def test_folded_experts_by_hand():
    """8 chips, tp 2 x dp 4, 8 experts, top-2, T = 64 tokens a microbatch on a chip.  Unfolded
    (ep 4 inside dp, each expert split over the 2 tensor ranks): 2 local experts, each [64 x 4 x 2 / 8
    = 64 rows, h] x [h, f / 2].  Folded (ep 8, etp 1): 1 local expert, whole, [64 / 2 x 8 x 2 / 8
    = 64 rows, h] x [h, f]: the rank's own 32 sequence-parallel tokens dispatched.  The same FLOPs
    and expert bytes on a chip; no tensor-parallel collectives around an expert layer (half of this
    all-MoE model's); the all-to-all over 8 adjacent ranks (stride etp 1, not tp x cp); the expert
    gradients reduced over tp x dp / (ep x etp) = 1 rank (unfolded: dp / ep = 1)."""
    from glamsim.predict.compute import _shapes
    from glamsim.predict.stage import chip_params, expert_data_parallel, expert_stride
    from glamsim.predict.tiers import alltoall_s

    unf, fold = arr("tp=2,dp=4,ep=4,sp=1,mb=2,gbs=8"), arr("tp=2,dp=4,ep=8,etp=1,sp=1,mb=2,gbs=8")
    f = 256  # the toy's expert width (d_ff)
    a, b = _shapes(DROPLESS, SEQ, unf), _shapes(DROPLESS, SEQ, fold)
    assert [one(x) for x in a["expert_in"]] == [64, H, f / 2, 2]
    assert [one(x) for x in b["expert_in"]] == [64, H, f, 1]
    assert [one(x) for x in b["expert_out"]] == [64, f, H, 1]
    ca, cb = microbatch_compute(DROPLESS, SEQ, unf, H100), microbatch_compute(DROPLESS, SEQ, fold, H100)
    assert one(cb["flops_executed"]) == pytest.approx(one(ca["flops_executed"]))
    assert one(chip_params(DROPLESS, fold)[1]) == pytest.approx(one(chip_params(DROPLESS, unf)[1]))
    assert one(cb["expert_matmul_fwd_s"]) < one(ca["expert_matmul_fwd_s"])  # wider, fewer matmuls
    ma, mf = microbatch_comm(DROPLESS, SEQ, unf, H100), microbatch_comm(DROPLESS, SEQ, fold, H100)
    assert one(mf["tp_s"]) == pytest.approx(one(ma["tp_s"]) / 2)
    assert one(mf["tp_bytes"]) == pytest.approx(one(ma["tp_bytes"]) / 2)
    assert one(expert_stride(fold)) == 1 and one(expert_stride(unf)) == 2
    a2a = 2 * T * K * H / 2  # bf16, the rank's 32 tokens x 2 routed copies
    per = one(alltoall_s(a2a, 8.0, 1.0, 8.0, H100))
    assert one(mf["ep_s"]) == pytest.approx(4 * 4 * per) and one(mf["ep_bytes"]) == pytest.approx(4 * 4 * a2a)
    assert [one(x) for x in expert_data_parallel(fold)] == [1, 8]
    assert [one(x) for x in expert_data_parallel(unf)] == [1, 8]
    mid = arr("tp=2,dp=8,ep=4,etp=1,sp=1,mb=2,gbs=16")  # 16 chips: edp 16 / 4 = 4 ranks, stride 4
    assert [one(x) for x in expert_data_parallel(mid)] == [4, 4]


def test_folding_refusals_and_one_spelling():
    """etp = tp is the unfolded layout whatever its spelling; etp between 1 and tp is not modelled
    (Megatron's dispatcher then gathers each routed copy over the etp ranks); folding needs sequence
    parallelism (Megatron-Core refuses tensor and expert parallelism without it); under hybrid
    sharding the replicas must divide the ranks holding each expert."""
    assert parse_layout("tp=2,dp=4,ep=4,etp=2") == parse_layout("tp=2,dp=4,ep=4")
    assert parse_layout("tp=2,dp=4,ep=4,etp=2").compact() == "tp=2,pp=1,dp=4,ep=4,stack=megatron"
    assert Layout(etp="1").compact() == Layout().compact() and Layout(tp="2", etp=2).etp is None
    for bad, named in (
        ("tp=4,dp=4,ep=4,etp=2,sp=1", "etp=2: must be 1 (parallel folding) or unset (as tp=4)"),
        ("tp=2,dp=4,ep=8,etp=1", "etp=1: parallel folding needs sp=1"),
        ("tp=2,fsdp=8,dp=2,ep=32,etp=1,sp=1", "fsdp=8,dp=2: the 2 replicas must divide the 1 ranks holding"),
        ("fsdp=4,dp=2,ep=8", "fsdp=4,dp=2: the 2 replicas must divide the 1 ranks"),
        ("dp=4,ep=8", "ep=8: must divide dp=4 (experts are split inside data parallelism)"),
    ):
        with pytest.raises(ConfigError, match=re.escape(named)):
            parse_layout(bad)
    with pytest.raises(ConfigError) as err:  # at tp 1 there is nothing to fold over: no such hint
        parse_layout("dp=4,ep=8")
    assert "etp" not in str(err.value)
    # folded with context parallelism: the expert grid has no cp axis, the group is adjacent ranks
    from glamsim.predict.stage import expert_data_parallel, expert_stride

    cp = arr("tp=2,cp=2,dp=2,ep=8,etp=1,sp=1,gbs=2")
    assert one(expert_stride(cp)) == 1 and [one(x) for x in expert_data_parallel(cp)] == [1, 8]


SHARED = ModelArrays.of(
    validate_model({**BASE, "routing": "dropless", "n_shared_experts": 2, "d_ff_shared": 96}, "test")
)


def test_shared_experts_are_one_tensor_parallel_mlp_beside_the_routed_ones():
    """Two shared experts of width 96 (plain FFN: 2 matmuls) run as one MLP [T, h] x [h, 192 / tp]
    and back in every MoE layer, split over tp even where the routed experts are folded, with their
    own tensor-parallel collectives (Megatron's SharedExpertMLP); their hidden units are stored."""
    from glamsim.predict.compute import _shapes
    from glamsim.predict.memory import layer_activation_bytes

    lay = arr("tp=2,dp=4,ep=4,sp=1,mb=2,gbs=8")
    s = _shapes(SHARED, SEQ, lay)
    assert [one(x) for x in s["shared_in"]] == [64, H, 192 / 2, 1] and [one(x) for x in s["shared_out"]] == [
        64,
        96,
        H,
        1,
    ]
    assert one(_shapes(DROPLESS, SEQ, lay)["shared_in"][3]) == 0  # none: counted zero times
    # forward FLOPs of the 4 layers x 3 passes: 2 x 64 x 64 x 96 x 2 matmuls more a layer
    extra = 3 * 4 * 2 * 2 * 64 * H * 96
    flops = (one(microbatch_compute(m, SEQ, lay, H100)["flops_executed"]) for m in (SHARED, DROPLESS))
    assert next(flops) - next(flops) == pytest.approx(extra)
    act = (one(layer_activation_bytes(m, SEQ, lay, 2.0)) for m in (SHARED, DROPLESS))
    assert next(act) - next(act) == pytest.approx(2 * 64 * 192 * 2 / 2)  # bf16, f and its output, / tp
    fold = arr("tp=2,dp=4,ep=8,etp=1,sp=1,mb=2,gbs=8")
    base = one(microbatch_comm(DROPLESS, SEQ, lay, H100)["tp_s"])  # attention + routed halves
    assert one(microbatch_comm(SHARED, SEQ, lay, H100)["tp_s"]) == pytest.approx(1.5 * base)
    assert one(microbatch_comm(SHARED, SEQ, fold, H100)["tp_s"]) == pytest.approx(base)
    assert one(microbatch_comm(DROPLESS, SEQ, fold, H100)["tp_s"]) == pytest.approx(base / 2)
    # torchtitan gathers once for the whole MoE block: no pair of the shared experts' own
    tt = arr("tp=2,dp=4,ep=4,sp=1,mb=2,gbs=8,stack=pytorch-fsdp")
    assert one(microbatch_comm(SHARED, SEQ, tt, H100)["tp_s"]) == pytest.approx(
        one(microbatch_comm(DROPLESS, SEQ, tt, H100)["tp_s"])
    )


GATED = ModelArrays.of(
    validate_model(
        {**BASE, "routing": "dropless", "n_shared_experts": 2, "d_ff_shared": 96, "shared_expert_gate": True}, "test"
    )
)


def test_the_router_scores_a_ranks_sequence_parallel_tokens_and_the_shared_gate_is_a_matmul():
    """tp 2 with sequence parallelism: each rank routes its own 64 / 2 = 32 tokens (Megatron-Core's
    MoELayer routes the sequence-parallel shard), [32, h] x [h, 8], and its fp32 logits' passes and
    stored logits and probabilities are of those 32; without it each tensor rank routes all 64.  The
    model FLOPs count each token routed once either way.  Qwen2-MoE's shared-expert gate is a
    [T, h] x [h, 1] matmul on each rank, counted in the executed FLOPs beside the shared MLP."""
    from glamsim.predict.compute import _shapes
    from glamsim.predict.memory import layer_activation_parts
    from glamsim.predict.steptime import _stage_model_flops

    sp, whole = arr("tp=2,dp=4,ep=4,sp=1,mb=2,gbs=8"), arr("tp=2,dp=4,ep=4,mb=2,gbs=8")
    assert [one(x) for x in _shapes(DROPLESS, SEQ, sp)["router"]] == [T / 2, H, E, 1]
    assert [one(x) for x in _shapes(DROPLESS, SEQ, whole)["router"]] == [T, H, E, 1]
    # torchtitan replicates the router over the tensor ranks, sequence-parallel or not
    tt = arr("tp=2,dp=4,ep=4,sp=1,mb=2,gbs=8,stack=pytorch-fsdp")
    assert [one(x) for x in _shapes(DROPLESS, SEQ, tt)["router"]] == [T, H, E, 1]
    for lay, tokens in ((sp, T / 2), (whole, T)):
        router_s = one(moe_dispatch_forward(DROPLESS, SEQ, lay, H100)["router_s"])
        assert router_s == pytest.approx(eff.MOE_ROUTER_BYTES_PER_EXPERT * tokens * E / HBM)
    parts = layer_activation_parts(DROPLESS, SEQ, whole, 2.0)
    assert one(parts["router"]) == T * 2 * 4 * E  # fp32 logits and probabilities
    saved = one(layer_activation_bytes(DROPLESS, SEQ, whole, 2.0)) - one(layer_activation_bytes(DROPLESS, SEQ, sp, 2.0))
    assert saved == pytest.approx((one(parts["replicated"]) + one(parts["router"])) / 2)
    for other in (whole, tt):
        assert one(_stage_model_flops(DROPLESS, SEQ, other)) == pytest.approx(
            one(_stage_model_flops(DROPLESS, SEQ, sp))
        )
    assert [one(x) for x in _shapes(GATED, SEQ, sp)["shared_gate"]] == [T / 2, H, 1, 1]  # the shard, as the router
    assert [one(x) for x in _shapes(GATED, SEQ, whole)["shared_gate"]] == [T, H, 1, 1]
    assert one(_shapes(SHARED, SEQ, sp)["shared_gate"][3]) == 0  # ungated: counted zero times
    gated, plain = (one(microbatch_compute(m, SEQ, sp, H100)["flops_executed"]) for m in (GATED, SHARED))
    assert gated - plain == pytest.approx(3 * 4 * 2 * (T / 2) * H)  # 4 layers, forward and backward
    # model FLOPs: each token gated once, T / 2 per chip at tp 2 against T on one chip
    one_chip = one(_stage_model_flops(GATED, SEQ, arr("mb=2,gbs=2"))) - one(
        _stage_model_flops(SHARED, SEQ, arr("mb=2,gbs=2"))
    )
    two = one(_stage_model_flops(GATED, SEQ, sp)) - one(_stage_model_flops(SHARED, SEQ, sp))
    assert one_chip == pytest.approx(2 * two) == pytest.approx(3 * 4 * 2 * T * H)


def test_a_folded_split_needs_no_tensor_split_of_the_experts():
    """Experts 90 wide do not split over tp 4 (90 / 2 = 45 does): on Megatron the plan keeps tp 4
    for the other layers with the experts folded whole (etp 1) and offers no unfolded split there;
    a stack without folding has no tp 4 at all."""
    from glamsim.predict.plan import candidates

    cfg = validate_model({**BASE, "routing": "dropless", "d_ff_expert": 90}, "test")
    c = candidates(cfg, 8, SEQ, 8, Layout())
    at4 = c.tp == 4
    assert at4.any() and (c.etp[at4] == 1).all()
    at2 = c.tp == 2  # 90 / 2 = 45: both
    assert (c.etp[at2] == 1).any() and (c.etp[at2] == 2).any()
    xla = candidates(cfg, 8, SEQ, 8, Layout(stack="xla"))  # no folding there: tp 4 has no split at all
    assert not (xla.tp == 4).any()


def test_recomputing_the_moe_blocks_repeats_their_forward_and_keeps_only_their_input():
    """`recompute_moe=1` (Megatron-Core's `--recompute-modules moe`) runs every MoE block's forward
    again in the backward, counted by hand from Qwen3-30B-A3B's shapes on 8 H100 (EP 8, one
    microbatch of 4,096 tokens; 128 experts of 768, top-8): each rank's 16 experts take 4,096 x 8 x
    8 / 128 = 2,048 tokens through [2,048 x 1,536] (gate and up) and [768 x 2,048]; the router is
    [4,096 x 2,048] x [2,048 x 128]; the experts' SwiGLU keeps 3 values of 768 per routed token
    (gate, up, product) at 2 bytes, which the recomputed forward passes again. Its token movement
    runs a fourth time, its dispatch and combine all-to-alls a third time (6 a layer, not 4), and
    the stage stores only the attention's share of an MoE layer (the experts' activations and the
    router logits freed, one block's set back while it recomputes)."""
    from glamsim.predict.memory import activations, layer_activation_parts
    from glamsim.predict.validation import predictions

    cfg = predictions()[0]["qwen3-30b-a3b"]
    m, fab = ModelArrays.of(cfg), Fabric.of(load_chip("h100-sxm"))
    base, again = (LayoutArrays.of(parse_layout(f"dp=8,ep=8,mb=1,gbs=8,zero=1,recompute_moe={x}")) for x in (0, 1))
    c0, c1 = microbatch_compute(m, 4096, base, fab), microbatch_compute(m, 4096, again, fab)
    shapes = ((2048, 2048, 1536, 16), (2048, 768, 2048, 16), (4096, 2048, 128, 1))
    moe_s = sum(float(matmul_s(M, K, N, fab, n)) for M, K, N, n in shapes)
    ew = eff.ELEMENTWISE_PASSES * 4096 * 8 * 3 * 768 * 2 / fab.hbm_bytes_per_s
    layers = 48
    assert float(c1["recompute_s"][0]) - float(c0["recompute_s"][0]) == pytest.approx(layers * (moe_s + ew))
    assert float(c1["moe_permute_s"][0]) == pytest.approx(float(c0["moe_permute_s"][0]) * 4 / 3)
    flops = sum(2 * M * K * N * n for M, K, N, n in shapes)
    assert float(c1["flops_executed"][0]) - float(c0["flops_executed"][0]) == pytest.approx(layers * flops)
    a0, a1 = microbatch_comm(m, 4096, base, fab), microbatch_comm(m, 4096, again, fab)
    assert float(a1["ep_s"][0]) == pytest.approx(float(a0["ep_s"][0]) * 6 / 4)
    parts = layer_activation_parts(m, 4096, base)
    moe_set = float((parts["moe_ffn"] + parts["router"])[0])  # tp 1, every layer an MoE layer
    # the experts' SwiGLU values and their dispatched inputs (Megatron keeps no expert output), the
    # router's fp32 logits and probabilities
    assert moe_set == pytest.approx(4096 * (8 * (3 * 768 + 2048) * 2 + 2 * 4 * 128))
    kept0, kept1 = (float(activations(m, 4096, x)["activations"][0]) for x in (base, again))
    assert kept0 - kept1 == pytest.approx((layers - 1) * moe_set)


def test_recomputed_moe_blocks_repeat_their_tensor_parallel_pairs():
    """With experts split over the tensor ranks (etp = tp = 2) the routed experts' pair of
    sequence-parallel collectives runs once more per MoE layer in the recomputed forward, and with
    shared experts on Megatron their own pair too; folded experts (etp 1) have no pair to repeat.
    By hand: a reduce-scatter and an all-gather of the microbatch's T x h activations over 2 ranks."""
    from glamsim.predict.tiers import all_gather_s, reduce_scatter_s

    shared = ModelArrays.of(validate_model({**BASE, "routing": "dropless", "n_shared_experts": 1}, "test"))

    def tp(model, text):
        return one(microbatch_comm(model, SEQ, arr(text), H100)["tp_s"])

    pair = one(reduce_scatter_s(2 * SEQ * H, 2, 1, 8, H100) + all_gather_s(2 * SEQ * H, 2, 1, 8, H100))
    moe_layers = BASE["n_layers"]
    split, folded = "tp=2,dp=4,ep=4,sp=1,mb=1,gbs=4", "tp=2,dp=4,ep=8,etp=1,sp=1,mb=1,gbs=4"
    assert tp(DROPLESS, split + ",recompute_moe=1") - tp(DROPLESS, split) == pytest.approx(moe_layers * pair)
    assert tp(DROPLESS, folded + ",recompute_moe=1") == pytest.approx(tp(DROPLESS, folded))
    assert tp(shared, split + ",recompute_moe=1") - tp(shared, split) == pytest.approx(2 * moe_layers * pair)
    assert tp(shared, folded + ",recompute_moe=1") - tp(shared, folded) == pytest.approx(moe_layers * pair)


def test_recompute_moe_is_refused_where_it_means_nothing_and_searched_where_megatron_offers_it():
    """Beside recompute=op or full (which recompute the MoE blocks already) and on a dense model the
    key is refused in one line; the plan searches it for an MoE model on Megatron only."""
    from glamsim.config import load_model
    from glamsim.predict.layout import check_layout
    from glamsim.predict.plan import candidates

    for text in ("dp=8,ep=8,recompute=full,recompute_moe=1", "dp=8,recompute=op,recompute_moe=1"):
        with pytest.raises(ConfigError, match="recompute_moe=1: recomputes the MoE blocks beside"):
            parse_layout(text)
    with pytest.raises(ConfigError, match="recompute_moe=1: llama-2-7b has no MoE layers"):
        check_layout(parse_layout("dp=8,recompute_moe=1,gbs=8"), load_model("llama-2-7b"), 8, 4096)
    lay = parse_layout("dp=8,ep=8,recompute=selective,recompute_moe=1")
    assert parse_layout(lay.compact()) == lay
    from glamsim.predict.validation import predictions

    moe = predictions()[0]["qwen3-30b-a3b"]
    searched = candidates(moe, 8, 4096, 8, parse_layout("dp=1"))
    assert set(searched.recompute_moe) == {0.0, 1.0}
    assert set(searched.recompute[searched.recompute_moe > 0]) == {0.0, 1.0}  # beside none and selective only
    assert set(candidates(moe, 8, 4096, 8, parse_layout("dp=1,stack=xla")).recompute_moe) == {0.0}
    assert set(candidates(load_model("llama-2-7b"), 8, 4096, 8, parse_layout("dp=1")).recompute_moe) == {0.0}


def test_recompute_moe_beside_selective_frees_the_same_moe_set_and_the_plan_keeps_its_bound(monkeypatch):
    """Beside Korthikanti's selective recomputation the MoE blocks' recomputation frees the same
    per-layer set as beside none (the attention scores are fused away either way); and where the
    two extra recomputation choices would take the plan past its bound it leaves them out rather
    than refusing the search."""
    from glamsim.predict import plan
    from glamsim.predict.memory import activations, layer_activation_parts
    from glamsim.predict.validation import predictions

    cfg = predictions()[0]["qwen3-30b-a3b"]
    m = ModelArrays.of(cfg)
    parts = layer_activation_parts(m, 4096, arr("dp=8,ep=8,mb=1,gbs=8"))
    moe_set = one(parts["moe_ffn"] + parts["router"])
    sel, both = (
        one(activations(m, 4096, arr(f"dp=8,ep=8,mb=1,gbs=8,recompute=selective{x}"))["activations"])
        for x in ("", ",recompute_moe=1")
    )
    assert sel - both == pytest.approx((cfg.n_layers - 1) * moe_set)
    full = plan.candidates(cfg, 8, 4096, 8, Layout())
    assert set(full.recompute_moe) == {0.0, 1.0}
    monkeypatch.setattr(plan, "MAX_CANDIDATES", 1)  # the refusal names the search's size with 4 choices
    with pytest.raises(ConfigError) as err:
        plan.candidates(cfg, 8, 4096, 8, Layout())
    four = int(re.search(r"([\d,]+) candidate layouts", str(err.value)).group(1).replace(",", ""))
    monkeypatch.setattr(plan, "MAX_CANDIDATES", four)  # room for 4 choices, not 6
    bounded = plan.candidates(cfg, 8, 4096, 8, Layout())
    assert set(bounded.recompute_moe) == {0.0} and len(bounded) < len(full)
