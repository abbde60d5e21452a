"""Parameter counts per layer and of the whole model (numpy, vectorised over `ModelArrays`)."""

from __future__ import annotations

from glamsim.accounting.arrays import ModelArrays


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
