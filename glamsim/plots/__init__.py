"""Figures shared by every face (study command, dashboard, notebooks): DataFrames in, Vega-Altair charts out.

One plotting path: each function returns an `altair` chart (a Vega-Lite spec), which the dashboard
shows interactively (`st.altair_chart` / `st.vega_lite_chart`: hover values, zoom, the chart's menu
exports PNG/SVG, light and dark themes follow Streamlit's), a notebook displays inline, and `save`
writes as PNG and SVG with vl-convert (offline: the data is inline, no URL is fetched).

One style: axis titles spelled out with units (the output registry and the scenario fields,
`glamsim.outputs.label`: `energy_mwh` -> "facility energy (MWh)"), a tooltip on every mark (values with
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

The modules: `style` (the look every chart shares), `frame` (colour, dense baseline and
aggregation of line and bar charts), `sweep` (lines), `bars`, `sensitivity` (tornado),
`prediction` (memory per chip, step time) and `output` (caption, save).  Import the charts from
the package: `from glamsim.plots import plot_sweep`.
"""

from __future__ import annotations

from glamsim.plots.bars import plot_bars, plot_energy_comparison
from glamsim.plots.output import add_caption, offline_charts, save
from glamsim.plots.prediction import plot_breakdown, plot_memory
from glamsim.plots.sensitivity import plot_tornado, sensitivity_table
from glamsim.plots.serving import plot_serving_curve, plot_serving_memory
from glamsim.plots.style import (
    AGGREGATES,
    BAR_DASH,
    BASELINE_DASH,
    BASELINE_FILL,
    DENSE_COLUMN,
    HEIGHT,
    INK,
    KINDS,
    LOW_HIGH,
    MODEL_COLUMNS,
    PALETTE,
    PNG_SCALE,
    WIDTH,
    is_ratio,
    label,
    select,
)
from glamsim.plots.sweep import plot_experts_touched, plot_sweep

__all__ = [
    "plot_serving_curve",
    "plot_serving_memory",
    "AGGREGATES",
    "BAR_DASH",
    "BASELINE_DASH",
    "BASELINE_FILL",
    "DENSE_COLUMN",
    "HEIGHT",
    "INK",
    "KINDS",
    "LOW_HIGH",
    "MODEL_COLUMNS",
    "PALETTE",
    "PNG_SCALE",
    "WIDTH",
    "add_caption",
    "offline_charts",
    "is_ratio",
    "label",
    "plot_bars",
    "plot_breakdown",
    "plot_energy_comparison",
    "plot_experts_touched",
    "plot_memory",
    "plot_sweep",
    "plot_tornado",
    "save",
    "select",
    "sensitivity_table",
]
