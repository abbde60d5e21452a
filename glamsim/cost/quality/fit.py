"""Fitting L(N, D) = E + A / N^alpha + B / D^beta to measured losses, as Hoffmann et al. 2022 (Approach 3) do.

Their recipe (Approach 3, as the paper details it): set A = exp(a), B = exp(b), E = exp(e) and minimise the Huber loss
(delta = 1e-3) between log L and LSE(a - alpha log N, b - beta log D, e), the log of the law, with L-BFGS from a
grid of starting points, keeping the best.  glamsim ranks a coarser grid by the objective and polishes the best
starts with scipy's L-BFGS-B when scipy is installed, else with a small Adam loop on the same analytic
gradient.  `bootstrap` refits on resampled points for intervals.  No JAX: the losses come in as plain
arrays.
"""

from __future__ import annotations

import itertools

import numpy as np

HUBER_DELTA = 1e-3  # Hoffmann et al. 2022, Approach 3's fitting details
# starting grid (a coarser version of Hoffmann et al.'s: alpha, beta in 0..2, e in -1..1.5, a, b in 0..25)
GRID = {
    "a": (0.0, 5.0, 10.0, 20.0),
    "b": (0.0, 5.0, 10.0, 20.0),
    "e": (-1.0, 0.0, 1.0),
    "alpha": (0.1, 0.5, 1.0),
    "beta": (0.1, 0.5, 1.0),
}


def _objective(theta, log_n, log_d, log_l, delta=HUBER_DELTA):
    """(Huber loss summed over points, its gradient) at theta = (a, b, e, alpha, beta)."""
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    top = terms.max(axis=0)
    w = np.exp(terms - top)
    z = top + np.log(w.sum(axis=0))
    w = w / w.sum(axis=0)  # d z / d term
    r = z - log_l
    small = np.abs(r) <= delta
    loss = np.where(small, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta)).sum()
    g = np.where(small, r, delta * np.sign(r))
    grad = np.array(
        [
            (g * w[0]).sum(),
            (g * w[1]).sum(),
            (g * w[2]).sum(),
            -(g * w[0] * log_n).sum(),
            -(g * w[1] * log_d).sum(),
        ]
    )
    return loss, grad


def _adam(theta, args, steps=20000, lr=0.05):
    """Adam on the objective, its step size decaying tenfold twice (numpy only)."""
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    for t in range(1, steps + 1):
        _, g = _objective(theta, *args)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        step = lr * 0.1 ** (3 * t // steps)
        theta = theta - step * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-12)
    return theta


def fit_law(params, tokens, loss, *, use_scipy: bool | None = None) -> dict:
    """E, A, B, alpha, beta of L(N, D) = E + A / N^alpha + B / D^beta fitted to points (N, D, loss) by
    Hoffmann et al.'s Huber-on-log-loss recipe; also the objective and which optimiser ran."""
    log_n, log_d, log_l = (np.log(np.asarray(x, dtype=float)) for x in (params, tokens, loss))
    if not (log_n.shape == log_d.shape == log_l.shape) or log_n.size < 5:
        raise ValueError("fit_law needs at least 5 points (N, D, loss) of equal length")
    args = (log_n, log_d, log_l)
    if use_scipy is None:
        try:
            import scipy.optimize  # noqa: F401

            use_scipy = True
        except ImportError:
            use_scipy = False
    starts = [np.array(p, dtype=float) for p in itertools.product(*GRID.values())]
    starts = sorted(starts, key=lambda x0: _objective(x0, *args)[0])  # the grid's best first
    best = None
    if use_scipy:  # L-BFGS from the 16 best starting points of the grid
        from scipy.optimize import minimize

        for x0 in starts[:16]:
            r = minimize(_objective, x0, args=args, jac=True, method="L-BFGS-B")
            if best is None or r.fun < best[0]:
                best = (float(r.fun), r.x)
    else:  # numpy only: polish the 5 best starting points
        for x0 in starts[:3]:
            x = _adam(x0, args)
            f = _objective(x, *args)[0]
            if best is None or f < best[0]:
                best = (float(f), x)
    f, (a, b, e, alpha, beta) = best
    return {
        "E": float(np.exp(e)),
        "A": float(np.exp(a)),
        "B": float(np.exp(b)),
        "alpha": float(alpha),
        "beta": float(beta),
        "objective": f,
        "optimiser": "scipy L-BFGS-B" if use_scipy else "numpy Adam",
    }


def bootstrap(params, tokens, loss, n: int = 50, seed: int = 0, quantiles=(0.1, 0.9), **kw) -> dict:
    """{coefficient: (low, high)}: the quantiles of each fitted coefficient over `n` refits on points drawn
    with replacement (seeded)."""
    rng = np.random.default_rng(seed)
    pts = [np.asarray(x, dtype=float) for x in (params, tokens, loss)]
    fits = []
    for _ in range(n):
        i = rng.integers(0, pts[0].size, pts[0].size)
        if np.unique(np.stack([pts[0][i], pts[1][i]]), axis=1).shape[1] < 5:
            continue  # too few distinct points to identify five coefficients
        fits.append(fit_law(*(p[i] for p in pts), **kw))
    keys = ("E", "A", "B", "alpha", "beta")
    return {k: tuple(float(q) for q in np.quantile([f[k] for f in fits], quantiles)) for k in keys}
