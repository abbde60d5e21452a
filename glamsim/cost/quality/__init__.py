"""Cost at equal quality: scaling laws (`laws`), plans (`plan`), the published checks (`checks`)."""

from glamsim.cost.quality.plan import plan, shape
from glamsim.cost.quality.scenario import QualityScenario

__all__ = ["QualityScenario", "plan", "shape"]
