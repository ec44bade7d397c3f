"""Speculative decoding: prompt lookup and draft models give plain decoding's greedy tokens
on every architecture and weight format (prompt lookup also its seeded samples); the
sampled acceptance rule draws from the target's distribution; bad drafts are refused."""

from __future__ import annotations

import numpy as np
import pytest

from edge_reason import Engine, _native
from edge_reason.speculative import DraftedLogits

# Prompts whose continuations may quote them (repeated runs), and some that do not.
PROMPTS = [
    "Mary moved to the bathroom. John went to the hallway. Mary moved to the",
    "1 2 3 4 5 6 7 8 1 2 3 4 5 6 7 8 1 2 3",
    "The greenhouse is warm; soil moisture is low, so the valve opens. The greenhouse is",
    "Café, naïve, über, 東京 — Café, naïve,",
    "What is 17*23 + 4?",
    "Where is",
]


def ids_of(generations) -> list[list[int]]:
    return [g.token_ids for g in generations]


@pytest.mark.parametrize("quant", ["f32", "int8", "int4"])
def test_prompt_lookup_gives_plain_decodings_tokens(model_dirs, arch, quant) -> None:
    engine = Engine.load(model_dirs[arch], quant=quant, threads=2)
    for kw in (
        dict(max_new_tokens=40),
        dict(max_new_tokens=40, temperature=1.1, top_k=40, seed=3),
        dict(max_new_tokens=40, repetition_penalty=1.3),
    ):
        plain = [engine.generate(p, **kw) for p in PROMPTS]
        looked = [engine.generate(p, speculative="prompt-lookup", **kw) for p in PROMPTS]
        assert ids_of(looked) == ids_of(plain), kw


def test_prompt_lookup_drafts_where_the_text_repeats(model_dirs) -> None:
    engine = Engine.load(model_dirs["llama"], quant="int8", threads=1)
    # a model that loops: random weights repeat themselves under greedy decoding
    plain = engine.generate(PROMPTS[1], max_new_tokens=64)
    before = engine.tokens_evaluated
    looked = engine.generate(PROMPTS[1], max_new_tokens=64, speculative="prompt-lookup")
    assert looked.token_ids == plain.token_ids
    ran = engine.tokens_evaluated - before - len(engine.encode(PROMPTS[1]))
    # drafted tokens run in the pass before they are checked: a taken draft shows up as
    # the same number of tokens in fewer passes, a rejected one as extra tokens
    assert ran >= len(plain.token_ids) - 1


def test_stop_strings_and_streams_match_under_prompt_lookup(model_dirs) -> None:
    engine = Engine.load(model_dirs["qwen2"], quant="int8", threads=2)
    for prompt in PROMPTS:
        full = engine.generate(prompt, max_new_tokens=30)
        stop = full.text[4:7] or "x"
        kw = dict(max_new_tokens=30, stop=[stop])
        want = engine.generate(prompt, **kw)
        got = engine.generate(prompt, speculative="prompt-lookup", **kw)
        assert (got.text, got.finish_reason) == (want.text, want.finish_reason)
        pieces = list(engine.stream(prompt, speculative="prompt-lookup", max_new_tokens=30))
        assert "".join(pieces) == full.text
        # what the cache holds after a cut draft serves the next call as plain decoding's
        assert engine.generate(prompt, max_new_tokens=30).token_ids == full.token_ids


@pytest.mark.parametrize("draft_quant", ["int4", "int8"])
def test_a_draft_model_gives_plain_greedy_decodings_tokens(model_dirs, draft_quant) -> None:
    target = Engine.load(model_dirs["llama"], quant="f32", threads=2)
    draft = Engine.load(model_dirs["llama"], quant=draft_quant, threads=1)  # the same model, cut
    other = Engine.load(model_dirs["mistral"], quant="int4", threads=1)  # another model
    for helper in (draft, other):
        plain = [target.generate(p, max_new_tokens=32) for p in PROMPTS]
        drafted = [target.generate(p, max_new_tokens=32, draft=helper) for p in PROMPTS]
        assert ids_of(drafted) == ids_of(plain)
    loaded = Engine.load(model_dirs["llama"], quant="f32", threads=2, draft=model_dirs["llama"])
    assert loaded.draft is not None
    assert ids_of([loaded.generate(p, max_new_tokens=32) for p in PROMPTS]) == ids_of(plain)


def test_the_acceptance_rule_draws_from_the_targets_distribution() -> None:
    """Drafts drawn from q and kept or replaced by the rule are distributed as p."""
    rng = np.random.default_rng(0)
    logits = np.array([2.0, 1.0, 0.5, 0.0, -1.0, 1.5], dtype=np.float32)
    sampler = _native.Sampler(6)
    none = np.zeros(0, dtype=np.int32)
    p = sampler.distribution(logits, 0.9, 0, 1.0, 1.0, none)
    q = np.array([0.05, 0.4, 0.3, 0.1, 0.1, 0.05])  # a poor draft
    view = DraftedLogits(logits, seed=1)
    draws = 40_000
    counts = np.zeros(6)
    for _ in range(draws):
        token = int(rng.choice(6, p=q))
        view.drafted = (token, q)
        counts[view.sample(0.9, 0, 1.0, 1.0, none)] += 1
    assert np.abs(counts / draws - p).max() < 0.01
    view.drafted = (0, q)  # greedy: the target's argmax, whatever the draft
    assert view.sample(0.0, 0, 1.0, 1.0, none) == 0
    view.drafted = (3, q)
    assert view.sample(0.0, 0, 1.0, 1.0, none) == 0


def test_bad_drafts_are_refused(model_dirs, tmp_path) -> None:
    from helpers.hf_models import build_model

    target = Engine.load(model_dirs["llama"], quant="int8", threads=1)
    with pytest.raises(ValueError, match="cannot draft for itself"):
        target.generate("a", draft=target)
    wider = Engine.load(build_model(tmp_path / "wide", "llama", vocab_size=400), threads=1)
    with pytest.raises(ValueError, match="a draft model needs the target's vocabulary"):
        target.generate("a", draft=wider)
    with pytest.raises(ValueError, match="draft must be an Engine"):
        target.generate("a", draft="model.gguf")
    with pytest.raises(ValueError, match="speculative must be one of"):
        target.generate("a", speculative="medusa")


def test_a_cut_lookup_is_the_lookup_of_what_remains() -> None:
    """Rejected draft tokens leave no trace: an n-gram they overwrote points where it did."""
    import random

    from edge_reason.prompt_lookup import NgramLookup

    rng = random.Random(0)
    for _ in range(300):
        tokens = [rng.randrange(6) for _ in range(rng.randrange(3, 40))]
        drafted = [rng.randrange(6) for _ in range(rng.randrange(1, 10))]
        lookup = NgramLookup(tokens)
        lookup.extend(drafted)
        cut = len(tokens) + rng.randrange(len(drafted) + 1)
        lookup.truncate(cut)
        fresh = NgramLookup((tokens + drafted)[:cut])
        assert lookup.tokens == fresh.tokens
        assert all(lookup.draft(k) == fresh.draft(k) for k in (1, 4, 15))
