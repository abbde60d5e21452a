"""The study ledger: what was computed, from which inputs, and where each input comes from."""

from __future__ import annotations

import pandas as pd

from glamsim.studies.spec import StudySpec


def _sourced(profile) -> dict:
    """Every sourced figure of a profile or preset: {field: {value, source, ...}}."""
    from glamsim.config import Published

    out = {}
    for name in type(profile).model_fields:
        v = getattr(profile, name)
        if isinstance(v, Published):
            out[name] = v.model_dump(exclude_defaults=True)
    return out


def build_ledger(spec: StudySpec, results: pd.DataFrame) -> dict:
    """The study's provenance: spec and digest, glamsim version, and every model preset, chip and
    datacenter profile the results used, with the source of each figure."""
    from glamsim import __version__
    from glamsim.config import load_model
    from glamsim.profiles import load_chip, load_datacenter

    models = {}
    for name in dict.fromkeys(results["model"]):
        cfg = load_model(name)
        pub = cfg.published
        models[name] = {"description": cfg.description,
                        "published": _sourced(pub) if pub else {}}
    chips = {n: {"file": (c := load_chip(n)).origin, **_sourced(c)} for n in dict.fromkeys(results["chip"])}
    dcs = {n: {"file": (d := load_datacenter(n)).origin, **_sourced(d)} for n in dict.fromkeys(results["datacenter"])}
    return {
        "study": spec.name,
        "title": spec.title,
        "reproduces": spec.reproduces,
        "glamsim_version": __version__,
        "spec_digest": spec.digest(),
        "n_scenarios": int(len(results)),
        "columns": list(results.columns),
        "spec": spec.model_dump(mode="json"),
        "sources": {"models": models, "chips": chips, "datacenters": dcs},
        "conventions": {
            "user_inputs": "scenario fields set in the spec (base, cases, axes) are user inputs",
            "flops": "model FLOPs (glamsim.accounting): 2 per multiply-accumulate, train = 3 x forward",
        },
    }
