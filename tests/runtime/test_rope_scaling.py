"""Each rope_scaling type: f32 logits equal to transformers', past the original context."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.hf_models import build_model, load_reference

from edge_reason import Engine

# The models' original context is 32 positions and the prompts run to 150.
ORIGINAL = 32
LENGTH = 150

# name -> (config overrides of the random Llama); each is a variant of a type.
SCALINGS = {
    "linear": dict(rope_scaling=dict(rope_type="linear", factor=4.0)),
    "yarn": dict(
        max_position_embeddings=4 * ORIGINAL,
        rope_scaling=dict(rope_type="yarn", factor=4.0, original_max_position_embeddings=ORIGINAL),
    ),
    # DeepSeek's attention factor, a ramp of other betas, untruncated.
    "yarn-mscale": dict(
        max_position_embeddings=ORIGINAL,
        rope_scaling=dict(
            type="yarn",
            factor=8.0,
            mscale=0.707,
            mscale_all_dim=1.0,
            beta_fast=16.0,
            beta_slow=2.0,
            truncate=False,
        ),
    ),
    "yarn-attention-factor": dict(
        rope_scaling=dict(
            rope_type="yarn",
            factor=2.0,
            attention_factor=1.5,
            original_max_position_embeddings=ORIGINAL,
        )
    ),
    "llama3": dict(
        rope_scaling=dict(
            rope_type="llama3",
            factor=8.0,
            low_freq_factor=1.0,
            high_freq_factor=4.0,
            original_max_position_embeddings=ORIGINAL,
        )
    ),
}


@pytest.fixture(scope="module")
def scaled_models(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("rope")
    built = {}

    def get(name: str, **overrides):
        if name not in built:
            built[name] = build_model(root / name, "llama", seed=7, **overrides)
        return built[name]

    return get


def engine_logits(folder, ids: list[int]) -> np.ndarray:
    return Engine.load(folder, quant="f32", threads=2, max_context=256).logits(ids)


def assert_close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    bound = 1e-4 * want.std()
    assert np.abs(got - want).max() <= bound, (np.abs(got - want).max(), bound)


@pytest.mark.parametrize("name", sorted(SCALINGS))
def test_logits_match_transformers(scaled_models, name) -> None:
    folder = scaled_models(name, **SCALINGS[name])
    ids = np.random.default_rng(11).integers(1, 320, size=LENGTH).tolist()
    with torch.no_grad():
        want = load_reference(folder)(torch.tensor([ids])).logits[0].numpy()
    assert_close(engine_logits(folder, ids), want)


def cached_decode_logits(folder, ids: list[int], prefill: int) -> np.ndarray:
    """transformers' logits when it runs `prefill` tokens, then one token per call."""
    model = load_reference(folder)
    with torch.no_grad():
        out = model(torch.tensor([ids[:prefill]]), use_cache=True)
        rows = [out.logits[0]]
        for token in ids[prefill:]:
            out = model(torch.tensor([[token]]), past_key_values=out.past_key_values)
            rows.append(out.logits[0])
    return torch.cat(rows).numpy()


DYNAMIC = dict(max_position_embeddings=ORIGINAL, rope_scaling=dict(rope_type="dynamic", factor=3.0))


def test_dynamic_equals_transformers_cached_decode(scaled_models) -> None:
    # Position p is rotated for a sequence of max(p + 1, 32) tokens, as in
    # transformers' decode with a cache: exact for any prompt of at most 32
    # tokens followed by any number of generated ones.
    folder = scaled_models("dynamic", **DYNAMIC)
    ids = np.random.default_rng(12).integers(1, 320, size=100).tolist()
    want = cached_decode_logits(folder, ids, prefill=20)
    assert_close(engine_logits(folder, ids), want)


def test_dynamic_within_the_original_context_is_unscaled(scaled_models) -> None:
    # Up to max_position_embeddings, one forward call of transformers is exact too.
    folder = scaled_models("dynamic", **DYNAMIC)
    ids = np.random.default_rng(13).integers(1, 320, size=ORIGINAL).tolist()
    with torch.no_grad():
        want = load_reference(folder)(torch.tensor([ids])).logits[0].numpy()
    assert_close(engine_logits(folder, ids), want)
