"""Valid inputs that look like unit slips (600 tokens, 365 kg/kWh, 0.7 W), and fractions given in
percent: the one set of rules every face applies (the Python front door warns, the command line
prints `warning:` lines, the dashboard `st.warning`).  Plain Python, so the command line can use it
without loading pandas.
"""

from __future__ import annotations

import math
from numbers import Real

from glamsim.config import ConfigError


class PlausibilityWarning(UserWarning):
    """A valid input that looks like a unit slip (600 tokens, 365 kg/kWh, 0.7 W): the answer is
    computed as asked, with one warning line naming the field, the value and the likely intent."""


# field -> (is it implausible?, what it probably meant): each catches a slip of 1,000x or 100x
PLAUSIBLE = {
    "tokens": (lambda v: v < 1e6, "under a million tokens: tokens are counted one by one (600e9, not 600)"),
    "carbon_intensity_kg_per_kwh": (
        lambda v: v > 2,
        "above 2 kgCO2e/kWh, more than any grid (coal is about 1): g/kWh given as kg/kWh? (365 g/kWh is 0.365)",
    ),
    "power_w": (
        lambda v: v < 10 or v > 5000,
        "outside 10 W to 5 kW per chip: kW given as W (0.7 kW is 700 W), or a whole server's power?",
    ),
}
FRACTIONS = ("mfu", "mbu")  # refused when given in percent (1 < value <= 100)


def _numbers(value) -> list[float]:
    """The plain numbers among a field's values (a scalar, list, tuple, numpy array or pandas
    Series); others skipped."""
    values = value.tolist() if hasattr(value, "tolist") else value
    values = values if isinstance(values, (list, tuple)) else [values]
    return [float(v) for v in values if isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)]


def plausibility(fields: dict) -> list[str]:
    """One line per input value that looks like a unit slip: a token count under a million, a carbon
    intensity above 2 kg/kWh, power under 10 W or above 5 kW per chip.  An MFU in percent (1 < mfu
    <= 100) is refused instead, by `check_fraction`."""
    out = []
    for name, (odd, why) in PLAUSIBLE.items():
        for v in _numbers(fields.get(name)):
            if odd(v):
                out.append(f"{name}={v:g}: {why}")
                break
    return out


def check_fraction(fields: dict) -> None:
    """An MFU or MBU given in percent (30 for 0.3) is refused with the fraction it probably meant."""
    for name in FRACTIONS:
        for v in _numbers(fields.get(name)):
            if 1 < v <= 100:
                raise ConfigError(f"{name}={v:g}: a fraction from 0 to 1; {v:g}% is {name}={v / 100:g}")
