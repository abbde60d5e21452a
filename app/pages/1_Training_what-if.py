"""Training what-if: a model (preset or edited) on a chip fleet in a datacenter, next to a dense baseline."""

import pandas as pd
import streamlit as st

import ui
from glamsim.accounting import count
from glamsim.config import ConfigError
from glamsim.cost import estimate_training
from glamsim.cost.measured import measured_inputs
from glamsim.cost.report import plain_statement
from glamsim.scenario import TrainingScenario

ui.page("Training what-if",
        "How long, how much energy, carbon and money would training take? Pick a model (or edit one), the "
        "chips and the datacenter; the dense baseline trains on the same chips, tokens and utilisation. "
        "Tick *uncertain inputs* to give low / nominal / high values: you get ranges and a sensitivity chart.")

# Rows of the results table: labels and units come from the output registry (glamsim.outputs).
SHOWN = ["params_total", "params_active", "flops_total", "train_days", "compute_hours", "comm_hours",
         "comm_exposed_hours", "chip_hours", "mfu", "hfu", "energy_mwh", "co2e_t", "cost_usd"]
NAMES = {k: ui.label(k) for k in SHOWN}
EDITABLE = {"n_layers": "layers", "d_model": "d_model", "n_heads": "attention heads", "d_ff": "FFN width (d_ff)",
            "n_experts": "experts per MoE layer (0 = dense)", "top_k": "experts per token (top-k)",
            "moe_every": "an MoE layer every N layers (0 = none)", "moe_offset": "first MoE layer (offset)"}


# Scenario fields with a widget of their own (field: widget key, or its prefix); the "more inputs"
# expander offers every other field (`ui.scenario_inputs`).  None: set from the Measure page's record.
ON_PAGE = {"model": "t_model", "chip": "t_chip", "datacenter": "t_dc", "chips": "t_chips", "tokens": "t_tokens",
           "mfu": "t_mfu", "power_w": "t_power_", "price_per_chip_hour_usd": "t_price_", "comm_overlap": "t_overlap",
           "pue": "t_pue_", "carbon_intensity_kg_per_kwh": "t_ci_", "hw_flops_ratio": None, "measured": None}
MORE = [n for n in TrainingScenario.inputs() if n not in ON_PAGE]


def hardware_ratio(c) -> tuple[dict, dict]:
    """The analytic hardware/model FLOPs ratio (expert capacity padding, router): sets the HFU."""
    return ({"hw_flops_ratio": c.flops_per_token_train_hardware / c.flops_per_token_train},
            {"hw_flops_ratio": f"glamsim.accounting: analytic hardware / model FLOPs of {c.model} "
                               "(expert capacity padding, router, softmax)"})




left, right = st.columns([1, 2], gap="large")
with left:
    st.subheader("Model")
    base_cfg = ui.pick_model("Model", "glam-64b-64e", "t_model")
    with st.expander("Edit the architecture"):
        edits = {f: st.number_input(lbl, min_value=0 if f in ("n_experts", "top_k", "moe_every", "moe_offset") else 1,
                                    value=int(getattr(base_cfg, f)), step=1, key=f"t_{f}_{base_cfg.name}")
                 for f, lbl in EDITABLE.items()}
        edits["capacity_factor"] = st.number_input("expert capacity factor", min_value=0.1, help=(
            "Expert buffer slots per routed token (GShard; 2.0 for top-2). Padding costs hardware FLOPs, "
            "not model FLOPs: it moves the HFU, not the MFU-based time."),
                                                   value=float(base_cfg.capacity_factor), step=0.25,
                                                   key=f"t_capacity_factor_{base_cfg.name}")
    baseline_cfg = ui.pick_model("Dense baseline", "gpt3-175b", "t_baseline")
    tokens = 1e9 * st.number_input("Training tokens (billions)", min_value=0.001, value=600.0, step=50.0,
                                   key="t_tokens", help="GLaM 64B/64E trained on 600B tokens; GPT-3 on 300B.")

    st.subheader("Hardware")
    chips_reg = ui.profiles("chips")
    chip_name = ui.pick("Chip", list(chips_reg), "tpu-v4", "t_chip")
    chip = chips_reg[chip_name]
    n_chips = st.number_input("Chips", min_value=1, value=1024, step=64, key="t_chips")
    ranged = st.checkbox("Uncertain inputs (low / nominal / high)", key="t_ranged")
    mfu, mfu_src = ui.uncertain("Model FLOPs utilisation (MFU)", "t_mfu", 0.3, ranged=ranged, step=0.05,
                                min_value=0.01, max_value=1.0,
                                help="Model FLOPs / (chips x time x dense peak). GLaM's run implies about 0.28.")
    measured = st.session_state.get(ui.MEASUREMENT_KEY)
    use_measured = measured is not None and st.checkbox(
        f"Use the measured run ({measured.model}, {measured.device_kind})", key=ui.USE_MEASUREMENT_KEY,
        help="From the *Measure here* page: its hardware/model FLOPs ratio, and its MFU if it ran on this chip.")
    defaults = ui.profile_defaults(chip)
    power, power_src = ui.uncertain("Power per chip (W)", f"t_power_{chip_name}", *defaults["power_w"],
                                    ranged=ranged, step=10.0, min_value=1.0,
                                    help="Default: the profile's measured system power, else its TDP.")
    price, price_src = ui.uncertain("Price per chip-hour ($)", f"t_price_{chip_name}",
                                    *defaults["price_per_chip_hour_usd"], ranged=ranged, step=0.25, min_value=0.0)
    overlap = st.slider("Communication hidden behind compute", 0.0, 1.0, 1.0, 0.05, key="t_overlap", help=(
        "Share of the expert all-to-alls and gradient all-reduce (timed on the chip's interconnect) that "
        "overlaps compute. 1: none added to the training time (a published MFU already includes stalls); "
        "0: all of it added."))

    st.subheader("Datacenter")
    dcs = ui.profiles("datacenters")
    dc_name = ui.pick("Datacenter", list(dcs), "glam-google-oklahoma", "t_dc")
    dc = dcs[dc_name]
    dc_defaults = ui.profile_defaults(datacenter=dc)
    pue, pue_src = ui.uncertain("PUE", f"t_pue_{dc_name}", *dc_defaults["pue"], ranged=ranged, step=0.05,
                                min_value=1.0)
    ci, ci_src = ui.uncertain("Carbon intensity (kgCO2e/kWh)", f"t_ci_{dc_name}",
                              *dc_defaults["carbon_intensity_kg_per_kwh"], ranged=ranged, step=0.05, min_value=0.0)
    with st.expander("More inputs (context, known hours or FLOPs, layout, precision)"):
        more = ui.scenario_inputs(TrainingScenario, MORE, "t")

changes = {k: v for k, v in edits.items() if v != getattr(base_cfg, k)}
with right:
    try:
        cfg = base_cfg.replace(**changes) if changes else base_cfg
        given = {"chip": chip, "chips": n_chips, "datacenter": dc, "tokens": tokens, "comm_overlap": overlap,
                 **more}
        sources = {k: "dashboard input" for k in given}
        for name, (value, src) in {"mfu": (mfu, mfu_src), "power_w": (power, power_src),
                                   "price_per_chip_hour_usd": (price, price_src), "pue": (pue, pue_src),
                                   "carbon_intensity_kg_per_kwh": (ci, ci_src)}.items():
            if value is not None:
                given[name], sources[name] = value, src
        counts = {"model": count(cfg), "baseline": count(baseline_cfg)}
        extra = {k: hardware_ratio(c) for k, c in counts.items()}
        if use_measured:
            got, got_sources, note = measured_inputs(measured, chip, "dashboard Measure page")
            st.info(note)
            extra["model"] = (got, got_sources)
        est, base = (estimate_training(TrainingScenario.build(
            {**given, "model": m, **extra[k][0], "sources": {**sources, **extra[k][1]}}, "training what-if"))
            for k, m in (("model", cfg), ("baseline", baseline_cfg)))
    except ConfigError as err:
        ui.show_error(err)
        st.stop()

    edited = ", ".join(f"{k}={v:g}" for k, v in changes.items())
    names = {"model": f"{cfg.name} ({edited})" if changes else cfg.name, "baseline": baseline_cfg.name}
    if names["model"] == names["baseline"]:
        names["baseline"] += " (baseline)"
    values = {k: {**e.to_dict(), "params_total": counts[k].params_total, "params_active": counts[k].params_active}
              for k, e in (("model", est), ("baseline", base))}
    st.subheader(f"{names['model']} vs {baseline_cfg.name} on {n_chips:,} x {chip_name}")
    cols = st.columns(5)
    for col, (q, lbl) in zip(cols, (("train_days", "Training days"), ("chip_hours", "Chip-hours"),
                                    ("energy_mwh", "Energy (MWh)"), ("co2e_t", "tCO2e (net)"),
                                    ("cost_usd", "Cost ($)"))):
        col.metric(lbl, ui.fmt(values["model"][q]), delta=ui.vs(values["model"][q], values["baseline"][q]),
                   delta_color="inverse", help=f"{NAMES[q]} of {cfg.name}; the arrow: change against the baseline {baseline_cfg.name}")
    st.caption(f"Under each figure: the change against the dense baseline {baseline_cfg.name}.")
    table = ui.results_table({names[k]: values[k] for k in names}, NAMES,
                             {names["model"]: est.ranges, names["baseline"]: base.ranges})
    ui.show_table(table, "t_table")
    if est.ranges:
        st.caption("low / high: the extremes over every combination of the uncertain inputs' low and high values.")

    if not est.tornado:
        st.caption("Tick *Uncertain inputs* on the left for low/high ranges and a chart of what moves the result.")
    else:
        out = st.radio("Sensitivity of", ["energy_mwh", "cost_usd"], horizontal=True, key="t_tornado_out",
                       format_func=lambda q: {"energy_mwh": "energy", "cost_usd": "cost"}[q])
        ui.figure("plot_tornado", pd.DataFrame(est.tornado), output=out, base=getattr(est, out),
                  title=f"What moves the {'energy' if out == 'energy_mwh' else 'cost'} of training {cfg.name}")
    statement = ui.statement_box({names[k]: plain_statement(e, model=m.name, chip=chip_name, datacenter=dc_name)
                                  for k, e, m in (("model", est, cfg), ("baseline", base, baseline_cfg))})
    ui.downloads("training-estimate", table, {"model": {"name": cfg.name, **values["model"]},
                                              "baseline": {"name": baseline_cfg.name, **values["baseline"]}},
                 statement)
    ui.ledger_box(est.ledger.to_list(), f"Ledger of {cfg.name}: every input and its source")
    ui.ledger_box(base.ledger.to_list(), f"Ledger of {baseline_cfg.name}")
