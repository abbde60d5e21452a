"""Serving: prefill and KV-cached decode on a roofline, memory and layout, latency targets, and the
single-scenario estimate; every function here works on arrays (one row per scenario) except the
estimate, which is one scenario with its ledger."""

from glamsim.cost.serving.core import J_PER_KWH, link_of, roofline_s, serving_costs
from glamsim.cost.serving.estimate import (
    DIRECT,
    RANGE_OUTPUTS,
    TORNADO_OUTPUTS,
    ServingEstimate,
    chip_links,
    estimate_serving,
    idle_power,
)
from glamsim.cost.serving.memory import (
    BYTES_PER_GB,
    dense_shards,
    expert_placed,
    experts_per_chip,
    experts_touched,
    kv_cache_bytes,
    memory_per_chip,
    min_chips,
    min_chips_placed,
    routed_bytes,
    serving_layout,
    weight_bytes_read,
    weight_bytes_total,
)
from glamsim.cost.serving.targets import MAX_TARGET_CANDIDATES, batch_meeting_targets, targets_missed

__all__ = [
    "BYTES_PER_GB",
    "DIRECT",
    "J_PER_KWH",
    "MAX_TARGET_CANDIDATES",
    "RANGE_OUTPUTS",
    "TORNADO_OUTPUTS",
    "ServingEstimate",
    "batch_meeting_targets",
    "chip_links",
    "dense_shards",
    "estimate_serving",
    "expert_placed",
    "experts_per_chip",
    "experts_touched",
    "idle_power",
    "kv_cache_bytes",
    "link_of",
    "memory_per_chip",
    "min_chips",
    "min_chips_placed",
    "routed_bytes",
    "roofline_s",
    "serving_costs",
    "serving_layout",
    "targets_missed",
    "weight_bytes_read",
    "weight_bytes_total",
]
