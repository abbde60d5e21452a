"""The IsoFLOP study without JAX: its grid, the runs it implies, and the fit and report of their losses.

`glamsim.experiments.isoflop` trains the runs (the JAX GLaM, on CPU or an accelerator); everything that
needs no JAX lives here, so the grid is checked, and a finished study re-fitted, without loading the model.

The grid: a few compute budgets C (FLOPs counted as 6 N D, N the activated parameters with the embedding,
D the tokens), a few model widths, dense and one family per expert count (GLaM's: top-2, an MoE layer every
other layer, from the `template` preset).  A run is one (family, width, budget): the model trained for
round(C / (6 N x batch x seq_len)) steps, then its cross-entropy on held-out bytes.

The report fits L(N, D) = E + A / N^alpha + B / D^beta to each family's runs by Hoffmann et al.'s recipe
(`glamsim.cost.quality.fit`; its RMS residual on log-loss says how well the form holds), and states the MoE
compute advantage at each budget C: the compute a dense model needs to reach the loss the MoE reaches with C,
over C.  Measured: on the dense runs' own frontier (the best dense loss at each budget, its running minimum,
linear in log C between budgets and extended past the ends along the end segments), no law involved.
Fitted: the dense law's least compute reaching the MoE law's compute-optimal loss at C (Hoffmann et al.
2022, Eq. 4), law against law.  Beside them what the published laws say
(Hoffmann et al. 2022 and Besiroglu et al. 2024 for the exponents; Clark et al. 2022's routed law on
Chinchilla's for the advantage).  Losses here are nats per byte of held-out text, not the published laws'
units: compare exponents and ratios, never losses.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pandas as pd
from pydantic import Field, PositiveFloat, PositiveInt, field_validator

from glamsim.config import ConfigError, Frozen, ModelConfig, load_model, validate_as
from glamsim.cost.quality import laws as lawmath
from glamsim.cost.quality.fit import bootstrap, fit_law

D_HEAD = 16  # every width's heads are 16 wide: n_heads = d_model / 16
MAX_STEPS = 200_000  # per model: a grid that asks for more is refused before any work
MIN_FIT_POINTS = 5  # five coefficients
POOR_FIT_RMS = 0.02  # glamsim's line: a law missing its runs by more than 2% RMS on log-loss is flagged
PUBLISHED_EXPONENTS = ("chinchilla", "besiroglu")
PUBLISHED_ROUTED = ("chinchilla", "clark-sbase")
REFERENCE_COMPUTE = 1e20  # FLOPs: where Clark et al.'s law stands inside its fitted range (about 1e8 params)
COEFFICIENTS = ("E", "A", "B", "alpha", "beta", "a")


class IsoflopGrid(Frozen):
    """What the study trains.  Every field has a default: `IsoflopGrid()` is the built-in grid, sized to
    finish in a few minutes on a 2-core CPU: 5 budgets x 3 widths x {dense, 8 experts} = 30 runs, which are
    6 trajectories (a model's runs share one; the budgets past its first cost an evaluation each)."""

    budgets: tuple[PositiveFloat, ...] = Field(
        (7.5e10, 1.06e11, 1.5e11, 2.12e11, 3e11), min_length=1, description="compute budgets, FLOPs = 6 N D"
    )
    widths: tuple[PositiveInt, ...] = Field((16, 32, 64), min_length=1, description="d_model values, multiples of 16")
    experts: tuple[PositiveInt, ...] = Field((8,), description="expert counts of the MoE families (dense always runs)")
    n_layers: PositiveInt = Field(2, le=64, description="layers of every model (GLaM: every other one MoE)")
    template: str = Field("glam-tiny", description="preset whose architecture family every model takes")
    batch_size: PositiveInt = Field(8, le=4096, description="sequences per step")
    seq_len: PositiveInt = Field(128, le=8192, description="bytes per sequence")
    learning_rate: PositiveFloat = Field(0.01, le=10, description="Adafactor's rate (GLaM: 0.01, constant here)")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="initialisation and data order, the same for every run")
    eval_batches: PositiveInt = Field(16, le=4096, description="held-out batches of batch_size x seq_len bytes")
    corpus: tuple[str, ...] = Field((), description="text files or folders; empty: the Python stdlib's .py files")

    @field_validator("budgets", "widths", "experts")
    @classmethod
    def _distinct(cls, v):
        if len(set(v)) != len(v):
            raise ValueError(f"{list(v)}: a value is repeated")
        return tuple(sorted(v))

    @field_validator("widths")
    @classmethod
    def _heads(cls, v):
        bad = [w for w in v if w % D_HEAD]
        if bad:
            raise ValueError(f"{bad[0]}: widths must be multiples of {D_HEAD} (heads of {D_HEAD})")
        return v

    @field_validator("experts")
    @classmethod
    def _routed(cls, v):
        if any(e < 2 for e in v):
            raise ValueError(f"{min(v)}: an MoE family needs at least 2 experts (top-2 routing)")
        return v

    def families(self) -> list[int]:
        """Expert counts of the families, 0 for dense."""
        return [0, *self.experts]

    def settings(self) -> dict:
        """What a run's loss depends on besides its model and steps."""
        return self.model_dump(mode="json", include={"batch_size", "seq_len", "learning_rate", "seed", "eval_batches"})


def as_grid(**kw) -> IsoflopGrid:
    """An `IsoflopGrid` from keywords, None meaning the default; one-line ConfigError on bad input."""
    return validate_as(IsoflopGrid, {k: v for k, v in kw.items() if v is not None}, "isoflop")


def family(experts: int) -> str:
    return "dense" if experts == 0 else f"moe-{experts}e"


def shape(grid: IsoflopGrid, width: int, experts: int) -> ModelConfig:
    """The model of one family and width: the template's architecture at this width and depth, d_ff = 4 x
    width, heads of 16, no dropout; dense (every FFN gated and dense) or the template's MoE placement."""
    base = load_model(grid.template).model_dump(exclude_none=True)
    base.pop("published", None)
    moe = base.get("n_experts", 0) > 0
    upd = {
        "name": f"isoflop-l{grid.n_layers}-d{width}-{family(experts)}",
        "description": f"IsoFLOP study model ({grid.template} family)",
        "n_layers": grid.n_layers,
        "d_model": width,
        "n_heads": width // D_HEAD,
        "d_head": D_HEAD,
        "d_ff": 4 * width,
        "max_seq_len": grid.seq_len,
        "dropout": 0.0,
    }
    for k in ("d_ff_expert", "d_ff_shared", "n_kv_heads"):
        base.pop(k, None)
    if experts == 0:
        upd |= {"n_experts": 0, "top_k": 0, "moe_every": 0, "moe_offset": 0, "first_dense_layers": 0}
        upd |= {"n_shared_experts": 0, "shared_expert_gate": False}
    else:
        upd |= {"n_experts": experts, "top_k": min(base.get("top_k", 2) if moe else 2, experts)}
        if not moe:  # a dense template: GLaM's placement
            upd |= {"moe_every": 2, "moe_offset": 1}
    return validate_as(ModelConfig, {**base, **upd}, f"isoflop: width {width}, {family(experts)}")


def run_key(cfg: ModelConfig, grid: IsoflopGrid, steps: int, corpus: str) -> str:
    """The identity of a run: its model, its training settings, its steps and its corpus (sha256, 16 hex)."""
    what = {"model": cfg.model_dump(mode="json", exclude_none=True), **grid.settings(), "steps": steps}
    what["corpus"] = corpus
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def corpus_name(grid: IsoflopGrid) -> str:
    return ",".join(grid.corpus) if grid.corpus else "python-stdlib"


def plan(grid: IsoflopGrid) -> pd.DataFrame:
    """One row per run (family, width, budget): the model's parameters, its steps and tokens, the compute
    6 N D those give, and the run's key.  Refuses, in one line, a budget below one step of a model and a
    grid asking a model for more than MAX_STEPS steps."""
    from glamsim.accounting import count

    tokens_per_step = grid.batch_size * grid.seq_len
    rows = []
    for experts in grid.families():
        for width in grid.widths:
            cfg = shape(grid, width, experts)
            c = count(cfg, seq_len=grid.seq_len)
            n = float(c.params_active)
            for budget in grid.budgets:
                exact = budget / (6.0 * n * tokens_per_step)
                steps = round(exact)
                if steps < 1:
                    raise ConfigError(
                        f"budgets={budget:g}: less than one step of {cfg.name} "
                        f"(one step is {6.0 * n * tokens_per_step:.3g} FLOPs); raise the budget or narrow the widths"
                    )
                if steps > MAX_STEPS:
                    raise ConfigError(
                        f"budgets={budget:g}: {steps:,} steps of {cfg.name}, more than {MAX_STEPS:,}; "
                        "lower the budget or widen the models"
                    )
                tokens = steps * tokens_per_step
                rows.append(
                    {
                        "family": family(experts),
                        "n_experts": experts,
                        "d_model": width,
                        "n_layers": grid.n_layers,
                        "model": cfg.name,
                        "params_active": n,
                        "params_total": float(c.params_total),
                        "budget_flops": float(budget),
                        "steps": steps,
                        "tokens": float(tokens),
                        "compute_flops": 6.0 * n * tokens,
                        "key": run_key(cfg, grid, steps, corpus_name(grid)),
                    }
                )
    return pd.DataFrame(rows)


# ---- the fit and the report ---------------------------------------------------------------------------


def _with_a(fit: dict) -> dict:
    """A fit plus a = beta / (alpha + beta), the exponent of the compute-optimal N* ~ C^a."""
    return {**fit, "a": fit["beta"] / (fit["alpha"] + fit["beta"])}


def fit_families(runs: pd.DataFrame, n_bootstrap: int = 20, seed: int = 0) -> dict:
    """{family: {"n_points", "fit": {E, A, B, alpha, beta, a, ...} or None, "interval": {coef: (lo, hi)},
    "note"}} for each family of `runs` (columns family, params_active, tokens, val_loss)."""
    out = {}
    for fam, g in runs.groupby("family", sort=False):
        n_pts = int(len(g))
        entry = {"n_points": n_pts, "fit": None, "interval": {}, "note": ""}
        distinct = len({(a, b) for a, b in zip(g["params_active"], g["tokens"])})
        if distinct < MIN_FIT_POINTS:
            entry["note"] = f"{distinct} distinct (N, D) points: the fit needs {MIN_FIT_POINTS}"
        else:
            args = (g["params_active"].to_numpy(), g["tokens"].to_numpy(), g["val_loss"].to_numpy())
            fit = _with_a(fit_law(*args))
            pred = fit["E"] + fit["A"] / args[0] ** fit["alpha"] + fit["B"] / args[1] ** fit["beta"]
            fit["rms_log_residual"] = float(np.sqrt(np.mean((np.log(pred) - np.log(args[2])) ** 2)))
            entry["fit"] = fit
            notes = []
            if n_bootstrap:
                iv = bootstrap(*args, n=n_bootstrap, seed=seed)
                entry["interval"] = {k: list(v) for k, v in iv.items()}
                notes.append(f"intervals: 10th-90th percentile of {n_bootstrap} refits on resampled runs")
            if fit["rms_log_residual"] > POOR_FIT_RMS:
                notes.append(
                    f"the law's form misses these runs by {fit['rms_log_residual']:.1%} RMS on log-loss (more than "
                    f"{POOR_FIT_RMS:.0%}): read its exponents and the fitted advantage as unidentified"
                )
            entry["note"] = "; ".join(notes)
        out[fam] = entry
    return out


def _coefs(fit: dict) -> tuple[float, float, float, float, float]:
    return fit["E"], fit["A"], fit["B"], fit["alpha"], fit["beta"]


def _frontier_loss(fit: dict, compute: float) -> float:
    """The law's loss at its compute-optimal (N*, D*) for `compute` = 6 N D."""
    n, d = lawmath.optimum_for_compute(*_coefs(fit), compute)
    return float(fit["E"] + fit["A"] / n ** fit["alpha"] + fit["B"] / d ** fit["beta"])


def _dense_compute(fit: dict | None, loss: float) -> float:
    """The compute the dense law needs to reach `loss` (NaN when it cannot: at or below its E)."""
    if fit is None or not loss > fit["E"]:
        return math.nan
    return float(lawmath.compute_for_loss(*_coefs(fit), loss))


def published_advantage(experts: int, compute: float) -> dict:
    """Clark et al. 2022's routed law on Chinchilla's dense law: the compute a dense compute-optimal model
    needs over that of the compute-optimal `experts`-expert model, at the loss Chinchilla's dense optimum
    reaches with `compute`; and whether the routed optimum lies outside the law's fitted range."""
    from glamsim.laws import load_law

    dense, routed = (load_law(n) for n in PUBLISHED_ROUTED)
    loss = _frontier_loss(dict(zip(("E", "A", "B", "alpha", "beta"), lawmath.dense_coefficients(dense))), compute)
    r = lawmath.routed_plan(dense, routed, loss, experts)
    notes = lawmath.outside(routed, params=r["effective_params"], experts=float(experts))
    return {"advantage": compute / r["compute"], "extrapolates": "; ".join(notes)}


def frontier_compute(budgets, best_losses, loss: float) -> float:
    """The compute at which the dense frontier (the best loss at each budget, as its running minimum: more
    compute never does worse) reaches `loss`, linear in log compute between budgets and along the end
    segments past them; NaN with fewer than two budgets or where the segment used is flat."""
    c = np.log(np.asarray(budgets, dtype=float))
    order = np.argsort(c)
    c, front = c[order], np.minimum.accumulate(np.asarray(best_losses, dtype=float)[order])
    if c.size < 2 or not math.isfinite(loss):
        return math.nan
    if loss >= front[0]:
        j = 0
    elif loss <= front[-1]:
        j = c.size - 2
    else:
        j = int(np.argmax(front[1:] <= loss))  # the first segment that reaches down to `loss`
    slope = (front[j + 1] - front[j]) / (c[j + 1] - c[j])
    if not slope < 0:
        return math.nan
    return float(np.exp(c[j] + (loss - front[j]) / slope))


def advantages(runs: pd.DataFrame, fits: dict) -> pd.DataFrame:
    """One row per MoE family and budget: the best dense and MoE losses measured at that budget, and the
    MoE compute advantage measured, fitted and published (see the module docstring)."""
    dense_fit = fits.get("dense", {}).get("fit")
    rows = []
    best = runs.groupby(["family", "budget_flops"])["val_loss"].min()
    dense = best.get("dense", pd.Series(dtype=float))
    for experts in sorted(e for e in runs["n_experts"].unique() if e > 0):
        fam = family(int(experts))
        moe_fit = fits.get(fam, {}).get("fit")
        for budget in sorted(runs.loc[runs["family"] == fam, "budget_flops"].unique()):
            dense_best = float(best.get(("dense", budget), math.nan))
            moe_best = float(best[(fam, budget)])
            fitted_loss = _frontier_loss(moe_fit, budget) if moe_fit else math.nan
            pub = published_advantage(int(experts), float(budget))
            rows.append(
                {
                    "family": fam,
                    "n_experts": int(experts),
                    "budget_flops": float(budget),
                    "dense_best_loss": dense_best,
                    "moe_best_loss": moe_best,
                    "loss_gap": dense_best - moe_best,
                    "advantage_measured": frontier_compute(dense.index, dense.to_numpy(), moe_best) / budget,
                    "advantage_fitted": _dense_compute(dense_fit, fitted_loss) / budget,
                    "advantage_published": pub["advantage"],
                    "published_extrapolates": pub["extrapolates"],
                }
            )
    return pd.DataFrame(rows)


def published_exponents() -> dict:
    """{law: {alpha, beta, a, E, A, B, source}} of the dense laws the report sets beside the fits."""
    from glamsim.laws import load_law

    out = {}
    for name in PUBLISHED_EXPONENTS:
        law = load_law(name)
        fit = _with_a(dict(zip(("E", "A", "B", "alpha", "beta"), lawmath.dense_coefficients(law))))
        out[name] = {**{k: fit[k] for k in COEFFICIENTS}, "source": law.paper}
    return out


def coefficient_frame(fits: dict) -> pd.DataFrame:
    """One row per family and coefficient (E, A, B, alpha, beta, a): fitted, its interval, and the
    published dense laws' values beside."""
    pub = published_exponents()
    rows = []
    for fam, entry in fits.items():
        fit = entry["fit"] or {}
        for k in COEFFICIENTS:
            lo, hi = entry["interval"].get(k, (math.nan, math.nan)) if k != "a" else _a_interval(entry)
            rows.append(
                {
                    "family": fam,
                    "coefficient": k,
                    "fitted": fit.get(k, math.nan),
                    "low": lo,
                    "high": hi,
                    **{name: pub[name][k] for name in pub},
                    "n_points": entry["n_points"],
                    "rms_log_residual": fit.get("rms_log_residual", math.nan),
                }
            )
    return pd.DataFrame(rows)


def _a_interval(entry: dict) -> tuple[float, float]:
    iv = entry["interval"]
    if "alpha" not in iv:
        return math.nan, math.nan
    (al, ah), (bl, bh) = iv["alpha"], iv["beta"]
    return bl / (bl + ah), bh / (bh + al)  # the extremes of beta / (alpha + beta) over the box


def report(runs: pd.DataFrame, n_bootstrap: int = 20, seed: int = 0) -> dict:
    """The study's findings from its runs: {"fits", "coefficients" (frame), "advantage" (frame),
    "published"}."""
    fits = fit_families(runs, n_bootstrap, seed)
    reference = [
        {"n_experts": int(e), "compute_flops": REFERENCE_COMPUTE, **published_advantage(int(e), REFERENCE_COMPUTE)}
        for e in sorted(runs["n_experts"].unique())
        if e > 0
    ]
    return {
        "fits": fits,
        "coefficients": coefficient_frame(fits),
        "advantage": advantages(runs, fits),
        "published": published_exponents(),
        "published_advantage_reference": reference,
    }


def report_json(rep: dict) -> dict:
    """`report(...)` as plain JSON (frames as lists of records, NaN as null)."""

    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, np.generic):
            return clean(v.item())
        return v

    return clean(
        {
            "fits": rep["fits"],
            "coefficients": rep["coefficients"].to_dict(orient="records"),
            "advantage": rep["advantage"].to_dict(orient="records"),
            "published": rep["published"],
            "published_advantage_reference": rep["published_advantage_reference"],
        }
    )
