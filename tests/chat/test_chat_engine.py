"""Engine.chat and chat_stream: the prompt, end-of-turn stops, thinking and its budget.

The generation loop is checked on a scripted backend (it samples a fixed list of tokens
and records what is appended to the cache); a random-weight model checks it end to end.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers.chat_models import STYLES, template_source
from tokenizers import Tokenizer
from tokenizers.processors import TemplateProcessing
from transformers import AutoTokenizer

from edge_reason import Engine, ModelFormatError
from edge_reason.chat_template import ChatTemplate
from edge_reason.model_config import ModelConfig
from edge_reason.thinking import ChatPiece

QUESTION = [{"role": "user", "content": "Where is Mary?"}]


class ScriptedBackend:
    """Samples the scripted tokens in order; records every append."""

    def __init__(self, script: list[int], vocab: int) -> None:
        self.script = list(script)
        self.appended: list[list[int]] = []
        self.vocab = vocab
        self.position = 0
        self.tokens_evaluated = 0

    def info(self) -> dict[str, Any]:
        return {"max_context": 256, "kernel": "scripted", "threads": 1}

    def append(self, tokens: np.ndarray) -> None:
        self.appended.append(tokens.tolist())
        self.position += len(tokens)

    def last_logits(self) -> np.ndarray:
        return np.zeros(self.vocab, dtype=np.float32)

    def rewind(self, position: int, logits: np.ndarray) -> None:
        self.position = position

    def seed(self, seed: int) -> None:
        pass

    def sample(self, *args: Any) -> int:
        return self.script.pop(0)


def scripted_engine(folder, style: str, script: list[str]) -> tuple[Engine, ScriptedBackend]:
    """An engine on `folder`'s config and tokenizer whose 'model' writes the tokens of
    the `script` texts and whose template is `style`."""
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    config = ModelConfig.from_folder(folder)
    ids = [i for text in script for i in tokenizer.encode(text, add_special_tokens=False).ids]
    backend = ScriptedBackend(ids, config.vocab_size)
    bos, eos = STYLES[style]
    engine = Engine(
        backend,
        config,
        tokenizer=tokenizer,
        quant="f32",
        weight_bytes=0,
        path=folder,
        load_seconds=0.0,
        chat_template=ChatTemplate(template_source(style), bos_token=bos, eos_token=eos),
    )
    return engine, backend


@pytest.mark.parametrize(
    ("style", "end"),
    [
        ("smollm2", "<|im_end|>"),
        ("qwen25_tools", "<|im_end|>"),
        ("qwen3_thinking", "<|im_end|>"),
        ("llama3", "<|eot_id|>"),
        ("r1_distill", "<|end_of_sentence|>"),
    ],
)
def test_a_reply_stops_at_the_templates_end_of_turn_token(chat_model, style, end) -> None:
    engine, _ = scripted_engine(chat_model("qwen3_thinking"), style, ["Mary", end, "x"])
    reply = engine.chat(QUESTION, max_new_tokens=10)
    assert reply.finish_reason == "eos"
    assert reply.reasoning + reply.text == "Mary"  # r1_distill's reply starts thinking
    assert engine.tokenizer.id_to_token(reply.token_ids[-1]) == end


def test_special_thinking_tags_split_the_reply(chat_model) -> None:
    script = ["<think>", "\nMary", "</think>", "\n", "<|im_start|>", "b", "<|im_end|>"]
    engine, _ = scripted_engine(chat_model("qwen3_thinking"), "qwen3_thinking", script)
    stream = engine.chat_stream(QUESTION, max_new_tokens=20)
    pieces = list(stream)
    assert {p.kind for p in pieces[:-1]} == {"reasoning"}
    assert pieces[-1] == ChatPiece("b", "answer")
    reply = stream.generation
    assert (reply.reasoning, reply.text) == ("Mary", "b")  # other special tokens stay hidden
    assert "".join(p.text for p in pieces) == "Maryb"


def test_the_budget_inserts_the_closing_tag_and_the_answer_follows(chat_model) -> None:
    engine, backend = scripted_engine(
        chat_model("r1_distill"), "r1_distill", ["bathroom", " is", "<|end_of_sentence|>"]
    )
    prompt = engine.apply_chat_template(QUESTION)
    assert prompt.endswith("<|Assistant|><think>\n")  # the reply starts inside the thinking
    script = list(backend.script)
    reply = engine.chat(QUESTION, thinking_budget=2, max_new_tokens=10)
    close = engine.tokenizer.token_to_id("</think>")
    assert reply.token_ids == [*script[:2], close, *script[2:]]
    thought, answer = engine.decode(script[:2]), engine.decode(script[2:])
    assert (reply.reasoning, reply.text) == (thought, answer.strip())
    # the model saw the closing tag: it went into the cache with the token before it
    assert backend.appended[1:3] == [[script[0]], [script[1], close]]


def test_bos_is_not_added_twice(chat_model) -> None:
    engine, backend = scripted_engine(chat_model("llama3"), "llama3", ["<|eot_id|>"])
    bos = engine.tokenizer.token_to_id("<|begin_of_text|>")
    engine.tokenizer.post_processor = TemplateProcessing(
        single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", bos)]
    )
    engine.chat(QUESTION)
    assert backend.appended[0][:2] == [bos, engine.tokenizer.token_to_id("<|start_header_id|>")]
    qwen, backend = scripted_engine(chat_model("llama3"), "qwen3_thinking", ["<|im_end|>"])
    qwen.tokenizer.post_processor = engine.tokenizer.post_processor
    qwen.chat(QUESTION)  # a template without BOS text: the tokenizer adds its own
    assert backend.appended[0][:2] == [bos, qwen.tokenizer.token_to_id("<|im_start|>")]


def test_chat_refuses_what_it_cannot_do(chat_model, model_dirs_without_template) -> None:
    # a tokenizer without <think> tokens, and a template that does not mention them
    engine, _ = scripted_engine(model_dirs_without_template, "llama3", [])
    with pytest.raises(ValueError, match="has no thinking tags, so thinking_budget cannot apply"):
        engine.chat(QUESTION, thinking_budget=5)
    with pytest.raises(TypeError, match=r"unknown sampling arguments \['temprature'\]"):
        engine.chat(QUESTION, temprature=0.5)
    thinker, _ = scripted_engine(chat_model("llama3"), "qwen3_thinking", [])
    with pytest.raises(ValueError, match="thinking_budget must be a positive integer, got 0"):
        thinker.chat(QUESTION, thinking_budget=0)


def test_a_model_without_a_template_says_so(model_dirs_without_template) -> None:
    engine = Engine.load(model_dirs_without_template, threads=1)
    assert engine.chat_template is None and engine.info()["chat_template"] is None
    message = (
        f"{model_dirs_without_template} has no chat template (looked for "
        "tokenizer_config.json 'chat_template', chat_template.jinja)"
    )
    with pytest.raises(ModelFormatError) as raised:
        engine.chat(QUESTION)
    assert str(raised.value) == message


def test_a_random_model_chats_end_to_end(chat_model) -> None:
    folder = chat_model("r1_distill")
    engine = Engine.load(folder, threads=1)
    assert engine.chat_template == template_source("r1_distill")
    info = engine.info()
    assert info["chat_template"].endswith("tokenizer_config.json 'chat_template'")
    assert info["thinking_tags"] == "<think> </think>"
    theirs = AutoTokenizer.from_pretrained(folder).apply_chat_template(
        QUESTION, tokenize=False, add_generation_prompt=True
    )
    prompt = engine.apply_chat_template(QUESTION)
    assert prompt == theirs
    reply = engine.chat(QUESTION, thinking_budget=3, max_new_tokens=8)
    close = engine.tokenizer.token_to_id("</think>")
    assert reply.token_ids[3] == close and reply.reasoning and len(reply.token_ids) == 9
    # the same tokens as plain greedy generation with the closing tag written in the prompt
    ids = engine.tokenizer.encode(prompt, add_special_tokens=False).ids + reply.token_ids[:4]
    assert engine.generate(ids, max_new_tokens=5).token_ids == reply.token_ids[4:]
    assert reply.text == engine.decode(reply.token_ids[4:]).strip()


def test_enable_thinking_reaches_the_template(chat_model) -> None:
    engine, backend = scripted_engine(
        chat_model("qwen3_thinking"), "qwen3_thinking", ["Mary", "<|im_end|>"]
    )
    prompt = engine.apply_chat_template(QUESTION, enable_thinking=False)
    assert prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    reply = engine.chat(QUESTION, enable_thinking=False)
    assert backend.appended[0] == engine.tokenizer.encode(prompt).ids
    assert (reply.reasoning, reply.text) == ("", "Mary")
