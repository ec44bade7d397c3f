"""Chat templates in the styles of several model families (tests/chat/templates) and
the tokenizer special tokens they use."""

from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[1] / "chat" / "templates"
SPECIAL_TOKENS = (
    "<eos>",
    "<|im_start|>",
    "<|im_end|>",
    "<think>",
    "</think>",
    "<|begin_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|User|>",
    "<|Assistant|>",
    "<|end_of_sentence|>",
)
# template file stem -> (bos_token, eos_token), as the model families set them
STYLES = {
    "smollm2": ("<|im_start|>", "<|im_end|>"),
    "qwen25_tools": (None, "<|im_end|>"),
    "qwen3_thinking": (None, "<|im_end|>"),
    "llama3": ("<|begin_of_text|>", "<|eot_id|>"),
    "llama31_tools": ("<|begin_of_text|>", "<|eot_id|>"),
    "r1_distill": ("<|begin_of_text|>", "<|end_of_sentence|>"),
}


def template_source(style: str) -> str:
    return (TEMPLATES / f"{style}.jinja").read_text(encoding="utf-8")


def tokenizer_config(style: str) -> dict:
    bos, eos = STYLES[style]
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": template_source(style),
        "bos_token": bos,
        "eos_token": eos,
    }
