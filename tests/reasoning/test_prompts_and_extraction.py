import json
import re
from pathlib import Path

import numpy as np
import pytest

from edge_reason.engine import PromptState
from edge_reason.reasoning.errors import DataFormatError, PromptFormatError
from edge_reason.reasoning.extract import extract_answer, normalize_answer
from edge_reason.reasoning.generation import answer_logprobs
from edge_reason.reasoning.prompts import BUILTIN_FORMATS, Exemplar, PromptFormat, choose_format


@pytest.mark.parametrize(
    ("text", "form", "answer"),
    [
        ("48/2 = <<48/2=24>>24\n#### 1,072", "number", "1072"),
        ("So she earned $10.\nThe answer is $10.", "number", "10"),
        ("Facts: 4.\nAnswer: hallway", "word", "hallway"),
        ("Facts : 4 . Answer : hallway", "word", "hallway"),  # word-level decoding
        ("Facts: 2 5.\nAnswer: football, milk", "word", "football,milk"),
        ("Answer : n , w", "word", "n,w"),
        ("Facts : 10 . Answer : 5 . Answer : bedroom", "word", "bedroom"),  # the last cue
        ("Final answer: New York City.", "line", "New York City"),
        ("The valve opens.\nkitchen", "word", "kitchen"),
        ("I am not sure what happens next in this story", "line", None),
        ("He answered the phone.", "line", None),
    ],
)
def test_extract_answer(text: str, form: str, answer: str | None) -> None:
    assert extract_answer(text, form) == answer


def test_normalize_answer_makes_equal_answers_equal() -> None:
    assert normalize_answer("72.0") == normalize_answer("$72") == normalize_answer("72")
    assert normalize_answer("Football, Milk.") == "football,milk"
    assert normalize_answer("1,000") == "1000"


def test_babi_format_numbers_story_lines_and_keeps_given_numbers() -> None:
    babi = BUILTIN_FORMATS["babi"]
    assert babi.render("Where is Mary?", "Mary went home.\nJohn left.") == (
        "1 Mary went home.\n2 John left.\nWhere is Mary?\n"
    )
    assert (
        babi.render("Where is Mary?", "4 Mary went home.") == "4 Mary went home.\nWhere is Mary?\n"
    )


def test_a_format_from_a_dict_with_exemplars_from_a_file(tmp_path: Path) -> None:
    shots = tmp_path / "shots.jsonl"
    shots.write_text(
        json.dumps({"question": "What is 2+2?", "answer": "2+2=<<2+2=4>>4\n#### 4"})
        + "\n"
        + json.dumps({"question": "What is 3*3?", "answer": "#### 9"})
        + "\n"
    )
    declared = {
        "name": "arith",
        "template": "Q: {question}\nA: ",
        "answer_form": "number",
        "exemplars": {"file": "shots.jsonl", "limit": 1},
    }
    (tmp_path / "format.json").write_text(json.dumps(declared))
    fmt = PromptFormat.from_file(tmp_path / "format.json")
    assert fmt.render("What is 5-1?") == (
        "Q: What is 2+2?\nA: 2+2=<<2+2=4>>4\n#### 4\n\nQ: What is 5-1?\nA: "
    )


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ({"name": "x", "shots": 3}, "unknown prompt format key(s) shots"),
        ({"name": "x", "template": "{question} {story}"}, "unknown field(s) story"),
        ({"name": "x", "answer_form": "essay"}, "answer_form must be one of"),
        ({"name": "x", "max_new_tokens": 0}, "max_new_tokens must be a positive integer"),
        ({"name": "x", "stop": [""]}, "'stop' must be non-empty text"),
        ({"name": "x", "exemplars": [{"question": "q"}]}, "exemplar 1: an exemplar needs"),
        ({"template": "{question}"}, "'name' must be non-empty text"),
    ],
)
def test_bad_format_declarations_are_refused(declared: dict, message: str) -> None:
    with pytest.raises((PromptFormatError, DataFormatError)) as raised:
        PromptFormat.from_dict(declared, "bundle.json")
    assert message in str(raised.value)
    assert str(raised.value).startswith("bundle.json")


def test_a_bad_exemplar_file_names_file_and_line(tmp_path: Path) -> None:
    shots = tmp_path / "shots.jsonl"
    shots.write_text('{"question": "q", "answer": "a"}\n{oops\n')
    with pytest.raises(DataFormatError, match=r"shots.jsonl:2: invalid JSON"):
        PromptFormat.from_dict({"name": "x", "exemplars": {"file": str(shots)}})


def test_choose_format_by_task_family() -> None:
    formats = dict(BUILTIN_FORMATS)
    assert choose_format("Where is Mary?", "Mary went home.", formats).name == "babi"
    assert choose_format("What is 3 + 4?", None, formats).name == "gsm8k"
    assert choose_format("Why is the sky blue?", None, formats).name == "qa"


def test_a_bundle_declares_its_prompt_format(fake_engine) -> None:
    from edge_reason import Reasoner
    from edge_reason.reasoning.errors import PromptFormatError

    engine = fake_engine(lambda *_: "")
    engine.path = "model-bundle"
    engine.manifest = {
        "prompt_formats": [
            {"name": "babi", "template": "{context}Q: {question}\n", "chain_cue": "Why:"}
        ]
    }
    declared = Reasoner(engine).formats["babi"]
    assert declared.template == "{context}Q: {question}\n" and declared.chain_cue == "Why:"
    engine.manifest = {"prompt_formats": [{"name": "babi", "tempalte": "x"}]}
    with pytest.raises(PromptFormatError, match=r"bundle\.json: prompt_formats\[0\].*tempalte"):
        Reasoner(engine)


def test_the_model_is_asked_only_what_its_bundle_declares(fake_engine) -> None:
    from edge_reason import Reasoner

    chain = (
        "[1] has 1 digits.\n[2] has 1 digits.\n[1] + [2] ; A=[] ; C=0 ; 1+2+0=3 ; A->3 ; C->0\n"
        "[] + [] ; A=[3] C=0 ; END\n#### 3"
    )
    engine = fake_engine(lambda prompt, written, *_: chain[len(written) :], peak="3")
    engine.path = "model-bundle"
    addition = BUILTIN_FORMATS["gsm8k"].to_dict() | {"question_pattern": r"\d+\+\d+"}
    engine.manifest = {"prompt_formats": [addition]}
    reasoner = Reasoner(engine, rules=["arithmetic"])
    asked = reasoner.ask("1+2", strategy="cot")
    assert (asked.answer, asked.source) == ("3", "model")
    calls = len(engine.generations)
    for question in ("What is 17*23 + 4?", "Who painted the Mona Lisa?"):
        answer = reasoner.ask(question, strategy="cot")
        assert answer.source != "model" and "not trained for this question" in answer.reason
    assert len(engine.generations) == calls  # only "1+2" reached the model
    with pytest.raises(PromptFormatError, match="question_pattern"):
        PromptFormat(name="x", question_pattern="(")
    assert PromptFormat(name="x").accepts("any question at all")


@pytest.mark.parametrize("name", sorted(BUILTIN_FORMATS))
def test_a_format_declaration_reads_back_as_the_same_format(name: str) -> None:
    original = BUILTIN_FORMATS[name]
    with_exemplar = PromptFormat(
        **{**vars(original), "exemplars": (Exemplar("Q?", "A.", "1 ctx"), Exemplar("R?", "B."))}
    )
    for fmt in (original, with_exemplar):
        declared = json.loads(json.dumps(fmt.to_dict()))  # as a bundle.json carries it
        assert PromptFormat.from_dict(declared) == fmt


class _SpaceLedTokens:
    """A tokenizer whose tokens carry their leading space (" 1", "3"), and a "model" whose
    logits always favour " 1"."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {" 1": 0}

    def encode(self, text: str) -> list[int]:
        return [self.vocab.setdefault(t, len(self.vocab)) for t in re.findall(r" ?[^ ]| $", text)]

    def prefill(self, ids, *, prefix: PromptState) -> PromptState:
        logits = np.zeros(64, dtype=np.float32)
        logits[0] = 8.0
        return PromptState(prefix.token_ids + tuple(ids), logits)


def test_the_answer_logprobs_are_read_from_a_space_led_token() -> None:
    engine = _SpaceLedTokens()
    state = PromptState((), np.zeros(64, dtype=np.float32))
    logprobs = answer_logprobs(engine, state, "8+2+0=10\n#### 1300", "1300")
    # " 1" is the favoured token; "3", "0", "0" each have the flat share that is left
    favoured, flat = np.exp(8) / (np.exp(8) + 63), 1 / (np.exp(8) + 63)
    assert logprobs == pytest.approx(tuple(np.log([favoured, flat, flat, flat])))
