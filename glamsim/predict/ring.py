"""Context-parallel ring attention: what its K/V exchange leaves exposed and what its merges cost.

A context-parallel rank holds S / cp of the sequence and computes its queries against every key in
cp ring steps.  How the keys and values travel (`cp_comm`, else the stack's: `efficiency.CP_COMM`),
and what the merges of the steps' partial outputs cost outside the attention kernel, depend on
the software stack (`CP_KV_AT_QUERY_HEADS`, `CP_RING_MERGE_BYTES_*`).

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
- the merges of the steps' outputs and gradients are fp32 element-wise work outside the kernel,
  op by op in eager mode, fused when compiled: `CP_RING_MERGE_BYTES_EAGER` / `_FUSED` per element
  of the rank's attention output, per step, through HBM (`merge_s`, counted with the attention
  time in `compute.microbatch_compute`).
Transformer Engine's P2P ring (`p2p`, Megatron-Core's): each of the cp steps sends the chunk of
K and V it holds to the next rank while it computes with it, so each send hides behind one step,
max(0, t_send - t_attention / cp) exposed per step; the backward sends each chunk with the previous
step's dK/dV (bf16, twice the bytes) behind a step, the first step K/V only, the last dK/dV after
the loop, exposed (`p2p_comm`).
`allgather` keeps the whole-sequence gather exposed (Llama 3's all-gather variant, whose overlap
is not published): `collectives.microbatch_comm`.
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


def _part(table: dict, i: int) -> dict:
    """One entry (forward per step, backward per step, forward once, backward once) of a per-stack
    merge table."""
    return {stack: parts[i] for stack, parts in table.items()}


def merge_s(m: ModelArrays, seq_len, lay: LayoutArrays, fab: Fabric):
    """Seconds of one layer's ring merges on one chip, (forward, backward): the stack's bytes per
    element of the local attention output, cp steps' worth plus its once-per-layer work, eager or
    compiled (`fused`), through HBM (0 without context parallelism, and for `cp_comm=allgather`,
    one attention over the gathered sequence)."""
    elements = lay.mb * seq_len / lay.cp * m.n_heads / lay.tp * m.head_dim
    fused = lay.fused > 0
    step_f, step_b, once_f, once_b = (
        np.where(
            fused,
            eff.by_stack(_part(eff.CP_RING_MERGE_BYTES_FUSED, i), lay.stack),
            eff.by_stack(_part(eff.CP_RING_MERGE_BYTES_EAGER, i), lay.stack),
        )
        for i in range(4)
    )
    ring = (lay.cp > 1) & (eff.cp_comm(lay.stack, lay.cp_comm) != eff.CP_COMMS.index("allgather"))
    per_byte = elements / fab.hbm_bytes_per_s
    fwd = (lay.cp * step_f + once_f) * per_byte
    bwd = (lay.cp * step_b + once_b) * per_byte
    return np.where(ring, fwd, 0.0), np.where(ring, bwd, 0.0)


def _hop_s(nbytes, lay: LayoutArrays, fab: Fabric):
    """One transfer of `nbytes` to the next rank of the context-parallel ring: between nodes when
    the ring (tp x cp ranks, tp innermost) spans more than a node."""
    off_node = lay.tp * lay.cp > fab.chips_per_node
    bw = np.where(off_node, fab.inter_bytes_per_s, fab.intra_bytes_per_s) * tiers.LINK_EFFICIENCY
    lat = np.where(off_node, fab.inter_latency_s, fab.intra_latency_s)
    return nbytes / bw + lat


def p2p_comm(m: ModelArrays, seq_len, lay: LayoutArrays, fab: Fabric, attn_fwd_s, attn_bwd_s) -> dict:
    """Exposed seconds and bytes of one microbatch's K/V exchange on the busiest stage under
    Transformer Engine's P2P ring (`p2p`), given one layer's attention kernel time forward
    (`attn_fwd_s`) and backward (`attn_bwd_s`) on the chip: forward, cp - 1 sends of a rank's K/V
    chunk, each behind a step; backward, the first step's K/V, cp - 2 sends of K/V with dK/dV,
    each behind a step, and the last dK/dV after the loop."""
    layers = layers_per_stage(m, lay)
    chunk = gathered_kv_bytes(m, seq_len, lay, fab.act_bytes) / lay.cp
    step_fwd, step_bwd = attn_fwd_s / lay.cp, attn_bwd_s / lay.cp
    fwd = (lay.cp - 1) * np.maximum(_hop_s(chunk, lay, fab) - step_fwd, 0.0)
    bwd = (
        np.maximum(_hop_s(chunk, lay, fab) - step_bwd, 0.0)
        + (lay.cp - 2) * np.maximum(_hop_s(2 * chunk, lay, fab) - step_bwd, 0.0)
        + _hop_s(chunk, lay, fab)
    )
    forwards = 1.0 + recomputed_share(m, lay)
    ring = lay.cp > 1
    return {
        "cp_s": np.where(ring, layers * (forwards * fwd + bwd), 0.0),
        "cp_bytes": np.where(ring, layers * ((forwards + 2) * (lay.cp - 1) * chunk), 0.0),
    }


def ring_comm(m: ModelArrays, seq_len, lay: LayoutArrays, fab: Fabric, attn_fwd_s, attn_bwd_s) -> dict:
    """Exposed seconds and bytes of one microbatch's K/V exchange on the busiest stage under
    PyTorch's overlapping ring (`allgather-overlap`), given one layer's attention kernel time forward
    (`attn_fwd_s`) and backward (`attn_bwd_s`) on the chip."""
    layers = layers_per_stage(m, lay)
    kv = gathered_kv_bytes(m, seq_len, lay, fab.act_bytes)
    gather = all_gather_s(kv, lay.cp, lay.tp, lay.chips, fab)
    step_fwd, step_bwd = attn_fwd_s / lay.cp, attn_bwd_s / lay.cp
    dkv = 2 * FP32_BYTES * lay.mb * seq_len / lay.cp * kv_width(m, lay)
    hop = _hop_s(dkv, lay, fab)
    fwd = np.maximum(gather - step_fwd, 0.0)
    bwd = np.maximum(gather - step_bwd, 0.0) + (lay.cp - 1) * np.maximum(hop - step_bwd, 0.0) + hop
    forwards = 1.0 + recomputed_share(m, lay)
    ring = lay.cp > 1
    return {
        "cp_s": np.where(ring, layers * (forwards * fwd + bwd), 0.0),
        "cp_bytes": np.where(ring, layers * ((forwards + 1) * kv + lay.cp * dkv), 0.0),
    }
