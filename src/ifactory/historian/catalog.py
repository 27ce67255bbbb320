"""The SQLite file of the embedded historian: compressed blocks, rollup segments and metadata.

One row per (tag, flush) in `blocks` (raw points) and in `rollups` (the complete 1-minute
rollup rows of every bucket that flush touched for that tag). When two rollup segments hold
the same (tag, bucket), the one from the later flush (`seq`) is the complete one.
`synchronous=FULL` because a flush deletes the WAL segments it covers right after its commit:
the commit itself must be on disk by then.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zstandard

from ifactory.historian.blocks import DecodedBlock, EncodedBlock, decode_block
from ifactory.historian.rollups import MATRIX_ROWS, Rows

SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    id INTEGER PRIMARY KEY,
    tag_id INTEGER NOT NULL,
    t_min INTEGER NOT NULL,
    t_max INTEGER NOT NULL,
    n INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    text BLOB
);
CREATE INDEX IF NOT EXISTS blocks_tag_tmax ON blocks(tag_id, t_max, t_min);
CREATE TABLE IF NOT EXISTS rollups (
    id INTEGER PRIMARY KEY,
    tag_id INTEGER NOT NULL,
    b_lo INTEGER NOT NULL,
    b_hi INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    n INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS rollups_tag_bhi ON rollups(tag_id, b_hi, b_lo);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
"""

FORMAT_VERSION = b"1"
_IN_CHUNK = 500


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL journal, full sync."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    # A small page cache: blobs are read once per query and the OS caches the file anyway.
    conn.execute("PRAGMA cache_size=-16384")
    return conn


def create(path: Path) -> None:
    """Create the schema if missing."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA page_size=16384")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        if get_meta(conn, "format") is None:
            put_meta(conn, "format", FORMAT_VERSION)
    finally:
        conn.close()


def get_meta(conn: sqlite3.Connection, key: str) -> bytes | None:
    """A metadata value, or None."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else bytes(row[0])


def put_meta(conn: sqlite3.Connection, key: str, value: bytes) -> None:
    """Set a metadata value (inside the caller's transaction, if any)."""
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))


def insert_blocks(conn: sqlite3.Connection, blocks: Iterable[EncodedBlock], seq: int) -> None:
    """Insert encoded blocks of flush `seq`."""
    conn.executemany(
        "INSERT INTO blocks(tag_id, t_min, t_max, n, seq, data, text) VALUES (?, ?, ?, ?, ?, ?, ?)",
        ((b.tag_id, b.t_min, b.t_max, b.n, seq, b.data, b.text) for b in blocks),
    )


def insert_rollups(
    conn: sqlite3.Connection, segments: Iterable[tuple[int, int, int, int, bytes]], seq: int
) -> None:
    """Insert rollup segments (tag_id, b_lo, b_hi, n rows, compressed records) of flush `seq`."""
    conn.executemany(
        "INSERT INTO rollups(tag_id, b_lo, b_hi, seq, n, data) VALUES (?, ?, ?, ?, ?, ?)",
        ((t, lo, hi, seq, n, d) for t, lo, hi, n, d in segments),
    )


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), _IN_CHUNK):
        yield ids[i : i + _IN_CHUNK]


def select_blocks(
    conn: sqlite3.Connection, tag_ids: Sequence[int], start_us: int, end_us: int
) -> list[tuple[int, int, int, int, bytes, bytes | None]]:
    """(id, tag_id, t_min, n, data, text) of blocks of `tag_ids` overlapping [start_us, end_us]."""
    out: list[tuple[int, int, int, int, bytes, bytes | None]] = []
    for chunk in _chunks(tag_ids):
        marks = ",".join("?" * len(chunk))
        out.extend(
            conn.execute(
                f"SELECT id, tag_id, t_min, n, data, text FROM blocks "
                f"WHERE tag_id IN ({marks}) AND t_max >= ? AND t_min <= ?",
                (*chunk, start_us, end_us),
            )
        )
    return out


def select_rollups(
    conn: sqlite3.Connection, tag_ids: Sequence[int], b_lo: int, b_hi: int
) -> list[tuple[int, int, int, bytes]]:
    """(seq, tag_id, n rows, compressed matrix) of the rollup segments overlapping [b_lo, b_hi]."""
    out: list[tuple[int, int, int, bytes]] = []
    for chunk in _chunks(tag_ids):
        marks = ",".join("?" * len(chunk))
        out.extend(
            conn.execute(
                f"SELECT seq, tag_id, n, data FROM rollups "
                f"WHERE tag_id IN ({marks}) AND b_hi >= ? AND b_lo <= ?",
                (*chunk, b_lo, b_hi),
            )
        )
    return out


def decode_rollups(
    segments: list[tuple[int, int, int, bytes]], decompressor: zstandard.ZstdDecompressor
) -> Rows:
    """Rows of the segments, in segment order."""
    if not segments:
        return Rows.empty()
    matrices = [
        np.frombuffer(decompressor.decompress(data), dtype=np.uint64).reshape(MATRIX_ROWS, n)
        for _, _, n, data in segments
    ]
    counts = np.array([n for _, _, n, _ in segments], dtype=np.int64)
    tags = np.repeat(np.array([t for _, t, _, _ in segments], dtype=np.int32), counts)
    return Rows.from_matrix(np.concatenate(matrices, axis=1), tags)


def read_points(
    conn: sqlite3.Connection, tag_ids: Sequence[int], start_us: int, end_us: int
) -> list[tuple[int, DecodedBlock]]:
    """Decoded blocks (tag id, points) of `tag_ids` overlapping [start_us, end_us]."""
    return [
        (tag_id, decode_block(t_min, n, data, text))
        for _, tag_id, t_min, n, data, text in select_blocks(conn, tag_ids, start_us, end_us)
    ]


def delete_older_than(
    conn: sqlite3.Connection, cut_us: int, cut_bucket: int
) -> tuple[int, int, int]:
    """Delete blocks with t_max < cut_us and rollup segments with b_hi < cut_bucket."""
    blocks, points = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(n), 0) FROM blocks WHERE t_max < ?", (cut_us,)
    ).fetchone()
    conn.execute("DELETE FROM blocks WHERE t_max < ?", (cut_us,))
    segments = conn.execute("DELETE FROM rollups WHERE b_hi < ?", (cut_bucket,)).rowcount
    return int(blocks), int(points), int(segments)


def totals(conn: sqlite3.Connection) -> tuple[int, int]:
    """(number of blocks, number of points) on disk."""
    row: Any = conn.execute("SELECT COUNT(*), COALESCE(SUM(n), 0) FROM blocks").fetchone()
    return int(row[0]), int(row[1])
