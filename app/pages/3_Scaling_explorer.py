"""Scaling explorer: run a built-in study (a sweep of scenarios) or load a results file, and chart it."""

import json
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st
import ui

from glamsim.config import ConfigError
from glamsim.studies import builtin_studies, load_spec, run_study
from glamsim.studies.scenario import DEFAULTS

ui.page(
    "Scaling explorer",
    "A study evaluates the cost model over a grid of scenarios (models, chips, batch sizes, …) in one "
    "vectorised call. Run a built-in study, or load a `results.csv` / `results.parquet` written by "
    "`glamsim study`, then pick what to plot against what. Every row carries its inputs.",
)

# label: a case's name; varied: which input a one-at-a-time row changes
INPUTS = [*DEFAULTS, "scenario", "label", "varied", "n_layers", "d_model", "n_experts", "top_k"]


@st.cache_data(show_spinner="Running the study (cached after the first run)…")
def run_builtin(name: str) -> tuple[pd.DataFrame, dict, str, list[dict]]:
    """Results, ledger, description and figure specs of a built-in study."""
    spec = load_spec(name)
    out = Path(tempfile.mkdtemp(prefix=f"glamsim-study-{name}-"))
    run = run_study(spec, out, progress=False)
    return (
        run.results,
        json.loads((out / "ledger.json").read_text()),
        spec.description,
        [f.model_dump(mode="json") for f in spec.figures],
    )


source = ui.radio("Results", ["built-in study", "upload a results file"], "x_source", horizontal=True)
ledger, specs = {}, []
if source == "built-in study":
    name = ui.pick("Study", list(builtin_studies()), "serving", "x_study")
    df, ledger, description, specs = run_builtin(name)
    st.caption(description)
else:
    up = st.file_uploader("results.csv or results.parquet", type=["csv", "parquet"], key="x_upload")
    if up is None:
        st.info("Upload a results file written by `glamsim study NAME --out DIR`.")
        st.stop()
    try:
        df = ui.read_results(up.getvalue(), up.name)
    except ConfigError as err:
        ui.show_error(err)
        st.stop()
    name = Path(up.name).stem

if specs:
    st.subheader("The study's figures")
    by_name = {s["name"]: s for s in specs}
    shown = ui.select("Figure", list(by_name), f"x_fig_{name}", format_func=lambda f: by_name[f]["title"] or f)
    ui.study_figure(by_name[shown], df)

numeric = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]
varying = [c for c in df.columns if c in INPUTS and df[c].nunique() > 1 and c != "scenario"]
outputs = [c for c in numeric if c not in INPUTS and df[c].notna().any()]
if not outputs:
    st.error(f"{name}: no numeric output columns to plot")
    st.stop()

st.subheader("Explore: your own chart")
first = next((s for s in specs if s["x"] in df.columns and s["kind"] in ("sweep", "bars")), None) or {}
xs = list(dict.fromkeys([*varying, *outputs]))
c = st.columns(3)
with c[0]:
    x = ui.select("x axis", xs, f"x_x_{name}", first.get("x"), format_func=ui.label)
first_y = [v for v in ([first["y"]] if isinstance(first.get("y"), str) else first.get("y") or []) if v in outputs]
with c[1]:
    y = ui.multiselect(
        "y axis (one panel each)",
        outputs,
        f"x_y_{name}",
        first_y or [o for o in outputs if o != x][:1],
        format_func=ui.label,
        max_selections=3,
    )
hues = [None, *(v for v in varying if v != x and df[v].nunique() <= 12)]
with c[2]:
    hue = ui.select(
        "colour by",
        hues,
        f"x_hue_{name}",
        first.get("hue"),
        format_func=lambda h: "(none)" if h is None else ui.label(h),
    )
candidates = [v for v in varying if v not in (x, hue)]
# the study figure's filters; in a one-at-a-time study, the rows that vary the input on the x axis
one_at_a_time = "varied" in df.columns and x in set(df["varied"])
default_where = first.get("where") or ({"varied": x} if one_at_a_time else {})
filters = ui.multiselect(
    "Keep only rows where…",
    candidates,
    f"x_filters_{name}",
    [k for k in default_where if k in candidates],
    format_func=ui.label,
)
where = {}
if filters:
    fc = st.columns(min(len(filters), 4))
    for i, col in enumerate(filters):
        values = list(dict.fromkeys(df[col].dropna()))
        default = default_where.get(col)
        with fc[i % len(fc)]:
            where[col] = ui.select(
                f"{ui.label(col)} =",
                values,
                f"x_where_{name}_{col}",
                default,
                format_func=lambda v, col=col: ui.value_text(col, v),
            )
if y:
    kind = "plot_sweep" if x in numeric else "plot_bars"
    baseline = first.get("baseline") if hue and hue == first.get("hue") else None
    ui.figure(
        kind, df, x=x, y=y, hue=hue, baseline=baseline, where=where, title=f"{name}: {', '.join(map(ui.label, y))}"
    )
else:
    st.info("Pick at least one quantity for the y axis.")

st.subheader(f"Results ({len(df):,} scenarios)")
st.dataframe(ui.formatted(df), hide_index=True, width="stretch", key="x_results")
st.caption("Numbers as read (parameters and tokens in B/T, chips as integers); the CSV holds them exact.")
c = st.columns(2)
c[0].download_button("Download CSV", df.to_csv(index=False), f"{name}-results.csv", "text/csv", key="x_csv")
if ledger:
    c[1].download_button(
        "Download ledger JSON",
        json.dumps(ledger, indent=2, default=str),
        f"{name}-ledger.json",
        "application/json",
        key="x_ledger",
    )
