"""The dead-letter store: bulk inserts, counts by reason, filters and paging."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ifactory.historian.deadletter import DeadLetterBatch, DeadLetterStore


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


def test_counts_filters_and_paging(tmp_path: Path) -> None:
    store = DeadLetterStore(tmp_path / "dl.db")
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


def test_counts_survive_a_restart_and_follow_retention(tmp_path: Path) -> None:
    store = DeadLetterStore(tmp_path / "dl.db")
    store.add([letters("too_old", 100, 3), letters("conflict", 500, 2)])
    store.close()
    store = DeadLetterStore(tmp_path / "dl.db")
    assert store.counts() == {"conflict": 2, "too_old": 3}
    assert store.delete_older_than(200) == 3
    assert store.counts() == {"conflict": 2, "too_old": 0}
    assert len(store.query()) == 2
    store.close()
