"""Measured inputs for the cost model: utilisation and hardware/model FLOPs from a run record.

A `Measurement` (from `glamsim measure`) is plain data, so nothing here imports JAX.  Its MFU is
used only when the run's device is the target chip (the profile's `device_kinds`); its
hardware-to-model FLOPs ratio (XLA-counted over analytic) always carries over; for serving, its
router load (busiest/mean expert) sets the routing skew.
"""

from __future__ import annotations

from glamsim.config import ConfigError
from glamsim.profiles import ChipProfile
from glamsim.records import Measurement


def device_matches(rec: Measurement, chip: ChipProfile) -> bool:
    kind = rec.device_kind.strip().lower()
    return any(kind.startswith(k.lower()) for k in chip.device_kinds)


def measured_inputs(rec: Measurement, chip: ChipProfile, origin: str = "") -> tuple[dict, dict, str]:
    """(scenario fields, their sources, a note) from a record: `hw_flops_ratio` always, `mfu` when
    the record's device is the chip; the note says what was and was not used."""
    where = f"measured on {rec.device_kind} ({rec.backend}), {rec.created_at[:10]}"
    where += f", {origin}" if origin else ""
    fields = {"hw_flops_ratio": rec.hardware_to_model_flops}
    sources = {
        "hw_flops_ratio": f"{where}: XLA FLOPs / analytic model FLOPs of {rec.model} "
        f"(batch {rec.batch} x seq {rec.seq_len}, {rec.dispatch} dispatch)"
    }
    if device_matches(rec, chip):
        fields["mfu"] = rec.mfu
        sources["mfu"] = (
            f"{where}: {rec.model}, median step {rec.step_time_median_s * 1e3:.1f} ms, peak from {rec.peak_source}"
        )
        note = f"measured MFU {rec.mfu:.3f} and FLOPs ratio used"
    else:
        note = (
            f"measured MFU {rec.mfu:.3f} not used: the run's device ({rec.device_kind}) is not "
            f"chip {chip.name}; its FLOPs ratio {rec.hardware_to_model_flops:.3f} is used"
        )
    return fields, sources, note


def measured_routing(rec: Measurement, origin: str = "") -> tuple[float, str]:
    """The router's busiest/mean expert load of a record (`routing_skew`) and its source; a
    one-line error for a record without one (a dense model's)."""
    skew = rec.routing.get("max_mean_load")
    if skew is None:
        raise ConfigError(f"measured={origin or rec.model!r}: the record has no router load (a dense model?)")
    where = f"measured on {rec.device_kind} ({rec.backend}), {rec.created_at[:10]}" + (f", {origin}" if origin else "")
    return max(1.0, float(skew)), (
        f"{where}: router load of {rec.model}, busiest expert / mean, averaged over its MoE layers"
    )
