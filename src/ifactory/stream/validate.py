"""Validation of telemetry against the tag table, vectorised, with stable rejection codes.

Each rejected point gets exactly one reason, the first that applies in this order:
`unknown_tag`, `wrong_type`, `non_finite`, `future_timestamp`, `too_old`.
A NaN/inf value is only rejected with Good quality: with Bad or Uncertain quality it is the
device saying it has no usable value, and that is stored (DESIGN.md, "Telemetry data model").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ifactory.historian.batch import TelemetryBatch, is_good
from ifactory.historian.deadletter import (
    FUTURE_TIMESTAMP,
    NON_FINITE,
    TOO_OLD,
    UNKNOWN_TAG,
    WRONG_TYPE,
)
from ifactory.historian.textcodec import present
from ifactory.stream.tagtable import BOOL, ENUM, INT, STRING, UNKNOWN, TagTable

DEFAULT_MAX_FUTURE_US = 300_000_000
# Codes in precedence order; index 0 means accepted.
REASON_ORDER = (UNKNOWN_TAG, WRONG_TYPE, NON_FINITE, FUTURE_TIMESTAMP, TOO_OLD)
_INT32_LIMIT = 2.0**31


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """Accepted points (tags resolved to int32 ids), rejected ones by reason (tags as received)."""

    accepted: TelemetryBatch
    rejected: dict[str, TelemetryBatch] = field(default_factory=dict)
    # Resolved ids of the rejected points (-1 for unknown keys), aligned with `rejected`.
    rejected_ids: dict[str, npt.NDArray[np.int32]] = field(default_factory=dict)

    @property
    def rejected_count(self) -> int:
        """Number of rejected points."""
        return sum(len(b) for b in self.rejected.values())


def resolve_ids(batch: TelemetryBatch, table: TagTable) -> npt.NDArray[np.int32]:
    """Int32 tag ids of a batch, resolving keys through the table (-1 where unknown)."""
    if batch.resolved:
        return np.asarray(batch.tags, dtype=np.int32)
    return table.resolve(batch.tags)


def validate(
    batch: TelemetryBatch,
    table: TagTable,
    now_us: int,
    max_future_us: int = DEFAULT_MAX_FUTURE_US,
    retention_us: int | None = None,
) -> ValidationResult:
    """Split `batch` into accepted points (resolved ids) and rejected points grouped by reason."""
    ids = resolve_ids(batch, table)
    n = len(batch)
    kind = table.kinds(ids)
    values = batch.values
    finite = np.isfinite(values)
    has_text = np.zeros(n, dtype=np.bool_) if batch.text is None else present(batch.text)
    numeric = (kind != UNKNOWN) & (kind != STRING)

    wrong = numeric & has_text
    integral = finite & (np.abs(values) < _INT32_LIMIT)
    whole = integral & (values == np.trunc(values))
    wrong |= (kind == INT) & finite & (values != np.trunc(values))
    wrong |= (kind == BOOL) & finite & (values != 0.0) & (values != 1.0)
    is_enum = kind == ENUM
    if is_enum.any():
        enum_vals = np.where(whole, values, 0.0).astype(np.int64)
        allowed = table.enum_allowed(ids, enum_vals)
        wrong |= is_enum & finite & ~(whole & allowed)
    is_string = kind == STRING
    if is_string.any():
        wrong |= is_string & ~has_text
        if batch.text is not None:
            # A string tag's text must really be a str (connectors may hand over bytes or numbers).
            idx = np.flatnonzero(is_string & has_text)
            not_str = np.array(
                [not isinstance(s, str) for s in batch.text[idx].tolist()], dtype=np.bool_
            )
            wrong[idx[not_str]] = True

    non_finite = numeric & ~finite & is_good(batch.quality)
    future = batch.ts > now_us + max_future_us
    conditions = [kind == UNKNOWN, wrong, non_finite, future]
    if retention_us is not None:
        conditions.append(batch.ts < now_us - retention_us)

    reason = np.zeros(n, dtype=np.uint8)
    for code in range(len(conditions), 0, -1):
        reason[conditions[code - 1]] = code

    ok = reason == 0
    if ok.all():
        return ValidationResult(
            batch.with_tags(ids) if not batch.resolved or batch.tags.dtype != np.int32 else batch
        )
    accepted = batch.take(ok).with_tags(ids[ok])
    rejected: dict[str, TelemetryBatch] = {}
    rejected_ids: dict[str, npt.NDArray[np.int32]] = {}
    for code in np.unique(reason[~ok]).tolist():
        sel = reason == code
        name = REASON_ORDER[code - 1]
        rejected[name] = batch.take(sel)
        rejected_ids[name] = ids[sel]
    return ValidationResult(accepted, rejected, rejected_ids)
