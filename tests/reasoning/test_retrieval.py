import os
import sqlite3
import threading
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
    with pytest.raises(ValueError, match="max_bytes must be a positive integer"):
        store.index_folder(tmp_path / "docs", max_bytes=0)


def _index_one(tmp_path: Path, name: str, content: bytes | None = None, **options):
    """Index a folder holding pump.md and ``name`` (written with ``content`` unless the
    test made it); returns the report and the indexed sources."""
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "pump.md").write_text("Hold the red button to reset the pump.")
    if content is not None:
        (docs / name).write_bytes(content)
    with DocumentStore(tmp_path / "docs.db") as store:
        report = store.index_folder(docs, **options)
        sources = {hit.source for hit in store.search("pump valve café", k=10)}
    return report, sources


def test_a_link_out_of_the_folder_is_skipped(tmp_path: Path) -> None:
    # the same path as a link to /dev/zero, which was read until MemoryError: it is refused
    # by where it leads before anything is opened (not linked here: a regression would
    # exhaust the test machine's memory)
    (tmp_path / "secret.md").write_text("The pump password is hunter2.")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "secret.md").symlink_to(tmp_path / "secret.md")
    report, sources = _index_one(tmp_path, "secret.md")
    assert sources == {str(tmp_path / "docs" / "pump.md")}
    assert [(s.name, s.reason) for s in report.skipped] == [
        (
            str(tmp_path / "docs" / "secret.md"),
            f"a link to {tmp_path}/secret.md, outside the folder",
        )
    ]


def test_a_fifo_is_skipped_without_waiting_for_a_writer(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    fifo = tmp_path / "docs" / "pipe.md"
    os.mkfifo(fifo)
    found = []
    indexing = threading.Thread(target=lambda: found.append(_index_one(tmp_path, "pipe.md")))
    indexing.start()
    indexing.join(timeout=30)
    if indexing.is_alive():  # blocked in open(): a writer lets it go before the test fails
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        indexing.join()
        pytest.fail("indexing waited on a FIFO")
    report, _ = found[0]
    assert [(s.name, s.reason) for s in report.skipped] == [
        (str(fifo), "not a regular file (a FIFO)")
    ]


def test_a_binary_file_is_skipped_and_the_rest_indexed(tmp_path: Path) -> None:
    report, sources = _index_one(tmp_path, "pump.bin.md", b"pump\0\x01\x02valve")
    assert (report.files, report.passages) == (1, 1)
    assert [s.reason for s in report.skipped] == ["binary (holds NUL bytes)"]
    assert sources == {str(tmp_path / "docs" / "pump.md")}


def test_a_file_over_the_size_limit_is_skipped(tmp_path: Path) -> None:
    report, _ = _index_one(tmp_path, "big.md", b"valve " * 100, max_bytes=500)
    assert [s.reason for s in report.skipped] == ["larger than the limit of 500 bytes"]
    assert report.files == 1


def test_a_latin_1_file_is_read_with_replacement_characters(tmp_path: Path) -> None:
    report, sources = _index_one(tmp_path, "latin.txt", "The valve of the café.".encode("latin-1"))
    latin = str(tmp_path / "docs" / "latin.txt")
    assert report.files == 2 and report.replaced == [latin] and latin in sources
    with DocumentStore(tmp_path / "docs.db") as store:
        assert store.search("valve")[0].text == "The valve of the caf\ufffd."


def test_a_database_of_another_schema_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE passages (source, number, text)")  # our names, not our table
    db.close()
    before = other.read_bytes()
    with pytest.raises(RetrievalError, match=f"^{other}: not a document store .*passages"):
        DocumentStore(other)
    assert other.read_bytes() == before


def test_a_fifo_is_refused_as_the_store(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "store.db")
    with pytest.raises(RetrievalError, match="not a regular file"):
        DocumentStore(tmp_path / "store.db")


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
