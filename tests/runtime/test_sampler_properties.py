"""Any parameters the API accepts, on any row of logits, give a token id in the vocabulary."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_reason import _native

logit = st.floats(width=32, allow_nan=True, allow_infinity=True)
temperature = st.one_of(st.just(0.0), st.floats(0.0, 2.0**100, width=32, exclude_min=True))
top_p = st.floats(0.0, 1.0, width=32, exclude_min=True)
penalty = st.floats(2.0**-100, 2.0**100, width=32)


@settings(max_examples=400, deadline=None)
@given(
    logits=st.lists(logit, min_size=1, max_size=64),
    temperature=temperature,
    top_k=st.integers(0, 80),
    top_p=top_p,
    penalty=penalty,
    history=st.lists(st.integers(-5, 80), max_size=20),
    seed=st.integers(0, 2**64 - 1),
)
def test_any_accepted_parameters_give_a_token_in_the_vocabulary(
    logits, temperature, top_k, top_p, penalty, history, seed
) -> None:
    sampler = _native.Sampler(len(logits))
    sampler.seed(seed)
    row = np.array(logits, dtype=np.float32)
    token = sampler.sample(row, temperature, top_k, top_p, penalty, np.array(history, np.int32))
    assert 0 <= token < len(logits)
    if temperature == 0.0 and penalty == 1.0 and not np.isnan(row).any():
        assert token == int(np.argmax(row))  # greedy: the first largest
