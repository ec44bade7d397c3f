"""f32 engine vs transformers' float32 forward pass and greedy generate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.hf_models import load_reference

from edge_reason import Engine

# Lengths: one token, odd, longer than the Mistral sliding window (24), and
# longer than one prefill chunk (128 tokens).
PROMPT_LENGTHS = [1, 7, 40, 150]


def reference_logits(folder, ids: list[int]) -> np.ndarray:
    model = load_reference(folder)
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].numpy()


@pytest.mark.parametrize("length", PROMPT_LENGTHS)
def test_logits_match_transformers(model_dirs, arch, length) -> None:
    rng = np.random.default_rng(length)
    ids = rng.integers(1, 320, size=length).tolist()
    engine = Engine.load(model_dirs[arch], quant="f32", threads=2, max_context=256)
    got = engine.logits(ids)
    want = reference_logits(model_dirs[arch], ids)
    assert got.shape == want.shape == (length, 320)
    bound = 1e-4 * want.std()
    assert np.abs(got - want).max() <= bound, (np.abs(got - want).max(), bound)


def test_incremental_decode_equals_full_recompute(model_dirs, arch) -> None:
    engine = Engine.load(model_dirs[arch], quant="f32", threads=2, max_context=256)
    prompt = [5, 17, 99, 23, 42, 7, 300, 12]
    g = engine.generate(prompt, max_new_tokens=30, temperature=0.0)
    full = prompt + g.token_ids
    # Each generated token is the argmax of the logits a full recomputation
    # gives at its position: the cached decode path computed the same thing.
    want = reference_logits(model_dirs[arch], full)
    steps = want[len(prompt) - 1 : len(full) - 1]
    assert [int(i) for i in steps.argmax(axis=1)] == g.token_ids
    got = engine.logits(full)
    assert np.abs(got - want).max() <= 1e-4 * want.std()


@pytest.mark.parametrize("penalty", [1.0, 1.5])
def test_greedy_generation_equals_transformers(model_dirs, arch, penalty) -> None:
    engine = Engine.load(model_dirs[arch], quant="f32", threads=2)
    text = "Where is Mary? Mary moved to the"
    ids = engine.encode(text)
    model = load_reference(model_dirs[arch])
    with torch.no_grad():
        out = model.generate(
            torch.tensor([ids]),
            max_new_tokens=40,
            do_sample=False,
            repetition_penalty=penalty,
            eos_token_id=None,
            pad_token_id=0,
        )[0, len(ids) :].tolist()
    g = engine.generate(text, max_new_tokens=40, repetition_penalty=penalty)
    # The engine stops at EOS (id 0) as transformers would with eos_token_id set.
    if 0 in out:
        out = out[: out.index(0) + 1]
    assert g.token_ids == out
