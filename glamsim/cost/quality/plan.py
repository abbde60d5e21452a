"""Plans at equal quality: the compute-optimal dense model and the compute-optimal MoE per expert count that
reach one target, each as a glamsim model with a training and a serving estimate, and the lifetime cost.

Equal quality is defined by a reference: a target loss (in the dense law's units) is the loss of the
compute-optimal dense model that reaches it; "as good as M trained on D tokens" is M itself (an MoE
reference counts at its effective parameter count).  Under every law of the spread the reference's own loss
is the target, so laws fitted on different data never compare raw losses; the ranges are the spread of the
compute each law asks for (Krajewski et al. 2024 through its MoE/dense compute ratio at equal quality).
Training energy, carbon and dollars scale with the compute at a fixed MFU, so their ranges follow.
"""

from __future__ import annotations

import math

import numpy as np

from glamsim.accounting import ModelArrays, count, params
from glamsim.config import ConfigError, ModelConfig, load_model
from glamsim.cost.quality import laws as L
from glamsim.cost.quality.scenario import QUALITY_ASSUMED_SERVED, QualityScenario
from glamsim.cost.serving import estimate_serving
from glamsim.cost.training import estimate_training
from glamsim.laws import load_law

D_HEAD = 128  # GLaM's head width (Du et al. 2022, Table 4)
ASPECT = 128.0  # d_model / n_layers of GLaM 64B/64E (8192 / 64; Du et al. 2022, Table 4)
SHAPE_TOLERANCE = 0.02  # candidates within 2% of the target's parameters: the one closest to ASPECT wins
J_PER_MWH = 3.6e9


def shape(n_active: float, template: ModelConfig, n_experts: int, top_k: int, name: str) -> ModelConfig:
    """The template's family at `n_experts` experts (0: its dense twin) with about `n_active` activated
    parameters (embedding included): d_model a multiple of 128 (heads of 128), d_ff = 4 d_model, an even
    number of layers; among shapes within 2% of the target, the one with GLaM 64B/64E's aspect ratio."""
    base = template.dense_twin() if n_experts == 0 else template.replace(n_experts=n_experts, top_k=top_k)
    d = np.arange(2, 513, dtype=float)[:, None] * D_HEAD
    layers = np.arange(2, 401, 2, dtype=float)[None, :]
    d, layers = np.broadcast_arrays(d, layers)
    m = ModelArrays.of(base).with_(
        d_model=d.ravel(),
        n_heads=d.ravel() / D_HEAD,
        kv_heads=d.ravel() / D_HEAD,
        head_dim=np.full(d.size, D_HEAD),
        d_ff=4 * d.ravel(),
        expert_ff=4 * d.ravel(),
        shared_ff=4 * d.ravel(),
        n_layers=layers.ravel(),
    )
    got = params(m, active=True)
    err = np.abs(np.log(got / n_active))
    close = err <= max(SHAPE_TOLERANCE, err.min())
    aspect = np.abs(np.log(d.ravel() / layers.ravel() / ASPECT))
    i = int(np.argmin(np.where(close, aspect, np.inf)))
    dm, nl = int(d.ravel()[i]), int(layers.ravel()[i])
    changes = dict(name=name, n_layers=nl, d_model=dm, n_heads=dm // D_HEAD, d_head=D_HEAD, d_ff=4 * dm)
    changes["description"] = f"equal-quality candidate in the {template.name} family (glamsim quality)"
    if n_experts:
        changes["d_ff_expert"] = None
    return base.replace(**changes)


def _reference(s: QualityScenario, dense, routed) -> tuple[float, float, str]:
    """(effective params, tokens, words) of the reference model that defines equal quality."""
    if s.target_loss is not None:
        p = L.dense_plan(dense, s.target_loss)
        return p["params"], p["tokens"], f"the compute-optimal {dense.name} model reaching loss {s.target_loss:.4g}"
    try:
        cfg = load_model(s.as_good_as)
    except ConfigError as err:  # name the option: as_good_as='x': unknown preset; known: ...
        raise ConfigError(f"as_good_as={s.as_good_as!r}: {str(err).split(': ', 1)[-1]}") from None
    n = float(count(cfg).params_active)
    if cfg.is_moe:
        n = float(L.effective_params(routed, n, cfg.n_experts))
    return n, float(s.tokens), f"{cfg.name} trained on {s.tokens:.3g} tokens"


def _law_rows(s: QualityScenario, law_name: str, routed, ref_n: float, ref_d: float) -> dict[int, float] | None:
    """Compute (6 N D) each candidate needs under one law of the spread: {0: dense, E: MoE}."""
    law = load_law(law_name, field="spread_laws")
    if law.kind == "dense":
        target = float(L.dense_loss(law, ref_n, ref_d))
        out = {0: L.dense_plan(law, target)["compute"]}
        for e in s.experts:
            out[e] = L.routed_plan(law, routed, target, e)["compute"]
        return out
    if law.kind == "granular":
        out = {}
        for e in s.experts:
            r = L.granular_ratio(law, ref_n, ref_d, e)
            if r is not None:
                out[e] = r["compute_ratio"]  # a ratio to the dense compute, applied below
        return {"ratio": out}
    raise ConfigError(f"spread_laws: {law_name!r} is a {law.kind} law; give dense or granular laws")


SE_DRAWS = 400  # draws of the coefficients from their standard errors (fixed seed: the same range every run)
SE_QUANTILES = (0.1, 0.9)  # the range reported: the 10th to 90th percentile of the compute over the draws


def _se_rows(s: QualityScenario, law_name: str, routed, ref_n: float, ref_d: float) -> dict[str, dict[int, float]]:
    """The compute each candidate needs when a dense law's coefficients are drawn from their published
    standard errors (Besiroglu et al. 2024 give them; Hoffmann et al. 2022 do not): each coefficient
    independently normal around its value (no covariance is published with them, so the range is wider
    than the joint uncertainty), draws with a non-positive A, B, alpha or beta dropped; the reference's own
    loss under each draw is the target, as for the spread between laws.  {"low": {0: ..., E: ...}, "high":
    ...} at SE_QUANTILES, or {} when the law gives no standard errors."""
    law = load_law(law_name, field="spread_laws")
    keys = ("E", "A", "B", "alpha", "beta")
    if law.kind != "dense" or any(law.coefficients[k].se is None for k in keys):
        return {}
    rng = np.random.default_rng(0)
    draws = {k: law[k] + law.coefficients[k].se * rng.standard_normal(SE_DRAWS) for k in keys}
    ok = (draws["A"] > 0) & (draws["B"] > 0) & (draws["alpha"] > 0) & (draws["beta"] > 0)
    out: dict[int, list[float]] = {0: [], **{e: [] for e in s.experts}}
    for i in np.flatnonzero(ok):
        c = {k: float(draws[k][i]) for k in keys}
        drawn = law.model_copy(
            update={
                "coefficients": {
                    k: v.model_copy(update={"value": c.get(k, v.value)}) for k, v in law.coefficients.items()
                }
            }
        )
        target = float(L.dense_loss(drawn, ref_n, ref_d))
        out[0].append(L.dense_plan(drawn, target)["compute"])
        for e in s.experts:
            out[e].append(L.routed_plan(drawn, routed, target, e)["compute"])
    lo, hi = SE_QUANTILES
    return {
        "low": {e: float(np.quantile(v, lo)) for e, v in out.items()},
        "high": {e: float(np.quantile(v, hi)) for e, v in out.items()},
    }


def plan(s: QualityScenario | None = None, /, **fields) -> dict:
    """Every candidate at equal quality with its training and serving estimate: {"rows": [...], "ledger":
    [...], "reference": ...}.  `fields`: those of `QualityScenario`."""
    s = s if s is not None else QualityScenario.build(fields)
    dense = load_law(s.dense_law, ("dense",), field="dense_law")
    routed = load_law(s.routed_law, ("routed",), field="routed_law")
    template = load_model(s.template)
    ref_n, ref_d, ref_words = _reference(s, dense, routed)
    target = float(L.dense_loss(dense, ref_n, ref_d)) if s.target_loss is None else s.target_loss
    L.compute_for_loss(*L.dense_coefficients(dense), target, dense.name)  # refuses a target at or below E
    ledger = [
        _entry("reference", ref_words, "", "user input"),
        _entry("target_loss", target, f"nats per token ({dense.name})", ref_words),
    ]
    for law in (dense, routed):
        for k, c in law.coefficients.items():
            ledger.append(_entry(f"{law.name}.{k}", c.value, "", c.source))
    spread = {n: _law_rows(s, n, routed, ref_n, ref_d) for n in s.spread_laws}
    if s.standard_errors:  # a law's published standard errors widen its own point into a range
        for n in s.spread_laws:
            for end, rows in _se_rows(s, n, routed, ref_n, ref_d).items():
                spread[f"{n} ({end} of its standard errors)"] = rows
            if any(k.startswith(f"{n} (") for k in spread):
                law = load_law(n, field="spread_laws")
                ledger.append(
                    _entry(
                        f"{n} standard errors",
                        ", ".join(f"{k} ±{c.se:g}" for k, c in law.coefficients.items() if c.se is not None),
                        "",
                        f"{law.coefficients['E'].source}; ranges: {SE_QUANTILES[0]:.0%}-{SE_QUANTILES[1]:.0%} "
                        f"of the compute over {SE_DRAWS} draws, each coefficient independently normal (glamsim)",
                    )
                )
    candidates = [(0, L.dense_plan(dense, target))] + [(e, L.routed_plan(dense, routed, target, e)) for e in s.experts]
    rows = []
    for e, p in candidates:
        name = f"eq-{'dense' if e == 0 else f'{e}e'}"
        cfg = shape(p["params"], template, e, s.top_k, name)
        c = count(cfg, seq_len=cfg.max_seq_len)
        n_cfg = float(c.params_active)
        n_eff = n_cfg if e == 0 else float(L.effective_params(routed, n_cfg, e))
        tokens = float(L.tokens_for_loss(dense, n_eff, target))  # the built shape, kept at the target loss
        if not math.isfinite(tokens):
            raise ConfigError(f"target_loss={target:.4g}: the {name} shape cannot reach it; give a higher target")
        compute = 6.0 * n_cfg * tokens
        spread_c = [v[e] for v in spread.values() if v and e in v]
        spread_c += [
            v["ratio"][e] * p_dense
            for v in spread.values()
            if v and "ratio" in v and e in v["ratio"]
            for p_dense in [candidates[0][1]["compute"]]
        ]
        lo, hi = (min(spread_c + [p["compute"]]), max(spread_c + [p["compute"]])) if spread_c else (p["compute"],) * 2
        notes = L.outside(dense, params=n_eff, tokens=tokens)
        if e:
            notes += L.outside(routed, params=n_cfg, experts=float(e))
        train = estimate_training(
            model=cfg, tokens=tokens, chip=s.chip, chips=s.chips, mfu=s.mfu, datacenter=s.datacenter
        )
        serve = estimate_serving(model=cfg, chip=s.chip, batch=s.batch, datacenter=s.datacenter)
        per_tok_usd = serve["usd_per_million_tokens"] / 1e6
        per_tok_j = serve["joules_per_token"]
        per_tok_kg = serve["kgco2e_per_million_tokens"] / 1e6
        scale_lo, scale_hi = lo / p["compute"], hi / p["compute"]
        row = {
            "option": "dense" if e == 0 else f"MoE {e} experts",
            "n_experts": e,
            "model": cfg,
            "d_model": cfg.d_model,
            "n_layers": cfg.n_layers,
            "params_active": n_cfg,
            "params_total": float(c.params_total),
            "params_effective": n_eff,
            "tokens": tokens,
            "law_compute_flops": compute,
            "law_compute_low_flops": compute * scale_lo,
            "law_compute_high_flops": compute * scale_hi,
            "mfu": train["mfu"],
            "train_days": train["train_days"],
            "train_energy_mwh": train["energy_mwh"],
            "train_energy_low_mwh": train["energy_mwh"] * scale_lo,
            "train_energy_high_mwh": train["energy_mwh"] * scale_hi,
            "train_co2e_t": train["co2e_t"],
            "train_cost_usd": train["cost_usd"],
            "train_cost_low_usd": train["cost_usd"] * scale_lo,
            "train_cost_high_usd": train["cost_usd"] * scale_hi,
            "serve_usd_per_million_tokens": serve["usd_per_million_tokens"],
            "serve_joules_per_token": per_tok_j,
            "serve_kgco2e_per_million_tokens": serve["kgco2e_per_million_tokens"],
            "served_tokens": s.served_tokens,
            "serve_cost_usd": per_tok_usd * s.served_tokens,
            "serve_energy_mwh": per_tok_j * s.served_tokens / J_PER_MWH,
            "serve_co2e_t": per_tok_kg * s.served_tokens / 1e3,
            "extrapolates": "; ".join(notes),
        }
        row["total_cost_usd"] = row["train_cost_usd"] + row["serve_cost_usd"]
        row["total_energy_mwh"] = row["train_energy_mwh"] + row["serve_energy_mwh"]
        row["total_co2e_t"] = row["train_co2e_t"] + row["serve_co2e_t"]
        rows.append(row)
        ledger += [_entry(f"{name}.extrapolation", n, "", "the law's fitted range") for n in notes]
    d0 = rows[0]
    for r in rows:  # served tokens at which r's lifetime cost equals the dense model's (where the cheaper one switches)
        gap_train = r["train_cost_usd"] - d0["train_cost_usd"]
        gap_serve = (d0["serve_usd_per_million_tokens"] - r["serve_usd_per_million_tokens"]) / 1e6
        t = gap_train / gap_serve if r is not d0 and gap_serve != 0 else math.nan
        r["crossover_served_tokens"] = t if t > 0 else math.nan
    ledger += [
        _entry(
            "served_tokens",
            s.served_tokens,
            "tokens",
            "user input" if "served_tokens" in s.model_fields_set else QUALITY_ASSUMED_SERVED,
        ),
        _entry(
            "compute convention",
            "6 x activated params x tokens",
            "",
            "Hoffmann et al. 2022, Sec. 3; the estimates use glamsim's model FLOPs (attention included)",
        ),
    ]
    return {"rows": rows, "ledger": ledger, "reference": ref_words, "target_loss": target, "scenario": s}


def _entry(name, value, unit, source) -> dict:
    return {"name": name, "value": value, "unit": unit, "source": source}


def frame(result: dict):
    """The plan as one DataFrame (one row per candidate; `model` is the generated model's name); the ledger
    and the reference ride in `df.attrs`."""
    import pandas as pd

    rows = [{**r, "model": r["model"].name} for r in result["rows"]]
    df = pd.DataFrame(rows)
    df.attrs.update(ledger=result["ledger"], reference=result["reference"], target_loss=result["target_loss"])
    return df


def lifetime_curve(df, served_tokens=None):
    """Lifetime cost of each option of a plan frame (`frame`, `glamsim.api.quality`) against served tokens:
    one row per (option, served_tokens), `total_cost_usd` = training cost + served tokens x the serving cost
    per token, as the plan's own lifetime column.  `served_tokens`: the points (default: 40 from 1e9 to 100 x
    the largest of the plan's served tokens and crossovers, those included, so the lines meet exactly there)."""
    import pandas as pd

    if served_tokens is None:
        marks = [float(df["served_tokens"].max())] + [float(t) for t in df["crossover_served_tokens"] if t == t]
        grid = np.logspace(9, math.log10(max(max(marks), 1e10) * 100), 40)
        served_tokens = np.unique(np.concatenate([grid, [m for m in marks if m >= 1e9]]))
    served = np.asarray(served_tokens, dtype=float)
    rows = [
        pd.DataFrame(
            {
                "option": r["option"],
                "n_experts": r["n_experts"],
                "served_tokens": served,
                "total_cost_usd": r["train_cost_usd"] + served * r["serve_usd_per_million_tokens"] / 1e6,
            }
        )
        for r in df.to_dict(orient="records")
    ]
    return pd.concat(rows, ignore_index=True)
