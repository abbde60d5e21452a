"""One result type for every single estimate: the outputs by name, their ranges, the ledger."""

from __future__ import annotations

from dataclasses import dataclass, field

from glamsim.cost.ledger import Ledger


@dataclass
class Estimate:
    """One scenario's outputs by name (`est.energy_mwh`, `est["joules_per_token"]`), their ranges
    and tornado when inputs are uncertain, the ledger of every input, and notes (one line each:
    what a record supplied, what was assumed).  `values` holds what the cost core returns, so a
    new output of the core reaches the JSON and the faces without another edit."""

    values: dict
    ledger: Ledger
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    tornado: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    scenario: object | None = None  # the TrainingScenario or ServingScenario it answers

    def __getattr__(self, name: str):
        values = self.__dict__.get("values")
        if values is not None and name in values:
            return values[name]
        raise AttributeError(f"{type(self).__name__} has no output {name!r}")

    def __getitem__(self, key: str):
        return self.values[key]

    def extra(self) -> dict:
        """What a kind of estimate adds to its dictionary beside the outputs (none here)."""
        return {}

    def to_dict(self) -> dict:
        return {
            **self.values,
            **self.extra(),
            "ranges": {k: list(v) for k, v in self.ranges.items()},
            "tornado": self.tornado,
            "ledger": self.ledger.to_list(),
            "notes": list(self.notes),
            "scenario": self.scenario.model_dump(mode="json", exclude_defaults=True) if self.scenario else None,
        }
