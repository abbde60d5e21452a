"""Lines: `plot_sweep` (y against x, one line per hue value) and `plot_experts_touched` (the share of
experts a decoding step reads, against batch size)."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd

from glamsim.plots.frame import _assemble, _colour_scale, _Frame, _prepare, _sizes
from glamsim.plots.style import (
    _INK_SYMBOL,
    BASELINE_DASH,
    INK,
    PALETTE,
    WIDTH,
    _auto_log,
    _axis,
    _enc,
    _legend,
    _records,
    _scale,
    _tip,
    _title,
    _with_text,
    _ys,
    is_ratio,
    label,
)


def _sweep_panels(
    frame: _Frame,
    x: str,
    ys: list[str],
    numeric_x: bool,
    logx: bool | None,
    logy: bool | None,
    facet: str | None,
    w: int,
    h: int,
    ydomain: list | None = None,
) -> list:
    data = frame.data
    swept = data[~data["dense"]]
    xkind = "Q" if numeric_x else "O"
    lx = numeric_x and (_auto_log(swept[x] if len(swept) else data[x]) if logx is None else logx)
    xenc = alt.X(
        **_enc(x, xkind),
        scale=_scale(lx, zero=False) if numeric_x else alt.Undefined,
        axis=_axis(x, log=lx) if numeric_x else alt.Axis(title=label(x)),
        sort=alt.Undefined if numeric_x else list(dict.fromkeys(data[x])),
    )
    colour = alt.Color(
        "series:N",
        scale=_colour_scale(frame, False),
        legend=_legend(label(frame.hue), symbolType="stroke", symbolStrokeWidth=2.5) if frame.hue else None,
    )
    dash = alt.StrokeDash(
        "baseline:N",
        scale=alt.Scale(domain=frame.dense, range=[BASELINE_DASH] * len(frame.dense)),
        legend=_legend("dense baseline", columns=1, **_INK_SYMBOL),
    )
    panels = []
    for yc in ys:
        ly = _auto_log(data[yc]) if logy is None else logy
        yscale = _scale(ly, zero=not is_ratio(yc)) if not ydomain else alt.Scale(domain=ydomain)
        yenc = alt.Y(**_enc(yc, "Q"), scale=yscale, axis=_axis(yc, log=ly))
        tips = ([alt.Tooltip("series:N", title=label(frame.hue))] if frame.hue else []) + [
            _tip(x, data[x]),
            _tip(yc, data[yc]),
            alt.Tooltip("rows:Q", title="rows"),
        ]
        layers = []
        if len(swept):
            line = (
                alt.Chart()
                .mark_line(point=alt.OverlayMarkDef(size=30, filled=True), strokeWidth=2)
                .encode(
                    x=xenc,
                    y=yenc,
                    color=colour if frame.hue else alt.value(PALETTE[0]),
                    tooltip=tips,
                    detail="series:N",
                )
                .transform_filter("!datum.dense")
            )
            layers.append(line.interactive(name=f"zoom_{len(panels)}") if numeric_x else line)
        for s in frame.dense:
            sel = f"datum.series === {json.dumps(s)}"
            if s in frame.rules:  # one dense point: a reference line across the sweep
                mark = (
                    alt.Chart()
                    .mark_rule(color=INK, strokeWidth=2)
                    .encode(
                        y=yenc,
                        strokeDash=dash,
                        tooltip=[alt.Tooltip("baseline:N", title="dense baseline"), _tip(yc, data[yc])],
                    )
                )
            else:  # a dashed line (its legend entry) and its points (their values on hover)
                tip = [alt.Tooltip("baseline:N", title="dense baseline"), _tip(x, data[x]), _tip(yc, data[yc])]
                layers.append(
                    alt.Chart()
                    .mark_line(color=INK, strokeWidth=2)
                    .encode(x=xenc, y=yenc, strokeDash=dash, tooltip=tip)
                    .transform_filter(sel)
                )
                mark = (
                    alt.Chart()
                    .mark_point(filled=True, size=30, color=INK, opacity=1)
                    .encode(x=xenc, y=yenc, tooltip=tip)
                )
            layers.append(mark.transform_filter(sel))
        panel = alt.layer(*layers).properties(width=w, height=h)
        if facet:
            panel = panel.facet(
                column=alt.Column(**_enc(facet, "N"), title=label(facet)),
                data=_records(_with_text(data.copy(), [x, *ys])),
            )
        panels.append(panel)
    return panels


def plot_sweep(
    df: pd.DataFrame,
    x: str,
    y,
    hue: str | None = None,
    baseline=None,
    *,
    logx: bool | None = None,
    logy: bool | None = None,
    title: str = "",
    where: dict | None = None,
    agg: str = "mean",
    facet: str | None = None,
    width: int | None = None,
    height: int | None = None,
) -> alt.TopLevelMixin:
    """Lines of y against x, one per hue value, one panel per y column.

    The `baseline` hue value (and any dense model, `n_experts` = 0) is drawn in ink and dashed, as
    a rule across the sweep when it has one x value.  Rows sharing an x and a colour are
    aggregated with `agg` (the subtitle says so), or split into one panel per value of `facet`.
    Axis titles carry the columns' units; a positive axis spanning more than 30x is logarithmic
    unless told; a y axis starts at zero unless the column is a ratio (`is_ratio`); legends sit
    above the plot.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per scenario (a `glamsim.api` frame, a study's results), values in the units
        their column names give.
    x : str
        The column along the x axis (numeric: a line; otherwise ordered categories).
    y : str or list of str
        The column(s) to draw, one panel each.
    hue : str, optional
        The column whose values get one coloured line each; by default the model when several
        models share an x.
    baseline : optional
        The hue value drawn as the dense baseline.
    logx, logy : bool, optional
        Force a log or linear axis; None: log when positive and spanning more than 30x.
    title : str
        The chart's title; notes on colour and aggregation go in its subtitle.
    where : dict, optional
        Keep only rows whose columns equal these values (``{"prompt_len": 2048}``).
    agg : {"mean", "median", "min", "max", "sum"}
        How rows sharing an x and a colour are combined.
    facet : str, optional
        A column whose values get one panel each instead of being aggregated.
    width : int, optional
        The whole chart's width in pixels, axes included (default 640; panels share it).
    height : int, optional
        One panel's plot height in pixels (default 300).

    Returns
    -------
    altair.TopLevelMixin
        A Vega-Lite chart: shown inline in a notebook, with `st.altair_chart` in the dashboard,
        saved with `save`.

    Raises
    ------
    ValueError
        No rows left after `where`, or an unknown `agg`.

    Examples
    --------
    >>> import glamsim.api as gs
    >>> r = gs.train(chip=["tpu-v4", "h100-sxm"], mfu=[0.2, 0.3, 0.4], grid=True)
    >>> chart = plot_sweep(r.frame, x="mfu", y=["train_days", "energy_mwh"], hue="chip")
    """
    ys = _ys(y)
    numeric_x = pd.api.types.is_numeric_dtype(df[x]) and not pd.api.types.is_bool_dtype(df[x])
    frame = _prepare(df, x, ys, hue, baseline, where, agg, facet, numeric_x)
    w, h = _sizes(len(ys) * (frame.data[facet].nunique() if facet else 1), width, height)
    panels = _sweep_panels(frame, x, ys, numeric_x, logx, logy, facet, w, h)
    return _assemble(
        panels, None if facet else _with_text(frame.data, [x, *ys]), _title(title, frame.notes, width or WIDTH)
    )


def plot_experts_touched(
    df: pd.DataFrame,
    x: str = "batch",
    y: str = "experts_touched_fraction",
    hue: str | None = "n_experts",
    *,
    title: str = "",
    where: dict | None = None,
    width: int | None = None,
    height: int | None = None,
) -> alt.TopLevelMixin:
    """The share of an MoE layer's experts a decoding step reads, against batch size.

    Where it reaches 1 (a dashed rule), MoE decoding moves as many weight bytes as a dense model
    of its total size.  The y axis runs from 0 to 1.

    Parameters
    ----------
    df : pandas.DataFrame
        Serving results with `batch` and `experts_touched_fraction` (e.g. `glamsim.api.serve`
        over a batch array).
    x : str, default "batch"
        The batch column (sequences decoded together).
    y : str, default "experts_touched_fraction"
        The share of experts read per step, 0-1.
    hue : str, default "n_experts"
        The column whose values get one line each.
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

    Examples
    --------
    >>> import numpy as np, glamsim.api as gs
    >>> r = gs.serve(model=["glam-1.7b-32e", "glam-1.7b-256e"], batch=np.geomspace(1, 1024, 11).astype(int),
    ...              grid=True)
    >>> chart = plot_experts_touched(r.frame)
    """
    frame = _prepare(df, x, [y], hue, None, where, "mean", None, numeric_x=True)
    w, h = _sizes(1, width, height)
    (panel,) = _sweep_panels(frame, x, [y], True, True, False, None, w, h, ydomain=[0, 1.08])
    every = (
        alt.Chart(alt.Data(values=[{"what": "every expert read", "one": 1.0}]))
        .mark_rule(color=INK, strokeWidth=1.5)
        .encode(
            y=alt.Y("one:Q", scale=alt.Scale(domain=[0, 1.08])),
            strokeDash=alt.StrokeDash(
                "what:N",
                scale=alt.Scale(domain=["every expert read"], range=[BASELINE_DASH]),
                legend=_legend(None, **_INK_SYMBOL),
            ),
            tooltip=[alt.Tooltip("what:N", title="reference")],
        )
    )
    chart = alt.layer(*panel.layer, every).properties(width=w, height=h)
    return _assemble(
        [chart],
        _with_text(frame.data, [x, y]),
        _title(title or "Experts read per decoding step", frame.notes, width or WIDTH),
    )
