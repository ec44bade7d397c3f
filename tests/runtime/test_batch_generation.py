"""Batched generation (generate_batch, generate(n=)): every sequence gets, token for token,
what generate gives it alone, on every architecture and weight format; sequences share a
prompt's cache pages; bad calls are refused by name."""

from __future__ import annotations

import numpy as np
import pytest

from edge_reason import Engine
from edge_reason.sampling_params import SamplingParams

PROMPTS = [
    "Mary moved to the",
    "Where is",
    "The greenhouse is warm; soil moisture is low, so the valve",
    "1",
    "What is 17*23 + 4?",
    "Daniel picked up the football. Sandra journeyed to the garden.",
]


def ids_of(generations) -> list[list[int]]:
    return [g.token_ids for g in generations]


@pytest.mark.parametrize("quant", ["f32", "int8", "int4"])
def test_a_batch_gives_each_prompt_what_generate_gives_it(model_dirs, arch, quant) -> None:
    engine = Engine.load(model_dirs[arch], quant=quant, threads=2)
    # 18 sequences: more than one pass of the engine's 16
    prompts = PROMPTS * 3
    kw = dict(max_new_tokens=24)
    assert ids_of(engine.generate_batch(prompts, **kw)) == ids_of(
        [engine.generate(p, **kw) for p in prompts]
    )
    sampled = dict(max_new_tokens=24, temperature=1.3, top_p=0.9, seed=7, repetition_penalty=1.2)
    batch = engine.generate_batch(PROMPTS, **sampled)
    assert ids_of(batch) == ids_of([engine.generate(p, **sampled) for p in PROMPTS])
    samples = engine.generate(PROMPTS[0], n=5, **sampled)
    assert ids_of(samples) == ids_of(
        [engine.generate(PROMPTS[0], **{**sampled, "seed": 7 + i}) for i in range(5)]
    )
    assert len({tuple(g.token_ids) for g in samples}) > 1


def test_stop_strings_formats_and_prompt_states_match_generate(model_dirs) -> None:
    engine = Engine.load(model_dirs["qwen2"], quant="int8", threads=2)
    alone = [engine.generate(p, max_new_tokens=30) for p in PROMPTS]
    stop = alone[0].text[2:5]
    kw = dict(max_new_tokens=30, stop=[stop, "\n"])
    batch = engine.generate_batch(PROMPTS, **kw)
    for prompt, got in zip(PROMPTS, batch, strict=True):
        want = engine.generate(prompt, **kw)
        assert (got.text, got.finish_reason, got.token_ids) == (
            want.text,
            want.finish_reason,
            want.token_ids,
        )
    assert batch[0].finish_reason == "stop"
    # a grammar each: a processor of its own per sequence
    fmt = {"type": "regex", "pattern": "[a-z]{2,6}( [a-z]{2,6}){0,3}"}
    shaped = engine.generate_batch(PROMPTS, max_new_tokens=30, response_format=fmt)
    assert [g.text for g in shaped] == [
        engine.generate(p, max_new_tokens=30, response_format=fmt).text for p in PROMPTS
    ]
    # prompt states: sequences opened from one prefilled prompt
    state = engine.prefill("Sandra journeyed to the")
    params = [SamplingParams(max_new_tokens=12, temperature=1.0, seed=s) for s in range(4)]
    together = engine.generate_batch([state] * 4, params)
    assert ids_of(together) == ids_of([engine.generate(state, p) for p in params])
    assert all(g.stats.prompt_tokens == len(state.token_ids) for g in together)


def test_sequences_share_the_prompt_instead_of_copying_it(model_dirs) -> None:
    engine = Engine.load(model_dirs["llama"], quant="int4", threads=1, max_context=256)
    before = engine.info()["kv_cache_bytes"]
    # a 200-token prompt and 8 samples of 20 tokens: copies would need 8 x 220 positions
    prompt = list(range(10, 210))
    samples = engine.generate(prompt, n=8, max_new_tokens=20, temperature=1.0, seed=1)
    assert sum(g.stats.prefilled_tokens for g in samples) == len(prompt)  # one prefill
    grown = engine.info()["kv_cache_bytes"] - before
    page_bytes = before // (256 // engine.info()["kv_page_positions"])
    # each sample copies at most the prompt's last, partial page and adds one of its own
    assert grown <= 8 * 2 * page_bytes


def test_a_bounded_cache_refuses_a_batch_that_does_not_fit(model_dirs) -> None:
    engine = Engine.load(
        model_dirs["llama"], quant="int8", threads=1, max_context=64, kv_cache_positions=64
    )
    with pytest.raises(ValueError, match="the KV cache is full"):
        engine.generate_batch([[5] * 40, [6] * 40], max_new_tokens=4)
    # nothing is left behind: a batch that fits runs
    assert len(engine.generate_batch([[5] * 20, [6] * 20], max_new_tokens=4)) == 2
    with pytest.raises(ValueError, match="kv_cache_positions must be an integer"):
        Engine.load(model_dirs["llama"], max_context=64, kv_cache_positions=32)


def test_bad_batch_calls_are_refused(model_dirs) -> None:
    engine = Engine.load(model_dirs["llama"], quant="int8", threads=1)
    with pytest.raises(TypeError, match="takes a list of prompts"):
        engine.generate_batch("Mary moved")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2 prompts but 3 SamplingParams"):
        engine.generate_batch(["a", "b"], [SamplingParams()] * 3)
    for n in (0, -1, True, 2.0):
        with pytest.raises(ValueError, match="n must be a positive integer"):
            engine.generate("a", n=n)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="exceeds max_context"):
        engine.generate_batch(["a", "b"], max_new_tokens=10_000)
    assert engine.generate_batch([]) == []


def test_the_native_sequences_refuse_bad_calls(model_dirs) -> None:
    engine = Engine.load(model_dirs["llama"], quant="int8", threads=1)
    native = engine._native
    with pytest.raises(ValueError, match="sequence 0 cannot be closed"):
        native.close_sequence(0)
    with pytest.raises(IndexError, match="no open sequence 9"):
        native.extend(9, np.asarray([1], np.int32))
    a = native.open_sequence()
    with pytest.raises(ValueError, match="appears twice"):
        native.decode(np.asarray([a, a], np.int32), np.asarray([1, 2], np.int32))
    with pytest.raises(ValueError, match="2 sequences but 1 tokens"):
        native.decode(np.asarray([0, a], np.int32), np.asarray([1], np.int32))
    with pytest.raises(IndexError, match="outside the vocabulary"):
        native.decode(np.asarray([0, a], np.int32), np.asarray([1, 10**6], np.int32))
    with pytest.raises(ValueError, match="logit_rows must be between 0 and the token count"):
        native.extend(a, np.asarray([1, 2], np.int32), 3)
    native.close_sequence(a)
