"""Analytic parameter and FLOP counts (numpy only, vectorised over configurations).

Conventions (named, so every figure says what it counts):
- FLOPs are 2 per multiply-accumulate. *Model FLOPs* are what the architecture needs per token:
  every matrix multiply of the activated weights (top-k experts, shared experts and their gate,
  router, output logits) plus attention scores. *Hardware FLOPs* replace the top-k experts by the
  capacity slots an MoE layer computes (capacity padding) and add GShard's one-hot
  dispatch/combine einsums when that dispatch is used.  Dropless routing under its own dispatch
  ("dropless": sorted token-expert assignments, grouped matmuls) has no padding: top-k evaluations;
  a capacity-buffer dispatch (scatter, einsum) of a dropless model must hold a whole group per
  expert.  `dispatch=None` is the model's natural dispatch: dropless for dropless routing, else scatter.
- Attention scores (QK^T and AV) cost 4 x context x n_heads x d_head per token and layer.
  Training counts the full S x S score matrix (`causal_halved=False`, what XLA executes);
  `causal_halved=True` counts only the causal half.  Decoding one token at context C reads C keys.
- Training FLOPs = 3 x forward (forward + backward); the optimizer update is not per token.
- The "2N" convention: 2 x activated parameters per token (embedding included), attention on top.
- Hardware FLOPs also count what a compiled step executes beyond matrix multiplies where it is
  not negligible on small models: the attention softmax (scale, bias/mask, max, normalise: about
  3 FLOPs per score forward), the FFN activation (tanh-approximate GELU and the gate multiply:
  about 8 FLOPs per hidden unit forward) and, per step, the optimizer update (`optimizer_flops_per_step`).

Every function takes `ModelArrays` (one numpy array per field), so a sweep counts thousands
of configurations in one call; `count(cfg)` is the single-configuration view.  `cached_arrays(cfg)`
and `scalar_arrays(cfg)` are the per-configuration views the single-scenario estimators reuse
(built once per config object).  pandas is imported only where a DataFrame is built.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Callable

import numpy as np

from glamsim.config import ModelConfig, load_model

if TYPE_CHECKING:
    import pandas as pd

_GATED = {True: 3, False: 2}
SOFTMAX_FLOPS_PER_SCORE = 3  # forward: scale, bias/mask add, max/normalise (exp is a transcendental)
ACTIVATION_FLOPS_PER_UNIT = 8  # forward GELU(tanh approx.): cube, scale, add, 1+, x/2 multiply; gate multiply
# Element-wise FLOPs per parameter of one update of glamsim's optimizer: clip-by-global-norm
# (square, sum, scale), factored Adafactor (g^2, row/column means, reconstruction, scaling,
# update-RMS clipping, parameter scale, learning rate, apply) and the skip-if-non-finite select.
# XLA's cost analysis counts 24.0 per parameter for it (glam-tiny, glam-64b-64e alike).
ADAFACTOR_FLOPS_PER_PARAM = 24


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
        >>> from glamsim.config import load_model
        >>> m = ModelArrays.of(load_model("glam-1.7b-64e")).with_(n_experts=[16, 64, 256])
        >>> (params(m) / 1e9).round(1).tolist()
        [8.0, 27.3, 104.6]
        """
        d = {f.name: getattr(self, f.name) for f in fields(self)}
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


# ---- per-layer parameter counts --------------------------------------------------------------


def attention_weights(m: ModelArrays):
    """Q, K, V and output projection weights of one attention block (no biases, no norm).

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).

    Returns
    -------
    ndarray or float
        Parameters per layer.
    """
    inner = m.n_heads * m.head_dim
    return 2 * m.d_model * inner + 2 * m.d_model * m.kv_heads * m.head_dim


def attention_params(m: ModelArrays):
    """Every parameter of one attention block: projections, their biases, relative-position bias, pre-norm.

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).

    Returns
    -------
    ndarray or float
        Parameters per layer.
    """
    bias = m.qkv_bias * (m.n_heads * m.head_dim + 2 * m.kv_heads * m.head_dim) + m.out_bias * m.d_model
    rel = m.rel_bias * m.rel_buckets * m.n_heads
    norm = m.norm_params * m.d_model
    return attention_weights(m) + bias + rel + norm


def ffn_weights(m: ModelArrays, width, mats):
    """Weight matrices of one feed-forward network (no biases).

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).
    width : float or ndarray
        Hidden width (units).
    mats : float or ndarray
        Weight matrices: 2 plain (in, out), 3 gated (gate, in, out).

    Returns
    -------
    ndarray or float
        Parameters: mats x d_model x width.
    """
    return mats * m.d_model * width


def ffn_params(m: ModelArrays, width, mats):
    """Parameters of one feed-forward network: weight matrices and, where the model has them, biases.

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).
    width : float or ndarray
        Hidden width (units).
    mats : float or ndarray
        Weight matrices: 2 plain, 3 gated.

    Returns
    -------
    ndarray or float
        Parameters.
    """
    bias = m.bias * ((mats - 1) * width + m.d_model)
    return ffn_weights(m, width, mats) + bias


def dense_ffn_params(m: ModelArrays):
    """Parameters of one dense feed-forward block, its pre-norm included.

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).

    Returns
    -------
    ndarray or float
        Parameters per dense layer.
    """
    return ffn_params(m, m.d_ff, m.ffn_mats) + m.norm_params * m.d_model


def expert_params(m: ModelArrays):
    """Parameters of one routed expert (a feed-forward network `expert_ff` wide).

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).

    Returns
    -------
    ndarray or float
        Parameters per expert.
    """
    return ffn_params(m, m.expert_ff, m.expert_mats)


def shared_expert_params(m: ModelArrays):
    """The shared experts of one MoE layer (each d_ff_shared wide, gated like the routed ones) and
    their sigmoid gate; 0 for a model without shared experts.

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).

    Returns
    -------
    ndarray or float
        Parameters per MoE layer.
    """
    return m.n_shared * ffn_params(m, m.shared_ff, m.expert_mats) + m.shared_gate * m.d_model


def router_params(m: ModelArrays):
    """Router weights of one MoE layer (d_model x n_experts).

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).

    Returns
    -------
    ndarray or float
        Parameters per MoE layer.
    """
    return m.d_model * m.n_experts


def moe_ffn_params(m: ModelArrays, active: bool):
    """An MoE feed-forward block: router, experts (all, or the top-k activated), shared experts, norm.

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).
    active : bool
        Count only the top-k experts a token is routed to (activated parameters).

    Returns
    -------
    ndarray or float
        Parameters per MoE layer.
    """
    experts = m.top_k if active else m.n_experts
    return router_params(m) + experts * expert_params(m) + shared_expert_params(m) + m.norm_params * m.d_model


def embedding_params(m: ModelArrays):
    """Token embedding, untied output matrix, learned positions and final norm.

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).

    Returns
    -------
    ndarray or float
        Parameters.
    """
    return m.vocab * m.d_model * (1 + m.untied) + m.learned_pos * m.max_seq_len * m.d_model + m.norm_params * m.d_model


def params(m: ModelArrays, active: bool = False, embedding: bool = True):
    """Total (or activated) parameters of the whole model, with or without the embedding.

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).
    active : bool, default False
        Count only the experts a token is routed to (activated parameters).
    embedding : bool, default True
        Include the embedding, output matrix, positions and final norm.

    Returns
    -------
    ndarray or float
        Parameters (every expert; or the top-k per MoE layer when `active`).

    Examples
    --------
    >>> from glamsim.config import load_model
    >>> m = ModelArrays.of(load_model("glam-64b-64e"))
    >>> round(float(params(m)[0]) / 1e12, 3), round(float(params(m, active=True)[0]) / 1e9, 1)
    (1.162, 96.6)
    """
    n_dense = m.n_layers - m.n_moe_layers
    body = m.n_layers * attention_params(m) + n_dense * dense_ffn_params(m) + m.n_moe_layers * moe_ffn_params(m, active)
    return body + (embedding_params(m) if embedding else 0)


# ---- per-token FLOPs -------------------------------------------------------------------------


def attention_score_flops(m: ModelArrays, context, causal_halved: bool = False):
    """QK^T and AV FLOPs for one token against `context` keys, in one layer: 4 x context x n_heads x head_dim.

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).
    context : float or ndarray
        Keys attended to, in tokens (an array, not a list, for several).
    causal_halved : bool, default False
        Count only the causal half of the score matrix (training counts the full S x S).

    Returns
    -------
    ndarray or float
        FLOPs per token per layer (2 per multiply-accumulate).
    """
    return 4 * context * m.n_heads * m.head_dim * (0.5 if causal_halved else 1.0)


DISPATCHES = ("scatter", "einsum", "dropless")


def expert_capacity(m: ModelArrays, group_size=None):
    """Routing group size and slots per expert per group: GShard's ceil(capacity_factor x group /
    experts) (dropless routing: the whole group); the vectorised twin of
    `ModelConfig.expert_capacity`.

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).
    group_size : float or ndarray, optional
        Tokens per routing group (default: the model's `router_group_size`).

    Returns
    -------
    tuple of (ndarray, ndarray)
        (group size in tokens, slots per expert per group in tokens).
    """
    g = m.group_size if group_size is None else np.asarray(group_size, dtype=np.float64)
    cap = np.maximum(1, np.ceil(m.capacity_factor * g / np.maximum(m.n_experts, 1)))
    return g, np.where(m.dropless > 0, g, cap)


def expert_slots_per_token(m: ModelArrays, group_size=None, dispatch: str | None = None):
    """Expert evaluations per token that an MoE layer computes: E x capacity / group for a
    capacity-buffer dispatch (scatter, einsum), top_k for the dropless dispatch (no padding).

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).
    group_size : float or ndarray, optional
        Tokens per routing group (default: the model's).
    dispatch : {"scatter", "einsum", "dropless"}, optional
        Default: dropless for dropless routing, else scatter.

    Returns
    -------
    ndarray
        Expert evaluations per token per MoE layer (0 for a dense model).
    """
    if dispatch is not None and dispatch not in DISPATCHES:
        raise ValueError(f"dispatch={dispatch!r}: expected one of {DISPATCHES}")
    g, cap = expert_capacity(m, group_size)
    padded = m.n_experts * cap / g
    if dispatch is None:
        slots = np.where(m.dropless > 0, m.top_k, padded)
    else:
        slots = m.top_k if dispatch == "dropless" else padded
    return np.where(m.n_experts > 0, slots, 0.0)


def einsum_dispatch_flops(m: ModelArrays, group_size=None):
    """FLOPs of GShard's one-hot dispatch and combine einsums per token: 2 x (2 x E x C x d_model).

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).
    group_size : float or ndarray, optional
        Tokens per routing group (default: the model's).

    Returns
    -------
    ndarray
        FLOPs per token per MoE layer (0 for a dense model).
    """
    _, cap = expert_capacity(m, group_size)
    return np.where(m.n_experts > 0, 4 * m.n_experts * cap * m.d_model, 0.0)


def layer_flops(
    m: ModelArrays,
    context,
    *,
    moe: bool,
    hardware: bool = False,
    dispatch: str | None = None,
    causal_halved: bool = False,
    group_size=None,
) -> dict:
    """Forward FLOPs per token of one layer, by component.

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).
    context : float or ndarray
        Keys each token attends to, in tokens.
    moe : bool
        An MoE layer (router and experts) rather than a dense one.
    hardware : bool, default False
        Hardware FLOPs: experts at their capacity slots, softmax and activation FLOPs, GShard's
        einsums under the einsum dispatch.
    dispatch : {"scatter", "einsum", "dropless"}, optional
        The MoE dispatch (default: the model's natural one).
    causal_halved : bool, default False
        Count only the causal half of the attention scores.
    group_size : float or ndarray, optional
        Tokens per routing group (default: the model's).

    Returns
    -------
    dict of str to ndarray
        FLOPs per token (2 per multiply-accumulate) of `attn_proj_flops`, `attn_score_flops`,
        `ffn_flops` (an MoE layer's: the routed experts evaluated, the shared experts and their
        gate), `router_flops` (MoE), and with `hardware` `softmax_flops`, `activation_flops`,
        `dispatch_flops` (einsum).
    """
    out = {
        "attn_proj_flops": 2 * attention_weights(m),
        "attn_score_flops": attention_score_flops(m, context, causal_halved),
    }
    if hardware:
        out["softmax_flops"] = SOFTMAX_FLOPS_PER_SCORE * context * m.n_heads
    if moe:
        evals = expert_slots_per_token(m, group_size, dispatch) if hardware else m.top_k
        out["ffn_flops"] = 2 * (
            evals * ffn_weights(m, m.expert_ff, m.expert_mats)
            + m.n_shared * ffn_weights(m, m.shared_ff, m.expert_mats)
            + m.shared_gate * m.d_model
        )
        out["router_flops"] = 2 * router_params(m)
        if hardware:
            out["activation_flops"] = ACTIVATION_FLOPS_PER_UNIT * (evals * m.expert_ff + m.n_shared * m.shared_ff)
        if hardware and dispatch == "einsum":
            out["dispatch_flops"] = einsum_dispatch_flops(m, group_size)
    else:
        out["ffn_flops"] = 2 * ffn_weights(m, m.d_ff, m.ffn_mats)
        if hardware:
            out["activation_flops"] = ACTIVATION_FLOPS_PER_UNIT * m.d_ff
    return out


def logits_flops(m: ModelArrays):
    """FLOPs of the output projection to the vocabulary, per token: 2 x d_model x vocab.

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).

    Returns
    -------
    ndarray or float
        FLOPs per token.
    """
    return 2 * m.d_model * m.vocab


def forward_flops_per_token(m: ModelArrays, context, **kw):
    """Forward FLOPs per token of the whole model: every layer and the logits.

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).
    context : float or ndarray
        Keys each token attends to, in tokens (the training sequence length, or a decoding context).
    **kw
        `layer_flops` options: hardware, dispatch, causal_halved, group_size.

    Returns
    -------
    ndarray or float
        FLOPs per token (model FLOPs unless ``hardware=True``).

    Examples
    --------
    >>> from glamsim.config import load_model
    >>> m = ModelArrays.of(load_model("gpt3-175b"))
    >>> round(float(forward_flops_per_token(m, 2048)[0]) / 1e9, 1)
    358.8
    """
    dense = sum(layer_flops(m, context, moe=False, **kw).values())
    moe = sum(layer_flops(m, context, moe=True, **kw).values())
    return (m.n_layers - m.n_moe_layers) * dense + m.n_moe_layers * moe + logits_flops(m)


def train_flops_per_token(m: ModelArrays, seq_len, **kw):
    """Forward and backward FLOPs per trained token: 3 x forward, full S x S attention.

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).
    seq_len : float or ndarray
        Training context, in tokens (an array, not a list, for several).
    **kw
        `layer_flops` options: hardware, dispatch, causal_halved, group_size.

    Returns
    -------
    ndarray or float
        FLOPs per token.

    Examples
    --------
    >>> import numpy as np
    >>> from glamsim.config import load_model
    >>> m = ModelArrays.of(load_model("gpt3-175b"))
    >>> (train_flops_per_token(m, np.array([1024, 2048])) / 1e9).round(1).tolist()
    [1061.9, 1076.4]
    """
    return 3 * forward_flops_per_token(m, seq_len, **kw)


def optimizer_flops_per_step(m: ModelArrays):
    """Element-wise FLOPs of one optimizer update (hardware FLOPs, not model FLOPs).

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).

    Returns
    -------
    ndarray or float
        FLOPs per step: `ADAFACTOR_FLOPS_PER_PARAM` x parameters.
    """
    return ADAFACTOR_FLOPS_PER_PARAM * params(m)


def train_flops_per_step(m: ModelArrays, batch, seq_len, *, hardware: bool = False, **kw):
    """FLOPs of one training step on batch x seq_len tokens; hardware FLOPs add the optimizer update.

    Parameters
    ----------
    m : ModelArrays
        The architecture(s): one value per configuration (or scalars).
    batch : float or ndarray
        Sequences per step.
    seq_len : float or ndarray
        Tokens per sequence.
    hardware : bool, default False
        Hardware FLOPs (capacity slots, softmax, activations, optimizer) instead of model FLOPs.
    **kw
        `layer_flops` options: dispatch, causal_halved, group_size.

    Returns
    -------
    ndarray or float
        FLOPs per step.
    """
    per_token = train_flops_per_token(m, seq_len, hardware=hardware, **kw)
    return batch * seq_len * per_token + (optimizer_flops_per_step(m) if hardware else 0)


# ---- the single-configuration view -----------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """Analytic counts of one configuration (the `glamsim count --json` payload).

    Parameters
    ----------
    model : str
        The configuration's name.
    seq_len : int
        The context the FLOPs are counted at, in tokens.
    params_total, params_active : int
        Parameters: every expert; the top-k a token is routed to.
    params_embedding, params_total_nonembedding, params_active_nonembedding : int
        Parameters of the embedding (and output matrix, positions, final norm), and the counts
        without them.
    flops_per_token_train, flops_per_token_train_hardware : float
        Model and hardware FLOPs per trained token (3 x forward).
    flops_per_token_infer : float
        Forward model FLOPs per token at a context of `seq_len`.
    flops_per_token_infer_2n : float
        2 x activated parameters (the "2N" convention, attention not included).
    attention_flops_per_token_infer, router_flops_per_token : float
        FLOPs per token of the attention scores and of the routers.
    expert_slots_per_token : float
        Expert evaluations per token per MoE layer the compiled program computes.
    layers : pandas.DataFrame
        One row per layer (`layer_table`).
    """

    model: str
    seq_len: int
    params_total: int
    params_active: int
    params_embedding: int
    params_total_nonembedding: int
    params_active_nonembedding: int
    flops_per_token_train: float
    flops_per_token_train_hardware: float
    flops_per_token_infer: float
    flops_per_token_infer_2n: float
    attention_flops_per_token_infer: float
    router_flops_per_token: float
    expert_slots_per_token: float
    layers: pd.DataFrame

    def to_dict(self) -> dict:
        """The counts as plain data, with the conventions they follow and the layers as records.

        Returns
        -------
        dict
        """
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "layers"}
        d["conventions"] = {
            "flops": "2 per multiply-accumulate; train = 3 x forward",
            "attention_train": "full S x S scores (not causally halved)",
            "flops_per_token_infer": "matmuls of activated weights + attention at seq_len context",
            "flops_per_token_infer_2n": "2 x params_active (attention not included)",
            "hardware": "experts counted at capacity slots (capacity_factor, router_group_size); "
            "dropless routing: top-k evaluations, no padding",
        }
        d["layers"] = self.layers.to_dict(orient="records")
        return d


def layer_table(cfg: ModelConfig, seq_len: int, causal_halved: bool = False) -> pd.DataFrame:
    """Per-layer breakdown: parameters and forward FLOPs per token by component.

    Parameters
    ----------
    cfg : ModelConfig
    seq_len : int
        The context, in tokens.
    causal_halved : bool, default False
        Count only the causal half of the attention scores.

    Returns
    -------
    pandas.DataFrame
        One row per layer: `layer`, `kind` (dense or moe), `params_total`, `params_active`, the
        model FLOPs per token of each component (`layer_flops`), `flops_fwd_per_token` and
        `hw_flops_fwd_per_token`.
    """
    import pandas as pd

    m = ModelArrays.of(cfg)
    rows = []
    for i in range(cfg.n_layers):
        moe = cfg.is_moe_layer(i)
        total = attention_params(m) + (moe_ffn_params(m, False) if moe else dense_ffn_params(m))
        active = attention_params(m) + (moe_ffn_params(m, True) if moe else dense_ffn_params(m))
        model = layer_flops(m, seq_len, moe=moe, causal_halved=causal_halved)
        hw = layer_flops(m, seq_len, moe=moe, hardware=True, causal_halved=causal_halved)
        row = {
            "layer": i,
            "kind": "moe" if moe else "dense",
            "params_total": int(total[0]),
            "params_active": int(active[0]),
        }
        row.update({k: float(v[0]) for k, v in model.items()})
        row.setdefault("router_flops", 0.0)
        row["flops_fwd_per_token"] = float(sum(v[0] for v in model.values()))
        row["hw_flops_fwd_per_token"] = float(sum(v[0] for v in hw.values()))
        rows.append(row)
    return pd.DataFrame(rows)


def count(cfg: ModelConfig | str, seq_len: int | None = None) -> Counts:
    """All analytic counts of one configuration.

    Parameters
    ----------
    cfg : ModelConfig or str
        A configuration, a preset name or a YAML path.
    seq_len : int, optional
        The context in tokens; default the model's own (`max_seq_len`, the one default used
        everywhere).

    Returns
    -------
    Counts
        Parameters, FLOPs per token (2 per multiply-accumulate) and the per-layer table.

    Examples
    --------
    >>> c = count("glam-64b-64e")
    >>> c.seq_len, round(c.params_total / 1e12, 3), round(c.flops_per_token_infer_2n / 1e9, 1)
    (1024, 1.162, 193.2)
    """
    cfg = cfg if isinstance(cfg, ModelConfig) else load_model(cfg)
    s = seq_len or cfg.max_seq_len
    m = ModelArrays.of(cfg)
    one = lambda a: float(np.asarray(a).reshape(-1)[0])  # noqa: E731
    n_active = params(m, active=True)
    attn_infer = cfg.n_layers * attention_score_flops(m, s)
    return Counts(
        model=cfg.name,
        seq_len=s,
        params_total=int(one(params(m))),
        params_active=int(one(n_active)),
        params_embedding=int(one(embedding_params(m))),
        params_total_nonembedding=int(one(params(m, embedding=False))),
        params_active_nonembedding=int(one(params(m, active=True, embedding=False))),
        flops_per_token_train=one(train_flops_per_token(m, s)),
        flops_per_token_train_hardware=one(train_flops_per_token(m, s, hardware=True)),
        flops_per_token_infer=one(forward_flops_per_token(m, s)),
        flops_per_token_infer_2n=one(2 * n_active),
        attention_flops_per_token_infer=one(attn_infer),
        router_flops_per_token=one(m.n_moe_layers * 2 * router_params(m)),
        expert_slots_per_token=one(expert_slots_per_token(m)),
        layers=layer_table(cfg, s),
    )


def published_deltas(cfg: ModelConfig | str) -> dict:
    """Computed vs published parameter counts, under the publication's own convention.

    Parameters
    ----------
    cfg : ModelConfig or str
        A configuration, a preset name or a YAML path.

    Returns
    -------
    dict
        `model`; `params_total` and `params_active` (parameters), each also `_nonembedding`,
        `_published` (None when not published) and `_delta` (computed / published - 1, under
        `counts_embedding`, whether the publication counted the embedding).

    Examples
    --------
    >>> d = published_deltas("gpt3-175b")
    >>> d["params_total_published"], round(d["params_total_delta"], 4)
    (174600000000.0, 0.0)
    """
    cfg = cfg if isinstance(cfg, ModelConfig) else load_model(cfg)
    pub = cfg.published
    m = ModelArrays.of(cfg)
    out = {"model": cfg.name}
    for key, active in (("params_total", False), ("params_active", True)):
        computed = float(params(m, active=active)[0])
        computed_ne = float(params(m, active=active, embedding=False)[0])
        out[f"{key}"] = computed
        out[f"{key}_nonembedding"] = computed_ne
        ref = getattr(pub, key, None) if pub else None
        if ref is None:
            out[f"{key}_published"] = None
            out[f"{key}_delta"] = None
            continue
        compared = computed if pub.counts_embedding else computed_ne
        out[f"{key}_published"] = ref.value
        out[f"{key}_delta"] = compared / ref.value - 1
    out["counts_embedding"] = pub.counts_embedding if pub else None
    return out
