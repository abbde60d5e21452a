"""`glamsim reproduce`: the GLaM paper's efficiency comparison, published vs glamsim.

The published runs and the checked figures live in `hardware_profiles/published_runs.yaml`
(each with its source); every glamsim value is computed through the same `estimate_training`
a user calls, from the published inputs and the chip / datacenter profiles.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from pydantic import model_validator

from glamsim.accounting import ModelArrays, params
from glamsim.config import ConfigError, Frozen, Published, data_dir, load_model, read_yaml, validate_as
from glamsim.cost.training import estimate_training, model_train_flops

QUANTITIES = (
    "energy_mwh",
    "co2e_t",
    "tflops_per_chip",
    "train_flops_6nd",
    "train_flops_model",
    "inference_gflops_2n",
    "mfu_published_flops",
    "mfu_model_flops",
    "mfu_6nd",
)


class PublishedRun(Frozen):
    model: str
    chip: str
    datacenter: str
    chips: Published
    hours: Published
    tokens: Published
    train_flops: Published | None = None


class Check(Frozen):
    id: str
    label: str
    run: str | None = None
    quantity: str | None = None
    ratio: tuple[str, str] | None = None
    published: Published | None = None
    tolerance: float | None = None
    note: str = ""

    @model_validator(mode="after")
    def _check(self) -> Check:
        if (self.run is None) == (self.ratio is None):
            raise ValueError(f"id={self.id!r}: give either run+quantity or ratio")
        if self.quantity is not None and self.quantity not in QUANTITIES:
            raise ValueError(f"quantity={self.quantity!r}: known: {', '.join(QUANTITIES)}")
        return self


class PublishedRuns(Frozen):
    runs: dict[str, PublishedRun]
    checks: list[Check]
    predictions: dict = {}  # published runs the step-time predictor is checked on (glamsim.predict.validation)


@cache
def published_runs() -> PublishedRuns:
    path = data_dir("hardware_profiles") / "published_runs.yaml"
    return validate_as(PublishedRuns, read_yaml(path), path.name)


def run_quantities(run: PublishedRun) -> dict[str, float]:
    """Every checkable quantity of one published run, computed by glamsim."""
    cfg = load_model(run.model)
    n_active = float(params(ModelArrays.of(cfg), active=True)[0])
    model_flops = model_train_flops(cfg, run.tokens.value)
    flops = run.train_flops.value if run.train_flops else model_flops
    est = estimate_training(
        chip=run.chip,
        datacenter=run.datacenter,
        chips=int(run.chips.value),
        hours=run.hours.value,
        train_flops=flops,
        sources={
            "chips": run.chips.source,
            "hours": run.hours.source,
            "train_flops": run.train_flops.source
            if run.train_flops
            else f"glamsim.accounting model FLOPs of {cfg.name} on {run.tokens.source}'s tokens",
        },
    )
    peak = est.ledger["peak_flops"].value
    chip_s = est.chip_hours * 3600
    flops_6nd = 6 * n_active * run.tokens.value
    return {
        "energy_mwh": est.energy_mwh,
        "co2e_t": est.co2e_t,
        "tflops_per_chip": flops / chip_s / 1e12,
        "train_flops_6nd": flops_6nd,
        "train_flops_model": model_flops,
        "inference_gflops_2n": 2 * n_active / 1e9,
        "mfu_published_flops": est.mfu,
        "mfu_model_flops": model_flops / chip_s / peak,
        "mfu_6nd": flops_6nd / chip_s / peak,
    }


# The energy boundary of each checked quantity (glamsim's three: boards, server, facility).  The
# published runs give a measured system power per chip (the server boundary: GLaM 326 W per TPU
# v4 with its host share, GPT-3 330 W per V100) times the datacenter's PUE: the facility.
BOUNDARY = {
    "energy_mwh": "facility: the run's measured system power per chip x chip-hours x PUE",
    "co2e_t": "facility energy x the grid's (net) carbon intensity",
}


def reproduce() -> list[dict]:
    """One row per check: published, glamsim, relative error, tolerance, ok, the energy boundary
    (energy and carbon rows), source, note."""
    data = published_runs()
    per_run = {name: run_quantities(run) for name, run in data.runs.items()}
    rows: dict[str, dict] = {}
    for c in data.checks:
        if c.ratio:
            a, b = (rows.get(i) for i in c.ratio)
            if a is None or b is None:
                raise ConfigError(f"published_runs.yaml: ratio={list(c.ratio)}: rows must be listed before {c.id}")
            pub, ours = a["published"] / b["published"], a["glamsim"] / b["glamsim"]
            boundary = a["boundary"]
            source = f"ratio of rows {c.ratio[0]} / {c.ratio[1]}"
        else:
            if c.run not in per_run:
                raise ConfigError(f"published_runs.yaml: run={c.run!r}: unknown; known: {', '.join(per_run)}")
            ours = per_run[c.run][c.quantity]
            boundary = BOUNDARY.get(c.quantity, "")
            pub = c.published.value if c.published else None
            source = c.published.source if c.published else "implied (no published value)"
        err = None if pub is None else ours / pub - 1
        ok = c.tolerance is None or (err is not None and abs(err) <= c.tolerance)
        rows[c.id] = {
            "id": c.id,
            "check": c.label,
            "published": pub,
            "glamsim": ours,
            "rel_error": err,
            "tolerance": c.tolerance,
            "ok": ok,
            "boundary": boundary,
            "source": source,
            "note": c.note,
        }
    return list(rows.values())


# ---- the predictor's validation section ------------------------------------------------------


def prediction_rows() -> list[dict]:
    """Published vs predicted utilisation of the runs under `predictions:` (one row each: published,
    predicted, relative error, tolerance, ok, layout and its source).  Informational: a row off its
    tolerance does not fail `glamsim reproduce` (the published checks above do); the section says
    which rows miss."""
    from glamsim.predict.validation import validation_rows

    return validation_rows()


def _run_figures(run: PublishedRun) -> dict[str, float]:
    """Model FLOPs, dense peak, implied MFU, power per chip and PUE of a published run, as the
    estimate resolves them (the run's own chips, hours and profiles)."""
    cfg = load_model(run.model)
    flops = model_train_flops(cfg, run.tokens.value)
    est = estimate_training(
        model=cfg,
        tokens=run.tokens.value,
        chip=run.chip,
        datacenter=run.datacenter,
        chips=int(run.chips.value),
        hours=run.hours.value,
    )
    return {
        "model_flops": flops,
        "peak_flops": est.ledger["peak_flops"].value,
        "mfu": est.mfu,
        "power_w": est.ledger["power_w"].value,
        "pue": est.ledger["pue"].value,
        "energy_mwh": est.energy_mwh,
    }


def energy_factors(a: str = "glam-600b", b: str = "gpt3") -> dict:
    """Why run `a` used the energy it did next to run `b`: energy = FLOPs / (peak x MFU) x power x
    PUE, so the ratio is the product of five factors (FLOPs, 1 / peak, 1 / utilisation, power, PUE),
    each a ratio of the runs' own figures; and the same comparison on `b`'s hardware (equal chips,
    utilisation, power and PUE), where only the FLOPs differ.  Model FLOPs on both sides."""
    runs = published_runs().runs
    fa, fb = _run_figures(runs[a]), _run_figures(runs[b])
    factors = {
        "model FLOPs": fa["model_flops"] / fb["model_flops"],
        "1 / chip peak": fb["peak_flops"] / fa["peak_flops"],
        "1 / utilisation (MFU)": fb["mfu"] / fa["mfu"],
        "power per chip": fa["power_w"] / fb["power_w"],
        "PUE": fa["pue"] / fb["pue"],
    }
    product = float(np.prod(list(factors.values())))
    return {
        "a": a,
        "b": b,
        "factors": factors,
        "product": product,
        "energy_ratio": fa["energy_mwh"] / fb["energy_mwh"],
        "equal_hardware_ratio": factors["model FLOPs"],
        "figures": {a: fa, b: fb},
    }
