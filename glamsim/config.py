"""Model configurations: the pydantic `ModelConfig` and the YAML preset registry.

One `ModelConfig` describes GLaM, its dense baselines and GPT-3; the analytic counter
(`glamsim.accounting`) and the JAX model (`glamsim.model`) both read it.  Presets live as
YAML in `model_presets/`; every published figure carries its source.
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
from functools import cache
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)


class ConfigError(ValueError):
    """A bad input, reported as one line naming the file, field and value."""


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"  # every name that can become a file name
MAX_INT = 2**53  # integers beyond this are not exact as floats: no count, seed or size is that large
MAX_FLOAT = 1e30  # beyond any real count of FLOPs, tokens, watts or dollars; keeps products finite
MAX_DEPTH = 32  # nesting of any YAML or JSON input (presets and records use 4)
MAX_ALIASES = 64  # YAML anchors used; a "billion laughs" file uses millions
_FLOAT_MIN = sys.float_info.min  # the smallest normal float


def show(value, limit: int = 60) -> str:
    """A short repr of a user value for an error line (never a whole structure)."""
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

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

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


class Published(Frozen):
    """A published number and where it was published (paper, table, page)."""

    value: float
    source: str
    note: str = ""


class PublishedModel(Frozen):
    """Published figures for a model preset.

    `counts_embedding` states the convention the publication's parameter counts use
    (with or without the 256K x d_model embedding); the comparison follows it.
    """

    params_total: Published | None = None
    params_active: Published | None = None
    counts_embedding: bool = True
    convention_note: str = ""
    inference_gflops_per_token: Published | None = None
    zero_shot: Published | None = None
    one_shot: Published | None = None
    few_shot: Published | None = None


Activation = Literal["gelu", "relu", "silu"]
Position = Literal["relative_bias", "learned", "rotary"]
Norm = Literal["rmsnorm", "layernorm"]
Routing = Literal["capacity", "dropless"]


class ModelConfig(Frozen):
    """A decoder-only Transformer, dense or Mixture-of-Experts.

    MoE placement: layer i (0-based) holds an MoE feed-forward when `moe_every > 0`,
    `i >= first_dense_layers` and `(i - first_dense_layers) % moe_every == moe_offset`: the first
    `first_dense_layers` layers are dense, and the pattern of `moe_every`/`moe_offset` starts after
    them.  GLaM uses every other layer (`moe_every=2, moe_offset=1`, no dense leading layers);
    DeepSeek-MoE 16B one dense layer, then MoE in every layer (`first_dense_layers=1, moe_every=1`).

    Routing: `capacity` (GShard: each expert takes at most ceil(capacity_factor x group / experts)
    tokens per routing group, the overflow is dropped) or `dropless` (no capacity, nothing
    dropped; `capacity_factor: null` says the same).  Shared experts (`n_shared_experts`, each
    `d_ff_shared` wide, gated like the routed experts) see every token, optionally scaled by a
    sigmoid gate (`shared_expert_gate`, Qwen2-MoE: one d_model-vector per MoE layer).
    `qkv_bias`/`out_bias` override `use_bias` (biases of every linear layer) for the attention
    projections (Qwen2: q, k, v biased, output not).
    """

    @model_validator(mode="before")
    @classmethod
    def _routing_defaults(cls, data):
        """`capacity_factor: null` means dropless routing, and `routing: dropless` has no capacity."""
        if isinstance(data, dict):
            routing, has_cf = data.get("routing"), "capacity_factor" in data
            cf = data.get("capacity_factor")
            if routing == "dropless":
                if has_cf and cf is not None:
                    raise ValueError(
                        f"capacity_factor={show(cf)}: routing is dropless (no capacity); "
                        "leave capacity_factor out or set it to null"
                    )
                data = {**data, "capacity_factor": None}
            elif has_cf and cf is None:
                if routing not in (None, "dropless"):
                    raise ValueError(
                        f"capacity_factor=None: routing={show(routing)} needs a capacity factor "
                        "(null means dropless routing)"
                    )
                data = {**data, "routing": "dropless"}
        return data

    name: str = Field(pattern=NAME_PATTERN, description="letters, digits, '.', '_' and '-'")
    description: str = ""
    n_layers: PositiveInt = Field(le=4096)
    d_model: PositiveInt = Field(le=2**20)
    n_heads: PositiveInt = Field(le=2**16)
    d_head: PositiveInt | None = Field(None, le=2**16, description="default d_model // n_heads")
    n_kv_heads: PositiveInt | None = Field(None, le=2**16, description="grouped-query attention; default n_heads")
    d_ff: PositiveInt = Field(le=2**24)
    vocab_size: PositiveInt = Field(le=2**24)
    max_seq_len: PositiveInt = Field(le=2**24)
    activation: Activation = "gelu"
    dense_ffn_gated: bool = True
    expert_gated: bool = False
    n_experts: NonNegativeInt = Field(0, le=2**16)
    top_k: NonNegativeInt = Field(0, le=2**16)
    moe_every: NonNegativeInt = Field(0, le=4096)
    moe_offset: NonNegativeInt = Field(0, le=4096)
    first_dense_layers: NonNegativeInt = Field(0, le=4096, description="leading layers kept dense (0)")
    n_shared_experts: NonNegativeInt = Field(0, le=2**16)
    d_ff_expert: PositiveInt | None = Field(None, le=2**24, description="default d_ff")
    d_ff_shared: PositiveInt | None = Field(
        None, le=2**24, description="width of each shared expert; default d_ff_expert"
    )
    shared_expert_gate: bool = False
    routing: Routing = "capacity"
    capacity_factor: PositiveFloat | None = Field(2.0, le=1024, description="null: dropless routing")
    renormalize_gates: bool = True
    router_group_size: PositiveInt = Field(1024, le=2**24)
    aux_loss_weight: NonNegativeFloat = Field(0.01, le=1e6)
    z_loss_weight: NonNegativeFloat = Field(1e-4, le=1e6)
    position: Position = "relative_bias"
    rel_pos_buckets: PositiveInt = Field(32, le=2**16)
    rel_pos_max_distance: PositiveInt = Field(128, le=2**24)
    rotary_fraction: float = Field(1.0, gt=0, le=1, description="share of each head's dimensions rotated (1)")
    rope_theta: PositiveFloat = Field(10000.0, le=1e12)
    tie_embeddings: bool = True
    norm: Norm = "rmsnorm"
    parallel_residual: bool = False
    use_bias: bool = False
    qkv_bias: bool | None = Field(None, description="biases of the q, k, v projections; default use_bias")
    out_bias: bool | None = Field(None, description="bias of the attention output projection; default use_bias")
    published: PublishedModel | None = None

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        def bad(field: str, value, why: str):
            raise ValueError(f"{field}={value}: {why}")

        if self.d_head is None and self.d_model % self.n_heads:
            bad("n_heads", self.n_heads, f"must divide d_model={self.d_model} when d_head is not given")
        if self.n_heads % self.kv_heads:
            bad("n_kv_heads", self.n_kv_heads, f"must divide n_heads={self.n_heads}")
        if self.moe_every and not self.n_experts:
            bad("moe_every", self.moe_every, "MoE layers are placed but n_experts is 0")
        if self.n_experts and not self.moe_every:
            bad("n_experts", self.n_experts, "experts given but moe_every is 0 (no MoE layer)")
        if self.n_experts and not 1 <= self.top_k <= self.n_experts:
            bad("top_k", self.top_k, f"must be between 1 and n_experts={self.n_experts}")
        if not self.n_experts and (self.top_k or self.n_shared_experts):
            bad(
                "top_k" if self.top_k else "n_shared_experts",
                self.top_k or self.n_shared_experts,
                "needs n_experts > 0",
            )
        if self.moe_every and self.moe_offset >= self.moe_every:
            bad("moe_offset", self.moe_offset, f"must be < moe_every={self.moe_every}")
        if self.first_dense_layers and not self.n_experts:
            bad("first_dense_layers", self.first_dense_layers, "needs n_experts > 0 (every layer is dense)")
        if self.moe_every and self.first_dense_layers >= self.n_layers:
            bad("first_dense_layers", self.first_dense_layers, f"must be < n_layers={self.n_layers}")
        if self.moe_every and self.n_moe_layers == 0:
            bad(
                "moe_offset",
                self.moe_offset,
                f"places no MoE layer in {self.n_layers} layers"
                + (f" after {self.first_dense_layers} dense ones" if self.first_dense_layers else ""),
            )
        if self.d_ff_shared is not None and not self.n_shared_experts:
            bad("d_ff_shared", self.d_ff_shared, "needs n_shared_experts > 0")
        if self.shared_expert_gate and not self.n_shared_experts:
            bad("shared_expert_gate", self.shared_expert_gate, "needs n_shared_experts > 0")
        if self.position == "rotary":
            if self.rotary_dims < 2 or self.rotary_dims % 2:
                bad(
                    "rotary_fraction",
                    self.rotary_fraction,
                    f"rotates {self.rotary_dims} of d_head={self.head_dim} dimensions: must be an even number >= 2",
                )
        elif "rotary_fraction" in self.model_fields_set and self.rotary_fraction != 1.0:
            bad("rotary_fraction", self.rotary_fraction, f"needs position=rotary (not {self.position})")
        return self

    @property
    def head_dim(self) -> int:
        return self.d_head or self.d_model // self.n_heads

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def expert_ff(self) -> int:
        return self.d_ff_expert or self.d_ff

    @property
    def shared_ff(self) -> int:
        return self.d_ff_shared or self.expert_ff

    @property
    def has_qkv_bias(self) -> bool:
        return self.use_bias if self.qkv_bias is None else self.qkv_bias

    @property
    def has_out_bias(self) -> bool:
        return self.use_bias if self.out_bias is None else self.out_bias

    @property
    def rotary_dims(self) -> int:
        """Dimensions of each head that rotary embedding rotates (GPT-NeoX: int(d_head x rotary_pct))."""
        return int(self.head_dim * self.rotary_fraction)

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 0

    @property
    def dropless(self) -> bool:
        return self.routing == "dropless"

    def is_moe_layer(self, i: int) -> bool:
        """i >= first_dense_layers and (i - first_dense_layers) % moe_every == moe_offset."""
        j = i - self.first_dense_layers
        return bool(self.moe_every) and j >= 0 and j % self.moe_every == self.moe_offset

    @property
    def n_moe_layers(self) -> int:
        """How many layers `is_moe_layer` marks (closed form)."""
        after = self.n_layers - self.first_dense_layers  # layers the moe_every/moe_offset pattern covers
        if not self.moe_every or self.moe_offset >= after:
            return 0
        return (after - self.moe_offset + self.moe_every - 1) // self.moe_every

    def expert_capacity(self, group_size: int | None = None) -> int:
        """Slots per expert per routing group (GShard: capacity_factor x group / experts); dropless
        routing: the whole group (what a capacity-buffer dispatch must hold to drop nothing)."""
        g = group_size or self.router_group_size
        if self.capacity_factor is None:
            return g
        return max(1, math.ceil(self.capacity_factor * g / max(self.n_experts, 1)))

    def replace(self, **changes) -> ModelConfig:
        """A validated copy with some fields changed (raises ConfigError).  Changing `routing` or
        `capacity_factor` alone re-derives the other (dropless <-> null capacity factor)."""
        base = self.model_dump(exclude_none=True)
        if "routing" in changes and "capacity_factor" not in changes:
            base.pop("capacity_factor", None)
        if "capacity_factor" in changes and "routing" not in changes:
            base.pop("routing", None)
        return validate_model({**base, **changes}, f"{self.name} (edited)")

    def dense_twin(self) -> ModelConfig:
        """The same model with every FFN dense (the 'GLaM dense' counterpart)."""
        return self.replace(
            name=f"{self.name}-dense",
            n_experts=0,
            top_k=0,
            moe_every=0,
            moe_offset=0,
            n_shared_experts=0,
            first_dense_layers=0,
            d_ff_shared=None,
            shared_expert_gate=False,
            published=None,
        )


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


def validate_model(data, where: str) -> ModelConfig:
    return validate_as(ModelConfig, data, where)


def data_dir(name: str) -> Path:
    """A data folder shipped inside the package (works from a checkout and a wheel)."""
    return Path(__file__).resolve().parent / "data" / name


@cache
def model_presets() -> dict[str, ModelConfig]:
    """Every preset in `model_presets/`, keyed by name."""
    out = {}
    for path in sorted(data_dir("model_presets").glob("*.yaml")):
        cfg = _read_model_file(path, str(path.name))
        out[cfg.name] = cfg
    return out


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


_MODEL_FILES: dict[tuple, ModelConfig] = {}  # file_identity -> the validated config (files only)
MAX_CACHED_FILES = 256


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
    `.json` path: `glamsim.hf`).  A file is parsed once per process while it is unchanged on disk;
    a preset name reads only its own file until all are needed."""
    s = str(name_or_path)
    if s.lower().endswith(".json"):
        from glamsim.hf import read

        return read(s).config
    if file_identity(s) is not None:  # a regular file
        return _read_model_file(s, s)
    if s.endswith((".yaml", ".yml")):
        return validate_model(read_yaml(s), s)  # not a readable file: read_yaml says why, in one line
    cfg = _preset(s)  # its own file, without parsing every preset
    if cfg is not None:
        return cfg
    presets = model_presets()
    if s not in presets:
        raise ConfigError(f"model={s!r}: unknown preset; known: {', '.join(presets)}")
    return presets[s]
