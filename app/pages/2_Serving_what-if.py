"""Serving what-if: decoding cost per token of a model next to a dense baseline, on a roofline."""

import pandas as pd
import streamlit as st

import ui
from glamsim.config import ConfigError, load_model
from glamsim.cost import estimate_inference
from glamsim.cost.report import plain_statement
from glamsim.scenario import ServingScenario

ui.page("Serving what-if",
        "What does each generated token cost to serve? Requests are decoded in batches with a KV cache; each "
        "step takes the longer of its compute time and the time to read the weights it needs from memory "
        "(a roofline). An MoE model computes with few experts per token but must *hold* every expert, and a "
        "large batch reads most of them each step.")

# Rows of the results table: labels and units come from the output registry (glamsim.outputs).
SHOWN = ["chips", "min_chips", "weight_gb_total", "kv_cache_gb_full_context", "decode_step_s",
         "decode_tokens_per_s_per_chip", "request_latency_s", "decode_flops_per_token", "decode_weight_bytes_per_step",
         "experts_touched_per_moe_layer", "joules_per_token", "usd_per_million_tokens", "kgco2e_per_million_tokens",
         "decode_compute_bound"]
NAMES = {k: ui.label(k) for k in SHOWN}
BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
# Scenario fields with a widget of their own (field: widget key, or its prefix); the "more inputs"
# expander offers every other field (`ui.scenario_inputs`).
ON_PAGE = {"model": "s_model", "chip": "s_chip", "datacenter": "s_dc", "chips": "s_chips", "batch": "s_batch",
           "prompt_len": "s_prompt", "gen_len": "s_gen", "mfu": "s_mfu", "mbu": "s_mbu", "power_w": "s_power_",
           "price_per_chip_hour_usd": "s_price_"}
MORE = [n for n in ServingScenario.inputs() if n not in ON_PAGE]



@st.cache_data(show_spinner=False, max_entries=32)
def batch_curve(models: tuple[str, ...], chip, datacenter, prompt, gen, mfu, mbu, power, price) -> pd.DataFrame:
    """Each model at each batch size (on its fewest chips), in one vectorised call of the front door."""
    import glamsim.api as gs

    nominal = lambda v: v[1] if isinstance(v, tuple) else v  # noqa: E731  (the curve is at nominal inputs)
    given = {"power_w": nominal(power), "price_per_chip_hour_usd": nominal(price)}
    return gs.serve(model=list(models), batch=BATCHES, chip=chip, datacenter=datacenter, prompt_len=prompt,
                    gen_len=gen, mfu=nominal(mfu), mbu=nominal(mbu), grid=True,
                    **{k: v for k, v in given.items() if v is not None}).frame


left, right = st.columns([1, 2], gap="large")
with left:
    st.subheader("Workload")
    cfg = ui.pick_model("Model", "glam-64b-64e", "s_model")
    baseline = ui.pick_model("Dense baseline", "gpt3-175b", "s_baseline")
    batch = st.number_input("Batch size (requests decoded together)", min_value=1, max_value=65536, value=32,
                            key="s_batch")
    prompt = st.number_input("Prompt length (tokens)", min_value=1, max_value=1_000_000, value=1024, key="s_prompt")
    gen = st.number_input("Generated tokens", min_value=1, max_value=1_000_000, value=256, key="s_gen")
    st.subheader("Hardware")
    chips_reg = ui.profiles("chips")
    chip_name = ui.pick("Chip", list(chips_reg), "h100-sxm", "s_chip")
    chip = chips_reg[chip_name]
    n_chips = st.number_input("Chips per replica (0 = the fewest that hold each model)", min_value=0, value=0,
                              key="s_chips")
    ranged = st.checkbox("Uncertain inputs (low / nominal / high)", key="s_ranged")
    mfu, mfu_src = ui.uncertain("Compute utilisation (fraction of peak FLOP/s)", "s_mfu", 1.0, ranged=ranged,
                                step=0.05, min_value=0.01, max_value=1.0)
    mbu, mbu_src = ui.uncertain("Memory-bandwidth utilisation", "s_mbu", 1.0, ranged=ranged,
                                step=0.05, min_value=0.01, max_value=1.0)
    defaults = ui.profile_defaults(chip)
    power, power_src = ui.uncertain("Power per chip (W)", f"s_power_{chip_name}", *defaults["power_w"],
                                    ranged=ranged, step=10.0, min_value=1.0)
    price, price_src = ui.uncertain("Price per chip-hour ($)", f"s_price_{chip_name}",
                                    *defaults["price_per_chip_hour_usd"], ranged=ranged, step=0.25, min_value=0.0)
    dcs = ui.profiles("datacenters")
    dc_name = ui.pick("Datacenter", list(dcs), "us-average", "s_dc")
    with st.expander("More inputs (precision, layout, PUE, carbon)"):
        more = ui.scenario_inputs(ServingScenario, MORE, "s")

with right:
    given = {"chip": chip, "datacenter": dcs[dc_name], "prompt_len": prompt, "gen_len": gen, "batch": batch,
             "chips": n_chips or None, **more}
    sources = {k: "dashboard input" for k in given}
    for name, (value, src) in {"mfu": (mfu, mfu_src), "mbu": (mbu, mbu_src), "power_w": (power, power_src),
                               "price_per_chip_hour_usd": (price, price_src)}.items():
        if value is not None:
            given[name], sources[name] = value, src or "dashboard input"
    try:
        names = {"model": cfg.name, "baseline": baseline.name if baseline.name != cfg.name
                 else f"{baseline.name} (baseline)"}
        ests = {names[k]: estimate_inference(ServingScenario.build({**given, "model": m, "sources": sources},
                                                                   "serving what-if"))
                for k, m in (("model", cfg), ("baseline", baseline))}
    except ConfigError as err:
        ui.show_error(err)
        st.stop()
    est, base = ests[names["model"]], ests[names["baseline"]]
    st.subheader(f"{cfg.name} vs {baseline.name} on {chip_name}, batch {batch}")
    cols = st.columns(5)
    for col, (q, lbl, scale) in zip(cols, (("decode_step_s", "ms / token", 1e3),
                                           ("decode_tokens_per_s_per_chip", "tokens/s/chip", 1),
                                           ("joules_per_token", "J / token", 1),
                                           ("usd_per_million_tokens", "$ / 1M tokens", 1),
                                           ("min_chips", "fewest chips", 1))):
        col.metric(lbl, ui.fmt(est[q] * scale), delta=ui.vs(est[q], base[q]), delta_color="inverse"
                   if q != "decode_tokens_per_s_per_chip" else "normal", help=f"{NAMES[q]} of {cfg.name}; the arrow: change against the baseline {baseline.name}")
    st.caption(f"Under each figure: the change against the dense baseline {baseline.name}.")
    table = ui.results_table({name: e.values for name, e in ests.items()}, NAMES,
                             {name: e.ranges for name, e in ests.items()})
    ui.show_table(table, "s_table")

    st.subheader("Against batch size")
    st.caption("Each model on the fewest chips that hold it at each batch size; other inputs as on the left.")
    curve = batch_curve(tuple(dict.fromkeys((cfg.name, baseline.name))), ui.profile_arg("chips", chip_name),
                        ui.profile_arg("datacenters", dc_name), prompt, gen, mfu, mbu, power, price)
    moe = curve[curve["experts_touched_fraction"].notna()]
    if len(moe):
        ui.figure("plot_experts_touched", moe, hue="model", size=(8.5, 3.2),
                  title="Experts read per decoding step (a dense model reads every weight)")
    ui.figure("plot_sweep", curve, x="batch", y=["decode_weight_bytes_per_step", "usd_per_million_tokens"],
              hue="model", baseline=baseline.name, size=(10, 3.6), title=f"{cfg.name} vs {baseline.name}: bytes read and cost")
    statement = ui.statement_box({name: plain_statement(e, datacenter=dc_name) for name, e in ests.items()})
    ui.downloads("serving-estimate", table, {name: e.to_dict() for name, e in ests.items()}, statement)
    for name, e in ests.items():
        ui.ledger_box(e.ledger.to_list(), f"Ledger of {name}: every input and its source")
