"""A local document store for manuals and notes: SQLite FTS5 with BM25 ranking, no server.

``DocumentStore(db).index_folder(docs)`` splits every .md and .txt file into passages
(paragraphs, merged up to about ``PASSAGE_WORDS`` words) and indexes them; ``search`` returns
the best passages for a question, which go into the prompt and are cited by the answer.

Words are matched by their stem (FTS5's porter tokenizer: "run" finds "runs") and a question's
stop words are left out of the query: "When does the fan run?" must not rank every passage
that holds "the" or "when" as high as the one about the fan.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from .errors import RetrievalError

PASSAGE_WORDS = 120
DOCUMENT_SUFFIXES = (".md", ".txt")
_TABLE = "fts5(source UNINDEXED, number UNINDEXED, text, tokenize='porter unicode61')"
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


class DocumentStore:
    """Passages of local documents in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(str(self.path))
            with self._db:
                self._restem_unstemmed_store()
                self._db.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS passages USING {_TABLE}")
        except sqlite3.Error as error:
            raise RetrievalError(f"{self.path}: cannot open the document store ({error})") from None

    def _restem_unstemmed_store(self) -> None:
        """A store indexed before words were stemmed is rebuilt with its passages, so that
        its questions match as a new store's do."""
        found = self._db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'passages'"
        ).fetchone()
        if found is None or "porter" in found[0]:
            return
        rows = self._db.execute("SELECT source, number, text FROM passages").fetchall()
        self._db.execute("DROP TABLE passages")
        self._db.execute(f"CREATE VIRTUAL TABLE passages USING {_TABLE}")
        self._db.executemany("INSERT INTO passages VALUES (?, ?, ?)", rows)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> DocumentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM passages").fetchone()[0]

    def index_folder(self, folder: str | Path) -> int:
        """Index every .md/.txt file under ``folder`` (again: replacing what it held before).
        Returns the number of passages added."""
        folder = Path(folder)
        if not folder.is_dir():
            raise RetrievalError(f"{folder}: not a folder of documents")
        files = sorted(p for p in folder.rglob("*") if p.suffix in DOCUMENT_SUFFIXES)
        added = 0
        with self._db:
            for path in files:
                try:
                    text = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as error:
                    raise RetrievalError(f"{path}: cannot read ({error})") from None
                self._db.execute("DELETE FROM passages WHERE source = ?", (str(path),))
                rows = [(str(path), n, p) for n, p in enumerate(split_passages(text), start=1)]
                self._db.executemany("INSERT INTO passages VALUES (?, ?, ?)", rows)
                added += len(rows)
        return added

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
        rows = self._db.execute(
            "SELECT source, number, text, bm25(passages) FROM passages "
            "WHERE passages MATCH ? ORDER BY bm25(passages) LIMIT ?",
            (match, k),
        ).fetchall()
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
