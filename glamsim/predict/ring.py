"""Context-parallel ring attention: what its K/V exchange leaves exposed and what its merges cost.

A context-parallel rank holds S / cp of the sequence and computes its queries against every key in
cp ring steps.  How the keys and values travel (`cp_comm`, else the stack's: `efficiency.CP_COMM`)
and what the merges of the steps' partial outputs cost outside the attention kernel depend on the
ring's code (`MERGE_BYTES_*`, by exchange); how wide K and V are, on the model code
(`CP_KV_AT_QUERY_HEADS`, by stack).  Whatever the attention repeats in the backward pass (full
recomputation of a layer, selective recomputation of the attention) repeats its exchange too
(`attention_forwards`).

PyTorch's ring attention (`torch.distributed.tensor.experimental._attention`, what torchtitan
runs), per layer and pass, L_s layers on the busiest stage:
- load balancing is on by default (`_ContextParallelOptions.enable_load_balance = True`): a rank
  holds sequence chunks r and 2 cp - 1 - r, so every ring step does 1 / cp of its attention and no
  rank waits for a busier one;
- K and V are all-gathered (rotate method `allgather`, torchtitan's default): the gather is
  issued before the local block and waited for after it, so it hides behind one step,
  max(0, t_gather - t_attention / cp) exposed, in the forward, in the recomputed forward and in
  the backward, which gathers again;
- the backward passes the K/V gradients, in fp32 (`convert_to_f32`), to the next rank after every
  step (an all-to-all permute): each transfer hides behind the next step, the last is waited
  for;
- compiled (`fused=1`, as for the merges below: torchtitan compiles each block whole with `fullgraph=True`, so
  a graph break would be an error and the ring, which context parallelism patches into
  `F.scaled_dot_product_attention`, is traced into the block's graph) nothing hides: a traced
  functional collective is waited for as soon as it is issued
  (`torch.distributed._functional_collectives._maybe_wrap_tensor`: "if _are_we_tracing(): return
  wait_tensor(self)"), and Inductor's compute/communication reordering
  (`reorder_for_compute_comm_overlap`) is off unless set, which torchtitan does not (its
  `parallelize_llama.py` of early 2025 sets only `_micro_pipeline_tp`, for async TP; 9dec370 itself
  is not stored);
- the merges of the steps' outputs and gradients are fp32 element-wise work outside the kernel,
  op by op in eager mode, fused when compiled: `MERGE_BYTES_EAGER` / `_FUSED` per element of the
  rank's attention output and of its K and V, per step, through HBM (`merge_s`, counted with the
  attention time in `compute.microbatch_compute`).
Transformer Engine's P2P ring (`p2p`, Megatron-Core's): each of the first cp - 1 steps sends the
chunk of K and V it holds to the next rank while it computes with it, so each send hides behind one step,
max(0, t_send - t_attention / cp) exposed per step; the backward sends each chunk with the previous
step's dK/dV (bf16, twice the bytes) behind a step, the first step K/V only, the last step the
previous dK/dV only, posted before its kernel too (`p2p_comm`).
`allgather` keeps the whole-sequence gather exposed (Llama 3's all-gather variant: "the all-gather
communication latency is exposed in the critical path", Dubey et al. 2024 Sec. 3.3.2):
`collectives.microbatch_comm`.
"""

from __future__ import annotations

import numpy as np

from glamsim.accounting import ModelArrays
from glamsim.predict import efficiency as eff
from glamsim.predict import tiers
from glamsim.predict.layout import LayoutArrays
from glamsim.predict.stage import layers_per_stage, recomputed_share
from glamsim.predict.tiers import Fabric, all_gather_s

FP32_BYTES = 4.0


def kv_width(m: ModelArrays, lay: LayoutArrays):
    """Width (values per token) of the K or V that the ring moves on one chip: the local KV heads
    (replicated when fewer than tp), or the local query heads where the stack repeats K and V to
    them before the attention kernel."""
    kv_local = np.maximum(m.kv_heads / lay.tp, 1.0)
    repeated = eff.by_stack(eff.CP_KV_AT_QUERY_HEADS, lay.stack) > 0
    return np.where(repeated, m.n_heads / lay.tp, kv_local) * m.head_dim


def gathered_kv_bytes(m: ModelArrays, seq_len, lay: LayoutArrays, act_bytes):
    """Bytes of K and V for the whole sequence of a microbatch on one chip (what an all-gather
    leaves on every rank)."""
    return 2 * act_bytes * lay.mb * seq_len * kv_width(m, lay)


def attention_forwards(m: ModelArrays, lay: LayoutArrays):
    """How many times a layer's attention forward runs, on average over the stage's layers: once,
    plus the share recomputed whole (`recompute=full`), or once more under selective recomputation
    (Korthikanti's: the core attention re-run in the backward); per-op checkpointing keeps the
    attention output."""
    rc = lay.recompute
    return 1.0 + np.where(rc >= 2, recomputed_share(m, lay), np.where(rc == 1, 1.0, 0.0))


def _merge_bytes(table: dict, way, part: int, width: int):
    """One number of each layout's exchange's merge table (`part`: 0 forward per step, 1 forward
    once, 2 backward per step, 3 backward once; `width`: 0 query, 1 key/value)."""
    values = np.asarray([float(table[w][part][width]) for w in eff.CP_COMMS])
    return values[np.asarray(way, dtype=np.int64)]


def merge_s(m: ModelArrays, seq_len, lay: LayoutArrays, fab: Fabric):
    """Seconds of one layer's ring merges on one chip, (forward, backward): the exchange's bytes
    per element of the local attention output and of its K and V (`kv_width`), cp steps' worth plus
    its once-per-layer work, eager or compiled (`fused`), through HBM (0 without context
    parallelism, and for `cp_comm=allgather`, one attention over the gathered sequence)."""
    tokens = lay.mb * seq_len / lay.cp
    width = (tokens * m.n_heads / lay.tp * m.head_dim, tokens * kv_width(m, lay))
    way = eff.cp_comm(lay.stack, lay.cp_comm)
    table = {True: eff.MERGE_BYTES_FUSED, False: eff.MERGE_BYTES_EAGER}

    def bytes_(part: int):
        return sum(
            width[w]
            * np.where(lay.fused > 0, _merge_bytes(table[True], way, part, w), _merge_bytes(table[False], way, part, w))
            for w in (0, 1)
        )

    fwd = lay.cp * bytes_(0) + bytes_(1)
    bwd = lay.cp * bytes_(2) + bytes_(3)
    ring = lay.cp > 1
    return np.where(ring, fwd / fab.hbm_bytes_per_s, 0.0), np.where(ring, bwd / fab.hbm_bytes_per_s, 0.0)


def _hop_s(nbytes, lay: LayoutArrays, fab: Fabric):
    """One transfer of `nbytes` to the next rank of the context-parallel ring: between nodes when
    the ring (tp x cp ranks, tp innermost) spans more than a node."""
    off_node = lay.tp * lay.cp > fab.chips_per_node
    bw = np.where(off_node, fab.inter_bytes_per_s, fab.intra_bytes_per_s) * tiers.LINK_EFFICIENCY
    lat = np.where(off_node, fab.inter_latency_s, fab.intra_latency_s)
    return nbytes / bw + lat


def p2p_comm(m: ModelArrays, seq_len, lay: LayoutArrays, fab: Fabric, attn_fwd_s, attn_bwd_s, layers=None) -> dict:
    """Exposed seconds and bytes of one microbatch's K/V exchange on the busiest stage (its
    `layers` layers, default `layers_per_stage`) under Transformer Engine's P2P ring (`p2p`),
    given one layer's attention kernel time forward (`attn_fwd_s`) and backward (`attn_bwd_s`) on
    the chip: forward, cp - 1 sends of a rank's K/V chunk; backward, the first step's K/V, cp - 2
    sends of K/V with the previous step's dK/dV and the last step's dK/dV only; each posted before
    its step's kernel and hidden behind it."""
    layers = layers_per_stage(m, lay) if layers is None else layers
    chunk = gathered_kv_bytes(m, seq_len, lay, fab.act_bytes) / lay.cp
    step_fwd, step_bwd = attn_fwd_s / lay.cp, attn_bwd_s / lay.cp
    fwd = (lay.cp - 1) * np.maximum(_hop_s(chunk, lay, fab) - step_fwd, 0.0)
    bwd = 2 * np.maximum(_hop_s(chunk, lay, fab) - step_bwd, 0.0) + (lay.cp - 2) * np.maximum(
        _hop_s(2 * chunk, lay, fab) - step_bwd, 0.0
    )
    forwards = attention_forwards(m, lay)
    ring = lay.cp > 1
    return {
        "cp_s": np.where(ring, layers * (forwards * fwd + bwd), 0.0),
        "cp_bytes": np.where(ring, layers * ((forwards + 2) * (lay.cp - 1) * chunk), 0.0),
    }


def ring_comm(m: ModelArrays, seq_len, lay: LayoutArrays, fab: Fabric, attn_fwd_s, attn_bwd_s, layers=None) -> dict:
    """Exposed seconds and bytes of one microbatch's K/V exchange on the busiest stage (its
    `layers` layers, default `layers_per_stage`) under PyTorch's overlapping ring
    (`allgather-overlap`), given one layer's attention kernel time forward
    (`attn_fwd_s`) and backward (`attn_bwd_s`) on the chip; compiled (`fused=1`, as `merge_s` reads
    it) every collective of it exposed."""
    layers = layers_per_stage(m, lay) if layers is None else layers
    kv = gathered_kv_bytes(m, seq_len, lay, fab.act_bytes)
    gather = all_gather_s(kv, lay.cp, lay.tp, lay.chips, fab)
    step_fwd, step_bwd = attn_fwd_s / lay.cp, attn_bwd_s / lay.cp
    dkv = 2 * FP32_BYTES * lay.mb * seq_len / lay.cp * kv_width(m, lay)
    hop = _hop_s(dkv, lay, fab)
    fwd = np.maximum(gather - step_fwd, 0.0)
    bwd = np.maximum(gather - step_bwd, 0.0) + (lay.cp - 1) * np.maximum(hop - step_bwd, 0.0) + hop
    # compiled (`fused`, as for the merges: torchtitan compiles each block whole, the ring traced into
    # its graph) a functional collective is waited for as soon as it is issued, so nothing hides (above)
    fwd = np.where(lay.fused > 0, gather, fwd)
    bwd = np.where(lay.fused > 0, gather + lay.cp * hop, bwd)
    forwards = attention_forwards(m, lay)
    ring = lay.cp > 1
    return {
        "cp_s": np.where(ring, layers * (forwards * fwd + bwd), 0.0),
        "cp_bytes": np.where(ring, layers * ((forwards + 1) * kv + lay.cp * dkv), 0.0),
    }
