"""Strategies, the feedback loop, tool calls and policy decisions, on a scripted engine."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from edge_reason import Reasoner
from edge_reason.reasoning.answer import StepStatus
from edge_reason.reasoning.policy import Policy, TokenRates

STORY = "1 Mary went to the kitchen.\n2 John went to the hallway.\n3 Mary went to the garden."


def by_seed(*chains: str):
    """A model whose sample ``seed`` writes ``chains[seed]``, cycling (greedy: the first)."""

    def model(prompt: str, written: str, temperature: float, seed: int | None) -> str:
        chain = chains[(seed or 0) % len(chains)]
        return chain[len(written) :] if chain.startswith(written) else ""

    return model


def test_majority_vote_counts_every_verified_sample(fake_engine) -> None:
    engine = fake_engine(by_seed("#### 7", "#### 7.0", "#### 9", "#### 7", "#### 9"))
    answer = Reasoner(engine).ask("What is 3 + 4?", strategy="self_consistency", samples=5)
    assert answer.answer == "7"
    # 7 and 7.0 are one answer; 9 is not 3 + 4, so its chains fail and do not vote
    assert answer.votes == {"7": 3}
    assert answer.confidence == pytest.approx(3 / 5)
    assert len(engine.generations) == 5  # decoded together: every sample is drawn
    assert answer.source == "model" and answer.strategy == "self_consistency"


def test_unanimous_votes_give_full_confidence(fake_engine) -> None:
    engine = fake_engine(by_seed(*["#### 7"] * 9))
    answer = Reasoner(engine).ask("What is 3 + 4?", strategy="self_consistency", samples=9)
    assert len(engine.generations) == 9
    assert answer.confidence == 1.0


def test_low_confidence_falls_back_to_rules(fake_engine) -> None:
    # one verified vote of five samples: the four that give no answer count against it
    engine = fake_engine(by_seed("unsure", "#### 7", "unsure", "unsure", "unsure"))
    answer = Reasoner(engine).ask("What is 3 + 4?", strategy="self_consistency", samples=5)
    assert answer.source == "rules"
    assert answer.answer == "7"
    assert "model confidence 0.20 is below the threshold 0.50" in answer.reason


def test_low_confidence_keeps_the_model_answer_when_nothing_else_can_answer(fake_engine) -> None:
    engine = fake_engine(by_seed("Answer: blue"))  # flat logits: probability 1/256
    answer = Reasoner(engine).ask("What colour is the sky?", strategy="cot")
    assert answer.source == "model" and answer.answer == "blue"
    assert "below the threshold" in answer.reason
    assert "no rule pack or tool could answer" in answer.reason


def test_verifier_rejecting_every_chain_falls_back(fake_engine) -> None:
    engine = fake_engine(by_seed(*["3 + 4 = 8\n#### 8"] * 5))
    answer = Reasoner(engine).ask("What is 3 + 4?", strategy="self_consistency", samples=5)
    assert answer.source == "rules" and answer.answer == "7"
    assert "the verifier rejected every chain (3 + 4 = 7, not 8)" in answer.reason


def test_cot_repairs_a_wrong_value_and_continues(fake_engine) -> None:
    def model(prompt: str, written: str, temperature: float, seed: int | None) -> str:
        return "\n#### 7" if written.endswith("= 7") else "3 + 4 = 8\n#### 8"[len(written) :]

    answer = Reasoner(fake_engine(model, peak="7")).ask("What is 3 + 4?", strategy="cot")
    assert answer.source == "model" and answer.answer == "7"
    assert [(r.kind, r.failure) for r in answer.revisions] == [("repair", "3 + 4 = 7, not 8")]
    assert answer.steps[0].text == "3 + 4 = 7" and answer.steps[0].status is StepStatus.VERIFIED
    assert answer.confidence == pytest.approx(0.921, abs=1e-3)  # e^8 / (e^8 + 255)


def test_cot_regenerates_with_the_failure_stated(fake_engine) -> None:
    def model(prompt: str, written: str, temperature: float, seed: int | None) -> str:
        if "previous attempt was wrong" in prompt:
            return "Facts: 3.\nAnswer: garden"
        return "Facts: 1.\nAnswer: kitchen"

    reasoner = Reasoner(fake_engine(model, peak="g"))
    # a character per token: give the bAbI format room for a whole chain
    reasoner.formats["babi"] = replace(reasoner.formats["babi"], max_new_tokens=64)
    answer = reasoner.ask("Where is Mary?", context=STORY, strategy="cot")
    assert answer.answer == "garden" and answer.source == "model"
    assert [r.kind for r in answer.revisions] == ["regenerate"]
    assert "line 3 says 'garden', not 'kitchen'" in answer.revisions[0].failure
    assert [c.ref for c in answer.citations] == ["line 3"]


def test_a_format_without_feedback_redraws_the_models_next_most_likely_chain(
    fake_engine, chain_model
) -> None:
    chains = {
        "Facts: 1.\nAnswer: kitchen": 0.6,  # greedy: rejected, line 3 moves Mary
        "Facts: 2.\nAnswer: hallway": 0.1,
        "Facts: 3.\nAnswer: garden": 0.3,  # the runner-up at the cited line
    }
    engine = fake_engine(None, next_logits=chain_model(chains))
    reasoner = Reasoner(engine, rules=[], policy=Policy(confidence_threshold=0.0))
    reasoner.formats["babi"] = replace(reasoner.formats["babi"], max_new_tokens=64, feedback="")
    answer = reasoner.ask("Where is Mary?", context=STORY, strategy="cot")
    assert answer.answer == "garden" and [r.kind for r in answer.revisions] == ["regenerate"]
    assert len(engine.prompts) == 1  # prefilled once: the redraw resumes from its cache state
    assert engine.generations == []  # every chain came from the search, none from sampling


def test_no_chain_is_redrawn_after_the_deadline(fake_engine, chain_model) -> None:
    likely = chain_model({"Facts: 1.\nAnswer: kitchen": 0.6, "Facts: 3.\nAnswer: garden": 0.4})

    def slow(prompt: str, written: str):
        time.sleep(0.002)  # a model that needs 2 ms per token
        return likely(prompt, written)

    engine = fake_engine(None, next_logits=slow)
    reasoner = Reasoner(engine, rules=[], policy=Policy(confidence_threshold=0.0))
    reasoner.formats["babi"] = replace(reasoner.formats["babi"], max_new_tokens=64, feedback="")
    answer = reasoner.ask("Where is Mary?", context=STORY, strategy="cot", budget_ms=10)
    assert answer.revisions == ()  # the first chain was cut at the deadline, and none followed


def test_revisions_are_bounded(fake_engine) -> None:
    engine = fake_engine(by_seed(*["Facts: 2.\nAnswer: hallway"] * 3))
    reasoner = Reasoner(engine, rules=[], policy=Policy(max_revisions=2))
    reasoner.formats["babi"] = replace(reasoner.formats["babi"], max_new_tokens=64)
    answer = reasoner.ask("Where is Mary?", context=STORY, strategy="cot")
    assert len(answer.revisions) == 2
    assert len(engine.generations) == 3
    assert "verifier rejected every chain" in answer.reason


def test_when_no_chain_verifies_the_one_failing_fewest_checks_answers(fake_engine) -> None:
    # greedy and the first redraw (seed 0) answer what line 1 said before line 3 overturned
    # it; the second redraw (seed 1) cites a line the story lacks: one failure each, so the
    # greedy chain (the model's own best guess) answers
    engine = fake_engine(by_seed("Facts: 1.\nAnswer: kitchen", "Facts: 9.\nAnswer: office"))
    reasoner = Reasoner(engine, rules=[], policy=Policy(max_revisions=2))
    reasoner.formats["babi"] = replace(reasoner.formats["babi"], max_new_tokens=64)
    answer = reasoner.ask("Where is Mary?", context=STORY, strategy="cot")
    assert len(engine.generations) == 3 and answer.answer == "kitchen"
    assert [c.ref for c in answer.citations] == ["line 1"]


def test_self_consistency_votes_unverified_chains_when_none_verifies(fake_engine) -> None:
    chains = ("Facts: 2.\nAnswer: hallway", "Facts: 1.\nAnswer: kitchen")
    engine = fake_engine(by_seed(chains[0], chains[1], chains[0]))
    reasoner = Reasoner(engine, rules=[])
    reasoner.formats["babi"] = replace(reasoner.formats["babi"], max_new_tokens=64)
    answer = reasoner.ask("Where is Mary?", context=STORY, strategy="self_consistency", samples=3)
    assert answer.answer == "hallway" and answer.source == "model"
    assert answer.votes == {} and "verifier rejected every chain" in answer.reason


def test_calculator_results_are_inserted_while_generating(fake_engine) -> None:
    def model(prompt: str, written: str, temperature: float, seed: int | None) -> str:
        if written.endswith(">>"):
            result = written.rsplit("=", 1)[1][:-2]
            return f"{result} clips.\n#### {result}"
        return "Half of 48 is <<48/2=25>>25 clips.\n#### 25"[len(written) :]  # wrong unaided

    answer = Reasoner(fake_engine(model, peak="2")).ask("What is half of 48?", strategy="cot")
    assert answer.answer == "24"
    assert answer.steps[0].text == "Half of 48 is <<48/2=24>>24 clips."
    assert answer.steps[0].status is StepStatus.VERIFIED
    assert answer.revisions == ()


def test_no_model_answers_from_rules() -> None:
    answer = Reasoner(None).ask("What is 17*23 + 4?")
    assert (answer.answer, answer.source, answer.confidence) == ("395", "rules", 1.0)
    assert answer.reason.startswith("no model loaded")


def test_a_bare_expression_is_answered_by_the_calculator_tool() -> None:
    answer = Reasoner(None).ask("(48 / 2) * 3 - 7 =")
    assert (answer.answer, answer.source) == ("65", "tool")


def test_nothing_can_answer() -> None:
    answer = Reasoner(None).ask("Who painted the Mona Lisa?")
    assert answer.answer is None and answer.source == "none"
    assert "no rule pack or tool could answer" in answer.reason


def test_time_budget_from_measured_rates_sends_the_question_to_rules(fake_engine) -> None:
    slow = TokenRates(prefill_tokens=100, prefill_seconds=1.0, decode_tokens=10, decode_seconds=1.0)
    engine = fake_engine(by_seed("#### 7"))
    reasoner = Reasoner(engine, policy=Policy(rates=slow))
    answer = reasoner.ask("What is 3 + 4?", budget_ms=50)
    assert answer.source == "rules" and answer.answer == "7"
    assert "the time budget would be exceeded" in answer.reason
    assert engine.generations == []


def test_auto_picks_the_strategy_that_fits_the_budget(fake_engine) -> None:
    rates = TokenRates(
        prefill_tokens=10_000,
        prefill_seconds=1.0,
        decode_tokens=100,
        decode_seconds=1.0,
        chains=1,
        chain_tokens=10,
    )
    engine = fake_engine(by_seed("#### 7"), peak="7")
    reasoner = Reasoner(engine, policy=Policy(rates=rates))
    # one 10-token chain takes about 100 ms, five take about 500 ms; after the first
    # question's five short chains (the scripted engine decodes them one after another), five
    # chains take about 270 ms
    assert reasoner.ask("What is 3 + 4?", budget_ms=1000).strategy == "self_consistency"
    assert reasoner.ask("What is 3 + 4?", budget_ms=250).strategy == "cot"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "magic"}, "strategy must be one of"),
        ({"samples": 0}, "samples must be an integer from 1 to 64"),
        ({"samples": 65}, "samples must be an integer from 1 to 64"),
        ({"budget_ms": -5}, "budget_ms must be positive"),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Reasoner(None).ask("What is 1 + 1?", **kwargs)


def test_a_bundle_declares_the_policy_its_model_was_measured_with(fake_engine) -> None:
    from edge_reason.errors import ModelFormatError

    engine = fake_engine(by_seed("Facts: 2.\nAnswer: hallway"))
    engine.path = "model-bundle"
    engine.manifest = {"reasoning": {"max_revisions": 5, "best_strategy": "cot"}}
    assert Reasoner(engine).policy.max_revisions == 5
    assert Reasoner(engine).policy.best_strategy == "cot"
    assert Reasoner(engine, policy=Policy(max_revisions=1)).policy.max_revisions == 1
    for bad, says in (
        ({"max_revisions": -1}, "max_revisions must be an integer >= 0"),
        ({"best_strategy": "vote"}, "best_strategy must be one of self_consistency, cot, direct"),
        ({"revisions": 3}, "must be a table with at most max_revisions and best_strategy"),
        ([3], "must be a table"),
    ):
        engine.manifest = {"reasoning": bad}
        with pytest.raises(
            ModelFormatError, match=rf"model-bundle/bundle\.json: reasoning.*{says}"
        ):
            Reasoner(engine)


def test_auto_runs_the_declared_best_strategy_and_only_cheaper_ones() -> None:
    def plan(policy: Policy, budget_ms: float | None) -> str | None:
        return auto_plan(policy, budget_ms).strategy

    def auto_plan(policy: Policy, budget_ms: float | None):
        return policy.plan(
            has_engine=True,
            strategy="auto",
            samples=5,
            budget_ms=budget_ms,
            prompt_tokens=100,
            max_chain_tokens=20,
        )

    assert plan(Policy(), None) == "self_consistency"
    assert plan(Policy(best_strategy="cot"), None) == "cot"
    assert auto_plan(Policy(best_strategy="cot"), None).reason == (
        "auto: cot (the model's best measured strategy, no time budget)"
    )
    assert plan(Policy(best_strategy="direct"), None) == "direct"
    # no rates yet: one checked chain, unless the best is cheaper still
    assert plan(Policy(best_strategy="direct"), 1000.0) == "direct"
    rates = TokenRates()
    rates.record_prefill(100, 0.01)  # 10 ms per prompt
    rates.record_decode(20, 0.01)  # 10 ms per chain
    assert plan(Policy(rates=rates, best_strategy="cot"), 1000.0) == "cot"
    assert plan(Policy(rates=rates, best_strategy="cot"), 15.0) is None  # a chain needs 20 ms
    assert plan(Policy(rates=rates), 1000.0) == "self_consistency"
    assert plan(Policy(rates=rates), 30.0) == "cot"  # five samples need 60 ms
