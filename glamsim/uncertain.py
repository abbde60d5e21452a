"""Uncertain inputs: a number, or a (low, nominal, high) triple, parsed and range-checked.

These are input types of the scenario schemas (`glamsim.scenario`); the cost model turns them
into output ranges and tornado tables (`glamsim.cost.uncertainty`).
"""

from __future__ import annotations

from glamsim.config import ConfigError, check_number

Uncertain = float | tuple[float, float, float]
"""An input that is a plain number, or a (low, nominal, high) triple in the field's own unit."""


def triple(value: Uncertain) -> tuple[float, float, float]:
    """(low, nominal, high) of an input; a plain number is its own low and high.

    Parameters
    ----------
    value : float or tuple of 3 floats
        A number, or (low, nominal, high), in the input's own unit (MFU as a fraction, power in W, ...).

    Returns
    -------
    tuple of 3 floats
        (low, nominal, high), in the same unit.

    Examples
    --------
    >>> triple(0.3)
    (0.3, 0.3, 0.3)
    >>> triple((250, 326, 400))
    (250.0, 326.0, 400.0)
    """
    if isinstance(value, (tuple, list)):
        return tuple(float(v) for v in value)  # type: ignore[return-value]
    return (float(value),) * 3


def nominal(value: Uncertain) -> float:
    """The nominal value of an input (the number itself, or the middle of a triple).

    Parameters
    ----------
    value : float or tuple of 3 floats
        A number or (low, nominal, high), in the input's own unit.

    Returns
    -------
    float
        The nominal value, in the same unit.

    Examples
    --------
    >>> nominal((0.2, 0.3, 0.4))
    0.3
    """
    return triple(value)[1]


def is_uncertain(value) -> bool:
    """Whether an input is a range: a tuple or list whose low, nominal and high are not all equal.

    Parameters
    ----------
    value : object
        A scenario input.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_uncertain((0.2, 0.3, 0.4)), is_uncertain((0.3, 0.3, 0.3)), is_uncertain(0.3)
    (True, False, False)
    """
    return isinstance(value, (tuple, list)) and len(set(value)) > 1


def parse_uncertain(text: str, name: str) -> Uncertain:
    """Parse a number or a "low,nominal,high" triple from text (a command-line or URL value).

    Parameters
    ----------
    text : str
        "0.4", or "0.3,0.4,0.5" with low <= nominal <= high, in the input's own unit.
    name : str
        The input's name, for the error message.

    Returns
    -------
    float or tuple of 3 floats
        The number, or (low, nominal, high).

    Raises
    ------
    glamsim.config.ConfigError
        Not a number, not finite, two or more than three values, or out of order.

    Examples
    --------
    >>> parse_uncertain("0.4", "mfu")
    0.4
    >>> parse_uncertain("0.3,0.4,0.5", "mfu")
    (0.3, 0.4, 0.5)
    """
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


def _bound(b: float) -> str:
    """A bound as people write it: 1,048,576 for a whole number, else the shortest float (0.5)."""
    return f"{int(b):,}" if float(b).is_integer() and abs(b) < 2**53 else f"{b:g}"


def require(
    name: str, value: Uncertain, *, gt: float | None = None, ge: float | None = None, le: float | None = None
) -> None:
    """Check an input: every one of low, nominal and high finite and in the allowed interval.

    Parameters
    ----------
    name : str
        The input's name, for the error message.
    value : float or tuple of 3 floats
        A number or (low, nominal, high), in the input's own unit.
    gt, ge, le : float, optional
        Bounds, in the same unit: greater than, at least, at most.

    Raises
    ------
    glamsim.config.ConfigError
        One line naming the input and the bound it breaks.

    Examples
    --------
    >>> require("mfu", (0.2, 0.3, 0.4), gt=0, le=1)
    >>> require("mfu", 1.5, gt=0, le=1)
    Traceback (most recent call last):
    ...
    glamsim.config.ConfigError: mfu=1.5: must be > 0 and <= 1
    """
    if isinstance(value, (tuple, list)) and (len(value) != 3 or not value[0] <= value[1] <= value[2]):
        raise ConfigError(f"{name}={list(value)!r}: expected low, nominal, high with low <= nominal <= high")
    for v in triple(value):
        check_number(name, v)
        if (gt is not None and not v > gt) or (ge is not None and not v >= ge) or (le is not None and not v <= le):
            allowed = " and ".join(
                s
                for s in (
                    gt is not None and f"> {_bound(gt)}",
                    ge is not None and f">= {_bound(ge)}",
                    le is not None and f"<= {_bound(le)}",
                )
                if s
            )
            raise ConfigError(f"{name}={value!r}: must be {allowed}")
