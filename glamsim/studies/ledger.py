"""The study ledger: what was computed, from which inputs, and where each input comes from."""

from __future__ import annotations

import pandas as pd

from glamsim.studies.spec import StudySpec


class LedgerSources:
    """What the ledger names, gathered from the results a chunk at a time (in order of first
    appearance, as one pass over the whole table would find them)."""

    def __init__(self):
        self.n_scenarios, self.columns = 0, []
        self.models, self.chips, self.datacenters, self.measured = {}, {}, {}, {}

    def add(self, results: pd.DataFrame) -> None:
        self.n_scenarios += len(results)
        self.columns = list(results.columns)
        self.models |= dict.fromkeys(pd.unique(results["model"]))
        cols = ["chip", "tdp_fraction", "dtype", "power_model", "chip_lifetime_years", "chip_lifetime_utilisation"]
        chips = results[cols].drop_duplicates()  # each distinct chip setting once, in order of appearance
        dtypes = chips["dtype"].astype(object).where(chips["dtype"].notna(), "").astype(str)
        frac, power, life, util = (chips[c] for c in ("tdp_fraction", "power_model", *cols[-2:]))
        self.chips |= dict.fromkeys(zip(chips["chip"], frac, dtypes, power.astype(str), life, util))
        self.datacenters |= dict.fromkeys(pd.unique(results["datacenter"]))
        if "measured" in results:
            pairs = results[["measured", "chip"]].drop_duplicates()
            self.measured |= dict.fromkeys(zip(pairs["measured"], pairs["chip"]))


def build_ledger(spec: StudySpec, sources: LedgerSources) -> dict:
    """The study's provenance: spec and digest, glamsim version, and for every model preset, chip
    and datacenter the results used, each input with its value, unit and source (the cost model's
    own ledger entries, resolved by its rules: measured power, else TDP; net carbon intensity)."""
    from glamsim import __version__
    from glamsim.config import load_model
    from glamsim.studies.columns import chip_figures, datacenter_figures, measured_figures

    models = {}
    for name in sources.models:
        cfg = load_model(name)
        pub = cfg.published
        models[name] = {
            "description": cfg.description,
            "published": pub.model_dump(exclude_none=True, exclude_defaults=True) if pub else {},
        }
    chips = {}
    for chip, frac, dtype, pm, life, util in sources.chips:
        key = (
            chip
            + (f" (tdp_fraction {frac:g})" if frac != 1 else "")
            + (f" ({dtype})" if dtype else "")
            + (f" (power_model {pm})" if pm != "system" else "")
            + (f" (lifetime {life:g} y at {util:g})" if (life, util) != (4.0, 1.0) else "")
        )
        chips[key] = chip_figures(chip, float(frac), dtype, pm, float(life), float(util))[1].to_list()
    dcs = {n: datacenter_figures(n)[1].to_list() for n in sources.datacenters}
    measured = {}
    for path, chip in sources.measured:
        if isinstance(path, str):
            measured[f"{path} on {chip}"] = measured_figures(path, chip)[1]
    return {
        "study": spec.name,
        "title": spec.title,
        "reproduces": spec.reproduces.strip(),
        "glamsim_version": __version__,
        "spec_digest": spec.digest(),
        "n_scenarios": sources.n_scenarios,
        "columns": sources.columns,
        "spec": spec.model_dump(mode="json"),
        "sources": {
            "user_inputs": "the scenario fields the spec sets (base, cases, axes); a scenario's "
            "power_w, pue, carbon_intensity_kg_per_kwh, price_per_chip_hour_usd or "
            "interconnect_gb_per_s, when given, replaces the profile figure below "
            "(resolved_* columns hold the value used); an unset field has the default "
            "of glamsim.scenario, whose source `glamsim estimate train --help` gives",
            "models": models,
            "chips": chips,
            "datacenters": dcs,
            "measurements": measured,
        },
        "conventions": {
            "flops": "model FLOPs (glamsim.accounting): 2 per multiply-accumulate, train = 3 x forward, "
            "full S x S attention",
            "training": "glamsim.cost.training_costs: chip-hours from FLOPs at mfu (or given hours), "
            "energy = chip-hours x power x PUE, tCO2e = MWh x kg/kWh",
            "serving": "glamsim.cost.serving_costs: roofline per decode step at the mean context, "
            "weights read = dense weights + experts the batch touches",
        },
    }
