"""Hugging Face config.json files of each decoder family, counted against published parameter counts.

Each config below is written from the family's published hyperparameters (the fields of its
config.json on the Hugging Face Hub), then counted through `glamsim count` and compared with the
publisher's own parameter count (total and activated) within 2%, the source cited beside it.
"""

import json

import pytest
from badinput import refused, run

from glamsim import hf
from glamsim.accounting import count
from glamsim.config import load_model

COMMON = {"initializer_range": 0.02, "use_cache": True, "torch_dtype": "bfloat16", "transformers_version": "4.40.0"}

GPT2_124M = {  # openai-community/gpt2
    **COMMON,
    "model_type": "gpt2",
    "architectures": ["GPT2LMHeadModel"],
    "activation_function": "gelu_new",
    "attn_pdrop": 0.1,
    "embd_pdrop": 0.1,
    "resid_pdrop": 0.1,
    "bos_token_id": 50256,
    "eos_token_id": 50256,
    "layer_norm_epsilon": 1e-05,
    "n_ctx": 1024,
    "n_embd": 768,
    "n_head": 12,
    "n_layer": 12,
    "n_positions": 1024,
    "summary_type": "cls_index",
    "summary_use_proj": True,
    "summary_activation": None,
    "summary_proj_to_labels": True,
    "summary_first_dropout": 0.1,
    "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}},
    "vocab_size": 50257,
}

PYTHIA_160M = {  # EleutherAI/pythia-160m (GPT-NeoX architecture)
    **COMMON,
    "model_type": "gpt_neox",
    "architectures": ["GPTNeoXForCausalLM"],
    "bos_token_id": 0,
    "eos_token_id": 0,
    "hidden_act": "gelu",
    "hidden_size": 768,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 2048,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "rotary_emb_base": 10000,
    "rotary_pct": 0.25,
    "tie_word_embeddings": False,
    "use_parallel_residual": True,
    "vocab_size": 50304,
    "attention_dropout": 0.0,
    "hidden_dropout": 0.0,
}
PYTHIA_1_4B = {
    **PYTHIA_160M,
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_attention_heads": 16,
    "num_hidden_layers": 24,
}

OPT_125M = {  # facebook/opt-125m
    **COMMON,
    "model_type": "opt",
    "_name_or_path": "facebook/opt-125m",
    "activation_dropout": 0.0,
    "activation_function": "relu",
    "architectures": ["OPTForCausalLM"],
    "attention_dropout": 0.0,
    "bos_token_id": 2,
    "do_layer_norm_before": True,
    "dropout": 0.1,
    "eos_token_id": 2,
    "ffn_dim": 3072,
    "hidden_size": 768,
    "init_std": 0.02,
    "layerdrop": 0.0,
    "max_position_embeddings": 2048,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 1,
    "prefix": "</s>",
    "vocab_size": 50272,
    "word_embed_proj_dim": 768,
}
OPT_1_3B = {
    **OPT_125M,
    "_name_or_path": "facebook/opt-1.3b",
    "ffn_dim": 8192,
    "hidden_size": 2048,
    "num_attention_heads": 32,
    "num_hidden_layers": 24,
    "word_embed_proj_dim": 2048,
}

LLAMA_7B = {  # huggyllama/llama-7b (LLaMA 1)
    **COMMON,
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "bos_token_id": 1,
    "eos_token_id": 2,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "max_position_embeddings": 2048,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "pad_token_id": 0,
    "rms_norm_eps": 1e-06,
    "tie_word_embeddings": False,
    "vocab_size": 32000,
}
LLAMA2_7B = {
    **LLAMA_7B,
    "max_position_embeddings": 4096,
    "num_key_value_heads": 32,
    "pretraining_tp": 1,
    "rope_scaling": None,
    "rope_theta": 10000.0,
    "attention_bias": False,
    "rms_norm_eps": 1e-05,
}
LLAMA2_70B = {
    **LLAMA2_7B,
    "hidden_size": 8192,
    "intermediate_size": 28672,
    "num_attention_heads": 64,
    "num_hidden_layers": 80,
    "num_key_value_heads": 8,
}
LLAMA3_8B = {
    **LLAMA2_7B,
    "bos_token_id": 128000,
    "eos_token_id": 128001,
    "intermediate_size": 14336,
    "max_position_embeddings": 8192,
    "num_key_value_heads": 8,
    "rope_theta": 500000.0,
    "vocab_size": 128256,
    "mlp_bias": False,
}

MISTRAL_7B = {  # mistralai/Mistral-7B-v0.1
    **COMMON,
    "model_type": "mistral",
    "architectures": ["MistralForCausalLM"],
    "bos_token_id": 1,
    "eos_token_id": 2,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "max_position_embeddings": 32768,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0,
    "sliding_window": 4096,
    "tie_word_embeddings": False,
    "vocab_size": 32000,
}

MIXTRAL_8X7B = {  # mistralai/Mixtral-8x7B-v0.1
    **COMMON,
    "model_type": "mixtral",
    "architectures": ["MixtralForCausalLM"],
    "attention_dropout": 0.0,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "max_position_embeddings": 32768,
    "num_attention_heads": 32,
    "num_experts_per_tok": 2,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "num_local_experts": 8,
    "output_router_logits": False,
    "rms_norm_eps": 1e-05,
    "rope_theta": 1000000.0,
    "router_aux_loss_coef": 0.02,
    "sliding_window": None,
    "tie_word_embeddings": False,
    "vocab_size": 32000,
}

QWEN2_1_5B = {  # Qwen/Qwen2-1.5B
    **COMMON,
    "model_type": "qwen2",
    "architectures": ["Qwen2ForCausalLM"],
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151643,
    "hidden_act": "silu",
    "hidden_size": 1536,
    "intermediate_size": 8960,
    "max_position_embeddings": 131072,
    "max_window_layers": 28,
    "num_attention_heads": 12,
    "num_hidden_layers": 28,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0,
    "sliding_window": 131072,
    "tie_word_embeddings": True,
    "use_sliding_window": False,
    "vocab_size": 151936,
}

QWEN15_MOE_A27B = {  # Qwen/Qwen1.5-MoE-A2.7B (model_type qwen2_moe)
    **COMMON,
    "model_type": "qwen2_moe",
    "architectures": ["Qwen2MoeForCausalLM"],
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151643,
    "hidden_act": "silu",
    "hidden_size": 2048,
    "intermediate_size": 5632,
    "max_position_embeddings": 8192,
    "max_window_layers": 21,
    "num_attention_heads": 16,
    "num_hidden_layers": 24,
    "num_key_value_heads": 16,
    "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0,
    "sliding_window": 32768,
    "tie_word_embeddings": False,
    "use_sliding_window": False,
    "vocab_size": 151936,
    "decoder_sparse_step": 1,
    "moe_intermediate_size": 1408,
    "shared_expert_intermediate_size": 5632,
    "num_experts_per_tok": 4,
    "num_experts": 60,
    "norm_topk_prob": False,
    "output_router_logits": False,
    "router_aux_loss_coef": 0.001,
}
QWEN2_57B_A14B = {
    **QWEN15_MOE_A27B,
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_attention_heads": 28,
    "num_hidden_layers": 28,
    "num_key_value_heads": 4,
    "moe_intermediate_size": 2560,
    "shared_expert_intermediate_size": 20480,
    "num_experts_per_tok": 8,
    "num_experts": 64,
    "max_position_embeddings": 131072,
    "max_window_layers": 28,
    "sliding_window": 131072,
    "mlp_only_layers": [],
}

DEEPSEEK_MOE_16B = {  # deepseek-ai/deepseek-moe-16b-base
    **COMMON,
    "model_type": "deepseek",
    "architectures": ["DeepseekForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "auto_map": {"AutoConfig": "configuration_deepseek.DeepseekConfig"},
    "aux_loss_alpha": 0.001,
    "bos_token_id": 100000,
    "eos_token_id": 100001,
    "first_k_dense_replace": 1,
    "hidden_act": "silu",
    "hidden_size": 2048,
    "intermediate_size": 10944,
    "max_position_embeddings": 4096,
    "moe_intermediate_size": 1408,
    "moe_layer_freq": 1,
    "n_routed_experts": 64,
    "n_shared_experts": 2,
    "norm_topk_prob": False,
    "num_attention_heads": 16,
    "num_experts_per_tok": 6,
    "num_hidden_layers": 28,
    "num_key_value_heads": 16,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-06,
    "rope_scaling": None,
    "rope_theta": 10000,
    "scoring_func": "softmax",
    "seq_aux": True,
    "tie_word_embeddings": False,
    "vocab_size": 102400,
}

PHI3_MINI = {  # microsoft/Phi-3-mini-4k-instruct
    **COMMON,
    "model_type": "phi3",
    "architectures": ["Phi3ForCausalLM"],
    "attention_dropout": 0.0,
    "bos_token_id": 1,
    "embd_pdrop": 0.0,
    "eos_token_id": 32000,
    "hidden_act": "silu",
    "hidden_size": 3072,
    "intermediate_size": 8192,
    "max_position_embeddings": 4096,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 32,
    "original_max_position_embeddings": 4096,
    "pad_token_id": 32000,
    "resid_pdrop": 0.0,
    "rms_norm_eps": 1e-05,
    "rope_scaling": None,
    "rope_theta": 10000.0,
    "sliding_window": 2047,
    "tie_word_embeddings": False,
    "vocab_size": 32064,
}

GEMMA_2B = {  # google/gemma-2b
    **COMMON,
    "model_type": "gemma",
    "architectures": ["GemmaForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 2,
    "eos_token_id": 1,
    "head_dim": 256,
    "hidden_act": "gelu",
    "hidden_activation": "gelu_pytorch_tanh",
    "hidden_size": 2048,
    "intermediate_size": 16384,
    "max_position_embeddings": 8192,
    "num_attention_heads": 8,
    "num_hidden_layers": 18,
    "num_key_value_heads": 1,
    "pad_token_id": 0,
    "rms_norm_eps": 1e-06,
    "rope_scaling": None,
    "rope_theta": 10000.0,
    "vocab_size": 256000,
}
GEMMA_7B = {
    **GEMMA_2B,
    "hidden_size": 3072,
    "intermediate_size": 24576,
    "num_attention_heads": 16,
    "num_hidden_layers": 28,
    "num_key_value_heads": 16,
}

# (config, published total, published activated or None (= total), source)
PUBLISHED = {
    # "the smallest version of GPT-2, with 124M parameters" (model card, openai-community/gpt2 on Hugging Face;
    # the GPT-2 paper's Table 2 prints 117M for the same model)
    "gpt2-124m": (GPT2_124M, 124e6, None),
    # Pythia model card, "Naming convention and parameter count": 162,322,944 and 1,414,647,808 total
    "pythia-160m": (PYTHIA_160M, 162_322_944, None),
    "pythia-1.4b": (PYTHIA_1_4B, 1_414_647_808, None),
    # Zhang et al. 2022, OPT (arXiv:2205.01068), Table 1: 125M and 1.3B
    "opt-125m": (OPT_125M, 125e6, None),
    "opt-1.3b": (OPT_1_3B, 1.3e9, None),
    # Touvron et al. 2023, LLaMA (arXiv:2302.13971), Table 2: 6.7B; Llama 2 7B keeps that architecture
    # (Touvron et al. 2023, Llama 2, section 2.2: only the context and, at 34B/70B, grouped-query attention change)
    "llama-7b": (LLAMA_7B, 6.7e9, None),
    "llama-2-7b": (LLAMA2_7B, 6.7e9, None),
    # Touvron et al. 2023, Llama 2 (arXiv:2307.09288), Table 1: 70B (grouped-query attention)
    "llama-2-70b": (LLAMA2_70B, 70e9, None),
    # Meta, Llama 3 model card / Llama 3 Herd of Models (arXiv:2407.21783), Table 3: 8B
    "llama-3-8b": (LLAMA3_8B, 8e9, None),
    # Mistral AI, "Mistral 7B" announcement (mistral.ai/news/announcing-mistral-7b): "a 7.3B parameter model"
    "mistral-7b": (MISTRAL_7B, 7.3e9, None),
    # Mistral AI, "Mixtral of experts" (mistral.ai/news/mixtral-of-experts): "46.7B total parameters but only
    # uses 12.9B parameters per token"
    "mixtral-8x7b": (MIXTRAL_8X7B, 46.7e9, 12.9e9),
    # Qwen team, "Hello Qwen2" (qwenlm.github.io/blog/qwen2), model table: Qwen2-1.5B 1.54B
    "qwen2-1.5b": (QWEN2_1_5B, 1.54e9, None),
    # Qwen1.5-MoE-A2.7B model card (Qwen/Qwen1.5-MoE-A2.7B) and blog (qwenlm.github.io/blog/qwen-moe):
    # "14.3B parameters in total and 2.7B activated parameters during runtime"
    "qwen1.5-moe-a2.7b": (QWEN15_MOE_A27B, 14.3e9, 2.7e9),
    # Qwen team, "Hello Qwen2", model table: Qwen2-57B-A14B 57.41B; 14B activated (the model's name and card)
    "qwen2-57b-a14b": (QWEN2_57B_A14B, 57.41e9, 14e9),
    # Dai et al. 2024, DeepSeekMoE (arXiv:2401.06066): DeepSeekMoE 16B, 16.4B total, 2.8B activated
    "deepseek-moe-16b": (DEEPSEEK_MOE_16B, 16.4e9, 2.8e9),
    # Abdin et al. 2024, Phi-3 technical report (arXiv:2404.14219): phi-3-mini, "a 3.8 billion parameter language model"
    "phi-3-mini": (PHI3_MINI, 3.8e9, None),
    # Gemma Team 2024, Gemma (arXiv:2403.08295), Table 2: embedding + non-embedding parameters,
    # 524,550,144 + 1,981,884,416 (2B) and 786,825,216 + 7,751,248,896 (7B)
    "gemma-2b": (GEMMA_2B, 524_550_144 + 1_981_884_416, None),
    "gemma-7b": (GEMMA_7B, 786_825_216 + 7_751_248_896, None),
}


def write(tmp_path, data, name="config.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("name", PUBLISHED)
def test_family_config_counts_match_published_within_2_percent(name, tmp_path):
    data, total, active = PUBLISHED[name]
    folder = tmp_path / name
    folder.mkdir()
    path = write(folder, data)
    result, _ = run(["count", path, "--json"], tmp_path)
    assert result.exit_code == 0, result.stderr
    c = json.loads(result.stdout)
    assert c["model"] == name  # the folder of a config.json names the model
    assert c["params_total"] == pytest.approx(total, rel=0.02)
    assert c["params_active"] == pytest.approx(active or total, rel=0.02)


def test_exact_counts_where_the_publisher_gives_exact_figures(tmp_path):
    # Pythia's model card and the Gemma paper give exact counts; the configs reproduce them
    # (Gemma's table counts a 256,128-row embedding, its config.json 256,000 rows: 128 x d_model apart)
    assert count(load_model(str(write(tmp_path, PYTHIA_160M)))).params_total == 162_322_944
    gemma = count(load_model(str(write(tmp_path, GEMMA_2B, "g.json"))))
    assert gemma.params_total + 128 * 2048 == 524_550_144 + 1_981_884_416
    assert gemma.params_total_nonembedding + 2048 == 1_981_884_416  # + the final norm, which Gemma counts there


def test_moe_families_map_placement_shared_experts_and_routing(tmp_path):
    ds = load_model(str(write(tmp_path, DEEPSEEK_MOE_16B, "ds.json")))
    assert ds.first_dense_layers == 1 and ds.n_moe_layers == 27 and not ds.is_moe_layer(0) and ds.is_moe_layer(1)
    assert (ds.n_shared_experts, ds.shared_ff, ds.expert_ff, ds.d_ff) == (2, 1408, 1408, 10944)
    assert ds.dropless and ds.capacity_factor is None and not ds.renormalize_gates
    qw = load_model(str(write(tmp_path, QWEN15_MOE_A27B, "qw.json")))
    assert qw.shared_expert_gate and qw.n_shared_experts == 1 and qw.shared_ff == 5632 and qw.n_moe_layers == 24
    assert qw.has_qkv_bias and not qw.has_out_bias and not qw.use_bias
    mx = load_model(str(write(tmp_path, MIXTRAL_8X7B, "mx.json")))
    assert mx.n_moe_layers == 32 and mx.expert_gated and mx.kv_heads == 8 and mx.renormalize_gates
    # Qwen2-MoE's other placements: sparse every 2nd layer ((i + 1) % 2 == 0), 3 leading dense layers
    cfg = load_model(
        str(write(tmp_path, {**QWEN15_MOE_A27B, "decoder_sparse_step": 2, "mlp_only_layers": [0, 1, 2]}, "q2.json"))
    )
    assert [i for i in range(24) if cfg.is_moe_layer(i)] == [i for i in range(3, 24) if (i + 1) % 2 == 0]
    # DeepSeek's: MoE where i >= k and i % freq == 0
    cfg = load_model(
        str(write(tmp_path, {**DEEPSEEK_MOE_16B, "first_k_dense_replace": 3, "moe_layer_freq": 2}, "d2.json"))
    )
    assert [i for i in range(28) if cfg.is_moe_layer(i)] == [i for i in range(3, 28) if i % 2 == 0]
    assert cfg.n_moe_layers == len([i for i in range(3, 28) if i % 2 == 0])


def test_gpt_neox_partial_rotary_and_parallel_residual(tmp_path):
    cfg = load_model(str(write(tmp_path, PYTHIA_160M)))
    assert cfg.position == "rotary" and cfg.rotary_fraction == 0.25 and cfg.rotary_dims == 16
    assert cfg.parallel_residual and cfg.norm == "layernorm" and cfg.use_bias and not cfg.tie_embeddings


def test_explain_names_every_mapped_field(tmp_path):
    path = write(tmp_path, MIXTRAL_8X7B)
    lines = hf.explain(path)
    text = "\n".join(lines)
    for mapped in (
        "hidden_size=4096 -> d_model=4096",
        "num_local_experts=8 -> n_experts=8",
        "num_experts_per_tok=2 -> top_k=2",
        "num_key_value_heads=8 -> n_kv_heads=8",
        "intermediate_size=14336 -> d_ff_expert=14336",
        "routing='dropless'",
    ):
        assert mapped in text, mapped
    assert any(line.startswith("no effect on parameters or FLOPs") and "sliding_window" in line for line in lines)
    result, _ = run(["count", path, "--explain"], tmp_path)
    assert result.exit_code == 0 and "hidden_size=4096 -> d_model=4096" in result.stdout
    result, _ = run(["count", path, "--explain", "--json"], tmp_path)
    assert "hidden_size=4096 -> d_model=4096" in json.loads(result.stdout)["explain"]


def test_presets_equal_their_config_json(tmp_path):
    """The shipped presets of these models count exactly what their config.json counts."""
    for preset, data in (
        ("mixtral-8x7b", MIXTRAL_8X7B),
        ("deepseek-moe-16b", DEEPSEEK_MOE_16B),
        ("qwen1.5-moe-a2.7b", QWEN15_MOE_A27B),
        ("llama-2-7b", LLAMA2_7B),
    ):
        a, b = count(load_model(preset)), count(load_model(str(write(tmp_path, data, f"{preset}.json"))))
        assert (a.params_total, a.params_active, a.flops_per_token_train) == (
            b.params_total,
            b.params_active,
            b.flops_per_token_train,
        ), preset


def test_glamsim_fields_as_json_still_load(tmp_path):
    path = write(
        tmp_path,
        {"name": "j", "n_layers": 2, "d_model": 8, "n_heads": 2, "d_ff": 16, "vocab_size": 10, "max_seq_len": 16},
        "mine.json",
    )
    assert load_model(str(path)).d_model == 8


# ---- refusals: one line naming the field -------------------------------------------------------


def test_latent_attention_is_refused_naming_the_field(tmp_path):
    v2 = {
        **DEEPSEEK_MOE_16B,
        "model_type": "deepseek_v2",
        "kv_lora_rank": 512,
        "q_lora_rank": None,
        "qk_rope_head_dim": 64,
        "qk_nope_head_dim": 128,
        "v_head_dim": 128,
    }
    refused(["count", write(tmp_path, v2, "v2.json")], tmp_path, mentions=["kv_lora_rank=512", "latent attention"])
    # the same field in a family that never has it is refused too, not ignored
    refused(
        ["count", write(tmp_path, {**LLAMA2_7B, "q_lora_rank": 1536}, "l.json")], tmp_path, mentions="q_lora_rank=1536"
    )
    refused(
        ["count", write(tmp_path, {**DEEPSEEK_MOE_16B, "num_nextn_predict_layers": 1}, "n.json")],
        tmp_path,
        mentions="num_nextn_predict_layers=1",
    )


def test_unknown_model_type_field_and_activation_are_refused(tmp_path):
    refused(
        ["count", write(tmp_path, {**LLAMA2_7B, "model_type": "mamba"}, "m.json")],
        tmp_path,
        mentions=["model_type='mamba'", "llama"],
    )
    refused(
        ["count", write(tmp_path, {**LLAMA2_7B, "num_memory_tokens": 16}, "u.json")],
        tmp_path,
        mentions=["num_memory_tokens=16", "may change the parameter count"],
    )
    refused(
        ["count", write(tmp_path, {**LLAMA2_7B, "hidden_act": "quick_gelu"}, "a.json")],
        tmp_path,
        mentions="hidden_act='quick_gelu'",
    )
    refused(
        ["count", write(tmp_path, {**OPT_1_3B, "word_embed_proj_dim": 512}, "o.json")],
        tmp_path,
        mentions="word_embed_proj_dim=512",
    )
    refused(
        ["count", write(tmp_path, {**QWEN15_MOE_A27B, "mlp_only_layers": [3]}, "q.json")],
        tmp_path,
        mentions="mlp_only_layers=[3]",
    )
    refused(
        ["count", write(tmp_path, {k: v for k, v in LLAMA2_7B.items() if k != "hidden_size"}, "h.json")],
        tmp_path,
        mentions="'hidden_size'",
    )
    refused(
        ["count", write(tmp_path, {**LLAMA2_7B, "hidden_size": "big"}, "s.json")],
        tmp_path,
        mentions="hidden_size='big'",
    )
    # a value glamsim's schema refuses names the config.json key it came from
    refused(
        ["count", write(tmp_path, {**MIXTRAL_8X7B, "num_experts_per_tok": 9}, "k.json")],
        tmp_path,
        mentions=["top_k=9", "num_experts_per_tok"],
    )


def test_malformed_or_missing_json_is_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"model_type": "llama", "hidden_size": 4096,')
    refused(["count", bad], tmp_path, mentions=["bad.json", "corrupted JSON"])
    bad.write_text('{"model_type": "llama", "hidden_size": NaN}')
    refused(["count", bad], tmp_path, mentions="NaN")
    bad.write_text("[1, 2]")
    refused(["count", bad], tmp_path, mentions="expected a JSON object")
    refused(["count", tmp_path / "missing.json"], tmp_path, mentions="cannot read")
    refused(["count", write(tmp_path, {"hidden_size": 8}, "x.json")], tmp_path, mentions="model_type")
