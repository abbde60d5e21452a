"""Figures shared by every face (study command, dashboard, notebooks): DataFrames in, Vega-Altair charts out.

One plotting path: each function returns an `altair` chart (a Vega-Lite spec), which the dashboard
shows interactively (`st.altair_chart` / `st.vega_lite_chart`: hover values, zoom, the chart's menu
exports PNG/SVG, light and dark themes follow Streamlit's), a notebook displays inline, and `save`
writes as PNG and SVG with vl-convert (offline: the data is inline, no URL is fetched).

One style: axis titles spelled out with units (the output registry and the scenario fields,
`glamsim.outputs.label`: `energy_mwh` -> "energy (MWh)"), a tooltip on every mark (values with
units), log scales when a positive axis spans more than 30x, linear axes from zero except ratios
(`is_ratio`), legends above the plot (never over the data), and the dense baseline drawn in ink
and dashed (a rule across the sweep when it has one x value, e.g. n_experts = 0; grey bars with a
dashed ink outline in bar charts; `INK` is black, the dashboard swaps it for its text colour on a
dark theme).

Aggregation is explicit: where several rows share an x (and colour), a chart colours by model when
several models share the x (never a zig-zag line through them), then aggregates what is left with a
stated function (`agg`, the mean by default) and says so in its subtitle ("Each point is the mean
of 4 rows with the same batch and model; they differ in prompt length."), or draws one panel per
value of `facet`.  A dense model (`n_experts` = 0) is never joined into an MoE line.
"""

from __future__ import annotations

import json
import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd

from glamsim import outputs
from glamsim.files import atomic_path

INK = "black"  # the dense baseline, value labels and notes
BASELINE_DASH = [6, 4]
BAR_DASH = [4, 2]
BASELINE_FILL = "#bdbdbd"  # bars of the dense baseline
PALETTE = [
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#72b7b2",
    "#b279a2",
    "#eeca3b",
    "#9d755d",
    "#bab0ac",
    "#ff9da6",
]  # Tableau 10, as Vega's default
LOW_HIGH = (PALETTE[0], PALETTE[3])
WIDTH, HEIGHT = 640, 300  # pixels: the whole chart's width (its panels share it), a panel's plot height
AGGREGATES = ("mean", "median", "min", "max", "sum")
MODEL_COLUMNS = ("model", "label")  # what tells models apart in a results table, in order of preference
DENSE_COLUMN = "n_experts"  # 0 = a dense model
PNG_SCALE = 2.0


def label(column: str) -> str:
    """A readable axis label with the unit: the output registry's (`glamsim.outputs.label`).

    Parameters
    ----------
    column : str
        A results column.

    Returns
    -------
    str

    Examples
    --------
    >>> label("energy_mwh")
    'energy (MWh)'
    """
    return outputs.label(column)


def is_ratio(column: str) -> bool:
    """Whether a column is one quantity over another: its axis then does not start at zero.

    Parameters
    ----------
    column : str
        A column name: `_over_`, " over ", " / " or "ratio" in it marks a ratio
        (`glam_over_gpt3`, "XLA FLOPs / analytic FLOPs").

    Returns
    -------
    bool
        True: drawn on an axis around its values (the interesting part, around 1, is not squashed
        against zero), as dots rather than bars in `plot_bars`.

    Examples
    --------
    >>> is_ratio("GLaM / GPT-3 training energy"), is_ratio("energy_mwh")
    (True, False)
    """
    c = column.lower()
    return "_over_" in c or " over " in c or " / " in c or "ratio" in c


def _si(v, _pos=None, billions: str = "G") -> str:
    """Compact text: 1.2e12 -> 1.2T (parameter counts use B for 1e9, everything else G)."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    a = abs(v)
    for unit, scale in (("T", 1e12), (billions, 1e9), ("M", 1e6), ("k", 1e3)):
        if a >= scale:
            return f"{v / scale:.4g}{unit}"
    return f"{v:.4g}"


def _billions(column: str) -> str:
    return "B" if column.startswith("params") else "G"


def _auto_log(values) -> bool:
    v = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    return bool(len(v)) and bool((v > 0).all()) and v.max() / v.min() > 30


def _ys(y) -> list[str]:
    return [y] if isinstance(y, str) else list(y)


def select(df: pd.DataFrame, where: dict | None) -> pd.DataFrame:
    """The rows of `df` whose columns equal the given values.

    Parameters
    ----------
    df : pandas.DataFrame
    where : dict, optional
        Column -> value, e.g. ``{"prompt_len": 2048}``; None keeps every row.

    Returns
    -------
    pandas.DataFrame
    """
    for k, v in (where or {}).items():
        df = df[df[k] == v]
    return df


def _field(column: str) -> str:
    """A Vega-Lite field name for a column (dots and brackets would read as nested fields)."""
    return column.replace(".", "_").replace("[", "(").replace("]", ")").replace("\\", "/")


KINDS = {"Q": "quantitative", "N": "nominal", "O": "ordinal"}


def _enc(column: str, kind: str) -> dict:
    """field= and type= for an encoding (explicit: a name like "loss (nats)" is no shorthand)."""
    return {"field": _field(column), "type": KINDS[kind]}


def _label_expr(column: str, log: bool = False) -> str:
    """Axis tick text: 1.2T, 350G (B for parameter counts), 45k; plain numbers below 1,000.  On a log
    axis only 1, 2 and 5 x 10^n are labelled (a decade still gets labels, and they never crowd)."""
    si = "format(datum.value, '~s')"
    if _billions(column) == "B":
        si = f"replace({si}, 'G', 'B')"
    text = f"abs(datum.value) >= 1000 ? {si} : format(datum.value, '~g')"
    if log:
        lead = "round(datum.value / pow(10, floor(log(datum.value) / LN10 + 1e-9)))"
        text = f"indexof([1, 2, 5], {lead}) >= 0 ? ({text}) : ''"
    return text


def _axis(column: str, log: bool = False, **kw) -> alt.Axis:
    return alt.Axis(title=label(column), labelExpr=_label_expr(column, log), **kw)


def _scale(log: bool, zero: bool, **kw) -> alt.Scale:
    """A log scale (no rounding of its ends: the data's decades only) or a linear one."""
    return alt.Scale(type="log", nice=False, padding=8, **kw) if log else alt.Scale(zero=zero, **kw)


def _tip(column: str, values: pd.Series | None = None) -> alt.Tooltip:
    """A tooltip for a column: its label with the unit, the value compact (1.162T, 0.3, 456.4)."""
    if values is not None and (not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
        return alt.Tooltip(**_enc(column, "N"), title=label(column))
    if _billions(column) == "B":  # d3 has no "B": the text is made in pandas (see _with_text)
        return alt.Tooltip(**_enc(f"{column} (text)", "N"), title=label(column))
    big = values is not None and pd.to_numeric(values, errors="coerce").abs().max() >= 1e5
    return alt.Tooltip(**_enc(column, "Q"), title=label(column), format=".4~s" if big else ",.4~g")


def _with_text(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """Text copies of parameter-count columns for their tooltips (96.6B, not 96.6G)."""
    for c in columns:
        if c in frame and _billions(c) == "B":
            frame[f"{c} (text)"] = [_si(v, billions="B") for v in frame[c]]
    return frame


def _records(frame: pd.DataFrame) -> alt.Data:
    """The chart's data, inline (NaN as null): the spec carries everything it draws."""
    frame = frame.rename(columns=_field)
    return alt.Data(values=json.loads(frame.to_json(orient="records", double_precision=15)))


def _title(title: str, notes: list[str], width: int) -> alt.TitleParams | str:
    chars = max(40, int(width / 7))
    lines = textwrap.wrap(title, chars) if title else []
    sub = [ln for n in notes for ln in textwrap.wrap(n, int(chars * 1.15))]
    if not lines and not sub:
        return alt.Undefined
    return alt.TitleParams(
        text=lines or [""], subtitle=sub or alt.Undefined, anchor="start", subtitleFontStyle="italic"
    )


_INK_SYMBOL = {"symbolType": "stroke", "symbolStrokeColor": INK, "symbolStrokeWidth": 2}  # a dashed ink line


def _legend(title: str | None, **kw) -> alt.Legend:
    """Legends sit above the plot, under the title: they never cover a line or a bar."""
    return alt.Legend(
        title=title, orient="top", direction="horizontal", columns=kw.pop("columns", 3), labelLimit=360, **kw
    )


# ---- the shared preparation: colour, dense baseline, explicit aggregation ----


@dataclass
class _Frame:
    data: pd.DataFrame  # one row per (facet, series, x): x, ys, "series", "dense", "baseline", "rows", facet
    hue: str | None  # the column behind the colours (given, or chosen because several models share an x)
    series: list[str]  # colour order, swept series first
    dense: list[str]  # series drawn as the dense baseline
    rules: list[str]  # dense series drawn as a reference rule (one x value, e.g. n_experts = 0)
    notes: list[str] = field(default_factory=list)


def _inputs() -> set[str]:
    from glamsim.scenario import ServingScenario, TrainingScenario

    return {*TrainingScenario.model_fields, *ServingScenario.model_fields, *outputs.COLUMNS} - {"scenario"}


def _varies(df: pd.DataFrame, group: list[str], column: str) -> bool:
    """Whether `column` takes several values within some group (False for unhashable values)."""
    try:
        return bool((df.groupby(group, sort=False, dropna=False)[column].nunique(dropna=False) > 1).any())
    except TypeError:
        return False


def _prepare(
    df: pd.DataFrame,
    x: str,
    ys: list[str],
    hue: str | None,
    baseline,
    where: dict | None,
    agg: str,
    facet: str | None,
    numeric_x: bool,
) -> _Frame:
    if agg not in AGGREGATES:
        raise ValueError(f"agg={agg!r}: expected one of {', '.join(AGGREGATES)}")
    df = select(df, where)
    if df.empty:
        raise ValueError(f"nothing to plot: no rows{f' where {where}' if where else ''}")
    notes: list[str] = []
    keys = [facet] if facet else []
    if hue is None:  # several models at one x: colour by model rather than join them into one line
        for cand in MODEL_COLUMNS:
            if (
                cand in df
                and cand != x
                and cand != facet
                and df[cand].nunique() > 1
                and (df.groupby(keys + [x], sort=False)[cand].nunique() > 1).any()
            ):
                hue = cand
                notes.append(f"Coloured by {label(cand)}: several share each {label(x)}.")
                break
    dense = pd.Series(False, index=df.index)
    if baseline is not None and hue:
        dense |= df[hue].astype(str) == str(baseline)
    if DENSE_COLUMN in df:
        ne = pd.to_numeric(df[DENSE_COLUMN], errors="coerce")
        if (ne > 0).any():
            dense |= ne == 0
    # a dense row is named by its hue value when that is the baseline, else by its model's name
    model_col = next((c for c in MODEL_COLUMNS if c in df and df[c].astype(str).str.len().gt(0).all()), None)
    names = df[hue].astype(str) if hue else pd.Series("", index=df.index)
    by_hue = dense & (names == str(baseline)) if hue and baseline is not None else pd.Series(False, index=df.index)
    dense_names = names.where(by_hue, df[model_col].astype(str) if model_col else names)
    series = names.where(~dense, dense_names.where(dense_names != "", "dense model") + " (dense baseline)")
    work = df.assign(series=series.to_numpy(), dense=dense.to_numpy())
    group = keys + ["series", x]
    counts = work.groupby(group, sort=False, dropna=False).size()
    if counts.max() > 1:
        inputs = _inputs() | set(MODEL_COLUMNS) | {DENSE_COLUMN}
        skip = {x, hue, facet, *ys, *(where or {})}
        varies = [c for c in work.columns if c in inputs and c not in skip and _varies(work, group, c)]
        same = " and ".join(label(c) for c in (x, hue, facet) if c)
        differ = f"; they differ in {', '.join(map(label, varies[:4]))}" if varies else ""
        n = f"{counts.min()}" if counts.min() == counts.max() else f"{counts.min()} to {counts.max()}"
        notes.append(f"Each {'point' if numeric_x else 'bar'} is the {agg} of {n} rows with the same {same}{differ}.")
    agged = (
        work.groupby(group, sort=False, dropna=False)
        .agg(**{y: (y, agg) for y in dict.fromkeys(ys)}, dense=("dense", "first"), rows=("dense", "size"))
        .reset_index()
    )
    order = list(dict.fromkeys(agged.loc[~agged["dense"], "series"])) + list(
        dict.fromkeys(agged.loc[agged["dense"], "series"])
    )
    agged["baseline"] = agged["series"].where(agged["dense"])  # its own field: its own legend, never merged
    dense_names = list(dict.fromkeys(agged.loc[agged["dense"], "series"]))
    rules = [
        s for s in dense_names if numeric_x and (x == DENSE_COLUMN or agged.loc[agged["series"] == s, x].nunique() == 1)
    ]
    return _Frame(agged, hue, order, dense_names, rules, notes)


def _colour_scale(frame: _Frame, grey_dense: bool) -> alt.Scale:
    swept = [s for s in frame.series if s not in frame.dense]
    rng = [PALETTE[i % len(PALETTE)] for i in range(len(swept))]
    if grey_dense:
        return alt.Scale(domain=swept + frame.dense, range=rng + [BASELINE_FILL] * len(frame.dense))
    return alt.Scale(domain=swept, range=rng)


def _sizes(n_panels: int, width: int | None, height: int | None, stacked: bool = False) -> tuple[int, int]:
    """A panel's plot width and height: `width` is the whole chart's, axes included (about 90 px a panel)."""
    w = width or WIDTH
    return (w if stacked or n_panels == 1 else max(160, int(w / n_panels) - 90)), (height or HEIGHT)


def _assemble(panels: list, data: pd.DataFrame | None, title, stacked: bool = False):
    """One chart from its panels: data inline at the top (shared by every panel), one legend."""
    kw = {} if data is None else {"data": _records(data)}
    if title is not alt.Undefined:
        kw["title"] = title
    if len(panels) == 1:
        return panels[0].properties(**kw) if kw else panels[0]
    cat = alt.vconcat if stacked else alt.hconcat
    return cat(*panels, **kw).resolve_scale(color="shared", strokeDash="shared")


# ---- lines ----


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


# ---- bars ----


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
        axis=alt.Axis(labelAngle=-30 if many else 0, labelLimit=180, labelAlign="right" if many else "center"),
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


# ---- sensitivity ----


def sensitivity_table(df: pd.DataFrame, output: str, varied: str = "varied", base: str = "base") -> pd.DataFrame:
    """The tornado table of a one-at-a-time sweep, largest swing first.

    Parameters
    ----------
    df : pandas.DataFrame
        Results of a study with ``combine: one_at_a_time``: a `varied` column naming the input
        each row moves (and `base` for the row with every input at its nominal value).
    output : str
        The output column to rank by (`energy_mwh`, `co2e_t`, ...).
    varied : str, default "varied"
        The column naming the varied input.
    base : str, default "base"
        The value of `varied` on the nominal row.

    Returns
    -------
    pandas.DataFrame
        `glamsim.cost.uncertainty.tornado`'s format: per input `input`, `low`, `nominal`, `high`
        (the input's unit), `<output>_at_low`, `<output>_at_high` and `<output>_swing` (the
        output's unit).
    """
    df = df[df[varied].notna()]
    base_row = df.loc[df[varied] == base].iloc[0]
    rows = []
    for name, g in df[df[varied] != base].groupby(varied, sort=False):
        col = name.removeprefix("model.")
        g = g.sort_values(col)
        lo, hi = g.iloc[0], g.iloc[-1]
        rows.append(
            {
                "input": col,
                "low": lo[col],
                "nominal": base_row[col],
                "high": hi[col],
                f"{output}_at_low": float(lo[output]),
                f"{output}_at_high": float(hi[output]),
                f"{output}_swing": abs(float(hi[output]) - float(lo[output])),
            }
        )
    out = pd.DataFrame(rows)
    return out.sort_values(f"{output}_swing", ascending=False, ignore_index=True) if len(out) else out


def plot_tornado(
    sens: pd.DataFrame,
    output: str,
    base: float,
    *,
    title: str = "",
    width: int | None = None,
    height: int | None = None,
) -> alt.TopLevelMixin:
    """A tornado chart of a sensitivity table: what moves an output the most, on top.

    Per input, a bar from the output at the input's low value to the output at its high value;
    the output with every input at its nominal value is a dashed rule.  An input without effect
    is listed with a note instead of a bar.

    Parameters
    ----------
    sens : pandas.DataFrame
        `glamsim.cost.uncertainty.tornado` or `sensitivity_table` output.
    output : str
        The output column (its unit labels the x axis).
    base : float
        The output with every input nominal, in the output's unit.
    title : str
        Default "What moves <output>".
    width : int, optional
        The whole chart's width in pixels, axes included (default 640; panels share it).
    height : int, optional
        Plot height in pixels (default 34 per input + 40).

    Returns
    -------
    altair.LayerChart
    """
    order = sens.sort_values(f"{output}_swing", ascending=False).reset_index(drop=True)
    names = [f"{label(s)} (nominal {n:g})" for s, n in zip(order["input"], order["nominal"])]
    ends = {"low": "input at its low value", "high": "input at its high value"}
    rows, notes = [], []
    for name, (_, r) in zip(names, order.iterrows()):
        if r[f"{output}_swing"] == 0:
            notes.append({"input": name, "base": base, "note": f"no effect ({r['low']:g} to {r['high']:g})"})
            continue
        for end, what in ends.items():
            val = float(r[f"{output}_at_{end}"])
            rows.append(
                {
                    "input": name,
                    "end": what,
                    "base": base,
                    "value": val,
                    "input_value": f"{r[end]:g}",
                    "side": "right" if val >= base else "left",
                    "value_text": _si(val),
                    "change": f"{val - base:+.4g} ({(val / base - 1) if base else float('nan'):+.1%})",
                }
            )
    bars = pd.DataFrame(rows, columns=["input", "end", "base", "value", "input_value", "side", "value_text", "change"])
    w, h = width or WIDTH, height or int(34 * len(order) + 40)
    yenc = alt.Y("input:N", sort=names, title=None, axis=alt.Axis(labelLimit=320))
    xenc = alt.X("base:Q", title=label(output), scale=alt.Scale(zero=False, padding=40), axis=_axis(output))
    tips = [
        alt.Tooltip("input:N", title="input"),
        alt.Tooltip("end:N", title="which end"),
        alt.Tooltip("input_value:N", title="input value"),
        alt.Tooltip("value_text:N", title=label(output)),
        alt.Tooltip("change:N", title="change from nominal"),
    ]
    bar = (
        alt.Chart()
        .mark_bar(height={"band": 0.6})
        .encode(
            y=yenc,
            x=xenc,
            x2=alt.X2("value"),
            tooltip=tips,
            color=alt.Color(
                "end:N", scale=alt.Scale(domain=list(ends.values()), range=list(LOW_HIGH)), legend=_legend(None)
            ),
        )
    )
    layers = [bar]
    for side, align, dx in (("right", "left", 4), ("left", "right", -4)):
        layers.append(
            alt.Chart()
            .mark_text(align=align, dx=dx, fontSize=10, color=INK)
            .encode(y=yenc, x="value:Q", text="input_value:N", tooltip=tips)
            .transform_filter(f"datum.side === '{side}'")
        )
    nominal = f"all inputs nominal: {_si(float(f'{base:.4g}'))}"
    layers.append(
        alt.Chart(alt.Data(values=[{"what": nominal, "base": base}]))
        .mark_rule(color=INK, strokeWidth=2)
        .encode(
            x="base:Q",
            strokeDash=alt.StrokeDash(
                "what:N", scale=alt.Scale(domain=[nominal], range=[BASELINE_DASH]), legend=_legend(None, **_INK_SYMBOL)
            ),
            tooltip=[alt.Tooltip("what:N", title="nominal")],
        )
    )
    if notes:
        layers.append(
            alt.Chart(alt.Data(values=notes))
            .mark_text(align="left", dx=6, fontSize=10, color=INK)
            .encode(y=yenc, x="base:Q", text="note:N", tooltip=[alt.Tooltip("note:N", title="input")])
        )
    return alt.layer(*layers, data=_records(bars)).properties(
        width=w, height=h, title=_title(title or f"What moves {label(output)}", [], w)
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


# ---- notes, saving ----


def add_caption(chart: alt.TopLevelMixin, text: str, width: int | None = None) -> alt.VConcatChart:
    """A small italic note under a chart (assumptions, what n/a means); the title stays on top.

    Parameters
    ----------
    chart : altair.TopLevelMixin
    text : str
        The note, wrapped to the chart's width.
    width : int, optional
        The width in pixels to wrap at (default 640).

    Returns
    -------
    altair.VConcatChart
    """
    lines = textwrap.wrap(" ".join(text.split()), max(60, int((width or WIDTH) / 6)))
    top = chart.copy(deep=True)
    title, top.title = top.title, alt.Undefined
    note = (
        alt.Chart(alt.Data(values=[{"line": ln, "i": i} for i, ln in enumerate(lines)]))
        .mark_text(align="left", baseline="top", fontStyle="italic", fontSize=10, color=INK)
        .encode(y=alt.Y("i:O", axis=None), x=alt.value(0), text="line:N")
        .properties(height=14 * len(lines), width=width or WIDTH, view=alt.ViewBackground(stroke=None))
    )
    return alt.vconcat(top, note, spacing=8, **({} if title is alt.Undefined else {"title": title}))


def save(chart: alt.TopLevelMixin, path_stem: str | Path) -> list[Path]:
    """Write a chart as PNG (at 2x) and SVG side by side, atomically, with vl-convert.

    Offline: the data is inline in the spec and no URL is fetched.

    Parameters
    ----------
    chart : altair.TopLevelMixin
    path_stem : str or pathlib.Path
        The path without its extension: `<path_stem>.png` and `<path_stem>.svg` are written.

    Returns
    -------
    list of pathlib.Path
        The two files written.
    """
    import vl_convert as vlc

    spec = chart.to_dict()
    out = []
    for ext, render in (
        ("png", lambda: vlc.vegalite_to_png(spec, scale=PNG_SCALE, allowed_base_urls=[])),
        ("svg", lambda: vlc.vegalite_to_svg(spec, allowed_base_urls=[]).encode()),
    ):
        target = Path(f"{path_stem}.{ext}")
        data = render()
        with atomic_path(target) as tmp:
            Path(tmp).write_bytes(data)
        out.append(target)
    return out
