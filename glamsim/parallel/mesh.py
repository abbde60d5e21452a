"""Device meshes from the command line: `--mesh data=2,expert=4` -> a `jax.sharding.Mesh`.

Axes: `data` (batch split, parameters replicated), `expert` (experts split; the batch too, as
GShard does) and `model` (attention heads and feed-forward width split).  Axes are `Auto`: the
default `Explicit` axes break optax's init and the embedding gather.  Devices are ordered by
(process index, id), so in a multi-process run each process holds a contiguous block of the mesh.
"""

from __future__ import annotations

import math

from glamsim.config import ConfigError
from glamsim.readers import parse_int

AXES = ("data", "expert", "model")


def parse_mesh(text: str) -> dict[str, int]:
    """'data=2,expert=4' -> {'data': 2, 'expert': 4}, in the canonical axis order (one-line errors)."""
    sizes: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        name, eq, value = part.partition("=")
        name = name.strip()
        if not eq or name not in AXES:
            raise ConfigError(f"mesh={text!r}: {part!r} is not AXIS=SIZE with AXIS one of {', '.join(AXES)}")
        if name in sizes:
            raise ConfigError(f"mesh={text!r}: axis {name!r} given twice")
        try:
            size = parse_int(value, name, ge=1)
        except ConfigError:
            raise ConfigError(
                f"mesh={text!r}: size of {name!r} must be a positive integer, got {value.strip()!r}"
            ) from None
        sizes[name] = size
    return {a: sizes[a] for a in AXES if a in sizes}


def mesh_devices() -> list:
    """Every device of the cluster ordered by (process index, id)."""
    import jax

    return sorted(jax.devices(), key=lambda d: (d.process_index, d.id))


def make_mesh(axes: dict[str, int] | str):
    """A mesh over every device with the given axis sizes (their product must be the device count)."""
    import jax
    from jax.sharding import AxisType

    axes = parse_mesh(axes) if isinstance(axes, str) else dict(axes)
    devices = mesh_devices()
    need = math.prod(axes.values())
    if need != len(devices):
        spec = ",".join(f"{k}={v}" for k, v in axes.items())
        hint = (
            " (on CPU, set XLA_FLAGS=--xla_force_host_platform_device_count=N before starting)"
            if devices[0].platform == "cpu"
            else ""
        )
        raise ConfigError(f"mesh={spec!r}: needs {need} devices, this cluster has {len(devices)}{hint}")
    return jax.make_mesh(tuple(axes.values()), tuple(axes), axis_types=(AxisType.Auto,) * len(axes), devices=devices)


def describe(mesh) -> dict[str, int]:
    """{axis: size} of a mesh (what a Measurement records)."""
    return {str(k): int(v) for k, v in mesh.shape.items()}
