"""Multi-process JAX: one process per host (or per GPU), all forming one cluster of devices.

`initialize(coordinator, num_processes, process_id)` calls `jax.distributed.initialize` from the
command-line flags, else from the environment (`JAX_COORDINATOR_ADDRESS`, `JAX_NUM_PROCESSES`,
`JAX_PROCESS_ID`); `coordinator="auto"` lets JAX detect the cluster itself (Cloud TPU slices,
SLURM, Open MPI).  With none of these, nothing happens: a single process.  Must run before any
other JAX call.  On CPU the cluster's collectives go through gloo.
"""

from __future__ import annotations

import os

from glamsim.config import ConfigError
from glamsim.readers import parse_int

ENV = {"coordinator": "JAX_COORDINATOR_ADDRESS", "num_processes": "JAX_NUM_PROCESSES", "process_id": "JAX_PROCESS_ID"}


def _int_env(name: str) -> int | None:
    v = os.environ.get(name)
    if v is None or v == "":
        return None
    try:
        return parse_int(v, name)
    except ConfigError:
        raise ConfigError(f"{name}={v!r}: must be an integer") from None


def _port(text: str) -> bool:
    """Whether `text` is a TCP port, 1 to 65535, in ASCII digits (`host:²` is refused, not a traceback)."""
    try:
        parse_int(text, "port", ge=1, le=65535)
    except ConfigError:
        return False
    return text.isdigit()


def resolve(
    coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> dict | None:
    """The arguments for `jax.distributed.initialize`, validated; None for a single process."""
    coordinator = coordinator or os.environ.get(ENV["coordinator"]) or None
    num_processes = num_processes if num_processes is not None else _int_env(ENV["num_processes"])
    process_id = process_id if process_id is not None else _int_env(ENV["process_id"])
    if coordinator is None and num_processes is None and process_id is None:
        return None
    if coordinator == "auto":
        if num_processes is not None or process_id is not None:
            raise ConfigError("coordinator='auto': JAX detects the process count and id; do not give them")
        return {}
    if coordinator is None:
        raise ConfigError(
            f"coordinator=None: give --coordinator HOST:PORT (or {ENV['coordinator']}) "
            "with --num-processes and --process-id"
        )
    host, _, port = coordinator.rpartition(":")
    if not host or not _port(port):
        raise ConfigError(f"coordinator={coordinator!r}: expected HOST:PORT, e.g. 10.0.0.1:1234, or 'auto'")
    if num_processes is None or num_processes < 1:
        raise ConfigError(f"num_processes={num_processes!r}: give --num-processes N (N >= 1) with --coordinator")
    if process_id is None or not 0 <= process_id < num_processes:
        raise ConfigError(f"process_id={process_id!r}: give --process-id I with 0 <= I < num_processes={num_processes}")
    return {"coordinator_address": coordinator, "num_processes": num_processes, "process_id": process_id}


def initialize(coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None) -> bool:
    """Join the cluster described by the arguments or the environment; False when single-process."""
    args = resolve(coordinator, num_processes, process_id)
    if args is None:
        return False
    import jax

    if jax.distributed.is_initialized():
        return True
    jax.distributed.initialize(**args)
    return True


def is_main() -> bool:
    """True in the process that prints and writes shared files (process 0)."""
    import jax

    return jax.process_index() == 0
