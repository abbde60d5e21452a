"""Serving charts: one quantity against another, one line per model in batch order, with the latency
target drawn (`plot_serving_curve`), and what one chip holds (`plot_serving_memory`)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from glamsim.plots.style import (
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
    is_ratio,
    label,
)

TARGET_COLOUR = PALETTE[3]  # the target's rule: red, apart from the first models' blue and orange
MEMORY_PARTS = {
    "weights_gb_per_chip": "weights",
    "kv_cache_gb_per_chip": "KV cache",
    "activations_gb_per_chip": "activations",
}


def _target_rule(value: float, text: str, axis: str) -> alt.Chart:
    data = alt.Data(values=[{"target": value, "what": text}])
    enc = {axis: alt.X("target:Q") if axis == "x" else alt.Y("target:Q")}
    return (
        alt.Chart(data)
        .mark_rule(color=TARGET_COLOUR, strokeWidth=2, strokeDash=BASELINE_DASH)
        .encode(**enc, tooltip=[alt.Tooltip("what:N", title="target"), alt.Tooltip("target:Q", format=",.4~g")])
    )


def plot_serving_curve(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    hue: str = "model",
    order: str = "batch",
    baseline: str | None = None,
    target_x: float | None = None,
    target_y: float | None = None,
    target_text: str = "target",
    title: str = "",
    width: int | None = None,
    height: int | None = None,
) -> alt.TopLevelMixin:
    """One line per `hue` value (the model) of `y` against `x`, its points joined in `order` (the
    batch: a latency-throughput curve is traced as the batch grows), the target drawn as a dashed
    red rule (`target_x` across, `target_y` along), the `baseline` model in ink and dashed.  Rows
    with NaN `y` (a target even batch 1 misses) leave a gap.

    Parameters
    ----------
    df : pandas.DataFrame
        A `glamsim.api.serving_curves` frame (or any `serve` frame).
    x, y : str
        Columns; axes carry their labels and units; log where positive and spanning more than 30x.
    hue, order : str
        The column that tells the lines apart, the one that orders each line's points.
    baseline : str, optional
        The hue value drawn as the dense baseline.
    target_x, target_y : float, optional
        Where the target stands, in the axis's own unit (a vertical, a horizontal rule).
    target_text : str
        The target's words in its tooltip ("TPOT target 50 ms").
    title : str
    width, height : int, optional
        Pixels (default 640 by 300).

    Returns
    -------
    altair.LayerChart
    """
    data = df[[c for c in dict.fromkeys([hue, order, x, y, "meets_targets"]) if c in df]].copy()
    data[hue] = data[hue].astype(str)
    data["dense baseline"] = data[hue].where(data[hue] == str(baseline)) if baseline is not None else None
    shown = data.dropna(subset=[x, y])
    logx = _auto_log(shown[x]) if len(shown) else False
    logy = _auto_log(shown[y]) if len(shown) else False
    names = list(dict.fromkeys(data[hue]))
    scale = alt.Scale(domain=names, range=[INK if n == str(baseline) else PALETTE[i % 10] for i, n in enumerate(names)])
    colour = alt.Color(f"{hue}:N", scale=scale, legend=_legend(label(hue)))
    dash = alt.StrokeDash(
        "dense baseline:N",
        scale=alt.Scale(domain=[str(baseline)], range=[BASELINE_DASH]) if baseline is not None else alt.Undefined,
        legend=None,
    )
    xenc = alt.X(**_enc(x, "Q"), scale=_scale(logx, zero=not is_ratio(x)), axis=_axis(x, log=logx))
    yenc = alt.Y(**_enc(y, "Q"), scale=_scale(logy, zero=not is_ratio(y)), axis=_axis(y, log=logy))
    tips = [alt.Tooltip(f"{hue}:N", title=label(hue)), _tip(order, data[order]), _tip(x, data[x]), _tip(y, data[y])]
    line = (
        alt.Chart()
        .mark_line(strokeWidth=2)
        .encode(x=xenc, y=yenc, color=colour, strokeDash=dash, order=alt.Order(f"{order}:Q"), tooltip=tips)
    )
    fill = alt.Fill(f"{hue}:N", scale=scale, legend=None)
    if "meets_targets" in data:  # a point that misses the target: hollow
        fill = alt.condition("datum.meets_targets === false", alt.value("white"), fill)
        tips = [*tips, alt.Tooltip("meets_targets:N", title="meets the target")]
    points = (
        alt.Chart()
        .mark_point(size=40, filled=False, strokeWidth=1.5)
        .encode(x=xenc, y=yenc, color=colour, fill=fill, opacity=alt.value(1), tooltip=tips)
    )
    layers = [line, points]
    if target_x is not None:
        layers.append(_target_rule(target_x, target_text, "x"))
    if target_y is not None:
        layers.append(_target_rule(target_y, target_text, "y"))
    return alt.layer(*layers, data=_records(data)).properties(
        width=width or WIDTH, height=height or 300, title=_title(title, [], width or WIDTH)
    )


def plot_serving_memory(
    df: pd.DataFrame,
    usable_gb: float | None = None,
    *,
    hue: str = "model",
    title: str = "",
    width: int | None = None,
    height: int | None = None,
) -> alt.TopLevelMixin:
    """What one serving chip holds, one stacked bar per model: weights, KV cache and activations per
    chip (GB, `MEMORY_PARTS`), against the chip's usable HBM (a dashed ink rule).

    Parameters
    ----------
    df : pandas.DataFrame
        One row per model with `weights_gb_per_chip`, `kv_cache_gb_per_chip`,
        `activations_gb_per_chip` (a `serve` frame or estimates' values).
    usable_gb : float, optional
        Usable HBM per chip, in GB.

    Returns
    -------
    altair.LayerChart
    """
    long = df.melt(id_vars=[hue], value_vars=list(MEMORY_PARTS), var_name="key", value_name="gb")
    long["part"] = long["key"].map(MEMORY_PARTS)
    long["order"] = long["key"].map({k: i for i, k in enumerate(MEMORY_PARTS)})
    bar = (
        alt.Chart(_records(long))
        .mark_bar()
        .encode(
            y=alt.Y(f"{hue}:N", title=None, sort=list(dict.fromkeys(df[hue]))),
            x=alt.X("gb:Q", title="GB per chip", stack="zero"),
            color=alt.Color(
                "part:N", scale=alt.Scale(domain=list(MEMORY_PARTS.values()), range=PALETTE), legend=_legend("part")
            ),
            order=alt.Order("order:Q"),
            tooltip=[
                alt.Tooltip(f"{hue}:N"),
                alt.Tooltip("part:N"),
                alt.Tooltip("gb:Q", title="GB per chip", format=",.4~g"),
            ],
        )
    )
    layers = [bar]
    if usable_gb is not None:
        layers.append(
            alt.Chart(alt.Data(values=[{"usable_gb": usable_gb, "what": "usable HBM per chip"}]))
            .mark_rule(color=INK, strokeWidth=2, strokeDash=BASELINE_DASH)
            .encode(
                x="usable_gb:Q", tooltip=[alt.Tooltip("what:N"), alt.Tooltip("usable_gb:Q", title="GB", format=",.4~g")]
            )
        )
    w = width or WIDTH
    return alt.layer(*layers).properties(
        width=w, height=height or max(60, 28 * df[hue].nunique()), title=_title(title or "Memory per chip", [], w)
    )
