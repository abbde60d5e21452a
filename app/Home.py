"""glamsim dashboard: the landing page.

Start it with `make app`, or `streamlit run app/Home.py` from the repository root (`streamlit run
Home.py` from app/): each listens on 127.0.0.1 only (.streamlit/config.toml and app/.streamlit/config.toml
set the address, headless mode, no usage statistics and the upload size limit).  To serve other
machines on purpose, add `--server.address 0.0.0.0`.
"""

import pandas as pd
import streamlit as st

import ui
from glamsim.cost.compare import compare_models

ui.page("glamsim: what would it cost?",
        "How much time, energy, carbon and money does a Mixture-of-Experts language model take to train and "
        "serve, next to a dense model of similar quality? glamsim reproduces the compute and energy accounting "
        "of **GLaM** (Du et al. 2022, a 1.2-trillion-parameter MoE that activates 97B parameters per token) and "
        "lets you change every assumption. Every number traces back to a published source or to your input.")

PAGES = [
    ("pages/1_Training_what-if.py", "Training what-if", "time, chip-hours, MWh, tCO2e and dollars of a training run, next to a dense baseline; ranges and sensitivity"),
    ("pages/2_Serving_what-if.py", "Serving what-if", "latency, tokens/s, joules and dollars per generated token; chips needed; experts read per step"),
    ("pages/3_Scaling_explorer.py", "Scaling explorer", "run a built-in study or load results, and chart them"),
    ("pages/4_Measure_here.py", "Measure here", "run the real JAX model on this machine: XLA vs analytic FLOPs, step time, utilisation"),
    ("pages/5_Paper_check.py", "Paper check", "the GLaM paper's published figures reproduced, with errors"),
    ("pages/6_Profiles.py", "Profiles", "chips and datacenters with their sources; upload your own"),
]
for path, title, what in PAGES:
    c = st.columns([1, 3])
    with c[0]:
        st.page_link(path, label=f"**{title}** →")
    c[1].markdown(what)


@st.cache_data(show_spinner=False)
def headline():
    return compare_models(["glam-64b-64e", "gpt3-175b"], chip="tpu-v4", chips=1024, tokens=3e11)


st.subheader("At a glance: GLaM 64B/64E vs GPT-3 175B")
st.caption("Both trained on 300B tokens on 1,024 TPU v4 at 30% MFU in Google's Oklahoma datacenter; served at batch "
           "32 on the fewest TPU v4 that hold each model. Change any of this on the what-if pages.")
rows = headline()
labels = {"params_total": "parameters (total)", "params_active": "parameters activated per token",
          "train_days": "training days", "energy_mwh": "training energy (MWh)", "co2e_t": "training tCO2e (net)",
          "cost_usd": "training cost ($, list price)", "serve_min_chips": "fewest chips to serve",
          "joules_per_token": "serving J per token", "usd_per_million_tokens": "serving $ per 1M tokens",
          "few_shot": "few-shot quality (avg. of 29 tasks, Table 1)"}
ui.show_table(ui.results_table({r["model"]: r for r in rows}, labels), "h_glance")
ui.figure("plot_energy_comparison", pd.DataFrame(rows), x="model", hue=None, size=(10, 3.4),
          y=["energy_mwh", "co2e_t", "cost_usd"], title="Training GLaM 64B/64E vs GPT-3 175B on 300B tokens")
