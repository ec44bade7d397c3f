"""A chat model on a scripted engine: chat prompts, answers from prose, checked note citations,
notes fitted to the context, and retrieval that finds the note a question is about."""

import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge_reason import Reasoner
from edge_reason.cli import main
from edge_reason.reasoning.answer import StepStatus
from edge_reason.reasoning.chat_prompts import ChatPrompt
from edge_reason.reasoning.errors import ContextLengthError
from edge_reason.reasoning.extract import extract_answer
from edge_reason.reasoning.note_citations import cite_notes
from edge_reason.reasoning.notes_budget import fit_notes
from edge_reason.reasoning.prompts import PromptFormat
from edge_reason.reasoning.retrieval import DocumentStore, Passage

NOTES = {
    "irrigation.md": "The greenhouse valve opens when soil moisture drops below 30%.",
    "ventilation.md": "The ventilation fan runs from 10:00 to 16:00.",
    "maintenance.md": "Maintenance: the water filter is replaced every 3 months.\n\n"
    "The pump was serviced on 12 March by Ana.",
}


def chat_engine(fake_engine, write, max_context: int = 100_000):
    """A scripted engine with a chat template: messages become <|role|>content lines."""

    class ChatEngine(fake_engine):
        chat_template = "{% for m in messages %}...{% endfor %}"

        def info(self) -> dict[str, int]:
            return {"max_context": max_context}

        def apply_chat_template(self, messages, *, add_generation_prompt=True, **_):
            turns = "".join(f"<|{m['role']}|>{m['content']}\n" for m in messages)
            return turns + ("<|assistant|>" if add_generation_prompt else "")

    return ChatEngine(write, peak="T")


@pytest.fixture
def store(tmp_path: Path) -> DocumentStore:
    for name, text in NOTES.items():
        (tmp_path / "notes").mkdir(exist_ok=True)
        (tmp_path / "notes" / name).write_text(text)
    with DocumentStore(tmp_path / "notes.db") as store:
        store.index_folder(tmp_path / "notes")
        yield store


def test_retrieval_matches_stems_and_skips_stop_words(store: DocumentStore) -> None:
    # "run" must find "runs"; "when", "does", "the" must not rank the valve note first
    assert store.search("When does the fan run?")[0].source.endswith("ventilation.md")
    assert store.search("When does the valve open?")[0].source.endswith("irrigation.md")
    assert store.search("Who serviced the pump?")[0].source.endswith("maintenance.md")
    assert store.search("the") != []  # a query of stop words alone still searches


def test_a_store_indexed_before_stemming_is_rebuilt_stemmed(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "old.db") as old:
        old.execute(
            "CREATE VIRTUAL TABLE passages USING fts5(source UNINDEXED, number UNINDEXED, text)"
        )
        old.execute("INSERT INTO passages VALUES ('fan.md', 1, ?)", (NOTES["ventilation.md"],))
    old.close()
    with DocumentStore(tmp_path / "old.db") as store:
        assert len(store) == 1
        assert store.search("When does the fan run?")[0].ref == "passage 1"
        assert store.search("run")[0].source == "fan.md"  # "runs" is found by its stem


def test_a_chat_model_is_asked_in_chat_messages_with_numbered_notes(
    fake_engine, store: DocumentStore
) -> None:
    def model(prompt, written, temperature, seed):
        return "The valve opens when moisture drops below 30% [1].\nAnswer: below 30% moisture [1]"

    engine = chat_engine(fake_engine, model)
    answer = Reasoner(engine, retriever=store).ask(
        "When does the greenhouse valve open?", strategy="cot"
    )
    prompt = engine.prompts[0]
    assert prompt.startswith("<|system|>") and "cite the ones you use as [1], [2]" in prompt
    assert "<|user|>Notes:\n[1] The greenhouse valve opens" in prompt
    assert prompt.endswith("Question: When does the greenhouse valve open?\n<|assistant|>")
    assert answer.answer == "below 30% moisture" and answer.source == "model"
    assert [s.status for s in answer.steps] == [StepStatus.VERIFIED, StepStatus.VERIFIED]
    assert "note [1] supports the answer" in answer.steps[1].detail
    (cited,) = answer.citations
    assert cited.source.endswith("irrigation.md") and cited.supported and cited.mark == "✓"


def test_a_citation_of_a_note_that_does_not_support_the_answer_fails(
    fake_engine, store: DocumentStore
) -> None:
    def model(prompt, written, temperature, seed):
        fan = re.search(r"\[(\d)\] The ventilation fan", prompt).group(1)
        return f"The fan decides it [{fan}].\nAnswer: below 30% moisture [{fan}]"

    engine = chat_engine(fake_engine, model)
    reasoner = Reasoner(engine, retriever=store)
    answer = reasoner.ask("When does the greenhouse valve or the fan open?", strategy="direct")
    assert all(step.status == StepStatus.FAILED for step in answer.steps)
    assert "] does not support the answer" in answer.steps[0].detail
    assert answer.citations[0].supported is False and answer.citations[0].mark == "✗"
    assert not answer.verified


def test_a_citation_of_a_missing_note_fails_and_uncited_prose_stays_unchecked(
    fake_engine, store: DocumentStore
) -> None:
    def model(prompt, written, temperature, seed):
        return "Valves are useful.\nAnswer: below 30% moisture [7]"

    engine = chat_engine(fake_engine, model)
    answer = Reasoner(engine, retriever=store).ask("When does the valve open?", strategy="direct")
    first, second = answer.steps
    assert first.status == StepStatus.UNCHECKED and first.mark == "·"
    assert second.status == StepStatus.FAILED and "but the prompt held 1 note(s)" in second.detail


def test_an_uncited_answer_is_attributed_to_the_note_that_supports_it() -> None:
    notes = [Passage(name, "passage 1", text) for name, text in NOTES.items()]
    (cited,) = cite_notes("The fan runs from 10:00 to 16:00.", notes, "fan runs 10:00 to 16:00")
    assert cited.note.source == "ventilation.md" and cited.supported and not cited.written
    assert cite_notes("No idea.", notes, "purple elephants") == []
    twice = [notes[1], notes[1]]  # equally supported: the better retrieved note first
    assert [c.number for c in cite_notes("", twice, "the fan runs")] == [1, 2]
    # a prompt that did not number its notes: "[1]" is a scratchpad slot, not a citation
    assert not any(c.written for c in cite_notes("[1] + [2]", notes, "3", marked=False))


def test_a_chat_model_computes_and_repairs_arithmetic(fake_engine) -> None:
    def model(prompt, written, temperature, seed):
        repaired = written.startswith("12 x 7 = 84")
        chain = "12 x 7 = 84 eggs.\nAnswer: 84" if repaired else "12 x 7 = 72 eggs.\nAnswer: 72"
        return chain[len(written) :]

    engine = chat_engine(fake_engine, model)
    answer = Reasoner(engine, rules=[]).ask(
        "A box holds 12 eggs. How many eggs are in 7 boxes?", strategy="cot"
    )
    assert "Write each calculation as an equation" in engine.prompts[0]
    assert answer.answer == "84" and answer.revisions[0].kind == "repair"
    assert answer.steps[0].text == "12 x 7 = 84 eggs." and answer.steps[0].mark == "✓"


def test_self_consistency_samples_one_prefilled_chat_prompt_and_votes(fake_engine) -> None:
    replies = ["Answer: below 30%.", "Answer: above 50%", "It opens then.\nAnswer: below 30%"]

    def model(prompt, written, temperature, seed):
        return replies[seed % len(replies)]

    engine = chat_engine(fake_engine, model)
    answer = Reasoner(engine, rules=[]).ask(
        "When does the valve open?", strategy="self_consistency", samples=3
    )
    assert len(engine.prompts) == 1  # prefilled once, sampled three times
    assert answer.votes == {"below 30%": 2, "above 50%": 1} and answer.answer == "below 30%"


def test_a_bundle_that_declares_formats_keeps_them_even_with_a_chat_template(
    fake_engine,
) -> None:
    engine = chat_engine(fake_engine, lambda *_: "kitchen")
    engine.path = "bundle"
    engine.manifest = {"prompt_formats": [{"name": "babi", "template": "{context}Q: {question}\n"}]}
    reasoner = Reasoner(engine)
    assert isinstance(reasoner.formats["babi"], PromptFormat)
    chat = Reasoner(chat_engine(fake_engine, lambda *_: "Answer: below 30%"), rules=[])
    assert isinstance(chat.formats["qa"], ChatPrompt)
    # prose answers rarely agree word for word: auto runs one checked chain on a chat model
    assert chat.ask("When does the valve open?").strategy == "cot"


def test_sentence_answers_from_prose() -> None:
    assert extract_answer("First x. The fan runs at 10:00 [2].", "sentence") == (
        "The fan runs at 10:00"
    )
    assert extract_answer("Step one.\nAnswer: every 3 months [1]", "sentence") == "every 3 months"
    assert extract_answer("   ", "sentence") is None
    # a chat model's arithmetic ends in prose: its last number, unless a cue names one
    assert extract_answer("12 * 7 = 84\nThe box holds 84 eggs [1].", "last_number") == "84"
    assert extract_answer("Answer: 1,200 eggs, from 100 boxes", "last_number") == "1200"
    assert extract_answer("no number here [2]", "last_number") is None


def test_a_note_longer_than_the_context_is_cut_to_fit(fake_engine) -> None:
    long_note = Passage("manual.md", "passage 1", "valve " * 5000)
    short_note = Passage("ventilation.md", "passage 1", NOTES["ventilation.md"])
    prompt = ChatPrompt("qa", "Answer.", "sentence", lambda messages: str(messages))

    def tokens(notes):
        return len(prompt.render("When does the valve open?", None, notes))

    kept, remarks = fit_notes([long_note, short_note], tokens, room=2000, max_context=2200)
    assert tokens(kept) <= 2000 and kept[0].text.endswith(" …")
    assert remarks == [
        "ventilation.md passage 1 left out: no room in the context",
        f"manual.md passage 1 cut to {len(kept[0].text.split()) - 1} of 5000 words to fit "
        "the context",
    ]
    assert fit_notes([short_note], tokens, room=10, max_context=300) == (
        (),
        ["ventilation.md passage 1 left out: no room in the context"],
    )
    with pytest.raises(ContextLengthError, match="prompt has 1.. tokens but the model's context"):
        fit_notes([short_note], tokens, room=10, max_context=100)


def test_a_huge_note_is_never_encoded_whole() -> None:
    # a million words took seconds to encode, at every step of the search for the cut
    huge = Passage("log.md", "passage 1", "valve " * 1_000_000)
    longest = []

    def tokens(notes):
        longest.append(max(len(n.text.split()) for n in notes))
        return sum(len(n.text.split()) for n in notes) + 10

    kept, remarks = fit_notes([huge], tokens, room=4000, max_context=4096)
    assert max(longest) <= 4001 and len(kept[0].text.split()) == 3989 + 1  # + "…"
    assert remarks == ["log.md passage 1 cut to 3989 of 1000000 words to fit the context"]


def test_the_reasoner_fits_a_long_note_instead_of_failing(fake_engine, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "manual.md").write_text("The valve opens at 30%. " + "filler " * 3000)
    with DocumentStore(tmp_path / "docs.db") as store:
        store.index_folder(tmp_path / "docs")
        engine = chat_engine(fake_engine, lambda *_: "Answer: at 30%", max_context=1000)
        reasoner = Reasoner(engine, retriever=store)
        answer = reasoner.ask("When does the valve open?", strategy="direct")
    assert len(engine.prompts[0].removesuffix("Answer:")) <= 1000 - 160
    assert "manual.md passage 1 cut to" in answer.reason and answer.answer == "at 30%"


def test_a_revision_that_does_not_fit_the_context_ends_the_revisions(fake_engine) -> None:
    # the first prompt fits, the one that states the failure does not: no crash, no revision
    story = "1 Mary moved to the bathroom.\n2 John went to the hallway.\n"
    engine = chat_engine(fake_engine, lambda *_: "Answer: kitchen", max_context=300)
    answer = Reasoner(engine).ask("Where is Mary?", context=story, strategy="cot")
    assert len(engine.prompts) == 1 and answer.revisions == ()
    assert answer.answer == "bathroom" and answer.source == "rules"


def test_a_story_longer_than_the_context_is_refused_before_the_model_runs(fake_engine) -> None:
    story = "".join(f"{n} Mary moved to the bathroom.\n" for n in range(1, 100))
    engine = chat_engine(fake_engine, lambda *_: "Answer: kitchen", max_context=300)
    with pytest.raises(ContextLengthError, match="the model's context holds 300: shorten"):
        Reasoner(engine).ask("Where is Mary?", context=story)
    assert engine.prompts == []


def test_ask_without_a_model_shows_the_best_passages(store: DocumentStore) -> None:
    result = CliRunner().invoke(
        main, ["ask", "--no-model", "--db", str(store.path), "When does the fan run?"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "answer: (none)" in lines
    cites = [line for line in lines if line.startswith("cites ")]
    assert "ventilation.md passage 1 (line 1): The ventilation fan runs" in cites[0]
