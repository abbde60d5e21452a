"""Step time per chip: compute, exposed communication by kind, bubble and recomputation, giving
predicted step time, MFU and HFU.

Composition (m microbatches per data-parallel rank, busiest stage):
    microbatch = forward + backward + MoE token movement + recomputation
                 + exposed tp + ep + cp + pp communication
    step       = m x microbatch + bubble + exposed data-parallel communication + optimizer update
Overlap rules (stated, not fitted):
- tensor-parallel collectives are exposed (they sit between dependent matmuls), unless the layout
  says `tp_overlap=1`: then each runs as a decomposed collective matmul (Megatron/Transformer
  Engine's ring-exchange overlap, PyTorch's async TP, XLA's collective matmul: Wang et al. 2023,
  ASPLOS, "Overlap communication with dependent computation via decomposition"), split into tp
  chunks, each chunk's transfer under another chunk's matmul, so they hide behind the
  forward/backward matmuls up to their length, except the last chunk of each reduce-scatter,
  which follows the last partial matmul: half the traffic (the reduce-scatters) / tp stays exposed,
  and without sequence parallelism (`sp=0`) the all-reduces' all-gather half too (it feeds a norm);
- expert all-to-alls are exposed, unless the layout says `a2a_overlap=1`: then they hide behind
  the matmuls tensor-parallel overlap left free: all of another microbatch's on Megatron-Core
  (`--overlap-moe-expert-parallel-comm`: one microbatch's forward scheduled with another's
  backward), the same microbatch's expert matmuls elsewhere (Tutel's adaptive pipelining, Hwang et
  al. 2023, arXiv:2206.03382: each chunk's all-to-all under the previous chunk's experts)
  (`efficiency.MOE_A2A_OVERLAP_WHOLE_MICROBATCH`); DeepEP's kernels (`a2a_dedup=1`) hold
  `efficiency.DEEPEP_SMS` of the chip's SMs meanwhile, so where the compute outlasts the
  all-to-all it needs that share of the all-to-all's time again (counted with the exposed
  all-to-all);
- MoE token movement (`moe_permute_s`: permutation and un-permutation, or GShard's dispatch
  einsums, and the router's softmax/top-k, `compute.moe_dispatch_forward`) is its own item, on the
  critical path between the router and the experts;
- pipeline sends are exposed, except the steady phase's of Megatron's interleaved schedule (or of
  any stack's where the layout says `pp_overlap=1`; none with `pp_overlap=0`), each behind the
  next chunk's compute (`pipeline_exposed_s`), and context-parallel K/V gathers
  (`cp_comm=allgather`, Llama 3's),
  except where a ring overlaps the exchange with its steps (`efficiency.CP_COMM`; PyTorch's
  `allgather-overlap`: the gather behind the first block, the fp32 K/V gradients behind the next
  step; Transformer Engine's `p2p`: each chunk's send behind a step; `glamsim.predict.ring`);
- data-parallel gradient communication (ZeRO 0-2, and hybrid sharding's all-reduce across the
  replicas, beside ZeRO-3's own collectives, not after them: PyTorch's FSDP runs it on a stream of
  its own "since collectives use different network resources and can overlap in the typical
  intra-node sharding / inter-node replication case", torch/distributed/fsdp/_fully_shard/
  _fsdp_param_group.py `FSDPCommContext`; XLA assumed alike, though MaxText's multi-slice runs
  lose more than that predicts, docs/prediction.md)
  hides behind the backward pass of the last microbatch, except its last bucket (one
  layer's share, which can only start after the last layer's backward), where the stack reduces in
  the backward (`grad_overlap`, `efficiency.DP_REDUCE_IN_BACKWARD`), and is exposed after it where it
  does not; at ZeRO 1-2 the updated weights' all-gather (`collectives.data_parallel_comm`'s
  `dp_gather_s`) hides behind the next step's first forward where the stack issues it there
  (`gather_overlap`), except the first layer's share, and is exposed after the optimizer step
  where it does not; ZeRO-3 gathers and reduce-scatters hide behind each microbatch's compute
  the same way (prefetch), except the first layer's share, and only the fraction the stack
  fetches ahead: min(1, prefetch parameters / parameters per gather) (DeepSpeed 5e7 elements);
  where the ZeRO-3 shard group crosses nodes they also hide behind the microbatch's exposed
  collectives that stay inside a node (tensor, expert, context parallel: other links, the prefetch on
  its own stream; assumed, an upper bound: NCCL's rings across nodes use NVLink and SMs too);
- pipeline bubble: (pp - 1) / vp microbatch times (1F1B: (pp - 1) / m of the ideal time;
  interleaved: divided by vp), their pipeline sends all exposed (the ramps' are never overlapped);
- the optimizer update streams the chip's parameter shard, gradients and states through HBM once.
MFU = the model FLOPs of the step (glamsim.accounting: 6N-style, full S x S attention, top-k
experts) / (chips x step time x dense peak).  HFU counts what executes instead: capacity slots,
recomputation, fused attention's skipped causal half.  Load imbalance across experts: GShard
capacity buffers compute every slot (E x capacity / group per token, so the capacity factor sets
the expert work), or, given a measured router load (max / mean tokens per expert, `expert_load`),
top-k x that load for a dropless implementation.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from glamsim.accounting import ModelArrays, train_flops_per_step
from glamsim.predict import efficiency as eff
from glamsim.predict.collectives import data_parallel_comm, microbatch_comm
from glamsim.predict.compute import (
    _score_shapes,
    _shapes,
    matmul_flops,
    microbatch_compute,
)
from glamsim.predict.layout import LayoutArrays
from glamsim.predict.memory import master_bytes_per_param, optimizer_values_per_param
from glamsim.predict.ring import p2p_comm, ring_comm
from glamsim.predict.stage import (
    chip_params,
    expert_stride,
    interleaved_warmup,
    layers_per_stage,
    tokens_per_microbatch,
    zero_groups,
)
from glamsim.predict.tiers import Fabric, nodes_spanned

BREAKDOWN = (
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


def optimizer_s(m: ModelArrays, lay: LayoutArrays, fab: Fabric):
    """One optimizer update on the chip's ZeRO shard: read weights (fp32 master where kept),
    gradients and states, write weights and states back."""
    dense, expert = chip_params(m, lay)
    g_dense, g_expert = zero_groups(lay)
    shard = np.where(lay.zero >= 1, dense / g_dense + expert / g_expert, dense + expert)
    master = master_bytes_per_param(lay)
    states = optimizer_values_per_param(m, lay) * lay.state_bytes
    per_param = (lay.param_bytes + master) * 2 + lay.grad_bytes + 2 * states
    return shard * per_param / fab.hbm_bytes_per_s


def _stage_model_flops(m: ModelArrays, seq_len, lay: LayoutArrays):
    """Model FLOPs of one microbatch on the busiest stage (top-k experts, full attention; each token
    routed and gated once, T / tp per chip, whichever ranks the stack runs the router on)."""
    mm = _shapes(m, seq_len, lay, expert_load=1.0)  # top-k x 1: the routed tokens, no padding
    T = tokens_per_microbatch(lay, seq_len)
    for name in ("router", "shared_gate"):
        if name in mm:
            mm[name] = (T / lay.tp, *mm[name][1:])
    sc = _score_shapes(m, seq_len, replace(lay, flash=0 * lay.flash))  # the full S x S scores
    fwd = sum(matmul_flops(M, K, N, c) for M, K, N, c in mm.values())
    fwd = fwd + sum(matmul_flops(M, K, N, c) for M, K, N, c in sc.values())
    return 3 * (layers_per_stage(m, lay) * fwd + matmul_flops(T, m.d_model, m.vocab / lay.tp))


def _microbatch(m: ModelArrays, seq_len, lay: LayoutArrays, fab: Fabric, expert_load, layers=None, output=1.0) -> dict:
    """One microbatch on a stage of `layers` layers (None: `layers_per_stage`) and, where `output`
    is 1, the output layer: its compute (`c`), communication (`comm`), the exposed seconds of each
    kind and their sum (`time`)."""
    c = microbatch_compute(m, seq_len, lay, fab, expert_load, layers, output)
    comm = microbatch_comm(m, seq_len, lay, fab, layers)
    compute = c["forward_s"] + c["backward_s"]
    moe = c["moe_permute_s"] + c["moe_router_s"]
    # overlap budgets: TP collectives hide behind the matmuls (forward, backward = 3 x forward);
    # expert all-to-alls behind what is left: another microbatch's matmuls (Megatron-Core) or the
    # same microbatch's expert matmuls (chunks pipelined, Tutel)
    # (recomputed MoE blocks run their expert matmuls once more, `recompute_moe`)
    matmuls = 3 * c["matmul_time_fwd_s"] + lay.recompute_moe * c["expert_matmul_fwd_s"]
    # each reduce-scatter's last chunk, after the last partial matmul; without sequence parallelism
    # the all-reduce's all-gather half feeds a norm, not a matmul, and stays exposed too
    fill = comm["tp_s"] / (2 * lay.tp) + np.where(lay.sp > 0, 0.0, comm["tp_s"] / 2)
    hideable = comm["tp_s"] - fill
    tp = np.where(lay.tp_overlap > 0, fill + np.maximum(hideable - matmuls, 0.0), comm["tp_s"])
    left = np.where(lay.tp_overlap > 0, np.maximum(matmuls - hideable, 0.0), matmuls)
    whole = eff.by_stack(eff.MOE_A2A_OVERLAP_WHOLE_MICROBATCH, lay.stack) > 0
    ep_budget = np.where(whole, left, np.minimum((3 + lay.recompute_moe) * c["expert_matmul_fwd_s"], left))
    ep = np.where(lay.a2a_overlap > 0, np.maximum(comm["ep_s"] - ep_budget, 0.0), comm["ep_s"])
    # DeepEP's kernels hold SMs that the compute beside them lacks: the microbatch takes
    # max(all-to-all, compute + share x all-to-all), so beyond the compute the larger of the
    # exposed all-to-all and the share of it (nothing more where the all-to-all outlasts the
    # compute, which then waits anyway)
    sm_share = np.where(lay.a2a_dedup > 0, min(eff.DEEPEP_SMS / fab.sms, 1.0), 0.0) if fab.sms > 0 else 0.0
    ep = np.maximum(ep, sm_share * comm["ep_s"])
    # context parallelism: an exposed gather, or a ring hiding its K/V exchange behind the steps
    # (PyTorch's gather behind the first block, Transformer Engine's sends behind every step)
    kernels = (c["attention_kernel_fwd_s"], c["attention_kernel_bwd_s"])
    ring = ring_comm(m, seq_len, lay, fab, *kernels, layers=layers)
    p2p = p2p_comm(m, seq_len, lay, fab, *kernels, layers=layers)
    way = eff.cp_comm(lay.stack, lay.cp_comm)
    P2P, OVERLAP = eff.CP_COMMS.index("p2p"), eff.CP_COMMS.index("allgather-overlap")
    cp_s = np.where(way == P2P, p2p["cp_s"], np.where(way == OVERLAP, ring["cp_s"], comm["cp_s"]))
    cp_bytes = np.where(way == P2P, p2p["cp_bytes"], np.where(way == OVERLAP, ring["cp_bytes"], comm["cp_bytes"]))
    # a chunk's forward and its backward (with its recomputation and the MoE token movement, split
    # as forward 1 : backward 2 like the rest of the compute)
    forward = c["forward_s"] + moe / 3
    pp = pipeline_exposed_s(comm["pp_s"], forward, compute + moe + c["recompute_s"] - forward, lay)
    time = compute + moe + c["recompute_s"] + tp + ep + cp_s + pp
    keys = ("c", "comm", "compute", "moe", "tp", "ep", "cp_s", "cp_bytes", "pp", "time")
    return dict(zip(keys, (c, comm, compute, moe, tp, ep, cp_s, cp_bytes, pp, time), strict=True))


def pipeline_exposed_s(pp_s, forward_s, backward_s, lay: LayoutArrays):
    """Exposed seconds of one microbatch's pipeline sends (`pp_s`: 2 vp sends, a forward and a
    backward per chunk) beside its `forward_s` and `backward_s` of compute.  Exposed, except in
    an interleaved schedule that overlaps them (`pp_overlap`: Megatron's by default), whose steady
    1F1B phase posts each chunk's send and receive
    beside the next step's compute (Megatron-LM's overlap_p2p_comm, on by default with virtual
    stages, `--no-overlap-p2p-communication`; `pp_overlap=0` where every send blocks, as Megatron-LM's
    `_communicate` of 2021-2022 did): a forward send shows only beyond a chunk's backward,
    a backward send beyond a chunk's forward; the warm-up's sends and the flush's as many stay
    exposed (`--overlap-p2p-communication-warmup-flush` is off by default), 2 (pp - 1) +
    (vp - 1) pp of the m vp chunks each way (Megatron's warm-up count)."""
    sends = 2 * lay.vp
    one = pp_s / sends
    chunks = np.maximum(lay.microbatches * lay.vp, 1.0)
    warm = np.minimum(interleaved_warmup(lay), chunks) / chunks
    steady = lay.vp * (np.maximum(one - backward_s / lay.vp, 0.0) + np.maximum(one - forward_s / lay.vp, 0.0))
    overlapped = lay.pp_overlap > 0  # 0 without virtual stages (`Layout.pp_overlap_code`, the plan)
    return np.where(overlapped, warm * pp_s + (1 - warm) * steady, pp_s)


def _pick(choose, a: dict, b: dict) -> dict:
    """Each entry of `a` where `choose`, else of `b` (nested dicts alike)."""
    return {k: _pick(choose, v, b[k]) if isinstance(v, dict) else np.where(choose, v, b[k]) for k, v in a.items()}


def pace_stage(m: ModelArrays, seq_len, lay: LayoutArrays, fab: Fabric, expert_load, stage: dict) -> dict:
    """The microbatch of the stage that sets the pipeline's pace, given `stage` (`_microbatch` of
    the busiest stage's layers with the output layer).  Under `embed_loss` with a middle stage
    (pp >= 3) the last stage gave a layer's slot to the output layer and loss, and a middle one
    holds that layer and no output layer: the slower of the two, collectives included, sets the
    pace, and its items are the breakdown's."""
    middle = lay.embed_loss * (lay.pp > 2) > 0
    if not np.any(middle):
        return stage
    layers = layers_per_stage(m, lay)
    mid = _microbatch(m, seq_len, lay, fab, expert_load, layers, output=0.0)
    last = _microbatch(m, seq_len, lay, fab, expert_load, layers - 1, output=1.0)
    return _pick(middle, _pick(last["time"] > mid["time"], last, mid), stage)


def predict(m: ModelArrays, seq_len, lay: LayoutArrays, fab: Fabric, expert_load=None) -> dict:
    """The step-time breakdown (seconds per step), step time, MFU and HFU of every layout."""
    stage = _microbatch(m, seq_len, lay, fab, expert_load)  # the busiest stage's bytes
    one = pace_stage(m, seq_len, lay, fab, expert_load, stage)
    c, compute, moe, tp, ep = (one[k] for k in ("c", "compute", "moe", "tp", "ep"))
    cp_s, mb_time, comm = one["cp_s"], one["time"], stage["comm"]
    dp = data_parallel_comm(m, lay, fab)
    micro = lay.microbatches
    layers = layers_per_stage(m, lay)

    # the ramps' sends are warm-up and flush sends, never overlapped (`pipeline_exposed_s`)
    bubble = (lay.pp - 1) / lay.vp * (mb_time - one["pp"] + one["comm"]["pp_s"])
    # the gradients' reduction hides behind the last backward where the stack reduces there
    # (`grad_overlap`); below ZeRO-3 the weights' gather behind the next step's first forward where
    # the stack overlaps it, else after the optimizer step
    gather = dp["dp_gather_s"]
    reduce = dp["dp_step_s"] - gather
    overlap = lay.gather_overlap > 0
    # each hidden collective leaves one layer's share exposed: the last bucket reduced, the first gathered
    gather_exposed = np.where(overlap, np.maximum(gather - c["forward_s"], 0.0) + gather / layers, gather)
    # the reduction in the last backward, its last bucket after it; or all of it after the backward
    reduce_exposed = np.where(lay.grad_overlap > 0, np.maximum(reduce - c["backward_s"], 0.0) + reduce / layers, reduce)
    dp_step = reduce_exposed + gather_exposed
    z3 = dp["dp_microbatch_s"]
    # prefetch hides a gather behind the compute before it, as far as the stack fetches ahead
    dense, _ = chip_params(m, lay)
    group = dense * lay.tp / np.maximum(layers * eff.by_stack(eff.ZERO3_GATHERS_PER_LAYER, lay.stack), 1.0)
    ahead = np.minimum(eff.by_stack(eff.ZERO3_PREFETCH_PARAMS, lay.stack) / np.maximum(group, 1.0), 1.0)
    hidden = ahead * z3

    # the prefetch stream runs beside the compute stream's whole microbatch: its compute, and its own
    # exposed collectives where those stay inside a node while a ZeRO-3 shard group (hybrid sharding:
    # the shard, not the replicas) crosses nodes (other links: NVLink beside InfiniBand; within one
    # node or TPU slice they share the links and do not).  An assumption, not measured: NCCL's rings
    # across nodes also move data over NVLink inside each node and hold SMs, so an upper bound
    def one_node(stride, size):
        return nodes_spanned(stride, size, fab) <= 1

    # the shard group (shard x cp ranks tp apart); the experts' shards lie inside it
    crosses = ~one_node(lay.tp, zero_groups(lay)[0])
    inside = (
        np.where(one_node(1, lay.tp), tp, 0.0)
        + np.where(one_node(expert_stride(lay), lay.ep), ep, 0.0)
        + np.where(one_node(lay.tp, lay.cp), cp_s, 0.0)
    )
    cover = compute + moe + c["recompute_s"] + np.where(crosses, inside, 0.0)
    dp_micro = (1 - ahead) * z3 + np.maximum(hidden - cover, 0.0) + hidden / layers
    opt = optimizer_s(m, lay, fab)
    step = micro * mb_time + bubble + dp_step + micro * dp_micro + opt

    out = {
        "compute_s": micro * compute,
        "moe_permute_s": micro * moe,
        "recompute_s": micro * c["recompute_s"],
        "tp_exposed_s": micro * tp,
        "ep_exposed_s": micro * ep,
        "cp_exposed_s": micro * cp_s,
        "pp_exposed_s": micro * one["pp"],
        "bubble_s": bubble,
        "dp_exposed_s": dp_step + micro * dp_micro,
        "optimizer_s": opt,
        "step_s": step,
        "matmul_s": micro * c["matmul_s"],
        "attention_s": micro * c["attention_s"],
        "elementwise_s": micro * c["elementwise_s"],
        "moe_router_s": micro * c["moe_router_s"],
        "ep_s": micro * comm["ep_s"],
        "tp_bytes_per_step": micro * comm["tp_bytes"],
        "ep_bytes_per_step": micro * comm["ep_bytes"],
        "cp_bytes_per_step": micro * stage["cp_bytes"],
        "pp_bytes_per_step": micro * comm["pp_bytes"],
        "dp_bytes_per_step": dp["dp_bytes"] * np.where(lay.zero >= 3, 1.5 * micro, 1.0),
    }
    chips = lay.chips
    model_flops = train_flops_per_step(m, lay.gbs, seq_len)
    out["model_flops_per_step"] = model_flops + 0 * step
    out["mfu"] = model_flops / (chips * step * fab.peak_flops)
    out["hfu"] = out["mfu"] * c["flops_executed"] / _stage_model_flops(m, seq_len, lay)
    out["tokens_per_s"] = lay.gbs * seq_len / step
    return out
