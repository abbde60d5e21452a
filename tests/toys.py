"""Toy models shared by the predictor's tests, small enough to count by hand."""

# A plain GPT: 4 layers, h = 64, 4 heads of 16, a 2-matrix FFN of 4h = 256, vocabulary 128,
# rotary positions (no position table), no dropout unless a test adds it.
TOY_GPT = {
    "name": "toy-gpt",
    "n_layers": 4,
    "d_model": 64,
    "n_heads": 4,
    "d_ff": 256,
    "vocab_size": 128,
    "max_seq_len": 2048,
    "dense_ffn_gated": False,
    "position": "rotary",
}
