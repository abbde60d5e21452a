"""Serving what-if: decoding cost per token of a model next to a dense baseline (and any other presets),
on a roofline."""

import math
from functools import partial

import pandas as pd
import streamlit as st
import ui

from glamsim.config import ConfigError
from glamsim.cost import estimate_serving
from glamsim.cost.report import plain_statement
from glamsim.scenario import ServingScenario

ui.page(
    "Serving what-if",
    "What does each generated token cost to serve? Requests are decoded in batches with a KV cache; each "
    "step takes the longer of its compute time and the time to read the weights it needs from memory "
    "(a roofline). An MoE model computes with few experts per token but must *hold* every expert, and a "
    "large batch reads most of them each step. The page's link keeps every setting.",
)

# Rows of the results table: labels and units come from the output registry (glamsim.outputs).
SHOWN = [
    "serving_chips_used",
    "serving_min_chips",
    "weight_gb_total",
    "kv_cache_gb_full_context",
    "decode_step_s",
    "decode_tokens_per_s_per_chip",
    "request_latency_s",
    "decode_flops_per_token",
    "decode_weight_bytes_per_step",
    "experts_touched_per_moe_layer",
    "joules_per_token_boards",
    "joules_per_token_server",
    "joules_per_token",
    "usd_per_million_tokens",
    "kgco2e_per_million_tokens",
    "decode_compute_bound",
]
NAMES = {k: ui.label(k) for k in SHOWN}
BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
# Scenario fields with a widget of their own (field: widget key, or its prefix); the "more inputs"
# expander offers every other field (`ui.scenario_inputs`).
ON_PAGE = {
    "model": "s_model",
    "chip": "s_chip",
    "datacenter": "s_dc",
    "chips": "s_chips",
    "batch": "s_batch",
    "prompt_len": "s_prompt",
    "gen_len": "s_gen",
    "mfu": "s_mfu",
    "mbu": "s_mbu",
    "power_w": "s_power_",
    "price_per_chip_hour_usd": "s_price_",
    "measured": None,  # the Measure page's record: its router load sets the routing skew
}
MORE = [n for n in ServingScenario.inputs() if n not in ON_PAGE]


def default(name: str):
    """The scenario's default: the same on this page, the Home page, the command line and the API."""
    return ui.scenario_default(ServingScenario, name)


@st.cache_data(show_spinner=False, max_entries=32)
def batch_curve(models: tuple[str, ...], chip, datacenter, prompt, gen, mfu, mbu, power, price) -> pd.DataFrame:
    """Each model at each batch size (on its fewest chips), in one vectorised call of the front door."""
    import glamsim.api as gs

    nominal = lambda v: v[1] if isinstance(v, tuple) else v  # noqa: E731  (the curve is at nominal inputs)
    given = {"power_w": nominal(power), "price_per_chip_hour_usd": nominal(price)}
    return gs.serve(
        model=list(models),
        batch=BATCHES,
        chip=chip,
        datacenter=datacenter,
        prompt_len=prompt,
        gen_len=gen,
        mfu=nominal(mfu),
        mbu=nominal(mbu),
        grid=True,
        **{k: v for k, v in given.items() if v is not None},
    ).frame


left, right = st.columns([1, 2], gap="large")
with left:
    st.subheader("Workload")
    ui.model_upload("s_model_file", target="s_model")
    cfg = ui.pick_model("Model", default("model"), "s_model")
    baseline = ui.pick_model("Dense baseline", "gpt3-175b", "s_baseline")
    others = ui.multiselect(
        "Compare also (any number of models)",
        list(ui.models()),
        "s_compare",
        help="Each is served on the same chips and workload; one column each below.",
    )
    batch = ui.number(
        "Batch size (requests decoded together)", "s_batch", default("batch"), min_value=1, max_value=65536
    )
    prompt = ui.number("Prompt length (tokens)", "s_prompt", default("prompt_len"), min_value=1, max_value=1_000_000)
    gen = ui.number("Generated tokens", "s_gen", default("gen_len"), min_value=1, max_value=1_000_000)
    st.subheader("Hardware")
    chips_reg = ui.profiles("chips")
    chip_name = ui.pick("Chip", list(chips_reg), default("chip"), "s_chip")
    chip = chips_reg[chip_name]
    n_chips = ui.number("Chips per replica (0 = the fewest that hold each model)", "s_chips", 0, min_value=0)
    ranged = ui.check(
        "Uncertain inputs", "s_ranged", help="Give low / nominal / high values: ranges and a sensitivity chart."
    )
    mfu, mfu_src = ui.uncertain(
        "Compute utilisation (fraction of peak FLOP/s)",
        "s_mfu",
        default("mfu"),
        ranged=ranged,
        step=0.05,
        min_value=0.01,
        max_value=1.0,
    )
    mbu, mbu_src = ui.uncertain(
        "Memory-bandwidth utilisation", "s_mbu", default("mbu"), ranged=ranged, step=0.05, min_value=0.01, max_value=1.0
    )
    defaults = ui.profile_defaults(chip)
    power, power_src = ui.uncertain(
        "Power per chip (W)", f"s_power_{chip_name}", *defaults["power_w"], ranged=ranged, step=10.0, min_value=1.0
    )
    price, price_src = ui.uncertain(
        "Price per chip-hour ($)",
        f"s_price_{chip_name}",
        *defaults["price_per_chip_hour_usd"],
        ranged=ranged,
        step=0.25,
        min_value=0.0,
    )
    dcs = ui.profiles("datacenters")
    dc_name = ui.pick_datacenter("Datacenter", dcs, default("datacenter"), "s_dc")
    with st.expander("More inputs (precision, placement, routing, PUE, carbon)"):
        more = ui.scenario_inputs(ServingScenario, MORE, "s")
    record = st.session_state.get(ui.MEASUREMENT_KEY)
    skew_from_record = (
        record is not None
        and record.routing.get("max_mean_load") is not None
        and ui.check(
            f"Routing skew from the measured run ({record.model}: busiest/mean expert load "
            f"{record.routing['max_mean_load']:.2f})",
            "s_skew_measured",
            help="The Measure page's record: its router's busiest expert over the mean sets the routing skew.",
        )
    )

estimate = partial(estimate_serving, profiles_dirs=ui.profiles_dirs())
with right:
    given = {
        "chip": ui.profile_field("chips", chip_name, chip),
        "datacenter": ui.profile_field("datacenters", dc_name, dcs[dc_name]),
        "prompt_len": prompt,
        "gen_len": gen,
        "batch": batch,
        "chips": n_chips or None,
        **more,
    }
    sources = {k: "dashboard input" for k in given}
    if skew_from_record:
        from glamsim.cost.measured import measured_routing

        given["routing_skew"], sources["routing_skew"] = measured_routing(record, "dashboard Measure page")
    for name, (value, src) in {
        "mfu": (mfu, mfu_src),
        "mbu": (mbu, mbu_src),
        "power_w": (power, power_src),
        "price_per_chip_hour_usd": (price, price_src),
    }.items():
        if value is not None:
            given[name], sources[name] = value, src or "dashboard input"
    try:
        names = {
            "model": cfg.name,
            "baseline": baseline.name if baseline.name != cfg.name else f"{baseline.name} (baseline)",
        }
        models = {names["model"]: cfg.name, names["baseline"]: baseline.name}
        models |= {n: n for n in others if n not in models}
        ui.share_models(models.values())
        known = ui.models()
        ests = {
            n: estimate(
                ServingScenario.build(
                    {**given, "model": ui.model_field(m, known[m]), "sources": sources}, "serving what-if"
                )
            )
            for n, m in models.items()
        }
        ranges = {n: e.ranges for n, e in ests.items()} if ranged else {}
    except ConfigError as err:
        ui.show_error(err)
        st.stop()
    est, base = ests[names["model"]], ests[names["baseline"]]
    no_price = not math.isfinite(est["usd_per_million_tokens"])
    st.subheader(f"{cfg.name} vs {baseline.name} on {chip_name}, batch {batch}")
    cards = []
    for q, text, scale in (
        ("decode_step_s", "ms / token", 1e3),
        ("decode_tokens_per_s_per_chip", "tokens/s/chip", 1),
        ("joules_per_token", "J / token (facility)", 1),
        ("usd_per_million_tokens", "$ / 1M tokens", 1),
        ("serving_min_chips", "fewest chips", 1),
    ):
        value = "n/a" if q == "usd_per_million_tokens" and no_price else ui.value_text(q, est[q] * scale)
        cards.append(
            dict(
                label=text,
                value=value,
                delta=ui.vs(est[q], base[q]),
                delta_color="inverse" if q != "decode_tokens_per_s_per_chip" else "normal",
                help=f"{NAMES[q]} of {cfg.name}; the arrow: change against the baseline {baseline.name}",
            )
        )
    ui.cards(cards)
    if no_price:
        st.info(f"Cost: {ui.NO_PRICE} under *Price per chip-hour* ({chip_name}).")
    st.caption(f"Under each figure: the change against the dense baseline {baseline.name}.")
    table = ui.results_table({n: e.values for n, e in ests.items()}, NAMES, ranges)
    ui.show_table(table, "s_table")
    if ranges:
        st.caption(
            "In brackets: low – high, the extremes over every combination of the uncertain inputs' low and high values."
        )

    st.subheader("Against batch size")
    st.caption("Each model on the fewest chips that hold it at each batch size; other inputs as on the left.")
    curve = batch_curve(
        tuple(ui.model_arg(m) for m in models.values()),
        ui.profile_arg("chips", chip_name),
        ui.profile_arg("datacenters", dc_name),
        prompt,
        gen,
        mfu,
        mbu,
        power,
        price,
    )
    moe = curve[curve["experts_touched_fraction"].notna()]
    if len(moe):
        ui.figure(
            "plot_experts_touched",
            moe,
            hue="model",
            size=(8.5, 3.2),
            title="Experts read per decoding step (a dense model reads every weight)",
        )
    ys = ["decode_weight_bytes_per_step"] + ([] if no_price else ["usd_per_million_tokens"])
    ui.figure(
        "plot_sweep",
        curve,
        x="batch",
        y=ys,
        hue="model",
        baseline=baseline.name,
        size=(10, 3.6),
        title=f"{cfg.name} vs {baseline.name}: bytes read" + ("" if no_price else " and cost"),
    )
    if no_price:
        st.caption(f"No cost panel: {ui.NO_PRICE}.")
    statement = ui.statement_box({n: plain_statement(e, datacenter=dc_name) for n, e in ests.items()})
    scenarios = {n: ui.scenario_of(e) for n, e in ests.items()}
    ui.downloads("serving-estimate", table, {n: e.to_dict() for n, e in ests.items()}, statement, scenarios=scenarios)
    ui.saved_scenarios("serving", scenarios)
    for n, e in ests.items():
        ui.ledger_box(e.ledger.to_list(), f"Ledger of {n}: every input and its source")
