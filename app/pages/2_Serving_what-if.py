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

NAMES = {"chips": "chips per replica", "min_chips": "fewest chips that hold the model",
         "weight_gb_total": "weights in memory, every expert (GB)", "kv_cache_gb_full_context": "KV cache at full context (GB)",
         "decode_step_s": "latency per generated token (s)", "decode_tokens_per_s_per_chip": "generated tokens/s per chip",
         "request_latency_s": "latency of a whole request (s)", "decode_flops_per_token": "FLOPs per generated token",
         "decode_weight_bytes_per_step": "weight bytes read per decoding step",
         "experts_touched_per_moe_layer": "experts read per MoE layer per step (0: dense)", "joules_per_token":
         "energy per generated token (J, facility)", "usd_per_million_tokens": "$ per 1M generated tokens",
         "kgco2e_per_million_tokens": "kgCO2e per 1M generated tokens", "decode_compute_bound":
         "decoding compute-bound? (else memory-bound)"}
BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
# Fields set by the widgets above the "more inputs" expander; the expander offers every other one.
ON_PAGE = ["model", "chip", "datacenter", "chips", "batch", "prompt_len", "gen_len", "mfu", "mbu", "power_w",
           "price_per_chip_hour_usd"]
MORE = [n for n in ServingScenario.inputs() if n not in ON_PAGE]



@st.cache_data(show_spinner=False, max_entries=32)
def batch_curve(model, baseline, chip, datacenter, prompt, gen, mfu, mbu, power, price, dirs) -> pd.DataFrame:
    """Both models at each batch size (each on its fewest chips): the API's values, one row per point."""
    rows = []
    for name in (model, baseline):
        for b in BATCHES:
            v = estimate_inference(model=name, chip=chip, datacenter=datacenter, batch=b, prompt_len=prompt,
                                   gen_len=gen, mfu=mfu, mbu=mbu, power_w=power, price_per_chip_hour_usd=price,
                                   profiles_dirs=dirs).values
            cfg = load_model(name)
            rows.append({**v, "experts_touched_fraction": v["experts_touched_per_moe_layer"] / cfg.n_experts
                         if cfg.is_moe else None})
    return pd.DataFrame(rows)


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
        ests = {m.name: estimate_inference(ServingScenario.build({**given, "model": m, "sources": sources},
                                                                 "serving what-if"))
                for m in (cfg, baseline)}
    except ConfigError as err:
        ui.show_error(err)
        st.stop()
    est, base = ests[cfg.name], ests[baseline.name]
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
    curve = batch_curve(cfg.name, baseline.name, chip_name, dc_name, prompt, gen, mfu, mbu, power, price,
                        ui.profiles_dirs())
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
