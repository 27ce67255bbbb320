"""The dead-letter store: bulk inserts, counts by reason, filters and paging; on SQLite and on
PostgreSQL, where the stores of several processes share one schema."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psycopg
import pytest
from tests.historian.test_postgres_store import (  # noqa: F401 (pg_schema is a fixture)
    PG_URL,
    libpq,
    pg_schema,
)

from ifactory.historian.deadletter import DeadLetterBatch, DeadLetterStore
from ifactory.historian.deadletter_pg import PostgresDeadLetterStore

Opener = Callable[[], DeadLetterStore | PostgresDeadLetterStore]


def letters(reason: str, received_us: int, n: int, *, text: bool = False) -> DeadLetterBatch:
    return DeadLetterBatch(
        reason=reason,
        received_us=received_us,
        source="mqtt",
        tags=np.array([f"site/line/m{i}/temp" for i in range(n)], dtype=object),
        ts=np.arange(n, dtype=np.int64) + 1_000,
        values=np.arange(n, dtype=np.float64) + 0.5,
        text=np.array(["x"] * n, dtype=object) if text else None,
        detail="why",
    )


def pg_opener(schema: str) -> Opener:
    assert PG_URL is not None
    return lambda: PostgresDeadLetterStore(PG_URL, schema=schema)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens the store under test (again, on the same data, when called again)."""
    if request.param == "sqlite":
        return lambda: DeadLetterStore(tmp_path / "dl.db")
    return pg_opener(request.getfixturevalue("pg_schema"))


def test_counts_filters_and_paging(opener: Opener) -> None:
    store = opener()
    assert (
        store.add([letters("unknown_tag", 100, 3), letters("wrong_type", 200, 2, text=True)]) == 5
    )
    store.add([letters("unknown_tag", 300, 1)])
    assert store.counts() == {"unknown_tag": 4, "wrong_type": 2}

    newest = store.query(limit=2)
    assert [d.received_us for d in newest] == [300, 200]
    page2 = store.query(limit=2, offset=2)
    assert len(page2) == 2 and all(d.received_us in (100, 200) for d in page2)
    wrong = store.query(reason="wrong_type")
    assert {d.value for d in wrong} == {"x"} and wrong[0].source == "mqtt"
    assert wrong[0].tag.startswith("site/line/")
    recent = store.query(since_us=200)
    assert sorted(d.received_us for d in recent) == [200, 200, 300]
    assert store.query(reason="unknown_tag", since_us=300)[0].value == "0.5"
    store.close()


def test_counts_survive_a_restart_and_follow_retention(opener: Opener) -> None:
    store = opener()
    store.add([letters("too_old", 100, 3), letters("conflict", 500, 2)])
    store.close()
    store = opener()
    assert store.counts() == {"conflict": 2, "too_old": 3}
    assert store.delete_older_than(200) == 3
    assert store.counts() == {"conflict": 2, "too_old": 0}
    assert len(store.query()) == 2
    store.close()


def test_a_payload_with_a_nul_character_is_still_dead_lettered(opener: Opener) -> None:
    store = opener()
    bad = DeadLetterBatch(
        reason="undecodable",
        received_us=100,
        source="mqtt",
        tags=np.array(["site/line/m1/raw"], dtype=object),
        ts=np.array([1_000], dtype=np.int64),
        values=np.full(1, np.nan),
        text=np.array(["ab\x00cd"], dtype=object),
        detail="not JSON",
    )
    assert store.add([bad]) == 1
    (stored,) = store.query(reason="undecodable")
    assert stored.value is not None and stored.value.startswith("ab")
    assert stored.value.endswith("cd") and stored.detail == "not JSON"
    assert store.counts() == {"undecodable": 1}
    store.close()


@pytest.mark.postgres
def test_processes_sharing_a_schema_see_each_others_dead_letters(pg_schema: str) -> None:  # noqa: F811
    open_store = pg_opener(pg_schema)
    api, worker = open_store(), open_store()
    api.add([letters("unknown_tag", 100, 2)])
    worker.add([letters("unknown_tag", 200, 1), letters("non_finite", 200, 3)])

    for store in (api, worker):
        assert store.counts() == {"non_finite": 3, "unknown_tag": 3}
        assert [d.received_us for d in store.query(reason="unknown_tag")] == [200, 100, 100]
        assert len(store.query()) == 6

    assert worker.delete_older_than(150) == 2
    assert api.counts() == {"non_finite": 3, "unknown_tag": 1}
    assert {d.received_us for d in api.query()} == {200}
    api.close()
    worker.close()


@pytest.mark.postgres
def test_retention_in_two_processes_at_once_keeps_the_counts_right(pg_schema: str) -> None:  # noqa: F811
    open_store = pg_opener(pg_schema)
    api, worker = open_store(), open_store()
    api.add([letters("too_old", 100, 3), letters("conflict", 500, 2)])
    assert PG_URL is not None
    with psycopg.connect(libpq(PG_URL)) as blocker, ThreadPoolExecutor(2) as pool:
        # Hold the old rows so both retentions are under way before either deletes anything.
        blocker.execute(
            f'SELECT id FROM "{pg_schema}".dead_letters WHERE received_us < 200 FOR UPDATE'
        )
        pids = [s._conn.info.backend_pid for s in (api, worker)]
        deleted = [pool.submit(s.delete_older_than, 200) for s in (api, worker)]
        deadline = time.monotonic() + 30
        waiting = 0
        while waiting < 2 and time.monotonic() < deadline:
            row = blocker.execute(
                "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted AND pid = ANY(%s)",
                (pids,),
            ).fetchone()
            waiting = row[0] if row is not None else 0
        assert waiting == 2, "both retentions should be waiting for the held rows"
        blocker.commit()
        assert sorted(f.result(timeout=30) for f in deleted) == [0, 3]
    assert api.counts() == {"conflict": 2, "too_old": 0}
    assert len(worker.query()) == 2
    api.close()
    worker.close()
