"""Bars: `plot_bars` (grouped bars per category, values printed on them) and
`plot_energy_comparison` (energy, carbon and dollars side by side)."""

from __future__ import annotations

import json

import altair as alt
import numpy as np
import pandas as pd

from glamsim.plots.frame import _assemble, _colour_scale, _prepare
from glamsim.plots.style import (
    BAR_DASH,
    HEIGHT,
    INK,
    PALETTE,
    _axis,
    _billions,
    _enc,
    _field,
    _legend,
    _records,
    _scale,
    _si,
    _tip,
    _title,
    _with_text,
    _ys,
    is_ratio,
    label,
)


def plot_bars(
    df: pd.DataFrame,
    x: str,
    y,
    hue: str | None = None,
    baseline=None,
    *,
    logy: bool | None = None,
    title: str = "",
    where: dict | None = None,
    agg: str = "mean",
    facet: str | None = None,
    width: int | None = None,
    height: int | None = None,
) -> alt.TopLevelMixin:
    """Grouped bars of y per x category: one bar per hue value, one panel per y column.

    Values are printed on the bars ("n/a" where missing, e.g. a chip without a public price); the
    `baseline` hue value is drawn grey with a dashed ink outline.  Linear y from zero unless
    `logy` (bars compare lengths); a ratio (`is_ratio`) is drawn as dots on an axis that does not
    start at zero.  Rows sharing a category and a colour are aggregated with `agg` and the
    subtitle says so.  Panels sit side by side, or one above the other when they would be too
    narrow for their bars.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per scenario, values in the units their column names give.
    x : str
        The category column (chip, model, ...), in the order of first appearance.
    y : str or list of str
        The column(s) to draw, one panel each.
    hue : str, optional
        The column whose values get one bar each within a category.
    baseline : optional
        The hue value drawn as the dense baseline.
    logy : bool, optional
        A log y axis (not for ratios).
    title : str
        The chart's title.
    where : dict, optional
        Keep only rows whose columns equal these values.
    agg : {"mean", "median", "min", "max", "sum"}
        How rows sharing a category and a colour are combined.
    facet : str, optional
        A column whose values get one panel each.
    width : int, optional
        The whole chart's width in pixels, axes included (default 640; panels share it).
    height : int, optional
        One panel's plot height in pixels (default 300).

    Returns
    -------
    altair.TopLevelMixin

    Examples
    --------
    >>> import glamsim.api as gs
    >>> r = gs.train(chip=["tpu-v4", "h100-sxm", "b200"], mfu=0.3)
    >>> chart = plot_bars(r.frame, x="chip", y=["train_days", "energy_mwh", "cost_usd"])
    """
    ys = _ys(y)
    frame = _prepare(df, x, ys, hue, baseline, where, agg, facet, numeric_x=False)
    data = frame.data
    cats = list(dict.fromkeys(data[x]))
    n_series = max(1, len(frame.series))
    n_facets = data[facet].nunique() if facet else 1
    need = max(100, 22 * len(cats) * n_series + 20)  # room for the bars of one panel
    if width:  # side by side when each panel keeps room for its bars, else one above the other
        panel_w = int(width / len(ys) / n_facets) - 90
        stacked = len(ys) > 1 and panel_w < need
        panel_w = int(width / n_facets) - 90 if stacked else panel_w
    else:
        panel_w = min(max(260, need + 40), 900) // n_facets
        stacked = panel_w * n_facets * len(ys) > 1000
    h = height or (240 if stacked else HEIGHT)
    many = len(cats) > 6 or max(len(str(c)) for c in cats) * len(cats) > panel_w / 6
    xenc = alt.X(
        **_enc(x, "N"),
        sort=cats,
        title=label(x),
        # every category named: Vega-Lite's default drops every other overlapping label
        axis=alt.Axis(
            labelAngle=-30 if many else 0, labelLimit=180, labelAlign="right" if many else "center", labelOverlap=False
        ),
    )
    off = alt.XOffset("series:N", sort=frame.series) if frame.hue else alt.Undefined
    colour = (
        alt.Color("series:N", scale=_colour_scale(frame, True), legend=_legend(label(frame.hue)) if frame.hue else None)
        if frame.hue
        else alt.value(PALETTE[0])
    )
    is_dense = "datum.dense"
    panels = []
    for yc in ys:
        fy = _field(yc)
        ratio = is_ratio(yc)
        ly = bool(logy) and not ratio
        data[f"{yc} (label)"] = [
            _si(float(f"{v:.3g}"), billions=_billions(yc)) if np.isfinite(v) else "n/a" for v in data[yc]
        ]
        yscale = _scale(ly, zero=not ratio)
        yenc = alt.Y(**_enc(yc, "Q"), scale=yscale, axis=_axis(yc, log=ly))
        tips = (
            [_tip(x, data[x])]
            + ([alt.Tooltip("series:N", title=label(frame.hue))] if frame.hue else [])
            + [alt.Tooltip(**_enc(f"{yc} (label)", "N"), title=label(yc)), alt.Tooltip("rows:Q", title="rows")]
        )
        base = alt.Chart().encode(x=xenc, xOffset=off, tooltip=tips)
        if ratio:
            marks = base.mark_point(filled=True, size=90, opacity=1).encode(
                y=yenc, color=colour, stroke=alt.condition(is_dense, alt.value(INK), alt.value("transparent"))
            )
        else:
            marks = base.mark_bar().encode(
                y=yenc,
                color=colour,
                stroke=alt.condition(is_dense, alt.value(INK), alt.value("transparent")),
                strokeDash=alt.condition(is_dense, alt.value(BAR_DASH), alt.value([1, 0])),
                strokeWidth=alt.condition(is_dense, alt.value(1.2), alt.value(0)),
            )
        # the value on each bar; "n/a" on the axis where it is missing
        pos = f"isValid(datum[{json.dumps(fy)}]) ? datum[{json.dumps(fy)}] : " + ("null" if ly else "0")
        text = (
            base.mark_text(baseline="bottom", dy=-3, fontSize=10, color=INK)
            .encode(
                y=alt.Y("_pos:Q", scale=yscale, axis=_axis(yc, log=ly)), text=alt.Text(**_enc(f"{yc} (label)", "N"))
            )
            .transform_calculate(_pos=pos)
        )
        panel = alt.layer(marks, text).properties(width=panel_w, height=h)
        if facet:
            panel = panel.facet(column=alt.Column(**_enc(facet, "N"), title=label(facet)), data=_records(data))
        panels.append(panel)
    total = width or (panel_w if stacked else panel_w * len(ys))
    return _assemble(
        panels, None if facet else _with_text(data, [*ys]), _title(title, frame.notes, total), stacked=stacked
    )


def plot_energy_comparison(
    df: pd.DataFrame,
    x: str = "chip",
    hue: str | None = "model",
    baseline=None,
    *,
    y=("energy_mwh", "co2e_t", "cost_usd"),
    title: str = "Training energy, carbon and cost",
    where: dict | None = None,
    width: int | None = None,
    height: int | None = None,
) -> alt.TopLevelMixin:
    """Energy, carbon and dollars side by side (the GLaM vs GPT-3 comparison of the paper's Table 1).

    `plot_bars` with `y` = training energy (MWh), net CO2e (tCO2e) and cost at list price (USD)
    on linear axes from zero.

    Parameters
    ----------
    df : pandas.DataFrame
        Training results with `energy_mwh`, `co2e_t` and `cost_usd` (or the columns in `y`).
    x : str, default "chip"
        The category column.
    hue : str, default "model"
        The column whose values get one bar each.
    baseline : optional
        The hue value drawn as the dense baseline (e.g. ``"gpt3-175b"``).
    y : sequence of str
        The columns to draw, one panel each.
    title : str
    where : dict, optional
        Keep only rows whose columns equal these values.
    width : int, optional
        The whole chart's width in pixels, axes included (default 640; panels share it).
    height : int, optional
        One panel's plot height in pixels (default 300).

    Returns
    -------
    altair.TopLevelMixin
    """
    return plot_bars(df, x, list(y), hue, baseline, title=title, where=where, logy=False, width=width, height=height)
