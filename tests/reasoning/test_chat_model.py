"""The reasoning layer on a real chat model: SmolLM2-135M-Instruct (GGUF, f32) answering from
indexed notes, citing them, and computing with the arithmetic verifier.

What is asserted was measured first: greedy chains of this 135M model that copy the right
note, and its one multiplication. About 30 s in all (a few hundred tokens/s here)."""

from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.real_models import smollm2_gguf

from edge_reason import Reasoner
from edge_reason.cli import main
from edge_reason.engine import Engine
from edge_reason.reasoning.retrieval import DocumentStore

NOTES = {
    "irrigation.md": "The greenhouse valve opens when soil moisture drops below 30%.",
    "ventilation.md": "The ventilation fan runs from 10:00 to 16:00.",
    "maintenance.md": "Maintenance: the water filter is replaced every 3 months.\n\n"
    "The pump was serviced on 12 March by Ana.",
}


@pytest.fixture(scope="module")
def notes_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("greenhouse")
    for name, text in NOTES.items():
        (folder / "notes" / name).parent.mkdir(exist_ok=True)
        (folder / "notes" / name).write_text(text)
    with DocumentStore(folder / "notes.db") as store:
        store.index_folder(folder / "notes")
    return folder / "notes.db"


@pytest.fixture(scope="module")
def reasoner(notes_db: Path) -> Reasoner:
    engine = Engine.load(smollm2_gguf(), quant="f32")
    return Reasoner(engine, retriever=DocumentStore(notes_db))


@pytest.fixture(scope="module")
def untooled(reasoner: Reasoner) -> Reasoner:
    """The same model and notes, the tools not offered: for what the chain does on its own.
    Offered them (a long listing in the system message), this model, which does not call
    them under "auto", answers the eggs question "7" and its sampled valve answers drift
    (docs/ask-your-notes.md#tools-for-a-chat-model)."""
    return Reasoner(reasoner.engine, retriever=reasoner.retriever, tool_choice="none")


def test_ask_answers_from_the_notes_and_cites_the_right_one(notes_db: Path) -> None:
    question = "When does the greenhouse valve open?"
    result = CliRunner().invoke(
        main,
        [
            "ask",
            "--model",
            str(smollm2_gguf()),
            "--db",
            str(notes_db),
            "--strategy",
            "cot",
            question,
        ],
    )
    assert result.exit_code == 0, result.output
    answer = next(line for line in result.output.splitlines() if line.startswith("answer: "))
    assert "below 30%" in answer and "moisture" in answer
    cites = [line for line in result.output.splitlines() if line.startswith("cites ")]
    assert cites[0].startswith("cites ✓ ") and "irrigation.md passage 1" in cites[0]


@pytest.mark.parametrize(
    ("question", "content", "note"),
    [
        ("How often is the water filter replaced?", "every 3 months", "maintenance.md"),
        ("When does the ventilation fan run?", "10:00", "ventilation.md"),
    ],
)
def test_the_answer_holds_the_note_it_cites(
    reasoner: Reasoner, question: str, content: str, note: str
) -> None:
    answer = reasoner.ask(question, strategy="cot")
    assert answer.source == "model" and content in answer.answer
    assert answer.citations[0].source.endswith(note) and answer.citations[0].supported
    assert all(c.supported for c in answer.citations)


def test_arithmetic_in_a_chat_chain_is_recomputed(untooled: Reasoner) -> None:
    answer = untooled.ask("A box holds 12 eggs. How many eggs are in 7 boxes?", strategy="cot")
    assert answer.answer == "84" and answer.citations == ()
    checked = [step for step in answer.steps if step.mark == "✓"]
    assert checked and all("= 84" in step.text for step in checked)


def test_self_consistency_votes_over_chains_from_one_chat_prompt(untooled: Reasoner) -> None:
    answer = untooled.ask(
        "When does the greenhouse valve open?", strategy="self_consistency", samples=3
    )
    assert sum(answer.votes.values()) == 3 and answer.strategy == "self_consistency"
    assert "below 30%" in answer.answer
    assert answer.citations[0].source.endswith("irrigation.md") and answer.citations[0].supported
