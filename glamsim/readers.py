"""Inputs read strictly: the limits every input obeys, the one-line `ConfigError`, the YAML and JSON
readers, and `Frozen`, the pydantic base of every data schema.

A bad input is refused in one line naming the file, field and value: a hostile YAML file (an alias
bomb, 10,000 nested lists, duplicate keys) fails fast, a JSON file may hold finite numbers only,
and no number beyond `MAX_FLOAT` or `MAX_INT` reaches the cost model.  `glamsim.config` re-exports
these names (the rest of glamsim imports them from there); this module imports nothing of glamsim.
"""

from __future__ import annotations

import json
import math
import os
import re
import reprlib
import stat
import sys
import typing
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator


class ConfigError(ValueError):
    """A bad input, reported as one line naming the file, field and value."""


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"  # every name that can become a file name
MAX_INT = 2**53  # integers beyond this are not exact as floats: no count, seed or size is that large
MAX_FLOAT = 1e30  # beyond any real count of FLOPs, tokens, watts or dollars; keeps products finite
MAX_DEPTH = 32  # nesting of any YAML or JSON input (presets and records use 4)
MAX_ALIASES = 64  # YAML anchors used; a "billion laughs" file uses millions
_FLOAT_MIN = sys.float_info.min  # the smallest normal float


def show(value, limit: int = 60) -> str:
    """A short repr of a user value for an error line (never a whole structure, nor an integer too
    long for Python to print)."""
    if isinstance(value, int) and value.bit_length() > 3 * 4300:  # about 3,900 digits and up
        return f"<an integer of about {int(value.bit_length() * 0.30103):,} digits>"
    r = reprlib.Repr()
    r.maxstring, r.maxother, r.maxlong, r.maxlist, r.maxdict, r.maxlevel = limit, limit, limit, 4, 4, 2
    return r.repr(value)


def check_number(name: str, value) -> None:
    """One-line ConfigError unless `value` is a finite, normal number of a sane size."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"{name}={value!r}: must be a finite number")
        if value != 0 and abs(value) < sys.float_info.min:
            raise ConfigError(f"{name}={value!r}: too close to zero (subnormal)")
        if abs(value) > MAX_FLOAT:
            raise ConfigError(f"{name}={value!r}: must be at most {MAX_FLOAT:g} in magnitude")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise ConfigError(f"{name}={show(value)}: must be at most 2**53 in magnitude")


def _numeric_only(annotation) -> bool:
    """Whether a field takes numbers (and perhaps None) but no booleans or text."""
    args = typing.get_args(annotation) or (annotation,)
    kinds = {a for a in args if a is not type(None)}
    return bool(kinds) and all(
        a in (int, float) or (typing.get_origin(a) is typing.Annotated and typing.get_args(a)[0] in (int, float))
        for a in kinds
    )


class Frozen(BaseModel):
    """Base for every config and profile: immutable, unknown keys and non-finite numbers refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_numbers(cls, data):
        """`true` where a number is expected is a mistake, not 1 (pydantic's lax mode would take it)."""
        if isinstance(data, dict):
            for name, value in data.items():
                if isinstance(value, bool):
                    f = cls.model_fields.get(name) if isinstance(name, str) else None
                    if f is not None and _numeric_only(f.annotation):
                        raise ValueError(f"{name}={value!r}: expected a number, not a boolean")
        return data

    @model_validator(mode="after")
    def _numbers_sane(self):
        check_sane(self)
        return self


def check_sane(model: BaseModel) -> None:
    """`check_number` on every field the caller set (defaults are sane by construction), as the
    ValueError a validator raises."""
    values = model.__dict__
    for name in model.model_fields_set:
        value = values[name]
        t = type(value)
        if t is str or (t is float and -MAX_FLOAT <= value <= MAX_FLOAT and not 0 < abs(value) < _FLOAT_MIN):
            continue  # what check_number passes, without calling it (one estimate validates a few)
        try:
            check_number(name, value)
        except ConfigError as err:
            raise ValueError(str(err)) from None


def format_validation_error(err: ValidationError, where: str) -> str:
    """One line: where, field, value (shortened) and what is wrong (first error only)."""
    e = err.errors()[0]
    # a union's member names ('float', 'tuple[float, float, float]', 'ModelConfig') are not fields
    loc = [str(p) for p in e["loc"] if not _UNION_MEMBER.match(str(p))]
    field = ".".join(loc) or "(top level)"
    msg = " ".join(e["msg"].removeprefix("Value error, ").split())
    if msg.startswith(f"{field}="):  # the validator already named field and value
        return f"{where}: {msg}"
    if loc and re.match(r"^[A-Za-z_][\w.]*=", msg):  # a model's validator named a field inside `loc`
        return f"{where}: {field}.{msg}"
    if e["type"] == "extra_forbidden":
        return f"{where}: unknown key {show(field)}"
    if e["type"] == "missing":
        return f"{where}: missing field {show(field)}"
    if e["loc"]:
        return f"{where}: {field}={show(e.get('input'))}: {msg}"
    return f"{where}: {msg}"


M = TypeVar("M", bound=BaseModel)
_UNION_MEMBER = re.compile(r"^(float|int|str|bool|none|list\[.*|tuple\[.*|dict\[.*|function-.*|[A-Z][A-Za-z]+)$")


def check_depth(data, where: str, limit: int = MAX_DEPTH) -> None:
    """One-line ConfigError when lists and mappings nest deeper than `limit` (checked iteratively)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > limit:
                raise ConfigError(f"{where}: nested deeper than {limit} levels")
            stack.extend((v, depth + 1) for v in (node.values() if isinstance(node, dict) else node))


def validate_as(cls: type[M], data, where: str) -> M:
    """Validate plain data as `cls`, raising a one-line ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of fields, got {type(data).__name__}")
    check_depth(data, where)
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, where)) from None


class _StrictLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses duplicate keys, deep nesting and many aliases, so that a
    hostile file (a "billion laughs" alias bomb, 10,000 nested lists) fails fast in one line."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_ALIASES} aliases (*name)")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise yaml.YAMLError(f"nested deeper than {MAX_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        _no_duplicate_keys(self, node)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        """An integer's length bounded before it is converted (a long one costs quadratic time)."""
        digits = sum(c.isdigit() for c in node.value)
        if digits > MAX_INT_DIGITS:
            raise yaml.YAMLError(f"an integer of {digits:,} digits at line {node.start_mark.line + 1} (at most 1e30)")
        return super().construct_yaml_int(node)


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)


def _no_duplicate_keys(loader, node) -> None:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (str, int, float, bool)) and key in seen:
            raise yaml.YAMLError(f"duplicate key {show(key)} at line {key_node.start_mark.line + 1}")
        seen.add(key) if isinstance(key, (str, int, float, bool)) else None


_CLoader = getattr(yaml, "CSafeLoader", None)  # libyaml's parser, where PyYAML was built with it
if _CLoader is not None:

    class _ShippedLoader(_CLoader):
        """libyaml's safe loader (several times faster) with `_StrictLoader`'s duplicate-key check,
        for the package's own data files (presets and profiles: small, known, tested to parse alike)."""

        def construct_mapping(self, node, deep=False):
            _no_duplicate_keys(self, node)
            return super().construct_mapping(node, deep=deep)


_DATA_ROOT = str(Path(__file__).resolve().parent / "data") + os.sep
_OPEN = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSE = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


def _plain(text: str) -> bool:
    """Whether YAML text holds no anchor or alias and nests well within MAX_DEPTH (read from
    libyaml's events): text `_StrictLoader`'s own limits would pass, whichever parser reads it."""
    depth = 0
    for event in yaml.parse(text, Loader=_CLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            return False
        if isinstance(event, _OPEN):
            depth += 1
            if depth >= MAX_DEPTH - 1:
                return False
        elif isinstance(event, _CLOSE):
            depth -= 1
    return True


def parse_yaml(text: str, where: str, shipped: bool = False):
    """Parse YAML text strictly (see `_StrictLoader`), raising a one-line ConfigError.  `shipped`:
    a data file of the package, parsed by libyaml where it can be (any trouble there, and the
    strict loader parses it again and words the error)."""
    if shipped and _CLoader is not None:
        try:
            if _plain(text):
                return yaml.load(text, Loader=_ShippedLoader)  # noqa: S506 (a SafeLoader)
        except (yaml.YAMLError, RecursionError):
            pass
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        at = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{where}: malformed YAML{at}: {' '.join(str(err.problem).split())[:80]}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: refused YAML: {' '.join(str(err).split())[:120]}") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply") from None


MAX_INT_DIGITS = 31  # digits of an integer in a file: a longer one exceeds MAX_FLOAT whatever its field


def _int_text(text: str, where: str) -> int:
    """An integer literal of a YAML or JSON file, its length bounded before it is converted."""
    digits = sum(c.isdigit() for c in text)
    if digits > MAX_INT_DIGITS:
        raise ConfigError(f"{where}: an integer of {digits:,} digits: not a number glamsim takes (at most 1e30)")
    return int(text)


def parse_json(text: str, where: str):
    """Parse JSON text, refusing NaN/Infinity literals and deep nesting in one line."""

    def refuse(const):
        raise ConfigError(f"{where}: {const} is not a number (JSON allows finite numbers only)")

    def unique(pairs):
        keys = [k for k, _ in pairs]
        if len(set(keys)) < len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise ConfigError(f"{where}: duplicate key {show(dup)}")
        return dict(pairs)

    try:
        data = json.loads(
            text, parse_constant=refuse, object_pairs_hook=unique, parse_int=lambda t: _int_text(t, where)
        )
    except json.JSONDecodeError as err:
        raise ConfigError(f"{where}: corrupted JSON at line {err.lineno} ({err.msg})") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply") from None
    check_depth(data, where)
    return data


MAX_BYTES = {  # the largest file of each kind glamsim reads (the shipped ones are a few KiB)
    "yaml": 1 << 20,  # model presets, profiles, study specs
    "hf-config": 4 << 20,  # a Hugging Face config.json (the largest known are about 10 KiB)
    "record": 16 << 20,  # a measurement record (HLO collectives included)
    "manifest": 4 << 20,  # a study's or a checkpoint's manifest
    "trace": 64 << 20,  # a serving trace (CSV or JSONL)
    "log": 1 << 30,  # a training run's metrics log, read back on resume (a row is about 300 bytes)
}
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def _kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"


def read_bytes(path: str | Path, kind: str, where: str | None = None, limit: int | None = None) -> bytes:
    """The content of a regular file of at most `limit` bytes (`MAX_BYTES[kind]`), or a one-line
    ConfigError: missing, unreadable, too large, or not a regular file.  The file is opened without
    blocking and checked before a byte is read, so a FIFO cannot hang the reader and a device such
    as /dev/zero cannot fill memory."""
    limit = MAX_BYTES[kind] if limit is None else limit
    where = where or show(str(path))
    try:
        fd = os.open(path, _READ_FLAGS)
    except (OSError, ValueError) as err:  # ValueError: a NUL byte in the path
        raise ConfigError(f"{where}: cannot read file ({err.__class__.__name__})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{where}: {_kind_of(st.st_mode)}, not a regular file; give a file")
        if st.st_size > limit:
            raise ConfigError(f"{where}: {st.st_size:,} bytes; a {kind} file holds at most {limit:,}")
        chunks, got = [], 0
        while got <= limit and (block := os.read(fd, min(1 << 20, limit + 1 - got))):
            chunks.append(block)
            got += len(block)
    except OSError as err:
        raise ConfigError(f"{where}: cannot read file ({err.__class__.__name__})") from None
    finally:
        os.close(fd)
    if got > limit:  # it grew while being read
        raise ConfigError(f"{where}: more than {limit:,} bytes; a {kind} file holds at most {limit:,}")
    return b"".join(chunks)


def read_text(path: str | Path, kind: str, where: str | None = None, limit: int | None = None) -> str:
    """`read_bytes` decoded as UTF-8 (one-line ConfigError otherwise)."""
    data = read_bytes(path, kind, where, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{where or show(str(path))}: not UTF-8 text (byte {err.start:,})") from None


def read_yaml(path: str | Path):
    """Parse a YAML file, raising a one-line ConfigError on a missing, malformed or hostile file."""
    text = read_text(path, "yaml")
    return parse_yaml(text, str(path), shipped=str(Path(path)).startswith(_DATA_ROOT))


_INT_TEXT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
MAX_NUMBER_CHARS = 100  # of a number written as text: 1e30 needs 31 digits, a float's full precision 17


def _strict(text, name: str, pattern: re.Pattern, expected: str, convert):
    """`convert(text)` when `text` matches `pattern` and the value passes `check_number`."""
    t = text.strip() if isinstance(text, str) else text
    if not isinstance(t, str) or not pattern.fullmatch(t):
        raise ConfigError(f"{name}={show(text)}: expected {expected}")
    if len(t) > MAX_NUMBER_CHARS:
        raise ConfigError(f"{name}={show(text, 20)}: {len(t):,} characters; a number has at most {MAX_NUMBER_CHARS}")
    value = convert(t)
    try:
        check_number(name, value)
    except ConfigError as err:
        raise ConfigError(str(err).replace(f"{name}={value!r}", f"{name}={t!r}", 1)) from None
    return value


def parse_int(text: str, name: str, ge: int | None = None, le: int | None = None) -> int:
    """A whole number from text, strictly: ASCII digits with an optional sign (no `²`, `①` or other
    scripts' digits, no underscores or spaces inside), within `MAX_INT` and the bounds given;
    a one-line ConfigError naming `name` and the text otherwise."""
    value = _strict(text, name, _INT_TEXT, "a whole number (ASCII digits)", int)
    if (ge is not None and value < ge) or (le is not None and value > le):
        span = " and ".join(f"{w} {b:,}" for w, b in ((">=", ge), ("<=", le)) if b is not None)
        raise ConfigError(f"{name}={show(text)}: must be {span}")
    return value


def parse_float(text: str, name: str) -> float:
    """A number from text, strictly: ASCII decimal notation (`1.5`, `-2e9`; no `nan`, `inf`,
    underscores or other scripts' digits), finite, normal and within `MAX_FLOAT`; a one-line
    ConfigError naming `name` and the text otherwise."""
    return _strict(text, name, _FLOAT_TEXT, "a number (ASCII digits, e.g. 1.5 or 2e9)", float)


def data_dir(name: str) -> Path:
    """A data folder shipped inside the package (works from a checkout and a wheel)."""
    return Path(__file__).resolve().parent / "data" / name


def file_identity(path: str | Path) -> tuple | None:
    """(device, inode, size, mtime_ns, ctime_ns) of a regular file, None for anything else (missing,
    a folder, unreadable metadata, a NUL byte): what a parsed file is cached under, so that a file
    is parsed once per process and again after it changes on disk."""
    try:
        if not os.access(path, os.F_OK):  # no such path: said without the exception a failing stat raises
            return None
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


MAX_CACHED_FILES = 256  # parsed files kept per cache (model files in glamsim.config, profiles in glamsim.profiles)
