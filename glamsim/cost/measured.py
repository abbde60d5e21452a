"""Measured inputs for the cost model: utilisation and hardware/model FLOPs from a run record.

A `Measurement` (from `glamsim measure`) is plain data, so nothing here imports JAX.  Its MFU is
used only when the run's device is the target chip (the profile's `device_kinds`); its
hardware-to-model FLOPs ratio (XLA-counted over analytic) always carries over.
"""

from __future__ import annotations

from glamsim.measure.record import Measurement
from glamsim.profiles import ChipProfile


def device_matches(rec: Measurement, chip: ChipProfile) -> bool:
    kind = rec.device_kind.strip().lower()
    return any(kind.startswith(k.lower()) for k in chip.device_kinds)


def measured_inputs(rec: Measurement, chip: ChipProfile, origin: str = "") -> dict:
    """Keyword arguments for `estimate_training` from a record, each with its provenance.

    Returns `hw_flops_ratio` (+ source) always, `mfu` (+ source) when the device matches the
    chip, and `note` saying what was and was not used.
    """
    where = f"measured on {rec.device_kind} ({rec.backend}), {rec.created_at[:10]}"
    where += f", {origin}" if origin else ""
    out = {
        "hw_flops_ratio": rec.hardware_to_model_flops,
        "hw_flops_ratio_source": f"{where}: XLA FLOPs / analytic model FLOPs of {rec.model} "
                                 f"(batch {rec.batch} x seq {rec.seq_len}, {rec.dispatch} dispatch)",
    }
    if device_matches(rec, chip):
        out["mfu"] = rec.mfu
        out["mfu_source"] = f"{where}: {rec.model}, median step {rec.step_time_median_s * 1e3:.1f} ms, " \
                            f"peak from {rec.peak_source}"
        out["note"] = f"measured MFU {rec.mfu:.3f} and FLOPs ratio used"
    else:
        out["note"] = (f"measured MFU {rec.mfu:.3f} not used: the run's device ({rec.device_kind}) is not "
                       f"chip {chip.name}; its FLOPs ratio {rec.hardware_to_model_flops:.3f} is used")
    return out
