"""Measure here: run the real JAX GLaM training step on this machine and carry the result into the cost model."""

import pandas as pd
import streamlit as st
import ui
from streamlit.errors import StreamlitAPIException

from glamsim.accounting import count
from glamsim.config import ConfigError, model_presets

ui.page(
    "Measure here",
    "Run a small GLaM (or its dense twin) on this machine's processor: XLA compiles the real training step, "
    "counts its FLOPs, and times a few steps. You see how XLA's count compares with the analytic model "
    "FLOPs, and the utilisation (MFU) the step reaches. One click carries the measurement into the "
    "training what-if. JAX loads only when you press *Run*.",
)

TIMING = {
    "step_time_median_s": "step time, median (ms)",
    "step_time_p10_s": "step time, 10th percentile (ms)",
    "step_time_p90_s": "step time, 90th percentile (ms)",
    "tokens_per_s": "tokens per second",
    "achieved_model_flops_per_s": "model FLOP/s achieved",
    "peak_flops_per_s": "peak FLOP/s (see below)",
    "mfu": "MFU: model FLOP/s / peak",
    "hfu": "HFU: XLA FLOP/s / peak",
    "compile_s": "compile time",
    "loss_first": "loss, first step",
    "loss_last": "loss, last step",
}
ROUTING = {
    "dropped_fraction": "routing: share of token-expert assignments dropped",
    "max_mean_load": "routing: busiest expert's load / mean load",
    "aux_loss": "routing: load-balancing loss",
}
ROUTING_HELP = (
    "Routing statistics of the last timed step, averaged over MoE layers. *Dropped*: the share of "
    "token-to-expert assignments that found their expert's buffer full (capacity factor) and skipped "
    "it (0 is ideal). *Busiest / mean load*: tokens sent to the busiest expert over the average (1 = "
    "perfectly balanced). *Load-balancing loss*: GShard's auxiliary loss, 1.0 for uniform routing, "
    "larger when the router favours a few experts. A freshly initialised router sees random tokens, "
    "so these say how balanced routing starts, not how it ends after training."
)
CACHED_COMPILE_S = 0.05  # below this, the step came from a compilation cache, not a fresh compile
MAX_PARAMS = 2e8  # presets small enough to run in seconds to minutes on a CPU


def timing_text(key: str, value) -> str:
    """A timing row as read: milliseconds for steps, "cached" for a compile that was not redone."""
    if value is None:
        return "-"
    if key.startswith("step_time"):
        return f"{ui.fmt(value * 1e3)} ms"
    if key == "compile_s":
        return f"cached ({value * 1e3:.2g} ms)" if value < CACHED_COMPILE_S else f"{value:.3g} s"
    return ui.fmt(value)


def carried_over(rec) -> str:
    """What "Use in the training what-if" changes there, for the chip that page has now."""
    from glamsim.cost.measured import device_matches
    from glamsim.scenario import TrainingScenario

    chips = ui.profiles("chips")
    name = st.session_state.get("t_chip") or TrainingScenario.model_fields["chip"].default
    chip = chips.get(name)
    ratio = f"hardware/model FLOPs ratio {ui.fmt(rec.hardware_to_model_flops)} (sets the HFU)"
    if chip is not None and device_matches(rec, chip):
        return (
            f"On the training page's chip ({name}) this sets the MFU to the measured {ui.fmt(rec.mfu)} "
            f"(the training time follows) and the {ratio}."
        )
    return (
        f"On the training page's chip ({name}) this sets only the {ratio}: the run was on {rec.device_kind}, "
        f"not {name}, so its MFU {ui.fmt(rec.mfu)} is not used and the time, energy and cost stay as they are. "
        "Measure on a matching accelerator (or pick its chip there) to carry the MFU."
    )


small = [n for n, c in model_presets().items() if count(c).params_total <= MAX_PARAMS]
left, right = st.columns([1, 2], gap="large")
with left:
    name = ui.pick("Model (small presets)", small, "glam-tiny", "m_model")
    cfg = model_presets()[name]
    batch = ui.number("Batch (sequences)", "m_batch", 4, min_value=1, max_value=64)
    seq = ui.number(
        "Sequence length", f"m_seq_{name}", min(128, cfg.max_seq_len), min_value=8, max_value=cfg.max_seq_len
    )
    steps = ui.number("Timed steps", "m_steps", 5, min_value=1, max_value=50)
    run = st.button("Run measurement", type="primary", key="m_run")
    up = st.file_uploader(
        "…or load a measurement JSON (written by `glamsim measure`)",
        type=["json"],
        key="m_upload",
        **ui.uploader_limit(),
    )

with right:
    if run:
        bar = st.progress(0.0, text="Importing JAX and compiling the training step…")
        try:
            from glamsim.measure.run import measure

            rec = measure(
                cfg,
                batch=int(batch),
                seq_len=int(seq),
                steps=int(steps),
                warmup=1,
                on_step=lambda i, n: bar.progress(i / n, text=f"Timed step {i} of {n}"),
            )
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
    mfu_range = getattr(rec, "mfu_range", None)
    ui.cards(
        [
            dict(label="Step time, median (ms)", value=ui.fmt(rec.step_time_median_s * 1e3)),
            dict(label="Tokens/s", value=ui.fmt(rec.tokens_per_s)),
            dict(
                label="MFU",
                value=ui.fmt(rec.mfu),
                help="analytic model FLOP/s / peak"
                + (
                    f"; between {ui.fmt(mfu_range[0])} and {ui.fmt(mfu_range[1])} over the spread of step and peak "
                    "timings"
                    if mfu_range
                    else ""
                ),
            ),
            dict(
                label="XLA / model FLOPs",
                value=ui.fmt(rec.hardware_to_model_flops),
                help="what the compiled program executes per step over what the architecture needs",
            ),
        ]
    )
    if mfu_range:
        st.caption(
            f"MFU {ui.fmt(rec.mfu)}, between {ui.fmt(mfu_range[0])} and {ui.fmt(mfu_range[1])} over the "
            "spread of the step and peak timings (a shared machine's speed varies from run to run)."
        )
    flops = pd.DataFrame(
        [
            {"count": "XLA (compiled program)", "flops_per_step": rec.xla_flops_per_step},
            {"count": "analytic model FLOPs (what MFU uses)", "flops_per_step": rec.model_flops_per_step},
            {
                "count": "analytic hardware FLOPs (dispatch, padding, optimizer)",
                "flops_per_step": rec.hardware_flops_per_step,
            },
        ]
    )
    flops["vs model FLOPs"] = flops["flops_per_step"] / rec.model_flops_per_step
    ui.show_table(flops, "m_flops")
    timing = pd.DataFrame(
        [{"quantity": text, "value": timing_text(k, getattr(rec, k))} for k, text in TIMING.items()]
        + [
            {"quantity": ROUTING.get(k, f"routing: {k.replace('_', ' ')}"), "value": ui.fmt(v)}
            for k, v in rec.routing.items()
        ]
    )
    ui.show_table(timing, "m_timing")
    st.caption(
        f"Peak: {rec.peak_source}."
        + (
            " Compile time: *cached* means the compiled step was reused from an earlier run in this process."
            if rec.compile_s < CACHED_COMPILE_S
            else ""
        )
    )
    if rec.routing:
        st.caption(ROUTING_HELP)
    st.caption(carried_over(rec))
    c = st.columns(2)
    if c[0].button("Use in the training what-if", key="m_use", help=carried_over(rec)):
        ui.set_state(ui.USE_MEASUREMENT_KEY, True, in_callback=True)  # drawn on the next page
        try:
            st.switch_page("pages/1_Training_what-if.py")
        except StreamlitAPIException:  # Streamlit cannot clear query parameters bound to this page's widgets
            st.page_link("pages/1_Training_what-if.py", label="Open the training what-if, with this measurement →")
    c[1].download_button(
        "Download measurement JSON",
        rec.model_dump_json(indent=2),
        f"measurement-{rec.model}.json",
        "application/json",
        key="m_json",
    )
