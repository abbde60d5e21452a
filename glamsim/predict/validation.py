"""The predictor against published training runs (`published_runs.yaml`, `predictions:`).

Each run names a model (a preset or one defined under `predictions.models`), a chip, the
published (or clearly assumed) layout and one published figure: MFU, HFU or TFLOP/s per chip
under the publication's FLOP convention.  The prediction goes through `evaluate`, the same call a
user makes; a figure published as total FLOPs over total run time (`basis: wall_clock`) is
compared with the step-level prediction times `WALL_CLOCK_GOODPUT`.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import Field

from glamsim.accounting import ModelArrays, params
from glamsim.config import (
    ConfigError,
    Frozen,
    ModelConfig,
    Published,
    data_dir,
    load_model,
    model_presets,
    read_yaml,
    validate_as,
    validate_model,
)
from glamsim.predict.efficiency import WALL_CLOCK_GOODPUT
from glamsim.predict.estimate import evaluate


class PredictionRun(Frozen):
    id: str
    label: str
    model: str
    chip: str
    seq_len: int = Field(ge=1)
    layout: str
    layout_source: str
    chips_per_node: Published | None = None
    uneven_stages: bool = False
    quantity: Literal["mfu", "hfu", "tflops_per_chip"]
    convention: Literal["model", "6nd", "hardware"] = "model"
    basis: Literal["step", "wall_clock"] = "step"
    published: Published
    tolerance: float = Field(0.15, gt=0, le=10)
    note: str = ""


class Predictions(Frozen):
    models: dict[str, dict] = Field(default_factory=dict)
    runs: list[PredictionRun]


@cache
def predictions() -> tuple[dict[str, ModelConfig], tuple[PredictionRun, ...]]:
    path = data_dir("hardware_profiles") / "published_runs.yaml"
    data = read_yaml(path).get("predictions")
    if data is None:
        raise ConfigError(f"{path.name}: no predictions section")
    p = validate_as(Predictions, data, f"{path.name}: predictions")
    models = {name: validate_model(d, f"{path.name}: predictions.models.{name}") for name, d in p.models.items()}
    return models, tuple(p.runs)


def _model(name: str, models: dict[str, ModelConfig]) -> ModelConfig:
    if name in models:
        return models[name]
    if name in model_presets():
        return load_model(name)
    raise ConfigError(f"published_runs.yaml: predictions model={name!r}: unknown")


def predicted_value(run: PredictionRun, r: dict, cfg: ModelConfig) -> float:
    """The run's quantity from a prediction `r`, under the publication's convention and basis."""
    peak = r["peak_flops"]
    if run.convention == "hardware":
        rate = r["hfu"] * peak
    elif run.convention == "6nd":
        n_active = float(params(ModelArrays.of(cfg), active=True)[0])
        rate = 6 * n_active * r["tokens_per_step"] / (r["chips"] * r["step_s"])
    else:
        rate = r["mfu"] * peak
    goodput = WALL_CLOCK_GOODPUT if run.basis == "wall_clock" else 1.0
    value = rate * goodput
    return value / 1e12 if run.quantity == "tflops_per_chip" else value / peak


def predict_run(run: PredictionRun, models: dict[str, ModelConfig] | None = None) -> dict:
    models = predictions()[0] if models is None else models
    cfg = _model(run.model, models)
    r = evaluate(
        cfg,
        run.chip,
        run.layout,
        seq_len=run.seq_len,
        chips_per_node=run.chips_per_node.value if run.chips_per_node else None,
        uneven_stages=run.uneven_stages,
    )
    return {"prediction": r, "predicted": predicted_value(run, r, cfg)}


def validation_rows() -> list[dict]:
    """One row per run: published, predicted, relative error, tolerance, ok, layout, sources."""
    models, runs = predictions()
    rows = []
    for run in runs:
        p = predict_run(run, models)
        r = p["prediction"]
        err = p["predicted"] / run.published.value - 1
        rows.append(
            {
                "id": run.id,
                "run": run.label,
                "quantity": run.quantity,
                "published": run.published.value,
                "predicted": p["predicted"],
                "rel_error": err,
                "tolerance": run.tolerance,
                "ok": abs(err) <= run.tolerance,
                "layout": r["layout"],
                "chips": r["chips"],
                "fits": r["fits"],
                "mfu": r["mfu"],
                "hfu": r["hfu"],
                "step_s": r["step_s"],
                "breakdown": r["breakdown"],
                "basis": run.basis,
                "layout_source": run.layout_source,
                "source": run.published.source,
                "note": run.note,
            }
        )
    return rows
