"""Provenance: every input of a result with its value, unit and source, exportable with it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from glamsim.profiles import Spec


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One input: e.g. power_w = 326 W from 'profile tpu-v4.yaml: measured_system_power_w (...)'.

    `value` is a number, or [low, nominal, high] for an uncertain input.
    """

    name: str
    value: float | list[float] | str | None
    unit: str
    source: str


@dataclass
class Ledger:
    entries: list[LedgerEntry] = field(default_factory=list)

    def add(self, name: str, value, unit: str, source: str) -> None:
        if isinstance(value, tuple):
            value = list(value)
        self.entries.append(LedgerEntry(name, value, unit, source))

    def add_profile(self, name: str, value, unit: str, origin: str, field_name: str, spec: Spec,
                    extra: str = "") -> None:
        """An input read from a profile: the source names the file, the field and its citation."""
        src = f"profile {origin}: {field_name} ({spec.source}, {spec.date}){extra}"
        self.add(name, value, unit, src)

    def __getitem__(self, name: str) -> LedgerEntry:
        for e in self.entries:
            if e.name == name:
                return e
        raise KeyError(name)

    def to_list(self) -> list[dict]:
        return [asdict(e) for e in self.entries]
