"""Communication per parallel dimension: the collectives of one step, their bytes and seconds.

Per microbatch, on the busiest stage (L_s layers; T = mb x seq / cp tokens on a chip; h = d_model;
activations at `act_bytes`):
- tensor parallel (group tp, stride 1): per layer 2 all-reduces of T h activations forward and 2
  backward (Megatron's f/g operators), 2 more forward under full recomputation; with sequence
  parallelism each all-reduce becomes a reduce-scatter + all-gather of the same bytes.  Folded
  (`etp` < tp), an MoE layer's routed-expert half runs over its etp ranks on their T etp / tp
  tokens (none at etp 1: each rank dispatches its own sequence-parallel shard); shared experts add
  their own pair over tp on Megatron or folded (Megatron's SharedExpertMLP, a tensor-parallel MLP;
  torchtitan gathers once for the whole MoE block and reduces shared and routed outputs together).
- expert parallel (group ep, stride tp cp, or etp folded): per MoE layer an all-to-all for dispatch and one for
  combine, forward and backward (4; 6 with full recomputation or `recompute_moe`, which repeats the
  MoE blocks' expert tensor-parallel pair too), each of the chip's share of the
  capacity buffer: T x slots x h / tp (the tensor-parallel ranks split the dispatch); with
  `a2a_dedup` T x ranks x h / tp, a token once per destination rank (`stage.a2a_copies_per_token`),
  of which only T x remote nodes x h / tp crosses nodes: DeepEP's internode dispatch sends a token
  once to each destination node (`get_dispatch_layout`'s `num_tokens_per_rdma_rank`, "the number of
  tokens to be sent to each RDMA rank (with the same GPU index)") and forwards it over NVLink there,
  its combine reduces inside the node before the one RDMA row back.
- context parallel (group cp, stride tp), `cp_comm=allgather`: per layer an all-gather of K and V
  for the whole sequence forward (Llama 3's all-gather variant), a reduce-scatter of their
  gradients backward, another all-gather for each recomputed attention; exposed.  The rings that
  overlap the exchange (PyTorch's, Transformer Engine's) are costed by `glamsim.predict.ring`.
- pipeline (stride tp cp dp): per microbatch and virtual stage, one send of T h activations
  forward and one of their gradient backward (scatter/gather over tp: / tp).
Per step (or per microbatch under ZeRO-3):
- data parallel: gradients of the chip's non-expert parameters over dp x cp ranks (stride tp),
  of its experts over dp x cp / ep (stride tp cp ep; folded tp x cp x dp / (ep x etp), stride
  ep x etp, `stage.expert_data_parallel`): an all-reduce (ZeRO 0), or a reduce-scatter
  of gradients + an all-gather of weights (ZeRO 1-2, same bytes; the gather after the optimizer
  step, `dp_gather_s`), in the stack's buckets
  (`efficiency.dp_buckets`), each paying its own latency; ZeRO-3 gathers the weights
  forward and backward and reduce-scatters gradients for every microbatch, in
  layers x `ZERO3_GATHERS_PER_LAYER` groups per pass, each paying a ring pass of latency (n - 1
  messages), and once more under full recomputation where the stack regathers for it;
  under hybrid sharding (`shard` < dp) the ZeRO collectives span the shard group and each shard's
  gradients are all-reduced across the dp / shard replicas once per step; DeepSpeed's list-form
  collectives add a copy kernel per rank and a copy of the gathered bytes to each
  (`efficiency.ZERO3_COPY_PER_RANK`).
What full recomputation adds applies to the share of the layers recomputed
(`stage.recomputed_share`: all, or `recompute_layers` of each model chunk).
"""

from __future__ import annotations

import numpy as np

from glamsim.accounting import ModelArrays
from glamsim.predict import efficiency as eff
from glamsim.predict.layout import LayoutArrays
from glamsim.predict.ring import attention_forwards, gathered_kv_bytes
from glamsim.predict.stage import (
    a2a_copies_per_token,
    blocks_per_token,
    chip_params,
    expert_data_parallel,
    expert_stride,
    folded,
    layers_per_stage,
    moe_share,
    recomputed_share,
    tokens_per_microbatch,
    zero_groups,
)
from glamsim.predict.tiers import (
    Fabric,
    all_gather_s,
    allreduce_s,
    alltoall_s,
    nodes_spanned,
    reduce_scatter_s,
    ring_latency_s,
    sendrecv_s,
)


def microbatch_comm(m: ModelArrays, seq_len, lay: LayoutArrays, fab: Fabric, layers=None) -> dict:
    """Bytes (`*_bytes`, per chip, what each collective's buffer holds) and seconds of one
    microbatch's tensor, expert, context and pipeline communication on the busiest stage: its
    `layers` layers (default `layers_per_stage`; the pace stage's from `steptime.predict`)."""
    n = lay.chips
    layers = layers_per_stage(m, lay) if layers is None else layers
    T = tokens_per_microbatch(lay, seq_len)
    act = fab.act_bytes * T * m.d_model
    whole = recomputed_share(m, lay)  # the share of the layers whose forward runs twice
    moe_layers = layers * moe_share(m)

    def tp_one(nbytes, ranks):
        rs_ag = reduce_scatter_s(nbytes, ranks, 1, n, fab) + all_gather_s(nbytes, ranks, 1, n, fab)
        return np.where(lay.sp > 0, rs_ag, allreduce_s(nbytes, ranks, 1, n, fab))

    # per layer, the attention's half and the FFN's half; folded, an MoE layer's routed experts over
    # their etp ranks; shared experts, on Megatron or folded, a tensor-parallel MLP with a pair of its
    # own over the tp ranks (Megatron's SharedExpertMLP; torchtitan's one pair serves the whole block)
    half = 2 + whole
    expert_act = act * lay.etp / lay.tp
    apart = (m.n_shared > 0) & ((lay.stack == eff.MEGATRON) | folded(lay))
    full = 2 * layers - moe_layers + moe_layers * apart  # collectives over tp, per half
    # recomputing the MoE blocks (`recompute_moe`) runs their forward collectives once more: the
    # routed experts' pair over etp and the shared experts' own pair where they have one
    again = lay.recompute_moe
    moe_half = half + again
    shared_again = again * moe_layers * apart
    tp_s = (half * full + shared_again) * tp_one(act, lay.tp) + moe_half * moe_layers * tp_one(expert_act, lay.etp)
    tp_bytes = (half * full + shared_again) * np.where(lay.tp > 1, act, 0.0) + moe_half * moe_layers * np.where(
        lay.etp > 1, expert_act, 0.0
    )

    a2a_count = moe_layers * (4 + 2 * whole + 2 * lay.recompute_moe)
    a2a_bytes = fab.act_bytes * T * a2a_copies_per_token(m, seq_len, lay) * m.d_model / lay.tp
    stride = expert_stride(lay)
    a2a_one = alltoall_s(a2a_bytes, lay.ep, stride, n, fab)
    if np.any(lay.a2a_dedup > 0):  # DeepEP: across nodes a token travels once per destination node
        nodes = nodes_spanned(stride, lay.ep, fab)  # equal blocks of experts, whole nodes
        remote = blocks_per_token(m, lay, nodes) * (nodes - 1) / nodes
        off_node = fab.act_bytes * T * remote * m.d_model / lay.tp
        a2a_one = np.where(lay.a2a_dedup > 0, alltoall_s(a2a_bytes, lay.ep, stride, n, fab, off_node), a2a_one)

    kv_bytes = gathered_kv_bytes(m, seq_len, lay, fab.act_bytes)  # K and V, whole sequence
    cp_count = layers * (1 + attention_forwards(m, lay))
    cp_one = all_gather_s(kv_bytes, lay.cp, lay.tp, n, fab)

    p2p_bytes = act / lay.tp
    p2p_count = 2 * lay.vp
    p2p_one = sendrecv_s(p2p_bytes, lay.tp * lay.cp * lay.dp, fab, lay.pp)
    return {
        "tp_bytes": tp_bytes,
        "tp_s": tp_s,
        "ep_bytes": a2a_count * np.where(lay.ep > 1, a2a_bytes, 0.0),
        "ep_s": a2a_count * a2a_one,
        "cp_bytes": cp_count * np.where(lay.cp > 1, kv_bytes, 0.0),
        "cp_s": cp_count * cp_one,
        "pp_bytes": p2p_count * np.where(lay.pp > 1, p2p_bytes, 0.0),
        "pp_s": p2p_count * p2p_one,
    }


def data_parallel_comm(m: ModelArrays, lay: LayoutArrays, fab: Fabric) -> dict:
    """Gradient (and ZeRO-3 weight) communication: bytes per chip and seconds, per step for ZeRO
    0-2 (`dp_step_s`, of which `dp_gather_s` is ZeRO 1-2's all-gather of the updated weights, with
    its buckets' latency: what `gather_overlap` may hide behind the next forward), per microbatch
    for ZeRO-3 (`dp_microbatch_s`)."""
    n = lay.chips
    dense, expert = chip_params(m, lay)
    (g_dense, s_dense), (g_expert, s_expert) = (lay.dp * lay.cp, lay.tp), expert_data_parallel(lay)
    grad_d, grad_e = dense * lay.grad_bytes, expert * lay.grad_bytes
    w_d, w_e = dense * lay.param_bytes, expert * lay.param_bytes
    has_e = expert > 0  # a dense model runs no expert collectives (not even their latency)

    def ex(t):
        return np.where(has_e, t, 0.0)

    allreduce = allreduce_s(grad_d, g_dense, s_dense, n, fab) + ex(allreduce_s(grad_e, g_expert, s_expert, n, fab))
    z_d, z_e = zero_groups(lay)  # the ZeRO shard groups (all of dp unless hybrid sharding)
    gather = all_gather_s(w_d, z_d, s_dense, n, fab) + ex(all_gather_s(w_e, z_e, s_expert, n, fab))
    rs_ag = (
        reduce_scatter_s(grad_d, z_d, s_dense, n, fab) + ex(reduce_scatter_s(grad_e, z_e, s_expert, n, fab)) + gather
    )
    # below ZeRO-3 the stack's buckets are collectives of their own: each further one pays its latency
    # (sized by the dense data-parallel group for the expert buffers too, as Megatron-Core does); at
    # ZeRO-3 the gather groups, which the hybrid replicas' all-reduce follows
    layers = layers_per_stage(m, lay)
    more_d = np.maximum(eff.dp_buckets(dense, lay, g_dense, layers) - 1.0, 0.0)
    more_e = np.maximum(eff.dp_buckets(expert, lay, g_dense, layers * moe_share(m)) - 1.0, 0.0)
    buckets_ar = allreduce + more_d * allreduce_s(0.0, g_dense, s_dense, n, fab)
    buckets_ar = buckets_ar + ex(more_e * allreduce_s(0.0, g_expert, s_expert, n, fab))
    # each further bucket's ring of latency, once for its reduce-scatter and once for its gather
    bucket_lat = more_d * ring_latency_s(z_d, s_dense, fab) + ex(more_e * ring_latency_s(z_e, s_expert, fab))
    buckets_rs_ag = rs_ag + 2 * bucket_lat
    regather = recomputed_share(m, lay) * eff.by_stack(eff.ZERO3_REGATHER_ON_RECOMPUTE, lay.stack)
    z3 = rs_ag + (1 + regather) * gather
    # ZeRO-3 moves the weights one group at a time: every further group pays its ring latency (at
    # ZeRO-3 `dp_buckets` counts the gather groups, layers x `ZERO3_GATHERS_PER_LAYER`; z3 is used there only)
    groups = more_d
    z3 = z3 + (3 + regather) * groups * (
        ring_latency_s(z_d, s_dense, fab) + ex(moe_share(m) * ring_latency_s(z_e, s_expert, fab))
    )
    # DeepSpeed's list-form collectives: a copy kernel per rank per collective, and the gathered
    # bytes copied once more (read and written) through HBM
    copies = eff.by_stack(eff.ZERO3_COPY_PER_RANK, lay.stack) * (3 + regather)
    z3 = z3 + copies * (
        (groups + 1) * eff.KERNEL_SLOT_S * (z_d + ex(moe_share(m) * z_e)) + 2 * (w_d + w_e) / fab.hbm_bytes_per_s
    )
    # hybrid sharding: each shard's gradients all-reduced across the replicas once per step, in the
    # stack's pieces (FSDP's units, the buckets), each further one paying its latency
    replicas = lay.dp / lay.shard
    hsdp = allreduce_s(grad_d / z_d, replicas, s_dense * z_d, n, fab) + ex(
        allreduce_s(grad_e / z_e, replicas, s_expert * z_e, n, fab)
    )
    hsdp = hsdp + more_d * allreduce_s(0.0, replicas, s_dense * z_d, n, fab)
    hsdp = hsdp + ex(more_e * allreduce_s(0.0, replicas, s_expert * z_e, n, fab))
    z = lay.zero
    step_s = np.where(z == 0, buckets_ar, np.where(z < 3, buckets_rs_ag, 0.0) + hsdp)
    # the weights' gather after the optimizer step, its buckets' latency with it (the rest of
    # `dp_step_s` reduces gradients in the backward)
    gather_s = np.where((z > 0) & (z < 3), gather + bucket_lat, 0.0)
    micro_s = np.where(z >= 3, z3, 0.0)
    grad_bytes = np.where(g_dense > 1, grad_d, 0.0) + np.where(g_expert > 1, grad_e, 0.0)
    return {"dp_bytes": grad_bytes, "dp_step_s": step_s, "dp_gather_s": gather_s, "dp_microbatch_s": micro_s}
