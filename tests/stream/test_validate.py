"""Validation against the tag table: one stable reason per rejected point, vectorised."""

from __future__ import annotations

import numpy as np
import pytest

from ifactory.core.errors import InvalidInput
from ifactory.historian.batch import BAD, UNCERTAIN, TelemetryBatch
from ifactory.stream.tagtable import TagRecord, TagTable
from ifactory.stream.validate import validate

NOW = 1_750_000_000_000_000
S = 1_000_000
DAY = 86_400 * S

TABLE = TagTable.from_records(
    [
        {"id": 1, "key": "s/l/m1/temp", "data_type": "float"},
        {"id": 2, "key": "s/l/m1/count", "data_type": "int", "counter_max": 65536},
        {"id": 3, "key": "s/l/m1/running", "data_type": "bool"},
        {"id": 4, "key": "s/l/m1/state", "data_type": "enum", "enum": {0: "idle", 1: "executing"}},
        TagRecord(5, "s/l/m1/product", "string"),
    ]
)


def check(tags, values, *, ts=None, quality=None, text=None, retention_us=None):
    n = len(values)
    b = TelemetryBatch.of(
        tags, ts if ts is not None else [NOW] * n, values, quality, received_us=NOW, text=text
    )
    return validate(b, TABLE, NOW, retention_us=retention_us)


def reasons(result) -> dict[str, list[float]]:
    return {r: b.values.tolist() for r, b in result.rejected.items()}


def test_keys_are_resolved_and_good_points_accepted() -> None:
    r = check(["s/l/m1/temp", "s/l/m1/count", "s/l/m1/running", "s/l/m1/state"], [1.5, 7, 1, 1])
    assert r.rejected == {}
    assert r.accepted.tags.dtype == np.int32 and r.accepted.tags.tolist() == [1, 2, 3, 4]


def test_unknown_tags_by_key_or_id() -> None:
    r = check(["s/l/m1/temp", "nope"], [1.0, 2.0])
    assert reasons(r) == {"unknown_tag": [2.0]}
    assert r.rejected["unknown_tag"].tags.tolist() == ["nope"]
    r = check([1, 99, -3], [1.0, 2.0, 3.0])
    assert reasons(r) == {"unknown_tag": [2.0, 3.0]}


def test_wrong_type() -> None:
    r = check([2, 2, 3, 3, 4, 4, 4], [7.0, 7.5, 1.0, 2.0, 1.0, 5.0, 0.5])
    assert reasons(r) == {"wrong_type": [7.5, 2.0, 5.0, 0.5]}


def test_strings_for_numeric_tags_and_missing_text_for_string_tags() -> None:
    text = np.array(["hello", None, "PN-7", None, b"raw"], dtype=object)
    r = check([1, 1, 5, 5, 5], [np.nan, 1.0, np.nan, np.nan, np.nan], text=text)
    assert r.accepted.tags.tolist() == [1, 5]
    assert r.accepted.text is not None and r.accepted.text.tolist() == [None, "PN-7"]
    assert len(r.rejected["wrong_type"]) == 3


def test_non_finite_is_rejected_only_with_good_quality() -> None:
    r = check([1, 1, 1, 2], [np.nan, np.inf, np.nan, np.nan], quality=[0, 0, BAD, UNCERTAIN])
    assert len(r.rejected["non_finite"]) == 2
    assert r.accepted.quality.tolist() == [BAD, UNCERTAIN]


def test_timestamps_in_the_future_and_too_old() -> None:
    ts = [NOW + 299 * S, NOW + 301 * S, NOW - 2 * DAY, NOW - DAY + S]
    r = check([1, 1, 1, 1], [1.0, 2.0, 3.0, 4.0], ts=ts, retention_us=DAY)
    assert reasons(r) == {"future_timestamp": [2.0], "too_old": [3.0]}
    assert r.accepted.values.tolist() == [1.0, 4.0]


def test_each_point_gets_the_first_reason_that_applies() -> None:
    r = check([99, 2, 2], [1.5, 1.5, np.nan], ts=[NOW + DAY] * 3)
    assert reasons(r)["unknown_tag"] == [1.5]
    assert reasons(r)["wrong_type"] == [1.5]
    assert len(r.rejected["non_finite"]) == 1
    assert "future_timestamp" not in r.rejected


def test_a_bad_tag_table_is_refused() -> None:
    with pytest.raises(InvalidInput):
        TagTable.from_records([{"id": 1, "key": "a", "data_type": "complex"}])
    with pytest.raises(InvalidInput):
        TagTable.from_records([{"id": 1, "key": "a"}, {"id": 2, "key": "a"}])


def test_counter_max_map() -> None:
    assert TABLE.counter_max_map() == {2: 65536.0}
