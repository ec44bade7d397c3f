"""Structured output (response_format) on the real SmolLM2-135M-Instruct: every generation
follows its JSON schema, regex or grammar, and a bad format fails before anything runs."""

from __future__ import annotations

import json
import re

import jsonschema
import llguidance  # a runtime dependency: its absence is a failure, not a skip
import numpy as np
import pytest
from helpers.gguf_vocabularies import read_metadata, write_sentencepiece_gguf
from helpers.real_models import smollm2_gguf

from edge_reason import Engine
from edge_reason.errors import ResponseFormatError
from edge_reason.gguf_tokenizer import tokenizer_from_gguf
from edge_reason.sampling_params import SamplingParams
from edge_reason.structured_output import (
    GrammarProcessor,
    ResponseFormat,
    grammar_tokenizer,
    token_bytes,
)

NAME = {"type": "string", "minLength": 1, "maxLength": 16}
SCHEMAS = {
    "enum": {
        "type": "object",
        "properties": {
            "mood": {"enum": ["happy", "sad", "angry"]},
            "level": {"type": "string", "enum": ["low", "high"]},
        },
        "required": ["mood", "level"],
        "additionalProperties": False,
    },
    "nested": {
        "type": "object",
        "properties": {
            "person": {
                "type": "object",
                "properties": {
                    "name": NAME,
                    "address": {
                        "type": "object",
                        "properties": {
                            "city": NAME,
                            "zip": {"type": "string", "pattern": "^[0-9]{5}$"},
                        },
                        "required": ["city", "zip"],
                        "additionalProperties": False,
                    },
                },
                "required": ["name", "address"],
                "additionalProperties": False,
            }
        },
        "required": ["person"],
        "additionalProperties": False,
    },
    "array": {
        "type": "object",
        "properties": {
            "colors": {"type": "array", "items": NAME, "minItems": 2, "maxItems": 4},
            "scores": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": 9},
                "minItems": 1,
                "maxItems": 3,
            },
        },
        "required": ["colors", "scores"],
        "additionalProperties": False,
    },
    "numbers": {
        "type": "object",
        "properties": {
            "age": {"type": "integer", "minimum": 18, "maximum": 99},
            "height": {"type": "number", "minimum": 1.0, "maximum": 2.5},
            "ok": {"type": "boolean"},
        },
        "required": ["age", "height", "ok"],
        "additionalProperties": False,
    },
    "mixed": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"id": {"type": "integer", "minimum": 1, "maximum": 1000}, "tag": NAME},
            "required": ["id", "tag"],
            "additionalProperties": False,
        },
        "minItems": 1,
        "maxItems": 2,
    },
}
PROMPTS = {
    "enum": "How do you feel today? Answer in JSON.",
    "nested": "Describe a person and where they live, in JSON.",
    "array": "List some colors and scores in JSON.",
    "numbers": "Give the age and height in metres of an adult, in JSON.",
    "mixed": "Give a list of tagged items as JSON.",
}
TEMPERATURES = (0.0, 0.7, 1.0, 1.3)


def response_format(name: str) -> dict:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": SCHEMAS[name]}}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load(smollm2_gguf(), threads=2, max_context=512)


def check_generations(engine: Engine, cases: list[tuple[str, float, int]]) -> None:
    failures = []
    for name, temperature, seed in cases:
        g = engine.chat(
            [{"role": "user", "content": PROMPTS[name]}],
            response_format=response_format(name),
            temperature=temperature,
            seed=seed,
            max_new_tokens=120,
        )
        try:
            assert g.finish_reason == "eos", f"unfinished ({g.finish_reason})"
            jsonschema.validate(json.loads(g.text), SCHEMAS[name])
        except (AssertionError, ValueError, jsonschema.ValidationError) as e:
            failures.append(f"{name} t={temperature} seed={seed}: {g.text!r}: {e}")
    assert not failures, "\n".join(failures)


def test_json_schema_outputs_are_valid_fast_tier(engine: Engine) -> None:
    """10 generations: each schema greedy and sampled."""
    check_generations(engine, [(n, t, 7) for n in SCHEMAS for t in (0.0, 1.0)])


@pytest.mark.slow
def test_json_schema_outputs_are_valid_in_60_generations(engine: Engine) -> None:
    """5 schemas x 4 temperatures x 3 seeds, every output valid."""
    cases = [(n, t, s) for n in SCHEMAS for t in TEMPERATURES for s in (1, 2, 3)]
    assert len(cases) >= 50
    check_generations(engine, cases)


def test_json_object_regex_and_grammars(engine: Engine) -> None:
    user = [{"role": "user", "content": "Tell me about cats."}]
    g = engine.chat(user, response_format={"type": "json_object"}, max_new_tokens=120, seed=1)
    assert isinstance(json.loads(g.text), dict) and g.finish_reason == "eos"
    rf = {"type": "regex", "pattern": r"[A-Z][a-z]{2,8} (is|was) [0-9]{1,3}"}
    g = engine.generate("The cat", response_format=rf, temperature=1.0, seed=2)
    assert re.fullmatch(r"[A-Z][a-z]{2,8} (is|was) [0-9]{1,3}", g.text), g.text
    lark = {"type": "grammar", "grammar": 'start: "yes" | "no"'}
    assert engine.chat(user, response_format=lark).text in ("yes", "no")
    gbnf = {"type": "grammar", "syntax": "gbnf", "grammar": 'root ::= "A" [0-9] [0-9]? "."'}
    g = engine.generate("Grade:", response_format=gbnf, temperature=1.0, seed=3)
    assert re.fullmatch(r"A[0-9][0-9]?\.", g.text) and g.finish_reason == "eos", g.text


def test_end_tokens_only_where_the_grammar_accepts(engine: Engine) -> None:
    tok = grammar_tokenizer(engine.tokenizer, engine.config.vocab_size, engine.eos_token_ids)
    fmt = ResponseFormat.parse({"type": "regex", "pattern": "ab"})
    process = GrammarProcessor(tok, fmt)
    prompt = engine.encode("x")
    logits = np.zeros(engine.config.vocab_size, dtype=np.float32)
    process(prompt, logits)
    allowed = set(np.flatnonzero(np.isfinite(logits)).tolist())
    assert allowed and not allowed & engine.eos_token_ids
    assert all(engine.decode([t]) in ("a", "ab") for t in allowed)
    ab = engine.encode("ab")
    logits = np.zeros(engine.config.vocab_size, dtype=np.float32)
    process([*prompt, *ab], logits)  # the grammar is complete: only end tokens remain
    assert set(np.flatnonzero(np.isfinite(logits)).tolist()) == set(engine.eos_token_ids)


def test_vocabulary_bytes_match_llguidances_own_reading(tmp_path) -> None:
    """Byte-level (SmolLM2) and SentencePiece-style (<0xXX> byte tokens, "▁") vocabularies."""
    spm = tokenizer_from_gguf(read_metadata(write_sentencepiece_gguf(tmp_path / "spm.gguf")), "x")
    gpt2 = tokenizer_from_gguf(read_metadata(smollm2_gguf()), "smollm2")
    for tokenizer in (gpt2, spm):
        n = tokenizer.get_vocab_size()
        ours = grammar_tokenizer(tokenizer, n, [2])
        theirs = llguidance.LLTokenizer(tokenizer.to_str(), n_vocab=n, eos_token=[2])
        for i in range(n):
            assert ours.decode_bytes([i]) == theirs.decode_bytes([i]), i
            assert ours.is_special_token(i) == theirs.is_special_token(i), i
    tokens, special = token_bytes(spm, spm.get_vocab_size())
    assert tokens[spm.token_to_id("<0x0A>")] == b"\n" and 1 in special
    assert any(t.startswith(b" ") for t in tokens)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"type": "xml"}, "type must be one of"),
        ("json", "must be a dict"),
        ({"type": "json_schema"}, "needs"),
        ({"type": "json_schema", "json_schema": {"schema": {"type": "foo"}}}, "Invalid type"),
        (
            {
                "type": "json_schema",
                "json_schema": {"schema": {"type": "integer", "minimum": 5, "maximum": 1}},
            },
            "Unsatisfiable",
        ),
        ({"type": "regex", "pattern": "(("}, "regex"),
        ({"type": "regex"}, "pattern"),
        ({"type": "grammar", "grammar": "start: nothing_defined"}, "unknown name"),
        ({"type": "grammar", "grammar": "x", "syntax": "yacc"}, "syntax"),
    ],
)
def test_bad_response_formats_fail_before_generation(engine: Engine, bad, message) -> None:
    with pytest.raises(ResponseFormatError, match=message):
        SamplingParams(response_format=bad)
    before = engine.tokens_evaluated
    with pytest.raises(ValueError, match=message):
        engine.generate("Hello", response_format=bad)
    assert engine.tokens_evaluated == before


def test_a_thinking_budget_with_a_response_format_is_refused_before_generation(
    engine: Engine,
) -> None:
    before = engine.tokens_evaluated
    with pytest.raises(ResponseFormatError, match="thinking_budget"):
        engine.chat(
            [{"role": "user", "content": "Hi"}],
            thinking_budget=8,
            response_format={"type": "json_object"},
        )
    assert engine.tokens_evaluated == before


def test_a_tokenizer_that_joins_words_with_spaces_is_refused() -> None:
    """A word-level vocabulary without a decoder shows "Answer : kitchen" for tokens that
    spell "Answer:kitchen": a grammar over the bytes would check other text than is shown."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["[UNK]", "Where", "is", "Mary", "?", "Facts", ":", "1", ",", "2", ".", "Answer"]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    with pytest.raises(ResponseFormatError, match="does not spell its text token by token"):
        grammar_tokenizer(tokenizer, len(words), [0])
