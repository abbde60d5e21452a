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
        values = self.__dict__
        for name in self.model_fields_set:  # defaults are sane by construction
            value = values[name]
            t = type(value)
            if t is str or (t is float and -MAX_FLOAT <= value <= MAX_FLOAT and not 0 < abs(value) < _FLOAT_MIN):
                continue  # what check_number passes, without calling it (one estimate validates a few)
            try:
                check_number(name, value)
            except ConfigError as err:
                raise ValueError(str(err)) from None
        return self


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
    except ValueError as err:  # an integer longer than Python converts
        raise _too_long(where, err) from None


def _too_long(where: str, err: ValueError) -> Exception:
    """A one-line ConfigError for an integer longer than Python reads (sys.get_int_max_str_digits),
    whichever reader met it; any other ValueError as it was."""
    if "Exceeds the limit" not in str(err):
        return err
    return ConfigError(
        f"{where}: an integer of more than {sys.get_int_max_str_digits():,} digits: not a number glamsim takes"
    )


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
        data = json.loads(text, parse_constant=refuse, object_pairs_hook=unique)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{where}: corrupted JSON at line {err.lineno} ({err.msg})") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply") from None
    except ValueError as err:  # an integer longer than Python converts
        raise _too_long(where, err) from None
    check_depth(data, where)
    return data


def read_yaml(path: str | Path):
    """Parse a YAML file, raising a one-line ConfigError on a missing, malformed or hostile file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as err:  # ValueError: a NUL byte in the path
        raise ConfigError(f"{show(str(path))}: cannot read file ({err.__class__.__name__})") from None
    return parse_yaml(text, str(path), shipped=str(path).startswith(_DATA_ROOT))


def data_dir(name: str) -> Path:
    """A data folder shipped inside the package (works from a checkout and a wheel)."""
    return Path(__file__).resolve().parent / "data" / name


def file_identity(path: str | Path) -> tuple | None:
    """(device, inode, size, mtime_ns, ctime_ns) of a regular file, None for anything else (missing,
    a folder, unreadable metadata, a NUL byte): what a parsed file is cached under, so that a file
    is parsed once per process and again after it changes on disk."""
    try:
        if not os.access(path, os.F_OK):  # no such path: said without the exception a failing stat raises
            return None  # (a name is checked on every call: "gpt3-175b" could be a file here)
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


MAX_CACHED_FILES = 256  # parsed files kept per cache (model files in glamsim.config, profiles in glamsim.profiles)
