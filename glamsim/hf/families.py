"""The decoder families `glamsim.hf` reads: each maps its config.json keys onto `ModelConfig` fields."""

from __future__ import annotations

from typing import Callable

from glamsim.hf.reader import UNMODELLED, KeyReader


def _llama_like(
    r: KeyReader,
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


def _gpt2(r: KeyReader) -> None:
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


def _gpt_neox(r: KeyReader) -> None:
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


def _opt(r: KeyReader) -> None:
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


def _moe_common(r: KeyReader, experts_key: str, *, dense_width_key: str = "intermediate_size") -> int:
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


def _mixtral(r: KeyReader) -> None:
    _llama_like(r)
    if _moe_common(r, "num_local_experts"):
        r.put("d_ff_expert", r.fields["d_ff"], "intermediate_size", "each expert's width")
        r.put("moe_every", 1, note="every layer's FFN is an MoE layer")
        r.put("moe_offset", 0)
        r.put("renormalize_gates", True, note="softmax, top-k, renormalised")
        r.map("router_aux_loss_coef", "aux_loss_weight", (int, float), 0.001, convert=float)


def _qwen2(r: KeyReader) -> None:
    _llama_like(r, qkv_bias=True)


def _qwen2_moe(r: KeyReader) -> None:
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


def _deepseek(r: KeyReader) -> None:
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


def _gemma(r: KeyReader) -> None:
    _llama_like(r, tie_default=True, act_keys=("hidden_activation", "hidden_act"), act_default="gelu_pytorch_tanh")


FAMILIES: dict[str, tuple[str, Callable[[KeyReader], None]]] = {
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


def read_dropout(r: KeyReader) -> None:
    """`dropout`: the largest of the config's dropout probabilities (memory only: masks kept)."""
    present = [k for k in DROPOUT_KEYS if r.has(k)]
    if not present:
        return
    values = {k: r.get(k, float) for k in present}
    key = max(values, key=values.get)
    r.put("dropout", float(values[key]), key, "the largest dropout probability; it changes memory, not counts")
