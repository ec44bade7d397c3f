"""Forward chaining: recursive rules settle, and every derived fact explains itself."""

from __future__ import annotations

import time

import pytest
from edge_reason.heuristics import BudgetError, ChainingError, RulePack, load_builtin

ROUTES = """
[pack]
name = "routes"

[relations]
road = { args = ["from", "to"] }
reachable = { args = ["from", "to"] }

[[statement]]
id = "road"
pattern = 'a road leads from (?P<a>\\w+) to (?P<b>\\w+)\\.'
assert = ["road {a} {b}"]

[[rule]]
id = "direct"
match = ["road ?a ?b"]
assert = ["reachable ?a ?b"]

[[rule]]
id = "onward"
match = ["reachable ?a ?b", "road ?b ?c"]
assert = ["reachable ?a ?c"]

[[question]]
id = "can_reach"
pattern = 'can I reach (?P<b>\\w+) from (?P<a>\\w+)\\?'
ask = "reachable {a} {b}"
answer = "yes"
none = "no"
"""

STORY = """A road leads from ash to birch.
A road leads from birch to cedar.
A road leads from cedar to dune.
A road leads from dune to ash."""


def test_recursive_rules_reach_a_fixpoint_even_around_a_loop() -> None:
    pack = RulePack.from_string(ROUTES, name="routes.toml")
    answer = pack.answer_question("Can I reach dune from birch?", STORY)
    assert answer is not None and answer.answer == "yes"
    assert answer.sources == (2, 3)
    assert any("rule 'onward'" in step for step in answer.trace)
    assert pack.answer_question("Can I reach elm from ash?", STORY).answer == "no"


def test_a_statement_retracts_every_fact_its_variables_match() -> None:
    closing = (
        '\n[[statement]]\nid = "closed"\n'
        "pattern = 'every road from (?P<a>\\w+) is closed\\.'\n"
        'retract = ["road {a} ?to"]\n'
        '\n[[question]]\nid = "road"\n'
        "pattern = 'is there a road from (?P<a>\\w+) to (?P<b>\\w+)\\?'\n"
        'ask = "road {a} {b}"\nanswer = "yes"\nnone = "no"\n'
    )
    pack = RulePack.from_string(ROUTES + closing, name="routes.toml")
    story = (
        "A road leads from ash to birch.\nA road leads from ash to elm.\n"
        "Every road from ash is closed.\nA road leads from birch to elm."
    )
    asked = {
        (a, b): pack.answer_question(f"Is there a road from {a} to {b}?", story).answer
        for a, b in [("ash", "birch"), ("ash", "elm"), ("birch", "elm")]
    }
    assert asked == {("ash", "birch"): "no", ("ash", "elm"): "no", ("birch", "elm"): "yes"}


GIFTS = """
[pack]
name = "gifts"

[relations]
gave = { args = ["giver", "receiver", "thing"], functional = true }

[[statement]]
id = "gives"
pattern = '(?P<giver>\\w+) gave (?P<receiver>\\w+) the (?P<thing>\\w+)\\.'
assert = ["gave {giver} {receiver} {thing}"]

[[question]]
id = "what"
pattern = 'what did (?P<giver>\\w+) give (?P<receiver>\\w+)\\?'
ask = "gave {giver} {receiver} ?thing"
answer = "{thing}"

[[question]]
id = "how_many"
pattern = 'how many people did (?P<giver>\\w+) give something\\?'
ask = "gave {giver} ?receiver ?thing"
answer = "{spelled(count)}"
none = "none"
"""


def test_a_functional_relation_keeps_one_last_argument_per_combination_of_the_others() -> None:
    pack = RulePack.from_string(GIFTS, name="gifts.toml")
    story = "Ann gave Bo the pen.\nAnn gave Cy the cup.\nAnn gave Bo the hat."
    answer = pack.answer_question("What did Ann give Bo?", story)
    assert (answer.answer, answer.sources) == ("hat", (3,))  # the pen was replaced
    assert pack.answer_question("What did Ann give Cy?", story).answer == "cup"  # kept
    assert pack.answer_question("How many people did Ann give something?", story).answer == "two"
    assert pack.answer_question("How many people did Bo give something?", story).answer == "none"


def test_a_replaced_value_is_remembered_where_the_pack_asks_for_it() -> None:
    pack = RulePack.from_string(
        """
[pack]
name = "moves"

[relations]
at = { args = ["who", "where"], functional = true, previous = "came_from" }
came_from = { args = ["who", "where", "before"], functional = true }

[[statement]]
id = "goes"
pattern = '(?P<who>\\w+) goes to (?P<where>\\w+)\\.'
assert = ["at {who} {where}"]

[[question]]
id = "before"
pattern = 'where was (?P<who>\\w+) before (?P<where>\\w+)\\?'
ask = "came_from {who} {where} ?before"
answer = "{before}"
""",
        name="moves.toml",
    )
    story = "Ann goes to Rome.\nBo goes to Oslo.\nAnn goes to Pisa.\nAnn goes to Rome."
    answer = pack.answer_question("Where was Ann before Pisa?", story)
    assert (answer.answer, answer.sources) == ("rome", (1, 3))
    assert "at ann pisa replaced at ann rome" in answer.trace
    assert pack.answer_question("Where was Ann before Rome?", story).answer == "pisa"
    assert pack.answer_question("Where was Bo before Oslo?", story) is None


def _size_chain(lines: int) -> str:
    return "\n".join(f"The t{i} is bigger than the t{i + 1}." for i in range(1, lines + 1))


def test_a_long_chain_of_comparisons_settles_quickly() -> None:
    # issue 21: 25 lines took 4 s and 50 lines 70 s when every sentence re-ran every rule
    pack = load_builtin("babi")
    start = time.process_time()
    answer = pack.answer_question("Is the t1 bigger than the t61?", _size_chain(60))
    assert answer is not None and answer.answer == "yes"
    assert answer.sources == tuple(range(1, 61))
    assert time.process_time() - start < 5.0


def test_the_time_budget_stops_forward_chaining() -> None:
    start = time.perf_counter()
    with pytest.raises(BudgetError) as caught:
        load_builtin("babi").answer_question(
            "Is the t1 bigger than the t301?", _size_chain(300), budget_ms=50
        )
    assert time.perf_counter() - start < 3.0
    assert "ran out of its 50 ms time budget while forward chaining" in str(caught.value)
    assert "babi.toml (rule 'bigger_is_transitive'" in str(caught.value)


def test_a_conclusion_replaced_by_another_rule_is_derived_again() -> None:
    # Chaining looks only at new facts, but a rule whose conclusion was replaced must still
    # notice: here it puts the ball back, so the two rules keep undoing each other.
    pack = load_builtin("babi")
    story = "John took the apple.\nJohn went to the garden.\nMary went to the kitchen."
    assert pack.answer_question("Where is the apple?", story).answer == "garden"
    with pytest.raises(ChainingError, match="'carried_objects_move'.*'dropped_objects_stay'"):
        pack.answer_question("Where is the apple?", story + "\nMary left the apple.")
