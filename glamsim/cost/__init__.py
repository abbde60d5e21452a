"""The cost model: FLOPs -> time, energy, carbon and dollars, for training and serving.

numpy only (never JAX): every formula takes arrays and broadcasts, so a sweep evaluates
thousands of scenarios in one call; `estimate_training` / `estimate_serving` are the
single-scenario views that resolve profiles and carry a provenance ledger.
"""

from glamsim.cost.ledger import Ledger, LedgerEntry
from glamsim.cost.serving import ServingEstimate, estimate_serving, experts_touched, serving_costs
from glamsim.cost.training import TrainingEstimate, estimate_training, training_costs

__all__ = [
    "ServingEstimate",
    "Ledger",
    "LedgerEntry",
    "TrainingEstimate",
    "estimate_serving",
    "estimate_training",
    "experts_touched",
    "serving_costs",
    "training_costs",
]
