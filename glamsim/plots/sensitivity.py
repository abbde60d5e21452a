"""Sensitivity: the tornado table of a one-at-a-time sweep (`sensitivity_table`) and its chart
(`plot_tornado`)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from glamsim.plots.style import (
    _INK_SYMBOL,
    BASELINE_DASH,
    INK,
    LOW_HIGH,
    WIDTH,
    _axis,
    _legend,
    _records,
    _si,
    _title,
    label,
)


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
