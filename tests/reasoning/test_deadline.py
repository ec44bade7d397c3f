"""A chain is cut at the answer's deadline, not only checked between chains."""

from __future__ import annotations

import time
from pathlib import Path

from edge_reason import Engine
from edge_reason.reasoning.generation import ChainGenerator
from edge_reason.reasoning.policy import TokenRates


def test_a_chain_stops_at_the_deadline(babi_quick_model_dir: Path) -> None:
    engine = Engine.load(babi_quick_model_dir, quant="int8", threads=2)
    generator = ChainGenerator(engine, None, TokenRates())
    state = generator.prefill("1 Mary moved to the bathroom.\nWhere is Mary?\n")
    free = generator.generate(state, max_new_tokens=40, temperature=1.0, seed=0, stop=())
    past = generator.generate(
        state, max_new_tokens=40, temperature=1.0, seed=0, stop=(), deadline=time.perf_counter()
    )
    assert free.tokens > 1 and past.tokens == 0 and past.text == ""
    soon = generator.generate(
        state,
        max_new_tokens=40,
        temperature=1.0,
        seed=0,
        stop=(),
        deadline=time.perf_counter() + 1e-6,
    )
    assert soon.tokens <= 1
