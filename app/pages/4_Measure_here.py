"""Measure here: run the real JAX GLaM training step on this machine and carry the result into the cost model."""

import pandas as pd
import streamlit as st

import ui
from glamsim.accounting import count
from glamsim.config import ConfigError, model_presets

ui.page("Measure here",
        "Run a small GLaM (or its dense twin) on this machine's processor: XLA compiles the real training step, "
        "counts its FLOPs, and times a few steps. You see how XLA's count compares with the analytic model "
        "FLOPs, and the utilisation (MFU) the step reaches. One click carries the measurement into the "
        "training what-if. JAX loads only when you press *Run*.")

TIMING = {"step_time_median_s": "step time, median (s)", "step_time_p10_s": "step time, 10th percentile (s)",
          "step_time_p90_s": "step time, 90th percentile (s)", "tokens_per_s": "tokens per second",
          "achieved_model_flops_per_s": "model FLOP/s achieved", "peak_flops_per_s": "peak FLOP/s (see below)",
          "mfu": "MFU: model FLOP/s / peak", "hfu": "HFU: XLA FLOP/s / peak", "compile_s": "compile time (s)",
          "loss_first": "loss, first step", "loss_last": "loss, last step"}
MAX_PARAMS = 2e8  # presets small enough to run in seconds to minutes on a CPU

small = [n for n, c in model_presets().items() if count(c).params_total <= MAX_PARAMS]
left, right = st.columns([1, 2], gap="large")
with left:
    name = ui.pick("Model (small presets)", small, "glam-tiny", "m_model")
    cfg = model_presets()[name]
    batch = st.number_input("Batch (sequences)", min_value=1, max_value=64, value=4, key="m_batch")
    seq = st.number_input("Sequence length", min_value=8, max_value=cfg.max_seq_len,
                          value=min(128, cfg.max_seq_len), key=f"m_seq_{name}")
    steps = st.number_input("Timed steps", min_value=1, max_value=50, value=5, key="m_steps")
    run = st.button("Run measurement", type="primary", key="m_run")
    up = st.file_uploader("…or load a measurement JSON (written by `glamsim measure`)", type=["json"],
                          key="m_upload", **ui.uploader_limit())

with right:
    if run:
        bar = st.progress(0.0, text="Importing JAX and compiling the training step…")
        try:
            from glamsim.measure.run import measure

            rec = measure(cfg, batch=int(batch), seq_len=int(seq), steps=int(steps), warmup=1,
                          on_step=lambda i, n: bar.progress(i / n, text=f"Timed step {i} of {n}"))
        except ConfigError as err:
            ui.show_error(err)
        else:
            st.session_state[ui.MEASUREMENT_KEY] = rec
        bar.empty()
    elif up is not None:  # parsed from the bytes (nothing written); a bad file keeps the last measurement
        try:
            st.session_state[ui.MEASUREMENT_KEY] = ui.parse_measurement(up.getvalue(), up.name)
        except ConfigError as err:
            ui.show_error(err)

    rec = st.session_state.get(ui.MEASUREMENT_KEY)
    if rec is None:
        st.info("No measurement yet: pick a model and press **Run measurement**.")
        st.stop()
    st.subheader(f"{rec.model}: batch {rec.batch} x {rec.seq_len} tokens on {rec.device_kind} ({rec.backend})")
    cols = st.columns(4)
    cols[0].metric("Step time (median)", f"{ui.fmt(rec.step_time_median_s * 1e3)} ms")
    cols[1].metric("Tokens/s", ui.fmt(rec.tokens_per_s))
    cols[2].metric("MFU", ui.fmt(rec.mfu), help="analytic model FLOP/s / peak")
    cols[3].metric("XLA / model FLOPs", ui.fmt(rec.hardware_to_model_flops),
                   help="what the compiled program executes per step over what the architecture needs")
    flops = pd.DataFrame([
        {"count": "XLA (compiled program)", "flops_per_step": rec.xla_flops_per_step},
        {"count": "analytic model FLOPs (what MFU uses)", "flops_per_step": rec.model_flops_per_step},
        {"count": "analytic hardware FLOPs (dispatch, padding, optimizer)",
         "flops_per_step": rec.hardware_flops_per_step},
    ])
    flops["vs model FLOPs"] = flops["flops_per_step"] / rec.model_flops_per_step
    ui.show_table(flops, "m_flops")
    timing = pd.DataFrame([{"quantity": text, "value": getattr(rec, k)} for k, text in TIMING.items()] + [
        {"quantity": f"routing: {k.replace('_', ' ')}", "value": v} for k, v in rec.routing.items()])
    ui.show_table(timing, "m_timing")
    st.caption(f"Peak: {rec.peak_source}.")
    c = st.columns(2)
    if c[0].button("Use in the training what-if", key="m_use"):
        st.session_state[ui.USE_MEASUREMENT_KEY] = True
        st.switch_page("pages/1_Training_what-if.py")
    c[1].download_button("Download measurement JSON", rec.model_dump_json(indent=2), f"measurement-{rec.model}.json",
                         "application/json", key="m_json")
