"""Chains decoded together are the chains decoded one at a time: on the shipped model, whose
addition scratchpads pause at every ``=`` for the calculator (each pause prefills the tool's
result and resumes), and whose bAbI chains cite lines."""

from __future__ import annotations

import pytest

from edge_reason.default_model import load_default_engine
from edge_reason.reasoning.generation import ChainGenerator
from edge_reason.reasoning.policy import TokenRates
from edge_reason.reasoning.prompts import BUILTIN_FORMATS
from edge_reason.reasoning.tools import ToolRegistry

STORY = (
    "1 Mary moved to the bathroom.\n2 John went to the hallway.\n"
    "3 Daniel went back to the office.\n4 Mary travelled to the garden.\n"
)


@pytest.fixture(scope="module")
def engine():
    engine = load_default_engine(threads=2)
    assert engine is not None, "the package carries no default model"
    return engine


@pytest.mark.parametrize(
    ("form", "question", "context"),
    [("gsm8k", "388+740", ""), ("babi", "Where is Mary?", STORY)],
)
@pytest.mark.parametrize("temperature", [0.0, 2.0])
def test_chains_decoded_together_equal_chains_decoded_alone(
    engine, form: str, question: str, context: str, temperature: float
) -> None:
    prompt_format = BUILTIN_FORMATS[form]
    generator = ChainGenerator(engine, ToolRegistry.default(), TokenRates())
    state = generator.prefill(prompt_format.render(question, context, ()) + prompt_format.chain_cue)
    options = dict(
        max_new_tokens=prompt_format.max_new_tokens,
        temperature=temperature,
        stop=prompt_format.stop,
    )
    together = generator.generate_many(state, seeds=list(range(6)), **options)
    alone = [generator.generate(state, seed=seed, **options) for seed in range(6)]
    assert together == alone
    if form == "gsm8k":
        assert all(chain.tool_calls == 0 for chain in alone)  # plain "=" pauses, no << >>
        assert max(chain.text.count("=") for chain in alone) >= 3  # pauses at each column
    if temperature:
        assert len({chain.text for chain in alone}) > 1  # the seeds drew different chains
