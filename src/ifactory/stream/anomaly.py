"""Online anomaly detection in the ingest pipeline: detectors per tag and per machine, then alerts.

A pipeline consumer, so it runs after the durable write on the points that were newly stored
(DESIGN.md, "Data flow"). For each batch:

1. the machine state is followed from the state tags in the batch (for a machine whose state
   is derived, from its counter's strokes when the plant derives *executing* from them, else
   from the state tracker), because a spindle stopping is not an anomaly: by default only
   samples taken while the machine is *executing*, after a settling time, are scored and
   learnt (the detectors learn one operating regime, not the switching between regimes);
2. every watched analog tag's samples are scored and learnt in one vectorised call per tag
   (`score_learn_many`, prequential: score, then learn) by a univariate detector;
3. each machine's watched tags, resampled on a fixed grid (last value, `multivariate_every_s`),
   are scored by a multivariate detector, which sees what no single tag shows (a current
   that no longer matches the vibration); a machine with a product tag has one per product
   (and one for while its product is not known), since each product has its own setpoints
   (barrel temperature, pressure, cycle time) and a changeover to a product the machine has
   not made yet is a new normal, not an anomaly: that product's detector learns during its
   grace period first;
4. scores are divided by their detector's threshold and fed to the alert suppression
   (hysteresis, cooldown, one open alert per machine: `analytics.alerts`); raised, extended
   and cleared alerts are written with their events (`AnomalyDetected`...) in one transaction;
5. the per-minute maximum of each machine's score ratio is kept for the health page's trend.

Detectors are chosen by their registry name and parameters (`DetectorChoice`), per equipment
class and tag name, so a better detector is swapped in by configuration. Their learnt state is
checkpointed (versioned msgpack, `Detector.checkpoint`) every `checkpoint_every_s` and on
stop, and restored at start, so a restart does not reset learning.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import math
import pkgutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

import ifactory.analytics.detectors
from ifactory.analytics import alert_service
from ifactory.analytics.alert_models import AnomalyAlert
from ifactory.analytics.alerts import AlertPolicy, AlertSuppressor, Change, Cleared, Joined, Raised
from ifactory.analytics.base import CheckpointError, Detector, registered, restore
from ifactory.core.db import Database
from ifactory.historian.batch import TelemetryBatch, is_good
from ifactory.plant.registry import NodeInfo, PlantRegistry, TagInfo
from ifactory.plant.spec import MachineState

if TYPE_CHECKING:
    from ifactory.platform import Platform

log = logging.getLogger(__name__)
US = 1_000_000
MINUTE_US = 60 * US
NEVER = -(2**62)
# How far back counter increases are kept, for samples that arrive late (older ones are skipped).
STROKE_MEMORY_US = 600 * US
# A machine gated by its counter has stopped when no stroke came for this many ideal cycles.
STOP_AFTER_CYCLES = 3.0


def _load_detectors() -> None:
    """Import every detector module, so that each detector class is registered by name."""
    package = ifactory.analytics.detectors
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        try:
            importlib.import_module(info.name)
        except Exception:
            # One broken optional detector must not stop the others (or the platform).
            log.exception("detector module %s could not be loaded", info.name)


_load_detectors()

# Roles whose float tags are analog process signals; counters, meters, states are not.
ANALOG_ROLES = frozenset({"measurement", "current"})
# Tags that only grow (running hours) are not a process signal, whatever their role says.
DEFAULT_EXCLUDED = frozenset({"run_hours"})
THERMAL_UNITS = frozenset({"degC", "degF", "K", "°C", "°F"})
# Tags holding one value per part or cycle (repeated between parts): a sample is a change.
DEFAULT_ON_CHANGE = frozenset({"dimension", "cycle_time", "injection_pressure"})


@dataclass(frozen=True)
class DetectorChoice:
    """A detector by registry name, its parameters, and the score at which it raises an alert."""

    detector: str
    threshold: float
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.detector not in registered():
            raise ValueError(f"unknown detector {self.detector!r}; known: {sorted(registered())}")
        if not (math.isfinite(self.threshold) and self.threshold > 0):
            raise ValueError("threshold must be a positive number")

    def build(self, **extra: Any) -> Detector:
        """A fresh detector with these parameters (plus `extra`, e.g. the feature names)."""
        return registered()[self.detector](**{**self.params, **extra})


@dataclass(frozen=True)
class ClassSettings:
    """Overrides for one equipment class (the defaults suit the example plant's classes)."""

    tags: tuple[str, ...] | None = None  # the tags to watch; None: every analog tag
    exclude: tuple[str, ...] = ()
    on_change: tuple[str, ...] | None = None  # per-part tags; None: DEFAULT_ON_CHANGE
    univariate: DetectorChoice | None = None
    per_tag: Mapping[str, DetectorChoice] = field(default_factory=dict)
    multivariate: DetectorChoice | None = None
    multivariate_off: bool = False


# NAB-grade likelihood (Ahmad et al. 2017), slowed for one sample a second of industrial
# signals: a ~17 min mean (alpha) and ~80 min of surprise history (likelihood_alpha). The
# score is 1 - exp(-s/10) with s = -log10 of the Gaussian tail of the smoothed surprise: 0.7
# is s = 12, which the heavy tails of real signals still reach. Chosen on simulated days of the
# example plant (seed 1, not an evaluation seed): 0.6 gave ~1.7 alerts per machine-day, 0.7
# gives ~1.1, 6 of 15 of them on the two machines with a degradation under way
# (`benchmarks/anomaly_online.py` prints these figures).
DEFAULT_UNIVARIATE = DetectorChoice(
    "likelihood", threshold=0.7, params={"alpha": 0.001, "likelihood_alpha": 0.0002}
)
# Smoothed d²/p of Hotelling's T², ~1 on data like the learnt; learning continues (the
# baseline is the long-run operating point), so a drift over days moves away from it.
DEFAULT_MULTIVARIATE = DetectorChoice(
    "mahalanobis",
    threshold=12.0,
    params={"shrinkage": 0.2, "smoothing": 0.05, "grace": 360, "refit_every": 60},
)


@dataclass(frozen=True)
class AnomalyConfig:
    """What the detection watches, with which detectors, and how alerts are suppressed."""

    univariate: DetectorChoice | None = DEFAULT_UNIVARIATE
    multivariate: DetectorChoice | None = DEFAULT_MULTIVARIATE
    classes: Mapping[str, ClassSettings] = field(default_factory=dict)
    # A 5-minute on-delay (ISA-18.2): over 48 simulated hours of the example plant
    # (`benchmarks/anomaly_online.py --hours 48 --on-delay-s 0|300`, seeds 1 and 2) alerts on
    # healthy machines fell from 18 to 7 and from 18 to 4; machines with a degradation under way
    # still alerted (3 of 3 and 2 of 4; the other two had only spikes shorter than 2 minutes).
    policy: AlertPolicy = field(default_factory=lambda: AlertPolicy(on_delay_us=300 * US))
    executing_only: bool = True
    settle_s: float = 600.0  # after a start or product change, speeds and loads settle first
    # Temperatures follow a start with time constants of 15-45 min: they settle for longer.
    thermal_settle_s: float = 3600.0
    multivariate_every_s: float = 10.0
    checkpoint_every_s: float = 300.0
    flush_every_s: float = 5.0

    def __post_init__(self) -> None:
        if self.settle_s < 0 or self.multivariate_every_s <= 0:
            raise ValueError("settle_s must be >= 0 and multivariate_every_s > 0")
        if self.checkpoint_every_s <= 0 or self.flush_every_s < 0:
            raise ValueError("checkpoint_every_s must be > 0 and flush_every_s >= 0")


@dataclass
class _Stream:
    key: str  # checkpoint key
    choice: DetectorChoice
    detector: Detector
    points: int = 0
    last_ts_us: int = NEVER
    dirty: bool = False


@dataclass
class _TagStream(_Stream):
    tag: TagInfo | None = None
    machine_id: int = 0
    on_change: bool = False
    last_value: float = math.nan


@dataclass(frozen=True, slots=True)
class _Timeline:
    """A machine's regime changes within a batch: from `times[i]`, executing or not, since when,
    making which product (None: not known yet)."""

    times: npt.NDArray[np.int64]
    executing: npt.NDArray[np.bool_]
    since: npt.NDArray[np.int64]
    product: npt.NDArray[np.object_]


def _empty_times() -> npt.NDArray[np.int64]:
    return np.zeros(0, dtype=np.int64)


@dataclass
class _Strokes:
    """When a machine whose state is derived from its counter (a retrofit) was executing.

    The plant file calls such a machine executing while its counter increased within
    `window_s`, so the state tracker sees a stop only `window_s` after the last stroke (later
    still, as it evaluates the rule once per batch) and never sees a shorter stop. Gated by
    that state, the first minute or two of every stop (current, pressure and vibration falling
    to idle levels) was scored and learnt as executing: each minor stop or break of a healthy
    machine looked like an anomaly.

    Here a sample counts as executing only between two counter increases at most `gap_us`
    apart (looking both ways, unlike the tracker). Samples after the latest increase are held
    back until the next increase, or `gap_us` without one, decides them: the detectors of such
    a machine run up to one stroke behind. A run begins at an increase after a longer gap, and
    its samples are learnt only after the settling time, as after a start. Held samples are
    not checkpointed: after a restart they are skipped, like the samples before the first
    increase seen.
    """

    counter_tag: int
    gap_us: int  # the longest pause between two strokes of a machine at work
    last_value: float = math.nan
    counter_ts_us: int = NEVER  # the latest counter sample taken
    seen_us: int = NEVER  # the latest sample of any of the machine's tags
    times: npt.NDArray[np.int64] = field(default_factory=_empty_times)  # counter increases
    run_starts: npt.NDArray[np.int64] = field(default_factory=_empty_times)  # per increase
    held: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = field(
        default_factory=dict
    )

    def observe(self, ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> None:
        """Take the counter's samples of a batch (in time order): find its increases."""
        fresh = ts > self.counter_ts_us
        ts, values = ts[fresh], values[fresh]
        if len(ts) == 0:
            return
        # Any change is a stroke: a counter that rolls over or is reset still moved.
        prev = np.concatenate(([self.last_value], values[:-1]))
        moved = (values != prev) & ~np.isnan(prev)
        self.last_value = float(values[-1])
        self.counter_ts_us = int(ts[-1])
        new = ts[moved]
        if len(new) == 0:
            return
        before = int(self.times[-1]) if len(self.times) else NEVER
        begins = np.diff(np.concatenate(([before], new))) > self.gap_us
        carried = int(self.run_starts[-1]) if len(self.run_starts) else NEVER
        starts = np.maximum.accumulate(np.concatenate(([carried], np.where(begins, new, NEVER))))
        times = np.concatenate((self.times, new))
        run_starts = np.concatenate((self.run_starts, starts[1:]))
        # Keep the increases a held or slightly late sample may still fall between.
        oldest = min(
            [int(times[-1]) - STROKE_MEMORY_US] + [int(t[0]) for t, _ in self.held.values()]
        )
        first = max(int(np.searchsorted(times, oldest, side="right")) - 1, 0)
        self.times, self.run_starts = times[first:], run_starts[first:]

    def held_until(self, tag_id: int) -> int:
        """The time of the last sample of `tag_id` held back (NEVER if none)."""
        held = self.held.get(tag_id)
        return int(held[0][-1]) if held is not None else NEVER

    def release(
        self, tag_id: int, ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """The samples of `tag_id` whose state is decided (with those held before); hold the rest."""
        held = self.held.pop(tag_id, None)
        if held is not None:
            ts, values = np.concatenate((held[0], ts)), np.concatenate((held[1], values))
        if len(self.times) and self.seen_us - int(self.times[-1]) <= self.gap_us:
            # After the latest increase: executing if another one follows in time.
            cut = int(np.searchsorted(ts, self.times[-1], side="left"))
            if cut < len(ts):
                self.held[tag_id] = (ts[cut:], values[cut:])
            return ts[:cut], values[:cut]
        return ts, values

    def executing(self, ts: npt.NDArray[np.int64], settle_us: int) -> npt.NDArray[np.bool_]:
        """True where `ts` lies between two close increases, settled since its run began."""
        n = len(self.times)
        if n == 0:
            return np.zeros(len(ts), dtype=np.bool_)
        i = np.searchsorted(self.times, ts, side="right") - 1
        prev = np.maximum(i, 0)
        nxt = np.minimum(i + 1, n - 1)
        between = (i >= 0) & (i + 1 < n)
        close = self.times[nxt] - self.times[prev] <= self.gap_us
        ok: npt.NDArray[np.bool_] = between & close & (ts >= self.run_starts[prev] + settle_us)
        return ok


@dataclass
class _Machine:
    node: NodeInfo
    tag_ids: list[int]
    state_codes: dict[int, MachineState] | None  # None: no state tag (derived state)
    mv_choice: DetectorChoice | None = None  # the multivariate detector, if any
    mv: dict[str | None, _Stream] = field(default_factory=dict)  # per product (None: no tag)
    mv_last_ts_us: int = NEVER  # the latest grid point scored, of any product
    mv_features: list[str] = field(default_factory=list)
    product_tag: int = -1
    state: MachineState = MachineState.unknown
    product: str | None = None
    last_product: object = None  # last product label seen (to find changes in a batch)
    last_code: int = -(2**62)  # last state code seen
    since_us: int = NEVER  # when the current regime (state and product) began
    settle_s: dict[int, float] = field(default_factory=dict)  # per tag
    last_values: dict[int, tuple[int, float]] = field(default_factory=dict)
    last_ratio: dict[int, float] = field(default_factory=dict)  # per tag, latest batch max
    strokes: _Strokes | None = None  # executing derived from a counter (instead of the tracker)


def watched_tags(
    registry: PlantRegistry, machine: NodeInfo, settings: ClassSettings
) -> list[TagInfo]:
    """The analog tags of `machine` the detection watches, by the class's settings."""
    tags = [registry.tags[t] for t in machine.tags]
    if settings.tags is not None:
        wanted = set(settings.tags)
        return [t for t in tags if t.name in wanted and t.data_type in ("float", "int")]
    excluded = DEFAULT_EXCLUDED | set(settings.exclude)
    return [
        t
        for t in tags
        if t.data_type == "float" and t.role in ANALOG_ROLES and t.name not in excluded
    ]


def _strokes_of(registry: PlantRegistry, machine: NodeInfo) -> _Strokes | None:
    """Stroke gating for a machine whose plant file derives *executing* from counter activity."""
    derivation = machine.state_derivation
    if derivation is None:
        return None
    rule = next((r for r in derivation.rules if r.state == MachineState.executing), None)
    if rule is None or rule.counter_active is None:
        return None
    counter = next((t for t in machine.tags if registry.tags[t].name == rule.counter_active), None)
    if counter is None:
        return None
    gap_s = rule.window_s
    if machine.ideal_cycle_times:
        # At work, a stroke follows every cycle: a longer pause is a (minor) stop.
        gap_s = min(gap_s, STOP_AFTER_CYCLES * max(machine.ideal_cycle_times.values()))
    return _Strokes(counter, int(gap_s * US))


def mv_key(machine_id: int, product: str | None) -> str:
    """The checkpoint key of a machine's multivariate stream ("machine:<id>" without products,
    "machine:<id>/product:<name>" per product)."""
    return f"machine:{machine_id}" if product is None else f"machine:{machine_id}/product:{product}"


class AnomalyDetection:
    """The pipeline consumer: detectors per tag and machine, alert suppression, score trend."""

    def __init__(
        self,
        registry: PlantRegistry,
        db: Database,
        *,
        config: AnomalyConfig | None = None,
        notify: Callable[[], None] | None = None,
        current_states: Callable[[], Mapping[int, tuple[MachineState, int]]] | None = None,
    ) -> None:
        self.config = config or AnomalyConfig()
        self.db = db
        self.notify = notify
        self.current_states = current_states
        self.suppressor = AlertSuppressor(self.config.policy)
        self._lock = threading.RLock()
        self._open_alerts: dict[int, int] = {}  # machine id -> alert id
        self._pending_scores: dict[tuple[int, int], float] = {}
        self._unwritten: list[Change] = []  # alert changes a failed write must retry
        self._last_flush = time.monotonic()
        self._last_checkpoint = time.monotonic()
        self._states_loaded = False
        self._saved: dict[str, alert_service.Checkpoint] = {}  # not yet restored (by key)
        self.late_points = 0
        self.scored_points = 0
        self._build(registry)
        self._restore()

    # -- set-up ------------------------------------------------------------------------------

    def _build(self, registry: PlantRegistry) -> None:
        cfg = self.config
        self.registry = registry
        self.tags: dict[int, _TagStream] = {}
        self.machines: dict[int, _Machine] = {}
        size = max(registry.tags, default=0) + 1
        self._watched = np.zeros(size, dtype=np.bool_)
        self._regime_tag = np.zeros(size, dtype=np.bool_)
        self._regime_machine: dict[int, int] = {}
        # Every tag of a machine whose executing state comes from its counter -> that machine.
        self._stroke_machine = np.full(size, -1, dtype=np.int64)
        for node in registry.machines():
            settings = cfg.classes.get(node.equipment_class or "", ClassSettings())
            tags = watched_tags(registry, node, settings)
            state_tag = registry.tag_by_role(node.id, "state")
            codes = state_tag.state_codes() if state_tag is not None else None
            machine = _Machine(node, [t.id for t in tags], codes)
            if codes is None and cfg.executing_only:
                machine.strokes = _strokes_of(registry, node)
            product_tag = registry.tag_by_role(node.id, "product")
            for regime_tag in (state_tag, product_tag):
                if regime_tag is not None:
                    self._regime_tag[regime_tag.id] = True
                    self._regime_machine[regime_tag.id] = node.id
            if product_tag is not None:
                machine.product_tag = product_tag.id
            for t in tags:
                machine.settle_s[t.id] = (
                    max(cfg.settle_s, cfg.thermal_settle_s)
                    if t.unit in THERMAL_UNITS
                    else cfg.settle_s
                )
            on_change = set(DEFAULT_ON_CHANGE if settings.on_change is None else settings.on_change)
            for t in tags:
                choice = settings.per_tag.get(t.name) or settings.univariate or cfg.univariate
                if choice is None:
                    continue
                self.tags[t.id] = _TagStream(
                    f"tag:{t.id}",
                    choice,
                    choice.build(),
                    tag=t,
                    machine_id=node.id,
                    on_change=t.name in on_change,
                )
                self._watched[t.id] = True
            mv_choice = (
                None if settings.multivariate_off else (settings.multivariate or cfg.multivariate)
            )
            if mv_choice is not None and len(tags) >= 2:
                machine.mv_choice = mv_choice
                machine.mv_features = [t.name for t in tags]
                # The machine's baseline while its product is not known (or it has no
                # product tag); each product's baseline is made when the product is first seen.
                self._mv_stream(machine, None)
                for t in tags:
                    self._watched[t.id] = True
            if machine.tag_ids:
                self.machines[node.id] = machine
                if machine.strokes is not None:
                    self._stroke_machine[node.tags] = node.id
        self._has_strokes = bool((self._stroke_machine >= 0).any())

    def _streams(self) -> list[_Stream]:
        out: list[_Stream] = list(self.tags.values())
        for m in self.machines.values():
            out.extend(m.mv.values())
        return out

    def _mv_stream(self, machine: _Machine, product: str | None) -> _Stream:
        """The multivariate stream of `machine` for `product`, created (and restored from its
        checkpoint, if one was saved) the first time the machine makes that product."""
        stream = machine.mv.get(product)
        if stream is None:
            choice = machine.mv_choice
            assert choice is not None  # only machines with a multivariate detector get here
            key = mv_key(machine.node.id, product)
            stream = _Stream(key, choice, choice.build(features=machine.mv_features))
            machine.mv[product] = stream
            cp = self._saved.pop(key, None)
            if cp is not None and self._restore_stream(stream, cp):
                machine.mv_last_ts_us = max(machine.mv_last_ts_us, stream.last_ts_us)
        return stream

    @staticmethod
    def _restore_stream(stream: _Stream, cp: alert_service.Checkpoint) -> bool:
        """Continue `stream` from its checkpoint, unless the detector or its parameters changed."""
        if cp.detector != stream.choice.detector:
            log.info("%s: detector changed to %s; learning afresh", stream.key, cp.detector)
            return False
        try:
            detector = restore(cp.data)
        except (CheckpointError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s: checkpoint unusable (%s); learning afresh", stream.key, exc)
            return False
        if repr(detector) != repr(stream.detector):
            log.info("%s: detector parameters changed; learning afresh", stream.key)
            return False
        stream.detector = detector
        stream.points = cp.points
        stream.last_ts_us = cp.last_ts_us
        return True

    def _restore(self) -> None:
        """Continue from the stored checkpoints and alerts (a restart does not reset learning)."""
        with self.db.session() as session:
            saved = alert_service.load_checkpoints(session)
            open_alerts = alert_service.get_open(session)
            cleared = alert_service.last_cleared(session)
        restored = 0
        for stream in self._streams():
            cp = saved.pop(stream.key, None)
            if cp is not None and self._restore_stream(stream, cp):
                restored += 1
        # The products' multivariate streams are restored when their product comes back.
        self._saved = saved
        for machine in self.machines.values():
            prefix = mv_key(machine.node.id, "")
            for key, cp in saved.items():
                if key.startswith(prefix):
                    machine.mv_last_ts_us = max(machine.mv_last_ts_us, cp.last_ts_us)
            if machine.mv:
                machine.mv_last_ts_us = max(
                    [machine.mv_last_ts_us, *(st.last_ts_us for st in machine.mv.values())]
                )
        for alert in open_alerts:
            self._open_alerts[alert.machine_id] = alert.id
            self.suppressor.resume(
                alert.machine_id, at_us=alert.window_end_us, peak_ratio=alert.peak_ratio
            )
        for machine_id, at_us in cleared.items():
            if machine_id not in self._open_alerts:
                self.suppressor.resume_cooldown(machine_id, cleared_at_us=at_us)
        if restored:
            log.info("restored %d detector checkpoints", restored)

    # -- the hot path ------------------------------------------------------------------------

    def on_batch(self, batch: TelemetryBatch) -> None:
        """Score and learn the committed points; raise, extend and clear alerts."""
        if not batch.resolved or len(batch) == 0:
            return
        with self._lock:
            changes = self._process(batch)
            self._after(changes)

    def _process(self, batch: TelemetryBatch) -> list[Change]:
        cfg = self.config
        tags = batch.tags.astype(np.int64, copy=False)
        inside = (tags >= 0) & (tags < len(self._watched))
        safe = np.where(inside, tags, 0)
        timelines = self._state_timelines(batch, safe, inside)
        usable = inside & is_good(batch.quality) & np.isfinite(batch.values)
        self._observe_strokes(batch, safe, usable)
        wanted = usable & self._watched[safe]
        if not wanted.any():
            return []
        idx = np.flatnonzero(wanted)
        idx = idx[np.lexsort((batch.ts[idx], tags[idx]))]
        tag_sorted = tags[idx]
        cuts = np.flatnonzero(np.diff(tag_sorted)) + 1
        starts = np.concatenate(([0], cuts))
        ends = np.concatenate((cuts, [len(idx)]))
        changes: list[Change] = []
        touched: dict[int, dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]] = {}
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            rows = idx[s:e]
            tag_id = int(tag_sorted[s])
            stream = self.tags.get(tag_id)
            machine_id = stream.machine_id if stream is not None else self._machine_of(tag_id)
            machine = self.machines.get(machine_id)
            if machine is None:
                continue
            ts = batch.ts[rows]
            values = batch.values[rows]
            last = (
                stream.last_ts_us
                if stream is not None
                else machine.last_values.get(tag_id, (NEVER, 0.0))[0]
            )
            strokes = machine.strokes
            if strokes is not None:
                last = max(last, strokes.held_until(tag_id))
            fresh = ts > last
            if not fresh.all():
                # Late or replayed points (a backfill): the detectors are causal, so they
                # learn only what comes after what they have seen.
                self.late_points += int((~fresh).sum())
            if strokes is not None:
                ts, values = strokes.release(tag_id, ts[fresh], values[fresh])
                fresh = np.ones(len(ts), dtype=np.bool_)
            keep = fresh & self._gate(
                machine, timelines.get(machine_id), ts, machine.settle_s.get(tag_id, cfg.settle_s)
            )
            if not keep.any():
                continue
            ts, values = ts[keep], values[keep]
            touched.setdefault(machine_id, {})[tag_id] = (ts, values)
            if stream is None:
                continue
            if stream.on_change:
                ts, values = self._changes(stream, ts, values)
                if len(ts) == 0:
                    continue
            scores = stream.detector.score_learn_many(values)
            stream.points += len(ts)
            stream.last_ts_us = int(ts[-1])
            stream.dirty = True
            self.scored_points += len(ts)
            ratios = np.asarray(scores, dtype=np.float64) / stream.choice.threshold
            machine.last_ratio[tag_id] = float(ratios.max())
            self._trend(machine_id, ts, ratios)
            changes.extend(self.suppressor.observe(machine_id, stream.key, (tag_id,), ts, ratios))
        for machine_id, series in touched.items():
            changes.extend(
                self._multivariate(self.machines[machine_id], series, timelines.get(machine_id))
            )
        return changes

    def _observe_strokes(
        self, batch: TelemetryBatch, safe: npt.NDArray[np.int64], usable: npt.NDArray[np.bool_]
    ) -> None:
        """Give each counter-gated machine its counter samples and how far its data reaches."""
        if not self._has_strokes:
            return
        owner = np.where(usable, self._stroke_machine[safe], -1)
        sel = np.flatnonzero(owner >= 0)
        if len(sel) == 0:
            return
        for machine_id in np.unique(owner[sel]).tolist():  # one pass per retrofit machine
            strokes = self.machines[machine_id].strokes
            if strokes is None:
                continue
            rows = sel[owner[sel] == machine_id]
            strokes.seen_us = max(strokes.seen_us, int(batch.ts[rows].max()))
            counter = rows[safe[rows] == strokes.counter_tag]
            if len(counter):
                counter = counter[np.argsort(batch.ts[counter], kind="stable")]
                strokes.observe(batch.ts[counter], batch.values[counter])

    def _machine_of(self, tag_id: int) -> int:
        tag = self.registry.tags.get(tag_id)
        return tag.node_id if tag is not None else -1

    @staticmethod
    def _changes(
        stream: _TagStream, ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        prev = np.concatenate(([stream.last_value], values[:-1]))
        changed = values != prev
        stream.last_value = float(values[-1])
        return ts[changed], values[changed]

    # -- machine state ---------------------------------------------------------------------

    def _load_states(self) -> None:
        if self._states_loaded or self.current_states is None:
            return
        self._states_loaded = True
        for machine_id, (state, since) in self.current_states().items():
            m = self.machines.get(machine_id)
            if m is not None and m.strokes is None:
                m.state, m.since_us = MachineState(state), int(since)

    def _state_timelines(
        self,
        batch: TelemetryBatch,
        safe: npt.NDArray[np.int64],
        inside: npt.NDArray[np.bool_],
    ) -> dict[int, _Timeline]:
        """Per machine with a change in this batch: when its regime changed, in time order.

        A regime is the machine state plus the product it makes (a product change moves
        speeds and loads as much as a start does). The timeline begins with the regime before
        the batch; the machine's remembered regime is advanced to the batch's last one.
        """
        self._load_states()
        out: dict[int, _Timeline] = {}
        sel = np.flatnonzero(inside & self._regime_tag[safe])
        # Per machine: (time, state or None, product or None) where a regime tag changed.
        # Changes are found with array comparisons; only the few changes are looped over.
        events: dict[int, list[tuple[int, MachineState | None, str | None]]] = {}
        tag_ids = safe[sel]
        for tag_id in np.unique(tag_ids).tolist():
            m = self.machines.get(self._regime_machine[tag_id])
            if m is None:
                continue
            rows = sel[tag_ids == tag_id]
            rows = rows[np.argsort(batch.ts[rows], kind="stable")]
            ts = batch.ts[rows].tolist()
            found = events.setdefault(m.node.id, [])
            if tag_id == m.product_tag:
                labels = (
                    batch.text[rows]
                    if batch.text is not None
                    else batch.values[rows].astype(str).astype(object)
                )
                prev = np.empty(len(rows), dtype=object)
                prev[0] = m.last_product
                prev[1:] = labels[:-1]
                for i in np.flatnonzero(labels != prev).tolist():
                    label = labels[i]
                    found.append((ts[i], None, None if label is None else str(label)))
                m.last_product = labels[-1]
            else:
                values = batch.values[rows]
                codes = np.where(np.isfinite(values), values, -1.0).astype(np.int64)
                prev_codes = np.concatenate(([m.last_code], codes[:-1]))
                for i in np.flatnonzero(codes != prev_codes).tolist():
                    state = (m.state_codes or {}).get(int(codes[i]), MachineState.unknown)
                    found.append((ts[i], state, None))
                m.last_code = int(codes[-1])
        for machine_id, changes in events.items():
            if not changes:
                continue
            m = self.machines[machine_id]
            times = [NEVER]
            executing = [m.state == MachineState.executing]
            sinces = [m.since_us]
            products = [m.product]
            for t, new_state, product in sorted(changes, key=lambda c: c[0]):
                if new_state is not None:
                    if new_state == m.state:
                        continue
                    m.state = new_state
                else:
                    known = m.product
                    m.product = product
                    if product == known:
                        continue
                    if known is None:
                        # The first product seen (after a start) is not a change of regime,
                        # but from here on the points are that product's.
                        times.append(t)
                        executing.append(executing[-1])
                        sinces.append(sinces[-1])
                        products.append(product)
                        continue
                m.since_us = t
                times.append(t)
                executing.append(m.state == MachineState.executing)
                sinces.append(t)
                products.append(m.product)
            if len(times) > 1:
                out[machine_id] = _Timeline(
                    np.asarray(times, dtype=np.int64),
                    np.asarray(executing, dtype=np.bool_),
                    np.asarray(sinces, dtype=np.int64),
                    np.array(products, dtype=object),
                )
        if self.current_states is not None:
            # Machines without a state tag: the tracker has already seen this batch (those
            # gated by their counter do not need it: see `_Strokes`).
            derived = [
                m for m in self.machines.values() if m.state_codes is None and m.strokes is None
            ]
            if derived:
                now = self.current_states()
                for m in derived:
                    if m.node.id in now:
                        state, since = now[m.node.id]
                        if MachineState(state) != m.state:
                            m.state, m.since_us = MachineState(state), int(since)
        return out

    def _gate(
        self,
        machine: _Machine,
        timeline: _Timeline | None,
        ts: npt.NDArray[np.int64],
        settle_s: float,
    ) -> npt.NDArray[np.bool_]:
        """True where the machine was executing and settled at `ts` (everything if not gated)."""
        if not self.config.executing_only:
            return np.ones(len(ts), dtype=np.bool_)
        settle = int(settle_s * US)
        if machine.strokes is not None:
            # Executing by the counter; a product change still starts a new regime.
            since = (
                machine.since_us
                if timeline is None
                else timeline.since[np.searchsorted(timeline.times, ts, side="right") - 1]
            )
            strokes_ok: npt.NDArray[np.bool_] = machine.strokes.executing(ts, settle) & (
                ts >= since + settle
            )
            return strokes_ok
        if timeline is None:
            # No change in this batch: the regime now is the regime throughout.
            if machine.state != MachineState.executing:
                return np.zeros(len(ts), dtype=np.bool_)
            ok: npt.NDArray[np.bool_] = ts >= machine.since_us + settle
            return ok
        # The timeline starts with the regime before the batch, so every point has one.
        pos = np.searchsorted(timeline.times, ts, side="right") - 1
        gate: npt.NDArray[np.bool_] = timeline.executing[pos] & (ts >= timeline.since[pos] + settle)
        return gate

    # -- multivariate ------------------------------------------------------------------------

    def _multivariate(
        self,
        machine: _Machine,
        series: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]],
        timeline: _Timeline | None,
    ) -> list[Change]:
        # Remember the latest gated value of every tag (for the grid and the next batch).
        latest = dict(machine.last_values)
        for tag_id, (ts, values) in series.items():
            machine.last_values[tag_id] = (int(ts[-1]), float(values[-1]))
        if machine.mv_choice is None:
            return []
        step = int(self.config.multivariate_every_s * US)
        t_min = min(int(ts[0]) for ts, _ in series.values())
        t_max = max(int(ts[-1]) for ts, _ in series.values())
        first = max(t_min, machine.mv_last_ts_us + 1)
        g0 = -(-first // step) * step
        if g0 > t_max:
            return []
        grid = np.arange(g0, t_max + 1, step, dtype=np.int64)
        grid = grid[self._gate(machine, timeline, grid, max(machine.settle_s.values()))]
        if len(grid) == 0:
            return []
        stale = 2 * step
        matrix = np.full((len(grid), len(machine.tag_ids)), np.nan)
        for j, tag_id in enumerate(machine.tag_ids):
            got = series.get(tag_id)
            prev_t, prev_v = latest.get(tag_id, (NEVER, math.nan))
            if got is None:
                at_t = np.full(len(grid), prev_t, dtype=np.int64)
                vals = np.full(len(grid), prev_v)
            else:
                ts, values = got
                pos = np.searchsorted(ts, grid, side="right") - 1
                at_t = np.where(pos >= 0, ts[np.maximum(pos, 0)], prev_t)
                vals = np.where(pos >= 0, values[np.maximum(pos, 0)], prev_v)
            matrix[:, j] = np.where(grid - at_t <= stale, vals, np.nan)
        usable = ~np.isnan(matrix).all(axis=1)
        if not usable.any():
            return []
        grid, matrix = grid[usable], matrix[usable]
        machine.mv_last_ts_us = int(grid[-1])
        # The evidence: the tags that stand out in their own detectors too (at most three);
        # when none does, the anomaly is in how the tags relate, and all of them are shown.
        ranked = sorted(machine.tag_ids, key=lambda t: -machine.last_ratio.get(t, 0.0))
        level = self.config.policy.clear_below
        standing = [t for t in ranked if machine.last_ratio.get(t, 0.0) >= level][:3]
        evidence = tuple(sorted(standing or machine.tag_ids))
        # One source for the alerts whatever the product: an alert open at a changeover goes
        # on (or clears) with the next product's scores.
        source = mv_key(machine.node.id, None)
        changes: list[Change] = []
        for lo, hi, product in self._product_runs(machine, timeline, grid):
            stream = self._mv_stream(machine, product)
            scores = np.asarray(stream.detector.score_learn_many(matrix[lo:hi]), dtype=np.float64)
            stream.points += hi - lo
            stream.last_ts_us = int(grid[hi - 1])
            stream.dirty = True
            ratios = scores / stream.choice.threshold
            self._trend(machine.node.id, grid[lo:hi], ratios)
            changes.extend(
                self.suppressor.observe(machine.node.id, source, evidence, grid[lo:hi], ratios)
            )
        return changes

    @staticmethod
    def _product_runs(
        machine: _Machine, timeline: _Timeline | None, grid: npt.NDArray[np.int64]
    ) -> list[tuple[int, int, str | None]]:
        """The runs of `grid` (slice bounds) made of one product, in time order."""
        if timeline is None:
            return [(0, len(grid), machine.product)]
        products = timeline.product[np.searchsorted(timeline.times, grid, side="right") - 1]
        cuts = [0, *(np.flatnonzero(products[1:] != products[:-1]) + 1).tolist(), len(grid)]
        return [(lo, hi, products[lo]) for lo, hi in itertools.pairwise(cuts)]

    # -- trend, alerts, checkpoints --------------------------------------------------------------

    def _trend(self, machine_id: int, ts: npt.NDArray[np.int64], ratios: npt.NDArray[Any]) -> None:
        # `ts` is in time order: one reduceat over the runs of equal minutes.
        minutes = ts - ts % MINUTE_US
        first = np.concatenate(([0], np.flatnonzero(np.diff(minutes)) + 1))
        uniq = minutes[first]
        peaks = np.maximum.reduceat(np.where(np.isnan(ratios), 0.0, ratios), first)
        pending = self._pending_scores
        for minute, peak in zip(uniq.tolist(), peaks.tolist(), strict=True):
            key = (machine_id, minute)
            if peak > pending.get(key, -1.0):
                pending[key] = peak

    def _after(self, changes: list[Change]) -> None:
        now = time.monotonic()
        if changes or now - self._last_flush >= self.config.flush_every_s:
            self._write(changes)
        if now - self._last_checkpoint >= self.config.checkpoint_every_s:
            self.save_checkpoints()

    def _write(self, changes: list[Change]) -> None:
        changes = self._unwritten + changes
        self._unwritten = []
        scores, self._pending_scores = self._pending_scores, {}
        self._last_flush = time.monotonic()
        if not changes and not scores:
            return
        open_alerts = dict(self._open_alerts)
        try:
            with self.db.session() as session:
                for change in changes:
                    self._apply(session, change, open_alerts)
                alert_service.record_scores(session, scores=scores)
        except Exception:
            # The database is unavailable: keep everything for the next batch, so an alert
            # the suppressor has raised is not lost (the data itself is already durable).
            self._unwritten = changes
            for key, ratio in scores.items():
                if ratio > self._pending_scores.get(key, -1.0):
                    self._pending_scores[key] = ratio
            raise
        self._open_alerts = open_alerts
        if changes and self.notify is not None:
            self.notify()

    def _apply(self, session: Session, change: Change, open_alerts: dict[int, int]) -> None:
        """Write one alert change; `open_alerts` (machine -> alert id) is updated alongside."""
        machine = self.machines.get(change.machine_id)
        if isinstance(change, Raised):
            choice = self._choice(change.source)
            if machine is None or choice is None:
                return
            alert = alert_service.raise_alert(
                session,
                machine_id=change.machine_id,
                machine_key=machine.node.key,
                detector=choice.detector,
                tag_ids=list(change.tag_ids),
                tag_keys=[self.registry.tags[t].key for t in change.tag_ids],
                score=change.ratio * choice.threshold,
                threshold=choice.threshold,
                ratio=change.ratio,
                window_start_us=change.window_start_us,
                at_us=change.at_us,
            )
            open_alerts[change.machine_id] = alert.id
            log.info(
                "anomaly on %s (%s, %.2f x threshold)",
                machine.node.key,
                change.source,
                change.ratio,
            )
            return
        alert_id = open_alerts.get(change.machine_id)
        if alert_id is None:
            return
        current = session.get(AnomalyAlert, alert_id)
        if current is None:
            return
        if isinstance(change, Joined):
            choice = self._choice(change.source)
            if choice is not None:
                alert_service.extend_alert(
                    session,
                    alert=current,
                    detector=choice.detector,
                    tag_ids=list(change.tag_ids),
                    score=change.ratio * choice.threshold,
                    threshold=choice.threshold,
                    ratio=change.ratio,
                    at_us=change.at_us,
                )
        elif isinstance(change, Cleared):
            if current.state != "cleared":
                alert_service.clear_alert(
                    session,
                    alert=current,
                    at_us=change.at_us,
                    window_end_us=change.window_end_us,
                    peak_ratio=change.peak_ratio,
                )
            open_alerts.pop(change.machine_id, None)

    def _choice(self, source: str) -> DetectorChoice | None:
        kind, _, ident = source.partition(":")
        if kind == "tag":
            stream = self.tags.get(int(ident))
            return stream.choice if stream is not None else None
        machine = self.machines.get(int(ident.partition("/")[0]))
        return machine.mv_choice if machine is not None else None

    def flush(self) -> None:
        """Write the pending score trend now."""
        with self._lock:
            self._write([])

    def save_checkpoints(self) -> int:
        """Persist every detector that learnt since the last save; returns how many."""
        with self._lock:
            self._last_checkpoint = time.monotonic()
            items = [
                alert_service.Checkpoint(
                    s.key, s.detector.name, s.detector.checkpoint(), s.points, s.last_ts_us
                )
                for s in self._streams()
                if s.dirty
            ]
            if not items:
                return 0
            with self.db.session() as session:
                n = alert_service.save_checkpoints(session, checkpoints=items)
            for s in self._streams():
                s.dirty = False
            return n

    def detector(self, key: str) -> Detector | None:
        """The live detector of a stream ("tag:<id>", "machine:<id>" or
        "machine:<id>/product:<name>"), for inspection."""
        for s in self._streams():
            if s.key == key:
                return s.detector
        return None


class _Service:
    """Saves the detectors' state and the score trend when the platform stops."""

    def __init__(self, detection: AnomalyDetection) -> None:
        self.detection = detection

    def start(self) -> None:
        """Nothing to start: the detection runs in the ingest path."""

    def stop(self) -> None:
        """Flush the trend and checkpoint every detector (a restart continues from here)."""
        try:
            self.detection.flush()
            self.detection.save_checkpoints()
        except Exception:
            log.exception("could not save the anomaly detectors' state on stop")


def install(platform: Platform, *, config: AnomalyConfig | None = None) -> AnomalyDetection:
    """Run anomaly detection on every committed batch; checkpoint on stop.

    One detection per platform: installing again (e.g. with another configuration) replaces
    the one installed before, so two sets of detectors never learn the same batches.
    """
    for extra in list(platform.extras):
        if isinstance(extra, _Service):
            platform.pipeline.remove_consumer(extra.detection)
            platform.extras.remove(extra)
    detection = AnomalyDetection(
        platform.registry,
        platform.db,
        config=config,
        notify=platform.relay.notify,
        current_states=platform.tracker.current,
    )
    platform.pipeline.add_consumer(detection)
    platform.extras.append(_Service(detection))
    return detection
