"""The dead-letter store on PostgreSQL: the rejects of every process in one place.

The same interface and semantics as `DeadLetterStore` (DESIGN.md, principle 3), in the
historian's schema: `dead_letters` and `dead_letter_counts`, created on open if missing.
`add` COPYs the rows and updates the per-reason counters in one transaction, so `counts()`
does not scan and any number of processes may write at once.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from ifactory.historian.deadletter import (
    COLUMNS,
    INSERT_COLUMNS,
    DeadLetter,
    DeadLetterBatch,
    letter_rows,
    query_filter,
)
from ifactory.historian.postgres import _libpq_url, _translated


def _without_nul(text: str) -> str:
    # PostgreSQL text cannot hold NUL, which a bad payload may carry; the dead letter is the
    # only trace of the point, so it is kept with the NUL escaped rather than lost.
    return text.replace("\x00", "\\x00")


class PostgresDeadLetterStore:
    """Dead letters in a PostgreSQL schema: bulk COPY inserts, per-reason counts, paged queries."""

    def __init__(self, url: str, *, schema: str = "historian") -> None:
        self.schema = schema
        self._s = sql.Identifier(schema)
        self._lock = threading.Lock()
        with _translated():
            # Autocommit: writes run in explicit `transaction()` blocks, committed on return.
            self._conn = psycopg.connect(_libpq_url(url), autocommit=True)
            try:
                self._create_tables()
            except BaseException:
                self._conn.close()
                raise

    def _q(self, template: str) -> sql.Composed:
        """`template` with `{s}` the quoted schema name."""
        return sql.SQL(template).format(s=self._s)

    def _create_tables(self) -> None:
        with self._conn.transaction():
            # Concurrent CREATE ... IF NOT EXISTS can collide; take turns with the historian.
            self._conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ifactory.historian:{self.schema}",)
            )
            self._conn.execute(self._q("CREATE SCHEMA IF NOT EXISTS {s}"))
            self._conn.execute(
                self._q(
                    "CREATE TABLE IF NOT EXISTS {s}.dead_letters ("
                    " id int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                    " received_us int8 NOT NULL, source text NOT NULL, reason text NOT NULL,"
                    " tag text NOT NULL, ts int8 NOT NULL, value text, detail text NOT NULL)"
                )
            )
            self._conn.execute(
                self._q(
                    "CREATE INDEX IF NOT EXISTS dead_letters_reason ON {s}.dead_letters(reason, id)"
                )
            )
            self._conn.execute(
                self._q(
                    "CREATE INDEX IF NOT EXISTS dead_letters_received"
                    " ON {s}.dead_letters(received_us)"
                )
            )
            self._conn.execute(
                self._q(
                    "CREATE TABLE IF NOT EXISTS {s}.dead_letter_counts"
                    " (reason text PRIMARY KEY, n int8 NOT NULL)"
                )
            )

    def add(self, batches: Sequence[DeadLetterBatch]) -> int:
        """Insert all points of `batches` in one transaction; returns how many."""
        rows, per_reason = letter_rows(batches)
        if not rows:
            return 0
        copy = self._q(f"COPY {{s}}.dead_letters ({INSERT_COLUMNS}) FROM STDIN")
        with self._lock, _translated(), self._conn.transaction(), self._conn.cursor() as cur:
            with cur.copy(copy) as cp:
                for received_us, source, reason, tag, ts, value, detail in rows:
                    cp.write_row(
                        (
                            received_us,
                            _without_nul(source),
                            _without_nul(reason),
                            _without_nul(tag),
                            ts,
                            _without_nul(value),
                            _without_nul(detail),
                        )
                    )
            # Reasons in one order in every process, so two writers never deadlock.
            cur.executemany(
                self._q(
                    "INSERT INTO {s}.dead_letter_counts (reason, n) VALUES (%s, %s)"
                    " ON CONFLICT (reason) DO UPDATE SET n = dead_letter_counts.n + excluded.n"
                ),
                [(_without_nul(r), n) for r, n in sorted(per_reason.items())],
            )
        return len(rows)

    def query(
        self,
        reason: str | None = None,
        since_us: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[DeadLetter]:
        """Dead letters, newest first, optionally of one reason and received since `since_us`."""
        where, params = query_filter(reason, since_us, limit, offset, "%s")
        query = self._q(
            f"SELECT {COLUMNS} FROM {{s}}.dead_letters{where} ORDER BY id DESC LIMIT %s OFFSET %s"
        )
        with self._lock, _translated():
            return [DeadLetter(*row) for row in self._conn.execute(query, params).fetchall()]

    def counts(self) -> dict[str, int]:
        """Number of dead letters per reason code."""
        query = self._q('SELECT reason, n FROM {s}.dead_letter_counts ORDER BY reason COLLATE "C"')
        with self._lock, _translated():
            return {reason: int(n) for reason, n in self._conn.execute(query).fetchall()}

    def delete_older_than(self, received_us: int) -> int:
        """Drop dead letters received before `received_us` (retention); returns how many."""
        # The counters are lowered by the rows this statement deleted (RETURNING), not by a
        # count taken before: another process's retention may delete the same rows meanwhile.
        delete = self._q(
            "WITH gone AS (DELETE FROM {s}.dead_letters WHERE received_us < %s RETURNING reason)"
            ' SELECT reason, count(*) FROM gone GROUP BY reason ORDER BY reason COLLATE "C"'
        )
        with self._lock, _translated(), self._conn.transaction():
            gone: list[tuple[Any, ...]] = self._conn.execute(delete, (received_us,)).fetchall()
            with self._conn.cursor() as cur:
                cur.executemany(
                    self._q("UPDATE {s}.dead_letter_counts SET n = n - %s WHERE reason = %s"),
                    [(n, r) for r, n in gone],
                )
        return sum(int(n) for _, n in gone)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()
