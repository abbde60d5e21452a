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


def interleaved(
    step: Callable[[], object], probe: Callable[[], object], n: int, warmup: int = 1, on_step=None
) -> tuple[Timing, Timing]:
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


def llc_bytes() -> float | None:
    """The last-level cache of CPU 0 (Linux sysfs), or None."""
    from pathlib import Path

    sizes = []
    for f in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        t = f.read_text().strip()
        scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(t[-1:], 1)
        sizes.append(float(t.rstrip("KMG")) * scale)
    return max(sizes) if sizes else None


def measure_host(matmul_flops_per_s: float | None = None, n: int = 1024, mbytes: int = 256):
    """This process's host as `glamsim.predict.cpu` sees it: the attained float32 matmul rate (given,
    or timed here), and streaming rates of an element-wise op in place over `mbytes` MB (beyond the
    last-level cache) and over a quarter of that cache, and into freshly allocated memory."""
    import jax
    import jax.numpy as jnp

    from glamsim.predict.cpu import Host

    fresh = jax.jit(lambda a: a * 1.0001 + 0.5)  # reads and writes every element once, into new memory
    reuse = jax.jit(lambda a: a * 1.0001 + 0.5, donate_argnums=0)  # ... into the input's own buffer

    def stream(nbytes: float, donate: bool) -> float:
        held = {"x": jnp.ones((int(nbytes) // 4,), jnp.float32)}

        def call():
            y = (reuse if donate else fresh)(held["x"])
            if donate:
                held["x"] = y
            y.block_until_ready()

        return 2 * (int(nbytes) // 4 * 4) / time_calls(call, 7, warmup=2).median_s

    llc = llc_bytes()
    return Host(
        matmul_flops_per_s=matmul_flops_per_s or matmul_peak_flops(n),
        memory_bytes_per_s=stream(mbytes * 2**20, True),
        cache_bytes=llc,
        cache_bytes_per_s=stream(llc / 4, True) if llc else None,
        fresh_bytes_per_s=stream(mbytes * 2**20, False),
        description=f"{jax.devices()[0].device_kind} ({jax.default_backend()})",
    )
