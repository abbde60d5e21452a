"""Uncertain inputs: a number, or a (low, nominal, high) triple, parsed and range-checked.

These are input types of the scenario schemas (`glamsim.scenario`); the cost model turns them
into output ranges and tornado tables (`glamsim.cost.uncertainty`).
"""

from __future__ import annotations

from glamsim.config import ConfigError, check_number

Uncertain = float | tuple[float, float, float]


def triple(value: Uncertain) -> tuple[float, float, float]:
    """(low, nominal, high) of an input; a plain number is its own low and high."""
    if isinstance(value, (tuple, list)):
        return tuple(float(v) for v in value)  # type: ignore[return-value]
    return (float(value),) * 3


def nominal(value: Uncertain) -> float:
    return triple(value)[1]


def is_uncertain(value) -> bool:
    return isinstance(value, (tuple, list)) and len(set(value)) > 1


def parse_uncertain(text: str, name: str) -> Uncertain:
    """'0.4' -> 0.4; '0.3,0.4,0.5' -> (0.3, 0.4, 0.5) with low <= nominal <= high."""
    try:
        parts = [float(p) for p in str(text).split(",")]
    except ValueError:
        raise ConfigError(f"{name}={text!r}: expected a number or low,nominal,high") from None
    for p in parts:
        check_number(name, p)
    if len(parts) == 1:
        return parts[0]
    if len(parts) != 3 or not parts[0] <= parts[1] <= parts[2]:
        raise ConfigError(f"{name}={text!r}: expected low,nominal,high with low <= nominal <= high")
    return tuple(parts)  # type: ignore[return-value]


def require(
    name: str, value: Uncertain, *, gt: float | None = None, ge: float | None = None, le: float | None = None
) -> None:
    """One-line ConfigError unless every one of low/nominal/high is finite and in the allowed interval."""
    if isinstance(value, (tuple, list)) and (len(value) != 3 or not value[0] <= value[1] <= value[2]):
        raise ConfigError(f"{name}={list(value)!r}: expected low, nominal, high with low <= nominal <= high")
    for v in triple(value):
        check_number(name, v)
        if (gt is not None and not v > gt) or (ge is not None and not v >= ge) or (le is not None and not v <= le):
            allowed = " and ".join(
                s
                for s in (
                    gt is not None and f"> {gt:g}",
                    ge is not None and f">= {ge:g}",
                    le is not None and f"<= {le:g}",
                )
                if s
            )
            raise ConfigError(f"{name}={value!r}: must be {allowed}")
