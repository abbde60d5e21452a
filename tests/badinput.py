"""The bad-input contract, asserted the same way for every command (imported by the corpus tests).

A refused input gives exit code 2, exactly one stderr line starting `error:`, no traceback, no
file written or changed anywhere under the working folder except the paths the case names, and
an answer within a bounded time (a hang shows up as a failure, not a stuck suite).  Commands run
in-process through typer's runner from a temporary working folder, so a case costs milliseconds
unless it has to import JAX.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from typer.testing import CliRunner

from glamsim.cli import app

RUNNER = CliRunner()
MAX_S = 60.0  # generous: a refusal is instant; this only turns a hang into a failure


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and modification time."""
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            p = Path(root) / f
            try:
                st = p.stat()
            except OSError:
                continue
            out[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return out


def run(args: list[str], cwd: Path, stdin: str | None = None):
    """Invoke `glamsim ARGS` in-process from `cwd`; returns (result, seconds)."""
    old = Path.cwd()
    os.chdir(cwd)
    try:
        t0 = time.perf_counter()
        result = RUNNER.invoke(app, [str(a) for a in args], input=stdin, prog_name="glamsim")
        return result, time.perf_counter() - t0
    finally:
        os.chdir(old)


def refused(
    args: list,
    cwd: Path,
    *,
    mentions: str | list[str] | None = None,
    may_write: tuple[str, ...] = (),
    stdin: str | None = None,
) -> str:
    """Assert the bad-input contract for `glamsim ARGS` run in `cwd`; returns the error line.

    `mentions`: text(s) the one line must contain (the field or flag, the value).
    `may_write`: relative paths under `cwd` the command may create or change (its named output).
    """
    before = snapshot(cwd)
    result, seconds = run(args, cwd, stdin)
    err = result.stderr
    where = f"glamsim {' '.join(map(str, args))}\nstdout: {result.stdout[-2000:]}\nstderr: {err[-2000:]}"
    assert result.exception is None or isinstance(result.exception, SystemExit), f"{where}\nraised {result.exception!r}"
    assert result.exit_code == 2, f"exit {result.exit_code}: {where}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), f"not one error line: {where}"
    assert "Traceback" not in err + result.stdout, where
    assert seconds < MAX_S, f"took {seconds:.1f} s: {where}"
    after = snapshot(cwd)
    changed = {p for p in after if before.get(p) != after[p]} | (set(before) - set(after))
    stray = {p for p in changed if not any(p == w or p.startswith(w.rstrip("/") + "/") for w in may_write)}
    assert not stray, f"wrote or removed {sorted(stray)}: {where}"
    for text in [mentions] if isinstance(mentions, str) else mentions or []:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"
    return lines[0]


def accepted(args: list, cwd: Path, stdin: str | None = None):
    """Run a command that must succeed (exit 0, no traceback); returns the result."""
    result, _ = run(args, cwd, stdin)
    assert result.exit_code == 0 and result.exception is None, (
        f"glamsim {' '.join(map(str, args))}: exit {result.exit_code}\n{result.stderr[-3000:]}\n{result.exception!r}"
    )
    return result


def tpu_record():
    """A measurement record as `glamsim measure` writes it on a TPU v4 (figures made up for tests)."""
    from glamsim.records import SCHEMA, Measurement

    return Measurement(
        record_schema=SCHEMA,
        created_at="2026-01-01T00:00:00+00:00",
        glamsim_version="test",
        model="glam-tiny",
        model_config_data={},
        batch=8,
        seq_len=128,
        dispatch="scatter",
        backend="tpu",
        device_kind="TPU v4",
        n_devices=1,
        jax_version="test",
        lower_s=1,
        compile_s=1,
        xla_flops_per_step_per_device=1.05e9,
        xla_bytes_per_step_per_device=1e8,
        xla_flops_per_step=1.05e9,
        model_flops_per_step=1e9,
        hardware_flops_per_step=1.02e9,
        steps=5,
        step_time_median_s=0.01,
        step_time_p10_s=0.01,
        step_time_p90_s=0.01,
        tokens_per_s=1e5,
        achieved_model_flops_per_s=1e11,
        achieved_xla_flops_per_s=1.05e11,
        peak_flops_per_s=2.75e14,
        peak_source="test",
        mfu=0.42,
        hfu=0.44,
    )
