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


def _profile_source(origin: str, field_name: str, spec: Spec, extra: str) -> str:
    return f"profile {origin}: {field_name} ({spec.source}, {spec.date}){extra}"


def _final(row: tuple) -> tuple:
    """A row as read: an uncertain value as [low, nominal, high], the source as text."""
    name, value, unit, source = row
    if type(source) is not str:  # (function, *arguments): the text, formatted now
        source = source[0](*source[1:])
    return name, list(value) if isinstance(value, tuple) else value, unit, source


class Ledger:
    """Every input of a result, in the order the cost model used them.  Rows are kept as plain
    tuples, their sources formatted and `LedgerEntry`s built when read (an estimate writes ~30;
    most callers read none, and a sweep of single estimates should not pay for them)."""

    def __init__(self, entries: list[LedgerEntry] | None = None):
        self._raw: list[tuple] = [(e.name, e.value, e.unit, e.source) for e in entries or ()]
        self._done = 0  # rows before this index are final

    def add(self, name: str, value, unit: str, source) -> None:
        """One input; `source` is text, or (function, *arguments) that returns it when read."""
        self._raw.append((name, value, unit, source))

    def extend(self, rows: tuple) -> None:
        """Rows another ledger holds (`rows()`), as they are."""
        self._raw.extend(rows)

    def rows(self) -> tuple:
        """The rows as added (sources not yet formatted): for `extend`."""
        return tuple(self._raw)

    def add_input(self, scenario, name: str, unit: str, value=None) -> None:
        """A scenario field (or a `value` derived from it), its source what the scenario says of it."""
        value = getattr(scenario, name) if value is None else value
        self._raw.append((name, value, unit, (scenario.source, name)))  # read when the ledger is read

    def add_profile(
        self, name: str, value, unit: str, origin: str, field_name: str, spec: Spec, extra: str = ""
    ) -> None:
        """An input read from a profile: the source names the file, the field and its citation."""
        self._raw.append((name, value, unit, (_profile_source, origin, field_name, spec, extra)))

    @property
    def _rows(self) -> list[tuple]:
        raw = self._raw
        if self._done < len(raw):
            raw[self._done :] = map(_final, raw[self._done :])
            self._done = len(raw)
        return raw

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
        return f"Ledger({len(self._raw)} entries: {', '.join(r[0] for r in self._raw)})"

    def to_list(self) -> list[dict]:
        return [{"name": n, "value": v, "unit": u, "source": s} for n, v, u, s in self._rows]
