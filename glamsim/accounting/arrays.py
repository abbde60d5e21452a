"""`ModelArrays`, the architecture as one numpy array per field (what every count takes), and the
per-configuration views the single-scenario estimators reuse (`cached_arrays`, `scalar_arrays`,
`memo`), built once per config object."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Callable

from glamsim.config import ModelConfig

if TYPE_CHECKING:
    import numpy as np

_GATED = {True: 3, False: 2}


@dataclass(frozen=True)
class ModelArrays:
    """The architecture fields the counts need, one float64 array (or scalar) each.

    Every counting function takes one: with arrays of n configurations they return n counts
    (numpy broadcasting), so a sweep counts thousands of architectures in one call.  Sizes are
    in elements (d_model, d_ff: units; vocab: tokens; max_seq_len: tokens); flags are 0/1.

    Examples
    --------
    >>> from glamsim.config import load_model
    >>> m = ModelArrays.of([load_model("glam-64b-64e"), load_model("gpt3-175b")])
    >>> m.n_experts.tolist(), m.d_model.tolist()
    ([64.0, 0.0], [8192.0, 12288.0])
    """

    n_layers: np.ndarray
    n_moe_layers: np.ndarray
    d_model: np.ndarray
    n_heads: np.ndarray
    head_dim: np.ndarray
    kv_heads: np.ndarray
    d_ff: np.ndarray
    expert_ff: np.ndarray
    ffn_mats: np.ndarray  # weight matrices per dense FFN: 3 gated, 2 plain
    expert_mats: np.ndarray
    n_experts: np.ndarray
    top_k: np.ndarray
    n_shared: np.ndarray
    shared_ff: np.ndarray  # width of each shared expert
    shared_gate: np.ndarray  # 1: a sigmoid gate (d_model weights) scales the shared experts' output
    dropless: np.ndarray  # 1: dropless routing (no capacity)
    capacity_factor: np.ndarray  # dropless rows: n_experts (capacity = the whole group)
    group_size: np.ndarray
    vocab: np.ndarray
    max_seq_len: np.ndarray
    learned_pos: np.ndarray
    rel_bias: np.ndarray  # 1 for per-layer relative position bias
    rel_buckets: np.ndarray
    untied: np.ndarray
    norm_params: np.ndarray  # parameters per norm per unit width: 1 RMSNorm, 2 LayerNorm
    bias: np.ndarray  # biases in the FFN (and expert) matrices
    qkv_bias: np.ndarray
    out_bias: np.ndarray
    dropout: np.ndarray  # dropout probability: masks are stored only when > 0 (memory only)

    @classmethod
    def of(cls, cfgs: ModelConfig | list[ModelConfig]) -> ModelArrays:
        """The arrays of one configuration or a list of them (one element each).

        Parameters
        ----------
        cfgs : ModelConfig or list of ModelConfig

        Returns
        -------
        ModelArrays
        """
        cfgs = [cfgs] if isinstance(cfgs, ModelConfig) else list(cfgs)
        import numpy as np

        return cls(**{k: np.asarray(v, dtype=np.float64) for k, v in _field_rows(cfgs).items()})

    def with_(self, **changes) -> ModelArrays:
        """A copy with some fields replaced (for sweeps over architecture fields).

        Parameters
        ----------
        **changes
            Field -> value or array (broadcast against the others).

        Returns
        -------
        ModelArrays

        Examples
        --------
        >>> from glamsim.accounting import params
        >>> from glamsim.config import load_model
        >>> m = ModelArrays.of(load_model("glam-1.7b-64e")).with_(n_experts=[16, 64, 256])
        >>> (params(m) / 1e9).round(1).tolist()
        [8.0, 27.3, 104.6]
        """
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        import numpy as np

        d.update({k: np.asarray(v, dtype=np.float64) for k, v in changes.items()})
        return ModelArrays(**d)


def _field_rows(cfgs: list[ModelConfig]) -> dict[str, list]:
    """Each `ModelArrays` field as a list of plain values, one per configuration."""
    return {
        "n_layers": [c.n_layers for c in cfgs],
        "n_moe_layers": [c.n_moe_layers for c in cfgs],
        "d_model": [c.d_model for c in cfgs],
        "n_heads": [c.n_heads for c in cfgs],
        "head_dim": [c.head_dim for c in cfgs],
        "kv_heads": [c.kv_heads for c in cfgs],
        "d_ff": [c.d_ff for c in cfgs],
        "expert_ff": [c.expert_ff for c in cfgs],
        "ffn_mats": [_GATED[c.dense_ffn_gated] for c in cfgs],
        "expert_mats": [_GATED[c.expert_gated] for c in cfgs],
        "n_experts": [c.n_experts for c in cfgs],
        "top_k": [c.top_k for c in cfgs],
        "n_shared": [c.n_shared_experts for c in cfgs],
        "shared_ff": [c.shared_ff for c in cfgs],
        "shared_gate": [c.shared_expert_gate for c in cfgs],
        "dropless": [c.dropless for c in cfgs],
        "capacity_factor": [max(c.n_experts, 1) if c.dropless else c.capacity_factor for c in cfgs],
        "group_size": [c.router_group_size for c in cfgs],
        "vocab": [c.vocab_size for c in cfgs],
        "max_seq_len": [c.max_seq_len for c in cfgs],
        "learned_pos": [c.position == "learned" for c in cfgs],
        "rel_bias": [c.position == "relative_bias" for c in cfgs],
        "rel_buckets": [c.rel_pos_buckets for c in cfgs],
        "untied": [not c.tie_embeddings for c in cfgs],
        "norm_params": [1 if c.norm == "rmsnorm" else 2 for c in cfgs],
        "bias": [c.use_bias for c in cfgs],
        "qkv_bias": [c.has_qkv_bias for c in cfgs],
        "out_bias": [c.has_out_bias for c in cfgs],
        "dropout": [c.dropout for c in cfgs],
    }


# ---- per-configuration caches (single-scenario estimators) ------------------------------------
# Keyed by the config object's identity (a ModelConfig is frozen), held through a weak reference
# whose callback drops the entry when the config is collected, so an id is never reused stale.

_PER_CONFIG: dict[int, tuple[weakref.ref, dict]] = {}


def _memo_of(cfg: ModelConfig) -> dict:
    key = id(cfg)
    hit = _PER_CONFIG.get(key)
    if hit is not None and hit[0]() is cfg:
        return hit[1]
    memo: dict = {}
    _PER_CONFIG[key] = (weakref.ref(cfg, lambda _ref, k=key: _PER_CONFIG.pop(k, None)), memo)
    return memo


MAX_MEMO_PER_CONFIG = 1024  # beyond this many keys, values are computed but no longer kept


def memo(cfg: ModelConfig, key, compute: Callable):
    """`compute()` once per config object and `key`, kept while the config lives.

    Parameters
    ----------
    cfg : ModelConfig
        The configuration (by identity: a ModelConfig is frozen).
    key : hashable
        What the value depends on besides the configuration, e.g. a sequence length.
    compute : callable
        Called with no arguments on the first request.

    Returns
    -------
    object
        `compute()`'s value (at most `MAX_MEMO_PER_CONFIG` keys are kept per configuration).
    """
    d = _memo_of(cfg)
    try:
        return d[key]
    except KeyError:
        value = compute()
        if len(d) < MAX_MEMO_PER_CONFIG:
            d[key] = value
        return value


def cached_arrays(cfg: ModelConfig) -> ModelArrays:
    """`ModelArrays.of(cfg)` built once per config object; its arrays are read-only (shared).

    Parameters
    ----------
    cfg : ModelConfig

    Returns
    -------
    ModelArrays
        One-element read-only arrays.
    """

    def build():
        m = ModelArrays.of(cfg)
        for f in fields(m):
            getattr(m, f.name).flags.writeable = False
        return m

    return memo(cfg, "arrays", build)


def scalar_arrays(cfg: ModelConfig) -> ModelArrays:
    """One configuration's fields as Python floats, once per config object: the same values as
    `ModelArrays.of(cfg)` (float64), for single-scenario arithmetic without array overhead.  The
    formulas (here and in `glamsim.cost.communication`) broadcast, so they take it and return
    scalars (or 0-d arrays), bit for bit the values of the one-row arrays.

    Parameters
    ----------
    cfg : ModelConfig

    Returns
    -------
    ModelArrays
        Python floats.
    """
    return memo(cfg, "scalars", lambda: ModelArrays(**{k: float(v[0]) for k, v in _field_rows([cfg]).items()}))
