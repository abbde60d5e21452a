"""The arithmetic of the published scaling laws (`glamsim.laws` holds them as data).

Dense (Hoffmann et al. 2022, Approach 3): L(N, D) = E + A / N^alpha + B / D^beta with C = 6 N D.  Its
compute-optimal frontier has a closed form (Hoffmann et al. 2022, Eq. 4):
    G = (alpha A / (beta B))^(1 / (alpha + beta)),  N* = G (C/6)^(beta / (alpha + beta)),  D* = (C/6) / N*,
    L*(C) = E + (A G^-alpha + B G^beta) (C/6)^-gamma,  gamma = alpha beta / (alpha + beta),
so the least compute that reaches a loss L is C = 6 ((L - E) / K)^(-1/gamma), K = A G^-alpha + B G^beta.

Routed (Clark et al. 2022, S-BASE): a routed model of N parameters per token and E experts is worth a dense
model of N̄ = N^(alpha(Ê)/alpha(E_start)) (Ê/E_start)^(b/alpha(E_start)) parameters (Eq. 11), with
alpha(e) = a + c log10 e and the saturating 1/Ê = 1/(E - 1 + (1/E_start - 1/E_max)^-1) + 1/E_max.

Granular (Krajewski et al. 2024, Eq. 9): L = c + (g / G^gamma + a) / N^alpha + b / D^beta at expansion 64,
N the total non-embedding parameters; the same closed form applies with A = (g / G^gamma + a) k^alpha in
terms of activated parameters N_act = k N, k = 12 / (8 x 64 + 4) (their Sec. 6.1 counts).
"""

from __future__ import annotations

import numpy as np

from glamsim.config import ConfigError
from glamsim.laws import ScalingLaw


def dense_loss(law: ScalingLaw, n, d):
    """L(N, D) of a dense law."""
    return law["E"] + law["A"] / np.power(n, law["alpha"]) + law["B"] / np.power(d, law["beta"])


def _frontier(E, A, B, alpha, beta):
    g = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
    gamma = alpha * beta / (alpha + beta)
    return g, gamma, A * g**-alpha + B * g**beta


def optimum_for_compute(E, A, B, alpha, beta, compute):
    """(N*, D*) minimising the loss at `compute` FLOPs = 6 N D (Hoffmann et al. 2022, Eq. 4); E does not move it."""
    g, _, _ = _frontier(E, A, B, alpha, beta)
    n = g * np.power(np.asarray(compute, dtype=float) / 6.0, beta / (alpha + beta))
    return n, compute / 6.0 / n


def compute_for_loss(E, A, B, alpha, beta, loss, law_name: str = "law"):
    """The least 6 N D that reaches `loss`: C = 6 ((L - E) / K)^(-1/gamma); refused at or below E."""
    loss = float(loss)
    if not loss > E:
        raise ConfigError(
            f"target_loss={loss:.4g}: at or below {law_name}'s irreducible loss E={E:.4g}; no model reaches it"
        )
    _, gamma, k = _frontier(E, A, B, alpha, beta)
    return 6.0 * ((loss - E) / k) ** (-1.0 / gamma)


def dense_coefficients(law: ScalingLaw) -> tuple[float, float, float, float, float]:
    return law["E"], law["A"], law["B"], law["alpha"], law["beta"]


def dense_plan(law: ScalingLaw, loss: float) -> dict:
    """The compute-optimal dense model reaching `loss`: params, tokens, compute (6 N D)."""
    c = compute_for_loss(*dense_coefficients(law), loss, law.name)
    n, d = optimum_for_compute(*dense_coefficients(law), c)
    return {"params": float(n), "tokens": float(d), "compute": float(c)}


def saturated_experts(routed: ScalingLaw, experts):
    """Ê: Clark et al. 2022's saturating transform of the expert count (Ê(1) = E_start, Ê(inf) = E_max)."""
    e = np.asarray(experts, dtype=float)
    s, m = routed["E_start"], routed["E_max"]
    return 1.0 / (1.0 / (e - 1.0 + 1.0 / (1.0 / s - 1.0 / m)) + 1.0 / m)


def effective_params(routed: ScalingLaw, n, experts):
    """N̄(N, E): the dense parameter count a routed model is worth (Clark et al. 2022, Eq. 11)."""
    a, b, c = routed["a"], routed["b"], routed["c"]
    e_hat, e_start = saturated_experts(routed, experts), routed["E_start"]

    def slope(e):
        return a + c * np.log10(e)

    log_n = np.log10(np.asarray(n, dtype=float))
    return np.power(10.0, (log_n * slope(e_hat) + b * (np.log10(e_hat) - np.log10(e_start))) / slope(e_start))


def tokens_for_loss(law: ScalingLaw, n_eff, loss):
    """D with L(N̄, D) = loss (NaN where N̄ alone cannot reach it)."""
    gap = loss - law["E"] - law["A"] / np.power(n_eff, law["alpha"])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap > 0, np.power(law["B"] / np.where(gap > 0, gap, 1.0), 1.0 / law["beta"]), np.nan)


def routed_plan(dense: ScalingLaw, routed: ScalingLaw, loss: float, experts: int) -> dict:
    """The compute-optimal routed model (activated params N, tokens D) reaching `loss`: min 6 N D subject to
    L_dense(N̄(N, E), D) = loss.  Solved on a log grid, refined twice (relative precision below 1e-6)."""
    compute_for_loss(*dense_coefficients(dense), loss, dense.name)  # the same refusal as a dense target
    lo, hi = 3.0, 16.0  # log10 N from 1e3 to 1e16
    for _ in range(3):
        log_n = np.linspace(lo, hi, 2001)
        n = 10.0**log_n
        d = tokens_for_loss(dense, effective_params(routed, n, experts), loss)
        c = np.where(np.isfinite(d), 6.0 * n * d, np.inf)
        i = int(np.argmin(c))
        if not np.isfinite(c[i]):
            raise ConfigError(f"target_loss={loss:.4g}: no {experts}-expert model reaches it under {routed.name}")
        step = log_n[1] - log_n[0]
        lo, hi = log_n[i] - 2 * step, log_n[i] + 2 * step
    n_best = float(n[i])
    return {
        "params": n_best,
        "tokens": float(d[i]),
        "compute": float(c[i]),
        "effective_params": float(effective_params(routed, n_best, experts)),
    }


def granular_ratio(law: ScalingLaw, ref_params: float, ref_tokens: float, experts: int) -> dict | None:
    """Krajewski et al. 2024: compute of the compute-optimal MoE (expansion 64, granularity experts / 64)
    over that of the compute-optimal dense model, both as good as a dense model of `ref_params` trained on
    `ref_tokens` in the paper's own fits; None when the expert count is outside the fitted granularities."""
    e = law.expansion_rate
    gran = experts / e
    lo, hi = law.valid["granularity"].min, law.valid["granularity"].max
    if not lo <= gran <= hi:
        return None
    c0 = law["c"]
    loss = c0 + law["dense_a"] / ref_params ** law["dense_alpha"] + law["dense_b"] / ref_tokens ** law["dense_beta"]
    dense_c = compute_for_loss(c0, law["dense_a"], law["dense_b"], law["dense_alpha"], law["dense_beta"], loss)
    k = 12.0 / (8.0 * e + 4.0)  # activated / total non-embedding parameters (Sec. 6.1)
    a_act = (law["g"] / gran ** law["gamma"] + law["a"]) * k ** law["alpha"]
    moe_c = compute_for_loss(c0, a_act, law["b"], law["alpha"], law["beta"], loss)
    return {"granularity": gran, "loss": loss, "compute_ratio": moe_c / dense_c}


def outside(law: ScalingLaw, **values) -> list[str]:
    """One line per value outside the range `law` was fitted on (the ledger's extrapolation notes)."""
    out = []
    for key, v in values.items():
        r = law.valid.get(key)
        if r is not None and v is not None and not r.min * (1 - 1e-9) <= v <= r.max * (1 + 1e-9):
            out.append(f"{key}={v:.3g} outside {law.name}'s fitted range {r.min:.3g}-{r.max:.3g} ({r.source})")
    return out
