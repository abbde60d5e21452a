"""Paper check: the GLaM paper's published efficiency figures next to what glamsim computes from them."""

import pandas as pd
import streamlit as st
import ui

from glamsim.accounting import published_deltas
from glamsim.config import model_presets
from glamsim.cost.reproduce import reproduce

ui.page(
    "Paper check",
    "Does glamsim reproduce the GLaM paper (Du et al. 2022)? Each row takes the *published inputs* of a "
    "training run (chips, hours, tokens, measured power, PUE, carbon intensity) and recomputes a published "
    "figure with the same cost model the other pages use. *rel. error* = glamsim / published − 1; a row "
    "passes when the error is within its tolerance. Rows without a published value are implied figures.",
)


@st.cache_data(show_spinner="Recomputing the published runs…")
def checks() -> pd.DataFrame:
    return pd.DataFrame(reproduce())


@st.cache_data(show_spinner=False)
def deltas() -> pd.DataFrame:
    df = pd.DataFrame([published_deltas(c) for c in model_presets().values()])
    pct = [c for c in df.columns if c.endswith("_delta")]
    df[pct] = df[pct].map(lambda d: None if pd.isna(d) else f"{100 * d:+.2f}%")
    return df


def published(value) -> bool:
    return value is not None and not pd.isna(value)


rows = checks()
checked = rows[[published(p) for p in rows["published"]]]
passed = int(checked["ok"].sum())
st.metric(
    "Checks within tolerance",
    f"{passed} of {len(checked)}",
    help=f"rows with a published value; {len(rows) - len(checked)} more rows show implied figures",
)
shown = rows.assign(
    rel_error=[None if e is None or pd.isna(e) else f"{100 * e:+.2f}%" for e in rows["rel_error"]],
    tolerance=rows["tolerance_label"],
    extrapolates=["; ".join(x) for x in rows["extrapolates"]],
    ok=["-" if not published(p) else "yes" if ok else "NO" for p, ok in zip(rows["published"], rows["ok"])],
)
ui.plain_table(
    shown[
        ["check", "published", "glamsim", "rel_error", "tolerance", "ok", "boundary", "source", "note", "extrapolates"]
    ],
    "check",
)
st.caption(
    "*boundary*: energy and carbon rows are on the facility boundary (the run's measured system power per chip, "
    "with its host share, times chip-hours and the datacenter's PUE); glamsim's estimates give boards, server "
    "and facility separately."
)
st.caption('*ok* is "-" where the paper publishes no value to check against (an implied figure).')
st.caption(
    "The last four rows check the shipped scaling laws at equal quality (Chinchilla's optimum at Gopher's budget, "
    "GLaM against GPT-3, Switch against T5); a tolerance of ×/÷2 means glamsim / published between 1/2 and 2 "
    "(laws fitted on other data agree in order of magnitude); *extrapolates* names the sizes outside a law's fit."
)
ui.downloads(
    "paper-check",
    rows,
    {"checks": rows.to_dict(orient="records")},
    "\n".join(
        f"{r['check']}: published {ui.fmt(r['published'])}, glamsim {ui.fmt(r['glamsim'])} ({r['source']})"
        for r in rows.to_dict(orient="records")
    ),
    json_label="JSON + sources",
)

st.subheader("Parameter counts of every preset against the paper")
st.caption(
    "glamsim's analytic count of each architecture next to the published total and activated parameters "
    "(Du et al. 2022, Table 4 for GLaM; Brown et al. 2020 for GPT-3). The smaller GLaM rows do not all "
    "follow from one formula: the deltas are shown, not tuned away."
)
ui.show_table(deltas(), "p_params")

st.subheader("The step-time predictor against published training runs")


@st.cache_data(show_spinner="Predicting the published runs…")
def predictions() -> pd.DataFrame:
    import glamsim.api as gs

    return gs.validation()


pred = predictions()
st.caption(
    f"{len(pred)} published runs from {pred['family'].nunique()} sources and {pred['stack'].nunique()} software "
    "stacks, each predicted from its published (or labelled assumed) layout (`glamsim validate-predictions`). "
    "The interval of each row comes from the errors on the *other* sources' rows (their dense rows, and an MoE "
    "row's routing class; 80%, 95% far from what was "
    "validated: a stack with few rows, a chip or an expert count no other source ran; an MoE row's also spans "
    "the other sources' MoE rows of its stack and routing, a GPU row at 32K tokens or more the other sources' "
    "long-context GPU rows); "
    f"{int(pred['covered'].sum())} of {len(pred)} published figures fall inside theirs. *memory* is the fit "
    "verdict of the predictor's memory count: *tight* where it counts the layout over the usable HBM by less "
    "than its own error on published peaks (the run ran; see docs/prediction.md); "
    "*note* says what else is known of a row (e.g. a figure its publisher files as a regression)."
)
ui.plain_table(
    pred.assign(
        interval=[
            f"{ui.fmt(lo)}–{ui.fmt(hi)} ({label})" for lo, hi, label in zip(pred["low"], pred["high"], pred["range"])
        ],
        error=[f"{100 * e:+.1f}%" for e in pred["rel_error"]],
        note=pred["note"].fillna(""),
        memory=pred["memory_verdict"],
    )[["id", "family", "stack", "quantity", "published", "predicted", "interval", "error", "memory", "source", "note"]],
    "id",
)

run = st.selectbox(
    "One run in detail (`glamsim validate-predictions --run ID`)",
    pred["id"],
    key="p_run",
    help="its layout as predicted and where the layout comes from, the predicted step time by item, "
    "the memory per chip against the usable HBM",
)
row = pred.set_index("id").loc[run]
step = row["step_s"]
st.markdown(
    f"**{ui.md_cell(row['run'])}**: published {ui.fmt(row['published'])}, predicted {ui.fmt(row['predicted'])} "
    f"({100 * row['rel_error']:+.1f}%, {'within' if row['ok'] else 'outside'} its ±{100 * row['tolerance']:.0f}%; "
    f"interval {ui.fmt(row['low'])}–{ui.fmt(row['high'])}, {row['range']}, "
    f"{'covering' if row['covered'] else 'missing'} the published figure) on "
    f"{row['chips']:,} × {row['chip']} at {row['seq_len']:,} tokens"
    + "".join(
        f" ({label}: {own})"
        for label, own in (("server or slice", row["own_server"]), ("network between servers", row["own_network"]))
        if isinstance(own, str)
    )
    + f"; predicted MFU {100 * row['mfu']:.1f}%, "
    f"HFU {100 * row['hfu']:.1f}%, step {step:.4g} s; layout as predicted `{row['layout']}`"
    + (
        ""
        if row["fits"]
        else f"; {row['memory_verdict']}: {row['shortfall_message']}; the time predicted for the layout as published"
    )
)
st.caption(f"Layout: {ui.md_cell(row['layout_source'])}")
if row["publisher_regression"]:
    st.caption(f"Its publisher's regression report (kept, counted): {ui.md_cell(row['publisher_regression'])}")
ui.plain_table(
    pd.DataFrame(
        [
            {"item": k.removesuffix("_s").replace("_", " "), "seconds": f"{v:.4g}", "share": f"{100 * v / step:.1f}%"}
            for k, v in row["breakdown"].items()
        ]
    ),
    "item",
)
ui.plain_table(
    pd.DataFrame(
        [
            {"memory per chip": k, "GB": f"{row['memory'][k] / 1e9:.1f}"}
            for k in ("weights", "gradients", "optimizer", "activations", "logits", "total", "usable")
        ]
    ),
    "memory per chip",
)
