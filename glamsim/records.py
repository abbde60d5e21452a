"""The measurement record: a versioned pydantic model saved as JSON by `glamsim measure`, read by the
cost model, the studies and the dashboard without JAX (a data schema, beside `glamsim.config`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt

from glamsim.config import ConfigError, Frozen, parse_json, show, validate_as
from glamsim.files import write_text
from glamsim.readers import read_text

SCHEMA = "glamsim.measurement/1"


class Measurement(Frozen):
    """One `glamsim measure` run: what ran, where, what XLA counted and how fast it went.

    FLOPs per step are for the whole step across devices unless named `_per_device`.
    `peak_flops_per_s` is the peak of all devices together; `mfu` = analytic model FLOP/s / peak;
    `hfu` = XLA-counted FLOP/s / peak.
    """

    record_schema: Literal["glamsim.measurement/1"] = SCHEMA
    created_at: str
    glamsim_version: str
    model: str
    model_config_data: dict
    batch: PositiveInt
    seq_len: PositiveInt
    dispatch: Literal["scatter", "einsum", "dropless"]
    mesh: dict[str, int] | None = None
    backend: str
    device_kind: str
    n_devices: PositiveInt
    jax_version: str
    lower_s: NonNegativeFloat
    compile_s: NonNegativeFloat
    xla_flops_per_step_per_device: NonNegativeFloat
    xla_bytes_per_step_per_device: NonNegativeFloat
    xla_flops_per_step: NonNegativeFloat
    model_flops_per_step: PositiveFloat
    hardware_flops_per_step: PositiveFloat
    steps: PositiveInt
    step_time_median_s: PositiveFloat
    step_time_p10_s: PositiveFloat
    step_time_p90_s: PositiveFloat
    tokens_per_s: PositiveFloat
    achieved_model_flops_per_s: PositiveFloat
    achieved_xla_flops_per_s: NonNegativeFloat
    peak_flops_per_s: PositiveFloat
    peak_source: str
    mfu: NonNegativeFloat
    hfu: NonNegativeFloat
    peak_flops_range_per_s: tuple[PositiveFloat, PositiveFloat] | None = None  # low, high of the peak timings
    mfu_range: tuple[NonNegativeFloat, NonNegativeFloat] | None = None  # slow step at a fast peak .. the reverse
    predicted_step_time_s: PositiveFloat | None = None  # glamsim.predict.cpu for this host, beside the measurement
    predicted_breakdown: dict[str, float] = {}
    host: dict[str, float | str | None] = {}  # the host figures the prediction used
    memory: dict[str, int] = {}
    routing: dict[str, float] = {}
    collectives: dict[str, dict[str, float]] = {}
    decode_step_time_median_s: PositiveFloat | None = None
    loss_first: float | None = None
    loss_last: float | None = None

    @property
    def hardware_to_model_flops(self) -> float:
        """XLA-counted over analytic model FLOPs: dispatch, padding, router, elementwise work."""
        return self.xla_flops_per_step / self.model_flops_per_step

    def save(self, path: str | Path) -> Path:
        """Write atomically (`glamsim.files`: a temporary file renamed), so a crash never leaves
        half a record."""
        path = Path(path)
        write_text(self.model_dump_json(indent=2), path)
        return path


def load_measurement(path: str | Path) -> Measurement:
    """Read a record, with a one-line error for a missing, corrupted or foreign file."""
    path = Path(path)
    text = read_text(path, "record", f"{show(str(path))}: measurement")
    data = parse_json(text, f"{path}: measurement")
    if not isinstance(data, dict) or data.get("record_schema") != SCHEMA:
        found = data.get("record_schema") if isinstance(data, dict) else type(data).__name__
        raise ConfigError(f"{path}: record_schema={show(found)}: not a glamsim measurement (expected {SCHEMA!r})")
    return validate_as(Measurement, data, str(path))


def list_measurements(folder: str | Path) -> list[tuple[Path, Measurement | str]]:
    """Every *.json record under a folder, with the error text for those that do not load."""
    out = []
    for p in sorted(Path(folder).glob("**/*.json")):
        try:
            out.append((p, load_measurement(p)))
        except ConfigError as err:
            out.append((p, str(err)))
    return out


def compile_note(model: str, batch: int, seq_len: int, folder: str | Path = "runs", n_layers: int | None = None) -> str:
    """What the first step waits for, said before it starts: XLA compiling `model`'s training step, and
    how long that took on this machine before (the newest record of the model under `folder`, the
    same batch and context preferred), or, without one, that no time is known and what it depends on.
    Records that do not load are skipped."""
    found = list_measurements(folder) if Path(folder).is_dir() else []
    seen = [(p, r) for p, r in found if isinstance(r, Measurement) and r.model == model]
    head = f"compiling {model}'s training step with XLA (batch {batch} x {seq_len} tokens) before the first step"
    if not seen:
        layers = f"its {n_layers} layers unrolled, " if n_layers else ""
        return (
            f"{head}; no earlier record of {model} under {folder}/ to time it by: expect seconds for a small model, "
            f"a minute or more for a large one ({layers}longer with more devices)"
        )
    same = [(p, r) for p, r in seen if (r.batch, r.seq_len) == (batch, seq_len)]
    path, rec = max(same or seen, key=lambda pr: pr[1].created_at)
    shape = "the same shape" if same else f"batch {rec.batch} x {rec.seq_len}"
    return (
        f"{head}; it took {rec.lower_s + rec.compile_s:.1f} s on {rec.device_kind} last time ({shape}, "
        f"{rec.created_at[:10]}, {path.name})"
    )
