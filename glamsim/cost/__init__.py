"""The cost model: FLOPs -> time, energy, carbon and dollars, for training and serving.

numpy only (never JAX): every formula takes arrays and broadcasts, so a sweep evaluates
thousands of scenarios in one call; `estimate_training` / `estimate_serving` are the
single-scenario views that resolve profiles and carry a provenance ledger.  The names below are
imported on first use, so that a training estimate does not load the serving modules.
"""

from __future__ import annotations

from glamsim.lazy import lazy_names

_LAZY = {
    "Ledger": "glamsim.cost.ledger",
    "LedgerEntry": "glamsim.cost.ledger",
    "QualityScenario": "glamsim.cost.quality.scenario",
    "ServingEstimate": "glamsim.cost.serving",
    "TrainingEstimate": "glamsim.cost.training",
    "equivalents_sources": "glamsim.cost.regions",
    "estimate_serving": "glamsim.cost.serving",
    "estimate_training": "glamsim.cost.training",
    "experts_touched": "glamsim.cost.serving",
    "regions_rows": "glamsim.cost.regions",
    "serving_costs": "glamsim.cost.serving",
    "training_costs": "glamsim.cost.training",
}
__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
