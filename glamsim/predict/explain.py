"""Why a predicted MFU differs from a published run of the same model on the same chip.

The planner ranks layouts by speed alone; a published run chose its layout for other reasons
too (batch size for optimisation, memory headroom, the software of its day).  When a published
row of `published_runs.yaml` (`predictions:`) trained the same model on the same chip, this
names that run, its published figure, what the predictor says for its layout, and the layout
keys in which the chosen layout differs, so a prediction far from the published run says why.
"""

from __future__ import annotations

from glamsim.predict.layout import parse_layout


def differences(published: str, chosen: str) -> list[str]:
    """'key a -> b' for each layout key in which `chosen` differs from `published` (every key:
    the software stack, its kernels and the precisions move the MFU as much as the split does)."""
    a, b = parse_layout(published).model_dump(), parse_layout(chosen).model_dump()
    return [f"{k} {a[k]} -> {b[k]}" for k in a if a[k] != b[k]]


def against_published(model: str, chip: str, layout: str, mfu: float) -> str | None:
    """One paragraph comparing a prediction (`layout`, `mfu`) with the published run of the same
    model and chip, or None when no published row matches."""
    from glamsim.predict.validation import prediction_rows

    rows = [r for r in prediction_rows() if r["model"] == model and r["chip"] == chip and r["quantity"] == "mfu"]
    if not rows:
        return None
    r = rows[0]
    diff = differences(r["layout"], layout)
    changed = "; ".join(diff) if diff else "the same layout"
    return (
        f"published run {r['id']} ({r['run']}): layout {r['layout']}, MFU {r['published']:.3g} published, "
        f"{r['predicted']:.3g} predicted for that layout ({r['basis']} basis); this estimate's layout "
        f"{layout} predicts {mfu:.3g}. What differs: {changed}. The planner ranks by step time alone; "
        "the published run chose its layout for other reasons too (batch size for optimisation, memory)"
    )
