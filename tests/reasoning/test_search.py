"""ChainSearch: chains in the model's order, tool calls served, bounded by room and time."""

from __future__ import annotations

import time

from edge_reason.reasoning.generation import ChainGenerator
from edge_reason.reasoning.policy import TokenRates
from edge_reason.reasoning.search import ALTERNATIVES, ChainSearch
from edge_reason.reasoning.tools import ToolRegistry


def search_over(fake_engine, chain_model, chains, *, tools=None, max_new_tokens=64):
    engine = fake_engine(None, next_logits=chain_model(chains))
    generator = ChainGenerator(engine, tools, TokenRates())
    root = generator.prefill("Q: ")
    return ChainSearch(generator, root, max_new_tokens=max_new_tokens, stop=("\nQ:",))


def test_chains_come_in_the_models_order_and_never_twice(fake_engine, chain_model) -> None:
    chains = {"ab": 0.45, "ac": 0.3, "b": 0.2, "abd": 0.05}
    search = search_over(fake_engine, chain_model, chains)
    drawn = [search.next().text for _ in range(30)]
    assert drawn[:4] == ["ab", "ac", "b", "abd"]
    assert len(set(drawn)) == len(drawn)


def test_a_stop_string_ends_a_chain(fake_engine, chain_model) -> None:
    search = search_over(fake_engine, chain_model, {"#### 7\nQ: next": 1.0})
    chain = search.next()
    assert chain.text == "#### 7"


def test_tool_results_replace_what_the_model_would_have_written(fake_engine, chain_model) -> None:
    # the model favours 9 after "=", but the calculator's 7 follows it, and the model goes on
    chains = {"<<3+4=9>> #### 9": 0.7, "<<3+4=7>> #### 7": 0.3}
    search = search_over(fake_engine, chain_model, chains, tools=ToolRegistry.default())
    chain = search.next()
    assert chain.text == "<<3+4=7>> #### 7" and chain.tool_calls == 1
    assert chain.tokens == len("<<3+4= #### 7")  # the inserted result is not the model's


def test_the_search_ends_when_every_branch_point_is_taken(fake_engine, chain_model) -> None:
    search = search_over(fake_engine, chain_model, {"a": 1.0}, max_new_tokens=1)
    drawn = []
    while (chain := search.next()) is not None:
        drawn.append(chain.text)
    # one token of room: the greedy chain and one chain per alternative first token
    assert len(drawn) == 1 + ALTERNATIVES and drawn[0] == "a"


def test_a_passed_deadline_cuts_the_chain(fake_engine, chain_model) -> None:
    search = search_over(fake_engine, chain_model, {"abc": 1.0})
    chain = search.next(deadline=time.perf_counter() - 1.0)
    assert chain.text == "" and chain.tokens == 0
