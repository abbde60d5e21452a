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

import hashlib
import json
import os
import secrets
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


@contextmanager
def atomic_path(target: str | Path):
    """Yield a temporary path beside `target`; on success it replaces `target` in one rename."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temp(target.parent, target.name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
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
