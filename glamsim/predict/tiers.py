"""Link tiers and the time of one collective on them.

Two tiers: inside a node (a GPU server's NVLink/NVSwitch, a TPU slice's ICI torus) and between
nodes (InfiniBand/RoCE between servers, the data-center network between TPU slices).  Each has a
one-way bandwidth per chip (the profile convention) and a per-message latency; a collective
attains `LINK_EFFICIENCY` of the bandwidth.

Placement: ranks fill nodes innermost first (tp, cp, ep, dp, pp).  A group of `size` ranks at
`stride` (the product of the inner dimensions) has `k = clip(node / stride, 1, size)` members in
each node; it stays inside one node when k = size.

Algorithms (bytes are what one chip holds; n ranks, k per node):
- all-reduce: ring inside a node, 2 (n-1)/n x bytes; across nodes hierarchical (NCCL with a NIC
  per GPU): reduce-scatter inside the node, all-reduce of bytes / k between nodes (each chip on
  its own NIC), all-gather inside the node.  Latency: 2 (k-1) intra + 2 (n/k - 1) inter messages.
- reduce-scatter, all-gather: half an all-reduce's bytes; latency of a ring (NCCL's only
  algorithm for them): a message per rank, n - 1 in all, `nodes` of them between nodes.
- all-to-all: a chip sends (n-1)/n of its buffer; (k-1)/n to node peers, (n-k)/n off the node;
  both tiers run at once (the slower sets the time), n - 1 messages.
- send/receive (pipeline): bytes on the tier the pipeline neighbour sits on, one message.
On a TPU torus (switched fabrics have no `torus_dims`), a group spanning fewer axes than the torus
has uses only those axes' links: bandwidth x (axes spanned / torus dims), axes spanned =
ceil(log(size) / log(axis length)), axis length = slice chips ^ (1 / torus dims).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from glamsim.config import ConfigError
from glamsim.predict.efficiency import LINK_EFFICIENCY, matmul_relative, roof_is_burst_bound
from glamsim.profiles import ChipProfile
from glamsim.readers import check_number, show

GB = 1e9
US = 1e-6
_NEEDED = (
    "interconnect_bandwidth_gb_per_s",
    "chips_per_node",
    "inter_node_bandwidth_gb_per_s",
    "intra_node_latency_us",
    "inter_node_latency_us",
)


@dataclass(frozen=True)
class Fabric:
    """One chip's compute, memory and link figures in SI units (what the predictor reads)."""

    name: str
    peak_flops: float  # dense, at the training dtype
    hbm_bytes: float
    hbm_bytes_per_s: float
    intra_bytes_per_s: float  # one-way per chip
    inter_bytes_per_s: float  # one-way per chip
    intra_latency_s: float
    inter_latency_s: float
    chips_per_node: float
    torus_dims: float = 0.0  # 0: switched fabric
    act_bytes: float = 2.0  # bytes of one activation value (16-bit training)
    peak_flops_16bit: float | None = None  # fp8 training: the 16-bit peak of what stays 16-bit (attention, logits)
    fp8_linears: bool = False  # the linear layers run in fp8 and cast their inputs (Transformer Engine, torchao)
    matmul_fraction: float | None = None  # None: efficiency.MATMUL_PEAK_FRACTION (a measured rate: 1.0)
    matmul_relative: float = 1.0  # matmul roof over the reference's: sustained, else burst-capped (`matmul_relative`)
    sms: float = 0.0  # streaming multiprocessors (0: not in the profile, no SM sharing counted)

    @classmethod
    def of(cls, chip: ChipProfile, dtype: str | None = None, chips_per_node: float | None = None) -> Fabric:
        """`chip`'s fabric; `chips_per_node` replaces its profile's server (or TPU slice) size (a
        one-line ConfigError naming the field unless it is a number of one chip or more)."""
        _check_server(chips_per_node)
        missing = [f for f in _NEEDED if getattr(chip, f) is None]
        if missing:
            raise ConfigError(
                f"chip={chip.name!r}: its profile has no {missing[0]} (needed to predict step time; "
                f"see glamsim/data/hardware_profiles/chips/h100-sxm.yaml for the fields)"
            )
        peak = chip.spec(chip.peak_field(dtype)).value
        fp8 = dtype == "fp8"
        # the profile check guarantees a bf16 peak beside a measured rate
        sustained, burst = chip.matmul_sustained_flops_bf16, chip.matmul_burst_flops_bf16
        peak16 = _value(chip.peak_flops_bf16)
        return cls(
            name=chip.name,
            peak_flops=peak,
            hbm_bytes=chip.hbm_gb.value * GB,
            hbm_bytes_per_s=chip.hbm_bandwidth_gb_per_s.value * GB,
            intra_bytes_per_s=chip.interconnect_bandwidth_gb_per_s.value * GB,
            inter_bytes_per_s=chip.inter_node_bandwidth_gb_per_s.value * GB,
            intra_latency_s=chip.intra_node_latency_us.value * US,
            inter_latency_s=chip.inter_node_latency_us.value * US,
            chips_per_node=float(chip.chips_per_node.value if chips_per_node is None else chips_per_node),
            torus_dims=float(chip.torus_dims.value) if chip.torus_dims else 0.0,
            act_bytes=4.0 if (dtype or chip.default_dtype) == "fp32" else 2.0,
            peak_flops_16bit=chip.spec(chip.peak_field("bf16")).value if fp8 else None,
            fp8_linears=fp8,
            matmul_relative=matmul_relative(_value(sustained), peak16, _value(burst)),
            sms=float(chip.sm_count.value) if chip.sm_count else 0.0,
        )


def _check_server(value) -> None:
    """One-line ConfigError unless `chips_per_node` (where given) is a finite number of one or more."""
    if value is None:
        return
    if isinstance(value, int) and not isinstance(value, bool):
        check_number("chips_per_node", value)  # a whole number past 2**53 is refused before conversion
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not (number and math.isfinite(float(value)) and value >= 1):
        raise ConfigError(f"chips_per_node={show(value)}: must be a number of chips, 1 or more")
    check_number("chips_per_node", float(value))


def _value(spec):
    """A profile field's value, None where the profile has none."""
    return None if spec is None else spec.value


def roof_burst_bound(chip: ChipProfile) -> bool:
    """True where `chip`'s matmul roof is capped by a burst rate alone: an upper bound
    (`efficiency.roof_is_burst_bound`; the predicted MFU's interval widens below)."""
    return roof_is_burst_bound(
        _value(chip.matmul_sustained_flops_bf16), _value(chip.peak_flops_bf16), _value(chip.matmul_burst_flops_bf16)
    )


def members_per_node(stride, size, fab: Fabric):
    """Ranks of a group (`size` ranks `stride` apart) that share one node."""
    return np.clip(np.floor(fab.chips_per_node / np.maximum(stride, 1)), 1, np.maximum(size, 1))


def nodes_spanned(stride, size, fab: Fabric):
    """Nodes a group (`size` ranks `stride` apart) spans, whole nodes (a last one partly filled)."""
    n = np.maximum(np.asarray(size, dtype=np.float64), 1.0)
    return np.ceil(n / members_per_node(stride, n, fab))


def _intra_bandwidth(size, chips, fab: Fabric):
    """Intra-node bandwidth a group of `size` ranks attains (torus: only the axes it spans)."""
    bw = fab.intra_bytes_per_s * LINK_EFFICIENCY
    if not fab.torus_dims:
        return bw + 0 * np.asarray(size, dtype=np.float64)
    slice_chips = np.minimum(chips, fab.chips_per_node)
    axis = np.maximum(slice_chips ** (1 / fab.torus_dims), 2.0)
    spanned = np.clip(np.ceil(np.log(np.maximum(size, 1)) / np.log(axis) - 1e-9), 1, fab.torus_dims)
    return bw * spanned / fab.torus_dims


def allreduce_s(nbytes, size, stride, chips, fab: Fabric):
    """Seconds of one all-reduce of `nbytes` per chip over a group (0 for a group of one)."""
    n = np.asarray(size, dtype=np.float64)
    k = members_per_node(stride, n, fab)
    nodes = n / k
    intra = 2 * (k - 1) / k * nbytes / _intra_bandwidth(k, chips, fab)
    with np.errstate(invalid="ignore"):  # a row that fits no layout (infinite ranks) is NaN, as its other outputs
        inter = 2 * (nodes - 1) / nodes * (nbytes / k) / (fab.inter_bytes_per_s * LINK_EFFICIENCY)
    lat = 2 * (k - 1) * fab.intra_latency_s + 2 * (nodes - 1) * fab.inter_latency_s
    return np.where(n > 1, intra + inter + lat, 0.0)


def ring_latency_s(size, stride, fab: Fabric):
    """Latency of one ring pass over a group: a message per rank, `nodes` of them across nodes.

    NCCL runs all-gather and reduce-scatter as rings only (its tree algorithm is for all-reduce),
    so their latency grows linearly with the ranks, not with the nodes."""
    n = np.asarray(size, dtype=np.float64)
    nodes = n / members_per_node(stride, n, fab)
    inter = np.where(nodes > 1, nodes, 0.0)
    return np.where(
        n > 1, (n - 1 - np.maximum(inter - 1, 0.0)) * fab.intra_latency_s + inter * fab.inter_latency_s, 0.0
    )


def reduce_scatter_s(nbytes, size, stride, chips, fab: Fabric):
    """Seconds of one reduce-scatter (or all-gather) whose full buffer is `nbytes` per chip:
    half an all-reduce's bytes, one ring pass of latency."""
    n = np.asarray(size, dtype=np.float64)
    k = members_per_node(stride, n, fab)
    nodes = n / k
    intra = (k - 1) / k * nbytes / _intra_bandwidth(k, chips, fab)
    inter = (nodes - 1) / nodes * (nbytes / k) / (fab.inter_bytes_per_s * LINK_EFFICIENCY)
    return np.where(n > 1, intra + inter + ring_latency_s(n, stride, fab), 0.0)


all_gather_s = reduce_scatter_s


def alltoall_s(nbytes, size, stride, chips, fab: Fabric, off_node_bytes=None):
    """Seconds of one all-to-all of a chip's `nbytes` buffer over a group: the share bound for node
    peers over the node's links while the rest crosses nodes.  With `off_node_bytes` (a dispatcher
    that sends a token once to each destination node and forwards it inside that node, DeepEP's
    internode kernels) only those bytes cross nodes, to one peer on each other node, and every copy
    but the chip's own travels the node's links, the forwarded ones on arrival."""
    n = np.asarray(size, dtype=np.float64)
    k = members_per_node(stride, n, fab)
    if off_node_bytes is None:
        intra_bytes, inter_bytes, remote_peers = nbytes * (k - 1) / n, nbytes * (n - k) / n, n - k
    else:
        intra_bytes, inter_bytes, remote_peers = nbytes * (n - 1) / n, off_node_bytes, nodes_spanned(stride, n, fab) - 1
    intra = intra_bytes / _intra_bandwidth(k, chips, fab)
    inter = inter_bytes / (fab.inter_bytes_per_s * LINK_EFFICIENCY)
    lat = (k - 1) * fab.intra_latency_s + remote_peers * fab.inter_latency_s
    return np.where(n > 1, np.maximum(intra, inter) + lat, 0.0)


def sendrecv_s(nbytes, stride, fab: Fabric, pp):
    """Seconds of one pipeline send of `nbytes` to the next stage (`stride` chips away), over the
    slowest hop: between nodes wherever the pipeline's pp x stride ranks span more than one node (a
    stage boundary then crosses, and the stages beside it pace the pipeline: 16 stages 16 ranks
    apart on 72-GPU NVLink racks; 2 stages 8 apart on 8-GPU servers)."""
    off_node = np.asarray(pp) * np.asarray(stride, dtype=np.float64) > fab.chips_per_node
    bw = np.where(off_node, fab.inter_bytes_per_s, fab.intra_bytes_per_s) * LINK_EFFICIENCY
    lat = np.where(off_node, fab.inter_latency_s, fab.intra_latency_s)
    return np.where(np.asarray(pp) > 1, nbytes / bw + lat, 0.0)
