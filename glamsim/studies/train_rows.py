"""Training outputs of many scenarios: `glamsim.cost.training_costs` on whole columns, with the
single estimate's refusals."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from glamsim.accounting import ModelArrays
from glamsim.config import ConfigError, ModelConfig
from glamsim.cost import communication as comm
from glamsim.cost import training
from glamsim.cost.bundles import Hardware, Site, TrainingRun
from glamsim.outputs import MFU_RANGE_KEYS
from glamsim.studies.columns import (
    chip_columns,
    context,
    datacenter_figures,
    direct,
    floats,
    lookup,
    measured,
    override,
    power_curve,
    predicted,
)


def training_outputs(
    rows: pd.DataFrame, m: ModelArrays, flops_per_token_train: np.ndarray, cfgs: list[ModelConfig]
) -> dict[str, np.ndarray]:
    """`glamsim.cost.training_costs` on whole columns, communication included: MFU rows and
    known-hours rows separately."""
    chip = chip_columns(rows)
    dc = lookup(rows[["datacenter"]], datacenter_figures)
    chips, tokens = floats(rows, "chips"), floats(rows, "tokens")
    flops = override(rows, "train_flops", flops_per_token_train * tokens)
    hours = floats(rows, "hours")
    known = ~np.isnan(hours)
    mfu, measured_ratio = measured(rows)
    need = ~known & np.isnan(mfu)
    exposed = need & (floats(rows, "comm_overlap") < 1)
    if exposed.any():  # the single estimate's refusal, for the first such row
        i = int(np.argmax(exposed))
        raise ConfigError(
            f"comm_overlap={float(floats(rows, 'comm_overlap')[i])!r}: a predicted MFU already charges the exposed "
            f"communication; give --mfu to charge it on top{f', scenario {i + 1}' if len(rows) > 1 else ''}"
        )
    pred = predicted(rows, cfgs, need)
    # a predicted layout runs its own global batch (the steps and sequences per step), as the single estimate
    default_step = np.where(need, pred["global_batch"], training.DEFAULT_SEQS_PER_STEP) * context(rows, m)
    per_step = override(rows, "tokens_per_step", default_step)
    x = override(rows, "expert_parallel", comm.default_expert_parallel(m, chips))
    link = override(rows, "interconnect_gb_per_s", chip["interconnect_gb_per_s"])
    c = comm.training_comm(
        m, tokens, per_step, chips, x, link, floats(rows, "bytes_per_activation"), floats(rows, "bytes_per_grad")
    )
    comm_hours = np.where(
        rows["train_flops"].isna(), c["comm_s_per_step"] * c["steps"] / training.S_PER_HOUR, np.nan
    )  # given FLOPs: no model, so no communication
    gross = np.where(
        rows["carbon_intensity_kg_per_kwh"].isna(),
        dc["carbon_intensity_gross_kg_per_kwh"],
        floats(rows, "carbon_intensity_kg_per_kwh"),
    )
    hardware = Hardware(
        chip["peak_flops"],
        **power_curve(rows, chip),
        embodied_kg_per_chip_hour=chip["embodied_kg_per_chip_hour"],
        host_embodied_kg_per_chip_hour=chip["host_embodied_kg_per_chip_hour"],
    )
    site = Site(
        override(rows, "pue", dc["pue"]),
        override(rows, "carbon_intensity_kg_per_kwh", dc["carbon_intensity_kg_per_kwh"]),
        override(rows, "price_per_chip_hour_usd", chip["price_per_chip_hour_usd"]),
        gross,
        dc["wue_onsite_l_per_kwh"],
        dc["water_offsite_l_per_kwh"],
    )
    out: dict[str, np.ndarray] = {}
    mfu = np.where(np.isnan(mfu), pred["mfu"], mfu)
    # a predicted layout's communication is inside its MFU: one story, as the single estimate
    run = TrainingRun(flops, chips, comm_hours=np.where(need, np.nan, comm_hours), **direct(rows, training.DIRECT))
    for mask, when in ((~known, {"mfu": mfu}), (known, {"hours": hours})):
        if not mask.any():
            continue
        bundles = (replace(run, **when).rows(mask), hardware.rows(mask), site.rows(mask))
        for k, v in training.training_costs(*bundles).items():
            out.setdefault(k, np.full(len(rows), np.nan))[mask] = v
    too_fast = known & (out["mfu_effective"] > 1)
    if too_fast.any():  # the single estimate's refusal, for the first such row
        i = int(np.argmax(too_fast))
        raise ConfigError(
            f"hours={float(hours[i])!r}: implies MFU {out['mfu_effective'][i]:.2f} > 1 (faster than "
            f"{rows['chips'].iloc[i]:g} {rows['chip'].iloc[i]} chips' dense peak), scenario {i + 1}"
        )
    ratio = floats(rows, "hw_flops_ratio")  # a given ratio wins, then the measured record's, then the prediction's
    ratio = np.where(np.isnan(ratio), measured_ratio, ratio)
    ratio = np.where(np.isnan(ratio), np.where(np.isnan(pred["hw_ratio"]), 1.0, pred["hw_ratio"]), ratio)
    out["hfu"] = out["mfu_effective"] * ratio
    out["layout_comm_exposed_hours"] = out["train_hours"] * pred["exposed_share"]
    out["mfu_low"], out["mfu_high"] = pred["mfu_low"], pred["mfu_high"]  # a predicted MFU's range, else NaN
    for k in MFU_RANGE_KEYS:
        out[k] = np.full(len(rows), np.nan)
    if need.any():  # the headline outputs at the range's ends, as the single estimate gives them
        ends = (pred["mfu_low"][need], pred["mfu_high"][need])
        for k, v in training.at_mfu_range(run.rows(need), hardware.rows(need), site.rows(need), *ends).items():
            out[k][need] = v
    out["mfu_resolved"] = np.where(known, out["mfu_effective"], mfu)  # typed, measured, predicted, or implied by hours
    _refuse_as_the_single_estimate(rows, out, ratio)
    resolved = {
        f"resolved_{k}": getattr(site, k) for k in ("pue", "carbon_intensity_kg_per_kwh", "price_per_chip_hour_usd")
    }
    return {
        "peak_flops_per_s": chip["peak_flops"],
        "resolved_power_w": out["power_w_per_chip"],
        **resolved,
        "resolved_expert_parallel": x,
        "resolved_layout": pred["layout"],
        "resolved_memory_fit": pred["memory_fit"],
        "resolved_interconnect_gb_per_s": link,
        **{k: c[k] for k in ("comm_wire_bytes_per_chip_step", "comm_s_per_step", "steps")},
        **out,
    }


def _refuse_as_the_single_estimate(rows: pd.DataFrame, out: dict, ratio: np.ndarray) -> None:
    """The single estimate's refusals of a training scenario, for the first row that meets one:
    exposed communication longer than the given hours, an HFU above 1, communication charged on
    given FLOPs (it needs the model and tokens)."""
    overlap = floats(rows, "comm_overlap")
    checks = (
        (out["compute_hours"] < 0, "comm_overlap", "the exposed communication exceeds the given hours"),
        (out["hfu"] > 1, "hw_flops_ratio", "implies hardware FLOPs utilisation above 1"),
        (
            rows["train_flops"].notna().to_numpy() & (overlap < 1),
            "comm_overlap",
            "counting communication needs the model and tokens, not --train-flops",
        ),
    )
    for bad, name, why in checks:
        if bad.any():
            i = int(np.argmax(bad))
            value = {"hw_flops_ratio": ratio, "comm_overlap": overlap}[name][i]
            raise ConfigError(f"{name}={value:g}: {why}, scenario {i + 1}")
