"""glamsim dashboard: the landing page.

Start it with `make app`, or `streamlit run app/Home.py` from the repository root (`streamlit run
Home.py` from app/): each listens on 127.0.0.1 only (.streamlit/config.toml and app/.streamlit/config.toml
set the address, headless mode, no usage statistics and the upload size limit).  To serve other
machines on purpose, add `--server.address 0.0.0.0`.
"""

import pandas as pd
import streamlit as st
import ui

import glamsim.api as gs
from glamsim.cost.compare import compare_models
from glamsim.outputs import label
from glamsim.scenario import ServingScenario, TrainingScenario

ui.page(
    "glamsim: what would it cost?",
    "How much time, energy, carbon and money does a Mixture-of-Experts language model take to train and "
    "serve, next to a dense model of similar quality? glamsim reproduces the compute and energy accounting "
    "of **GLaM** (Du et al. 2022, a 1.2-trillion-parameter MoE that activates 97B parameters per token) and "
    "lets you change every assumption. Every number traces back to a published source or to your input.",
)

PAGES = [
    (
        "pages/1_Training_what-if.py",
        "Training what-if",
        "time, chip-hours, MWh, tCO2e and dollars of a training run, next to a dense baseline; ranges and sensitivity",
    ),
    (
        "pages/2_Serving_what-if.py",
        "Serving what-if",
        "latency, tokens/s, joules and dollars per generated token; chips needed; experts read per step",
    ),
    ("pages/3_Scaling_explorer.py", "Scaling explorer", "run a built-in study or load results, and chart them"),
    (
        "pages/4_Measure_here.py",
        "Measure here",
        "run the real JAX model on this machine: XLA vs analytic FLOPs, step time, utilisation",
    ),
    ("pages/5_Paper_check.py", "Paper check", "the GLaM paper's published figures reproduced, with errors"),
    ("pages/6_Profiles.py", "Profiles", "chips and datacenters with their sources; upload your own"),
    (
        "pages/7_Equal_quality.py",
        "Equal quality",
        "dense or MoE at one quality target: training and lifetime serving cost, the crossover in served tokens",
    ),
]
for path, title, what in PAGES:
    c = st.columns([1, 3])
    with c[0]:
        st.page_link(path, label=f"**{title}** →")
    c[1].markdown(what)


T, S = TrainingScenario(), ServingScenario()  # the scenario defaults: the same on every page and in the API


@st.cache_data(show_spinner=False)
def headline():
    return compare_models(
        ["glam-64b-64e", "gpt3-175b"],
        chip=T.chip,
        chips=T.chips,
        tokens=T.tokens,
        datacenter=T.datacenter,
        mfu=T.mfu,
        serve_chip=S.chip,
        batch=S.batch,
        prompt_len=S.prompt_len,
        gen_len=S.gen_len,
    )


st.subheader("At a glance: GLaM 64B/64E vs GPT-3 175B")
st.caption(
    f"Both trained on {ui.value_text('tokens', T.tokens)} tokens on {ui.value_text('chips', T.chips)} "
    f"{T.chip}, each at the MFU glamsim.predict gives its fastest layout, in the {T.datacenter} "
    f"datacenter; served at batch {S.batch} "
    f"({S.prompt_len:,}-token prompts, {S.gen_len} generated) on the fewest {S.chip} that hold each model. "
    "These are the defaults of every what-if page: change any of them there."
)
rows = headline()
labels = {
    "params_total": "parameters (total)",
    "params_active": "parameters activated per token",
    "train_mfu": "training MFU (predicted)",
    "train_days": "training days",
    "energy_mwh": "training energy (MWh)",
    "co2e_t": "training tCO2e (net)",
    "cost_usd": "training cost ($, list price)",
    "serve_min_chips": "fewest chips to serve",
    "joules_per_token": "serving J per token",
    "usd_per_million_tokens": "serving $ per 1M tokens",
    "few_shot": "few-shot quality (avg. of 29 tasks, Table 1)",
}
table = ui.results_table(
    {r["model"]: {**r, "serving_min_chips": r["serve_min_chips"]} for r in rows},
    {("serving_min_chips" if k == "serve_min_chips" else k): v for k, v in labels.items()},
)
ui.show_table(table, "h_glance")
ui.figure(
    "plot_energy_comparison",
    pd.DataFrame(rows),
    x="model",
    hue=None,
    y=["energy_mwh", "co2e_t", "cost_usd"],
    title=f"Training GLaM 64B/64E vs GPT-3 175B on {ui.value_text('tokens', T.tokens)} tokens",
)


@st.cache_data(show_spinner=False)
def beside_published(model: str):
    df = gs.beside_published(model)
    return df, dict(df.attrs)


st.subheader("Why GLaM's figures here are not the paper's")
paper, about = beside_published("glam-64b-64e")
st.caption(
    f"GLaM 64B/64E as above (these defaults) beside its published run `{about['run']}` (Du et al. 2022): "
    "each published figure with its source."
)
ui.show_table(
    pd.DataFrame(
        {
            "quantity": [label(k) for k in paper["name"]],
            "glamsim, these defaults": [ui.value_text(k, v) for k, v in zip(paper["name"], paper["estimate"])],
            "the paper's run": [ui.value_text(k, v) for k, v in zip(paper["name"], paper["published"])],
            "source (published)": paper["source"],
        }
    ),
    "h_published",
    wrap=True,
)
if about["why"]:
    st.markdown(f"**MFU**: the layout differs. {about['why']}.")
if about["differs"]:
    st.markdown("**Energy and carbon**: inputs that are not the run's: " + "; ".join(about["differs"]) + ".")
