"""What one chip holds of the model under a layout: layers, parameters, tokens.

The busiest pipeline stage sets the pace and the memory high-water mark: it holds
ceil(layers / (pp x vp)) x vp layers (MoE layers in the model's proportion; `layers_per_stage`)
plus, under pipeline parallelism, one vocabulary matrix (the first stage holds the input
embedding, the last the output matrix, the same size when tied: Megatron keeps a copy on both),
or on a single stage both of an untied model's (`stage_embedding_params`).  Parameters split over
tp (every weight matrix; norms are negligible) and, for routed experts, over ep as well.  A microbatch on
one chip is mb x seq / cp tokens.  All functions broadcast over `ModelArrays` and `LayoutArrays`.
"""

from __future__ import annotations

import numpy as np

from glamsim.accounting import ModelArrays, embedding_params, expert_params, params
from glamsim.predict.efficiency import MEGATRON
from glamsim.predict.layout import SPREADS, LayoutArrays


def _slot_chunk(m: ModelArrays, lay: LayoutArrays) -> tuple:
    """(1 where the embedding and the loss take a slot each, ceil(slots / (pp x vp))): the slots
    are the layers, plus 2 under `embed_loss` with a pipeline."""
    pipelined = lay.embed_loss * (lay.pp > 1)
    return pipelined, np.ceil((m.n_layers + 2 * pipelined) / (lay.pp * lay.vp))


def chunk_layers(m: ModelArrays, lay: LayoutArrays):
    """Layers of the fullest model chunk (pipeline stage, or virtual stage when interleaved):
    ceil(slots / (pp x vp)), the slots being the layers, and under `embed_loss` the embedding and
    the loss as one layer each (in two chunks, each gives one slot to them)."""
    pipelined, chunk = _slot_chunk(m, lay)
    return chunk - pipelined * (lay.pp * lay.vp == 2)


def layers_per_stage(m: ModelArrays, lay: LayoutArrays):
    """Layers on the busiest pipeline stage (all its virtual stages together): ceil(layers / (pp x
    vp)) x vp, the most any stage holds; under `embed_loss` ceil((layers + 2) / (pp x vp)) x vp, a
    middle stage's (the first and last give one slot to the embedding or the output layer and loss;
    with two stages both do: one layer fewer).  `steptime.pace_stage` costs the last stage
    instead where its output layer outlasts the layer it gave up, that layer's collectives
    included."""
    pipelined, chunk = _slot_chunk(m, lay)
    return chunk * lay.vp - pipelined * (lay.pp == 2)


def first_stage_layers(m: ModelArrays, lay: LayoutArrays):
    """Layers on the first pipeline stage, which holds the most activations in flight: the busiest
    stage's, one fewer under `embed_loss` (a slot given to the embedding)."""
    pipelined, chunk = _slot_chunk(m, lay)
    return chunk * lay.vp - pipelined


def recomputed_share(m: ModelArrays, lay: LayoutArrays):
    """Share of the busiest stage's layers recomputed whole in the backward pass: 0 unless
    recompute=full; `recompute_layers` of each model chunk's `chunk_layers` under Megatron's block
    method, all of them when unset."""
    chunk = chunk_layers(m, lay)
    share = np.where(lay.recompute_layers > 0, np.minimum(lay.recompute_layers / chunk, 1.0), 1.0)
    return np.where(lay.recompute >= 2, share, 0.0)


def shared_width(m: ModelArrays):
    """Hidden width of an MoE layer's shared experts, run as one MLP (0 without them)."""
    return m.n_shared * m.shared_ff


def moe_share(m: ModelArrays):
    """Fraction of layers that are MoE layers."""
    return m.n_moe_layers / m.n_layers


def routed_params(m: ModelArrays):
    """Parameters of every routed expert of every MoE layer (the ones split over ep)."""
    return m.n_moe_layers * m.n_experts * expert_params(m)


def body_params_per_layer(m: ModelArrays):
    """Non-routed parameters of an average layer (attention, dense FFN, router, shared experts)."""
    return (params(m, embedding=False) - routed_params(m)) / m.n_layers


def stage_embedding_params(m: ModelArrays, lay: LayoutArrays):
    """Embedding-side parameters on the busiest stage: all of them on a single stage; with pipeline
    stages one vocabulary matrix, not two: an untied output matrix sits on the last stage, apart
    from the first stage's input embedding (until 2026-12-06 both were counted on one stage)."""
    return embedding_params(m) - np.where(lay.pp > 1, m.untied * m.vocab * m.d_model, 0.0)


def chip_params(m: ModelArrays, lay: LayoutArrays) -> tuple:
    """(non-expert, expert) parameters on one chip of the busiest stage, before ZeRO sharding."""
    layers = layers_per_stage(m, lay)
    dense = (layers * body_params_per_layer(m) + stage_embedding_params(m, lay)) / lay.tp
    expert = routed_params(m) * layers / m.n_layers / (lay.ep * lay.etp)
    return dense, expert


def folded(lay: LayoutArrays):
    """1 where the expert layers have their own grid (`etp` < tp: parallel folding), else 0."""
    return lay.etp < lay.tp


def expert_stride(lay: LayoutArrays):
    """Rank stride of an expert-parallel group: tp x cp (ep inside dp), or etp folded (the expert
    grid etp x ep x edp, innermost first)."""
    return np.where(folded(lay), lay.etp, lay.tp * lay.cp)


def expert_data_parallel(lay: LayoutArrays):
    """(ranks, stride) of the group holding the same expert shard: dp x cp / ep over stride
    tp x cp x ep, or folded tp x cp x dp / (ep x etp) over stride ep x etp."""
    ranks = lay.dp * lay.cp * (lay.tp / lay.etp) / lay.ep
    return ranks, np.where(folded(lay), lay.ep * lay.etp, lay.tp * lay.cp * lay.ep)


def zero_groups(lay: LayoutArrays) -> tuple:
    """Ranks a ZeRO shard of the (non-expert, expert) parameters spans: dp x cp and the expert
    data-parallel group (`expert_data_parallel`), or under hybrid sharding the shard group's share."""
    return lay.shard * lay.cp, expert_data_parallel(lay)[0] * lay.shard / lay.dp


def tokens_per_microbatch(lay: LayoutArrays, seq_len):
    """Tokens of one microbatch on one chip (before tensor/sequence parallel splits)."""
    return lay.mb * seq_len / lay.cp


def interleaved_warmup(lay: LayoutArrays, rank=0):
    """Forward chunks pipeline rank `rank` runs before its first backward under Megatron's
    interleaved schedule, 2 (pp - rank - 1) + (vp - 1) pp (`num_warmup_microbatches` in
    `forward_backward_pipelining_with_interleaving`), before the cap at the m vp chunks there are."""
    return 2 * (lay.pp - rank - 1) + (lay.vp - 1) * lay.pp


def routed_tokens(lay: LayoutArrays, T):
    """Tokens one chip's router (and shared-expert gate) takes per microbatch of T tokens: its own
    T / tp sequence-parallel shard on Megatron (Megatron-Core's MoELayer routes the shard before
    dispatching it), else all T (each tensor rank routes the whole sequence: torchtitan replicates
    the router's computation over the tensor ranks, DeepSpeed-MoE and GSPMD gate the full input)."""
    return np.where((lay.sp > 0) & (lay.stack == MEGATRON), T / lay.tp, T)


def expert_slots_per_token(m: ModelArrays, seq_len, lay: LayoutArrays):
    """Expert evaluations per token an MoE layer computes: E x capacity / group (GShard
    capacity buffers, every slot computed); the routing group is the model's, or the microbatch
    when that is smaller."""
    from glamsim.accounting import expert_slots_per_token as slots

    group = np.minimum(m.group_size, tokens_per_microbatch(lay, seq_len))
    return slots(m, group)


def ranks_per_token(m: ModelArrays, lay: LayoutArrays):
    """Expected expert-parallel ranks a token's top-k experts sit on (experts placed on the ranks in
    contiguous blocks of E / ep): `blocks_per_token` with ep blocks."""
    return blocks_per_token(m, lay, lay.ep)


def blocks_per_token(m: ModelArrays, lay: LayoutArrays, blocks):
    """Expected blocks (`blocks` equal contiguous runs of n = E / blocks experts: the ranks, or the
    nodes, of the expert-parallel group) a token's top-k experts fall in:
    - random routing (k distinct experts drawn uniformly): every block is hit unless all k miss its
      n experts, blocks x (1 - C(E - n, k) / C(E, k));
    - contiguous routing (token t to experts (t k + j) mod E, j < k, NeMo Automodel's
      FakeBalancedGate): a run of k experts from offset o = t k mod n into a block covers
      min(blocks, ceil((o + k) / n)) blocks, averaged over t < n (the offsets repeat with period n)."""
    e, k = np.maximum(m.n_experts, 1.0), np.minimum(m.top_k, m.n_experts)
    blocks = np.maximum(blocks, 1.0)
    n = e / blocks
    miss = np.ones(np.broadcast(e, k, blocks).shape)
    for i in range(int(np.max(k, initial=0))):
        miss = miss * np.where(i < k, np.clip((e - n - i) / np.maximum(e - i, 1.0), 0.0, None), 1.0)
    random = blocks * (1.0 - miss)
    total, count = np.zeros_like(miss), np.zeros_like(miss)
    for t in range(int(np.ceil(np.max(n, initial=0)))):
        inside = t < n
        offset = np.mod(t * k, np.where(inside, n, 1.0))
        total = total + np.where(inside, np.minimum(blocks, np.ceil((offset + k) / n)), 0.0)
        count = count + inside
    contiguous = total / np.maximum(count, 1.0)
    return np.where(
        m.n_experts > 0, np.where(lay.expert_spread == SPREADS.index("contiguous"), contiguous, random), 0.0
    )


def a2a_copies_per_token(m: ModelArrays, seq_len, lay: LayoutArrays):
    """Copies of a token that an expert all-to-all moves (the local one included): one per routed
    expert slot (Megatron's alltoall dispatcher, GShard's capacity buffers), or with `a2a_dedup`
    one per destination rank (DeepEP's dispatch sends a token once to each rank its
    `is_token_in_rank` marks, and its combine returns one reduced row per rank)."""
    slots = expert_slots_per_token(m, seq_len, lay)
    if not np.any(lay.a2a_dedup > 0):
        return slots
    return np.where(lay.a2a_dedup > 0, ranks_per_token(m, lay), slots)
