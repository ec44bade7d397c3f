"""The Reasoner's tools offered to a chat model as chat tools (reasoning/chat_tools.py).

A scripted chat model (ChatScript below: characters are tokens, a SmolLM2-style template
that shows no tools, so they are offered in the system message as the real one's are)
checks the loop: a call runs through the registry and its result reaches the next prompt
and the chain; a failing tool is answered with its error; the rounds are bounded; nothing is
offered without tools. The real SmolLM2-135M-Instruct closes the file.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers.real_models import smollm2_gguf

from edge_reason import Reasoner
from edge_reason.engine import Generation, GenerationStats
from edge_reason.reasoning.answer import StepStatus
from edge_reason.reasoning.chat_prompts import chat_formats
from edge_reason.reasoning.chat_tools import MAX_TOOL_ROUNDS, SEARCH_NOTES, ChatTools, call_line
from edge_reason.reasoning.errors import ToolArgumentError, ToolError
from edge_reason.reasoning.policy import TokenRates
from edge_reason.reasoning.retrieval import DocumentStore
from edge_reason.reasoning.tools import CALCULATOR, Tool, ToolRegistry
from edge_reason.tool_calls import ToolCall, ToolCallSyntax, check_tools

QUESTION = "A box holds 1234 nails. How many nails are in 5678 boxes?"


def _chatml(messages, tools=None, add_generation_prompt=True, **_) -> str:
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return turns + ("<|im_start|>assistant\n" if add_generation_prompt else "")


class ChatScript:
    """A chat model whose replies come from ``reply(messages, tool_choice) -> (text,
    [(name, arguments)])``; it records every chat call. Text generated outside chat (a
    repaired chain's continuation) is ``continuation``."""

    chat_template = "{{ chatml }}"  # a template: what is_chat_model looks for
    eos_token_ids = frozenset({0})

    def __init__(self, reply, continuation: str = "") -> None:
        self.reply = reply
        self.continuation = continuation
        self.chats: list[dict] = []
        self.generated: list[str] = []
        self.prefilled: list[str] = []
        self.tokens_evaluated = 0
        self.tool_syntax = ToolCallSyntax("hermes", False, False, False)  # SmolLM2's

    def info(self) -> dict[str, int]:
        return {"max_context": 100_000}

    def encode(self, text: str) -> list[int]:
        return [ord(c) % 256 for c in text]

    def decode(self, ids) -> str:
        return "".join(chr(i) for i in ids)

    def apply_chat_template(self, messages, **options) -> str:
        return _chatml(messages, **options)

    @property
    def tool_call_syntax(self) -> ToolCallSyntax:
        return self.tool_syntax

    def prefill(self, prompt, *, prefix=None):
        import numpy as np

        from edge_reason.engine import PromptState

        ids = self.encode(prompt) if isinstance(prompt, str) else list(prompt)
        before = prefix.token_ids if prefix is not None else ()
        if prefix is None:
            self.prefilled.append(self.decode(ids))
        logits = np.zeros(256, dtype=np.float32)
        logits[ord("7")] = 8.0  # sure of the answer's first digit
        return PromptState(tuple(before) + tuple(ids), logits)

    def _generation(self, text: str, finish: str, calls=()) -> Generation:
        ids = self.encode(text) or [0]
        stats = GenerationStats(1, len(ids), 0.001, 0.001 * len(ids), 1)
        return Generation(text, ids, stats, finish, tool_calls=calls)

    def generate(self, state, **options) -> Generation:
        self.generated.append(self.decode(state.token_ids))
        return self._generation(self.continuation, "eos")

    def chat(self, messages, *, tools=None, tool_choice="auto", **options) -> Generation:
        shown = self.tool_syntax.prompt_messages(messages, check_tools(tools or []))
        prompt = _chatml(shown)
        self.chats.append(
            {
                "messages": [dict(m) for m in messages],
                "prompt": prompt,
                "tools": [t["function"]["name"] for t in tools or []],
                "tool_choice": tool_choice,
                "options": options,
            }
        )
        text, calls = self.reply(messages, tool_choice)
        if tool_choice == "none":
            calls = []
        made = [ToolCall(name, arguments) for name, arguments in calls]
        return self._generation(text, "tool_calls" if made else "eos", made)


def _tool_results(messages) -> list[dict]:
    return [m for m in messages if m["role"] == "tool"]


def calls_the_calculator_once(messages, tool_choice):
    results = _tool_results(messages)
    if not results:
        return "Let me compute.", [("calculator", {"expression": "1234 * 5678"})]
    return f"1234 * 5678 = {results[-1]['content']}\nAnswer: {results[-1]['content']}", []


def test_a_call_runs_and_its_result_reaches_the_next_prompt_and_the_chain() -> None:
    engine = ChatScript(calls_the_calculator_once)
    answer = Reasoner(engine, rules=[], tool_choice="auto").ask(QUESTION, strategy="cot")
    assert answer.answer == "7006652" and answer.source == "model"
    first, second = engine.chats
    assert first["tools"] == ["calculator", "convert"] and first["tool_choice"] == "auto"
    # the assistant's call and the tool's result, in the conversation and its prompt
    call, result = second["messages"][-2:]
    assert call["role"] == "assistant" and call["content"] == "Let me compute."
    assert json.loads(call["tool_calls"][0]["function"]["arguments"]) == {
        "expression": "1234 * 5678"
    }
    assert result == {
        "role": "tool",
        "tool_call_id": call["tool_calls"][0]["id"],
        "name": "calculator",
        "content": "7006652",
    }
    assert "<tool_response>\n7006652\n</tool_response>" in second["prompt"]
    # the chain: the model's text, the call as the equation it computed (checked), the rest
    steps = [(s.text, s.status) for s in answer.steps]
    assert steps[:2] == [
        ("Let me compute.", StepStatus.UNCHECKED),
        ("calculator(1234 * 5678) = 7006652", StepStatus.VERIFIED),
    ]
    assert ("1234 * 5678 = 7006652", StepStatus.VERIFIED) in steps


def test_the_tools_are_offered_in_the_prompt_the_strategy_prefills() -> None:
    engine = ChatScript(calls_the_calculator_once)
    reasoner = Reasoner(engine, rules=[], tool_choice="auto")
    reasoner.ask(QUESTION, strategy="cot")
    # the system message lists the tools, as the engine shows them to a template without
    # any; the strategy prefilled the prompt that chat runs
    assert '"name": "calculator"' in engine.chats[0]["prompt"]
    assert engine.prefilled[0] == engine.chats[0]["prompt"]
    assert engine.chats[0]["messages"][0]["content"].startswith("Solve the problem")


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (("calculator", {"expression": "12 / 0"}), "division by zero"),
        (("calculator", {"expression": "12 apples"}), "does not match"),  # ToolArgumentError
        (("calculator", {"expr": "12 * 7"}), "unexpected argument(s) expr"),
        (("weather", {"city": "Oslo"}), "no tool named 'weather'"),
    ],
)
def test_a_failing_tool_is_answered_with_its_error(call, error) -> None:
    def retries(messages, tool_choice):
        results = _tool_results(messages)
        if not results:
            return "", [call]
        if len(results) == 1:
            return "", [("calculator", {"expression": "12 * 7"})]
        return "Answer: 84", []

    engine = ChatScript(retries)
    answer = Reasoner(engine, rules=[], tool_choice="auto").ask(
        "What are 12 boxes of 7?", strategy="cot"
    )
    failed, computed = _tool_results(engine.chats[-1]["messages"])
    assert failed["content"].startswith("error: ") and error in failed["content"]
    assert computed["content"] == "84" and answer.answer == "84"
    line = answer.steps[0]
    # the error is in the chain, and no "=" of the refused input is checked as arithmetic
    assert line.text.startswith(f"{call[0]}(") and "failed" in line.text
    assert "=" not in line.text and line.status is StepStatus.UNCHECKED
    assert answer.steps[1].text == "calculator(12 * 7) = 84"


def test_tool_errors_never_leave_the_reasoner() -> None:
    def broken(**_):
        raise ZeroDivisionError("the sensor is unplugged")

    tools = ToolRegistry()
    tools.register(Tool("sensor", "Read the sensor", broken, {"type": "object"}))

    def reads(messages, choice):
        return ("", [("sensor", {})]) if choice != "none" else ("Answer: 3", [])

    engine = ChatScript(reads)
    answer = Reasoner(engine, rules=[], tools=tools, tool_choice="auto").ask(
        "What does the sensor read?"
    )
    assert answer.answer is not None
    results = _tool_results(engine.chats[-1]["messages"])
    assert results and all("the sensor is unplugged" in r["content"] for r in results)


def test_the_rounds_are_bounded_and_the_last_reply_may_not_call() -> None:
    engine = ChatScript(lambda messages, choice: ("", [("calculator", {"expression": "1 + 1"})]))
    answer = Reasoner(engine, rules=[], tool_choice="required").ask(QUESTION, strategy="cot")
    choices = [chat["tool_choice"] for chat in engine.chats]
    # required applies to the first reply, then auto, then a reply without calls
    assert choices == ["required"] + ["auto"] * (MAX_TOOL_ROUNDS - 1) + ["none"]
    assert len(_tool_results(engine.chats[-1]["messages"])) == MAX_TOOL_ROUNDS
    assert [s.text for s in answer.steps] == ["calculator(1 + 1) = 2"] * MAX_TOOL_ROUNDS


def test_the_rounds_share_the_chains_token_budget() -> None:
    def wordy(messages, choice):
        return "x" * 100, [("calculator", {"expression": "2 * 3"})]

    engine = ChatScript(wordy)
    Reasoner(engine, rules=[], tool_choice="auto").ask(QUESTION, strategy="cot")
    budgets = [chat["options"]["max_new_tokens"] for chat in engine.chats]
    # gsm8k chat prompts allow 256 new tokens: 100 per reply, then what is left
    assert budgets == [256, 156, 56]


def test_a_repeated_call_in_one_reply_runs_once() -> None:
    def repeats(messages, choice):
        if _tool_results(messages):
            return "Answer: 6", []
        return "", [("calculator", {"expression": "2 * 3"})] * 4

    engine = ChatScript(repeats)
    answer = Reasoner(engine, rules=[], tool_choice="auto").ask(QUESTION, strategy="cot")
    assert len(_tool_results(engine.chats[-1]["messages"])) == 1 and answer.answer == "6"


@pytest.mark.parametrize("options", [{"tools": ToolRegistry()}, {"tool_choice": "none"}])
def test_no_tools_offers_none(options) -> None:
    engine = ChatScript(calls_the_calculator_once, continuation="12 * 7 = 84\nAnswer: 84")
    answer = Reasoner(engine, rules=[], **{"tool_choice": "auto", **options}).ask(
        "What are 12 boxes of 7?", strategy="cot"
    )
    assert engine.chats == []  # the chain is generated as before, without chat tools
    assert "<tools>" not in engine.generated[0] and answer.answer == "84"


def test_tool_choice_names_a_tool_or_is_refused() -> None:
    engine = ChatScript(calls_the_calculator_once)
    Reasoner(engine, rules=[], tool_choice="calculator").ask(QUESTION, strategy="cot")
    assert engine.chats[0]["tool_choice"] == {
        "type": "function",
        "function": {"name": "calculator"},
    }
    with pytest.raises(ValueError, match="tool_choice must be one of auto, required, none"):
        Reasoner(engine, tool_choice="search_notes")  # only with a retriever


NOTES = {
    "valve.md": "The greenhouse valve opens when soil moisture drops below 30%.",
    "fan.md": "The greenhouse fan runs from 10:00 to 16:00.",
    "door.md": "The greenhouse door is locked at night.",
    "pump.md": "The pump was serviced on 12 March by Ana.",
}


def test_search_notes_results_are_numbered_after_the_prompts_and_cited(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    for name, text in NOTES.items():
        (tmp_path / "notes" / name).write_text(text)
    store = DocumentStore(tmp_path / "notes.db")
    store.index_folder(tmp_path / "notes")

    def searches(messages, choice):
        results = _tool_results(messages)
        if not results:
            return "", [(SEARCH_NOTES, {"query": "pump serviced"})]
        return "The pump was serviced on 12 March by Ana [4].\nAnswer: 12 March by Ana", []

    engine = ChatScript(searches)
    reasoner = Reasoner(engine, rules=[], retriever=store, tool_choice="auto")
    answer = reasoner.ask("Who looked after the greenhouse?")
    assert SEARCH_NOTES in engine.chats[0]["tools"]
    prompt_notes = engine.chats[0]["messages"][1]["content"]
    assert "[3]" in prompt_notes and "[4]" not in prompt_notes and "pump" not in prompt_notes
    (found,) = _tool_results(engine.chats[-1]["messages"])
    pump = tmp_path / "notes" / "pump.md"
    assert found["content"] == f"[4] {pump} passage 1: {NOTES['pump.md']}"
    assert answer.answer == "12 March by Ana"
    assert [c.source for c in answer.citations] == [str(pump)] and answer.citations[0].supported
    step = answer.steps[0]
    # the chain holds what the search returned; the tool's [4] is no citation of the chain's
    assert step.text == 'search_notes({"query": "pump serviced"}) = #4 ' + found["content"][4:]
    store.close()


def test_call_lines() -> None:
    assert call_line("calculator", {"expression": "12 *\n 7"}, "84", True) == (
        "calculator(12 * 7) = 84"
    )
    assert call_line("search_notes", {"query": "q"}, "[4] a.md passage 1: x", True) == (
        'search_notes({"query": "q"}) = #4 a.md passage 1: x'
    )
    assert (
        call_line("convert", {"value": 5, "from": "km", "to": "m"}, "5000 m", True)
        == 'convert({"value": 5, "from": "km", "to": "m"}) = 5000 m'
    )
    failed = call_line("calculator", {"expression": "2 + 2 = 5"}, "error: bad '2 + 2 = 5'", False)
    assert failed == "calculator(2 + 2 ＝ 5) failed: bad '2 + 2 ＝ 5'"


def test_tools_as_chat_functions() -> None:
    listed = {
        "type": "object",
        "properties": {"ids": {"type": "array", "items": {"type": "integer"}, "maxLength": 3}},
    }
    tool = Tool("pick", "Pick rows", lambda ids: ids, listed)
    function = tool.as_function()
    assert function == {
        "type": "function",
        "function": {
            "name": "pick",
            "description": "Pick rows",
            "parameters": {
                "type": "object",
                "properties": {
                    "ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 3}
                },
            },
        },
    }
    assert [f["function"]["name"] for f in ToolRegistry.default().functions()] == [
        "calculator",
        "convert",
    ]
    assert ToolRegistry().functions() == []
    # the calculator takes only what arithmetic reads: a call cannot carry "= 747" or words
    with pytest.raises(ToolArgumentError, match="does not match"):
        CALCULATOR({"expression": "279 + 348 = 747"})
    with pytest.raises(ToolError, match="'pattern' is not a regular expression"):
        bad = {"type": "object", "properties": {"s": {"type": "string", "pattern": "("}}}
        Tool("bad", "Bad", print, bad)


# ---- the real model ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2():
    from edge_reason.engine import Engine

    return Engine.load(smollm2_gguf(), quant="f32")


def test_smollm2_forced_to_call_reaches_the_calculator(smollm2) -> None:
    """Measured: under "auto" SmolLM2-135M does not call (0 of 20 word problems, see
    docs/ask-your-notes.md); forced, its first reply is a calculator call (constrained to the
    tool's schema), whose result the chain holds as a checked equation."""
    # no rule packs: the model's chain is the answer's, whatever its confidence
    reasoner = Reasoner(smollm2, rules=[], tool_choice="required")
    answer = reasoner.ask("What is 1234 * 5678?", strategy="cot")
    called = [s for s in answer.steps if s.text.startswith("calculator(")]
    assert called and called[0].status is StepStatus.VERIFIED
    assert " = " in called[0].text


def test_no_round_starts_after_the_deadline() -> None:
    engine = ChatScript(calls_the_calculator_once)
    tools = ChatTools(engine, ToolRegistry.default())
    prompt = tools.offer(chat_formats(engine)["gsm8k"])
    generator = tools.generator(TokenRates(), ())
    state = generator.prefill(prompt.render(QUESTION))
    options = {"max_new_tokens": 256, "temperature": 0.0, "seed": None, "stop": ()}
    late = generator.generate(state, deadline=time.perf_counter() - 1, **options)
    assert late.text == "" and engine.chats == []
    on_time = generator.generate(state, deadline=time.perf_counter() + 60, **options)
    assert on_time.tool_calls == 1 and "calculator(1234 * 5678) = 7006652" in on_time.text
    assert 0 < engine.chats[0]["options"]["time_limit_s"] <= 60


def test_unset_the_tools_are_offered_only_to_a_model_whose_template_shows_them() -> None:
    """SmolLM2's template shows no tools: by default it is not offered them (offered in a
    system message, it never called one and answered worse); a template that shows tools
    gets them under "auto"."""
    engine = ChatScript(calls_the_calculator_once)
    Reasoner(engine, rules=[]).ask(QUESTION, strategy="cot")
    assert engine.chats == []
    engine.tool_syntax = ToolCallSyntax("hermes", False, True, True)  # Qwen2.5's
    Reasoner(engine, rules=[]).ask(QUESTION, strategy="cot")
    assert engine.chats and engine.chats[0]["tool_choice"] == "auto"
