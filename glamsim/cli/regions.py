"""The regions table as both faces show it (`glamsim estimate train --regions` and the training
page's *carbon in every region*): one row per datacenter of `glamsim.api.regions`, headers with
units and numbers from the output registry, each equivalent marked an estimate (about) or a factor.
Plain Python over the frame's records, so the command line and the dashboard print the same cells.
"""

from __future__ import annotations

NUMBERS = ("pue", "carbon_intensity_kg_per_kwh", "energy_mwh", "co2e_t")


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
            **{label(k): format_value(k, r[k]) for k in NUMBERS},
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
