"""The predictor against published training runs (`published_runs.yaml`, `predictions:`).

Each run names a model (a preset or one defined under `predictions.models`), a chip, the
published (or clearly assumed) layout, its source family and software stack, and one published
figure: MFU, HFU or TFLOP/s per chip under the publication's FLOP convention, seconds per step,
or tokens per second per chip.  The prediction goes through `evaluate`, the same call a
user makes; a figure published as total FLOPs over total run time (`basis: wall_clock`) is
compared with the step-level prediction times `WALL_CLOCK_GOODPUT`.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

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
from glamsim.predict.estimate import evaluate, memory_bytes
from glamsim.predict.layout import STACKS, parse_layout
from glamsim.predict.memory import fit_verdict
from glamsim.profiles import ChipProfile, load_chip

Stack = Literal["megatron", "deepspeed", "xla", "pytorch-fsdp", "pytorch", "unknown"]


class PredictionRun(Frozen):
    id: str
    label: str
    family: str = Field(min_length=1, description="the publication the row comes from (leave-one-source-out unit)")
    stack: Stack
    model: str
    chip: str
    dtype: Literal["bf16", "fp16", "fp8"] | None = None
    seq_len: int = Field(ge=1)
    layout: str
    layout_source: str
    chips_per_node: Published | None = None
    # the run's own network between servers, one way per chip, where it differs from the chip
    # profile's reference cluster (the profile's `inter_node_bandwidth_gb_per_s` otherwise)
    inter_node_gb_per_s: Published | None = None
    uneven_stages: bool = False
    quantity: Literal["mfu", "hfu", "tflops_per_chip", "step_s", "tokens_per_s_per_chip"]
    convention: Literal["model", "6nd", "6nd_causal", "hardware"] = "model"
    basis: Literal["step", "wall_clock"] = "step"
    published: Published
    peak_memory_gib: Published | None = None  # the run's published peak memory per chip, GiB
    tolerance: float = Field(0.15, gt=0, le=10)
    note: str = ""
    # the publisher's own report of the figure as a performance regression (of its software or its
    # recipe: its words and where they stand; "inferred, not filed: ..." where a report predates the
    # figure); the row stays in every figure, reported beside them without it
    publisher_regression: str = ""

    @model_validator(mode="after")
    def _positive_network(self) -> PredictionRun:
        if self.inter_node_gb_per_s is not None and not self.inter_node_gb_per_s.value > 0:
            raise ValueError(f"inter_node_gb_per_s.value={self.inter_node_gb_per_s.value!r}: must be positive (GB/s)")
        return self


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


def run_model(name: str, models: dict[str, ModelConfig]) -> ModelConfig:
    """A published run's model: one of the `predictions:` models, else a preset."""
    if name in models:
        return models[name]
    if name in model_presets():
        return load_model(name)
    raise ConfigError(f"published_runs.yaml: predictions model={name!r}: unknown")


def predicted_value(run: PredictionRun, r: dict, cfg: ModelConfig) -> float:
    """The run's quantity from a prediction `r`, under the publication's convention and basis.

    `6nd_causal` is MaxText's count: 6 x activated parameters plus causal attention, 6 L s a d
    per token (its `calculate_tflops_training_per_device`)."""
    peak = r["peak_flops"]
    goodput = WALL_CLOCK_GOODPUT if run.basis == "wall_clock" else 1.0
    if run.quantity == "step_s":
        return r["step_s"] / goodput
    tokens_per_s_per_chip = r["tokens_per_step"] / (r["chips"] * r["step_s"]) * goodput
    if run.quantity == "tokens_per_s_per_chip":
        return tokens_per_s_per_chip
    if run.convention == "hardware":
        rate = r["hfu"] * peak
    elif run.convention == "6nd":
        n_active = float(params(ModelArrays.of(cfg), active=True)[0])
        rate = 6 * n_active * tokens_per_s_per_chip / goodput
    elif run.convention == "6nd_causal":
        n_active = float(params(ModelArrays.of(cfg), active=True)[0])
        attention = 6 * cfg.n_layers * r["seq_len"] * cfg.n_heads * cfg.head_dim
        rate = (6 * n_active + attention) * tokens_per_s_per_chip / goodput
    else:
        rate = r["mfu"] * peak
    value = rate * goodput
    return value / 1e12 if run.quantity == "tflops_per_chip" else value / peak


def run_layout(run: PredictionRun):
    """A published run's layout as it is predicted: the row's software where it names one of
    STACKS (it decides how the ZeRO-3 gathers are grouped, the kernels, the fusion), else the
    layout's own or the chip's default (`layout.on_chip`, applied by `evaluate`)."""
    layout = parse_layout(run.layout)
    return layout.model_copy(update={"stack": run.stack}) if run.stack in STACKS else layout


def run_chip(run: PredictionRun) -> ChipProfile | str:
    """A published run's chip: its profile's name, or where the run states a network of its own
    (`inter_node_gb_per_s`) the profile with that network in place of the reference cluster's, its
    source the run's: one chip profile, as a user's own cluster is written (`--chip my.yaml`)."""
    if run.inter_node_gb_per_s is None:
        return run.chip
    prof = load_chip(run.chip)
    own = run.inter_node_gb_per_s
    spec = prof.inter_node_bandwidth_gb_per_s.model_copy(
        update={"value": own.value, "source": f"the run's own: {own.source}", "date": "", "note": own.note}
    )
    return prof.model_copy(update={"inter_node_bandwidth_gb_per_s": spec})


def _scenario(run: PredictionRun, models: dict[str, ModelConfig]) -> tuple[tuple, dict]:
    """A published run as `evaluate`'s arguments: (model, chip, layout), keywords."""
    kw = dict(
        seq_len=run.seq_len,
        dtype=run.dtype,
        chips_per_node=run.chips_per_node.value if run.chips_per_node else None,
        uneven_stages=run.uneven_stages,
    )
    return (run_model(run.model, models), run_chip(run), run_layout(run)), kw


def own_cluster(run: PredictionRun) -> tuple[str | None, str | None]:
    """A run's own server (or TPU slice) size and network between servers, where it states them,
    each as one phrase for the faces (None where the chip profile's apply)."""
    not_profile = f"the run's own (not the {run.chip} profile's)"
    server = run.chips_per_node and f"{run.chips_per_node.value:,.0f} chips a server or slice, {not_profile}"
    network = run.inter_node_gb_per_s and f"{run.inter_node_gb_per_s.value:g} GB/s one way a chip, {not_profile}"
    return server or None, network or None


def predict_run(run: PredictionRun, models: dict[str, ModelConfig] | None = None) -> dict:
    """A published run predicted: `evaluate`'s output, its fit verdict from the published peaks of
    other sources (leave-one-source-out), and the predicted value in the run's published quantity."""
    models = predictions()[0] if models is None else models
    args, kw = _scenario(run, models)
    r = evaluate(*args, **kw)
    r.update(fit_verdict(r["memory"], r["chip"], exclude=run.family))
    return {"prediction": r, "predicted": predicted_value(run, r, args[0])}


@cache
def peak_memory_rows() -> tuple[dict, ...]:
    """The published runs with a published peak memory per chip: id, family, the published and the
    counted bytes (the count alone: a verdict is sized from these rows)."""
    models, runs = predictions()
    out = []
    for run in runs:
        if run.peak_memory_gib is not None:
            args, kw = _scenario(run, models)
            counted = memory_bytes(*args, **kw)["total"]
            published = run.peak_memory_gib.value * 2**30
            out.append({"id": run.id, "family": run.family, "published_bytes": published, "counted_bytes": counted})
    return tuple(out)


def validation_rows() -> list[dict]:
    """`prediction_rows` with each row's interval from the other sources' errors (`level`, `low`,
    `high`, `widened` by published rows like it, `range` its label, e.g. "80% + 6 long-context
    rows", and whether the published figure is `covered`)."""
    from glamsim.predict.intervals import attention_kernel_of, mfu_interval, routing_class
    from glamsim.predict.tiers import roof_burst_bound

    models = predictions()[0]
    rows = []
    for r in prediction_rows():
        cfg = run_model(r["model"], models)
        iv = mfu_interval(
            r["stack"],
            exclude=r["family"],
            chip=r["chip"],
            n_experts=cfg.n_experts,
            routing=routing_class(cfg),
            seq_len=r["seq_len"],
            kernel=attention_kernel_of(parse_layout(r["layout"]), r["chip"]),  # the layout as predicted
            burst_bound=roof_burst_bound(load_chip(r["chip"])),
        )
        band = (iv.low, iv.high) if r["quantity"] != "step_s" else (1 / iv.high, 1 / iv.low)
        low, high = r["predicted"] * band[0], r["predicted"] * band[1]
        covered = low <= r["published"] <= high
        rows.append(
            {
                **r,
                "low": low,
                "high": high,
                "level": iv.level,
                "widened": bool(iv.widened_by),
                "range": iv.label,
                "covered": covered,
            }
        )
    return rows


@cache
def prediction_rows() -> tuple[dict, ...]:
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
                "family": run.family,
                "model": run.model,
                "chip": run.chip,
                "stack": run.stack,
                "quantity": run.quantity,
                "dtype": run.dtype,
                "seq_len": run.seq_len,
                "published": run.published.value,
                "predicted": p["predicted"],
                "rel_error": err,
                "tolerance": run.tolerance,
                "ok": abs(err) <= run.tolerance,
                "layout": r["layout"],
                "chips": r["chips"],
                "fits": r["fits"],
                "may_fit": r["may_fit"],
                "memory_verdict": r["memory_verdict"],
                "shortfall_message": r["shortfall_message"],
                "mfu": r["mfu"],
                "hfu": r["hfu"],
                "step_s": r["step_s"],
                "breakdown": r["breakdown"],
                "memory": r["memory"],
                "basis": run.basis,
                # the run's own server (or TPU slice) size and network where they differ from its
                # chip profile's, as phrases (None otherwise)
                **dict(zip(("own_server", "own_network"), own_cluster(run), strict=True)),
                "layout_source": run.layout_source,
                "source": run.published.source,
                "note": run.note,
                "publisher_regression": run.publisher_regression,
            }
        )
    return tuple(rows)


def selected_rows(run: str | None = None, family: str | None = None) -> list[dict]:
    """`validation_rows`, all of them, the one published run `run` or the rows of the source family
    `family` (one-line ConfigError for an unknown id or family, or for both given)."""
    import difflib

    rows = validation_rows()
    if run is not None and family is not None:
        raise ConfigError(f"run={run!r}: give run or family, not both (family={family!r})")
    if run is not None:
        ids = [r["id"] for r in rows]
        if run not in ids:
            near = difflib.get_close_matches(str(run).lower(), ids, n=1)
            hint = f"did you mean {near[0]}?" if near else f"{len(ids)} runs, `glamsim validate-predictions` lists them"
            raise ConfigError(f"run={run!r}: no published run of that id; {hint}")
        return [r for r in rows if r["id"] == run]
    if family is not None:
        families = sorted({r["family"] for r in rows})
        if family not in families:
            raise ConfigError(f"family={family!r}: no such source family; one of {', '.join(families)}")
        return [r for r in rows if r["family"] == family]
    return rows


def family_errors(rows: list[dict]) -> dict[str, float]:
    """Median |relative error| of each source family's rows."""
    fams: dict[str, list[float]] = {}
    for r in rows:
        fams.setdefault(r["family"], []).append(abs(r["rel_error"]))
    return {f: float(np.median(v)) for f, v in sorted(fams.items())}
