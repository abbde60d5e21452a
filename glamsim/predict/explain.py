"""Why a predicted MFU differs from a published run of the same model on the same chip.

The planner ranks layouts by speed alone; a published run chose its layout for other reasons
too (batch size for optimisation, memory headroom, the software of its day).  When a published
row of `published_runs.yaml` (`predictions:`) trained the same model on the same chip, this
names that run, its published figure, what the predictor says for its layout, and the layout
keys in which the chosen layout differs, so a prediction far from the published run says why.
"""

from __future__ import annotations

import math

from glamsim.predict.layout import parse_layout


def differences(published: str, chosen: str) -> list[str]:
    """'key a -> b' for each layout key in which `chosen` differs from `published` (every key:
    the software stack, its kernels and the precisions move the MFU as much as the split does)."""
    a, b = parse_layout(published).model_dump(), parse_layout(chosen).model_dump()
    folded = a["etp"] is not None or b["etp"] is not None  # a line for etp only where one names it
    for d in (a, b):  # unset: every layer of each chunk recomputed; experts split as the layers
        d["recompute_layers"] = d["recompute_layers"] or "all"
        d["etp"] = (d["etp"] or d["tp"]) if folded else None
    return [f"{k} {a[k]} -> {b[k]}" for k in a if a[k] != b[k]]


def predicted_mfu(row: dict) -> float:
    """A validation row's predicted MFU on its own basis (a wall-clock row's includes the goodput)."""
    from glamsim.predict.efficiency import WALL_CLOCK_GOODPUT

    return row["mfu"] * (WALL_CLOCK_GOODPUT if row["basis"] == "wall_clock" else 1.0)


def published_mfu(row: dict) -> float:
    """A validation row's published figure as an MFU on the row's basis: every published quantity
    but a step time scales with throughput, so it is the predicted MFU times published / predicted."""
    ratio = row["published"] / row["predicted"]
    return predicted_mfu(row) * (1 / ratio if row["quantity"] == "step_s" else ratio)


def against_published(
    model: str, chip: str, layout: str, mfu: float, chips: float | None = None, dtype: str | None = None
) -> str | None:
    """One paragraph comparing a prediction (`layout`, `mfu` of the `dtype` peak) with the published
    run of the same model and chip (the one nearest `chips` in size where several are), or None
    when none matches.  A run in another precision is named with its peak: an fp8 MFU counts
    against twice the bf16 peak."""
    from glamsim.predict.validation import prediction_rows
    from glamsim.profiles import load_chip

    rows = [r for r in prediction_rows() if r["model"] == model and r["chip"] == chip]
    if not rows:
        return None
    default = load_chip(chip).default_dtype
    r = min(  # nearest in size, then the same precision as the estimate
        rows,
        key=lambda r: (abs(math.log(r["chips"] / chips)) if chips else 0.0, (r["dtype"] or default) != dtype),
    )
    diff = differences(r["layout"], layout)
    if r["own_network"]:  # this estimate runs on the chip profile's network
        diff.append(f"the network between servers: {r['own_network']} -> the profile's")
    if r["own_server"]:  # and on its servers or slices
        diff.append(f"the server or slice: {r['own_server']} -> the profile's")
    changed = "; ".join(diff) if diff else "the same layout"
    value = f"{r['published']:,.0f}" if r["published"] >= 1000 else f"{r['published']:.4g}"
    given = "" if r["quantity"] == "mfu" else f" (from its {r['quantity']} {value})"
    theirs = r["dtype"] or default
    peak = f" of the {theirs} peak" if dtype and theirs != dtype else ""
    ours = f" of the {dtype} peak" if peak and dtype else ""
    return (
        f"published run {r['id']} ({r['run']}): layout {r['layout']}, "
        f"MFU {published_mfu(r):.3g}{peak} published{given}, "
        f"{predicted_mfu(r):.3g} predicted for that layout ({r['basis']} basis); this estimate's layout "
        f"{layout} predicts {mfu:.3g}{ours}. What differs: {changed}. The planner ranks by step time alone; "
        "the published run chose its layout for other reasons too (batch size for optimisation, memory)"
    )
