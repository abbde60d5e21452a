"""`glamsim reproduce`: the GLaM paper's efficiency comparison, published vs glamsim.

The published runs and the checked figures live in `hardware_profiles/published_runs.yaml`
(each with its source); every glamsim value is computed through the same `estimate_training`
a user calls, from the published inputs and the chip / datacenter profiles.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from pydantic import Field, model_validator

from glamsim.accounting import ModelArrays, params
from glamsim.config import ConfigError, Frozen, Published, data_dir, load_model, read_yaml, validate_as
from glamsim.cost.quality import laws as QL
from glamsim.cost.training import estimate_training, model_train_flops
from glamsim.laws import load_law

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
    """One checked figure: a published run's quantity (`run` + `quantity`), the ratio of two rows (`ratio`),
    or a scaling-law check (`law`: one of LAW_CHECKS, with its sourced `inputs` and the `laws` it reads).
    `tolerance` bounds the relative error; `factor` instead bounds glamsim / published to [1/factor, factor]
    (the law checks: laws fitted on other data agree in order of magnitude, not in percent)."""

    id: str
    label: str
    run: str | None = None
    quantity: str | None = None
    ratio: tuple[str, str] | None = None
    law: str | None = None
    laws: dict[str, str] = {}
    inputs: dict[str, Published] = {}
    published: Published | None = None
    tolerance: float | None = None
    factor: float | None = Field(None, gt=1)
    note: str = ""

    @model_validator(mode="after")
    def _check(self) -> Check:
        if sum(x is not None for x in (self.run, self.ratio, self.law)) != 1:
            raise ValueError(f"id={self.id!r}: give one of run+quantity, ratio or law")
        if self.quantity is not None and self.quantity not in QUANTITIES:
            raise ValueError(f"quantity={self.quantity!r}: known: {', '.join(QUANTITIES)}")
        if self.law is not None and self.law not in LAW_CHECKS:
            raise ValueError(f"law={self.law!r}: known: {', '.join(LAW_CHECKS)}")
        if self.tolerance is not None and self.factor is not None:
            raise ValueError(f"id={self.id!r}: give tolerance or factor, not both")
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


# ---- scaling-law checks: equal quality (glamsim.cost.quality; docs/quality.md) -----------------
# Each returns glamsim's figure and the extrapolation notes of the laws it used (QL.outside).  The
# reference runs are the published runs above: GPT-3 175B on its 300B tokens defines "GPT-3's quality".
EQUAL_QUALITY_RUNS = ("glam-600b", "gpt3")  # (the MoE run, the dense reference run)


def _laws(c: Check):
    return load_law(c.laws.get("dense", "chinchilla"), ("dense",)), load_law(
        c.laws.get("routed", "clark-sbase"), ("routed",)
    )


def _reference_loss(dense) -> tuple[float, list[str]]:
    """The dense law's loss of the reference run's model on its tokens (activated params, embedding in)."""
    run = published_runs().runs[EQUAL_QUALITY_RUNS[1]]
    n = float(params(ModelArrays.of(load_model(run.model)), active=True)[0])
    return float(QL.dense_loss(dense, n, run.tokens.value)), QL.outside(dense, params=n, tokens=run.tokens.value)


def _gopher_optimum(c: Check, per_run: dict) -> tuple[float, list[str]]:
    """Hoffmann et al. 2022, Eq. 4: the compute-optimal parameter count at Gopher's budget."""
    dense = load_law(c.laws.get("dense", "chinchilla-precise"), ("dense",))
    n, d = QL.optimum_for_compute(*QL.dense_coefficients(dense), c.inputs["compute"].value)
    return float(n), QL.outside(dense, params=float(n), tokens=float(d))


def _moe_dense_compute_ratio(c: Check, per_run: dict) -> tuple[float, list[str]]:
    """Compute of the compute-optimal E-expert MoE over that of the compute-optimal dense model, both
    reaching the reference run's loss: Hoffmann et al. 2022, Eq. 4 for dense; Clark et al. 2022's effective
    parameter count inside the same law for the MoE (glamsim.cost.quality.laws.routed_plan)."""
    dense, routed = _laws(c)
    target, notes = _reference_loss(dense)
    e = int(c.inputs["experts"].value)
    moe, flat = QL.routed_plan(dense, routed, target, e), QL.dense_plan(dense, target)
    notes += QL.outside(routed, params=moe["params"], experts=e)
    return moe["compute"] / flat["compute"], notes


def _equal_quality_energy_ratio(c: Check, per_run: dict) -> tuple[float, list[str]]:
    """GLaM's own configuration (activated params, experts) trained only until it reaches the reference's
    loss: the tokens that takes under the laws, times the published GLaM run's energy per token, over the
    reference run's energy (both as glamsim computes them from the published inputs)."""
    dense, routed = _laws(c)
    target, notes = _reference_loss(dense)
    moe_name, ref_name = EQUAL_QUALITY_RUNS
    run = published_runs().runs[moe_name]
    cfg = load_model(run.model)
    n = float(params(ModelArrays.of(cfg), active=True)[0])
    tokens = float(QL.tokens_for_loss(dense, QL.effective_params(routed, n, cfg.n_experts), target))
    notes += QL.outside(routed, params=n, experts=cfg.n_experts)
    energy = per_run[moe_name]["energy_mwh"] * tokens / run.tokens.value
    return energy / per_run[ref_name]["energy_mwh"], notes


def _routed_speedup(c: Check, per_run: dict) -> tuple[float, list[str]]:
    """Tokens a dense model of `dense_params` needs for its loss after `dense_steps` x `tokens_per_step`,
    over the tokens its FLOP-matched E-expert counterpart needs for the same loss (equal FLOPs per token, so
    the ratio of steps): the dense law at Clark et al. 2022's effective parameter count."""
    dense, routed = _laws(c)
    n, e = c.inputs["dense_params"].value, c.inputs["experts"].value
    d = c.inputs["dense_steps"].value * c.inputs["tokens_per_step"].value
    target = float(QL.dense_loss(dense, n, d))
    d_moe = float(QL.tokens_for_loss(dense, QL.effective_params(routed, n, e), target))
    return d / d_moe, QL.outside(dense, params=n, tokens=d) + QL.outside(routed, params=n, experts=e)


LAW_CHECKS = {
    "gopher_optimum_params": _gopher_optimum,
    "moe_dense_compute_ratio": _moe_dense_compute_ratio,
    "equal_quality_energy_ratio": _equal_quality_energy_ratio,
    "routed_speedup": _routed_speedup,
}


def _within(c: Check, pub: float | None, ours: float, err: float | None) -> bool:
    if c.factor is not None:
        return pub is not None and 1 / c.factor <= ours / pub <= c.factor
    return c.tolerance is None or (err is not None and abs(err) <= c.tolerance)


def tolerance_label(c: Check) -> str:
    """How a row's tolerance reads: a relative error (±2%) or a factor either way (x/÷ 2)."""
    if c.factor is not None:
        return f"×/÷{c.factor:g}"
    return "-" if c.tolerance is None else f"±{100 * c.tolerance:g}%"


def reproduce() -> list[dict]:
    """One row per check: published, glamsim, relative error, tolerance (or factor, and how it reads), ok,
    the energy boundary (energy and carbon rows), source, note, and the laws' extrapolation notes (law rows)."""
    data = published_runs()
    per_run = {name: run_quantities(run) for name, run in data.runs.items()}
    rows: dict[str, dict] = {}
    for c in data.checks:
        extrapolates: list[str] = []
        if c.law:
            ours, extrapolates = LAW_CHECKS[c.law](c, per_run)
            pub, boundary = c.published.value if c.published else None, ""
            source = c.published.source if c.published else "implied (no published value)"
        elif c.ratio:
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
        ok = _within(c, pub, ours, err)
        rows[c.id] = {
            "id": c.id,
            "check": c.label,
            "published": pub,
            "glamsim": ours,
            "rel_error": err,
            "tolerance": c.tolerance,
            "factor": c.factor,
            "tolerance_label": tolerance_label(c),
            "ok": ok,
            "boundary": boundary,
            "source": source,
            "note": c.note,
            "extrapolates": extrapolates,
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
