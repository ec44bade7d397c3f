"""Tokens llama.cpp recognises by their text, whatever type the GGUF file gives them.

Converters have not always marked chat and fill-in-the-middle markers as control tokens, so
llama.cpp looks them up by name: each becomes a control token (matched whole in text when
special tokens are parsed), and the end-of-turn markers end generation. Tokenizing the same
text the same way needs the same list.
"""

from __future__ import annotations

# end a turn or a document: generation stops at any of them (with the file's EOS)
END_OF_GENERATION = frozenset(
    {
        "<|eot_id|>",
        "<|eom_id|>",
        "<|im_end|>",
        "<|end|>",
        "<|return|>",
        "<|call|>",
        "<|flush|>",
        "<|calls|>",
        "<end_of_turn>",
        "<|endoftext|>",
        "<|end_of_text|>",
        "</s>",
        "<EOT>",
        "_<EOT>",
        "[EOT]",
        "[EOS]",
        "<end_of_utterance>",
        "<eos>",
        "<turn|>",
        "<|tool_response>",
        "<｜end▁of▁sentence｜>",
        "[e~[",
    }
)

# fill-in-the-middle padding, repository and file separators: control tokens that also stop
FILL_IN_MIDDLE_STOPS = frozenset(
    {
        "<|fim_pad|>",
        "<fim-pad>",
        "<fim_pad>",
        "<PAD>",
        "[PAD]",
        "<|fim_repo|>",
        "<|repo_name|>",
        "<fim-repo>",
        "<REPO>",
        "<reponame>",
        "<|file_sep|>",
    }
)

# fill-in-the-middle prefix, suffix and middle markers: control tokens
FILL_IN_MIDDLE_MARKERS = frozenset(
    {
        "<|fim_prefix|>",
        "<fim-prefix>",
        "<fim_prefix>",
        "<｜fim▁begin｜>",
        "<PRE>",
        "▁<PRE>",
        "<|code_prefix|>",
        "<|prefix|>",
        "<|fim_suffix|>",
        "<fim-suffix>",
        "<fim_suffix>",
        "<｜fim▁hole｜>",
        "<SUF>",
        "▁<SUF>",
        "<|code_suffix|>",
        "<|suffix|>",
        "<|fim_middle|>",
        "<fim-middle>",
        "<fim_middle>",
        "<｜fim▁end｜>",
        "<MID>",
        "▁<MID>",
        "<|code_middle|>",
        "<|middle|>",
    }
)

CONTROL_BY_NAME = END_OF_GENERATION | FILL_IN_MIDDLE_STOPS | FILL_IN_MIDDLE_MARKERS
