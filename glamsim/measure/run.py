"""Run the real training step and measure it; count full-size steps from abstract shapes.

`measure(cfg, ...)` compiles the model's own `train_step`, reads XLA's FLOPs, bytes, memory and
collectives from the compiled program, times `steps` steps after warm-up and compares against
the analytic model and hardware FLOPs and the device's peak: the chip profile's dense peak on a
GPU/TPU, or on CPU a square matmul timed in the same process ("measured attainable peak").

`xla_count(cfg, ...)` lowers the same step from `jax.ShapeDtypeStruct`s: nothing is allocated,
so a 1.2T-parameter GLaM is counted in seconds on a laptop.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import glamsim
from glamsim.accounting import DISPATCHES, ModelArrays, optimizer_flops_per_step, train_flops_per_step
from glamsim.config import ConfigError, ModelConfig
from glamsim.measure.timing import interleaved, matmul_probe, time_calls
from glamsim.measure.xla import collectives, memory_bytes, program_cost
from glamsim.model.moe import group_size_for
from glamsim.model.train import TrainConfig, abstract_state, init_state, train_step
from glamsim.parallel import spmd
from glamsim.parallel.mesh import describe
from glamsim.records import Measurement

CPU_PEAK_SOURCE = (
    "measured attainable peak: median of {k} timings of a {n}x{n} float32 matmul, each right "
    "after a timed step, in the same process"
)
PEAK_MATMUL_N = 1024


def _batch_shapes(batch: int, seq_len: int) -> dict:
    return {k: jax.ShapeDtypeStruct((batch, seq_len), jnp.int32) for k in ("inputs", "targets")}


def analytic_step_flops(cfg: ModelConfig, batch: int, seq_len: int, dispatch: str) -> dict:
    """Model and hardware FLOPs of one training step, under the model's routing group size."""
    m = ModelArrays.of(cfg)
    group = group_size_for(batch * seq_len, cfg.router_group_size)
    one = lambda a: float(np.asarray(a).reshape(-1)[0])  # noqa: E731
    return {
        "model": one(train_flops_per_step(m, batch, seq_len)),
        "hardware": one(train_flops_per_step(m, batch, seq_len, hardware=True, group_size=group, dispatch=dispatch)),
        "optimizer": one(optimizer_flops_per_step(m)),
        "group_size": group,
    }


def default_dispatch(cfg: ModelConfig, dispatch: str | None = None) -> str:
    """`dispatch`, or the model's natural one: dropless for dropless routing, else scatter."""
    return dispatch or ("dropless" if cfg.dropless else "scatter")


def _check(cfg: ModelConfig, batch: int, seq_len: int | None, dispatch: str) -> int:
    s = cfg.max_seq_len if seq_len is None else seq_len
    if batch < 1:
        raise ConfigError(f"batch={batch}: must be at least 1")
    if not 1 <= s <= cfg.max_seq_len:
        raise ConfigError(f"seq_len={s}: must be between 1 and the context ({cfg.max_seq_len}) of {cfg.name}")
    if dispatch not in DISPATCHES:
        raise ConfigError(f"dispatch={dispatch!r}: expected one of {', '.join(DISPATCHES)}")
    return s


def check_request(
    cfg: ModelConfig,
    *,
    batch: int = 8,
    seq_len: int | None = None,
    steps: int = 10,
    warmup: int = 2,
    dispatch: str | None = None,
) -> int:
    """The sequence length to measure at; one-line ConfigError for settings that cannot run."""
    s = _check(cfg, batch, seq_len, default_dispatch(cfg, dispatch))
    if steps < 1:
        raise ConfigError(f"steps={steps}: must be at least 1")
    if warmup < 0:
        raise ConfigError(f"warmup={warmup}: must be at least 0")
    return s


def xla_count(cfg: ModelConfig, *, batch: int = 1, seq_len: int | None = None, dispatch: str | None = None) -> dict:
    """XLA's FLOPs of the full training step from abstract shapes, beside the analytic counts
    (`dispatch` None: the model's natural dispatch, see `default_dispatch`)."""
    dispatch = default_dispatch(cfg, dispatch)
    s = _check(cfg, batch, seq_len, dispatch)
    t0 = time.perf_counter()
    train_cfg = TrainConfig(batch_size=batch, seq_len=s, dispatch=dispatch)
    state = abstract_state(cfg, train_cfg)
    lowered = jax.jit(train_step, static_argnums=0).lower(state.graphdef, state, _batch_shapes(batch, s))
    t1 = time.perf_counter()
    cost = program_cost(lowered)
    t2 = time.perf_counter()
    a = analytic_step_flops(cfg, batch, s, dispatch)
    tokens = batch * s
    return {
        "model": cfg.name,
        "batch": batch,
        "seq_len": s,
        "dispatch": dispatch,
        "group_size": a["group_size"],
        "xla_flops_per_step": cost.flops,
        "xla_flops_per_token": cost.flops / tokens,
        "analytic_model_flops_per_token": a["model"] / tokens,
        "analytic_hardware_flops_per_token": a["hardware"] / tokens,
        "optimizer_flops_per_token": a["optimizer"] / tokens,
        "xla_over_hardware": cost.flops / a["hardware"],
        "xla_over_model": cost.flops / a["model"],
        "lower_s": t1 - t0,
        "cost_analysis_s": t2 - t1,
    }


def chip_peak(device, n_devices: int) -> tuple[float, str] | None:
    """(FLOP/s of all n_devices, source) from the chip profile matching an accelerator, or None
    (a CPU: its peak is measured beside the steps, see `measure`)."""
    from glamsim.profiles import chip_for_device

    chip = chip_for_device(device.device_kind) if device.platform != "cpu" else None
    if chip is None:
        return None
    field = chip.peak_field()
    return n_devices * chip.spec(
        field
    ).value, f"{n_devices} x chip profile {chip.origin}: {field} ({chip.spec(field).source})"


def measure(
    cfg: ModelConfig,
    *,
    batch: int = 8,
    seq_len: int | None = None,
    steps: int = 10,
    warmup: int = 2,
    dispatch: str | None = None,
    decode: bool = False,
    profile_dir: str | None = None,
    seed: int = 0,
    on_step: Callable[[int, int], None] | None = None,
    mesh=None,
    predict: bool = True,
) -> Measurement:
    """Compile, count and time the real training step of `cfg` on this process's default device,
    or sharded over a `glamsim.parallel` mesh (XLA's counts are then per device).  On one CPU device
    with `predict`, the record also holds the step time `glamsim.predict.cpu` predicts for this host."""
    from glamsim.model.data import load_corpus, train_batch

    dispatch = default_dispatch(cfg, dispatch)
    s = check_request(cfg, batch=batch, seq_len=seq_len, steps=steps, warmup=warmup, dispatch=dispatch)
    train_cfg = TrainConfig(batch_size=batch, seq_len=s, dispatch=dispatch, seed=seed)
    if mesh is not None:
        spmd.check_layout(cfg, mesh, batch, s)
    state = init_state(cfg, seed, train_cfg) if mesh is None else spmd.init_state(cfg, seed, train_cfg, mesh)
    place = (
        (lambda b: {k: jnp.asarray(v) for k, v in b.items()}) if mesh is None else (lambda b: spmd.shard_batch(b, mesh))
    )
    corpus = load_corpus()
    batches = [place(train_batch(corpus, i, batch, s, seed)) for i in range(min(steps + warmup, 4))]

    t0 = time.perf_counter()
    step_fn = jax.jit(train_step, static_argnums=0) if mesh is None else spmd.jit_train_step(state)
    lowered = step_fn.lower(state.graphdef, state, batches[0])
    t1 = time.perf_counter()
    compiled = lowered.compile()
    t2 = time.perf_counter()
    cost = program_cost(compiled)

    holder = {"state": state, "i": 0, "metrics": None}

    def step():
        b = batches[holder["i"] % len(batches)]
        holder["state"], holder["metrics"] = compiled(holder["state"], b)
        jax.block_until_ready(holder["state"].params)
        holder["i"] += 1

    step()  # first step: its loss is the starting point
    first_loss = float(holder["metrics"]["loss"])
    done = {"n": 0}

    def tick():
        done["n"] += 1
        if on_step:
            on_step(done["n"], steps)

    device = jax.devices()[0]
    n_dev = 1 if mesh is None else mesh.size
    trace = jax.profiler.trace(profile_dir) if profile_dir else contextlib.nullcontext()
    profile_peak = chip_peak(device, n_dev)
    with trace:
        if profile_peak is None:  # CPU: a reference matmul after every step, so the peak sees the same load
            probe, probe_flops = matmul_probe(PEAK_MATMUL_N)
            timing, probe_t = interleaved(step, probe, steps, warmup=max(0, warmup - 1), on_step=tick)
            peaks = probe_flops / np.asarray([probe_t.p90_s, probe_t.median_s, probe_t.p10_s])  # low, mid, high
            peak = float(peaks[1])
            peak_source = CPU_PEAK_SOURCE.format(n=PEAK_MATMUL_N, k=steps) + (
                f", shared by {n_dev} CPU devices" if n_dev > 1 else ""
            )
        else:
            timing = time_calls(step, steps, warmup=max(0, warmup - 1), on_step=tick)
            peak, peak_source = profile_peak
            peaks = np.full(3, peak)
    a = analytic_step_flops(cfg, batch, s, dispatch)
    # glamsim.predict.cpu models the scatter and einsum dispatches only
    pred = (
        _prediction(cfg, batch, s, dispatch, peak)
        if predict and profile_peak is None and mesh is None and dispatch != "dropless"
        else {}
    )
    metrics = {k: float(v) for k, v in holder["metrics"].items() if np.ndim(v) == 0}
    routing = {k: metrics[k] for k in ("dropped_fraction", "max_mean_load", "aux_loss") if k in metrics}
    return Measurement(
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        glamsim_version=glamsim.__version__,
        model=cfg.name,
        model_config_data=cfg.model_dump(mode="json"),
        batch=batch,
        seq_len=s,
        dispatch=dispatch,
        mesh=None if mesh is None else describe(mesh),
        backend=jax.default_backend(),
        device_kind=device.device_kind,
        n_devices=n_dev,
        jax_version=jax.__version__,
        lower_s=t1 - t0,
        compile_s=t2 - t1,
        xla_flops_per_step_per_device=cost.flops,
        xla_bytes_per_step_per_device=cost.bytes_accessed,
        xla_flops_per_step=cost.flops * n_dev,
        model_flops_per_step=a["model"],
        hardware_flops_per_step=a["hardware"],
        steps=steps,
        step_time_median_s=timing.median_s,
        step_time_p10_s=timing.p10_s,
        step_time_p90_s=timing.p90_s,
        tokens_per_s=batch * s / timing.median_s,
        achieved_model_flops_per_s=a["model"] / timing.median_s,
        achieved_xla_flops_per_s=cost.flops * n_dev / timing.median_s,
        peak_flops_per_s=peak,
        peak_source=peak_source,
        mfu=a["model"] / timing.median_s / peak,
        peak_flops_range_per_s=(float(peaks[0]), float(peaks[2])),
        mfu_range=(a["model"] / timing.p90_s / peaks[2], a["model"] / timing.p10_s / peaks[0]),
        hfu=cost.flops * n_dev / timing.median_s / peak,
        memory=memory_bytes(compiled),
        routing=routing,
        collectives=collectives(compiled.as_text()),
        decode_step_time_median_s=_decode_time(holder["state"], cfg, batch, s) if decode else None,
        loss_first=first_loss,
        loss_last=metrics.get("loss"),
        **pred,
    )


def _prediction(cfg: ModelConfig, batch: int, seq_len: int, dispatch: str, peak: float) -> dict:
    """Record fields: the step time `glamsim.predict.cpu` predicts for this host (its matmul rate the
    peak just measured, its memory rates measured now), with the breakdown and the host figures."""
    from dataclasses import asdict

    from glamsim.measure.timing import measure_host
    from glamsim.predict.cpu import predict_step

    if dispatch not in ("scatter", "einsum"):
        return {}
    host = measure_host(matmul_flops_per_s=peak)
    p = predict_step(cfg, batch, seq_len, dispatch, host)
    return {
        "predicted_step_time_s": p["step_s"],
        "predicted_breakdown": {k: float(v) for k, v in p.items() if k.endswith("_s") and k != "step_s"},
        "host": asdict(host),
    }


def _decode_time(state, cfg: ModelConfig, batch: int, seq_len: int) -> float:
    """Median time of one KV-cache decode step at half the context."""
    from glamsim.model.generate import decode_step
    from glamsim.model.transformer import init_cache

    cache = init_cache(cfg, batch, seq_len)
    prompt = jnp.zeros((batch, max(1, seq_len // 2)), jnp.int32)
    _, cache = decode_step(state.graphdef, state.params, prompt, cache)
    token = jnp.zeros((batch, 1), jnp.int32)
    return time_calls(
        lambda: jax.block_until_ready(decode_step(state.graphdef, state.params, token, cache)), 5, warmup=1
    ).median_s
