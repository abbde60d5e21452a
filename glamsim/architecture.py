"""The architecture of a model: the pydantic `ModelConfig`, and the published figures a preset carries.

One `ModelConfig` describes GLaM, its dense baselines and GPT-3; the analytic counter
(`glamsim.accounting`) and the JAX model (`glamsim.model`) both read it.  Where one comes from (a
preset name, a YAML file, a Hugging Face config.json) is `glamsim.config.load_model`'s business;
`glamsim.config` re-exports these names.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

from glamsim.readers import NAME_PATTERN, Frozen, show, validate_as


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

    `dropout` is the training dropout probability (hidden and attention): it changes no count,
    only the memory predictor, which stores dropout masks (and the attention-dropout output) when
    it is above 0.  Modern decoders (Llama, PaLM, Mixtral) pretrain without dropout, the default;
    Megatron-LM's GPT models use 0.1 for both.  The JAX model has no dropout layers.
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
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout probability in training (0: none, as modern decoders)")
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
    def shared_width(self) -> int:
        """Hidden width of an MoE layer's shared experts, run as one MLP (0 without them)."""
        return self.n_shared_experts * self.shared_ff if self.n_experts else 0

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


def validate_model(data, where: str) -> ModelConfig:
    return validate_as(ModelConfig, data, where)
