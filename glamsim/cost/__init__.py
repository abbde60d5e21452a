"""The cost model: FLOPs -> time, energy, carbon and dollars, for training and serving.

numpy only (never JAX): every formula takes arrays and broadcasts, so a sweep evaluates
thousands of scenarios in one call; `estimate_training` / `estimate_inference` are the
single-scenario views that resolve profiles and carry a provenance ledger.
"""

from glamsim.cost.inference import InferenceEstimate, estimate_inference, experts_touched, inference_costs
from glamsim.cost.ledger import Ledger, LedgerEntry
from glamsim.cost.training import TrainingEstimate, estimate_training, training_costs

__all__ = [
    "InferenceEstimate",
    "Ledger",
    "LedgerEntry",
    "TrainingEstimate",
    "estimate_inference",
    "estimate_training",
    "experts_touched",
    "inference_costs",
    "training_costs",
]
