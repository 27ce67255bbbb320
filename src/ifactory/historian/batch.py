"""TelemetryBatch: the columnar unit in which telemetry moves (DESIGN.md, "Telemetry data model")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

# OPC UA StatusCode (OPC 10000-4, 7.39): the two top bits are the severity.
GOOD = 0x00000000
UNCERTAIN = 0x40000000
BAD = 0x80000000
BAD_NO_COMMUNICATION = 0x80310000
BAD_SENSOR_FAILURE = 0x808C0000
UNCERTAIN_LAST_USABLE_VALUE = 0x40900000
SEVERITY_MASK = 0xC0000000


def severity(quality: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    """0 good, 1 uncertain, 2 bad (OPC 10000-4 StatusCode severity bits)."""
    return (quality >> np.uint32(30)).astype(np.uint32)


def is_good(quality: npt.NDArray[np.uint32]) -> npt.NDArray[np.bool_]:
    """True where the status code's severity is Good."""
    good: npt.NDArray[np.bool_] = (quality & np.uint32(SEVERITY_MASK)) == 0
    return good


@dataclass(frozen=True, slots=True)
class TelemetryBatch:
    """Points as parallel arrays: one entry per point, never one object per point.

    - `tags`: int32 tag ids, or (before resolution) an object array of tag keys
      such as UNS paths; the ingest pipeline resolves keys to ids.
    - `ts`: int64 source timestamps, UTC microseconds.
    - `values`: float64; integers and booleans (0/1) too; NaN where `text` holds the value.
    - `quality`: uint32 OPC UA status codes.
    - `text`: object array of str (or None) for string-typed values, else None.
    - `received_us`: when the batch first entered the system (edge or ingest endpoint).
    - `source`: which connector or device produced it (for dead letters and metrics).
    """

    tags: npt.NDArray[Any]
    ts: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    quality: npt.NDArray[np.uint32]
    received_us: int
    source: str = ""
    text: npt.NDArray[np.object_] | None = field(default=None)

    def __post_init__(self) -> None:
        n = len(self.ts)
        for name in ("tags", "values", "quality"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"TelemetryBatch.{name} has {len(getattr(self, name))} entries, ts has {n}"
                )
        if self.text is not None and len(self.text) != n:
            raise ValueError(f"TelemetryBatch.text has {len(self.text)} entries, ts has {n}")

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def resolved(self) -> bool:
        """True when `tags` holds integer tag ids."""
        return self.tags.dtype.kind in "iu"

    @classmethod
    def of(
        cls,
        tags: Any,
        ts: Any,
        values: Any,
        quality: Any = None,
        *,
        received_us: int,
        source: str = "",
        text: Any = None,
    ) -> TelemetryBatch:
        """Build a batch from sequences, converting to the canonical dtypes."""
        tag_arr = np.asarray(tags)
        if tag_arr.dtype.kind in "iu":
            tag_arr = tag_arr.astype(np.int32, copy=False)
        else:
            tag_arr = tag_arr.astype(object)
        ts_arr = np.asarray(ts, dtype=np.int64)
        val_arr = np.asarray(values, dtype=np.float64)
        q_arr = (
            np.zeros(len(ts_arr), dtype=np.uint32)
            if quality is None
            else np.asarray(quality, dtype=np.uint32)
        )
        text_arr = None if text is None else np.asarray(text, dtype=object)
        return cls(tag_arr, ts_arr, val_arr, q_arr, received_us, source, text_arr)

    def take(self, index: npt.NDArray[Any]) -> TelemetryBatch:
        """The sub-batch at `index` (a boolean mask or integer positions)."""
        return TelemetryBatch(
            self.tags[index],
            self.ts[index],
            self.values[index],
            self.quality[index],
            self.received_us,
            self.source,
            None if self.text is None else self.text[index],
        )

    def with_tags(self, tag_ids: npt.NDArray[np.int32]) -> TelemetryBatch:
        """The same points with `tags` replaced by resolved ids."""
        return TelemetryBatch(
            tag_ids, self.ts, self.values, self.quality, self.received_us, self.source, self.text
        )

    @staticmethod
    def concat(batches: list[TelemetryBatch]) -> TelemetryBatch:
        """One batch holding all points of `batches` (in order)."""
        if not batches:
            raise ValueError("concat needs at least one batch")
        texts = [b.text for b in batches]
        text = None
        if any(t is not None for t in texts):
            text = np.concatenate(
                [
                    t if t is not None else np.full(len(b), None, dtype=object)
                    for t, b in zip(texts, batches, strict=True)
                ]
            )
        return TelemetryBatch(
            np.concatenate([b.tags for b in batches]),
            np.concatenate([b.ts for b in batches]),
            np.concatenate([b.values for b in batches]),
            np.concatenate([b.quality for b in batches]),
            batches[0].received_us,
            batches[0].source,
            text,
        )
