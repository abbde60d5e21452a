"""The same training run's carbon in every datacenter region, with everyday equivalents.

A run's energy depends on its datacenter only through the PUE, its carbon through the PUE and the
grid's intensity: the same chips, hours and power placed in each datacenter profile give the spread
a choice of region makes.  Each tCO2e figure is also written as everyday equivalents (vehicle-years,
gallons of gasoline), whose rates are data (`glamsim/data/equivalents/carbon.yaml`), each with its
source and where in it, and marked when the source calls it typical or approximate.
"""

from __future__ import annotations

from functools import cache

import pandas as pd

from glamsim.config import Frozen, data_dir, read_yaml, validate_as
from glamsim.profiles import Spec

COLUMNS = (
    "datacenter",
    "region",
    "kind",
    "pue",
    "carbon_intensity_kg_per_kwh",
    "energy_mwh",
    "co2e_t",
    "co2e_location_t",
)


class Equivalent(Frozen):
    label: str  # "passenger vehicles driven for a year"
    unit: str  # "vehicle-years"
    t_co2_per_unit: Spec  # tonnes CO2 of one unit, with its source
    estimate: bool  # the source calls the rate typical or approximate


class Equivalents(Frozen):
    equivalents: dict[str, Equivalent]


@cache
def equivalents() -> dict[str, Equivalent]:
    """The everyday equivalents glamsim ships, by key, each rate with its source."""
    path = data_dir("equivalents") / "carbon.yaml"
    return validate_as(Equivalents, read_yaml(path), path.name).equivalents


def in_equivalents(co2e_t: float) -> dict[str, float]:
    """`co2e_t` tonnes as a number of each everyday equivalent (tonnes / the rate's tonnes per unit)."""
    return {k: co2e_t / e.t_co2_per_unit.value for k, e in equivalents().items()}


def regions_table(frame: pd.DataFrame, profiles: dict) -> pd.DataFrame:
    """One row per datacenter of a training frame (`glamsim.api.train` with one datacenter per row):
    the PUE and carbon intensity it resolved to, energy and carbon (net and location-based), then the
    net tCO2e in each equivalent (`co2e_<key>` columns), lowest carbon first.  ``attrs["equivalents"]``
    holds each equivalent's label, unit, rate, source and whether it is an estimate."""
    out = pd.DataFrame(
        {
            "datacenter": frame["datacenter"].astype(str),
            "region": [getattr(profiles.get(d), "region", None) or "" for d in frame["datacenter"]],
            "kind": [getattr(profiles.get(d), "kind", None) or "" for d in frame["datacenter"]],
            "pue": frame["resolved_pue"],
            "carbon_intensity_kg_per_kwh": frame["resolved_carbon_intensity_kg_per_kwh"],
            "energy_mwh": frame["energy_mwh"],
            "co2e_t": frame["co2e_t"],
            "co2e_location_t": frame["co2e_location_t"],
        }
    )
    for k, e in equivalents().items():
        out[f"co2e_{k}"] = out["co2e_t"] / e.t_co2_per_unit.value
    out = out.sort_values(["co2e_t", "datacenter"], kind="stable", ignore_index=True)
    out.attrs["equivalents"] = {
        k: {
            "label": e.label,
            "unit": e.unit,
            "t_co2_per_unit": e.t_co2_per_unit.value,
            "source": e.t_co2_per_unit.source,
            "date": e.t_co2_per_unit.date,
            "estimate": e.estimate,
        }
        for k, e in equivalents().items()
    }
    return out


# ---- the table both faces show (`glamsim estimate train --regions`, the training page) --------

SHOWN_NUMBERS = ("pue", "carbon_intensity_kg_per_kwh", "energy_mwh", "co2e_t")


def equivalent_header(e: dict) -> str:
    """`passenger vehicles driven for a year (about)`: an estimate's rate, or `(factor)`."""
    return f"{e['label']} ({'about' if e['estimate'] else 'factor'})"


def regions_rows(df) -> list[dict[str, str]]:
    """The rows of a `glamsim.api.regions` frame as read: datacenter, region, PUE, carbon
    intensity, energy, tCO2e and each everyday equivalent, every cell text."""
    from glamsim.formatting import fmt_about
    from glamsim.outputs import format_value, label

    eq = df.attrs["equivalents"]
    return [
        {
            "datacenter": r["datacenter"],
            "region": r["region"],
            **{label(k): format_value(k, r[k]) for k in SHOWN_NUMBERS},
            **{equivalent_header(e): fmt_about(r[f"co2e_{k}"]) for k, e in eq.items()},
        }
        for r in df.to_dict("records")
    ]


def equivalents_sources(eq: dict) -> str:
    """One sentence naming each equivalent's rate and source (`df.attrs["equivalents"]`)."""
    return "Equivalents of the net tCO2e: " + "; ".join(
        f"{e['label']}: {e['t_co2_per_unit']:g} t each ({'an estimate' if e['estimate'] else 'a factor'}; "
        f"{e['source']})"
        for e in eq.values()
    )
