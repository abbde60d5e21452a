"""The shared preparation of line and bar charts: colour (by model when several share an x), the
dense baseline, explicit aggregation (said in the subtitle), panel sizes and assembly."""

from __future__ import annotations

from dataclasses import dataclass, field

import altair as alt
import pandas as pd

from glamsim import outputs
from glamsim.plots.style import (
    AGGREGATES,
    BASELINE_FILL,
    DENSE_COLUMN,
    HEIGHT,
    MODEL_COLUMNS,
    PALETTE,
    WIDTH,
    _records,
    label,
    select,
)


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
