"""Model configurations: the pydantic `ModelConfig` and the YAML preset registry.

One `ModelConfig` describes GLaM, its dense baselines and GPT-3; the analytic counter
(`glamsim.accounting`) and the JAX model (`glamsim.model`) both read it.  Presets live as
YAML in `model_presets/`; every published figure carries its source.
"""

from __future__ import annotations

import math
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


class Frozen(BaseModel):
    """Base for every config and profile: immutable, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


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


class ModelConfig(Frozen):
    """A decoder-only Transformer, dense or Mixture-of-Experts.

    Layer i (0-based) holds an MoE feed-forward when `moe_every > 0` and
    `i % moe_every == moe_offset`; GLaM uses every other layer (`moe_every=2, moe_offset=1`).
    """

    name: str
    description: str = ""
    n_layers: PositiveInt
    d_model: PositiveInt
    n_heads: PositiveInt
    d_head: PositiveInt | None = Field(None, description="default d_model // n_heads")
    n_kv_heads: PositiveInt | None = Field(None, description="grouped-query attention; default n_heads")
    d_ff: PositiveInt
    vocab_size: PositiveInt
    max_seq_len: PositiveInt
    activation: Activation = "gelu"
    dense_ffn_gated: bool = True
    expert_gated: bool = False
    n_experts: NonNegativeInt = 0
    top_k: NonNegativeInt = 0
    moe_every: NonNegativeInt = 0
    moe_offset: NonNegativeInt = 0
    n_shared_experts: NonNegativeInt = 0
    d_ff_expert: PositiveInt | None = Field(None, description="default d_ff")
    capacity_factor: PositiveFloat = 2.0
    router_group_size: PositiveInt = 1024
    aux_loss_weight: NonNegativeFloat = 0.01
    z_loss_weight: NonNegativeFloat = 1e-4
    position: Position = "relative_bias"
    rel_pos_buckets: PositiveInt = 32
    rel_pos_max_distance: PositiveInt = 128
    tie_embeddings: bool = True
    norm: Norm = "rmsnorm"
    use_bias: bool = False
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
            bad("top_k" if self.top_k else "n_shared_experts",
                self.top_k or self.n_shared_experts, "needs n_experts > 0")
        if self.moe_every and self.moe_offset >= self.moe_every:
            bad("moe_offset", self.moe_offset, f"must be < moe_every={self.moe_every}")
        if self.moe_every and self.n_moe_layers == 0:
            bad("moe_offset", self.moe_offset, f"places no MoE layer in {self.n_layers} layers")
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
    def is_moe(self) -> bool:
        return self.n_experts > 0

    def is_moe_layer(self, i: int) -> bool:
        return bool(self.moe_every) and i % self.moe_every == self.moe_offset

    @property
    def n_moe_layers(self) -> int:
        return sum(self.is_moe_layer(i) for i in range(self.n_layers))

    def expert_capacity(self, group_size: int | None = None) -> int:
        """Slots per expert per routing group (GShard: capacity_factor x group / experts)."""
        g = group_size or self.router_group_size
        return max(1, math.ceil(self.capacity_factor * g / max(self.n_experts, 1)))

    def replace(self, **changes) -> ModelConfig:
        """A validated copy with some fields changed (raises ConfigError)."""
        return validate_model({**self.model_dump(exclude_none=True), **changes}, f"{self.name} (edited)")

    def dense_twin(self) -> ModelConfig:
        """The same model with every FFN dense (the 'GLaM dense' counterpart)."""
        return self.replace(name=f"{self.name}-dense", n_experts=0, top_k=0, moe_every=0,
                            moe_offset=0, n_shared_experts=0, published=None)


def format_validation_error(err: ValidationError, where: str) -> str:
    """One line: where, field, value and what is wrong (first error only)."""
    e = err.errors()[0]
    field = ".".join(str(p) for p in e["loc"]) or "(top level)"
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "extra_forbidden":
        return f"{where}: unknown key '{field}'"
    if e["loc"]:
        return f"{where}: {field}={e.get('input')!r}: {msg}"
    return f"{where}: {msg}"


M = TypeVar("M", bound=BaseModel)


def validate_as(cls: type[M], data, where: str) -> M:
    """Validate plain data as `cls`, raising a one-line ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of fields, got {type(data).__name__}")
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, where)) from None


def read_yaml(path: str | Path):
    """Parse a YAML file, raising a one-line ConfigError on a missing or malformed file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read file ({err.__class__.__name__})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: malformed YAML{where}") from None


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
        cfg = validate_model(read_yaml(path), str(path.name))
        out[cfg.name] = cfg
    return out


def load_model(name_or_path: str | Path) -> ModelConfig:
    """A preset by name, or a ModelConfig YAML file by path."""
    s = str(name_or_path)
    if s.endswith((".yaml", ".yml")) or Path(s).is_file():
        return validate_model(read_yaml(s), s)
    presets = model_presets()
    if s not in presets:
        raise ConfigError(f"model={s!r}: unknown preset; known: {', '.join(presets)}")
    return presets[s]
