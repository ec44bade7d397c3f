"""A local document store for manuals and notes: SQLite FTS5 with BM25 ranking, no server.

``DocumentStore(db).index_folder(docs)`` splits every .md and .txt file into passages
(paragraphs, merged up to about ``PASSAGE_WORDS`` words) and indexes them; ``search`` returns
the best passages for a question, which go into the prompt and are cited by the answer. Which
files are read, and how, is document_files.py's; the report says what was skipped.

Words are matched by their stem (FTS5's porter tokenizer: "run" finds "runs") and a question's
stop words are left out of the query: "When does the fan run?" must not rank every passage
that holds "the" or "when" as high as the one about the fan.

The store opens only a new (empty) SQLite file or one that holds its table: any other
database is refused, never written to.
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .document_files import (
    MAX_DOCUMENT_BYTES,
    Document,
    SkippedFile,
    display_name,
    read_documents,
)
from .errors import RetrievalError

PASSAGE_WORDS = 120
_COLUMNS = "source UNINDEXED, number UNINDEXED, text"
_TABLE = f"fts5({_COLUMNS}, tokenize='porter unicode61')"
# How SQLite records the table (its CREATE statement): a store indexed before words were
# stemmed has the first, without the tokenizer.
_UNSTEMMED_SQL = f"CREATE VIRTUAL TABLE passages USING fts5({_COLUMNS})"
_STORE_SQL = f"CREATE VIRTUAL TABLE passages USING {_TABLE}"
_WORD = re.compile(r"\w+")
STOP_WORDS = frozenset(
    "a an and are as at be been by can could did do does for from had has have how i if in "
    "into is it its me my of on or our should so than that the their them then there these "
    "they this those to us was we were what when where which who whom whose why will with "
    "would you your".split()
)


@dataclass(frozen=True)
class Passage:
    """A piece of a document; ``ref`` is how an answer cites it, ``score`` its BM25 relevance
    (higher is better)."""

    source: str
    ref: str
    text: str
    score: float | None = None


@dataclass
class IndexReport:
    """What ``index_folder`` did: passages added from ``files`` documents, the files it
    skipped (with the reason) and the files read with U+FFFD for bytes that are not UTF-8."""

    passages: int = 0
    files: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)


class DocumentStore:
    """Passages of local documents in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = display_name(self.path)  # for messages: a non-UTF-8 name, escaped
        _refuse_a_special_file(self.path, self.name)
        try:
            self._db = sqlite3.connect(str(self.path))
            try:
                with self._db:
                    self._open_table()
            except BaseException:
                self._db.close()
                raise
        except sqlite3.Error as error:
            raise self._failed("open", error) from None

    def _failed(self, doing: str, error: sqlite3.Error) -> RetrievalError:
        return RetrievalError(f"{self.name}: cannot {doing} the document store ({error})")

    def _open_table(self) -> None:
        """Creates the table in a new file, restems a store indexed before words were
        stemmed (so that its questions match as a new store's do) and refuses anything else."""
        tables = dict(self._db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
        found = tables.get("passages")
        if found == _STORE_SQL:
            return
        if found == _UNSTEMMED_SQL:
            rows = self._db.execute("SELECT source, number, text FROM passages").fetchall()
            self._db.execute("DROP TABLE passages")
            self._db.execute(_STORE_SQL)
            self._db.executemany("INSERT INTO passages VALUES (?, ?, ?)", rows)
        elif tables:
            names = ", ".join(sorted(tables))
            raise RetrievalError(
                f"{self.name}: not a document store (a database with the tables {names}); "
                "it is left as it is: choose another file"
            )
        else:
            self._db.execute(_STORE_SQL)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> DocumentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM passages").fetchone()[0]

    def index_folder(self, folder: str | Path, max_bytes: int = MAX_DOCUMENT_BYTES) -> IndexReport:
        """Index every .md/.txt file under ``folder`` (again: replacing what it held before)
        that is a regular file inside it of at most ``max_bytes`` and not binary."""
        if not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValueError(f"max_bytes must be a positive integer, got {max_bytes!r}")
        folder = Path(folder)
        if not folder.is_dir():
            raise RetrievalError(f"{display_name(folder)}: not a folder of documents")
        report = IndexReport()
        try:
            with self._db:  # one transaction: a failure leaves the store as it was
                for found in read_documents(folder, max_bytes):
                    if isinstance(found, Document):
                        self._replace_passages(found, report)
                    else:
                        report.skipped.append(found)
        except sqlite3.Error as error:
            raise self._failed("write", error) from None
        return report

    def _replace_passages(self, document: Document, report: IndexReport) -> None:
        self._db.execute("DELETE FROM passages WHERE source = ?", (document.name,))
        passages = split_passages(document.text)
        rows = [(document.name, n, p) for n, p in enumerate(passages, start=1)]
        self._db.executemany("INSERT INTO passages VALUES (?, ?, ?)", rows)
        report.passages += len(rows)
        report.files += 1
        if document.replaced:
            report.replaced.append(document.name)

    def search(self, query: str, k: int = 3) -> list[Passage]:
        """The ``k`` passages that best match ``query`` (any of its words but stop words, or
        any of its words when it has nothing else), best first."""
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        words = _WORD.findall(query.lower())
        words = [w for w in words if w not in STOP_WORDS] or words
        if not words:
            return []
        # Each word quoted: the user's text never acts as FTS5 query syntax.
        match = " OR ".join(f'"{w}"' for w in dict.fromkeys(words))
        try:
            rows = self._db.execute(
                "SELECT source, number, text, bm25(passages) FROM passages "
                "WHERE passages MATCH ? ORDER BY bm25(passages) LIMIT ?",
                (match, k),
            ).fetchall()
        except sqlite3.Error as error:
            raise self._failed("search", error) from None
        # FTS5's bm25() is lower-is-better; negate it so that a higher score is better.
        return [Passage(src, f"passage {n}", text, -score) for src, n, text, score in rows]


def split_passages(text: str, words: int = PASSAGE_WORDS) -> list[str]:
    """Paragraphs (blank-line separated), merged while they fit in ``words`` words; a longer
    paragraph stays whole."""
    passages: list[str] = []
    current: list[str] = []
    size = 0
    for paragraph in (p.strip() for p in re.split(r"\n\s*\n", text)):
        if not paragraph:
            continue
        length = len(paragraph.split())
        if current and size + length > words:
            passages.append("\n\n".join(current))
            current, size = [], 0
        current.append(paragraph)
        size += length
    if current:
        passages.append("\n\n".join(current))
    return passages


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
