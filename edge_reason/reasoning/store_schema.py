"""The document store's tables, and which SQLite files are stores.

* ``passages``: the FTS5 index (words matched by their stem), one row per passage;
* ``chunks``: each passage's lines in its source and, in a store with an embedding model,
  its vector (float32 BLOB); ``chunks.id`` is the passage's rowid;
* ``files``: each indexed document's SHA-256, so that only changed files are indexed again;
* ``settings``: the embedding model that made the vectors (name, path, digest, dim).

A store made before the last three tables existed (``passages`` alone, with or without
stemming) is brought up to date when opened: its passages keep their text, without line
spans until their files are indexed again (every file is: none has a recorded digest).
Any other database is refused, never written to.
"""

from __future__ import annotations

import sqlite3

from .errors import RetrievalError

_PASSAGE_COLUMNS = "source UNINDEXED, number UNINDEXED, text"
_UNSTEMMED_SQL = f"CREATE VIRTUAL TABLE passages USING fts5({_PASSAGE_COLUMNS})"
TABLES = {
    "passages": f"CREATE VIRTUAL TABLE passages USING fts5({_PASSAGE_COLUMNS}, "
    "tokenize='porter unicode61')",
    "chunks": "CREATE TABLE chunks (id INTEGER PRIMARY KEY, source TEXT NOT NULL, "
    "number INTEGER NOT NULL, first_line INTEGER, last_line INTEGER, vector BLOB)",
    "files": "CREATE TABLE files (source TEXT PRIMARY KEY, sha256 TEXT NOT NULL)",
    "settings": "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
}
_CHUNKS_BY_SOURCE = "CREATE INDEX chunks_source ON chunks (source)"


def open_schema(db: sqlite3.Connection, name: str) -> None:
    """Creates the tables in a new file, brings an older store up to date, refuses anything
    else (module docstring); inside the caller's transaction."""
    tables = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
    ours = {t: sql for t, sql in tables.items() if not _is_internal(t)}
    passages = ours.get("passages")
    known = passages in (TABLES["passages"], _UNSTEMMED_SQL) and all(
        TABLES.get(t) == sql for t, sql in ours.items() if t != "passages"
    )
    if tables and not known:
        names = ", ".join(sorted(tables))
        raise RetrievalError(
            f"{name}: not a document store (a database with the tables {names}); "
            "it is left as it is: choose another file"
        )
    if passages == _UNSTEMMED_SQL:
        _restem(db)
    for table, sql in TABLES.items():
        if table not in ours:
            db.execute(sql)
            if table == "chunks":
                db.execute(_CHUNKS_BY_SOURCE)
                db.execute(
                    "INSERT INTO chunks (id, source, number) SELECT rowid, source, number "
                    "FROM passages ORDER BY rowid"
                )


def _is_internal(table: str) -> bool:
    """FTS5's shadow tables of ``passages`` and SQLite's own."""
    return table.startswith(("passages_", "sqlite_"))


def _restem(db: sqlite3.Connection) -> None:
    """A store indexed before words were stemmed, indexed again with stems (same rowids)."""
    rows = db.execute("SELECT rowid, source, number, text FROM passages").fetchall()
    db.execute("DROP TABLE passages")
    db.execute(TABLES["passages"])
    db.executemany("INSERT INTO passages (rowid, source, number, text) VALUES (?, ?, ?, ?)", rows)
