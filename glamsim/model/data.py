"""Byte-level text data: the default corpus (the Python standard library's own .py files) or
the user's text files and folders, split deterministically into train and validation.

The tokenizer is the identity on UTF-8 bytes (vocabulary 256), so cross-entropy per token is per
byte and bits per byte = loss / ln 2.  The batch of step t depends only on (seed, t), so a resumed
run sees exactly the data order of an uninterrupted one.
"""

from __future__ import annotations

import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glamsim.config import ConfigError, show

VOCAB_SIZE = 256
VALIDATION_EVERY = 20  # block i goes to validation when i % 20 == 19 (5%)
BLOCK_BYTES = 4096


def encode(text: str) -> np.ndarray:
    """UTF-8 bytes of text as token ids (a one-line error for text that is not valid UTF-8)."""
    try:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32)
    except UnicodeEncodeError as err:
        raise ConfigError(f"prompt: not valid UTF-8 text (bad bytes at position {err.start})") from None


def decode(tokens) -> str:
    return bytes(np.asarray(tokens, dtype=np.uint8).tolist()).decode("utf-8", errors="replace")


def stdlib_files() -> list[Path]:
    """The standard library's own .py files (third-party site-packages excluded), sorted."""
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(
        p
        for p in root.rglob("*.py")
        if p.is_file() and not {"site-packages", "dist-packages"} & set(p.relative_to(root).parts)
    )


def text_files(paths: list[str | Path]) -> list[Path]:
    """The files named, and every file under the folders named, sorted within each folder."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file())
        elif p.is_file():
            out.append(p)
        elif p.exists():  # a FIFO or device would block or never end
            raise ConfigError(f"corpus={str(p)!r}: not a regular file or folder")
        else:
            raise ConfigError(f"corpus={str(p)!r}: no such file or folder")
    return out


@dataclass(frozen=True)
class Corpus:
    """Train and validation byte streams (uint8) and where they came from."""

    train: np.ndarray
    validation: np.ndarray
    source: str
    n_files: int


def load_corpus(paths: list[str | Path] | None = None) -> Corpus:
    """Read the corpus (default: the stdlib's .py files); files that are not UTF-8 are skipped."""
    files = stdlib_files() if not paths else text_files(paths)
    source = "python-stdlib" if not paths else ",".join(map(str, paths))
    chunks, used = [], 0
    for f in files:
        try:
            raw = f.read_bytes()
        except OSError as err:
            raise ConfigError(f"corpus={str(f)!r}: cannot read ({err.strerror or err.__class__.__name__})") from None
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if raw:
            chunks.append(raw if raw.endswith(b"\n") else raw + b"\n")
            used += 1
    stream = np.frombuffer(b"".join(chunks), dtype=np.uint8)
    if stream.size == 0:
        raise ConfigError(f"corpus={show(source)}: no UTF-8 text found ({len(files)} file(s), none non-empty UTF-8)")
    return split(stream, source, used)


def split(stream: np.ndarray, source: str = "", n_files: int = 1) -> Corpus:
    """Deterministic split: every 20th block (4 KiB, or 1/20 of a small stream) is validation."""
    block = max(1, min(BLOCK_BYTES, stream.size // VALIDATION_EVERY))
    blocks = np.arange(stream.size) // block
    is_val = blocks % VALIDATION_EVERY == VALIDATION_EVERY - 1
    return Corpus(stream[~is_val], stream[is_val], source, n_files)


def windows(stream: np.ndarray, starts: np.ndarray, seq_len: int) -> dict:
    """Input/target pairs: tokens [start, start+S) predict [start+1, start+S+1)."""
    idx = starts[:, None] + np.arange(seq_len + 1)[None, :]
    w = stream[idx].astype(np.int32)
    return {"inputs": w[:, :-1], "targets": w[:, 1:]}


def check_length(stream: np.ndarray, seq_len: int, what: str) -> None:
    if stream.size < seq_len + 2:
        raise ConfigError(
            f"corpus: {what} split has {stream.size} bytes, fewer than seq_len+2={seq_len + 2}; "
            "use more text or a shorter --seq-len"
        )


def train_batch(corpus: Corpus, step: int, batch: int, seq_len: int, seed: int) -> dict:
    """The training batch of `step`: random windows drawn from a generator seeded by (seed, step)."""
    rng = np.random.default_rng([seed, step])
    starts = rng.integers(0, corpus.train.size - seq_len - 1, size=batch)
    return windows(corpus.train, starts, seq_len)


def eval_batches(corpus: Corpus, n_batches: int, batch: int, seq_len: int) -> list[dict]:
    """Fixed validation batches: evenly spaced windows over the validation stream."""
    n = n_batches * batch
    starts = np.linspace(0, corpus.validation.size - seq_len - 1, n).astype(np.int64)
    return [windows(corpus.validation, starts[i * batch : (i + 1) * batch], seq_len) for i in range(n_batches)]
