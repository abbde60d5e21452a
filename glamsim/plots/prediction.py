"""Charts of a prediction: memory per chip against usable HBM (`plot_memory`) and where a step's time
goes (`plot_breakdown`)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from glamsim.plots.style import BASELINE_DASH, INK, PALETTE, WIDTH, _legend, _records


def plot_memory(
    parts: pd.DataFrame, usable: float, *, title: str = "", width: int | None = None, height: int | None = None
) -> alt.TopLevelMixin:
    """Memory per chip as one stacked bar against the chip's usable HBM (a dashed ink rule).

    Parameters
    ----------
    parts : pandas.DataFrame
        Columns `part` (weights, gradients, optimizer state, activations, ...) and `bytes`
        (bytes per chip); drawn in GB (1e9 bytes).
    usable : float
        Usable HBM per chip, in bytes.
    title : str
        Default "Memory per chip".
    width : int, optional
        Width in pixels (default 640).
    height : int, optional
        Height in pixels (default 60).

    Returns
    -------
    altair.LayerChart
    """
    w = width or WIDTH
    data = parts.assign(gb=parts["bytes"] / 1e9)
    bar = (
        alt.Chart(_records(data))
        .mark_bar()
        .encode(
            x=alt.X("gb:Q", title="GB per chip", stack="zero"),
            color=alt.Color("part:N", scale=alt.Scale(range=PALETTE), legend=_legend("part")),
            order=alt.Order("part:N"),
            tooltip=[alt.Tooltip("part:N"), alt.Tooltip("gb:Q", title="GB per chip", format=".3~f")],
        )
    )
    limit = (
        alt.Chart(alt.Data(values=[{"usable_gb": usable / 1e9, "what": "usable HBM"}]))
        .mark_rule(color=INK, strokeWidth=2, strokeDash=BASELINE_DASH)
        .encode(x="usable_gb:Q", tooltip=[alt.Tooltip("what:N"), alt.Tooltip("usable_gb:Q", title="GB", format=".3~f")])
    )
    return alt.layer(bar, limit).properties(width=w, height=height or 60, title=title or "Memory per chip")


def plot_breakdown(
    parts: pd.DataFrame, *, title: str = "", width: int | None = None, height: int | None = None
) -> alt.TopLevelMixin:
    """Where a step's time goes: one horizontal bar per part, largest first.

    Parameters
    ----------
    parts : pandas.DataFrame
        Columns `part` (a name; a trailing "_s" is dropped) and `seconds` (seconds per step).
    title : str
        Default "Step time".
    width : int, optional
        Width in pixels (default 640).
    height : int, optional
        Height in pixels (default 22 per part + 20).

    Returns
    -------
    altair.Chart
    """
    w = width or WIDTH
    data = parts.assign(part=parts["part"].str.removesuffix("_s").str.replace("_", " "))
    return (
        alt.Chart(_records(data))
        .mark_bar(color=PALETTE[0])
        .encode(
            y=alt.Y("part:N", sort="-x", title=None),
            x=alt.X("seconds:Q", title="seconds per step"),
            tooltip=[alt.Tooltip("part:N"), alt.Tooltip("seconds:Q", format=".4~g")],
        )
        .properties(width=w, height=height or 22 * len(data) + 20, title=title or "Step time")
    )
