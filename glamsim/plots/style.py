"""The one style every chart shares: ink and palette, sizes, axis labels with units (the output
registry), log or linear scales, tooltips, titles and legends; the data carried inline."""

from __future__ import annotations

import json
import math
import textwrap

import altair as alt
import pandas as pd

from glamsim import outputs

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
    'facility energy (MWh)'
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
