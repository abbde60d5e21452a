"""FLOPs per token and per step: attention, experts at their capacity slots, logits, the optimizer
update (numpy, vectorised over `ModelArrays`; the conventions are the package's, `glamsim.accounting`)."""

from __future__ import annotations

from glamsim.accounting import xp
from glamsim.accounting.arrays import ModelArrays
from glamsim.accounting.params import attention_weights, ffn_weights, params, router_params

SOFTMAX_FLOPS_PER_SCORE = 3  # forward: scale, bias/mask add, max/normalise (exp is a transcendental)
ACTIVATION_FLOPS_PER_UNIT = 8  # forward GELU(tanh approx.): cube, scale, add, 1+, x/2 multiply; gate multiply
# Element-wise FLOPs per parameter of one update of glamsim's optimizer: clip-by-global-norm
# (square, sum, scale), factored Adafactor (g^2, row/column means, reconstruction, scaling,
# update-RMS clipping, parameter scale, learning rate, apply) and the skip-if-non-finite select.
# XLA's cost analysis counts 24.0 per parameter for it (glam-tiny, glam-64b-64e alike).
ADAFACTOR_FLOPS_PER_PARAM = 24


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
    g = m.group_size if group_size is None else xp.f64(group_size)
    cap = xp.maximum(1.0, xp.ceil(m.capacity_factor * g / xp.maximum(m.n_experts, 1.0)))
    return g, xp.where(m.dropless > 0, g, cap)


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
        slots = xp.where(m.dropless > 0, m.top_k, padded)
    else:
        slots = m.top_k if dispatch == "dropless" else padded
    return xp.where(m.n_experts > 0, slots, 0.0)


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
    return xp.where(m.n_experts > 0, 4 * m.n_experts * cap * m.d_model, 0.0)


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
