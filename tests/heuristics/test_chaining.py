"""Forward chaining: recursive rules settle, and every derived fact explains itself."""

from __future__ import annotations

from edge_reason.heuristics import RulePack

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
