"""Cost at equal quality: scaling laws (`laws`), plans (`plan`), the published checks (`checks`)."""

from glamsim.cost.quality.plan import frame, lifetime_curve, plan, shape
from glamsim.cost.quality.scenario import QualityScenario

__all__ = ["QualityScenario", "frame", "lifetime_curve", "plan", "shape"]
