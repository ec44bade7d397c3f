"""A thinking model's reasoning goes to reasoning_content, whole and streamed: an engine
stand-in yields reasoning and answer pieces as Engine.chat_stream does."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.serving import serving

from edge_reason.engine import Generation, GenerationStats
from edge_reason.streaming import Stream
from edge_reason.thinking import ChatPiece

openai = pytest.importorskip(
    "openai", reason="the openai client (the [test] extra) is not installed"
)

PIECES = [("Two and two ", "reasoning"), ("make four.", "reasoning"), ("4", "answer")]


class ThinkingEngine:
    path = Path("thinker.gguf")
    batches = False  # runs one request at a time

    def chat_stream(self, messages, params, **options):
        result: list[Generation] = []

        def pieces():
            for text, kind in PIECES:
                yield ChatPiece(text, kind)
            stats = GenerationStats(9, 4, 0.01, 0.02)
            text, reasoning = "4", "Two and two make four."
            result.append(Generation(text, [1, 2, 3, 0], stats, "eos", reasoning=reasoning))

        return Stream(pieces(), result)


def test_reasoning_content() -> None:
    with serving(ThinkingEngine()) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
        args = {"model": "thinker", "messages": [{"role": "user", "content": "2+2?"}]}
        message = client.chat.completions.create(**args).choices[0].message
        assert message.content == "4"
        assert message.model_extra["reasoning_content"] == "Two and two make four."
        deltas = [c.choices[0].delta for c in client.chat.completions.create(**args, stream=True)]
        reasoning = "".join(d.model_extra.get("reasoning_content") or "" for d in deltas)
        assert reasoning == "Two and two make four."
        assert "".join(d.content or "" for d in deltas) == "4"
