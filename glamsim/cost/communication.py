"""Communication of expert and data parallelism: bytes per step and their time on the interconnect.

Layout (GShard, and `glamsim.parallel`): `chips` chips; the experts of every MoE layer are split
over `expert_parallel` = X chips (X divides both the chips and the experts); the batch, and so the
routing groups, are split over all chips; every other parameter is replicated (data parallelism
over chips / X replicas for the experts, over all chips for the rest).

Training, per step and per chip:
- all-to-all: every MoE layer exchanges its [groups, experts, capacity, d_model] buffer four times
  (dispatch and combine, forward and backward).  A chip holds 1/chips of the buffer
  (tokens_per_step / group_size groups x E x capacity x d_model), which is also the result size of
  each all-to-all op in the compiled HLO; the fraction (X - 1) / X of it leaves the chip.
- gradient all-reduce: ring all-reduce moves 2 (n - 1) / n of the gradient bytes per chip; the
  replicated parameters reduce over all chips, each chip's E / X experts over the chips / X
  chips holding the same experts.
Serving, per decode step: every MoE layer sends each of the batch's tokens to its top-k experts
and back (dispatch + combine, d_model activations each); (X - 1) / X of it crosses chips, spread
over the chips.
Time = bytes leaving a chip / the chip's interconnect bandwidth (`interconnect_bandwidth_gb_per_s`
of its profile: total injection bandwidth, no latency or topology term); the exposed part is
(1 - overlap) of it.  Every argument may be an array (one plain scenario runs without numpy).
"""

from __future__ import annotations

import math

from glamsim.accounting import ModelArrays, expert_capacity, expert_params, params, xp

BYTES_PER_GB = 1e9
A2A_PER_MOE_LAYER_TRAIN = 4  # dispatch and combine, forward and backward
A2A_PER_MOE_LAYER_DECODE = 2  # dispatch and combine


def routed_expert_params(m: ModelArrays):
    """Parameters of every routed expert of every MoE layer (the ones split over chips)."""
    return m.n_moe_layers * m.n_experts * expert_params(m)


def default_expert_parallel(m: ModelArrays, chips):
    """Experts split over gcd(chips, experts) chips (1 for a dense model); a float for plain numbers."""
    if type(m.n_experts) in (int, float) and type(chips) in (int, float):  # one scenario: no numpy
        e = int(m.n_experts)
        return float(math.gcd(int(chips), e)) if e > 0 else 1.0
    import numpy as np

    e = np.asarray(m.n_experts).astype(np.int64)
    return np.where(e > 0, np.gcd(np.asarray(chips).astype(np.int64), np.maximum(e, 1)), 1).astype(np.float64)


def off_chip_fraction(expert_parallel):
    """Share of an all-to-all's buffer that goes to other chips: (X - 1) / X."""
    x = xp.f64(expert_parallel)
    return (x - 1) / x


def ring_allreduce_factor(n):
    """Bytes a ring all-reduce sends per chip, per byte reduced: 2 (n - 1) / n."""
    n = xp.f64(n)
    return 2 * (n - 1) / n


def alltoall_bytes_per_chip(m: ModelArrays, tokens_per_step, chips, bytes_per_activation=2.0):
    """Bytes of one training step's all-to-all results on one chip (what the compiled HLO shows):
    4 per MoE layer, each 1/chips of the [groups, E, capacity, d_model] buffer, or with dropless
    routing of the top_k rows per token (no capacity padding).  Groups are `group_size` tokens (fewer
    when the step has fewer tokens)."""
    group = xp.minimum(m.group_size, tokens_per_step)
    rows = xp.where(
        m.dropless > 0, tokens_per_step * m.top_k, tokens_per_step / group * m.n_experts * expert_capacity(m, group)[1]
    )
    buffer = rows * m.d_model * bytes_per_activation
    return A2A_PER_MOE_LAYER_TRAIN * m.n_moe_layers * buffer / chips


def gradient_bytes_per_chip(m: ModelArrays, expert_parallel, bytes_per_grad=4.0) -> tuple:
    """(replicated, expert) gradient bytes each chip all-reduces per step."""
    routed = routed_expert_params(m)
    return (params(m) - routed) * bytes_per_grad, routed / expert_parallel * bytes_per_grad


def training_comm_bytes(
    m: ModelArrays, tokens_per_step, chips, expert_parallel, bytes_per_activation=2.0, bytes_per_grad=4.0
) -> dict:
    """Bytes per training step per chip: all-to-all results, gradients, and what leaves the chip."""
    a2a = alltoall_bytes_per_chip(m, tokens_per_step, chips, bytes_per_activation)
    replicated, expert = gradient_bytes_per_chip(m, expert_parallel, bytes_per_grad)
    a2a_wire = a2a * off_chip_fraction(expert_parallel)
    grad_wire = replicated * ring_allreduce_factor(chips) + expert * ring_allreduce_factor(
        xp.f64(chips) / expert_parallel
    )
    return {
        "alltoall_bytes_per_chip_step": a2a,
        "alltoall_wire_bytes_per_chip_step": a2a_wire,
        "grad_bytes_per_chip_step": replicated + expert,
        "allreduce_wire_bytes_per_chip_step": grad_wire,
        "comm_wire_bytes_per_chip_step": a2a_wire + grad_wire,
    }


def training_comm(
    m: ModelArrays,
    tokens_total,
    tokens_per_step,
    chips,
    expert_parallel,
    interconnect_gb_per_s,
    bytes_per_activation=2.0,
    bytes_per_grad=4.0,
) -> dict:
    """Bytes per step per chip, the communication seconds per step (before any overlap), steps."""
    per_step = training_comm_bytes(m, tokens_per_step, chips, expert_parallel, bytes_per_activation, bytes_per_grad)
    return comm_times(per_step, tokens_total, tokens_per_step, interconnect_gb_per_s)


def comm_times(per_step: dict, tokens_total, tokens_per_step, interconnect_gb_per_s) -> dict:
    """`training_comm` from the bytes per step (`training_comm_bytes`, which a single estimate
    caches per configuration): seconds per step on the link, and steps."""
    out = dict(per_step)
    link = interconnect_gb_per_s * BYTES_PER_GB
    out["comm_s_per_step"] = out["comm_wire_bytes_per_chip_step"] / link
    out["alltoall_s_per_step"] = out["alltoall_wire_bytes_per_chip_step"] / link
    out["steps"] = tokens_total / tokens_per_step
    return out


def decode_alltoall_bytes_per_chip(m: ModelArrays, batch, chips, expert_parallel, bytes_per_activation=2.0):
    """Bytes one decode step sends off each chip: dispatch + combine of batch x top_k tokens per
    MoE layer, the (X - 1) / X crossing chips, spread over the chips."""
    total = A2A_PER_MOE_LAYER_DECODE * m.n_moe_layers * batch * m.top_k * m.d_model * bytes_per_activation
    return total * off_chip_fraction(expert_parallel) / chips
