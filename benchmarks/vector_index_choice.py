"""Exact nearest-neighbour search over chunk vectors: float32 BLOBs in the store's SQLite file
scanned with numpy (what edge_reason/reasoning/vector_index.py does) against sqlite-vec's vec0
table (itself a flat scan; it needs apsw, as the stdlib sqlite3 here cannot load extensions).

For each size: the time to read every vector out of the file into one matrix (once per
process: the store keeps it), the median time of a top-10 query on it, sqlite-vec's median
query time, and both files' sizes. Random unit vectors of dimension 384 (all-MiniLM-L6-v2's):
a flat scan's time depends on the count and dimension only.

    python benchmarks/vector_index_choice.py [--sizes 1000 10000 100000] [--queries 30]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 384
TOP = 10


def _unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _median_ms(run, queries: np.ndarray) -> float:
    times = []
    for query in queries:
        start = time.perf_counter()
        run(query)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def numpy_blobs(path: Path, vectors: np.ndarray, queries: np.ndarray) -> dict[str, float]:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE chunks (id INTEGER PRIMARY KEY, vector BLOB)")
        db.executemany(
            "INSERT INTO chunks VALUES (?, ?)", ((i, v.tobytes()) for i, v in enumerate(vectors))
        )
    db.close()
    start = time.perf_counter()
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT id, vector FROM chunks ORDER BY id").fetchall()
    db.close()
    matrix = np.frombuffer(b"".join(v for _, v in rows), dtype=np.float32).reshape(-1, DIM)
    load = time.perf_counter() - start

    def query(q: np.ndarray) -> None:
        scores = matrix @ q
        top = np.argpartition(-scores, TOP)[:TOP]
        top[np.argsort(-scores[top])]

    return {"load_ms": load * 1000, "query_ms": _median_ms(query, queries), "mb": _mb(path)}


def sqlite_vec(path: Path, vectors: np.ndarray, queries: np.ndarray) -> dict[str, float]:
    import apsw
    import sqlite_vec as vec

    db = apsw.Connection(str(path))
    db.enable_load_extension(True)
    db.load_extension(vec.loadable_path())
    with db:
        db.execute(f"CREATE VIRTUAL TABLE chunks USING vec0(vector float[{DIM}])")
        db.executemany(
            "INSERT INTO chunks(rowid, vector) VALUES (?, ?)",
            ((i, v.tobytes()) for i, v in enumerate(vectors)),
        )

    def query(q: np.ndarray) -> None:
        db.execute(
            "SELECT rowid, distance FROM chunks WHERE vector MATCH ? AND k = ?", (q.tobytes(), TOP)
        ).fetchall()

    result = {"query_ms": _median_ms(query, queries)}
    db.close()
    return result | {"mb": _mb(path)}


def _mb(path: Path) -> float:
    return path.stat().st_size / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--queries", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    queries = _unit_vectors(rng, args.queries)
    print(
        "| chunks | numpy: load once (ms) | numpy: query (ms) | sqlite-vec: query (ms) "
        "| file MB (BLOB / vec0) |"
    )
    print("|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        vectors = _unit_vectors(rng, n)
        with tempfile.TemporaryDirectory() as tmp:
            flat = numpy_blobs(Path(tmp, "blobs.db"), vectors, queries)
            vec0 = sqlite_vec(Path(tmp, "vec0.db"), vectors, queries)
        print(
            f"| {n:,} | {flat['load_ms']:.1f} | {flat['query_ms']:.2f} | {vec0['query_ms']:.2f} "
            f"| {flat['mb']:.1f} / {vec0['mb']:.1f} |"
        )


if __name__ == "__main__":
    main()
