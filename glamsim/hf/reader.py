"""One config.json's keys, read one by one: what each became, and a one-line refusal for a key that
changes the count and glamsim does not model, or that it does not know."""

from __future__ import annotations

import re
from typing import Callable

from glamsim.readers import ConfigError, show

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


class KeyReader:
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
