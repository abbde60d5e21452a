"""Checks on the files and folders a command will write, done before any work starts.

A run that trains for an hour and then cannot write its log, or a measurement that fails at the
very end on a folder named like its output file, wastes the work: commands call these first.
Writability is probed by creating (and removing at once) a temporary file, which is right for
every user, root included, and for read-only or virtual file systems (/proc), where permission
bits say nothing.  No JAX here: the checks are instant.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from glamsim.config import ConfigError
from glamsim.files import MIN_FREE_BYTES, free_bytes


def _existing_ancestor(path: Path) -> Path:
    """The nearest existing folder (or file) at or above `path`."""
    p = path.absolute()
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def _probe(folder: Path, flag: str, shown: str) -> None:
    """ConfigError unless a file can be created in `folder` (the probe file is removed at once)."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".glamsim-probe-")
    except OSError as err:
        raise ConfigError(
            f"{flag}={shown}: cannot write in {str(folder)!r} ({err.strerror or err.__class__.__name__})"
        ) from None
    os.close(fd)
    os.unlink(name)
    free = free_bytes(folder)
    if free is not None and free < MIN_FREE_BYTES:
        raise ConfigError(f"{flag}={shown}: {free:,} bytes free in {str(folder)!r}; at least {MIN_FREE_BYTES:,} needed")


def _parent_folder(path: Path, flag: str, shown: str) -> None:
    """The folder that will hold `path` exists and is writable, or can be created in one that is."""
    above = _existing_ancestor(path.absolute().parent)
    if not above.is_dir():
        raise ConfigError(f"{flag}={shown}: {str(above)!r} is a file, not a folder")
    _probe(above, flag, shown)


def output_dir(path: str | Path, flag: str) -> Path:
    """A folder a command will create or write into: refused when it is a file or not writable."""
    p = Path(path)
    shown = repr(str(p))
    if os.path.lexists(p) and not p.is_dir():
        raise ConfigError(f"{flag}={shown}: exists and is not a folder")
    if p.is_dir():
        _probe(p, flag, shown)
    else:
        _parent_folder(p, flag, shown)
    return p


def output_file(path: str | Path, flag: str) -> Path:
    """A file a command will create or overwrite: refused when it is a folder, not a regular file
    (a FIFO would block the command), or cannot be written."""
    p = Path(path)
    shown = repr(str(p))
    if str(path).endswith(("/", os.sep)) or p.is_dir():
        raise ConfigError(f"{flag}={shown}: is a folder; give a file name")
    if os.path.lexists(p):
        try:
            mode = os.stat(p).st_mode
        except OSError as err:
            raise ConfigError(
                f"{flag}={shown}: cannot use this path ({err.strerror or err.__class__.__name__})"
            ) from None
        if not stat.S_ISREG(mode):
            raise ConfigError(f"{flag}={shown}: exists and is not a regular file")
        try:
            with open(p, "ab"):  # opening to append changes nothing
                pass
        except OSError as err:
            raise ConfigError(f"{flag}={shown}: not writable ({err.strerror or err.__class__.__name__})") from None
        # it is replaced (a temporary file renamed over it) or rewritten: its folder must be writable too
        _probe(p.absolute().parent, flag, shown)
    else:
        _parent_folder(p, flag, shown)
    return p
