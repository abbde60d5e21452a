"""Training what-if: a model (preset or edited) on a chip fleet in a datacenter, next to a dense baseline
and any other presets."""

import math
from functools import partial

import pandas as pd
import streamlit as st
import ui

from glamsim.config import ConfigError
from glamsim.cost import equivalents_sources, estimate_training, regions_rows
from glamsim.cost.measured import measured_inputs
from glamsim.cost.report import plain_statement
from glamsim.scenario import TrainingScenario

ui.page(
    "Training what-if",
    "How long, how much energy, carbon and money would training take? Pick a model (or edit one), the "
    "chips and the datacenter; the dense baseline and any model you add trains on the same chips, tokens "
    "and utilisation. Tick *uncertain inputs* to give low / nominal / high values: you get ranges and a "
    "sensitivity chart. The page's link keeps every setting.",
)

# Rows of the results table: labels and units come from the output registry (glamsim.outputs).
SHOWN = [
    "params_total",
    "params_active",
    "flops_total",
    "train_days",
    "compute_hours",
    "comm_hours",
    "comm_exposed_hours",
    "layout_comm_exposed_hours",
    "chip_hours",
    "mfu",
    "hfu",
    "energy_boards_mwh",
    "energy_server_mwh",
    "energy_mwh",
    "co2e_t",
    "cost_usd",
]
NAMES = {k: ui.label(k) for k in SHOWN}
SENSITIVITY = {"energy_mwh": "energy", "co2e_t": "CO2e", "cost_usd": "cost"}
CARDS = (
    ("train_days", "Training days"),
    ("chip_hours", "Chip-hours"),
    ("energy_mwh", "Energy, facility (MWh)"),
    ("co2e_t", "tCO2e (net)"),
    ("cost_usd", "Cost ($)"),
)
EDITABLE = {
    "n_layers": "layers",
    "d_model": "model width (d_model)",
    "n_heads": "attention heads",
    "d_ff": "FFN width (d_ff)",
    "n_experts": "experts per MoE layer (0 = dense)",
    "top_k": "experts per token (top-k)",
    "moe_every": "an MoE layer every N layers (0 = none)",
    "moe_offset": "first MoE layer (offset)",
}


# Scenario fields with a widget of their own (field: widget key, or its prefix); the "more inputs"
# expander offers every other field (`ui.scenario_inputs`).  None: set from the Measure page's record.
ON_PAGE = {
    "model": "t_model",
    "chip": "t_chip",
    "datacenter": "t_dc",
    "chips": "t_chips",
    "tokens": "t_tokens",
    "mfu": "t_mfu",
    "power_w": "t_power_",
    "price_per_chip_hour_usd": "t_price_",
    "comm_overlap": "t_overlap",
    "pue": "t_pue_",
    "carbon_intensity_kg_per_kwh": "t_ci_",
    "hw_flops_ratio": None,
    "measured": None,
}
MORE = [n for n in TrainingScenario.inputs() if n not in ON_PAGE]
LABELS = {  # widget labels of the fields the plausibility warnings name (the rest: *More inputs*' own)
    "tokens": "Training tokens (billions)",
    "power_w": "Power per chip (W)",
    "carbon_intensity_kg_per_kwh": "Carbon intensity (kgCO2e/kWh)",
}


MFU_MODES = {"predicted": "predicted from the layout", "typed": "typed MFU"}
TYPED_MFU = 0.3  # the typed MFU's starting value: GLaM's published run implies about 0.28 (glamsim reproduce)


def default(name: str):
    """The scenario's default: the same on this page, the Home page, the command line and the API."""
    return ui.scenario_default(TrainingScenario, name)


def hardware_ratio(c) -> tuple[dict, dict]:
    """The analytic hardware/model FLOPs ratio (expert capacity padding, router): sets the HFU."""
    return (
        {"hw_flops_ratio": c.flops_per_token_train_hardware / c.flops_per_token_train},
        {
            "hw_flops_ratio": f"glamsim.accounting: analytic hardware / model FLOPs of {c.model} "
            "(expert capacity padding, router, softmax)"
        },
    )


HFU_DEFINITION = (
    "HFU: the FLOPs the chips execute / (chips x time x dense peak). Expert capacity padding and recomputation "
    "raise it above the MFU; a causal attention kernel that skips the masked half of the scores (which the MFU "
    "counts whole) lowers it, so it can sit below the MFU."
)


def published_run(ledger) -> str | None:
    """The ledger's comparison with the published run of the same model and chip (a planned layout)."""
    try:
        return ledger["published_run"].source
    except KeyError:
        return None


def mfu_range_cards(values: dict, ledger) -> list[dict]:
    """The predicted MFU's range as cards: its ends (`mfu_low`, `mfu_high`) under the label the
    ledger gives it ("80% range", "95% range") and, on hover, what it rests on; and the training
    days at those ends (`train_days_at_mfu_high`, `..._at_mfu_low`), the other inputs nominal."""
    head, _, basis = ledger["mfu"].source.rpartition(" range from ")  # "...; 80% range from <basis>"
    level = head.rpartition("; ")[2]
    days = (ui.value_text("train_days", values[f"train_days_at_mfu_{end}"]) for end in ("high", "low"))
    return [
        dict(
            label=f"MFU, {level} range",
            value=f"{values['mfu_low']:.3f}–{values['mfu_high']:.3f}",
            help=f"From {basis}",
        ),
        dict(
            label=f"Days, MFU {level} range",
            value="–".join(days),
            help="Training days at the high and low ends of the MFU's range, every other input at its nominal value",
        ),
    ]


def prediction_panel(p: dict, name: str, chip, ledger, values: dict) -> None:
    """The predicted layout: MFU with its range and HFU (and the published run's MFU where one
    exists), memory per chip against the usable HBM, and the step's time."""
    st.subheader(f"Predicted layout of {name}")
    st.markdown(f"Layout: `{p['layout']}` (global batch {p['global_batch']:,} sequences)")
    published = published_run(ledger)
    ui.cards(
        [
            dict(label="Predicted MFU", value=f"{p['mfu']:.3f}"),
            *mfu_range_cards(values, ledger),
            *ui.published_mfu_cards(published),
            dict(label="Predicted HFU", value=f"{p['hfu']:.3f}", help=HFU_DEFINITION),
            dict(label="Step", value=f"{p['step_s']:.3g} s"),
        ]
    )
    if published:
        st.info(ui.md_cell(published[0].upper() + published[1:] + "."))
    memory = pd.DataFrame(
        [{"part": k, "bytes": v} for k, v in p["memory"].items() if k not in ("total", "usable", "shortfall")]
    )
    usable = p.get("usable_bytes") or p["memory"]["usable"]
    tight = "" if p["fits"] else " (tight)"
    if tight:
        st.warning(ui.md_cell(f"Memory: tight: {p['shortfall_message']}."))
    ui.figure(
        "plot_memory",
        memory,
        usable=usable,
        title=f"Memory per chip: {p['memory']['total'] / 1e9:.1f} GB of {usable / 1e9:.1f} GB usable on "
        f"{chip.name}{tight}",
    )
    ui.figure(
        "plot_breakdown",
        pd.DataFrame([{"part": k, "seconds": v} for k, v in p["breakdown"].items()]),
        title=f"Where a {p['step_s']:.3g} s step goes (exposed communication by kind, bubble, recomputation)",
    )
    st.caption(
        "glamsim.predict: compute by op class against the dense peak (a documented matmul-efficiency "
        "model), communication per parallel dimension over the link tier it crosses, the pipeline bubble; "
        "constants in glamsim/predict/efficiency.py, validated in `glamsim reproduce`."
    )


@st.cache_data(show_spinner=False, max_entries=64)
def fitting_layouts(model: str, chip: str, chips: int, seq_len, software, dirs: tuple) -> pd.DataFrame:
    """The ranked layouts that fit (`glamsim.api.layouts`, what `glamsim plan` prints) with the
    software keys under *More inputs*, cached: the search runs once per model, chip, fleet and
    software, not on every widget change."""
    import glamsim.api as gs

    return gs.layouts(model, chip, chips, seq_len=seq_len, top=8, software=software, profiles_dirs=dirs)


def _use_layout(layout: str) -> None:
    """The picked layout (it names its software keys) replaces any under *More inputs*."""
    ui.set_state("t_layout", layout, in_callback=True)
    ui.set_state("t_software", "", in_callback=True)
    ui.set_state("t_mfu_mode", "predicted", in_callback=True)


def layouts_view(models: dict, main: str, chip_name: str, n_chips: int, seq_len, software) -> None:
    """Layouts that fit, for every model on the page: one tab each, ranked by predicted step time,
    with memory per chip and where the step's time goes; the main model's can be picked for use."""
    st.subheader(f"Layouts that fit on {n_chips:,} x {chip_name}")
    st.caption(
        "glamsim.predict's search (as `glamsim plan`): every layout whose memory per chip fits, ranked by "
        "predicted step time, then any *tight* one (counted over the usable HBM by less than the count's error "
        "on published peaks: it may run out of memory). Memory in GB per chip; time parts as shares of the step."
    )
    tabs = st.tabs(list(models))
    for tab, (name, cfg) in zip(tabs, models.items()):
        with tab:
            try:
                df = fitting_layouts(
                    ui.model_arg(cfg.name) if cfg == ui.models().get(cfg.name) else cfg,
                    ui.profile_arg("chips", chip_name),
                    int(n_chips),
                    seq_len,
                    software,
                    ui.profiles_dirs(),
                )
            except ConfigError as err:
                ui.show_error(err)
                continue
            shown = pd.DataFrame(
                {
                    "#": df["rank"],
                    "layout": df["layout"],
                    "step (s)": df["step_s"].map(lambda v: f"{v:.3g}"),
                    f"MFU ({df['mfu_range'].iloc[0]} range)": [
                        f"{m:.3f} ({lo:.2f}-{hi:.2f})" for m, lo, hi in zip(df["mfu"], df["mfu_low"], df["mfu_high"])
                    ],
                    "HFU": df["hfu"].map(lambda v: f"{v:.3f}"),
                    "memory per chip (GB)": [
                        f"{t / 1e9:.1f} of {u / 1e9:.1f}" + ("" if fit else " (tight)")
                        for t, u, fit in zip(df["mem_total"], df["usable_bytes"], df["fits"])
                    ],
                    **{
                        f"{k.removeprefix('mem_')} (GB)": df[k].map(lambda v: f"{v / 1e9:.1f}")
                        for k in ("mem_weights", "mem_gradients", "mem_optimizer", "mem_activations")
                    },
                    **{
                        k.removeprefix("time_").removesuffix("_s").replace("_exposed", " comm"): [
                            f"{v / s:.0%}" for v, s in zip(df[k], df["step_s"])
                        ]
                        for k in df.columns
                        if k.startswith("time_") and df[k].abs().sum() > 0
                    },
                }
            )
            ui.show_table(shown, f"t_layouts_{name}")
            st.caption(f"MFU range: {df['mfu_basis'].iloc[0]}.")
            if name == main:
                pick = ui.select("Layout to use", list(df["layout"]), "t_layout_pick")
                st.button(
                    "Use this layout for the estimate above",
                    key="t_layout_use",
                    on_click=_use_layout,
                    args=(pick,),
                    help="Sets *layout* under More inputs (MFU predicted from it).",
                )


left, right = st.columns([1, 2], gap="large")
with left:
    st.subheader("Model")
    ui.model_upload("t_model_file", target="t_model")
    base_cfg = ui.pick_model("Model", default("model"), "t_model")
    with st.expander("Edit the architecture"):
        edits = {
            f: ui.number(
                lbl,
                f"t_{f}_{base_cfg.name}",
                int(getattr(base_cfg, f)),
                step=1,
                min_value=0 if f in ("n_experts", "top_k", "moe_every", "moe_offset") else 1,
            )
            for f, lbl in EDITABLE.items()
        }
        edits["capacity_factor"] = ui.number(
            "expert capacity factor",
            f"t_capacity_factor_{base_cfg.name}",
            float(base_cfg.capacity_factor),
            min_value=0.1,
            step=0.25,
            help=(
                "Expert buffer slots per routed token (GShard; 2.0 for top-2). Padding costs hardware FLOPs, "
                "not model FLOPs: it moves the HFU, not the MFU-based time."
            ),
        )
        st.caption("0 experts makes the model dense (no top-k, no MoE layers), like its `-dense` twin.")
    baseline_cfg = ui.pick_model("Dense baseline", "gpt3-175b", "t_baseline")
    others = ui.multiselect(
        "Compare also (any number of models)",
        list(ui.models()),
        "t_compare",
        help="Each trains on the same chips, tokens and utilisation; one column each below.",
    )
    tokens = 1e9 * ui.number(
        LABELS["tokens"],
        "t_tokens",
        default("tokens") / 1e9,
        min_value=0.001,
        step=50.0,
        help="GLaM 64B/64E trained on 600B tokens; GPT-3 on 300B.",
    )

    st.subheader("Hardware")
    chips_reg = ui.profiles("chips")
    chip_name = ui.pick("Chip", list(chips_reg), default("chip"), "t_chip")
    chip = chips_reg[chip_name]
    n_chips = ui.number("Chips", "t_chips", default("chips"), min_value=1, step=64)
    ranged = ui.check(
        "Uncertain inputs", "t_ranged", help="Give low / nominal / high values: ranges and a sensitivity chart."
    )
    mode = ui.radio(
        "Utilisation",
        list(MFU_MODES),
        "t_mfu_mode",
        horizontal=True,
        format_func=MFU_MODES.get,
        help="Predicted: glamsim.predict lays the model out over the chips (the fastest layout that fits, "
        "or the one under *More inputs*) and predicts its MFU. Typed: your own MFU.",
    )
    mfu, mfu_src = ui.uncertain(
        "Model FLOPs utilisation (MFU), when typed",
        "t_mfu",
        TYPED_MFU,
        ranged=ranged,
        step=0.05,
        min_value=0.01,
        max_value=1.0,
        help="Model FLOPs / (chips x time x dense peak). GLaM's run implies about 0.28.",
    )
    measured = st.session_state.get(ui.MEASUREMENT_KEY)
    use_measured = measured is not None and ui.check(
        f"Use the measured run ({measured.model}, {measured.device_kind})",
        ui.USE_MEASUREMENT_KEY,
        help="From the *Measure here* page: its hardware/model FLOPs ratio, and its MFU if it ran on this chip.",
    )
    defaults = ui.profile_defaults(chip)
    power, power_src = ui.uncertain(
        LABELS["power_w"],
        f"t_power_{chip_name}",
        *defaults["power_w"],
        ranged=ranged,
        step=10.0,
        min_value=1.0,
        help="Default: the profile's measured system power, else board power at the load plus host share "
        "(empty: follows the load).",
    )
    price, price_src = ui.uncertain(
        "Price per chip-hour ($)",
        f"t_price_{chip_name}",
        *defaults["price_per_chip_hour_usd"],
        ranged=ranged,
        step=0.25,
        min_value=0.0,
    )
    overlap = ui.slider(
        "Communication hidden behind compute",
        0.0,
        1.0,
        default("comm_overlap"),
        0.05,
        "t_overlap",
        help=(
            "Share of the expert all-to-alls and gradient all-reduce (timed on the chip's interconnect) that "
            "overlaps compute. 1: none added to the training time (a published MFU already includes stalls); "
            "0: all of it added."
        ),
    )

    st.subheader("Datacenter")
    dcs = ui.profiles("datacenters")
    dc_name = ui.pick_datacenter("Datacenter", dcs, default("datacenter"), "t_dc")
    dc = dcs[dc_name]
    dc_defaults = ui.profile_defaults(datacenter=dc)
    pue, pue_src = ui.uncertain("PUE", f"t_pue_{dc_name}", *dc_defaults["pue"], ranged=ranged, step=0.05, min_value=1.0)
    ci, ci_src = ui.uncertain(
        LABELS["carbon_intensity_kg_per_kwh"],
        f"t_ci_{dc_name}",
        *dc_defaults["carbon_intensity_kg_per_kwh"],
        ranged=ranged,
        step=0.05,
        min_value=0.0,
    )
    with st.expander("More inputs (context, known hours or FLOPs, layout, precision)"):
        more = ui.scenario_inputs(TrainingScenario, MORE, "t")
        if "hours" in more:
            st.caption("Known hours given: the MFU follows from them (the MFU input is not used).")

changes = {k: v for k, v in edits.items() if v != getattr(base_cfg, k)}


@st.cache_data(show_spinner=False, max_entries=32)
def regions(flops: float, chip, chips: int, hours: float, power_w: float) -> tuple[pd.DataFrame, str]:
    """The rows `glamsim estimate train --regions` prints for this run, and the equivalents' sources,
    cached by the run (a change of PUE or grid on the left reuses them)."""
    import glamsim.api as gs

    with ui.slips_shown_on_page():
        df = gs.regions(train_flops=flops, chip=chip, chips=chips, hours=hours, power_w=power_w)
    return pd.DataFrame(regions_rows(df)), equivalents_sources(df.attrs["equivalents"])


def regions_view(est, name: str, chip, n_chips: int) -> None:
    """The same run (its FLOPs, chips, hours and power per chip) in every datacenter profile, lowest
    carbon first, with everyday equivalents; each equivalent's rate and source below (the table of
    `glamsim estimate train --regions`, from the same rows)."""
    st.subheader(f"{name}: the same run's carbon in every region")
    hours, power = est.train_hours, est.ledger["power_w"].value
    rows, sources = regions(est.flops_total, chip, n_chips, hours, power)
    ui.show_table(rows, "t_regions", wrap=True)
    st.caption(
        f"{hours:,.0f} h on {n_chips:,} chips at {power:g} W each in every datacenter profile: the energy differs by "
        "the PUE, the carbon by the PUE and the grid. " + sources
    )


estimate = partial(estimate_training, profiles_dirs=ui.profiles_dirs())
with right:
    try:
        cfg = ui.dense_if_no_experts(base_cfg, changes)
        edited = ", ".join(f"{k}={v:g}" for k, v in changes.items()) + (
            ": dense" if cfg.is_moe != base_cfg.is_moe else ""
        )
        names = {"model": f"{cfg.name} ({edited})" if changes else cfg.name, "baseline": baseline_cfg.name}
        if names["model"] == names["baseline"]:
            names["baseline"] += " (baseline)"
        models = {names["model"]: cfg, names["baseline"]: baseline_cfg}
        models |= {n: ui.models()[n] for n in others if n not in models}
        ui.share_models([m.name for m in models.values()])
        given = {
            "chip": ui.profile_field("chips", chip_name, chip),
            "chips": n_chips,
            "datacenter": ui.profile_field("datacenters", dc_name, dc),
            "tokens": tokens,
            "comm_overlap": overlap,
            **more,
        }
        sources = {k: "dashboard input" for k in given}
        for name, (value, src) in {
            "mfu": (mfu, mfu_src),
            "power_w": (power, power_src),
            "price_per_chip_hour_usd": (price, price_src),
            "pue": (pue, pue_src),
            "carbon_intensity_kg_per_kwh": (ci, ci_src),
        }.items():
            if value is not None and not (name == "mfu" and ("hours" in more or mode == "predicted")):
                given[name], sources[name] = value, src
        if mode == "typed" or "hours" in more:  # statements, not a tuple: Streamlit's magic would print it
            for k in ("layout", "software", "global_batch"):
                given.pop(k, None)
        counts = {n: ui.model_counts(m) for n, m in models.items()}
        # one HFU per run: a predicted layout's own (its executed FLOPs), else the analytic ratio
        predicting = mode == "predicted" and "hours" not in more
        extra = {n: ({}, {}) if predicting else hardware_ratio(c) for n, c in counts.items()}
        if use_measured:
            got, got_sources, note = measured_inputs(measured, chip, "dashboard Measure page")
            st.info(note)
            extra[names["model"]] = (got, got_sources)
        own = {"layout", "global_batch"}  # a typed layout is the model's; the others get their fastest
        ests = {
            n: estimate(
                TrainingScenario.build(
                    {
                        **{k: v for k, v in given.items() if n == names["model"] or k not in own},
                        "model": m if changes and n == names["model"] else ui.model_field(m.name, m),
                        **extra[n][0],
                        "sources": {**sources, **extra[n][1]},
                    },
                    "training what-if",
                )
            )
            for n, m in models.items()
        }
        ranges = {n: e.ranges for n, e in ests.items()} if ranged else {}
    except ConfigError as err:
        ui.show_error(err)
        st.stop()

    est, base = ests[names["model"]], ests[names["baseline"]]
    values = {
        n: {
            **e.to_dict(),
            "params_total": counts[n].params_total,
            "params_active": counts[n].params_active,
        }
        for n, e in ests.items()
    }
    st.subheader(f"{names['model']} vs {baseline_cfg.name} on {n_chips:,} x {chip_name}")
    ui.plausibility_warnings(given, {n: ui.field_label(TrainingScenario, n) for n in MORE} | LABELS)
    no_price = not math.isfinite(est.cost_usd)
    ui.cards(
        [
            dict(
                label=text,
                value="n/a" if q == "cost_usd" and no_price else ui.value_text(q, getattr(est, q)),
                delta=ui.vs(getattr(est, q), getattr(base, q)),
                delta_color="inverse",
                help=f"{NAMES.get(q, ui.label(q))} of {cfg.name}; the arrow: change against the baseline "
                f"{baseline_cfg.name}",
            )
            for q, text in CARDS
        ]
    )
    if no_price:
        st.info(f"Cost: {ui.NO_PRICE} under *Price per chip-hour* ({chip_name}).")
    st.caption(f"Under each figure: the change against the dense baseline {baseline_cfg.name}.")
    table = ui.results_table(values, NAMES, ranges)
    ui.show_table(table, "t_table")
    if ranges:
        st.caption(
            "In brackets: low – high, the extremes over every combination of the uncertain inputs' low and high values."
        )
    st.caption(
        (
            "Communication, with a predicted layout: what that layout exposes (its step-time chart below), already "
            "inside the predicted MFU and the training time; the rest overlaps compute. "
            if any(e.prediction for e in ests.values())
            else ""
        )
        + HFU_DEFINITION
    )

    if est.prediction:
        prediction_panel(est.prediction, names["model"], chip, est.ledger, est.to_dict())
    if ui.check("Show the layouts that fit, for every model", "t_show_layouts"):
        layouts_view(models, names["model"], chip_name, n_chips, more.get("seq_len"), more.get("software"))

    if ui.check("Show this run's carbon in every region", "t_show_regions"):
        regions_view(est, names["model"], given["chip"], n_chips)

    if not est.tornado:
        st.caption("Tick *Uncertain inputs* on the left for low/high ranges and a chart of what moves the result.")
    else:
        outs = [q for q in SENSITIVITY if not (q == "cost_usd" and no_price)]
        out = ui.radio("Sensitivity of", outs, "t_tornado_out", horizontal=True, format_func=SENSITIVITY.get)
        ui.figure(
            "plot_tornado",
            pd.DataFrame(est.tornado),
            output=out,
            base=getattr(est, out),
            title=f"What moves the {SENSITIVITY[out]} of training {cfg.name}",
        )
    statement = ui.statement_box(
        {n: plain_statement(e, model=models[n].name, chip=chip_name, datacenter=dc_name) for n, e in ests.items()}
    )
    scenarios = {n: ui.scenario_of(e) for n, e in ests.items()}
    ui.downloads(
        "training-estimate",
        table,
        {n: {"name": models[n].name, **v} for n, v in values.items()},
        statement,
        scenarios=scenarios,
    )
    ui.saved_scenarios("training", scenarios)
    for n, e in ests.items():
        ui.ledger_box(e.ledger.to_list(), f"Ledger of {n}: every input and its source")
