"""SamplingParams, logit processors, the stop-string watcher and the typed native config."""

from __future__ import annotations

import numpy as np
import pytest

from edge_reason import Engine, _native
from edge_reason.sampling_params import SamplingParams
from edge_reason.stop_strings import StopStrings

PROMPT = [5, 17, 33, 2, 90]


@pytest.fixture(scope="module")
def engine(model_dirs) -> Engine:
    return Engine.load(model_dirs["llama"], quant="int8", threads=1, max_context=128)


def test_params_are_checked_and_normalised() -> None:
    p = SamplingParams(temperature=1, top_p=1, stop="x", logit_processors=[print])
    assert (p.temperature, p.top_p, p.stop, p.logit_processors) == (1.0, 1.0, ("x",), (print,))
    assert isinstance(p.temperature, float)
    with pytest.raises(ValueError, match="top_k must be an integer >= 0, got -1"):
        SamplingParams(top_k=-1)
    with pytest.raises(ValueError, match="max_new_tokens must be a positive integer, got 0"):
        SamplingParams(max_new_tokens=0)
    with pytest.raises(ValueError, match="logit_processors must be callables, got 3"):
        SamplingParams(logit_processors=[3])
    with pytest.raises(ValueError, match="logit_processors must be a sequence of callables"):
        SamplingParams(logit_processors=print)
    with pytest.raises(TypeError, match=r"unknown sampling arguments \['temprature'\]"):
        SamplingParams.build(None, {"temprature": 1.0})
    with pytest.raises(AttributeError):
        p.seed = 3  # type: ignore[misc]


def test_params_object_and_keywords_agree(engine) -> None:
    params = SamplingParams(max_new_tokens=10, temperature=0.9, top_k=40, seed=4)
    by_object = engine.generate(PROMPT, params)
    by_keywords = engine.generate(PROMPT, max_new_tokens=10, temperature=0.9, top_k=40, seed=4)
    overridden = engine.generate(PROMPT, params, seed=5)
    assert by_object.token_ids == by_keywords.token_ids
    assert overridden.token_ids == engine.generate(PROMPT, params, seed=5).token_ids
    with pytest.raises(TypeError, match=r"unknown sampling arguments \['seeds'\]"):
        engine.generate(PROMPT, seeds=1)


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_a_processor_that_changes_nothing_changes_nothing(engine, temperature) -> None:
    kw = dict(max_new_tokens=12, temperature=temperature, seed=9, repetition_penalty=1.2)
    seen: list[list[int]] = []

    def watch(token_ids, logits):
        seen.append(list(token_ids))

    plain = engine.generate(PROMPT, **kw)
    watched = engine.generate(PROMPT, **kw, logit_processors=[watch])
    assert watched.token_ids == plain.token_ids
    # each call sees the prompt and the tokens generated before it
    assert seen == [PROMPT + plain.token_ids[:i] for i in range(len(plain.token_ids))]


def test_a_banned_token_is_never_sampled(engine) -> None:
    greedy = engine.generate(PROMPT, max_new_tokens=8).token_ids
    banned = greedy[0]

    def ban(token_ids, logits):
        logits[banned] = -np.inf  # in place

    for seed in range(5):
        g = engine.generate(
            PROMPT, max_new_tokens=8, temperature=1.5, seed=seed, logit_processors=[ban]
        )
        assert banned not in g.token_ids
    assert banned not in engine.generate(PROMPT, max_new_tokens=8, logit_processors=[ban]).token_ids


def test_a_bias_forces_a_token_and_processors_run_in_order(engine) -> None:
    def bias(token_ids, logits):
        out = logits.copy()
        out[42] += 1e4  # returned, not in place
        return out

    def then_prefer_7_after_42(token_ids, logits):
        if token_ids[-1] == 42:
            logits[7] += 1e9

    g = engine.generate(PROMPT, max_new_tokens=6, temperature=1.0, seed=1, logit_processors=[bias])
    assert g.token_ids == [42] * 6
    g = engine.generate(PROMPT, max_new_tokens=4, logit_processors=[bias, then_prefer_7_after_42])
    assert g.token_ids == [42, 7, 42, 7]


def test_processors_apply_to_streams_and_chat_ids(engine) -> None:
    def only_eos(token_ids, logits):
        logits[:] = -np.inf
        logits[0] = 0.0  # the model's eos

    g = engine.generate(PROMPT, max_new_tokens=5, logit_processors=[only_eos])
    assert (g.token_ids, g.finish_reason) == ([0], "eos")
    stream = engine.stream("Where is", max_new_tokens=5, logit_processors=[only_eos])
    assert list(stream) == [] and stream.generation.finish_reason == "eos"


def test_a_processor_returning_the_wrong_shape_is_named(engine) -> None:
    with pytest.raises(ValueError, match=r"must return \d+ logits .*shape \(3,\)"):
        engine.generate(PROMPT, max_new_tokens=2, logit_processors=[lambda ids, x: x[:3]])
    # the engine is free again
    assert len(engine.generate(PROMPT, max_new_tokens=2).token_ids) == 2


@pytest.mark.parametrize(
    ("pieces", "stops", "shown", "text", "stopped"),
    [
        (["ab", "cX", "Yd"], ("XY",), ["a", "bc"], "abc", True),
        (["ab", "cX", "Zd"], ("XY",), ["a", "bc", "XZ", "d"], "abcXZd", False),
        (["hello"], (), ["hello"], "hello", False),
        (["aXY", "b"], ("XY", "Y"), ["a"], "a", True),
    ],
)
def test_stop_strings_hold_back_only_what_a_stop_may_claim(
    pieces, stops, shown, text, stopped
) -> None:
    watcher = StopStrings(stops)
    out = []
    for piece in pieces:
        out.append(watcher.feed(piece))
        if watcher.stopped:
            break
    out.append(watcher.finish())
    assert [p for p in out if p] == shown
    assert (watcher.text, watcher.stopped) == (text, stopped)


def test_native_config_is_typed_and_checked() -> None:
    fields = dict(
        dim=64, ffn_dim=96, layers=2, heads=4, kv_heads=2, head_dim=16, vocab=100,
        norm_eps=1e-5, sliding_window=8, max_context=32, max_batch=8,
    )  # fmt: skip
    config = _native.ModelConfig(**fields, sliding_layers=[True, False])
    assert (config.dim, config.vocab, config.sliding_layers) == (64, 100, [True, False])
    assert _native.ModelConfig(**fields).sliding_layers == [True, True]
    with pytest.raises(ValueError, match="sliding_layers must have one entry per layer"):
        _native.ModelConfig(**fields, sliding_layers=[True])
    with pytest.raises(ValueError, match="activation must be 'silu' or 'gelu_tanh'"):
        _native.ModelConfig(**fields, activation="relu")
    with pytest.raises(ValueError, match="field 'norm_eps' must be a number"):
        _native.ModelConfig(**{**fields, "norm_eps": "small"})
    with pytest.raises(TypeError):
        _native.ModelConfig(**fields, rope_theta=1.0)  # no such field
    spec = _native.WeightsSpec()
    with pytest.raises(AttributeError):
        spec.embeddings = None  # a misspelt field is refused, not stored
    with pytest.raises(ValueError, match=r"embedding: format must be a string, got None"):
        _native.NativeEngine(config, spec, 1)
