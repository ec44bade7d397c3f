"""The agent loop with a scripted model: each reply is a step text from the script, so every
path (calls, bad steps, limits, checks, revisions, fallback, records) is exercised exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge_reason.engine import Generation, GenerationStats
from edge_reason.reasoning.agent import SEARCH_MEMORY, Agent, check_answer, step_schema
from edge_reason.reasoning.agent.answer_checks import Observation
from edge_reason.reasoning.agent.step_format import ARGUMENT_CHARS, parse_step
from edge_reason.reasoning.answer import StepStatus
from edge_reason.reasoning.retrieval import DocumentStore, Passage
from edge_reason.reasoning.tools import Tool, ToolRegistry
from edge_reason.structured_output import ResponseFormat

PUMP = Passage("notes/pump.md", "passage 1", "The pump moves 12 litres of water per minute.")


class Clock:
    """A clock the scripted model advances: time passes only while it 'generates'."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ScriptedModel:
    """Replies with the script's step texts in order (a dict is sent as its JSON), each
    taking ``seconds`` on ``clock``; records the messages and options of every call."""

    def __init__(self, *script: str | dict, clock: Clock | None = None, seconds: float = 0.5):
        self.script = [s if isinstance(s, str) else json.dumps(s) for s in script]
        self.clock = clock if clock is not None else Clock()
        self.seconds = seconds
        self.calls: list[tuple[list[dict[str, Any]], dict[str, Any]]] = []

    def chat(self, messages, **options) -> Generation:
        self.calls.append(([dict(m) for m in messages], options))
        text = self.script.pop(0) if self.script else '{"answer": "out of script"}'
        tokens = max(1, len(text) // 4)
        limit = options["max_new_tokens"]
        finish = "eos"
        if tokens > limit:  # as the engine does: the reply is cut at its token limit
            text, tokens, finish = text[: 4 * limit], limit, "length"
        self.clock.now += self.seconds
        stats = GenerationStats(
            len(str(messages)) // 4, tokens, 0.1 * self.seconds, 0.9 * self.seconds, 1
        )
        return Generation(text, [0] * tokens, stats, finish)


class Notes:
    """A memory: the passages whose text shares a word with the query."""

    def __init__(self, *passages: Passage) -> None:
        self.passages = passages
        self.queries: list[str] = []

    def search(self, query: str, k: int = 3) -> list[Passage]:
        self.queries.append(query)
        words = set(query.lower().split())
        return [p for p in self.passages if words & set(p.text.lower().split())][:k]


def call(tool: str, **arguments: Any) -> dict:
    return {"thought": f"use {tool}", "tool": tool, "arguments": arguments}


def answer(text: str) -> dict:
    return {"answer": text, "thought": "done"}


def agent(model: ScriptedModel, **options: Any) -> Agent:
    options.setdefault("review", False)
    options.setdefault("rules", [])
    options.setdefault("recall_first", False)  # the tests of the model's own searches
    return Agent(model, clock=model.clock, **options)


# ---- the loop ---------------------------------------------------------------------------


def test_a_tool_call_then_an_answer_is_verified_by_the_call() -> None:
    model = ScriptedModel(call("calculator", expression="12 * 60 * 3"), answer("2160 litres"))
    result = agent(model).run("The pump moves 12 litres a minute. How many litres in 3 hours?")
    assert [s.kind for s in result.steps] == ["tool", "answer"]
    assert result.steps[0].observation == "2160" and result.steps[0].ok
    assert result.answer == "2160 litres" and result.source == "model" and result.verified
    assert result.stopped == "answer"
    assert [c.status.value for c in result.checks] == ["verified", "verified"]
    assert "2160 from calculator(12 * 60 * 3) = 2160" in result.checks[1].detail
    # the model saw the observation, and the goal after it
    last_user = model.calls[1][0][-1]["content"]
    assert "Observation: 2160" in last_user and "How many litres in 3 hours?" in last_user


def test_the_goal_is_in_every_prompt_even_when_old_steps_fall_out() -> None:
    calls = [call("calculator", expression=f"{n} + 1") for n in range(9)]
    model = ScriptedModel(*calls, answer("10"))
    agent(model).run("Count up to ten.", max_steps=10)
    for messages, _ in model.calls:
        assert messages[1]["content"] == "Goal: Count up to ten."
        assert "Goal: Count up to ten." in messages[-1]["content"]
    assert len(model.calls[-1][0]) < 2 + 2 * 9  # the oldest exchanges were left out


@pytest.mark.parametrize(
    ("step", "said"),
    [
        (call("weather", city="Oslo"), "no tool named 'weather' (registered: calculator, convert)"),
        (call("calculator", expr="1 + 1"), "unexpected argument(s) expr"),
        (call("calculator", expression="1 / 0"), "failed"),
        ("I think the answer is 2", "the step is not JSON"),
        ('["calculator"]', "not an object"),
        ('{"thought": "hmm"}', 'neither "tool" nor "answer"'),
    ],
)
def test_a_bad_step_is_an_observation_and_the_loop_goes_on(step: str | dict, said: str) -> None:
    model = ScriptedModel(step, call("calculator", expression="1 + 1"), answer("2"))
    result = agent(model).run("What is 1 + 1?")
    assert said in result.steps[0].observation and not result.steps[0].ok
    assert (
        said in model.calls[1][0][-2 if isinstance(step, str) else -1]["content"]
        or said in (model.calls[1][0][-1]["content"])
    )
    assert result.answer == "2" and result.verified and len(result.steps) == 3


def test_the_step_limit_ends_the_run_and_the_last_step_must_answer() -> None:
    model = ScriptedModel(*(call("calculator", expression=f"{n} * 2") for n in range(5)))
    result = agent(model).run("Keep doubling.", max_steps=3)
    assert result.stopped == "step_limit" and len(result.steps) == 3
    assert result.answer is None and result.source == "none"
    assert "the agent gave no answer (3 steps without one)" in result.reason
    schemas = [o["response_format"]["json_schema"]["schema"] for _, o in model.calls]
    assert "anyOf" in schemas[0] and "anyOf" not in schemas[2]  # only the answer branch left
    assert set(schemas[2]["properties"]) == {"answer", "thought"}


def test_a_repeated_call_makes_the_next_step_answer() -> None:
    same = call("calculator", expression="6 * 7")
    model = ScriptedModel(same, same, answer("42"))
    result = agent(model).run("What is 6 times 7?")
    schemas = [o["response_format"]["json_schema"]["schema"] for _, o in model.calls]
    assert ["anyOf" in s for s in schemas] == [True, True, False]
    assert result.answer == "42" and result.verified


def test_the_time_budget_stops_the_run_between_steps_and_bounds_each_step() -> None:
    clock = Clock()
    model = ScriptedModel(
        *(call("calculator", expression=f"{n} + 1") for n in range(10)), clock=clock, seconds=1.0
    )
    result = agent(model).run("Count.", max_steps=10, budget_ms=2500)
    assert result.stopped == "time_budget" and len(result.steps) < 10
    limits = [o["time_limit_s"] for _, o in model.calls]
    assert limits[0] == pytest.approx(2.5) and limits == sorted(limits, reverse=True)
    tokens = [o["max_new_tokens"] for _, o in model.calls]
    assert tokens[-1] < tokens[0]  # from the measured rate and the time left
    assert result.time_ms == pytest.approx(1000.0 * len(model.calls))


def test_a_step_cut_by_the_time_limit_ends_the_run() -> None:
    class Slow(ScriptedModel):
        def chat(self, messages, **options):
            reply = super().chat(messages, **options)
            return Generation('{"thought": "I am', [0] * 4, reply.stats, "time")

    model = Slow(answer("never"))
    result = agent(model).run("Think.", budget_ms=60_000)
    assert result.stopped == "time_budget"
    assert "cut off by the time budget" in result.steps[0].observation


def test_memory_search_is_an_observation_whose_passages_the_answer_cites() -> None:
    notes = Notes(PUMP, Passage("notes/fan.md", "passage 1", "The fan runs at night."))
    model = ScriptedModel(
        call(SEARCH_MEMORY, query="pump litres"),
        call("calculator", expression="12 * 60"),
        answer("720 litres [1]"),
    )
    result = agent(model, memory=notes).run("How many litres does the pump move in an hour?")
    assert notes.queries == ["pump litres"]
    assert result.steps[0].observation.startswith("[1] notes/pump.md: The pump moves 12 litres")
    assert result.passages == (PUMP,)
    assert result.answer == "720 litres [1]" and result.verified
    assert "passage [1] holds the answer" in result.checks[-1].detail
    system = model.calls[0][0][0]["content"]
    assert system.index(SEARCH_MEMORY) < system.index("calculator")  # listed first


def test_recall_first_searches_memory_for_the_goal_before_the_first_step() -> None:
    notes = Notes(PUMP)
    goal = "How many litres does the pump move in an hour? " + "Please be exact. " * 10
    model = ScriptedModel(call("calculator", expression="12 * 60"), answer("720 litres [1]"))
    result = agent(model, memory=notes, recall_first=True).run(goal, max_steps=2)
    assert notes.queries == [goal.strip()[:100]]  # the tool's longest query
    assert [s.kind for s in result.steps] == ["recall", "tool", "answer"]  # not a move
    assert result.steps[0].observation.startswith("[1] notes/pump.md: The pump moves 12 litres")
    assert result.steps[0].tokens == 0
    # the model sees the search as its own first call, and what it returned
    first = model.calls[0][0]
    assert json.loads(first[2]["content"]) == {
        "tool": SEARCH_MEMORY,
        "arguments": {"query": goal.strip()[:100]},
    }
    assert first[3]["content"].startswith("Observation: [1] notes/pump.md")
    assert result.answer == "720 litres [1]" and result.verified
    assert "recall" in result.format() and result.to_dict()["steps"][0]["kind"] == "recall"


def test_citing_a_passage_that_was_never_observed_fails_and_is_revised() -> None:
    model = ScriptedModel(
        call(SEARCH_MEMORY, query="pump"), answer("12 litres [3]"), answer("12 litres [1]")
    )
    result = agent(model, memory=Notes(PUMP)).run("How much does the pump move per minute?")
    assert result.revisions[0].kind == "verifier"
    assert "cites [3] but only 1 passage(s) were observed" in result.revisions[0].failure
    assert result.drafts == ("12 litres [3]", "12 litres [1]")
    # the second stands, unchecked: a number copied from a passage may not be the one asked
    assert not result.verified and result.checks[-1].status is StepStatus.UNCHECKED
    assert "passage [1] holds the answer" in result.checks[-1].detail


def test_a_document_store_is_a_memory(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "hives.md").write_text("The farm keeps 8 beehives.\n")
    store = DocumentStore(tmp_path / "notes.db")
    store.index_folder(tmp_path / "notes")
    model = ScriptedModel(call(SEARCH_MEMORY, query="beehives"), answer("8 beehives"))
    result = agent(model, memory=store).run("How many beehives does the farm keep?")
    assert "The farm keeps 8 beehives." in result.steps[0].observation
    assert "8 is in passage [1]: that it answers is not checked" in result.checks[-1].detail
    assert not result.verified


def test_a_user_function_registered_with_its_schema_is_called() -> None:
    stock = {"apples": 40, "pears": 12}
    tools = ToolRegistry.default()
    tools.register(
        Tool(
            "stock",
            "How many of an item are in the store",
            lambda item: stock[item],
            {
                "type": "object",
                "properties": {"item": {"type": "string", "enum": ["apples", "pears"]}},
                "required": ["item"],
            },
        )
    )
    model = ScriptedModel(
        call("stock", item="plums"), call("stock", item="pears"), answer("12 pears")
    )
    result = agent(model, tools=tools).run("How many pears are in the store?")
    assert '"plums" is not one of' in result.steps[0].observation
    assert result.steps[1].observation == "12"
    assert result.verified and 'from stock({"item": "pears"}) = 12' in result.checks[-1].detail
    branches = model.calls[0][1]["response_format"]["json_schema"]["schema"]["anyOf"]
    assert {"const": "stock"} in [b["properties"]["tool"] for b in branches[:-1]]


# ---- checks, revisions, review, fallback ------------------------------------------------------


def test_a_verifier_failure_triggers_a_revision() -> None:
    model = ScriptedModel(
        call("calculator", expression="1234 * 5678"), answer("729056"), answer("7006652")
    )
    result = agent(model).run("What is 1234 * 5678?")
    assert [r.kind for r in result.revisions] == ["verifier"]
    assert "729056 comes from no tool result" in result.revisions[0].failure
    assert (
        "Your answer was not accepted: 729056 comes from no tool result"
        in (model.calls[2][0][-1]["content"])
    )
    assert result.answer == "7006652" and result.verified and result.source == "model"


def test_revisions_are_bounded() -> None:
    model = ScriptedModel(*(answer(str(n)) for n in range(10)))
    result = agent(model, max_revisions=2).run("What is 1234 * 5678?", max_steps=10)
    assert len(result.revisions) == 2 and len(result.drafts) == 3
    assert result.answer == "2" and not result.verified and result.source == "model"
    assert "no rule pack answered: kept the model's answer" in result.reason


def test_an_unverified_answer_falls_back_to_the_rule_packs() -> None:
    model = ScriptedModel(answer("50 m"))
    result = agent(model, rules=None, max_revisions=0).run("Convert 5 km to m")
    assert result.answer == "5000 m" and result.source == "rules"
    assert not result.verified  # nothing outside the pack recomputes a conversion
    assert result.drafts == ("50 m",)
    assert "answered by rule pack 'arithmetic' (convert_units)" in result.reason
    assert result.checks[0].text.startswith("question 'convert_units' matched")


def test_a_verified_answer_is_kept_over_the_rule_packs() -> None:
    model = ScriptedModel(call("convert", value=5, **{"from": "km", "to": "m"}), answer("5000 m"))
    result = agent(model, rules=None).run("Convert 5 km to m")
    assert result.source == "model" and result.verified


def test_the_review_can_send_a_draft_back() -> None:
    model = ScriptedModel(
        call("calculator", expression="12 * 3"),
        answer("36 litres"),
        {"verdict": "no", "reason": "3 hours are 180 minutes"},
        call("calculator", expression="12 * 60 * 3"),
        answer("2160 litres"),
        {"verdict": "yes", "reason": "it follows"},
    )
    result = agent(model, review=True).run("12 litres a minute: how many litres in 3 hours?")
    assert [s.kind for s in result.steps] == ["tool", "answer", "review"] * 2
    assert result.revisions[0].kind == "review"
    assert result.revisions[0].failure == "3 hours are 180 minutes"
    assert result.answer == "2160 litres" and result.verified
    review = model.calls[2]
    assert review[1]["response_format"]["json_schema"]["name"] == "review"
    assert "calculator(12 * 3) = 36" in review[0][-1]["content"]
    assert result.steps[2].kind == "review" and not result.steps[2].ok


def test_a_review_that_does_not_parse_lets_the_draft_stand() -> None:
    model = ScriptedModel(call("calculator", expression="2 + 2"), answer("4"), "maybe")
    result = agent(model, review=True).run("What is 2 + 2?")
    assert result.answer == "4" and not result.revisions
    assert "did not parse" in result.steps[-1].observation


# ---- the answer checks ---------------------------------------------------------------------


def test_a_calculation_on_invented_numbers_fails() -> None:
    observed = [Observation("calculator", {"expression": "45 * 3"}, "135", True)]
    check = check_answer(
        "The pump moves 12 litres a minute. Litres in 3 hours?", "135", observed, []
    )
    assert not check.verified
    assert check.failure == "calculator(45 * 3) = 135 uses 45, which no goal or observation states"
    # unit factors (60 minutes an hour) need no one to state them
    observed = [Observation("calculator", {"expression": "12 * 60 * 3"}, "2160", True)]
    assert check_answer("12 litres a minute: litres in 3 hours?", "2160", observed, []).verified


def test_numbers_that_only_repeat_the_goal_are_unchecked() -> None:
    check = check_answer("What is the speed limit of 30 km/h in town?", "30 km/h", [], [])
    assert not check.verified and check.failure is None
    assert check.verification.steps[-1].status.value == "unchecked"


def test_a_word_answer_must_bring_words_from_an_observed_passage() -> None:
    beekeeper = Passage("animals.md", "passage 1", "The beekeeper is Mira Chen.")
    found = check_answer("Who is the beekeeper?", "Mira Chen", [], [beekeeper])
    assert not found.verified and found.failure is None  # held by a passage, not proven
    assert "passage [1] holds the answer's words" in found.verification.steps[-1].detail
    # a passage's words are no proof: "the irrigation pump in the north field" for "who?"
    pump = Passage(
        "pumps.md", "passage 1", "The irrigation pump in the north field is serviced by Ana Lopez."
    )
    wrong = check_answer(
        "Who services the irrigation pump?", "The pump in the north field", [], [pump]
    )
    assert not wrong.verified
    parrot = check_answer("Who is the beekeeper?", "The beekeeper", [], [beekeeper])
    assert parrot.failure == "the answer only repeats the goal's words"
    assert check_answer("Who is the beekeeper?", "Tom Berg", [], [beekeeper]).failure


# ---- the step format and the record ----------------------------------------------------------


def test_the_step_schema_compiles_with_a_branch_per_tool_and_bounded_strings() -> None:
    schema = step_schema(ToolRegistry.default())
    ResponseFormat.parse({"type": "json_schema", "json_schema": {"name": "s", "schema": schema}})
    tools = [b["properties"].get("tool") for b in schema["anyOf"]]
    assert tools == [{"const": "calculator"}, {"const": "convert"}, None]
    expression = schema["anyOf"][0]["properties"]["arguments"]["properties"]["expression"]
    assert expression["maxLength"] == ARGUMENT_CHARS  # the calculator itself allows 500
    assert parse_step('{"answer": 42}').answer == "42"


def test_the_record_prints_for_people_and_as_json() -> None:
    model = ScriptedModel(call("calculator", expression="6 * 7"), answer("42"))
    result = agent(model).run("What is 6 * 7?")
    text = str(result)
    assert text == result.format()
    assert ' 1. calculator {"expression": "6 * 7"}   (500 ms, ' in text
    assert "    → 42" in text and "answer: 42" in text and "verified" in text
    assert "source: model   stopped: answer   steps: 2" in text
    data = json.loads(result.to_json())
    assert data["answer"] == "42" and data["verified"] is True and data["tool_calls"] == 1
    assert data["steps"][0]["tool"] == "calculator" and data["steps"][0]["time_ms"] == 500.0
    assert data["checks"][-1]["status"] == "verified"
    assert data["tokens"] == sum(s["tokens"] for s in data["steps"])


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="chat model"):
        Agent(object())
    model = ScriptedModel()
    with pytest.raises(ValueError, match="goal"):
        agent(model).run("  ")
    with pytest.raises(ValueError, match="max_steps"):
        agent(model).run("Hi", max_steps=0)
    with pytest.raises(ValueError, match="budget_ms"):
        agent(model).run("Hi", budget_ms=0)
    with pytest.raises(ValueError, match="max_revisions"):
        agent(model, max_revisions=-1)


# ---- the command line ----------------------------------------------------------------------


def test_the_command_runs_the_agent_and_prints_its_steps(monkeypatch, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from edge_reason.cli import agent as command
    from edge_reason.cli import main

    class ChatModel(ScriptedModel):
        chat_template = "{{ messages }}"

    model = ChatModel(call("calculator", expression="6 * 7"), answer("42"), {"verdict": "yes"})
    monkeypatch.setattr(command, "_load_engine", lambda path, quant: model)
    runner = CliRunner()
    result = runner.invoke(main, ["agent", str(tmp_path), "What is 6 * 7?", "--max-steps", "4"])
    assert result.exit_code == 0, result.output
    assert ' 1. calculator {"expression": "6 * 7"}' in result.output
    assert "answer: 42" in result.output and "\nverified\n" in result.output
    model.script = [json.dumps(call("calculator", expression="6 * 7")), json.dumps(answer("42"))]
    result = runner.invoke(
        main, ["agent", str(tmp_path), "What is 6 * 7?", "--json", "--no-review"]
    )
    data = json.loads(result.output)
    assert data["answer"] == "42" and [s["kind"] for s in data["steps"]] == ["tool", "answer"]
    (tmp_path / "notes.db").write_text("not a database")
    result = runner.invoke(
        main, ["agent", str(tmp_path), "Hi?", "--db", str(tmp_path / "notes.db")]
    )
    assert result.exit_code == 1 and "Error: " in result.output and "Traceback" not in result.output
    result = runner.invoke(main, ["agent", str(tmp_path), "  "])
    assert result.exit_code == 2 and "the question is empty" in result.output


def test_the_command_refuses_a_model_without_a_chat_template(monkeypatch, tmp_path) -> None:
    from click.testing import CliRunner

    from edge_reason.cli import agent as command
    from edge_reason.cli import main

    monkeypatch.setattr(command, "_load_engine", lambda path, quant: ScriptedModel())
    result = CliRunner().invoke(main, ["agent", str(tmp_path), "What is 6 * 7?"])
    assert result.exit_code == 1 and "has no chat template" in result.output


def test_no_revision_is_asked_for_when_no_step_is_left() -> None:
    model = ScriptedModel(call("calculator", expression="2 * 21"), answer("41"))
    result = agent(model).run("What is 2 * 21?", max_steps=2)
    assert result.stopped == "answer" and not result.revisions
    assert result.answer == "41" and not result.verified


def test_an_answer_rests_only_on_a_call_that_computed_from_all_the_goals_numbers() -> None:
    goal = "The hens lay 225 eggs a week. How many eggs in 4 weeks?"
    daily = [Observation("calculator", {"expression": "225 * 7"}, "1575", True)]
    check = check_answer(goal, "1575", daily, [])
    assert check.failure == "calculator(225 * 7) = 1575 leaves out the goal's 4"
    chained = [
        Observation("calculator", {"expression": "225 * 2"}, "450", True),
        Observation("calculator", {"expression": "450 * 2"}, "900", True),
    ]
    assert check_answer(goal.replace("4 weeks", "2 fortnights"), "900", chained, []).verified
    bare = [Observation("calculator", {"expression": "1000"}, "1000", True)]
    assert "comes from no tool result" in check_answer("How far?", "1000", bare, []).failure
    same_unit = [Observation("convert", {"value": 2.5, "from": "kg", "to": "kg"}, "2.5 kg", True)]
    assert not check_answer("How many grams are in 2.5 kg?", "2.5", same_unit, []).verified
    percent = [Observation("calculator", {"expression": "640 * 0.15"}, "96", True)]
    assert check_answer("What is 15% of 640?", "96", percent, []).verified


def test_the_command_refuses_an_encoder(tmp_path) -> None:
    from click.testing import CliRunner
    from helpers.bert_models import build_bert

    from edge_reason.cli import main

    folder = build_bert(tmp_path / "bert")
    result = CliRunner().invoke(main, ["agent", str(folder), "What is 6 * 7?"])
    assert result.exit_code == 1 and "is an encoder: it embeds text" in result.output
