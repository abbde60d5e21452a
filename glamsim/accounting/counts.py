"""The single-configuration view: `count(cfg)` (every count of one model, the `glamsim count`
payload), its per-layer table, and the counts against the published ones (`published_deltas`)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from glamsim.accounting.arrays import ModelArrays
from glamsim.accounting.flops import (
    attention_score_flops,
    expert_slots_per_token,
    forward_flops_per_token,
    layer_flops,
    train_flops_per_token,
)
from glamsim.accounting.params import (
    attention_params,
    dense_ffn_params,
    embedding_params,
    moe_ffn_params,
    params,
    router_params,
)
from glamsim.config import ModelConfig, load_model

if TYPE_CHECKING:
    import pandas as pd


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
    import numpy as np

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
