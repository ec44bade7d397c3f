"""Published model configs (the config.json fields that size a model), for tests that
size or diagnose a real model without its weights."""

# TinyLlama-1.1B's published config.json (the fields that size it).
TINYLLAMA = {
    "hidden_size": 2048,
    "intermediate_size": 5632,
    "num_hidden_layers": 22,
    "num_attention_heads": 32,
    "num_key_value_heads": 4,
    "vocab_size": 32000,
    "max_position_embeddings": 2048,
    "tie_word_embeddings": False,
}
