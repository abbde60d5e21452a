"""Atomic file writes, one helper for every writer: a reader (or a crash) never sees half a file.

`atomic_path(target)` yields a temporary path beside the target and renames it over the target
only when the block succeeds; on any error the temporary file is removed and the target is left as
it was.  Study results, figures and measurement records are all written through it.

Each writer returns the written file's checksum (`{"sha256": ..., "bytes": ...}`), which the study
runner records so that a resumed run can verify what it reuses.  Temporary files are created with
`os.open(..., 0o666)`, so the process umask applies as for any ordinary file; the umask itself is
never read or changed (changing it is process-wide, a race with other threads).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path

TMP_SUFFIX = ".tmp"  # temporary files are `.<target name>.<random>.tmp` beside the target
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def _create_temp(folder: Path, name: str) -> Path:
    """A new empty file `.<name>.<random>.tmp` in `folder`, mode 0o666 less the umask."""
    for _ in range(100):
        tmp = folder / f".{name}.{secrets.token_hex(6)}{TMP_SUFFIX}"
        try:
            fd = os.open(tmp, _FLAGS, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"no free temporary name for {name} in {folder}")


MIN_FREE_BYTES = 1 << 20  # a write probe refuses a file system with less free space than this


def no_space(err: BaseException) -> bool:
    """Whether an error is a full disk or an exhausted quota (as an OSError, or in a library's words)."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "No space left on device" in str(err) or "Disk quota exceeded" in str(err)


def free_bytes(path: str | Path) -> int | None:
    """Free bytes on the file system holding `path` (its nearest existing folder); None if unknown."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None


def disk_full_line(path: str | Path) -> str:
    """The one line a full disk gets: the path and the free space left there."""
    free = free_bytes(path)
    left = f"{free:,} bytes free there" if free is not None else "free space unknown"
    return f"{str(path)!r}: no space left on device ({left}); nothing half-written was kept"


class DiskFull(OSError):
    """A write that ran out of space: `filename` is the file it was writing (never a temporary)."""

    def __init__(self, path: str | Path):
        super().__init__(errno.ENOSPC, disk_full_line(path), str(path))

    def __str__(self) -> str:
        return self.strerror


@contextmanager
def atomic_path(target: str | Path):
    """Yield a temporary path beside `target`; on success it replaces `target` in one rename.  A
    full disk raises `DiskFull` naming `target` (the temporary file is removed either way)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temp(target.parent, target.name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if no_space(err) and not isinstance(err, DiskFull):
            raise DiskFull(target) from None
        raise


def checksum(path: str | Path) -> dict:
    """`{"sha256": hex digest, "bytes": size}` of a file's content."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return {"sha256": h.hexdigest(), "bytes": size}


def write_bytes(data: bytes, target: str | Path) -> dict:
    """Write `data` to `target` atomically; its checksum."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def write_text(text: str, target: str | Path) -> dict:
    """Write `text` (UTF-8) to `target` atomically; its checksum."""
    return write_bytes(text.encode("utf-8"), target)


def write_json(obj, target: str | Path) -> dict:
    """Write `obj` as indented JSON (values JSON cannot hold as their `str`) atomically; its checksum."""
    return write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", target)
