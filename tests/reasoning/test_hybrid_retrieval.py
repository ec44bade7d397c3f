"""Hybrid retrieval: passages' line spans, rank fusion, the vector index, a store with vectors
(with a deterministic fake embedder), indexing only what changed, and bad inputs."""

import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from helpers.device_notes import NOTES, QUESTION_GROUPS, QUESTIONS, recall, write_notes
from helpers.embedders import FakeEmbedder, fake_model
from hypothesis import given
from hypothesis import strategies as st

from edge_reason.reasoning import embedding_model
from edge_reason.reasoning.embedding_model import EmbeddingModel, load_embedding_model
from edge_reason.reasoning.errors import RetrievalError
from edge_reason.reasoning.passages import split_chunks, split_passages
from edge_reason.reasoning.rank_fusion import (
    HYBRID_RRF_K,
    KEYWORD_WEIGHT,
    VECTOR_WEIGHT,
    reciprocal_rank_fusion,
)
from edge_reason.reasoning.retrieval import DocumentStore, Passage
from edge_reason.reasoning.vector_index import VectorIndex, to_blob

DOCS = {
    "fan.md": "# Greenhouse air\n\nThe ventilation motor runs above 27 C.\n",
    "pump.md": "Hold the red button to reset the pump.\n\n\n" + "filler " * 130 + "\n",
    "notes/battery.txt": "The cell pack lasts ten hours.",
}
SYNONYMS = {"fan": "ventilation", "breeze": "ventilation", "blower": "motor"}


def _write(folder: Path, docs: dict[str, str]) -> Path:
    for name, text in docs.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def _index(db: Path, docs: Path, embedder: FakeEmbedder | None = None) -> DocumentStore:
    store = DocumentStore(db, embedding=fake_model(embedder or FakeEmbedder(synonyms=SYNONYMS)))
    store.index_folder(docs)
    return store


def _rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        tables = ["passages", "chunks", "files", "settings"]
        rows = [
            connection.execute(f"SELECT rowid, * FROM {t} ORDER BY rowid").fetchall()
            for t in tables
        ]
    connection.close()
    return rows


# -- passages and their lines ---------------------------------------------------------------


def test_passages_carry_the_lines_they_span() -> None:
    text = "\n# Title\n\nfirst para\nstill first\n\n  \n" + "long " * 10 + "\n\nlast\n"
    chunks = split_chunks(text, words=6)
    assert [(c.first_line, c.last_line) for c in chunks] == [(2, 5), (8, 8), (10, 10)]
    assert chunks[0].text == "# Title\n\nfirst para\nstill first"
    assert Passage("a.md", "passage 1", "x", first_line=3, last_line=7).lines == "lines 3-7"
    assert Passage("a.md", "passage 1", "x", first_line=3, last_line=3).lines == "line 3"
    assert Passage("a.md", "passage 1", "x").lines is None


def _regex_passages(text: str, words: int) -> list[str]:
    """The splitter before line spans: the passages must not change."""
    passages: list[str] = []
    current: list[str] = []
    size = 0
    for paragraph in (p.strip() for p in re.split(r"\n\s*\n", text)):
        if not paragraph:
            continue
        if current and size + len(paragraph.split()) > words:
            passages.append("\n\n".join(current))
            current, size = [], 0
        current.append(paragraph)
        size += len(paragraph.split())
    return passages + (["\n\n".join(current)] if current else [])


@given(st.text(alphabet="ab \n\t\r\x0c\u2028\xa0", max_size=40), st.integers(1, 4))
def test_passages_are_those_of_the_former_splitter(text: str, words: int) -> None:
    assert split_passages(text, words) == _regex_passages(text, words)


# -- fusion and the vector index ------------------------------------------------------------


def test_reciprocal_rank_fusion_sums_one_over_60_plus_rank() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "d"]])
    scores = dict(fused)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["a"] == pytest.approx(1 / 61) and scores["d"] == pytest.approx(1 / 62)
    # a tie (a and c's first ranking... here a vs nothing): order by fused score, then best rank
    assert [item for item, _ in fused] == ["c", "a", "b", "d"]
    assert [i for i, _ in reciprocal_rank_fusion([["x", "y"], ["y", "x"]])] == ["x", "y"]


def test_weighted_fusion_scales_each_ranking() -> None:
    scores = dict(reciprocal_rank_fusion([["a", "b"], ["b", "c"]], k=1, weights=[0.4, 1.0]))
    assert scores == pytest.approx({"a": 0.4 / 2, "b": 0.4 / 3 + 1 / 2, "c": 1 / 3})
    assert [i for i, _ in reciprocal_rank_fusion([["a"], ["b"]], weights=[0, 1])] == ["b", "a"]
    with pytest.raises(ValueError, match="1 weights for 2 rankings: give one each"):
        reciprocal_rank_fusion([["a"], ["b"]], weights=[1.0])
    with pytest.raises(ValueError, match=r"the weights must be numbers >= 0, got \[1.0, -1.0\]"):
        reciprocal_rank_fusion([["a"], ["b"]], weights=[1.0, -1.0])


def _hybrid(keyword: list[str], vector: list[str], top: int = 5) -> list[str]:
    """The first ``top`` of two rankings fused as hybrid search fuses them."""
    fused = reciprocal_rank_fusion([keyword, vector], HYBRID_RRF_K, [KEYWORD_WEIGHT, VECTOR_WEIGHT])
    return [item for item, _ in fused[:top]]


def test_hybrid_fusion_keeps_the_vectors_best_and_the_keywords_first() -> None:
    noise = ["n1", "n2", "n3", "n4"]
    vector = [f"v{rank}" for rank in range(1, 11)] + noise
    # A paraphrase: its words match other passages (noise), which the encoder ranks low; the
    # vector ranking's first three stay in the first five, which the fusion before (1:1,
    # constant 60) gave to the noise and v1.
    assert {"v1", "v2", "v3"} <= set(_hybrid(noise, vector)) and _hybrid(noise, vector)[0] == "v1"
    before = [item for item, _ in reciprocal_rank_fusion([noise, vector])[:5]]
    assert before == [*noise, "v1"]
    # An exact token the encoder blurs: keyword search's first is not in the vector ranking.
    assert "x" in _hybrid(["x", *noise], vector)
    # Keyword search's first and the vectors' second: both count, it comes first.
    assert _hybrid(["v2", "n1"], vector)[0] == "v2"


def test_vector_index_returns_the_nearest_first() -> None:
    vectors = np.eye(4, dtype=np.float32)
    vectors[3] = [0.8, 0.6, 0, 0]
    index = VectorIndex([10, 11, 12, 13], [to_blob(v) for v in vectors], dim=4)
    found = index.search(np.array([1, 0, 0, 0], dtype=np.float32), 2)
    assert [i for i, _ in found] == [10, 13]
    assert found[1][1] == pytest.approx(0.8)
    assert len(index.search(np.ones(4, dtype=np.float32), 10)) == 4


# -- a store with vectors -------------------------------------------------------------------


def test_hybrid_finds_a_thing_named_in_other_words(tmp_path: Path) -> None:
    with _index(tmp_path / "docs.db", _write(tmp_path / "docs", DOCS)) as store:
        assert store.has_vectors and store.embedding_model["dim"] == 32
        assert store.search("When does the fan turn?", mode="keyword") == []
        best = store.search("When does the fan turn?", k=1)[0]  # hybrid: the default
        assert best.source.endswith("fan.md") and "ventilation motor" in best.text
        assert (best.first_line, best.last_line) == (1, 3)
        assert store.search("fan", k=1, mode="vector")[0].source.endswith("fan.md")
        keyword = store.search("reset the pump", mode="keyword")[0]
        assert keyword.source.endswith("pump.md") and keyword.lines == "line 1"


def test_hybrid_tells_apart_codes_the_encoder_blurs(tmp_path: Path) -> None:
    codes = {
        "e12.md": "Fault E12: no flow.",
        "e21.md": "Fault E21: water flows through a closed valve; walk the lines for a leak.",
    }
    embedder = FakeEmbedder(synonyms={"e21": "e12"})  # an encoder that cannot tell them apart
    with _index(tmp_path / "docs.db", _write(tmp_path / "docs", codes), embedder) as store:
        assert store.search("How do I clear E21?", k=1, mode="vector")[0].source.endswith("e12.md")
        assert store.search("How do I clear E21?", k=1)[0].source.endswith("e21.md")


def test_a_store_without_vectors_searches_keywords(tmp_path: Path) -> None:
    with DocumentStore(tmp_path / "docs.db") as store:
        store.index_folder(_write(tmp_path / "docs", DOCS))
        assert not store.has_vectors and store.embedding_model is None
        assert store.search("red button")[0].source.endswith("pump.md")
        with pytest.raises(RetrievalError, match="holds no vectors for a hybrid search: index "):
            store.search("red button", mode="hybrid")


def test_an_index_built_twice_is_identical(tmp_path: Path) -> None:
    docs = write_notes(tmp_path / "notes")
    for name in ("one.db", "two.db"):
        _index(tmp_path / name, docs).close()
    assert _rows(tmp_path / "one.db") == _rows(tmp_path / "two.db")
    assert (tmp_path / "one.db").read_bytes() == (tmp_path / "two.db").read_bytes()
    vectors = [row[-1] for row in _rows(tmp_path / "one.db")[1]]
    assert len(vectors) == 65 and all(len(v) == 32 * 4 for v in vectors)


def test_only_a_changed_file_is_indexed_again(tmp_path: Path) -> None:
    docs = _write(tmp_path / "docs", DOCS)
    db = tmp_path / "docs.db"
    _index(db, docs).close()
    before = db.read_bytes()
    embedder = FakeEmbedder(synonyms=SYNONYMS)
    with _index(db, docs, embedder) as store:  # unchanged: nothing embedded, nothing written
        assert embedder.calls == 0
    assert db.read_bytes() == before
    (docs / "notes/battery.txt").write_text("The cell pack lasts twelve hours.\n\nSpare: two.")
    with DocumentStore(db, embedding=fake_model(embedder)) as store:
        report = store.index_folder(docs)
        assert (report.files, report.unchanged, report.embedded) == (1, 2, 1)
        assert embedder.texts == ["The cell pack lasts twelve hours.\n\nSpare: two."]
        assert store.search("twelve", mode="vector", k=1)[0].text.startswith("The cell pack")
        assert len(store) == 4
        (docs / "pump.md").unlink()
        report = store.index_folder(docs)
        assert report.removed == [str(docs / "pump.md")] and report.files == 0
        assert {p.source for p in store.search("pump button filler", k=9, mode="vector")} == {
            str(docs / "fan.md"),
            str(docs / "notes/battery.txt"),
        }
        assert embedder.calls == 3  # the changed file, then one query


def test_a_file_skipped_now_is_dropped(tmp_path: Path) -> None:
    docs = _write(tmp_path / "docs", DOCS)
    with _index(tmp_path / "docs.db", docs) as store:
        (docs / "pump.md").write_bytes(b"pump\0")
        report = store.index_folder(docs)
        assert report.removed == [str(docs / "pump.md")] and report.unchanged == 2
        assert [s.reason for s in report.skipped] == ["binary (holds NUL bytes)"]
        assert store.search("pump", mode="keyword") == []


def test_another_folder_in_the_same_store_is_kept(tmp_path: Path) -> None:
    first = _write(tmp_path / "a", {"one.md": "Alpha pump."})
    second = _write(tmp_path / "b", {"two.md": "Beta pump."})
    with _index(tmp_path / "docs.db", first) as store:
        report = store.index_folder(second)
        assert report.removed == [] and len(store) == 2


def test_a_store_reopened_loads_its_model(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "encoder"
    folder.mkdir()
    (folder / "config.json").write_text('{"architectures": ["BertModel"]}')
    opened = []

    def open_encoder(path: Path) -> FakeEmbedder:
        opened.append(path)
        return FakeEmbedder(synonyms=SYNONYMS)

    monkeypatch.setattr(embedding_model, "open_encoder", open_encoder)
    db = tmp_path / "docs.db"
    with DocumentStore(db, embedding=load_embedding_model(folder)) as store:
        store.index_folder(_write(tmp_path / "docs", DOCS))
    recorded = DocumentStore(db)
    assert recorded.embedding_model["path"] == str(folder.resolve())
    assert len(opened) == 1  # not loaded until a search needs it
    assert recorded.search("fan", k=1)[0].source.endswith("fan.md")
    assert len(opened) == 2
    recorded.close()
    (folder / "config.json").write_text('{"architectures": ["BertModel"], "changed": 1}')
    with pytest.raises(RetrievalError, match=r"made by encoder \(.*\); encoder .* is another"):
        DocumentStore(db).search("fan")
    assert DocumentStore(db).search("fan", mode="keyword") == []  # keywords need no model
    (folder / "config.json").unlink()
    folder.rmdir()
    with pytest.raises(
        RetrievalError, match=r"made by encoder, which cannot be loaded \(.*no such embedding"
    ):
        DocumentStore(db).search("fan")


def test_a_store_of_another_model_or_dim_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "docs.db"
    docs = _write(tmp_path / "docs", DOCS)
    _index(db, docs).close()
    with pytest.raises(RetrievalError, match=r"made by fake \(/nowhere/fake, dim 32, .*other"):
        DocumentStore(db, embedding=fake_model(FakeEmbedder(dim=16), name="other"))
    before = db.read_bytes()
    # the same digest but vectors of another length: refused when they meet
    liar = EmbeddingModel(FakeEmbedder(dim=16), "fake", "/nowhere/fake", "fake-32")
    with DocumentStore(db, embedding=liar) as store:
        with pytest.raises(RetrievalError, match="its vectors have 32 values and fake makes 16"):
            store.search("fan")
        (docs / "fan.md").write_text("changed")
        with pytest.raises(RetrievalError, match="its vectors have 32 values"):
            store.index_folder(docs)
    assert db.read_bytes() == before  # the failed index left the store as it was


def test_a_store_of_the_former_format_opens_and_is_upgraded(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as connection:  # the store as DocumentStore wrote it until now
        connection.execute(
            "CREATE VIRTUAL TABLE passages USING fts5(source UNINDEXED, number UNINDEXED, "
            "text, tokenize='porter unicode61')"
        )
        connection.execute(
            "INSERT INTO passages VALUES (?, 1, 'Hold the red button to reset the pump.')",
            (str(tmp_path / "docs/pump.md"),),
        )
    connection.close()
    with DocumentStore(db) as store:
        old = store.search("reset pump")[0]
        assert "red button" in old.text and old.lines is None
        report = store.index_folder(_write(tmp_path / "docs", DOCS))
        assert report.files == 3 and len(store) == 4  # every file again: no digests before
        assert store.search("reset pump")[0].lines == "line 1"


def test_the_recall_of_a_fake_embedder_is_computed(tmp_path: Path) -> None:
    # the measurement's logic (the real model's numbers: test_hybrid_recall_with_minilm)
    with _index(tmp_path / "notes.db", write_notes(tmp_path / "notes")) as store:
        keyword, missed = recall(store, "keyword")
        assert keyword == 1 - len(missed) / len(QUESTIONS) and 0 < keyword < 1
        exact = QUESTION_GROUPS["exact"]
        share, missed_exact = recall(store, "keyword", questions=exact)
        assert share == 1 - len(missed_exact) / len(exact)
        assert set(missed_exact) <= set(missed)
    assert len(NOTES) == 13 and [len(q) for q in QUESTION_GROUPS.values()] == [45, 38]


def test_every_answer_is_in_exactly_one_passage(tmp_path: Path) -> None:
    write_notes(tmp_path)
    passages = [
        chunk.text
        for name in NOTES
        for chunk in split_chunks((tmp_path / name).read_text(encoding="utf-8"))
    ]
    assert len(passages) == 65
    for question, answer in QUESTIONS:
        assert sum(answer in text for text in passages) == 1, question


# -- bad inputs -----------------------------------------------------------------------------


def test_bad_searches_are_refused_clearly(tmp_path: Path) -> None:
    with _index(tmp_path / "docs.db", _write(tmp_path / "docs", DOCS)) as store:
        for query in ("", "   \n"):
            with pytest.raises(ValueError, match="the query is empty"):
                store.search(query)
        with pytest.raises(ValueError, match="k must be a positive integer, got 0"):
            store.search("fan", k=0)
        with pytest.raises(ValueError, match="mode must be one of hybrid, keyword, vector"):
            store.search("fan", mode="semantic")
        assert store.search("?!", mode="keyword") == []
    with pytest.raises(ValueError, match="mode must be one of hybrid, keyword, vector"):
        DocumentStore(tmp_path / "docs.db", mode="dense")


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "data.csv").write_text("a,b")
    with DocumentStore(tmp_path / "docs.db") as store:
        with pytest.raises(RetrievalError, match="docs: holds no .md or .txt files to index"):
            store.index_folder(tmp_path / "docs")


def test_an_embedding_model_that_is_not_an_encoder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RetrievalError, match="missing: no such embedding model"):
        load_embedding_model(tmp_path / "missing")
    llama = tmp_path / "llama"
    llama.mkdir()
    (llama / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    with pytest.raises(RetrievalError, match=r"a generative model \(LlamaForCausalLM\), not a"):
        load_embedding_model(llama)
    with pytest.raises(RetrievalError, match=r"not a text encoder the engine can load \(.*config"):
        load_embedding_model(tmp_path)  # a folder without config.json


def test_an_embedder_returning_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    class Broken:
        def embed(self, texts):
            return np.zeros((len(texts) + 1, 4))

    model = EmbeddingModel(Broken(), "broken", "/nowhere", "b")
    with DocumentStore(tmp_path / "docs.db", embedding=model) as store:
        with pytest.raises(
            RetrievalError, match=r"broken: the embedder returned \(5, 4\) values for 4 texts"
        ):
            store.index_folder(_write(tmp_path / "docs", DOCS))
        assert len(store) == 0


# -- the command line -----------------------------------------------------------------------


@pytest.fixture
def encoder(tmp_path: Path, monkeypatch) -> Path:
    """An encoder folder that the engine "loads" as a fake embedder (until it loads encoders,
    the CLI's model is faked here; the real one: test_hybrid_recall.py)."""
    folder = tmp_path / "encoder"
    folder.mkdir()
    (folder / "config.json").write_text('{"architectures": ["BertModel"]}')
    dims = {folder.resolve(): 32}
    monkeypatch.setattr(
        embedding_model,
        "open_encoder",
        lambda path: FakeEmbedder(dims.get(path.resolve(), 16), synonyms=SYNONYMS),
    )
    return folder


def _cli(*args: str) -> tuple[int, str]:
    from click.testing import CliRunner

    from edge_reason.cli import main

    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_index_embed_then_ask_finds_other_words(tmp_path: Path, encoder: Path) -> None:
    docs, db = _write(tmp_path / "docs", DOCS), tmp_path / "docs.db"
    code, output = _cli("index", docs, "--db", db, "--embed", encoder)
    assert code == 0, output
    assert output.startswith("indexed 4 passages from 3 files under ")
    assert "(4 in total; 0 files unchanged; vectors by encoder, dim 32)" in output
    code, output = _cli("ask", "--no-model", "--db", db, "When does the fan turn?")
    assert code == 0 and f"cites {docs}/fan.md passage 1 (lines 1-3): # Greenhouse air" in output
    code, output = _cli("index", docs, "--db", db, "--json")  # the store keeps its model
    assert code == 0 and '"unchanged": 3' in output and '"dim": 32' in output


def test_index_embed_errors_are_one_line(tmp_path: Path, encoder: Path) -> None:
    docs, db = _write(tmp_path / "docs", DOCS), tmp_path / "docs.db"
    missing = tmp_path / "missing"
    assert _cli("index", docs, "--db", db, "--embed", missing) == (
        1,
        f"Error: {missing}: no such embedding model (a text encoder's folder)\n",
    )
    assert _cli("index", docs, "--db", db, "--embed", encoder)[0] == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text('{"architectures": ["BertModel"], "hidden_size": 16}')
    code, output = _cli("index", docs, "--db", db, "--embed", other)
    assert code == 1 and output.count("\n") == 1
    assert "its vectors were made by encoder (" in output and "dim 32" in output
    (tmp_path / "empty").mkdir()
    code, output = _cli("index", tmp_path / "empty", "--db", db)
    assert (code, output) == (1, f"Error: {tmp_path}/empty: holds no .md or .txt files to index\n")


def test_ask_searches_keywords_alone_without_the_model(tmp_path: Path, encoder: Path) -> None:
    docs, db = _write(tmp_path / "docs", DOCS), tmp_path / "docs.db"
    assert _cli("index", docs, "--db", db, "--embed", encoder)[0] == 0
    (encoder / "config.json").unlink()
    encoder.rmdir()  # the model is gone: hybrid search cannot embed the question
    code, output = _cli("ask", "--no-model", "--db", db, "How do I reset the pump?")
    assert code == 1 and output.startswith(f"Error: {db}: its vectors were made by encoder,")
    code, output = _cli("ask", "--no-model", "--db", db, "--search", "keyword", "reset pump?")
    assert code == 0 and f"cites {docs}/pump.md passage 1 (line 1): Hold the red" in output
    code, output = _cli("ask", "--no-model", "--search", "vector", "reset pump?")
    assert code == 2 and "--search is how --db is searched: give --db" in output


def test_a_generative_model_the_engine_loads_is_refused_as_an_encoder(
    tmp_path: Path, monkeypatch
) -> None:
    class Generator:  # what Engine.load returns for a model whose config did not say
        is_encoder = False

    monkeypatch.setattr(embedding_model, "open_encoder", lambda path: Generator())
    (tmp_path / "model").mkdir()
    with pytest.raises(RetrievalError, match="model: a generative model, not a text encoder"):
        load_embedding_model(tmp_path / "model")
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(RetrievalError, match="model.gguf: not a text encoder's folder"):
        load_embedding_model(gguf)
