"""Wall-clock timing of jitted steps and the attainable matmul peak of this process's device.

Timings on a shared 2-core machine swing 2-4x between runs, so figures that matter are ratios
measured in one process (the model's FLOP/s against a same-process matmul), medians after warm-up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Timing:
    median_s: float
    p10_s: float
    p90_s: float
    samples: int

    @classmethod
    def of(cls, seconds: list[float]) -> Timing:
        a = np.asarray(seconds, dtype=np.float64)
        return cls(float(np.median(a)), float(np.percentile(a, 10)), float(np.percentile(a, 90)), len(a))


def time_calls(fn: Callable[[], object], n: int, warmup: int = 1, on_step=None) -> Timing:
    """Time `n` calls of `fn` (which must block until its result is ready) after warm-up."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
        if on_step:
            on_step()
    return Timing.of(samples)


def interleaved(step: Callable[[], object], probe: Callable[[], object], n: int, warmup: int = 1,
                on_step=None) -> tuple[Timing, Timing]:
    """Time `n` calls of `step`, each followed by one timed call of `probe` (e.g. a reference
    matmul): both see the same moment's machine load, so their ratio is steadier than either."""
    for _ in range(warmup):
        step()
        probe()
    steps, probes = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        t1 = time.perf_counter()
        probe()
        probes.append(time.perf_counter() - t1)
        steps.append(t1 - t0)
        if on_step:
            on_step()
    return Timing.of(steps), Timing.of(probes)


def matmul_probe(n: int = 1024, dtype: str = "float32") -> tuple[Callable[[], object], float]:
    """(a blocking call of an n x n matmul on the default device, its FLOPs)."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((n, n), dtype) / n
    f = jax.jit(lambda x, y: x @ y)
    return (lambda: f(a, a).block_until_ready()), 2.0 * n**3


def matmul_peak_flops(n: int = 1024, repeats: int = 5, dtype: str = "float32") -> float:
    """Attainable FLOP/s of a square matmul on the default device, measured here and now."""
    call, flops = matmul_probe(n, dtype)
    return flops / time_calls(call, repeats, warmup=2).median_s
