"""Provenance: every input of a result with its value, unit and source, exportable with it."""

from __future__ import annotations

from dataclasses import dataclass

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


class Ledger:
    """Every input of a result, in the order the cost model used them.  Entries are kept as plain
    tuples and built into `LedgerEntry`s when read (an estimate writes ~25; most callers read few)."""

    def __init__(self, entries: list[LedgerEntry] | None = None):
        self._rows: list[tuple] = [(e.name, e.value, e.unit, e.source) for e in entries or ()]

    def add(self, name: str, value, unit: str, source: str) -> None:
        self._rows.append((name, list(value) if isinstance(value, tuple) else value, unit, source))

    def add_profile(
        self, name: str, value, unit: str, origin: str, field_name: str, spec: Spec, extra: str = ""
    ) -> None:
        """An input read from a profile: the source names the file, the field and its citation."""
        self.add(name, value, unit, f"profile {origin}: {field_name} ({spec.source}, {spec.date}){extra}")

    @property
    def entries(self) -> list[LedgerEntry]:
        return [LedgerEntry(*r) for r in self._rows]

    def __getitem__(self, name: str) -> LedgerEntry:
        for r in self._rows:
            if r[0] == name:
                return LedgerEntry(*r)
        raise KeyError(name)

    def __eq__(self, other) -> bool:
        return isinstance(other, Ledger) and self._rows == other._rows

    def __repr__(self) -> str:
        return f"Ledger({len(self._rows)} entries: {', '.join(r[0] for r in self._rows)})"

    def to_list(self) -> list[dict]:
        return [{"name": n, "value": v, "unit": u, "source": s} for n, v, u, s in self._rows]
