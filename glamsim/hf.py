"""Hugging Face `config.json` files as `ModelConfig`s: the decoder families people run.

`read(path)` maps a local config.json of GPT-2, GPT-NeoX (Pythia), OPT, Llama 1/2/3, Mistral,
Mixtral, Qwen2, Qwen2-MoE, DeepSeek-MoE, Phi-3 or Gemma onto a `ModelConfig` by its `model_type`,
with one line per mapped field saying what it became (`glamsim count config.json --explain`).
Nothing is downloaded: the file is local.

Every key of the file is accounted for: mapped onto a field, known not to change parameters or
FLOPs (dropout, token ids, norm epsilons, rope scaling, sliding windows...: listed as such), or
refused in one line naming it.  A key that changes the count and that glamsim does not model
(latent attention's `kv_lora_rank`, DeepSeek-V3's `num_nextn_predict_layers`, OPT's
`word_embed_proj_dim` projections, an unknown activation...) is refused, and so is any key this
reader does not know, since it might change the count: never silently ignored.

`glamsim.config.load_model` sends every `.json` path here, so a config.json is accepted wherever a
model is (count, estimate, plan, compare, studies).  A `.json` file without `model_type` that holds
glamsim's own fields (`name`, `n_layers`, ...) is read as a ModelConfig.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from glamsim.architecture import ModelConfig, validate_model
from glamsim.readers import NAME_PATTERN, ConfigError, file_identity, parse_json, read_text, show


@dataclass(frozen=True)
class HFModel:
    """A config.json read as a ModelConfig, with one line per mapped field."""

    config: ModelConfig
    model_type: str
    explanations: tuple[str, ...]


# keys that change neither parameters nor FLOPs per token (training-time noise, token ids,
# numerical epsilons, generation defaults, bookkeeping, how positions are scaled or windowed)
HARMLESS = {
    "architectures",
    "auto_map",
    "transformers_version",
    "torch_dtype",
    "dtype",
    "use_cache",
    "initializer_range",
    "init_std",
    "layerdrop",
    "task_specific_params",
    "id2label",
    "label2id",
    "problem_type",
    "prefix",
    "finetuning_task",
    "tokenizer_class",
    "torchscript",
    "chunk_size_feed_forward",
    "is_decoder",
    "tf_legacy_loss",
    "use_bfloat16",
    "rope_scaling",
    "rope_parameters",
    "sliding_window",
    "use_sliding_window",
    "max_window_layers",
    "layer_types",
    "original_max_position_embeddings",
    "pretraining_tp",
    "router_jitter_noise",
    "output_router_logits",
    "seq_aux",
    "n_ctx",
    "scale_attn_weights",
    "scale_attn_by_inverse_layer_idx",
    "reorder_and_upcast_attn",
    "summary_type",
    "summary_use_proj",
    "summary_activation",
    "summary_proj_to_labels",
    "summary_first_dropout",
    "quantization_config",
    "pad_token",
    "max_length",
    "min_length",
    "do_sample",
    "early_stopping",
    "num_beams",
    "num_beam_groups",
    "temperature",
    "top_p",
    "typical_p",
    "repetition_penalty",
    "length_penalty",
    "no_repeat_ngram_size",
    "encoder_no_repeat_ngram_size",
    "bad_words_ids",
    "num_return_sequences",
    "diversity_penalty",
    "remove_invalid_values",
    "exponential_decay_length_penalty",
    "suppress_tokens",
    "begin_suppress_tokens",
    "forced_decoder_ids",
    "use_parallel_attention",
    "rope_interleaved",
    "cross_attention_hidden_size",
    "n_group",
    "topk_group",
    "routed_scaling_factor",
    "use_memory_efficient_attention",
    "use_flash_attention",
}
HARMLESS_PATTERNS = re.compile(r"^_|(dropout|_pdrop|_eps|epsilon)$|_token_ids?$|^(output|return)_")

# keys that change the count and that glamsim does not model: refused when set (not null/0/false)
UNMODELLED = {
    "kv_lora_rank": "multi-head latent attention (low-rank key/value projections) is not modelled",
    "q_lora_rank": "multi-head latent attention (low-rank query projection) is not modelled",
    "qk_rope_head_dim": "multi-head latent attention (decoupled rotary key dimensions) is not modelled",
    "qk_nope_head_dim": "multi-head latent attention (separate no-position head dimensions) is not modelled",
    "v_head_dim": "a value head width different from the query/key head width is not modelled",
    "num_nextn_predict_layers": "multi-token prediction modules (extra layers and heads) are not modelled",
    "add_cross_attention": "cross-attention layers are not modelled (decoder-only models only)",
    "is_encoder_decoder": "encoder-decoder models are not modelled (decoder-only models only)",
    "pruned_heads": "pruned attention heads are not modelled",
    "use_qk_norm": "query/key norms are not modelled",
}

ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_new": "gelu",
    "gelu_pytorch_tanh": "gelu",
    "gelu_fast": "gelu",
    "gelu_python": "gelu",
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
}

_MISSING = object()


class _Reader:
    """Takes the keys of one config.json, records what each became, and refuses what it cannot map."""

    def __init__(self, data: dict, where: str, model_type: str):
        self.data, self.where, self.model_type = data, where, model_type
        self.used: set[str] = {"model_type"}
        self.fields: dict = {}
        self.origin: dict[str, str] = {}  # glamsim field -> the config.json key it came from
        self.lines: list[str] = []

    # -- reading one key -----------------------------------------------------------------------
    def refuse(self, key: str, value, why: str):
        raise ConfigError(f"{self.where}: {key}={show(value)}: {why}")

    def get(self, key: str, kind: type | tuple, default=_MISSING):
        """The value of `key` checked against `kind` (int, float, bool, str, list); `default` when
        absent or null; a one-line error when required and absent or of the wrong kind."""
        self.used.add(key)
        value = self.data.get(key)
        if value is None:
            if default is _MISSING:
                raise ConfigError(f"{self.where}: missing field {key!r} (needed for model_type={self.model_type})")
            return default
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = any(isinstance(value, k) and not (isinstance(value, bool) and k in (int, float)) for k in kinds)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            names = " or ".join(
                {int: "an integer", float: "a number", bool: "true or false", str: "text", list: "a list"}[k]
                for k in kinds
            )
            self.refuse(key, value, f"expected {names}")
        return value

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def put(self, field: str, value, key: str | None = None, note: str = "") -> None:
        """Set `field` to `value`, from `key` (None: a fact of the family) with an explanation line."""
        self.fields[field] = value
        if key is None:
            self.lines.append(f"({self.model_type}) -> {field}={show(value)}" + (f": {note}" if note else ""))
            return
        self.origin[field] = key
        given = self.data.get(key)
        src = f"{key}={show(given)}" if given is not None else f"{key} absent"
        self.lines.append(f"{src} -> {field}={show(value)}" + (f" ({note})" if note else ""))

    def map(
        self,
        key: str,
        field: str,
        kind: type | tuple,
        default=_MISSING,
        *,
        convert: Callable | None = None,
        note: str = "",
    ) -> object:
        value = self.get(key, kind, default)
        out = convert(value) if convert else value
        self.put(field, out, key, note if self.has(key) else (note or "default of the family"))
        return out

    # -- shared pieces -------------------------------------------------------------------------
    def activation(self, *keys: str, default: str) -> None:
        key = next((k for k in keys if self.has(k)), keys[0])
        for k in keys:
            self.used.add(k)
        name = self.get(key, str, default)
        if name not in ACTIVATIONS:
            self.refuse(key, name, f"activation not modelled; glamsim knows {', '.join(sorted(ACTIVATIONS))}")
        note = "tanh approximation" if ACTIVATIONS[name] == "gelu" and name != "gelu" else ""
        if name == "gelu":
            note = "exact erf GELU; glamsim's JAX model uses the tanh approximation (same FLOPs count)"
        self.put("activation", ACTIVATIONS[name], key, note)

    def require(self, key: str, expected, why: str) -> None:
        """A key whose other values change the count in a way glamsim does not model."""
        self.used.add(key)
        value = self.data.get(key)
        if value is not None and value != expected:
            self.refuse(key, value, why)

    def finish(self) -> None:
        """Refuse any key that was neither mapped nor known to leave the count unchanged."""
        for key, value in self.data.items():
            if key in UNMODELLED and value not in (None, 0, False, [], {}) and key not in self.used:
                self.refuse(key, value, UNMODELLED[key])
        ignored = []
        for key, value in self.data.items():
            if key in self.used:
                continue
            if key in HARMLESS or HARMLESS_PATTERNS.search(key) or (key in UNMODELLED and not value):
                ignored.append(key)
                continue
            self.refuse(
                key,
                value,
                f"not a field glamsim knows for model_type={self.model_type}; it may change "
                "the parameter count, so glamsim refuses it rather than ignore it",
            )
        if ignored:
            self.lines.append("no effect on parameters or FLOPs, not mapped: " + ", ".join(sorted(ignored)))


# ---- families ----------------------------------------------------------------------------------


def _llama_like(
    r: _Reader,
    *,
    tie_default: bool = False,
    act_keys=("hidden_act",),
    act_default: str = "silu",
    qkv_bias: bool | None = None,
) -> None:
    """Llama, Mistral, Qwen2, Phi-3, Gemma and the MoE families built on them: rotary positions,
    RMSNorm, gated FFN (gate, up, down), grouped-query attention."""
    r.put("position", "rotary", note="rotary position embedding")
    r.put("norm", "rmsnorm", note="RMSNorm (scale only)")
    r.put("dense_ffn_gated", True, note="gated FFN: gate_proj, up_proj, down_proj")
    d = r.map("hidden_size", "d_model", int)
    r.map("num_hidden_layers", "n_layers", int)
    heads = r.map("num_attention_heads", "n_heads", int)
    kv = r.get("num_key_value_heads", int, heads)
    r.put(
        "n_kv_heads",
        kv,
        "num_key_value_heads",
        "grouped-query attention"
        if kv != heads
        else ""
        if r.has("num_key_value_heads")
        else "absent: as many as num_attention_heads",
    )
    if r.has("head_dim"):
        r.map("head_dim", "d_head", int)
    else:
        r.used.add("head_dim")
        if isinstance(d, int) and isinstance(heads, int) and heads and d % heads == 0:
            r.put("d_head", d // heads, "head_dim", "hidden_size / num_attention_heads")
    r.map("intermediate_size", "d_ff", int)
    r.map("vocab_size", "vocab_size", int)
    r.map("max_position_embeddings", "max_seq_len", int)
    r.map("tie_word_embeddings", "tie_embeddings", bool, tie_default)
    r.activation(*act_keys, default=act_default)
    r.map("rope_theta", "rope_theta", (int, float), 10000.0, convert=float)
    if r.has("partial_rotary_factor"):
        r.map("partial_rotary_factor", "rotary_fraction", (int, float), convert=float)
    if qkv_bias is None:
        bias = r.get("attention_bias", bool, False)
        r.put("qkv_bias", bias, "attention_bias")
        r.put("out_bias", bias, "attention_bias")
    else:
        r.put("qkv_bias", qkv_bias, note="q, k, v projections biased" if qkv_bias else "")
        r.put("out_bias", False, note="output projection without bias")
    r.map("mlp_bias", "use_bias", bool, False, note="biases of the FFN matrices")


def _gpt2(r: _Reader) -> None:
    r.put("position", "learned", note="learned absolute positions (wpe)")
    r.put("norm", "layernorm", note="LayerNorm (scale and bias)")
    r.put("use_bias", True, note="every linear layer biased (c_attn, c_proj, c_fc)")
    r.put("dense_ffn_gated", False, note="two-matrix FFN (c_fc, c_proj)")
    d = r.map("n_embd", "d_model", int)
    r.map("n_layer", "n_layers", int)
    r.map("n_head", "n_heads", int)
    r.map("n_inner", "d_ff", int, 4 * d if isinstance(d, int) else 0, note="GPT-2: 4 x n_embd when null")
    r.map("vocab_size", "vocab_size", int)
    r.map("n_positions", "max_seq_len", int)
    r.map("tie_word_embeddings", "tie_embeddings", bool, True)
    r.activation("activation_function", default="gelu_new")


def _gpt_neox(r: _Reader) -> None:
    r.put("position", "rotary", note="rotary position embedding on a share of each head")
    r.put("norm", "layernorm", note="LayerNorm (scale and bias)")
    r.put("use_bias", True, note="FFN matrices biased (dense_h_to_4h, dense_4h_to_h)")
    r.put("dense_ffn_gated", False, note="two-matrix FFN")
    d = r.map("hidden_size", "d_model", int)
    r.map("num_hidden_layers", "n_layers", int)
    r.map("num_attention_heads", "n_heads", int)
    r.map("intermediate_size", "d_ff", int, 4 * d if isinstance(d, int) else 0)
    r.map("vocab_size", "vocab_size", int)
    r.map("max_position_embeddings", "max_seq_len", int)
    r.map("tie_word_embeddings", "tie_embeddings", bool, False)
    r.activation("hidden_act", default="gelu")
    key = "partial_rotary_factor" if r.has("partial_rotary_factor") else "rotary_pct"
    r.used.update({"partial_rotary_factor", "rotary_pct"})
    r.map(key, "rotary_fraction", (int, float), 0.25, convert=float, note="share of each head rotated")
    key = "rope_theta" if r.has("rope_theta") else "rotary_emb_base"
    r.used.update({"rope_theta", "rotary_emb_base"})
    r.map(key, "rope_theta", (int, float), 10000.0, convert=float)
    r.map(
        "use_parallel_residual",
        "parallel_residual",
        bool,
        True,
        note="x + attn(ln1(x)) + mlp(ln2(x)): same parameters and FLOPs",
    )
    bias = r.get("attention_bias", bool, True)
    r.put("qkv_bias", bias, "attention_bias")
    r.put("out_bias", bias, "attention_bias")


def _opt(r: _Reader) -> None:
    r.put(
        "position",
        "learned",
        note="learned absolute positions; OPT's table also has 2 offset rows (2 x d_model parameters, not counted)",
    )
    r.put("norm", "layernorm", note="LayerNorm (scale and bias)")
    r.put("dense_ffn_gated", False, note="two-matrix FFN (fc1, fc2)")
    d = r.map("hidden_size", "d_model", int)
    r.map("num_hidden_layers", "n_layers", int)
    r.map("num_attention_heads", "n_heads", int)
    r.map("ffn_dim", "d_ff", int)
    r.map("vocab_size", "vocab_size", int)
    r.map("max_position_embeddings", "max_seq_len", int)
    r.map("tie_word_embeddings", "tie_embeddings", bool, True)
    r.map("enable_bias", "use_bias", bool, True, note="every linear layer")
    r.activation("activation_function", default="relu")
    r.require(
        "word_embed_proj_dim", d, "differs from hidden_size: OPT's project_in/project_out matrices are not modelled"
    )
    r.require("do_layer_norm_before", True, "post-norm OPT (no final LayerNorm) is not modelled")
    r.require("_remove_final_layer_norm", False, "OPT without its final LayerNorm is not modelled")
    r.require("layer_norm_elementwise_affine", True, "LayerNorms without parameters are not modelled")


def _moe_common(r: _Reader, experts_key: str, *, dense_width_key: str = "intermediate_size") -> int:
    n = r.get(experts_key, int, 0)
    if not n:
        r.used.add("num_experts_per_tok")
        return 0
    r.map(experts_key, "n_experts", int)
    r.map("num_experts_per_tok", "top_k", int)
    r.put("expert_gated", True, note="experts are gated FFNs like the dense ones")
    r.put("routing", "dropless", note="Hugging Face's implementation drops no token (no capacity)")
    r.put("capacity_factor", None, note="dropless routing")
    return n


def _mixtral(r: _Reader) -> None:
    _llama_like(r)
    if _moe_common(r, "num_local_experts"):
        r.put("d_ff_expert", r.fields["d_ff"], "intermediate_size", "each expert's width")
        r.put("moe_every", 1, note="every layer's FFN is an MoE layer")
        r.put("moe_offset", 0)
        r.put("renormalize_gates", True, note="softmax, top-k, renormalised")
        r.map("router_aux_loss_coef", "aux_loss_weight", (int, float), 0.001, convert=float)


def _qwen2(r: _Reader) -> None:
    _llama_like(r, qkv_bias=True)


def _qwen2_moe(r: _Reader) -> None:
    _llama_like(r, qkv_bias=True)
    if not _moe_common(r, "num_experts"):
        return
    r.map("moe_intermediate_size", "d_ff_expert", int)
    shared = r.get("shared_expert_intermediate_size", int, 0)
    if shared:
        r.put("n_shared_experts", 1, "shared_expert_intermediate_size", "one shared expert")
        r.put("d_ff_shared", shared, "shared_expert_intermediate_size")
        r.put(
            "shared_expert_gate",
            True,
            note="sigmoid gate on the shared expert (shared_expert_gate: hidden_size weights)",
        )
    r.map("norm_topk_prob", "renormalize_gates", bool, False)
    r.map("router_aux_loss_coef", "aux_loss_weight", (int, float), 0.001, convert=float)
    step = r.get("decoder_sparse_step", int, 1)
    dense = r.get("mlp_only_layers", list, [])
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in dense):
        r.refuse("mlp_only_layers", dense, "expected a list of layer indices")
    k = len(set(dense))
    if sorted(set(dense)) != list(range(k)):
        r.refuse("mlp_only_layers", dense, "only a leading run of dense layers (0, 1, ..., k-1) is modelled")
    if step < 1:
        r.refuse("decoder_sparse_step", step, "must be at least 1")
    # Hugging Face: layer i is sparse when i not in mlp_only_layers and (i + 1) % step == 0
    r.put("first_dense_layers", k, "mlp_only_layers")
    r.put("moe_every", step, "decoder_sparse_step")
    r.put(
        "moe_offset",
        (step - 1 - k) % step,
        "decoder_sparse_step",
        "layer i is MoE when (i + 1) % decoder_sparse_step == 0",
    )


def _deepseek(r: _Reader) -> None:
    for key in (
        "kv_lora_rank",
        "q_lora_rank",
        "qk_rope_head_dim",
        "qk_nope_head_dim",
        "v_head_dim",
        "num_nextn_predict_layers",
    ):
        value = r.data.get(key)
        if value not in (None, 0):
            r.refuse(key, value, UNMODELLED[key])
    _llama_like(r)
    r.require("scoring_func", "softmax", "glamsim's router is a softmax")
    method = r.get("topk_method", str, "greedy")
    if method not in ("greedy", "group_limited_greedy"):
        r.refuse(
            "topk_method",
            method,
            "routing with a learned score-correction bias (extra parameters per expert) is not modelled",
        )
    if not _moe_common(r, "n_routed_experts"):
        r.used.update({"n_shared_experts", "moe_intermediate_size", "first_k_dense_replace", "moe_layer_freq"})
        return
    width = r.map("moe_intermediate_size", "d_ff_expert", int)
    shared = r.get("n_shared_experts", int, 0)
    if shared:
        r.put("n_shared_experts", shared, "n_shared_experts")
        r.put("d_ff_shared", width, "moe_intermediate_size", "each shared expert as wide as a routed one")
    r.map("norm_topk_prob", "renormalize_gates", bool, False)
    if r.has("aux_loss_alpha"):
        r.map("aux_loss_alpha", "aux_loss_weight", (int, float), convert=float)
    k = r.get("first_k_dense_replace", int, 0)
    freq = r.get("moe_layer_freq", int, 1)
    if freq < 1:
        r.refuse("moe_layer_freq", freq, "must be at least 1")
    # Hugging Face: layer i is MoE when i >= first_k_dense_replace and i % moe_layer_freq == 0
    r.put("first_dense_layers", k, "first_k_dense_replace")
    r.put("moe_every", freq, "moe_layer_freq")
    r.put("moe_offset", (-k) % freq, "moe_layer_freq", "layer i is MoE when i % moe_layer_freq == 0")


def _gemma(r: _Reader) -> None:
    _llama_like(r, tie_default=True, act_keys=("hidden_activation", "hidden_act"), act_default="gelu_pytorch_tanh")


FAMILIES: dict[str, tuple[str, Callable[[_Reader], None]]] = {
    "gpt2": ("GPT-2", _gpt2),
    "gpt_neox": ("GPT-NeoX / Pythia", _gpt_neox),
    "opt": ("OPT", _opt),
    "llama": ("Llama 1/2/3", _llama_like),
    "mistral": ("Mistral", _llama_like),
    "mixtral": ("Mixtral", _mixtral),
    "qwen2": ("Qwen2", _qwen2),
    "qwen2_moe": ("Qwen2-MoE / Qwen1.5-MoE", _qwen2_moe),
    "deepseek": ("DeepSeek-MoE / DeepSeek LLM", _deepseek),
    "deepseek_v2": ("DeepSeek-V2 (refused: latent attention)", _deepseek),
    "deepseek_v3": ("DeepSeek-V3 (refused: latent attention)", _deepseek),
    "phi3": ("Phi-3", _llama_like),
    "gemma": ("Gemma", _gemma),
}


DROPOUT_KEYS = ("attention_dropout", "hidden_dropout", "attn_pdrop", "resid_pdrop", "embd_pdrop", "dropout")


def _dropout(r: _Reader) -> None:
    """`dropout`: the largest of the config's dropout probabilities (memory only: masks kept)."""
    present = [k for k in DROPOUT_KEYS if r.has(k)]
    if not present:
        return
    values = {k: r.get(k, float) for k in present}
    key = max(values, key=values.get)
    r.put("dropout", float(values[key]), key, "the largest dropout probability; it changes memory, not counts")


def _name(data: dict, path: str) -> str:
    """A preset-style name: the last part of `_name_or_path`, else the folder of a `config.json`,
    else the file's stem; characters a name cannot hold become '-'."""
    p = Path(path)
    raw = data.get("_name_or_path")
    candidates = [
        raw.rstrip("/").rsplit("/", 1)[-1] if isinstance(raw, str) else "",
        p.resolve().parent.name if p.stem == "config" else p.stem,
        "hf-model",
    ]
    for c in candidates:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", c).lstrip("_.-")[:100]
        if name and re.fullmatch(NAME_PATTERN, name):
            return name
    return "hf-model"


def from_dict(data, where: str, name: str = "hf-model") -> HFModel:
    """Map parsed config.json data onto a ModelConfig (one-line ConfigError when it cannot)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object of fields, got {type(data).__name__}")
    if "model_type" not in data:
        if "n_layers" in data and "name" in data:  # glamsim's own fields, as JSON
            cfg = validate_model(data, where)
            return HFModel(cfg, "glamsim", ("glamsim ModelConfig fields: nothing mapped",))
        raise ConfigError(
            f"{where}: missing field 'model_type': not a Hugging Face config.json "
            f"(known model types: {', '.join(FAMILIES)})"
        )
    mt = data["model_type"]
    if not isinstance(mt, str) or mt not in FAMILIES:
        raise ConfigError(f"{where}: model_type={show(mt)}: not a family glamsim reads; known: {', '.join(FAMILIES)}")
    r = _Reader(data, where, mt)
    family, read_family = FAMILIES[mt]
    r.lines.append(f"model_type={mt!r}: {family}")
    read_family(r)
    _dropout(r)
    r.finish()
    fields = {
        "name": name,
        "description": f"Hugging Face config.json ({family}, model_type {mt})",
        "z_loss_weight": 0.0,
        **r.fields,
    }
    if fields.get("n_experts", 0) == 0:
        fields.pop("aux_loss_weight", None)
    try:
        cfg = validate_model(fields, where)
    except ConfigError as err:
        raise ConfigError(_name_hf_field(str(err), where, r.origin)) from None
    return HFModel(cfg, mt, tuple(r.lines))


def _name_hf_field(msg: str, where: str, origin: dict[str, str]) -> str:
    """Add the config.json key a refused glamsim field came from: 'd_model=-8: ... (hidden_size)'."""
    rest = msg.removeprefix(f"{where}: ")
    m = re.match(r"^([A-Za-z_]\w*)=", rest)
    if m and m.group(1) in origin:
        return f"{msg} (from {origin[m.group(1)]} in config.json)"
    return msg


_CACHE: dict[tuple, HFModel] = {}
MAX_CACHED = 256


def read(path: str | Path) -> HFModel:
    """A local config.json as an `HFModel`, parsed once per process while it is unchanged on disk."""
    s = str(path)
    key = file_identity(s)
    hit = _CACHE.get(key) if key is not None else None
    if hit is not None:
        return hit
    text = read_text(s, "hf-config")
    data = parse_json(text, s)
    out = from_dict(data, s, _name(data, s) if isinstance(data, dict) else "hf-model")
    if key is not None:
        if len(_CACHE) >= MAX_CACHED:
            _CACHE.clear()
        _CACHE[key] = out
    return out


def explain(path: str | Path) -> list[str]:
    """One line per mapped field of a config.json (what `glamsim count --explain` prints)."""
    return list(read(path).explanations)
