"""PlantSimulator: a deterministic simulated plant publishing TelemetryBatches and a ground truth.

Time is cut into fixed blocks of samples counted from `start_us`. Each block is rendered once, in
order, with its own random stream per machine, whatever `advance()` asks for: so the output depends
only on the plant, the seed, the start, the step and the options, never on how the run is sliced.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import numpy.typing as npt

from ifactory.core.clock import US, to_datetime
from ifactory.historian.batch import BAD_SENSOR_FAILURE, TelemetryBatch
from ifactory.plant.calendar import SiteCalendar
from ifactory.plant.loader import Plant
from ifactory.plant.spec import DataType, SiteSettings
from ifactory.sim.behaviour import STATES, Segment
from ifactory.sim.ground_truth import (
    DegradationEpisode,
    GroundTruth,
    Outage,
    StateInterval,
)
from ifactory.sim.machine import Column, MachineSim
from ifactory.sim.options import SimOptions
from ifactory.sim.planned import PlannedTime
from ifactory.sim.schedule import Schedule

log = logging.getLogger(__name__)

BLOCK_STEPS = 1800
STREAM_GLITCHES = 5
SOURCE = "sim"


@dataclass
class _Rendered:
    """The points of one block, flattened in time order."""

    end_us: int
    ts: npt.NDArray[np.int64]
    column: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    quality: npt.NDArray[np.uint32]
    text: npt.NDArray[np.object_] | None


class PlantSimulator:
    """Simulates every machine of a plant; `advance()` returns the points of the elapsed time."""

    def __init__(
        self,
        plant: Plant,
        *,
        seed: int,
        start_us: int,
        step_s: float = 1.0,
        options: SimOptions = SimOptions(),
        tag_ids: dict[str, int] | None = None,
        schedule: Schedule | None = None,
    ) -> None:
        """`schedule`: per machine key, the product runs it makes (else products change at random)."""
        if seed < 0:
            raise ValueError("seed must be a non-negative integer")
        self.step_us = round(step_s * US)
        if self.step_us <= 0:
            raise ValueError("step_s must be positive")
        self.plant = plant
        self.seed = seed
        self.start_us = start_us
        self.step_s = self.step_us / US
        self.options = options
        self._now = start_us
        # advance() runs on a runner thread while a UI may read the ground truth.
        self._lock = threading.Lock()
        self._calendars: dict[str | None, SiteCalendar] = {}
        planned: dict[tuple[str | None, frozenset[str]], PlannedTime] = {}
        self.machines: list[MachineSim] = []
        schedule = schedule or {}
        unknown = set(schedule) - {n.key for n in plant.machines()}
        if unknown:
            raise ValueError(f"the schedule names unknown machines: {sorted(unknown)}")
        for node in plant.machines():
            calendar = self._calendar(node.site_key)
            stop_nodes = {n for s in calendar.settings.calendar.planned_stops for n in s.nodes}
            mine = frozenset(set(node.key.split("/")) & stop_nodes)
            # Machines that share planned time share one stream of it (a calendar is slow to ask).
            pkey = (node.site_key, mine)
            if pkey not in planned:
                planned[pkey] = PlannedTime(calendar, set(mine) or None, start_us)
            self.machines.append(
                MachineSim(
                    node,
                    seed=seed,
                    start_us=start_us,
                    step_s=self.step_s,
                    options=options,
                    planned=planned[pkey],
                    runs=schedule.get(node.key, ()),
                )
            )
        self._offsets: list[int] = []
        columns: list[Column] = []
        for machine in self.machines:
            self._offsets.append(len(columns))
            columns.extend(machine.columns)
        self.tags = [c.tag for c in columns]
        self._keys = np.array([t.key for t in self.tags], dtype=object)
        self._ids: npt.NDArray[np.int32] | None = None
        if tag_ids is not None:
            missing = [t.key for t in self.tags if t.key not in tag_ids]
            if missing:
                raise ValueError(f"tag_ids lacks {len(missing)} simulated tags, e.g. {missing[:3]}")
            self._ids = np.array([tag_ids[t.key] for t in self.tags], dtype=np.int32)
        self._interval_us = [round(t.spec.sample_interval_s * US) for t in self.tags]
        self._glitchable = np.array(
            [
                i
                for i, c in enumerate(columns)
                if c.kind == "measurement" and c.tag.spec.data_type == DataType.float
            ],
            dtype=np.int64,
        )
        self._text_columns = [
            i for i, t in enumerate(self.tags) if t.spec.data_type == DataType.string
        ]
        self._next_block = 0
        self._rendered: _Rendered | None = None

    def resume_counters(self, latest: Mapping[str, float]) -> None:
        """Continue counters and meters from stored values (tag key -> last value).

        A restarted demo extends its history: without this a machine's counters would start
        again at their seeded values and the historian would read the jump as a reset.
        """
        if self._next_block:
            raise RuntimeError("resume_counters must be called before the first advance()")
        for machine in self.machines:
            machine.resume_counters(latest)

    def _calendar(self, site_key: str | None) -> SiteCalendar:
        if site_key not in self._calendars:
            settings = self.plant.site_settings(site_key) if site_key else SiteSettings()
            self._calendars[site_key] = SiteCalendar(settings)
        return self._calendars[site_key]

    @property
    def now_us(self) -> int:
        """Simulated time up to which points have been produced."""
        return self._now

    def advance(self, until_us: int) -> TelemetryBatch:
        """All points with timestamps in (now, until], in time order; moves now to `until_us`."""
        with self._lock:
            return self._advance(until_us)

    def _advance(self, until_us: int) -> TelemetryBatch:
        parts: list[TelemetryBatch] = []
        while self._now < until_us:
            if self._rendered is None or self._rendered.end_us <= self._now:
                self._rendered = self._render_block(self._next_block)
                self._next_block += 1
            r = self._rendered
            i0, i1 = np.searchsorted(r.ts, [self._now, until_us], side="right")
            if i1 > i0:
                parts.append(self._batch(r, slice(int(i0), int(i1)), until_us))
            self._now = min(until_us, r.end_us)
        if not parts:
            return self._empty(max(until_us, self._now))
        return parts[0] if len(parts) == 1 else TelemetryBatch.concat(parts)

    def _batch(self, r: _Rendered, sl: slice, received_us: int) -> TelemetryBatch:
        column = r.column[sl]
        tags = self._keys[column] if self._ids is None else self._ids[column]
        return TelemetryBatch(
            tags,
            r.ts[sl],
            r.values[sl],
            r.quality[sl],
            received_us,
            SOURCE,
            None if r.text is None else r.text[sl],
        )

    def _empty(self, received_us: int) -> TelemetryBatch:
        tags = np.zeros(0, dtype=object) if self._ids is None else np.zeros(0, dtype=np.int32)
        return TelemetryBatch(
            tags,
            np.zeros(0, dtype=np.int64),
            np.zeros(0),
            np.zeros(0, dtype=np.uint32),
            received_us,
            SOURCE,
            None,
        )

    # --- rendering ------------------------------------------------------------------------------

    def _ambient(self, site_key: str | None, t: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Hall temperature: a daily swing peaking mid-afternoon, local time."""
        tz = self._calendar(site_key).tz
        offset = tz.utcoffset(to_datetime(int(t[0]))) or timedelta(0)
        seconds = (t // US + int(offset.total_seconds())) % 86_400
        hour = seconds.astype(np.float64) / 3600.0
        return 21.0 + 3.5 * np.sin(2 * np.pi * (hour - 9.0) / 24.0)

    def _render_block(self, index: int) -> _Rendered:
        k = np.arange(index * BLOCK_STEPS + 1, (index + 1) * BLOCK_STEPS + 1, dtype=np.int64)
        t = self.start_us + k * self.step_us
        n, width = len(t), len(self.tags)
        values = np.empty((n, width))
        mask = np.ones((n, width), dtype=bool)
        texts: dict[int, npt.NDArray[np.object_]] = {}
        ambient: dict[str | None, npt.NDArray[np.float64]] = {}
        for machine, offset in zip(self.machines, self._offsets, strict=True):
            site = machine.node.site_key
            if site not in ambient:
                ambient[site] = self._ambient(site, t)
            cols, strings = machine.render(index, t, ambient[site])
            for j, col in enumerate(cols):
                values[:, offset + j] = col
            for j, txt in strings.items():
                texts[offset + j] = txt
            for a, b in machine.outage_rows(t):
                mask[a:b, offset : offset + len(cols)] = False
        for j, interval in enumerate(self._interval_us):
            # Samples fall on the step grid: a tag faster than the step publishes every step.
            if interval > self.step_us:
                # A slower tag publishes on the first step of each of its intervals.
                bucket = (k * self.step_us) // interval
                prev = ((k - 1) * self.step_us) // interval
                mask[:, j] &= bucket != prev
        quality = np.zeros((n, width), dtype=np.uint32)
        self._glitch(index, values, quality)
        flat = np.flatnonzero(mask.ravel())
        rows = flat // width
        column = flat % width
        text = None
        if texts:
            text = np.full(len(flat), None, dtype=object)
            for j, txt in texts.items():
                at = np.flatnonzero(column == j)
                text[at] = txt[rows[at]]
        return _Rendered(
            end_us=int(t[-1]),
            ts=t[rows],
            column=column,
            values=values.ravel()[flat],
            quality=quality.ravel()[flat],
            text=text,
        )

    def _glitch(
        self, index: int, values: npt.NDArray[np.float64], quality: npt.NDArray[np.uint32]
    ) -> None:
        """Rare sensor glitches: a bad-quality sample with no value."""
        if not len(self._glitchable) or self.options.glitch_probability <= 0:
            return
        rng = np.random.default_rng([self.seed, 0, STREAM_GLITCHES, index])
        n = values.shape[0]
        count = int(rng.poisson(self.options.glitch_probability * n * len(self._glitchable)))
        rows = rng.integers(n, size=count)
        cols = self._glitchable[rng.integers(len(self._glitchable), size=count)]
        values[rows, cols] = np.nan
        quality[rows, cols] = BAD_SENSOR_FAILURE

    # --- ground truth ---------------------------------------------------------------------------

    @property
    def ground_truth(self) -> GroundTruth:
        """What happened from the start up to now (failures, states, outages, changeovers)."""
        with self._lock:
            return self._ground_truth()

    def _ground_truth(self) -> GroundTruth:
        now = self._now
        truth = GroundTruth(until_us=now)
        for machine in self.machines:
            b = machine.behaviour
            b.extend_to(now)
            truth.failures.extend(f for f in b.failures if f.time_us <= now)
            truth.product_changes.extend(p for p in b.product_changes if p.time_us <= now)
            truth.state_intervals[machine.key] = _intervals(b.segments, now)
            machine.outages.extend_to(now)
            truth.outages.extend(
                Outage(machine.key, s, min(e, now)) for s, e in machine.outages.outages if s < now
            )
            for ep in b.episodes:
                if ep.onset_us > now:
                    continue
                ended = ep.end_us is not None and ep.end_us <= now
                truth.degradations.append(
                    DegradationEpisode(
                        machine.key,
                        ep.mode.value,
                        ep.onset_us,
                        ep.end_us if ended else None,
                        ep.outcome if ended else None,
                    )
                )
        truth.failures.sort(key=lambda f: (f.time_us, f.machine))
        truth.product_changes.sort(key=lambda p: (p.time_us, p.machine))
        truth.outages.sort(key=lambda o: (o.start_us, o.machine))
        truth.degradations.sort(key=lambda d: (d.onset_us, d.machine))
        return truth


def _intervals(segments: list[Segment], until_us: int) -> list[StateInterval]:
    """Segments clipped to `until_us`, neighbours with the same state and reason merged."""
    out: list[StateInterval] = []
    for seg in segments:
        if seg.start_us >= until_us:
            break
        end = min(seg.end_us, until_us)
        state = STATES[seg.state].value
        if out and out[-1].state == state and out[-1].reason == seg.reason:
            out[-1] = StateInterval(out[-1].start_us, end, state, seg.reason)
        else:
            out.append(StateInterval(seg.start_us, end, state, seg.reason))
    return out
