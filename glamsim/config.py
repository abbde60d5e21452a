"""Model configurations by name or file: the preset registry and `load_model`.

Presets live as YAML in `data/model_presets/`; every published figure carries its source.
`load_model` takes a preset name, a ModelConfig YAML file or a Hugging Face `config.json`
(`glamsim.hf`), so it sits above both readers it dispatches to.  The schema (`ModelConfig`, in
`glamsim.architecture`) and the strict readers and input limits (`glamsim.readers`) are re-exported
here: `from glamsim.config import ModelConfig, ConfigError, read_yaml` is how the rest of glamsim
imports them.  Dependencies point one way: readers <- architecture <- hf <- config.
"""

from __future__ import annotations

import difflib
import os
import re
from functools import cache
from pathlib import Path

from glamsim.architecture import (
    Activation,
    ModelConfig,
    Norm,
    Position,
    Published,
    PublishedModel,
    Routing,
    validate_model,
)
from glamsim.hf import read as read_hf_config
from glamsim.readers import (
    MAX_ALIASES,
    MAX_CACHED_FILES,
    MAX_DEPTH,
    MAX_FLOAT,
    MAX_INT,
    NAME_PATTERN,
    ConfigError,
    Frozen,
    check_depth,
    check_number,
    data_dir,
    file_identity,
    format_validation_error,
    parse_float,
    parse_int,
    parse_json,
    parse_yaml,
    read_bytes,
    read_text,
    read_yaml,
    show,
    validate_as,
)

__all__ = [  # the registry below, and the names re-exported from glamsim.architecture and glamsim.readers
    "MAX_ALIASES",
    "MAX_CACHED_FILES",
    "MAX_DEPTH",
    "MAX_FLOAT",
    "MAX_INT",
    "NAME_PATTERN",
    "Activation",
    "ConfigError",
    "Frozen",
    "ModelConfig",
    "Norm",
    "Position",
    "Published",
    "PublishedModel",
    "Routing",
    "check_depth",
    "check_number",
    "data_dir",
    "file_identity",
    "format_validation_error",
    "load_model",
    "model_presets",
    "parse_float",
    "parse_int",
    "parse_json",
    "parse_yaml",
    "read_bytes",
    "read_text",
    "read_yaml",
    "show",
    "validate_as",
    "validate_model",
]


@cache
def model_presets() -> dict[str, ModelConfig]:
    """Every preset in `model_presets/`, keyed by name."""
    out = {}
    for path in sorted(data_dir("model_presets").glob("*.yaml")):
        cfg = _read_model_file(path, str(path.name))
        out[cfg.name] = cfg
    return out


_MODEL_FILES: dict[tuple, ModelConfig] = {}  # file_identity -> the validated config (files only)


def _read_model_file(path: str | Path, where: str) -> ModelConfig:
    """A ModelConfig YAML file, parsed once per process while it is unchanged on disk."""
    key = file_identity(path)
    cfg = _MODEL_FILES.get(key) if key is not None else None
    if cfg is None:
        cfg = validate_model(read_yaml(path), where)
        if key is not None:
            if len(_MODEL_FILES) >= MAX_CACHED_FILES:
                _MODEL_FILES.clear()
            _MODEL_FILES[key] = cfg
    return cfg


_PRESETS_BY_NAME: dict[str, ModelConfig] = {}  # presets read from their own file (shipped data: read once)


def _preset(name: str) -> ModelConfig | None:
    """The preset `name` from its own file `model_presets/<name>.yaml` (the convention of every
    shipped preset), without parsing the others; None when that file does not hold it."""
    cfg = _PRESETS_BY_NAME.get(name)
    if cfg is not None or not re.fullmatch(NAME_PATTERN, name):
        return cfg
    path = data_dir("model_presets") / f"{name}.yaml"
    if file_identity(path) is None:
        return None
    cfg = _read_model_file(path, str(path.name))  # the same object `model_presets()` holds
    if cfg.name != name:
        return None
    _PRESETS_BY_NAME[name] = cfg
    return cfg


def load_model(name_or_path: str | Path) -> ModelConfig:
    """A preset by name, a ModelConfig YAML file by path, or a Hugging Face `config.json` (any
    `.json` path: `glamsim.hf`).  A preset's bare name always means the preset (a file of that name
    is `./name`), so a stray file cannot change an answer and no name costs a file-system call.  A
    file is parsed once per process while it is unchanged on disk; a preset name reads only its own
    file until all are needed."""
    s = str(name_or_path)
    if not isinstance(name_or_path, Path):  # a Path is a file ("./gpt3-175b" prints as "gpt3-175b")
        cfg = _PRESETS_BY_NAME.get(s)  # a shipped preset's bare name names it, not a file of that name
        if cfg is not None:
            return cfg
    if s.lower().endswith(".json"):
        return read_hf_config(s).config
    if not isinstance(name_or_path, Path) and not s.endswith((".yaml", ".yml")):
        cfg = _preset(s)  # its own file, without parsing every preset
        if cfg is not None:
            return cfg
    if file_identity(s) is not None:  # a regular file
        return _read_model_file(s, s)
    if s.endswith((".yaml", ".yml")) or (os.sep in s and os.path.lexists(s)):
        return validate_model(read_yaml(s), s)  # not a readable regular file: read_yaml says why, in one line
    presets = model_presets()
    if s not in presets:
        close = difflib.get_close_matches(s, list(presets), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"model={s!r}: unknown preset; {hint}known: {', '.join(presets)}")
    return presets[s]
