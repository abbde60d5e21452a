"""Published figures the laws must reproduce, each with glamsim's value, the error and a justified tolerance."""

from __future__ import annotations

from glamsim.cost.quality import laws as L
from glamsim.laws import load_law

GOPHER_FLOPS = 5.76e23  # Gopher's training budget (Hoffmann et al. 2022, Sec. 3)


def checks() -> list[dict]:
    """Rows of {check, published, glamsim, error, tolerance, source}."""
    precise = load_law("chinchilla-precise")
    n, _ = L.optimum_for_compute(*L.dense_coefficients(precise), GOPHER_FLOPS)
    clark = load_law("clark-sbase")
    rows = [
        _row(
            "Chinchilla Approach 3: compute-optimal params at Gopher's 5.76e23 FLOPs",
            40e9,
            float(n),
            0.05,
            "Hoffmann et al. 2022, Sec. 3.3 (Approach 3: 40B; as quoted by secondary sources); tolerance: the "
            "coefficients are published to 3-4 digits, which moves N* by a few percent",
        )
    ]
    for p in clark.published_points:
        got = float(L.effective_params(clark, p.params, p.experts))
        rows.append(
            _row(
                f"Clark S-BASE effective params of N={p.params:.3g}, E={p.experts:g}",
                p.effective_params,
                got,
                0.10,
                p.source + "; tolerance: Table 3 rounds b/c to 12.0 where the published cutoff implies 11.97",
            )
        )
    return rows


def _row(check: str, published: float, got: float, tol: float, source: str) -> dict:
    err = got / published - 1
    return {
        "check": check,
        "published": published,
        "glamsim": got,
        "error": err,
        "tolerance": tol,
        "ok": abs(err) <= tol,
        "source": source,
    }
