"""The answer's form (issue 25): the grammar of what may follow a chain's answer marker, on
the shipped model. Constrained chains parse even when the logits are pushed toward garbage,
greedy chains that ended well-formed are token-identical with and without the form, and a
chat model's reasoning (no form) is unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.chat_models import SPECIAL_TOKENS, tokenizer_config
from helpers.hf_models import build_model, train_tokenizer

from edge_reason.default_model import load_default_engine
from edge_reason.engine import Engine, PromptState
from edge_reason.reasoning.answer_constraint import (
    FAMILY_ANSWERS,
    AnswerConstraint,
    answer_words,
    plan_answer,
)
from edge_reason.reasoning.chat_prompts import chat_formats
from edge_reason.reasoning.extract import extract_answer
from edge_reason.reasoning.generation import ChainGenerator
from edge_reason.reasoning.policy import TokenRates
from edge_reason.reasoning.prompts import BUILTIN_FORMATS
from edge_reason.reasoning.reasoner import Reasoner
from edge_reason.reasoning.search import ChainSearch
from edge_reason.reasoning.tools import ToolRegistry

STORIES = [  # bAbI-shaped questions of several families, in the shipped model's words
    ("Where is Mary?", "1 Mary moved to the bathroom.\n2 John went to the hallway."),
    ("What is Daniel carrying?", "1 Daniel took the apple there.\n2 Daniel went to the office."),
    ("How many objects is Sandra carrying?", "1 Sandra got the milk there."),
    ("Is John in the kitchen?", "1 John travelled to the garden."),
    ("What is Gertrude afraid of?", "1 Wolves are afraid of mice.\n2 Gertrude is a wolf."),
    (
        "How do you go from the hallway to the kitchen?",
        "1 The office is east of the hallway.\n2 The kitchen is north of the office.\n"
        "3 The garden is west of the bedroom.\n4 The office is west of the garden.",
    ),
]
ADDITIONS = ["234+678", "45+67", "7+8", "1234+5678"]


@pytest.fixture(scope="module")
def engine() -> Engine:
    loaded = load_default_engine(threads=1)
    assert loaded is not None, "the package ships its default model: the installation is broken"
    return loaded


@pytest.fixture(scope="module")
def reasoner(engine: Engine) -> Reasoner:
    return Reasoner(engine)


def questions(reasoner: Reasoner):
    for question, context in [*STORIES, *((a, None) for a in ADDITIONS)]:
        prompt_format = reasoner.formats["babi" if context else "gsm8k"]
        form = plan_answer(prompt_format, question, context)
        assert form is not None
        yield prompt_format, prompt_format.render(question, context), form


def greedy(engine, reasoner: Reasoner, prompt: str, prompt_format, form):
    """The greedy chain as the direct strategy draws it, and as cot does (the search)."""
    generator = ChainGenerator(engine, reasoner.tools, TokenRates(), form)
    state = generator.prefill(prompt + prompt_format.chain_cue)
    options = {"max_new_tokens": prompt_format.max_new_tokens, "stop": prompt_format.stop}
    drawn = generator.generate(state, temperature=0.0, seed=None, **options)
    searched = ChainSearch(generator, state, **options).next()
    return drawn, searched


# ---- the grammar ------------------------------------------------------------------------


def test_the_plan_gives_a_form_only_where_the_format_declares_a_marker(engine: Engine) -> None:
    story = "1 Wolves are afraid of mice.\n2 Gertrude is a wolf."
    words = plan_answer(BUILTIN_FORMATS["babi"], "What is Gertrude afraid of?", story)
    assert words is not None and words.marker == "Answer:"
    # the story's words as written, in lower case and singular; the family's answers
    assert {"Gertrude", "gertrude", "mice", "mouse", "wolves", "wolf"} <= set(words.words)
    assert set(FAMILY_ANSWERS["babi"]) <= set(words.words)
    assert "1" not in words.words and "2" not in words.words  # line numbers are no words
    assert plan_answer(BUILTIN_FORMATS["gsm8k"], "12+5", None) == AnswerConstraint("####")
    assert plan_answer(BUILTIN_FORMATS["qa"], "Why?", None) is None  # a line: no form
    for chat in chat_formats(engine).values():  # a chat model's answers have none
        assert plan_answer(chat, "What is 2+2?", story) is None
    assert "answer" not in answer_words("Is the answer yes?", "1 The answer is here.")


@pytest.mark.parametrize(
    ("text", "finished"),
    [
        ("Facts: 1.\nAnswer: mouse", True),
        ("Facts: 1.\nAnswer: mouse,wolf", True),
        ("Facts: 1.\nAnswer: mouse.", False),
        ("Facts: 1.\nAnswer: cheese", False),
        ("Facts: 1.\nAnswer:", False),
        ("Facts: 1.", False),
    ],
)
def test_a_finished_word_chain_ends_with_its_marker_and_a_word(text: str, finished) -> None:
    form = AnswerConstraint("Answer:", ("mouse", "wolf"))
    assert form.finished(text) is finished


def test_the_grammar_continues_what_is_written(engine: Engine) -> None:
    """A direct cue, a repaired answer or a marker begun at a tool pause is taken up where
    it stands (the matcher is fed the continuation's tokens, the end last)."""
    words = AnswerConstraint("Answer:", ("apple", "football", "n", "w", "no"))
    number = AnswerConstraint("####")

    def accepts(form: AnswerConstraint, written: str, more: str, close: bool = False) -> bool:
        processor = engine.grammar_processor(form.response_format(written, close=close))
        ids = engine.encode(more)
        logits = np.zeros(engine.config.vocab_size, dtype=np.float32)
        for index in range(len(ids) + 1):
            logits[:] = 0.0
            processor([0, *ids[:index]], logits)
            token = ids[index] if index < len(ids) else min(engine.eos_token_ids)
            if not np.isfinite(logits[token]):
                return False
        return True

    assert accepts(words, "", "Facts: 1 2.\nAnswer: apple,football")
    assert accepts(words, "Facts: 1.\nAnswer", ": n,w")
    assert accepts(words, "Facts: 1.\nAnswer: apple,", "football")
    assert not accepts(words, "", "Facts: 1.\nAnswer: hallway")  # not a word of the form
    assert not accepts(words, "", "Facts: 1.\nAnswer: no.")  # nothing after the answer
    assert not accepts(words, "", "Facts: 1.")  # no end before the answer
    assert accepts(number, "#### ", "912")  # the direct cue
    # a model that writes its scratchpad after the direct cue ends it with its own marker
    assert accepts(number, "#### ", "[2] has 1 digits.\n#### 2")
    assert accepts(number, "#### 9", "12") and accepts(number, "#### 912", "")
    assert not accepts(number, "", "#### 9\n#### 5")  # the chain ends at its first marker
    assert accepts(number, "[1] + ", "#### 5", close=True)
    assert not accepts(number, "[1] + ", "[2] + #### 5", close=True)  # closing: the marker now


# ---- the model ------------------------------------------------------------------------


def test_greedy_chains_that_ended_well_formed_are_token_identical(
    engine: Engine, reasoner: Reasoner
) -> None:
    calls: list[tuple[int, ...]] = []
    recording = _Recording(engine, calls)
    for prompt_format, prompt, form in questions(reasoner):
        chains = {}
        for constrained in (None, form):
            calls.clear()
            drawn, searched = greedy(recording, reasoner, prompt, prompt_format, constrained)
            chains[constrained is None] = (drawn.text, tuple(calls), searched.text, searched.tokens)
        free, constrained = chains[True], chains[False]
        assert form.finished(free[0]) and form.finished(free[2]), free
        assert free == constrained


def test_constrained_chains_parse_when_the_logits_push_toward_garbage(
    engine: Engine, reasoner: Reasoner
) -> None:
    """After the marker the logits favour punctuation, a newline and the end; before it the
    end itself: without the form the answers do not parse, with it they all do."""
    garbage = [engine.encode(piece)[-1] for piece in ("?", ".", "\n", ";", "]")]
    pushed = _Pushed(engine, garbage)
    parsed = {True: 0, False: 0}
    for prompt_format, prompt, form in questions(reasoner):
        for constrained in (False, True):
            drawn, searched = greedy(
                pushed, reasoner, prompt, prompt_format, form if constrained else None
            )
            for chain in (drawn, searched):
                answer = extract_answer(chain.text, prompt_format.answer_form)
                parsed[constrained] += answer is not None
                if constrained:
                    assert answer is not None, chain.text
                    assert form.finished(chain.text), chain.text
                    if form.words is not None:
                        assert set(answer.split(",")) <= set(form.words)
    total = 2 * (len(STORIES) + len(ADDITIONS))
    assert parsed == {True: total, False: parsed[False]} and parsed[False] < total // 2


def test_the_reasoner_answers_in_the_form(engine: Engine) -> None:
    """Every strategy's chains are constrained: a pushed model's answers still parse."""
    garbage = [engine.encode(piece)[-1] for piece in ("?", ".", "\n")]
    reasoner = Reasoner(_Pushed(engine, garbage), rules=[], tools=ToolRegistry())
    for question, context in [STORIES[0], ("234+678", None)]:
        for strategy in ("direct", "cot", "self_consistency"):
            answer = reasoner.ask(question, context=context, strategy=strategy, samples=3)
            assert answer.source == "model" and answer.answer is not None, answer


# ---- a chat model ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def chat_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    import json

    folder = build_model(
        tmp_path_factory.mktemp("chat") / "qwen3", "qwen3", max_position_embeddings=2048
    )
    train_tokenizer(folder / "tokenizer.json", special_tokens=SPECIAL_TOKENS)
    config = tokenizer_config("smollm2")
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return Engine.load(folder, threads=1)


def test_a_chat_models_reasoning_is_not_constrained(chat_engine: Engine) -> None:
    calls: list[dict] = []

    class Watched(_Delegate):
        def generate(self, *args, **kwargs):
            calls.append(kwargs)
            return self.engine.generate(*args, **kwargs)

    story = "1 Mary moved to the hallway."
    watched = Reasoner(Watched(chat_engine), rules=[])
    plain = Reasoner(chat_engine, rules=[])
    for question, context in [("Where is Mary?", story), ("What is 12+30?", None)]:
        for strategy in ("direct", "cot", "self_consistency"):
            seen = watched.ask(question, context=context, strategy=strategy, samples=2)
            again = plain.ask(question, context=context, strategy=strategy, samples=2)
            assert (seen.answer, seen.tokens, seen.steps) == (
                again.answer,
                again.tokens,
                again.steps,
            )
    assert calls and all("response_format" not in kwargs for kwargs in calls)


# ---- stand-ins ----------------------------------------------------------------------------


class _Delegate:
    """The engine, with some of its methods replaced by a subclass."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __getattr__(self, name: str):
        return getattr(self.engine, name)


class _Recording(_Delegate):
    """Records the token ids of every generate call."""

    def __init__(self, engine: Engine, calls: list) -> None:
        super().__init__(engine)
        self.calls = calls

    def generate(self, *args, **kwargs):
        result = self.engine.generate(*args, **kwargs)
        self.calls.append(tuple(result.token_ids))
        return result


class _Pushed(_Delegate):
    """The engine with its logits pushed toward ``garbage`` tokens after a marker ("####"
    or "Answer:") and toward the end before one: a generate call gets a logit processor that
    does it (the answer's grammar, last, still masks), and a prefilled state's logits are
    pushed (as the chain search reads them)."""

    def __init__(self, engine: Engine, garbage: list[int]) -> None:
        super().__init__(engine)
        self.garbage = garbage
        self._marked = {engine.encode("Answer")[-1], engine.encode("#")[-1]}

    def _push(self, token_ids, logits: np.ndarray) -> None:
        recent = token_ids[-6:]
        if any(t in self._marked for t in recent):
            logits[self.garbage] += 50.0
        else:
            logits[list(self.engine.eos_token_ids)] += 50.0

    def generate(self, state, *args, logit_processors=(), **kwargs):
        return self.engine.generate(
            state, *args, logit_processors=[*logit_processors, self._push], **kwargs
        )

    def prefill(self, prompt, *, prefix=None) -> PromptState:
        state = self.engine.prefill(prompt, prefix=prefix)
        logits = np.array(state.logits, dtype=np.float32, copy=True)
        self._push(state.token_ids, logits)
        return PromptState(state.token_ids, logits)
