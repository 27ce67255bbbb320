"""The dead-letter store: every point that was not stored, with the reason (DESIGN.md, principle 3).

A SQLite table next to the historian files. Points arrive in columnar groups (one reason
each) and are inserted in one transaction per call; per-reason counters are kept in the same
transaction so `counts()` does not scan the table.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    received_us INTEGER NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    tag TEXT NOT NULL,
    ts INTEGER NOT NULL,
    value TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_reason ON dead_letters(reason, id);
CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters(received_us);
CREATE TABLE IF NOT EXISTS dead_letter_counts (reason TEXT PRIMARY KEY, n INTEGER NOT NULL);
"""

# Stable reason codes (also the `type` codes the API shows).
UNKNOWN_TAG = "unknown_tag"
WRONG_TYPE = "wrong_type"
NON_FINITE = "non_finite"
FUTURE_TIMESTAMP = "future_timestamp"
TOO_OLD = "too_old"
CONFLICT = "conflict"
REASONS = (UNKNOWN_TAG, WRONG_TYPE, NON_FINITE, FUTURE_TIMESTAMP, TOO_OLD, CONFLICT)


@dataclass(frozen=True, slots=True)
class DeadLetterBatch:
    """Points rejected for one reason, as columns; `detail` is one string or one per point."""

    reason: str
    received_us: int
    source: str
    tags: npt.NDArray[Any]
    ts: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    text: npt.NDArray[np.object_] | None = None
    detail: str | Sequence[str] = ""

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One stored dead letter."""

    id: int
    received_us: int
    source: str
    reason: str
    tag: str
    ts: int
    value: str | None
    detail: str


def value_repr(values: npt.NDArray[np.float64], text: npt.NDArray[np.object_] | None) -> list[str]:
    """How a value is shown in a dead letter: the string itself, else the float's repr."""
    out: list[str] = np.asarray(values, dtype=np.float64).astype(str).tolist()
    if text is not None:
        for i, s in enumerate(text.tolist()):
            if s is not None:
                out[i] = repr(s) if not isinstance(s, str) else s
    return out


LetterRow = tuple[int, str, str, str, int, str, str]
# The stored columns, in the order of `DeadLetter`.
COLUMNS = "id, received_us, source, reason, tag, ts, value, detail"
# The columns `letter_rows` fills, in its order.
INSERT_COLUMNS = "received_us, source, reason, tag, ts, value, detail"


def letter_rows(batches: Sequence[DeadLetterBatch]) -> tuple[list[LetterRow], dict[str, int]]:
    """The rows to insert for `batches` (in `INSERT_COLUMNS` order) and how many per reason."""
    rows: list[LetterRow] = []
    per_reason: dict[str, int] = {}
    for b in batches:
        k = len(b)
        if k == 0:
            continue
        tags = [str(t) for t in np.asarray(b.tags).tolist()]
        details = [b.detail] * k if isinstance(b.detail, str) else list(b.detail)
        values = value_repr(b.values, b.text)
        rows.extend(
            zip(
                [b.received_us] * k,
                [b.source] * k,
                [b.reason] * k,
                tags,
                np.asarray(b.ts, dtype=np.int64).tolist(),
                values,
                details,
                strict=True,
            )
        )
        per_reason[b.reason] = per_reason.get(b.reason, 0) + k
    return rows, per_reason


def query_filter(
    reason: str | None, since_us: int | None, limit: int, offset: int, placeholder: str
) -> tuple[str, list[Any]]:
    """The WHERE clause (empty, or with a leading space) of a dead-letter query, and the
    parameters of it followed by LIMIT and OFFSET; `placeholder` is the driver's marker."""
    where: list[str] = []
    params: list[Any] = []
    if reason is not None:
        where.append(f"reason = {placeholder}")
        params.append(reason)
    if since_us is not None:
        where.append(f"received_us >= {placeholder}")
        params.append(since_us)
    params.extend([max(0, int(limit)), max(0, int(offset))])
    return (" WHERE " + " AND ".join(where) if where else ""), params


class DeadLetterStore:
    """Dead letters in SQLite: bulk inserts, per-reason counts, filtered paged queries."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # A dead letter is the only trace of a rejected point: make each insert durable.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(SCHEMA)
        self._lock = threading.Lock()

    def add(self, batches: Sequence[DeadLetterBatch]) -> int:
        """Insert all points of `batches` in one transaction; returns how many."""
        rows, per_reason = letter_rows(batches)
        if not rows:
            return 0
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    f"INSERT INTO dead_letters({INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self._conn.executemany(
                    "INSERT INTO dead_letter_counts(reason, n) VALUES (?, ?) "
                    "ON CONFLICT(reason) DO UPDATE SET n = n + excluded.n",
                    per_reason.items(),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return len(rows)

    def query(
        self,
        reason: str | None = None,
        since_us: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[DeadLetter]:
        """Dead letters, newest first, optionally of one reason and received since `since_us`."""
        where, params = query_filter(reason, since_us, limit, offset, "?")
        sql = f"SELECT {COLUMNS} FROM dead_letters{where} ORDER BY id DESC LIMIT ? OFFSET ?"
        with self._lock:
            return [DeadLetter(*row) for row in self._conn.execute(sql, params)]

    def counts(self) -> dict[str, int]:
        """Number of dead letters per reason code."""
        with self._lock:
            return dict(
                self._conn.execute("SELECT reason, n FROM dead_letter_counts ORDER BY reason")
            )

    def delete_older_than(self, received_us: int) -> int:
        """Drop dead letters received before `received_us` (retention); returns how many."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                gone = list(
                    self._conn.execute(
                        "SELECT reason, COUNT(*) FROM dead_letters "
                        "WHERE received_us < ? GROUP BY reason",
                        (received_us,),
                    )
                )
                self._conn.execute("DELETE FROM dead_letters WHERE received_us < ?", (received_us,))
                self._conn.executemany(
                    "UPDATE dead_letter_counts SET n = n - ? WHERE reason = ?",
                    [(n, r) for r, n in gone],
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return sum(n for _, n in gone)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()
