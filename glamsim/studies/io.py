"""The study runner's result files: Parquet and CSV tables and JSON manifests, written atomically,
by one writer at a time (`exclusive`).

Every write goes through `glamsim.files.atomic_path` (a temporary file beside the target, renamed
over it), so a reader (or a crash) never sees a half-written result file.  Each writer returns the
written file's checksum (`{"sha256": ..., "bytes": ...}`), which the runner records so that a
resumed run can verify what it reuses.
"""

from __future__ import annotations

import os
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Callable

import pandas as pd

from glamsim.config import ConfigError
from glamsim.files import TMP_SUFFIX, DiskFull, atomic_path, checksum, no_space, write_json

__all__ = [
    "LOCK",
    "TMP_SUFFIX",
    "atomic_path",
    "checksum",
    "exclusive",
    "write_csv",
    "write_json",
    "write_parquet",
    "write_results",
]


def write_parquet(df: pd.DataFrame, target: str | Path) -> dict:
    with atomic_path(target) as tmp:
        df.to_parquet(tmp, index=False)
        got = checksum(tmp)
    return got


def write_csv(df: pd.DataFrame, target: str | Path) -> dict:
    """A whole frame as CSV through Arrow's writer (10x faster than pandas' on 100,000 rows; full
    float precision); a study streams its CSV with `write_results` instead."""
    import pyarrow as pa
    import pyarrow.csv

    with atomic_path(target) as tmp:
        pyarrow.csv.write_csv(pa.Table.from_pandas(df, preserve_index=False), tmp)
        got = checksum(tmp)
    return got


def write_results(chunks: list[Path], parquet: Path, csv: Path, each: Callable[[pd.DataFrame], None]) -> dict:
    """The results Parquet and CSV, streamed from the chunk files one chunk at a time (a Parquet row
    group each; CSV through Arrow's writer, 10x faster than pandas', full float precision), with
    the values, dtypes and schema of the table of all chunks put together (`_whole_schema`), without
    that table in memory.  `each(chunk)` sees every chunk as written; the checksum of each file."""
    import pyarrow as pa
    import pyarrow.csv
    import pyarrow.parquet as pq

    dtypes, schema = _whole_schema(chunks)
    with atomic_path(parquet) as ptmp, atomic_path(csv) as ctmp:
        sinks = {}
        try:
            with _full_disk_names(parquet):
                sinks[parquet] = pq.ParquetWriter(ptmp, schema)
            with _full_disk_names(csv):
                sinks[csv] = pyarrow.csv.CSVWriter(ctmp, schema)
            for p in chunks:
                df = _read(p, dtypes)
                table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
                for target, sink in sinks.items():
                    with _full_disk_names(target):
                        sink.write_table(table)
                each(df)
            for target, sink in sinks.items():
                with _full_disk_names(target):
                    sink.close()
        except BaseException:
            for sink in sinks.values():  # closed here, not by the garbage collector's noise on stderr
                with suppress(Exception):
                    sink.close()
            raise
        sums = {parquet.name: checksum(ptmp), csv.name: checksum(ctmp)}
    return sums


def _whole_schema(chunks: list[Path]):
    """The pandas dtypes and the Arrow schema (with its pandas metadata) the chunks would have as one
    table: a column whose dtype differs between chunks (text in one, all missing in another) takes
    the dtype pandas gives it when they are joined, and a column of Python objects the Arrow type
    every chunk's values fit (only these are read here; the rest is in the files' schemas)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    dtypes = pd.concat([pq.read_schema(p).empty_table().to_pandas() for p in chunks]).dtypes.to_dict()
    skeleton = pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes.items()})
    fields = {f.name: f for f in pa.Schema.from_pandas(skeleton, preserve_index=False)}
    loose = [c for c, t in dtypes.items() if pd.api.types.is_object_dtype(t)]
    if loose:
        found = [pa.Schema.from_pandas(_read(p, dtypes, loose), preserve_index=False) for p in chunks]
        fields |= {f.name: f for f in pa.unify_schemas(found, promote_options="permissive")}
    return dtypes, pa.Table.from_pandas(skeleton, schema=pa.schema(fields.values()), preserve_index=False).schema


def _read(path: Path, dtypes: dict, columns: list[str] | None = None) -> pd.DataFrame:
    """A chunk file (or some of its columns) with the dtypes of the whole table."""
    df = pd.read_parquet(path, columns=columns)
    return df.astype({c: dtypes[c] for c in df.columns if df[c].dtype != dtypes[c]})


@contextmanager
def _full_disk_names(target: Path):
    """A full disk while writing `target` is `DiskFull` naming it (not the other file open beside)."""
    try:
        yield
    except OSError as err:
        if no_space(err) and not isinstance(err, DiskFull):
            raise DiskFull(target) from None
        raise


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
