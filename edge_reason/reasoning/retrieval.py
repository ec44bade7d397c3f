"""A local document store for manuals and notes in one SQLite file, no server: keyword search
(FTS5, BM25) and, with an embedding model, vector search, fused.

``DocumentStore(db).index_folder(docs)`` splits every .md and .txt file into passages
(paragraphs merged up to about ``PASSAGE_WORDS`` words: passages.py) and indexes them;
``search`` returns the best passages for a question, which go into the prompt and are cited
by the answer. Which files are read, and how, is document_files.py's; the report says what
was skipped. Indexing again reads every file but indexes only those whose text changed
(their SHA-256 differs) and drops the passages of files gone from the folder.

Keyword search matches words by their stem (FTS5's porter tokenizer: "run" finds "runs") and
leaves a question's stop words out: "When does the fan run?" must not rank every passage that
holds "the" or "when" as high as the one about the fan. It misses a question that names a
thing in other words ("the fan" for "the ventilation motor"): a store indexed with an
embedding model (``DocumentStore(db, embedding=model)``, embedding_model.py) holds each
passage's vector too, and a search ranks the passages both ways and fuses the rankings
(reciprocal rank fusion, rank_fusion.py). The store records the model; opened without one,
it loads that model when a search needs it.

The store opens only a new (empty) SQLite file or a store (store_schema.py): any other
database is refused, never written to.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Literal

import numpy as np

from .document_files import (
    MAX_DOCUMENT_BYTES,
    Document,
    SkippedFile,
    display_name,
    read_documents,
)
from .embedding_model import EmbeddingModel, load_embedding_model
from .errors import RetrievalError
from .passages import PASSAGE_WORDS, split_chunks, split_passages
from .rank_fusion import HYBRID_RRF_K, KEYWORD_WEIGHT, VECTOR_WEIGHT, reciprocal_rank_fusion
from .store_schema import open_schema
from .vector_index import VectorIndex, to_blob, unit_rows

__all__ = [
    "PASSAGE_WORDS",
    "STOP_WORDS",
    "DocumentStore",
    "IndexReport",
    "Passage",
    "SearchMode",
    "split_passages",
]

SearchMode = Literal["hybrid", "keyword", "vector"]
SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "keyword", "vector")
# How many passages each ranking hands to the fusion (at least k): deep enough that a passage
# ranked well by one and poorly by the other still counts both.
FUSION_DEPTH = 50
EMBED_BATCH = 256  # texts per embedder call while indexing
_WORD = re.compile(r"\w+")
STOP_WORDS = frozenset(
    "a an and are as at be been by can could did do does for from had has have how i if in "
    "into is it its me my of on or our should so than that the their them then there these "
    "they this those to us was we were what when where which who whom whose why will with "
    "would you your".split()
)


@dataclass(frozen=True)
class Passage:
    """A piece of a document; ``ref`` is how an answer cites it; ``first_line`` and
    ``last_line`` are the lines it spans in ``source`` (None in a store indexed before they
    were recorded). ``score``: higher is better; the negated BM25 score in a keyword search,
    the cosine similarity in a vector search, the fused score in a hybrid one."""

    source: str
    ref: str
    text: str
    score: float | None = None
    first_line: int | None = None
    last_line: int | None = None

    @property
    def lines(self) -> str | None:
        """``"lines 3-7"`` (or ``"line 3"``), for a citation; None when unknown."""
        if self.first_line is None or self.last_line is None:
            return None
        if self.first_line == self.last_line:
            return f"line {self.first_line}"
        return f"lines {self.first_line}-{self.last_line}"


@dataclass
class IndexReport:
    """What ``index_folder`` did: passages added from ``files`` changed documents, the
    ``unchanged`` documents left as they were, the ``removed`` ones (gone from the folder or
    now skipped), the files it skipped (with the reason), the files read with U+FFFD for
    bytes that are not UTF-8 and how many passages were ``embedded``."""

    passages: int = 0
    files: int = 0
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    embedded: int = 0


@dataclass(frozen=True)
class _Recorded:
    """The embedding model a store's vectors were made by."""

    name: str
    path: str
    digest: str
    dim: int


class DocumentStore:
    """Passages of local documents in one SQLite file (module docstring).

    embedding: the model that embeds passages and questions. A store that records another
    model is refused; None: the recorded one, loaded when a search or an index needs it (a
    store without vectors stays a keyword store).
    mode: how ``search`` ranks when not told (None: hybrid in a store with vectors, keyword
    in one without); "keyword" searches a store with vectors without loading its model.
    """

    def __init__(
        self,
        path: str | Path,
        embedding: EmbeddingModel | None = None,
        mode: SearchMode | None = None,
    ) -> None:
        _check_mode(mode)
        self.mode = mode
        self.path = Path(path)
        self.name = display_name(self.path)  # for messages: a non-UTF-8 name, escaped
        _refuse_a_special_file(self.path, self.name)
        try:
            self._db = sqlite3.connect(str(self.path))
            try:
                with self._db:
                    open_schema(self._db, self.name)
                self._recorded = self._read_recorded()
                if embedding is not None and self._recorded is not None:
                    self._check_same_model(embedding)
            except BaseException:
                self._db.close()
                raise
        except sqlite3.Error as error:
            raise self._failed("open", error) from None
        self._embedding = embedding
        self._vectors: VectorIndex | None = None  # read once, dropped when the store changes

    def _failed(self, doing: str, error: sqlite3.Error) -> RetrievalError:
        return RetrievalError(f"{self.name}: cannot {doing} the document store ({error})")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> DocumentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM passages").fetchone()[0]

    @property
    def has_vectors(self) -> bool:
        """Whether the store records an embedding model (and so holds vectors)."""
        return self._recorded is not None

    @property
    def embedding_model(self) -> dict[str, str | int] | None:
        """The recorded embedding model: name, path, digest (SHA-256) and dim; None."""
        return None if self._recorded is None else vars(self._recorded).copy()

    # -- indexing --------------------------------------------------------------------------

    def index_folder(self, folder: str | Path, max_bytes: int = MAX_DOCUMENT_BYTES) -> IndexReport:
        """Index every .md/.txt file under ``folder`` that is a regular file inside it of at
        most ``max_bytes`` and not binary; again: only the changed files, and the passages of
        files no longer there are dropped."""
        if not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValueError(f"max_bytes must be a positive integer, got {max_bytes!r}")
        folder = Path(folder)
        if not folder.is_dir():
            raise RetrievalError(f"{display_name(folder)}: not a folder of documents")
        report = IndexReport()
        try:
            with self._db:  # one transaction: a failure leaves the store as it was
                if self._embedding is not None and self._recorded is None:
                    self._db.execute("DELETE FROM files")  # every passage needs its vector
                recorded = dict(self._db.execute("SELECT source, sha256 FROM files"))
                read = self._index_documents(folder, max_bytes, recorded, report)
                self._remove_gone(folder, read, recorded, report)
        except sqlite3.Error as error:
            raise self._failed("write", error) from None
        finally:
            self._recorded = self._read_recorded()
        if report.files or report.removed:
            self._vectors = None
        return report

    def _index_documents(
        self, folder: Path, max_bytes: int, recorded: dict[str, str], report: IndexReport
    ) -> set[str]:
        """Indexes the folder's changed documents, one at a time, their passages embedded in
        batches; returns the names of the documents read."""
        embeds = self._embedding is not None or self._recorded is not None
        read: set[str] = set()
        pending: list[tuple[int, str]] = []  # passages not embedded yet: id, text
        found = False
        for item in read_documents(folder, max_bytes):
            found = True
            if isinstance(item, SkippedFile):
                report.skipped.append(item)
                continue
            read.add(item.name)
            digest = hashlib.sha256(item.text.encode("utf-8", "surrogatepass")).hexdigest()
            if recorded.get(item.name) == digest:
                report.unchanged += 1
                continue
            pending += self._replace_passages(item, digest, report)
            if embeds and len(pending) >= EMBED_BATCH:
                self._embed_chunks(pending, report)
                pending = []
        if not found:
            raise RetrievalError(f"{display_name(folder)}: holds no .md or .txt files to index")
        if embeds:
            self._embed_chunks(pending, report)
        return read

    def _remove_gone(
        self, folder: Path, read: set[str], recorded: dict[str, str], report: IndexReport
    ) -> None:
        """Drops the passages of the folder's files that are gone or skipped now."""
        inside = PurePath(display_name(folder))
        sources = {s for (s,) in self._db.execute("SELECT DISTINCT source FROM chunks")}
        for source in sorted((sources | set(recorded)) - read):
            if PurePath(source).is_relative_to(inside):
                self._delete_source(source)
                self._db.execute("DELETE FROM files WHERE source = ?", (source,))
                report.removed.append(source)

    def _delete_source(self, source: str) -> None:
        self._db.execute(
            "DELETE FROM passages WHERE rowid IN (SELECT id FROM chunks WHERE source = ?)",
            (source,),
        )
        self._db.execute("DELETE FROM chunks WHERE source = ?", (source,))

    def _replace_passages(
        self, document: Document, digest: str, report: IndexReport
    ) -> list[tuple[int, str]]:
        """The document's passages in place of its old ones; returns their ids and texts."""
        self._delete_source(document.name)
        added = []
        for number, chunk in enumerate(split_chunks(document.text), start=1):
            cursor = self._db.execute(
                "INSERT INTO passages (source, number, text) VALUES (?, ?, ?)",
                (document.name, number, chunk.text),
            )
            self._db.execute(
                "INSERT INTO chunks (id, source, number, first_line, last_line) "
                "VALUES (?, ?, ?, ?, ?)",
                (cursor.lastrowid, document.name, number, chunk.first_line, chunk.last_line),
            )
            added.append((cursor.lastrowid, chunk.text))
        self._db.execute(
            "INSERT OR REPLACE INTO files (source, sha256) VALUES (?, ?)", (document.name, digest)
        )
        report.passages += len(added)
        report.files += 1
        if document.replaced:
            report.replaced.append(document.name)
        return added

    def _embed_chunks(self, chunks: list[tuple[int, str]], report: IndexReport) -> None:
        for start in range(0, len(chunks), EMBED_BATCH):
            batch = chunks[start : start + EMBED_BATCH]
            vectors = self._embed([text for _, text in batch])
            self._db.executemany(
                "UPDATE chunks SET vector = ? WHERE id = ?",
                [(to_blob(v), i) for (i, _), v in zip(batch, vectors, strict=True)],
            )
            report.embedded += len(batch)

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of ``texts`` by the store's model, which is recorded with its dim
        the first time (inside the caller's transaction)."""
        model = self._model()
        vectors = unit_rows(model.embed(texts))
        dim = vectors.shape[1]
        if self._recorded is None:
            self._db.executemany(
                "INSERT INTO settings (key, value) VALUES (?, ?)",
                [
                    ("embedding_name", model.name),
                    ("embedding_path", model.path),
                    ("embedding_digest", model.digest),
                    ("embedding_dim", str(dim)),
                ],
            )
            self._recorded = _Recorded(model.name, model.path, model.digest, dim)
        elif dim != self._recorded.dim:
            raise RetrievalError(
                f"{self.name}: its vectors have {self._recorded.dim} values and "
                f"{model.name} makes {dim}: index into a new file with this model"
            )
        return vectors

    def _model(self) -> EmbeddingModel:
        """The embedding model given, else the recorded one, loaded once and checked."""
        if self._embedding is None:
            assert self._recorded is not None  # asked for only in a store with vectors
            try:
                model = load_embedding_model(self._recorded.path)
            except RetrievalError as error:
                raise RetrievalError(
                    f"{self.name}: its vectors were made by {self._recorded.name}, which "
                    f"cannot be loaded ({error}); index again into a new file"
                ) from None
            self._check_same_model(model)
            self._embedding = model
        return self._embedding

    def _check_same_model(self, model: EmbeddingModel) -> None:
        recorded = self._recorded
        assert recorded is not None
        if model.digest != recorded.digest:
            raise RetrievalError(
                f"{self.name}: its vectors were made by {recorded.name} ({recorded.path}, "
                f"dim {recorded.dim}, sha256 {recorded.digest[:12]}); {model.name} "
                f"({model.path}, sha256 {model.digest[:12]}) is another model: index into a "
                "new file with it"
            )

    def _read_recorded(self) -> _Recorded | None:
        settings = dict(self._db.execute("SELECT key, value FROM settings"))
        if "embedding_digest" not in settings:
            return None
        return _Recorded(
            settings["embedding_name"],
            settings["embedding_path"],
            settings["embedding_digest"],
            int(settings["embedding_dim"]),
        )

    # -- search ----------------------------------------------------------------------------

    def search(self, query: str, k: int = 3, mode: SearchMode | None = None) -> list[Passage]:
        """The ``k`` passages that best match ``query``, best first. ``mode``: "keyword"
        (any of its words but stop words, or any of its words when it has nothing else),
        "vector" (nearest by the embedding model) or "hybrid" (both, fused); None: hybrid in
        a store with vectors, keyword in one without (or the store's ``mode``)."""
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if not isinstance(query, str) or not query.strip():
            raise ValueError("the query is empty: a search needs words")
        _check_mode(mode)
        mode = mode or self.mode or ("hybrid" if self.has_vectors else "keyword")
        if mode != "keyword" and not self.has_vectors:
            raise RetrievalError(
                f"{self.name}: holds no vectors for a {mode} search: index it with an "
                "embedding model (edge-reason index --embed MODEL)"
            )
        try:
            if mode == "keyword":
                ranked = self._keyword_ranking(query, k)
            elif mode == "vector":
                ranked = self._vector_ranking(query, k)
            else:
                depth = max(k, FUSION_DEPTH)
                rankings = [self._keyword_ranking(query, depth), self._vector_ranking(query, depth)]
                ranked = reciprocal_rank_fusion(
                    [[i for i, _ in r] for r in rankings],
                    HYBRID_RRF_K,
                    [KEYWORD_WEIGHT, VECTOR_WEIGHT],
                )[:k]
            return self._passages(ranked)
        except sqlite3.Error as error:
            raise self._failed("search", error) from None

    def _keyword_ranking(self, query: str, k: int) -> list[tuple[int, float]]:
        words = _WORD.findall(query.lower())
        words = [w for w in words if w not in STOP_WORDS] or words
        if not words:
            return []
        # Each word quoted: the user's text never acts as FTS5 query syntax.
        match = " OR ".join(f'"{w}"' for w in dict.fromkeys(words))
        rows = self._db.execute(
            "SELECT rowid, bm25(passages) FROM passages WHERE passages MATCH ? "
            "ORDER BY bm25(passages), rowid LIMIT ?",
            (match, k),
        ).fetchall()
        # FTS5's bm25() is lower-is-better; negated so that a higher score is better.
        return [(rowid, -score) for rowid, score in rows]

    def _vector_ranking(self, query: str, k: int) -> list[tuple[int, float]]:
        query_vector = self._embed([query])[0]
        if self._vectors is None:
            rows = self._db.execute(
                "SELECT id, vector FROM chunks WHERE vector IS NOT NULL ORDER BY id"
            ).fetchall()
            assert self._recorded is not None
            self._vectors = VectorIndex(
                [i for i, _ in rows], [v for _, v in rows], self._recorded.dim
            )
        return self._vectors.search(query_vector, k)

    def _passages(self, ranked: Sequence[tuple[int, float]]) -> list[Passage]:
        ids = [rowid for rowid, _ in ranked]
        marks = ", ".join("?" * len(ids))
        rows = self._db.execute(
            "SELECT p.rowid, p.source, p.number, p.text, c.first_line, c.last_line FROM "
            f"passages AS p LEFT JOIN chunks AS c ON c.id = p.rowid WHERE p.rowid IN ({marks})",
            ids,
        ).fetchall()
        found = {row[0]: row[1:] for row in rows}
        return [
            Passage(src, f"passage {n}", text, score, first, last)
            for rowid, score in ranked
            for src, n, text, first, last in [found[rowid]]
        ]


def _check_mode(mode: object) -> None:
    if mode is not None and mode not in SEARCH_MODES:
        raise ValueError(f"mode must be one of {', '.join(SEARCH_MODES)}, got {mode!r}")


def _refuse_a_special_file(path: Path, name: str) -> None:
    """A FIFO or device named as the store would block or never end: only a regular file
    (or a new one) is opened."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as error:
        raise RetrievalError(f"{name}: cannot open the document store ({error.strerror})") from None
    if not stat.S_ISREG(mode):
        raise RetrievalError(f"{name}: not a regular file, so not a document store")
