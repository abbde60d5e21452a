"""`glamsim measure` and `glamsim runs`: measured step time, FLOPs and utilisation of the real model."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from glamsim.cli.typer_app import (
    COORDINATOR,
    MESH,
    NUM_PROCESSES,
    PROCESS_ID,
    check_dispatch,
    command,
    fmt,
    print_json,
    print_table,
)

RUNS_DIR = Path("runs")


def record_name(model_name: str, stamp: str) -> str:
    """`<model>-<stamp>.json`, a plain file name whatever the model is called: anything but letters,
    digits, '_', '-' and inner '.' becomes '_', so the record cannot land outside the runs folder."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", model_name).strip(".")[:100] or "model"
    safe = re.sub(r"\.{2,}", "_", safe)
    return f"{safe}-{re.sub(r'[^0-9TZ]', '', stamp)}.json"


def default_record_path(model_name: str, stamp: str) -> Path:
    path = RUNS_DIR / record_name(model_name, stamp)
    if path.parent != RUNS_DIR or path.name in ("", ".", ".."):  # defensive: record_name already ensures it
        from glamsim.config import ConfigError

        raise ConfigError(f"model={model_name!r}: cannot make a record file name from it")
    return path


@command("measure")
def measure_cmd(
    model: str = typer.Option(..., "--model", help="preset name or ModelConfig YAML"),
    batch: int = typer.Option(8, "--batch", min=1, help="sequences per step"),
    seq_len: int = typer.Option(None, "--seq-len", min=1, help="tokens per sequence (default: the model's context)"),
    steps: int = typer.Option(10, "--steps", min=1, help="timed steps after warm-up"),
    warmup: int = typer.Option(2, "--warmup", min=0, help="untimed steps first (compilation, caches)"),
    dispatch: str = typer.Option(
        None,
        "--dispatch",
        help="MoE dispatch: scatter, einsum or dropless (default: "
        "dropless for a model with dropless routing, else scatter)",
    ),
    decode: bool = typer.Option(False, "--decode", help="also time one KV-cache decode step"),
    out: str = typer.Option(None, "--out", help="record file (default runs/<model>-<time>.json)"),
    profile_dir: Path = typer.Option(None, "--profile-dir", help="write a JAX profiler trace of the timed steps"),
    predict: bool = typer.Option(
        True,
        "--predict/--no-predict",
        help="on one CPU device: also measure this host's "
        "memory rates and record the step time glamsim.predict.cpu predicts",
    ),
    json_out: bool = typer.Option(False, "--json", help="print the record as JSON"),
    mesh: str = MESH,
    coordinator: str = COORDINATOR,
    num_processes: int = NUM_PROCESSES,
    process_id: int = PROCESS_ID,
) -> None:
    """Run the real training step: XLA vs analytic FLOPs, step time, tokens/s, MFU, memory."""
    from glamsim.parallel import check

    check(mesh, coordinator, num_processes, process_id)  # cluster flags refused before JAX loads
    from tqdm import tqdm

    from glamsim.config import ConfigError, load_model
    from glamsim.model import paths

    cfg = load_model(model)
    check_dispatch(dispatch)
    # every output checked before the (long) measurement: a bad path fails now, not at the end
    if out is not None:
        paths.output_file(out, "--out")
    else:
        paths.output_dir(RUNS_DIR, "--out (default folder)")
    if profile_dir is not None:
        paths.output_dir(profile_dir, "--profile-dir")

    from glamsim.measure.run import check_request, measure
    from glamsim.parallel import distributed, setup

    check_request(cfg, batch=batch, seq_len=seq_len, steps=steps, warmup=warmup, dispatch=dispatch)
    device_mesh = setup(mesh, coordinator, num_processes, process_id)
    if not json_out and distributed.is_main():  # the first step waits for XLA: say so, with a time where known
        from glamsim.records import compile_note

        typer.echo(compile_note(cfg.name, batch, seq_len or cfg.max_seq_len, RUNS_DIR, cfg.n_layers), err=True)
    bar = tqdm(total=steps, desc=f"measure {cfg.name}", unit="step", disable=json_out or not distributed.is_main())

    def on_step(i, n):
        bar.update(1)

    rec = measure(
        cfg,
        batch=batch,
        seq_len=seq_len,
        steps=steps,
        warmup=warmup,
        dispatch=dispatch,
        decode=decode,
        profile_dir=str(profile_dir) if profile_dir else None,
        on_step=on_step,
        mesh=device_mesh,
        predict=predict,
    )
    bar.close()
    if not distributed.is_main():
        return  # the other processes of a multi-process run neither write nor print
    stamp = rec.created_at.replace(":", "").replace("-", "")[:15]
    try:
        path = rec.save(Path(out) if out else default_record_path(cfg.name, stamp))
    except OSError as err:
        raise ConfigError(
            f"--out={str(out or RUNS_DIR)!r}: cannot write the record ({err.strerror or err.__class__.__name__})"
        ) from None
    if json_out:
        return print_json(rec.model_dump(mode="json"))
    rows = [
        ("device", f"{rec.device_kind} ({rec.backend}, jax {rec.jax_version})"),
        ("batch x seq_len", f"{rec.batch} x {rec.seq_len} ({rec.dispatch} dispatch)"),
        ("lower / compile", f"{rec.lower_s:.2f} s / {rec.compile_s:.2f} s"),
        ("XLA FLOPs per step", fmt(rec.xla_flops_per_step)),
        ("analytic model FLOPs per step", fmt(rec.model_flops_per_step)),
        ("analytic hardware FLOPs per step", fmt(rec.hardware_flops_per_step)),
        (
            "XLA / hardware, XLA / model",
            f"{rec.xla_flops_per_step / rec.hardware_flops_per_step:.4f}, {rec.hardware_to_model_flops:.4f}",
        ),
        (
            "step time median (p10-p90)",
            f"{rec.step_time_median_s * 1e3:.1f} ms ({rec.step_time_p10_s * 1e3:.1f}-{rec.step_time_p90_s * 1e3:.1f})",
        ),
        ("tokens/s", fmt(rec.tokens_per_s)),
        *(
            [
                (
                    "predicted step (glamsim.predict.cpu)",
                    f"{rec.predicted_step_time_s * 1e3:.1f} ms, "
                    f"{rec.predicted_step_time_s / rec.step_time_median_s - 1:+.0%} against the median",
                )
            ]
            if rec.predicted_step_time_s
            else []
        ),
        ("achieved model FLOP/s", fmt(rec.achieved_model_flops_per_s)),
        (
            "peak FLOP/s",
            f"{fmt(rec.peak_flops_per_s)}"
            + (
                f" ({fmt(rec.peak_flops_range_per_s[0])}-{fmt(rec.peak_flops_range_per_s[1])})"
                if rec.peak_flops_range_per_s
                else ""
            )
            + f"; {rec.peak_source}",
        ),
        (
            "MFU / HFU",
            f"{rec.mfu:.3f} / {rec.hfu:.3f}"
            + (f" (MFU {rec.mfu_range[0]:.3f}-{rec.mfu_range[1]:.3f} over the timed steps)" if rec.mfu_range else ""),
        ),
        ("peak memory", f"{rec.memory.get('peak_bytes', 0) / 2**20:.1f} MiB"),
    ]
    rows += [(f"routing {k}", f"{v:.4g}") for k, v in rec.routing.items()]
    if rec.mesh:
        rows.insert(
            1,
            (
                "mesh",
                f"{','.join(f'{k}={v}' for k, v in rec.mesh.items())} ({rec.n_devices} devices; XLA counts per device)",
            ),
        )
    rows += [
        (f"{kind} per step (per device)", f"{int(c['count'])} ops, {fmt(c['bytes'])}B")
        for kind, c in sorted(rec.collectives.items())
    ]
    if rec.decode_step_time_median_s:
        rows.append(("decode step (KV cache)", f"{rec.decode_step_time_median_s * 1e3:.2f} ms"))
    rows.append(("record", str(path)))
    print_table([{"quantity": k, "value": v} for k, v in rows], title=f"measured {cfg.name}")


@command("runs")
def runs_cmd(
    folder: Path = typer.Argument(RUNS_DIR, help="folder of measurement records"),
    json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """List and compare measured runs."""
    from glamsim.config import ConfigError
    from glamsim.records import list_measurements

    if not folder.exists():
        raise ConfigError(f"folder={str(folder)!r}: no such folder (records are written by `glamsim measure`)")
    if not folder.is_dir():
        raise ConfigError(
            f"folder={str(folder)!r}: is a file, not a folder of measurement records "
            "(see `glamsim estimate --measured` for one record)"
        )
    rows = []
    for path, rec in list_measurements(folder):
        if isinstance(rec, str):
            rows.append({"record": str(path), "error": rec})
            continue
        rows.append(
            {
                "record": str(path),
                "model": rec.model,
                "device": rec.device_kind,
                "batch": rec.batch,
                "seq_len": rec.seq_len,
                "dispatch": rec.dispatch,
                "step_ms": rec.step_time_median_s * 1e3,
                "tokens_per_s": rec.tokens_per_s,
                "mfu": rec.mfu,
                "hfu": rec.hfu,
                "xla_over_model": rec.hardware_to_model_flops,
                "created_at": rec.created_at,
            }
        )
    if json_out:
        return print_json(rows)
    ok = [r for r in rows if "error" not in r]
    print_table(
        [
            {
                k: (f"{v:.3f}" if k in ("mfu", "hfu", "xla_over_model") else fmt(v) if isinstance(v, float) else v)
                for k, v in r.items()
            }
            for r in ok
        ],
        title=f"measured runs in {folder}",
    )
    for r in rows:
        if "error" in r:
            typer.echo(f"skipped: {r['error']}", err=True)
