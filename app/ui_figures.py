"""Dashboard figures: `glamsim.plots` charts and a study's own figures as interactive Vega-Lite
charts, cached by their data and arguments, recoloured for a dark theme.  Pages reach them through `ui`."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from glamsim.formatting import jsonable

FIGURE_PX_PER_INCH = 60  # `size=` is in inches, as the pages give it: a width that fits a page column
FIGURE_WIDTH = 900  # a multi-panel chart without `size` (a one-panel chart fills its column)
DARK_INK = "#fafafa"  # the dense baseline and value labels on a dark background (Streamlit's dark text colour)


def _recolour(node, old: str, new: str):
    """The spec with every colour `old` (mark and encoding values, conditions) replaced by `new`."""
    if isinstance(node, dict):
        return {
            k: new
            if k in ("color", "stroke", "fill", "value", "symbolStrokeColor") and v == old
            else _recolour(v, old, new)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_recolour(v, old, new) for v in node]
    return node


@st.cache_data(show_spinner=False, max_entries=64)
def figure_spec(
    kind: str, data: pd.DataFrame, kwargs_json: str, size: tuple[float, float] | None = None, dark: bool = False
) -> dict:
    """A glamsim.plots chart as its Vega-Lite spec, cached by its data, arguments, size and theme (a
    re-render is free).  A one-panel chart fills its column's width (its height is the plot's); a
    multi-panel chart is `size` wide."""
    from glamsim import plots

    kwargs = json.loads(kwargs_json)
    kwargs.setdefault("width", int(size[0] * FIGURE_PX_PER_INCH) if size else FIGURE_WIDTH)
    if size:
        kwargs.setdefault("height", max(180, int((size[1] - 1.0) * 96)))
    # not validated against the Vega-Lite schema on each new value (half the cost of a redraw): the
    # charts are glamsim.plots', validated by tests/test_plots.py
    spec = getattr(plots, kind)(data, **kwargs).to_dict(validate=False)
    single = not any(k in spec for k in ("hconcat", "vconcat", "concat", "facet"))
    # one panel: as wide as its column; several: their own size, padded to fit their axis titles
    spec["autosize"] = {"type": "fit-x", "contains": "padding"} if single else {"type": "pad"}
    return _recolour(spec, plots.INK, DARK_INK) if dark else spec


def _dark_theme() -> bool:
    """Whether the page is dark: the browser's theme, or a dark `theme.base` in the app's config
    (which st.context misreports as light on a session's first run)."""
    try:
        return st.context.theme.type == "dark" or st.get_option("theme.base") == "dark"
    except Exception:  # noqa: BLE001 - no browser context (AppTest, bare mode): the light theme
        return False


def figure(
    kind: str, data: pd.DataFrame, caption: str | None = None, size: tuple[float, float] | None = None, **kwargs
) -> None:
    """Draw `glamsim.plots.<kind>(data, **kwargs)` as an interactive chart (hover values, zoom and
    pan, the chart's menu exports PNG/SVG; light and dark follow Streamlit's theme), cached."""
    spec = figure_spec(kind, data, json.dumps(jsonable(kwargs), sort_keys=True), size, _dark_theme())
    st.vega_lite_chart(spec, theme="streamlit", width="stretch" if spec["autosize"]["type"] == "fit-x" else "content")
    if caption:
        st.caption(caption)


@st.cache_data(show_spinner=False, max_entries=16)
def _study_figure_spec(figure_json: str, data: pd.DataFrame) -> dict:
    from glamsim.studies.runner import chart
    from glamsim.studies.spec import FigureSpec

    return chart(FigureSpec(**json.loads(figure_json)), data).to_dict()


def study_figure(figure: dict, data: pd.DataFrame) -> None:
    """A study's own figure (its spec's `figures` entry), drawn live by the same code that saves it."""
    st.vega_lite_chart(_study_figure_spec(json.dumps(figure, sort_keys=True), data), theme="streamlit")
