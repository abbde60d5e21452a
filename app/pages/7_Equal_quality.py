"""Equal quality: the compute-optimal dense model and the compute-optimal MoE per expert count that reach
one quality target, with training and lifetime serving cost and where the cheaper option switches."""

import pandas as pd
import streamlit as st
import ui

import glamsim.api as gs
from glamsim.config import ConfigError
from glamsim.cost import QualityScenario

ui.page(
    "Equal quality",
    "Which model reaches a quality target for the least energy, carbon and dollars: a dense one or a mixture "
    "of experts, and with how many experts? Published scaling laws (Hoffmann et al. 2022 for dense models, "
    "Clark et al. 2022 for routed ones) give the compute-optimal model of each kind at the same loss; each "
    "becomes a GLaM-family model with a training and a serving estimate. MoEs train for less compute but hold "
    "every expert in memory when serving: past the *crossover* in served tokens the dense model is cheaper over "
    "its life. The page's link keeps every setting.",
)

# Scenario fields with a widget of their own (field: widget key); the "more inputs" expander builds the
# numeric rest from their metadata (`ui.scenario_inputs`).
ON_PAGE = {
    "target_loss": "q_target_loss",
    "as_good_as": "q_as_good_as",
    "tokens": "q_tokens",
    "experts": "q_experts",
    "served_tokens": "q_served_tokens",
    "chip": "q_chip",
    "datacenter": "q_dc",
    "dense_law": "q_dense_law",
    "routed_law": "q_routed_law",
    "spread_laws": "q_spread_laws",
    "template": "q_template",
    "standard_errors": "q_standard_errors",
}
MORE = [n for n in QualityScenario.inputs() if n not in ON_PAGE]  # top_k, chips, mfu, batch
LABELS = {n: ui.field_label(QualityScenario, n) for n in MORE} | {"tokens": "Its training tokens"}  # by field
EXPERT_CHOICES = [4, 8, 16, 32, 64, 128, 256, 512]
NAMES = {  # rows of the options table: key -> label with unit
    "n_layers": "layers",
    "d_model": "model width (d_model)",
    "params_active": "parameters activated per token",
    "params_total": "parameters (total)",
    "tokens": "training tokens",
    "law_compute_flops": "training compute, 6ND (FLOPs)",
    "mfu": "MFU",
    "train_days": "training time (days)",
    "train_energy_mwh": "training energy (MWh)",
    "train_co2e_t": "training tCO2e",
    "train_cost_usd": "training cost (USD)",
    "serve_usd_per_million_tokens": "serving cost (USD per million tokens)",
    "serve_joules_per_token": "serving energy (J per token)",
    "serve_cost_usd": "serving cost over the served tokens (USD)",
    "total_cost_usd": "lifetime cost (USD)",
    "total_energy_mwh": "lifetime energy (MWh)",
    "total_co2e_t": "lifetime tCO2e",
    "crossover_served_tokens": "crossover with dense (served tokens)",
}
RANGED = {  # rows with a range from the spread between laws: key -> (low column, high column)
    "law_compute_flops": ("law_compute_low_flops", "law_compute_high_flops"),
    "train_energy_mwh": ("train_energy_low_mwh", "train_energy_high_mwh"),
    "train_cost_usd": ("train_cost_low_usd", "train_cost_high_usd"),
}


def default(name: str):
    return QualityScenario.model_fields[name].default


def hint(name: str) -> str:
    """A widget's help: the field's help, unit, default and its source (as the command line's)."""
    meta = QualityScenario.meta(name)
    unit = f" ({meta['unit']})" if meta["unit"] else ""
    return f"{meta['help']}{unit}. Default: {default(name) if default(name) is not None else '-'} ({meta['source']})."


@st.cache_data(show_spinner="Planning the candidates…", max_entries=32)
def plan(fields_json: str) -> pd.DataFrame:
    import json

    return gs.quality(**json.loads(fields_json))


laws = gs.scaling_laws()
left, right = st.columns([1, 2], gap="large")
with left:
    st.subheader("Target")
    mode = ui.radio(
        "Quality target",
        ["as_good_as", "target_loss"],
        "q_mode",
        "as_good_as",
        format_func=lambda m: {"as_good_as": "as good as a model", "target_loss": "a loss"}[m],
        help="Equal quality means the same loss under the dense law: a model's own (trained on its tokens) or a "
        "loss you give.",
    )
    if mode == "target_loss":
        target = {
            "target_loss": ui.number(
                "Target loss (nats per token)",
                "q_target_loss",
                2.3,
                min_value=0.01,
                max_value=100.0,
                step=0.05,
                format="%.4g",
                help=hint("target_loss"),
            )
        }
    else:
        target = {
            "as_good_as": ui.pick_model("As good as", "gpt3-175b", "q_as_good_as", help=hint("as_good_as")).name,
            "tokens": ui.number(
                LABELS["tokens"],
                "q_tokens",
                300e9,
                min_value=1.0,
                max_value=1e16,
                format="%.4g",
                help=hint("tokens"),
            ),
        }
    experts = ui.multiselect(
        "MoE expert counts", EXPERT_CHOICES, "q_experts", list(default("experts")), help=hint("experts")
    )
    served = ui.number(
        "Tokens served over the model's life",
        "q_served_tokens",
        default("served_tokens"),
        min_value=0.0,
        max_value=1e18,
        format="%.4g",
        help=hint("served_tokens"),
    )
    st.subheader("Where it runs")
    chips_reg = ui.profiles("chips")
    chip_name = ui.pick("Chip", list(chips_reg), default("chip"), "q_chip", help=hint("chip"))
    dcs = ui.profiles("datacenters")
    dc_name = ui.pick_datacenter("Datacenter or region", dcs, default("datacenter"), "q_dc")
    with st.expander("Laws, model family, training chips, MFU, serving batch"):
        dense_law = ui.select(
            "Dense law",
            [n for n, v in laws.items() if v.kind == "dense"],
            "q_dense_law",
            default("dense_law"),
            help=hint("dense_law"),
        )
        routed_law = ui.select(
            "Routed law",
            [n for n, v in laws.items() if v.kind == "routed"],
            "q_routed_law",
            default("routed_law"),
            help=hint("routed_law"),
        )
        spread_laws = ui.multiselect(
            "Laws whose spread gives the ranges",
            [n for n, v in laws.items() if v.kind in ("dense", "granular")],
            "q_spread_laws",
            list(default("spread_laws")),
            help=hint("spread_laws"),
        )
        standard_errors = ui.check(
            "Widen the ranges by the laws' published standard errors",
            "q_standard_errors",
            default("standard_errors"),
            help=hint("standard_errors"),
        )
        template = ui.pick_model("Model family (template)", default("template"), "q_template", help=hint("template"))
        more = ui.scenario_inputs(QualityScenario, MORE, "q")

fields = {
    **target,
    "experts": sorted(experts),
    "served_tokens": served,
    "chip": ui.profile_arg("chips", chip_name),
    "datacenter": ui.profile_arg("datacenters", dc_name),
    "dense_law": dense_law,
    "routed_law": routed_law,
    "spread_laws": spread_laws,
    "standard_errors": standard_errors,
    "template": ui.model_arg(template.name),
    **more,
}
with right:
    try:
        if not experts:
            raise ConfigError("experts: choose at least one expert count")
        if not spread_laws:
            raise ConfigError("spread_laws: choose at least one law")
        import json

        df = plan(json.dumps(fields, sort_keys=True))
    except ConfigError as err:
        ui.show_error(err)
        st.stop()
    st.subheader(f"Equal quality: {df.attrs['reference']} (loss {df.attrs['target_loss']:.4f})")
    ui.plausibility_warnings(fields, LABELS)
    dense = df.iloc[0]
    lifetime = df.sort_values("total_cost_usd").iloc[0]
    train = df.sort_values("train_cost_usd").iloc[0]
    ui.cards(
        [
            dict(label="cheapest to train", value=train["option"], help="least training cost (USD)"),
            dict(
                label="training cost",
                value=ui.value_text("train_cost_usd", train["train_cost_usd"]),
                delta=ui.vs(train["train_cost_usd"], dense["train_cost_usd"]),
                delta_color="inverse",
                help="of the cheapest to train; the arrow: against the dense model",
            ),
            dict(
                label=f"cheapest over {ui.value_text('served_tokens', served)} served tokens",
                value=lifetime["option"],
                help="least training + serving cost (USD)",
            ),
            dict(
                label="lifetime cost",
                value=ui.value_text("total_cost_usd", lifetime["total_cost_usd"]),
                delta=ui.vs(lifetime["total_cost_usd"], dense["total_cost_usd"]),
                delta_color="inverse",
                help="of the cheapest over its life; the arrow: against the dense model",
            ),
        ]
    )
    rows = {r["option"]: {k: r[k] for k in NAMES} for r in df.to_dict(orient="records")}
    ranges = {r["option"]: {k: (r[lo], r[hi]) for k, (lo, hi) in RANGED.items()} for r in df.to_dict(orient="records")}
    table = ui.results_table(rows, NAMES, ranges)
    ui.show_table(table, "q_table")
    st.caption(
        "In brackets: low – high, the spread of the compute the laws of the spread ask for at the same quality, "
        "widened by the 10th-90th percentile over their published standard errors where a law gives them "
        "(Besiroglu et al. 2024); training energy and cost scale with it at the same MFU. *Crossover*: the "
        "served tokens at which the option's lifetime cost equals the dense model's (blank: it never does)."
    )
    for r in df.to_dict(orient="records"):
        if r["extrapolates"]:
            st.caption(f"{r['option']} extrapolates: {r['extrapolates']}")

    st.subheader("Lifetime cost against served tokens")
    curve = gs.quality_curve(df)
    ui.figure(
        "plot_sweep",
        curve,
        x="served_tokens",
        y="total_cost_usd",
        hue="option",
        baseline="dense",
        size=(8.5, 3.6),
        title="Training + serving cost of each option at equal quality",
    )
    st.caption(
        f"Training cost plus served tokens x each option's serving cost per token on {chip_name} at batch "
        f"{fields.get('batch', default('batch'))}; the lines cross at the crossover in the table."
    )
    statement = "\n".join(
        f"{r['option']}: {r['n_layers']} layers x d_model {r['d_model']}, {ui.fmt(r['params_active'])} activated "
        f"parameters, {ui.fmt(r['tokens'])} tokens; training {r['train_energy_mwh']:.4g} MWh, "
        f"{ui.value_text('train_cost_usd', r['train_cost_usd'])} USD; lifetime "
        f"{ui.value_text('total_cost_usd', r['total_cost_usd'])} USD over {ui.fmt(served)} served tokens"
        for r in df.to_dict(orient="records")
    )
    statement = f"Equal quality: {df.attrs['reference']} (glamsim quality).\n" + statement
    ui.downloads(
        "equal-quality",
        df,
        {"rows": df.to_dict(orient="records"), "ledger": df.attrs["ledger"], "scenario": fields},
        statement,
    )
    ui.ledger_box(df.attrs["ledger"])
