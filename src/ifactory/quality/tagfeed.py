"""Measurements taken from tags: a pipeline consumer for characteristics bound to a tag.

A characteristic with `tag_id` set (e.g. a CNC mill's `dimension`, the measured bore of the
last part) gets the tag's newly stored good-quality samples as measurements, and the SPC rules
run on them at once, so drift is signalled while the parts are still being made. Such a tag
repeats the last part's value at every sample, so only a change of value is a new measurement
(one part); a repeat would otherwise flatten the moving ranges and collapse the limits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select

from ifactory.core.audit import SYSTEM
from ifactory.historian.batch import TelemetryBatch, is_good
from ifactory.quality import service
from ifactory.quality.models import Characteristic

if TYPE_CHECKING:
    from ifactory.platform import Platform

log = logging.getLogger(__name__)
REFRESH_S = 10.0  # how soon a newly bound tag starts feeding its characteristic


class TagMeasurementFeed:
    """Turns samples of bound tags into measurements and runs the SPC rules on them."""

    def __init__(self, platform: Platform, *, refresh_s: float = REFRESH_S) -> None:
        self.platform = platform
        self.refresh_s = refresh_s
        self._bindings: dict[int, list[int]] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()
        self._last: dict[int, float] = {}  # tag id -> last value seen (to drop repeats)

    def invalidate(self) -> None:
        """Reload the tag bindings before the next batch."""
        self._loaded_at = float("-inf")

    def _load(self) -> dict[int, list[int]]:
        with self._lock:
            if time.monotonic() - self._loaded_at >= self.refresh_s:
                bindings: dict[int, list[int]] = defaultdict(list)
                with self.platform.db.session() as session:
                    rows = session.execute(
                        select(Characteristic.tag_id, Characteristic.id).where(
                            Characteristic.tag_id.is_not(None)
                        )
                    ).all()
                for tag_id, char_id in rows:
                    if tag_id is not None:
                        bindings[int(tag_id)].append(int(char_id))
                self._bindings = dict(bindings)
                self._loaded_at = time.monotonic()
            return self._bindings

    def on_batch(self, batch: TelemetryBatch) -> None:
        """Record the bound tags' good samples and check the rules."""
        bindings = self._load()
        if not bindings:
            return
        wanted = np.isin(batch.tags, np.fromiter(bindings, dtype=np.int64))
        wanted &= is_good(batch.quality) & np.isfinite(batch.values)
        if not wanted.any():
            return
        tags, ts, values = batch.tags[wanted], batch.ts[wanted], batch.values[wanted]
        now_us = self.platform.clock.now_us()
        found = 0
        with self.platform.db.session() as session:
            for tag_id in np.unique(tags):
                sel = tags == tag_id
                order = np.argsort(ts[sel], kind="stable")
                points = self._changes(int(tag_id), ts[sel][order], values[sel][order])
                if not points:
                    continue
                for char_id in bindings.get(int(tag_id), []):
                    char = session.get(Characteristic, char_id)
                    if char is None:
                        continue
                    found += len(
                        service.record_measurements(
                            session,
                            char=char,
                            values=points,
                            source="tag",
                            user=SYSTEM,
                            now_us=now_us,
                        )
                    )
        if found:
            self.platform.relay.notify()

    def _changes(
        self, tag_id: int, ts: np.ndarray, values: np.ndarray
    ) -> list[service.MeasurementInput]:
        out = []
        last = self._last.get(tag_id)
        for t, v in zip(ts.tolist(), values.tolist(), strict=True):
            if v != last:
                out.append(service.MeasurementInput(value=float(v), ts_us=int(t)))
                last = v
        if last is not None:
            self._last[tag_id] = last
        return out


def install(platform: Platform) -> None:
    """Feed measurements from tags into the quality domain (one ingest consumer)."""
    platform.pipeline.add_consumer(TagMeasurementFeed(platform))
