from pathlib import Path

import pytest

from edge_reason import Reasoner
from edge_reason.reasoning.errors import RetrievalError
from edge_reason.reasoning.retrieval import DocumentStore, split_passages

DOCS = {
    "pump.md": "# Pump manual\n\nTo reset the irrigation pump, hold the red button for five "
    "seconds until the LED blinks.\n\nThe pump draws 40 W while running.",
    "vents.txt": "Roof vents open when the greenhouse is above 28 C.\n\nClose the vents in "
    "strong wind: gusts above 60 km/h can break the hinges.",
    "notes/soil.md": "Soil moisture below 30 percent means the beds need water.",
    "ignored.csv": "pump,reset,button",
}


@pytest.fixture
def store(tmp_path: Path) -> DocumentStore:
    for name, text in DOCS.items():
        path = tmp_path / "docs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    store = DocumentStore(tmp_path / "docs.db")
    store.index_folder(tmp_path / "docs")
    yield store
    store.close()


def test_indexes_md_and_txt_files_into_passages(store: DocumentStore) -> None:
    assert len(store) == 3  # short paragraphs merge: one passage per document


def test_best_passage_ranks_first(store: DocumentStore) -> None:
    hits = store.search("How do I reset the pump?", k=3)
    assert hits[0].source.endswith("pump.md") and "red button" in hits[0].text
    assert hits[0].ref == "passage 1"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert store.search("wind gusts hinges")[0].source.endswith("vents.txt")
    assert store.search("soil moisture")[0].source.endswith("soil.md")


def test_reindexing_replaces_a_folder_instead_of_duplicating(
    store: DocumentStore, tmp_path: Path
) -> None:
    store.index_folder(tmp_path / "docs")
    assert len(store) == 3


def test_query_syntax_is_never_interpreted(store: DocumentStore) -> None:
    assert store.search('pump" OR (NEAR AND') != []
    assert store.search("?!") == []


def test_errors_are_clear(tmp_path: Path, store: DocumentStore) -> None:
    with pytest.raises(RetrievalError, match="not a folder"):
        store.index_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="k must be a positive integer"):
        store.search("pump", k=0)


def test_split_passages_merges_short_paragraphs() -> None:
    text = "one two\n\nthree four\n\n" + " ".join(["word"] * 10)
    assert split_passages(text, words=5) == ["one two\n\nthree four", " ".join(["word"] * 10)]


def test_retrieved_passages_go_into_the_prompt_and_are_cited(
    store: DocumentStore, fake_engine
) -> None:
    def model(prompt: str, written: str, temperature: float, seed: int | None) -> str:
        return " hold the red button" if "red button" in prompt else " unknown"

    engine = fake_engine(model, peak="h")
    answer = Reasoner(engine, retriever=store).ask("How do I reset the pump?", strategy="direct")
    assert answer.answer == "hold the red button"
    assert answer.citations[0].source.endswith("pump.md")
    assert "Note passage 1" in engine.prompts[0]
