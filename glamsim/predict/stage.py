"""What one chip holds of the model under a layout: layers, parameters, tokens.

The busiest pipeline stage sets the pace and the memory high-water mark: it holds
ceil(layers / pp) layers (MoE layers in the model's proportion) plus the embedding (the first
stage holds the input embedding, the last the output matrix, the same size when tied: Megatron
keeps a copy on both).  Parameters split over tp (every weight matrix; norms are negligible)
and, for routed experts, over ep as well.  A microbatch on one chip is mb x seq / cp tokens.
All functions broadcast over `ModelArrays` and `LayoutArrays`.
"""

from __future__ import annotations

import numpy as np

from glamsim.accounting import ModelArrays, embedding_params, expert_params, params
from glamsim.predict.layout import LayoutArrays


def layers_per_stage(m: ModelArrays, lay: LayoutArrays):
    """Layers on the busiest pipeline stage (all its virtual stages together)."""
    return np.ceil(m.n_layers / (lay.pp * lay.vp)) * lay.vp


def moe_share(m: ModelArrays):
    """Fraction of layers that are MoE layers."""
    return m.n_moe_layers / m.n_layers


def routed_params(m: ModelArrays):
    """Parameters of every routed expert of every MoE layer (the ones split over ep)."""
    return m.n_moe_layers * m.n_experts * expert_params(m)


def body_params_per_layer(m: ModelArrays):
    """Non-routed parameters of an average layer (attention, dense FFN, router, shared experts)."""
    return (params(m, embedding=False) - routed_params(m)) / m.n_layers


def chip_params(m: ModelArrays, lay: LayoutArrays) -> tuple:
    """(non-expert, expert) parameters on one chip of the busiest stage, before ZeRO sharding."""
    layers = layers_per_stage(m, lay)
    dense = (layers * body_params_per_layer(m) + embedding_params(m)) / lay.tp
    expert = routed_params(m) * layers / m.n_layers / (lay.ep * lay.tp)
    return dense, expert


def zero_groups(lay: LayoutArrays) -> tuple:
    """Ranks a ZeRO shard of the (non-expert, expert) parameters spans: dp x cp and dp x cp / ep,
    or under hybrid sharding the shard group's share, shard x cp and shard x cp / ep."""
    return lay.shard * lay.cp, lay.shard * lay.cp / lay.ep


def tokens_per_microbatch(lay: LayoutArrays, seq_len):
    """Tokens of one microbatch on one chip (before tensor/sequence parallel splits)."""
    return lay.mb * seq_len / lay.cp


def expert_slots_per_token(m: ModelArrays, seq_len, lay: LayoutArrays):
    """Expert evaluations per token an MoE layer computes: E x capacity / group (GShard
    capacity buffers, every slot computed); the routing group is the model's, or the microbatch
    when that is smaller."""
    from glamsim.accounting import expert_slots_per_token as slots

    group = np.minimum(m.group_size, tokens_per_microbatch(lay, seq_len))
    return slots(m, group)
