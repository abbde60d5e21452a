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
LABELS = {n: ui.field_label(ServingScenario, n) for n in MORE} | {"power_w": "Power per chip (W)"}  # by field


def default(name: str):
    """The scenario's default: the same on this page, the Home page, the command line and the API."""
    return ui.scenario_default(ServingScenario, name)


@st.cache_data(show_spinner=False, max_entries=32)
def curves(models: tuple[str, ...], fields: tuple) -> dict:
    """Each model against batch and against the latency target, from the front door's vectorised
    serving rows (`glamsim.api.serving_curves`: the single estimate's formulas), at nominal inputs."""
    import glamsim.api as gs

    with ui.slips_shown_on_page():
        return gs.serving_curves(list(models), batches=BATCHES, **dict(fields))


def nominal(v):
    """A (low, nominal, high) range's nominal value: the curves are drawn at nominal inputs."""
    return v[1] if isinstance(v, tuple) else v


def widget_of(message: str) -> str:
    """The widget whose value a refusal names (the target or the chips), in the words on the page."""
    for name in ("tpot_ms", "ttft_ms"):
        if message.startswith(name) or f" {name}=" in message:
            return f"*{ui.field_label(ServingScenario, name)}* under More inputs"
    if message.startswith("chips="):
        return "*Chips per replica*"
    return "the inputs on the left"


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
        "Batch size (sequences decoded together)", "s_batch", default("batch"), min_value=1, max_value=65536
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
        LABELS["power_w"], f"s_power_{chip_name}", *defaults["power_w"], ranged=ranged, step=10.0, min_value=1.0
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
    names = {
        "model": cfg.name,
        "baseline": baseline.name if baseline.name != cfg.name else f"{baseline.name} (baseline)",
    }
    models = {names["model"]: cfg.name, names["baseline"]: baseline.name}
    models |= {n: n for n in others if n not in models}
    ui.share_models(models.values())
    known = ui.models()
    ests, missed = {}, {}
    for n, m in models.items():  # a model whose target or memory fails is marked; the others still shown
        try:
            ests[n] = estimate(
                ServingScenario.build(
                    {**given, "model": ui.model_field(m, known[m]), "sources": sources}, "serving what-if"
                )
            )
        except ConfigError as err:
            missed[n] = str(err)
    if not ests:  # nothing to show: each model's refusal, as one line
        for why in dict.fromkeys(missed.values()):
            ui.show_error(ConfigError(why))
        st.stop()
    for n, why in missed.items():  # one line: the model, why, and the widget to change
        st.warning(
            f"**{ui.md_cell(n)}** not shown: {ui.md_cell(' '.join(why.split()))}. Change {widget_of(why)}.", icon="⚠️"
        )
    ranges = {n: e.ranges for n, e in ests.items()} if ranged else {}
    est = ests.get(names["model"], next(iter(ests.values())))
    base = ests.get(names["baseline"])  # None: the baseline is marked above, no change shown against it
    no_price = not math.isfinite(est["usd_per_million_tokens"])
    st.subheader(f"{cfg.name} vs {baseline.name} on {chip_name}, batch {batch}")
    ui.plausibility_warnings(given, LABELS)
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
                delta=None if base is None else ui.vs(est[q], base[q]),
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

    st.subheader("Curves: latency, throughput, cost and energy")
    curve_fields = {k: nominal(v) for k, v in given.items() if k not in ("chip", "datacenter", "sources")}
    curve_fields |= {"chip": ui.profile_arg("chips", chip_name), "datacenter": ui.profile_arg("datacenters", dc_name)}
    curve_fields.pop("routing_skew", None) if skew_from_record else None  # the record's skew is the estimate's alone
    args = {ui.model_arg(m): m for m in models.values()}  # an uploaded model goes by its file: name it again
    try:
        c = curves(tuple(args), tuple(sorted(curve_fields.items())))
    except ConfigError as err:
        ui.show_error(err)
        st.stop()
    c = {k: df.assign(model=df["model"].map(lambda a: args.get(a, a))) if "model" in df else df for k, df in c.items()}
    by_batch, by_target = c["batch"], c["target"]
    for m in models.values():
        if m not in set(by_batch["model"]):
            st.caption(f"{m}: no batch from {BATCHES[0]} to {BATCHES[-1]} fits {n_chips} chips; no curve.")
    tpot, ttft = more.get("tpot_ms"), more.get("ttft_ms")
    target_words = " and ".join(f"{w} target {v:g} ms" for w, v in (("TTFT", ttft), ("TPOT", tpot)) if v is not None)
    st.caption(
        "Every model on the fewest chips that hold it at each batch"
        + (f" ({n_chips} given)" if n_chips else "")
        + "; every other input as on the left (precisions, placement, PUE, prices)"
        + (f"; the {target_words} drawn in red, hollow points miss it." if target_words else ".")
    )
    wide = dict(size=None, baseline=baseline.name)
    t_lat, t_cost, t_energy, t_target, t_mem = st.tabs(
        ["Latency vs throughput", "Cost per token", "Energy per token", "Against the target", "Memory per chip"]
    )
    with t_lat:
        ui.figure(
            "plot_serving_curve",
            by_batch,
            x="decode_tokens_per_s_per_chip",
            y="decode_step_s",
            target_y=None if tpot is None else tpot / 1e3,
            target_text=f"TPOT target {tpot:g} ms" if tpot is not None else "",
            title="Time per output token against throughput, as the batch grows",
            **wide,
        )
        if ttft is not None:
            ui.figure(
                "plot_serving_curve",
                by_batch,
                x="batch",
                y="prefill_s",
                target_y=ttft / 1e3,
                target_text=f"TTFT target {ttft:g} ms",
                title="Prefill of the batch's prompts (time to first token) against batch",
                **wide,
            )
        if "requests" in c:
            ui.figure(
                "plot_serving_curve",
                c["requests"],
                x="output_tokens_per_s_per_chip",
                y="tpot_p50_s",
                order="max_num_seqs",
                target_y=None if tpot is None else tpot / 1e3,
                target_text=f"TPOT target {tpot:g} ms" if tpot is not None else "",
                title="Simulated requests (rate or clients as given): median TPOT against throughput, "
                "the scheduler's max sequences growing",
                **wide,
            )
    priced = [] if no_price else [("usd_per_million_tokens", t_cost)]
    for y, tab in [*priced, ("joules_per_token", t_energy)]:
        with tab:
            ui.figure("plot_serving_curve", by_batch, x="batch", y=y, title=f"{ui.label(y)} against batch", **wide)
    if no_price:
        t_cost.caption(f"No cost curve: {ui.NO_PRICE}.")
    with t_target:
        for name, rows in by_target.groupby("target", sort=False):
            given_ms = more.get(name)
            words = "TPOT" if name == "tpot_ms" else "TTFT"
            st.caption(
                f"Each model at the largest batch up to {batch} that meets a {words} target"
                + (f" (the {given_ms:g} ms given drawn)" if given_ms is not None else "")
                + "; a gap: even batch 1 misses that target."
            )
            rule = dict(target_x=given_ms, target_text=f"{words} target {given_ms:g} ms" if given_ms else "")
            ys = ["batch_served", "decode_tokens_per_s_per_chip", "joules_per_token"]
            for y in ys + ([] if no_price else ["usd_per_million_tokens"]):
                ui.figure(
                    "plot_serving_curve",
                    rows,
                    x=name,
                    y=y,
                    order=name,
                    title=f"{ui.label(y)} against the {words} target",
                    **rule,
                    **wide,
                )
    with t_mem:
        mem = pd.DataFrame([{**e.values, "model": n} for n, e in ests.items()])
        ui.figure(
            "plot_serving_memory",
            mem,
            usable_gb=chip.hbm_gb.value * ui.scenario_default(ServingScenario, "hbm_usable_fraction")
            if "hbm_usable_fraction" not in more
            else chip.hbm_gb.value * more["hbm_usable_fraction"],
            title=f"What one {chip_name} holds at batch {batch}: weights, KV cache at full context, activations",
            size=None,
        )
        mem_keys = ["weights_gb_per_chip", "kv_cache_gb_per_chip", "activations_gb_per_chip"]
        ui.show_table(
            ui.results_table({n: e.values for n, e in ests.items()}, {k: ui.label(k) for k in mem_keys}), "s_mem"
        )
        st.caption(
            "Activations: the largest forward pass's live tensors, one layer at a time (the prefill of the batch's "
            "prompts; FlashAttention-style, no S x S scores held). The dashed line: usable HBM per chip."
        )
    moe = by_batch[by_batch["experts_touched_fraction"].notna()]
    if len(moe):
        ui.figure(
            "plot_experts_touched",
            moe,
            hue="model",
            title="Experts read per decoding step (a dense model reads every weight)",
        )
    statement = ui.statement_box({n: plain_statement(e, datacenter=dc_name) for n, e in ests.items()})
    scenarios = {n: ui.scenario_of(e) for n, e in ests.items()}
    ui.downloads("serving-estimate", table, {n: e.to_dict() for n, e in ests.items()}, statement, scenarios=scenarios)
    ui.saved_scenarios("serving", scenarios)
    for n, e in ests.items():
        ui.ledger_box(e.ledger.to_list(), f"Ledger of {n}: every input and its source")
