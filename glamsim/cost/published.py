"""A training estimate beside the published run of the same model (`published_runs.yaml`).

glamsim's defaults train GLaM 64B/64E on GLaM's published chips and tokens, yet its predicted MFU,
days and MWh differ from the paper's run: the planner picks the fastest layout that fits (the paper's
layout is not the fastest), and the default datacenter is not the paper's.  This puts the estimate's
figures and inputs beside the published run's, each published figure with its source, and says why
they differ: the estimate's own ledger entry `published_run` (`glamsim.predict.explain`) for the
MFU, and each energy input (chip, power, PUE, carbon intensity) that is not the run's.
"""

from __future__ import annotations

from glamsim.config import ModelConfig, load_model
from glamsim.cost.reproduce import published_runs
from glamsim.cost.training import estimate_training
from glamsim.outputs import format_value

OUTPUTS = ("mfu", "train_days", "energy_mwh", "co2e_t")
# inputs that set the energy and carbon of a run, read from each estimate's ledger
LEDGER_INPUTS = ("chips", "tokens", "power_w", "pue", "carbon_intensity_kg_per_kwh")


def published_run_of(model: str):
    """The id and the published run of `model` with the most tokens (the full run), or (None, None)."""
    runs = [(k, r) for k, r in published_runs().runs.items() if r.model == model]
    return max(runs, key=lambda kr: kr[1].tokens.value) if runs else (None, None)


def _published_outputs(run_id: str, run) -> dict[str, tuple[float | None, str]]:
    """The run's published MFU, days, MWh and tCO2e, each (value, source); None where unpublished."""
    from glamsim.predict.validation import prediction_rows

    out: dict[str, tuple[float | None, str]] = {k: (None, "not published") for k in OUTPUTS}
    mfu = [r for r in prediction_rows() if r["model"] == run.model and r["chip"] == run.chip and r["quantity"] == "mfu"]
    if mfu:
        out["mfu"] = (mfu[0]["published"], mfu[0]["source"])
    out["train_days"] = (run.hours.value / 24, f"{run.hours.source}, / 24")
    for c in published_runs().checks:
        if c.run == run_id and c.quantity in ("energy_mwh", "co2e_t") and c.published:
            out[c.quantity] = (c.published.value, c.published.source)
    return out


def beside_published(model: str | ModelConfig = "glam-64b-64e", *, profiles_dirs: tuple = (), **fields) -> dict:
    """The training estimate of `model` (scenario `fields`, the defaults otherwise) beside its
    published run: ``run`` (its id, or None when the model has none), ``rows`` (one dict per quantity:
    `name`, `estimate`, `published`, `source` of the published figure), ``why`` (the estimate's
    ledger entry `published_run`: its layout against the run's, or None when the estimate's MFU is
    not predicted or no published run of the model used its chip) and ``differs`` (one line per energy input
    that differs: chip, datacenter, chips, tokens, power, PUE, carbon intensity)."""
    cfg = model if isinstance(model, ModelConfig) else load_model(model)
    est = estimate_training(model=cfg, profiles_dirs=profiles_dirs, **fields)
    run_id, run = published_run_of(cfg.name)
    out = {"model": cfg.name, "run": run_id, "rows": [], "why": None, "differs": []}
    names = [e.name for e in est.ledger.entries]
    if "published_run" in names:
        out["why"] = est.ledger["published_run"].source
    if run is None:
        return out
    pub = estimate_training(  # the published run's inputs: its power, PUE and intensity from its profiles
        model=cfg,
        chip=run.chip,
        datacenter=run.datacenter,
        chips=int(run.chips.value),
        hours=run.hours.value,
        tokens=run.tokens.value,
        sources={"chips": run.chips.source, "hours": run.hours.source, "tokens": run.tokens.source},
        profiles_dirs=profiles_dirs,
    )
    published = _published_outputs(run_id, run)
    for k in OUTPUTS:
        value, source = published[k]
        out["rows"].append({"name": k, "estimate": float(getattr(est, k)), "published": value, "source": source})
    s = est.scenario
    for k, mine, theirs, source in (
        ("chip", _name(s.chip), run.chip, "published_runs.yaml"),
        ("datacenter", _name(s.datacenter), run.datacenter, "published_runs.yaml"),
    ):
        out["rows"].append({"name": k, "estimate": mine, "published": theirs, "source": source})
    for k in LEDGER_INPUTS:
        mine, theirs = est.ledger[k].value, pub.ledger[k].value
        out["rows"].append({"name": k, "estimate": mine, "published": theirs, "source": pub.ledger[k].source})
    for r in out["rows"][len(OUTPUTS) :]:
        if r["estimate"] != r["published"]:
            mine, theirs = (format_value(r["name"], r[k]) for k in ("estimate", "published"))
            out["differs"].append(f"{r['name']} {mine} here, {theirs} in the run")
    return out


def _name(v) -> str:
    return v if isinstance(v, str) or v is None else v.name
