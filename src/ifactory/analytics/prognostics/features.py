"""Condition features of a machine, per hour, from the historian's 1-minute rollups.

Each machine keeps a `MachineHistory`: per hour, the mean of every analog tag over the
minutes the machine was executing (a bearing vibrates differently when it idles), the number of
executing minutes, whether it was down or in maintenance, and cycle and scrap increments. The
features of an hour are, per tag, levels relative to the machine's own baseline since its last
repair and trends over windows of the last 6, 24 and 72 hours with data; plus scrap rates, the
share of time executing, and the hours since the machine last executed, failed and was serviced.

Training and the online estimator build features with this same code, hour by hour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ifactory.historian.rollups import Rows

US = 1_000_000
MINUTE_US = 60 * US
HOUR_US = 3600 * US
# Hours kept per machine: the baseline looks back two weeks.
BASELINE_HOURS = 336
KEEP_HOURS = BASELINE_HOURS + 24
# The baseline excludes the most recent hours, where a degradation shows first.
BASELINE_GAP_HOURS = 48
MIN_BASELINE_HOURS = 12
SINCE_CAP_HOURS = 720.0
# Roles of tags that are not condition signals.
NON_ANALOG_ROLES = {
    "state",
    "product",
    "cycle_counter",
    "good_counter",
    "scrap_counter",
    "rework_counter",
    "energy",
}
NON_ANALOG_TYPES = {"bool", "enum", "string"}
# Tags that only follow the process (setpoints, programmed speeds, counters' meters), no wear.
IGNORED_NAMES = {"run_hours", "spindle_speed", "line_speed", "axis1_torque", "cycle_time"}
TAG_FEATURES = ("rel6", "rel24", "slope24", "slope72", "lvl6", "growth24")


class RollupSource(Protocol):
    """What the features need from a historian: 1-minute rollups of tags over a range."""

    def rollups(self, tag_ids: npt.ArrayLike, start_us: int, end_us: int) -> Rows:
        """The 1-minute rollup rows of minutes overlapping [start_us, end_us)."""
        ...


@dataclass(frozen=True)
class DerivedRule:
    """A state rule of a machine without a state tag (plant model `state_derivation`), by tag id.

    The rule holds in a minute when the counter increased within the last `window_minutes`
    minutes, or when the minute's mean of the tag is above / below the limits.
    """

    state: str
    counter_tag: int | None = None
    window_minutes: int = 1
    tag: int | None = None
    above: float | None = None
    below: float | None = None


@dataclass(frozen=True)
class MachineTags:
    """The tags of one machine that the features read, and how to read the state tag."""

    machine_id: int
    machine_key: str
    machine_class: str
    state_tag: int | None
    executing_code: float | None
    down_codes: tuple[float, ...]
    maintenance_codes: tuple[float, ...]
    analog: tuple[tuple[int, str, float | None], ...]  # (tag id, tag name, reference level)
    cycle_tag: int | None = None
    scrap_tag: int | None = None
    # Without a state tag: the plant model's rules that derive the state, and their fallback.
    derived: tuple[DerivedRule, ...] = ()
    derived_otherwise: str = "idle"

    @property
    def tag_ids(self) -> list[int]:
        """Every tag id the features read."""
        ids = [t for t, _, _ in self.analog]
        ids += [t for t in (self.state_tag, self.cycle_tag, self.scrap_tag) if t is not None]
        for rule in self.derived:
            ids += [t for t in (rule.counter_tag, rule.tag) if t is not None and t not in ids]
        return ids

    def feature_names(self) -> list[str]:
        """Names of the feature vector's columns, in order."""
        return feature_names([name for _, name, _ in self.analog])


def feature_names(tag_names: Sequence[str]) -> list[str]:
    """Feature column names for a machine class with these analog tags (in order)."""
    names = [f"{tag}.{f}" for tag in tag_names for f in TAG_FEATURES]
    names += [
        "scrap_rate6",
        "scrap_rate24",
        "scrap_rel24",
        "exec_frac24",
        "hours_since_executing",
        "hours_since_down",
        "hours_since_maintenance",
    ]
    return names


def _reference(limits: dict[str, Any] | None) -> float | None:
    """A level that scales a tag (its alarm limit, else its range top), for absolute features."""
    if not limits:
        return None
    for key in ("alarm_high", "alarm_low", "high"):
        value = limits.get(key)
        if value is not None and float(value) != 0.0:
            return float(value)
    return None


def _derived_rules(node: Any, tags: Sequence[Any]) -> tuple[DerivedRule, ...]:
    """The node's state-derivation rules with tag names resolved to ids (unknown tags dropped)."""
    if node.state_derivation is None:
        return ()
    by_name = {t.name: t.id for t in tags}
    rules = []
    for r in node.state_derivation.rules:
        counter = by_name.get(r.counter_active) if r.counter_active else None
        tag = by_name.get(r.tag) if r.tag else None
        if counter is None and tag is None:
            continue
        rules.append(
            DerivedRule(
                state=str(r.state),
                counter_tag=counter,
                window_minutes=max(1, math.ceil(r.window_s / 60.0)),
                tag=tag,
                above=r.above,
                below=r.below,
            )
        )
    return tuple(rules)


def _analog_names(registry: Any, node: Any) -> tuple[str, ...]:
    return tuple(
        sorted(
            t.name
            for t in registry.machine_tags(node.id)
            if t.role not in NON_ANALOG_ROLES
            and t.data_type not in NON_ANALOG_TYPES
            and t.name not in IGNORED_NAMES
        )
    )


def class_by_tags(registry: Any) -> dict[int, str]:
    """Machines without an equipment class that measure exactly the condition tags of one class.

    A retrofitted machine often has no class in the plant model, yet the same sensors as its
    siblings (a press with a clamp-on current meter and a pressure transmitter): the class's
    model applies to it. When the tags match no class, or more than one, it gets none.
    """
    signatures: dict[tuple[str, ...], set[str]] = {}
    for node in registry.machines():
        if node.equipment_class:
            signatures.setdefault(_analog_names(registry, node), set()).add(node.equipment_class)
    out: dict[int, str] = {}
    for node in registry.machines():
        if not node.equipment_class:
            classes = signatures.get(_analog_names(registry, node), set())
            if len(classes) == 1:
                out[node.id] = next(iter(classes))
    return out


def machine_tags(registry: Any) -> list[MachineTags]:
    """The feature tags of every machine in a `PlantRegistry` with analog tags and a class.

    The class is the machine's equipment class, else the one class whose condition tags it has.
    """
    out: list[MachineTags] = []
    by_tags = class_by_tags(registry)
    for node in registry.machines():
        machine_class = node.equipment_class or by_tags.get(node.id)
        if not machine_class:
            continue
        tags = registry.machine_tags(node.id)
        state = next((t for t in tags if t.role == "state"), None)
        executing: float | None = None
        down: list[float] = []
        maintenance: list[float] = []
        if state is not None and state.enum:
            for code, label in state.enum.items():
                if label == "executing":
                    executing = float(code)
                elif label == "down":
                    down.append(float(code))
                elif label == "maintenance":
                    maintenance.append(float(code))
        analog = tuple(
            (t.id, t.name, _reference(t.limits))
            for t in sorted(tags, key=lambda t: t.name)
            if t.role not in NON_ANALOG_ROLES
            and t.data_type not in NON_ANALOG_TYPES
            and t.name not in IGNORED_NAMES
        )
        if not analog:
            continue
        cycle = next((t.id for t in tags if t.role == "cycle_counter"), None)
        scrap = next((t.id for t in tags if t.role == "scrap_counter"), None)
        out.append(
            MachineTags(
                machine_id=node.id,
                machine_key=node.key,
                machine_class=machine_class,
                state_tag=None if state is None else state.id,
                executing_code=executing,
                down_codes=tuple(down),
                maintenance_codes=tuple(maintenance),
                analog=analog,
                cycle_tag=cycle,
                scrap_tag=scrap,
                derived=() if state is not None else _derived_rules(node, tags),
                derived_otherwise=(
                    "idle"
                    if node.state_derivation is None
                    else str(node.state_derivation.otherwise)
                ),
            )
        )
    return out


@dataclass
class HourSummary:
    """What one hour of a machine's rollups says."""

    hour: int  # hour index: ts_us // HOUR_US
    levels: npt.NDArray[np.float64]  # per analog tag: mean over executing minutes (NaN: none)
    exec_minutes: int
    down: bool
    maintenance: bool
    cycles: float
    scrap: float


def _minute_means(rows: Rows) -> npt.NDArray[np.float64]:
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(rows.n_ok > 0, rows.vsum / np.maximum(rows.n_ok, 1), np.nan)
    return np.asarray(mean, dtype=np.float64)


def summarize_hours(
    tags: MachineTags, rows: Rows, first_hour: int, last_hour: int
) -> list[HourSummary]:
    """Summaries of hours first_hour..last_hour (inclusive) from the machine's minute rollups."""
    n_hours = last_hour - first_hour + 1
    if n_hours <= 0:
        return []
    minutes = n_hours * 60
    first_minute = first_hour * 60
    executing = np.zeros(minutes, dtype=bool)
    down = np.zeros(minutes, dtype=bool)
    maint = np.zeros(minutes, dtype=bool)
    if tags.state_tag is not None:
        sel = (rows.tag == tags.state_tag) & (rows.n > 0)
        idx = rows.bucket[sel] - first_minute
        ok = (idx >= 0) & (idx < minutes)
        idx = idx[ok]
        vmin, vmax = rows.vmin[sel][ok], rows.vmax[sel][ok]
        first_v, last_v = rows.first_v[sel][ok], rows.last_v[sel][ok]
        if tags.executing_code is not None:
            executing[idx] = (vmin == tags.executing_code) & (vmax == tags.executing_code)
        for codes, target in ((tags.down_codes, down), (tags.maintenance_codes, maint)):
            for code in codes:
                hit = (vmin == code) | (vmax == code) | (first_v == code) | (last_v == code)
                target[idx[hit]] = True
    elif tags.derived:
        state = _derived_states(tags, rows, first_minute, minutes)
        executing[:] = state == "executing"
        down[:] = state == "down"
        maint[:] = state == "maintenance"
    else:
        executing[:] = True
    levels = np.full((n_hours, len(tags.analog)), np.nan)
    for j, (tag_id, _, _) in enumerate(tags.analog):
        sel = rows.tag == tag_id
        idx = rows.bucket[sel] - first_minute
        means = _minute_means(rows.take(np.flatnonzero(sel)))
        ok = (idx >= 0) & (idx < minutes) & np.isfinite(means)
        idx, means = idx[ok], means[ok]
        keep = executing[idx]
        idx, means = idx[keep], means[keep]
        hour = idx // 60
        sums = np.bincount(hour, weights=means, minlength=n_hours)
        counts = np.bincount(hour, minlength=n_hours)
        with np.errstate(invalid="ignore", divide="ignore"):
            levels[:, j] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    cyc = _hourly_increase(rows, tags.cycle_tag, first_minute, n_hours)
    scr = _hourly_increase(rows, tags.scrap_tag, first_minute, n_hours)
    ex_h: npt.NDArray[np.int64] = executing.reshape(n_hours, 60).sum(axis=1)
    down_h = np.asarray(down.reshape(n_hours, 60).any(axis=1))
    maint_h = np.asarray(maint.reshape(n_hours, 60).any(axis=1))
    return [
        HourSummary(
            hour=first_hour + i,
            levels=levels[i],
            exec_minutes=int(ex_h[i]),
            down=bool(down_h[i]),
            maintenance=bool(maint_h[i]),
            cycles=float(cyc[i]),
            scrap=float(scr[i]),
        )
        for i in range(n_hours)
    ]


def _minute_series(
    rows: Rows, tag_id: int, first_minute: int, minutes: int, values: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """`values` (one per rollup row) of a tag placed on the minute grid, NaN where no row."""
    out = np.full(minutes, np.nan)
    sel = rows.tag == tag_id
    idx = rows.bucket[sel] - first_minute
    ok = (idx >= 0) & (idx < minutes)
    out[idx[ok]] = values[sel][ok]
    return out


def _derived_states(
    tags: MachineTags, rows: Rows, first_minute: int, minutes: int
) -> npt.NDArray[np.str_]:
    """Per minute, the state the machine's derivation rules give ('' where no input has data).

    The rules are those the state tracker applies to the live stream (plant model
    `state_derivation`), evaluated on 1-minute rollups: in order, the first that holds wins.
    """
    state = np.full(minutes, "", dtype=object)
    seen = np.zeros(minutes, dtype=bool)
    means = _minute_means(rows)
    inc = np.nan_to_num(rows.inc, nan=0.0)
    for rule in tags.derived:
        if rule.counter_tag is not None:
            counted = _minute_series(rows, rule.counter_tag, first_minute, minutes, inc)
            seen |= np.isfinite(counted)
            increased = np.nan_to_num(counted) > 0
            # Within the window: an increase in this minute or in one of the w - 1 before it.
            window = np.convolve(increased, np.ones(rule.window_minutes), mode="full")[:minutes]
            holds = window > 0
        else:
            assert rule.tag is not None
            level = _minute_series(rows, rule.tag, first_minute, minutes, means)
            seen |= np.isfinite(level)
            with np.errstate(invalid="ignore"):
                holds = np.isfinite(level)
                if rule.above is not None:
                    holds &= level > rule.above
                if rule.below is not None:
                    holds &= level < rule.below
        state = np.where((state == "") & holds, rule.state, state)
    state = np.where((state == "") & seen, tags.derived_otherwise, state)
    return np.asarray(state, dtype=np.str_)


def _hourly_increase(
    rows: Rows, tag_id: int | None, first_minute: int, n_hours: int
) -> npt.NDArray[np.float64]:
    """Counter increase per hour (the rollups' rollover-aware `inc`), zero without the tag."""
    if tag_id is None:
        return np.zeros(n_hours)
    sel = rows.tag == tag_id
    idx = rows.bucket[sel] - first_minute
    inc = np.nan_to_num(rows.inc[sel], nan=0.0)
    ok = (idx >= 0) & (idx < n_hours * 60)
    return np.bincount(idx[ok] // 60, weights=inc[ok], minlength=n_hours).astype(np.float64)


def _nanmean(a: npt.NDArray[np.float64], axis: int = 0) -> npt.NDArray[np.float64]:
    valid = np.isfinite(a)
    counts = valid.sum(axis=axis)
    sums = np.where(valid, a, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _tag_features(
    levels: npt.NDArray[np.float64], since_repair: npt.NDArray[np.bool_], ref: float
) -> npt.NDArray[np.float64]:
    """The TAG_FEATURES of one tag from its hourly levels (oldest first).

    Only hours since the last repair count. The baseline is their median level, leaving out
    the newest 48 hours with data (where a degradation shows first); with too few, all of them.
    """
    # A repair starts a new life: nothing before it describes the machine now.
    v = levels[np.isfinite(levels) & since_repair]
    if len(v) == 0:
        return np.full(len(TAG_FEATURES), np.nan)
    base_pool = v[:-BASELINE_GAP_HOURS]
    if len(base_pool) < MIN_BASELINE_HOURS:
        base_pool = v
    base = float(np.median(base_pool))
    if abs(base) < 1e-9:
        base = math.nan

    def mean(lo: int, hi: int) -> float:
        """Mean of the valid levels from the lo-th newest (0 = newest) up to the hi-th."""
        part = v[max(len(v) - hi, 0) : len(v) - lo]
        return float(part.mean()) if len(part) else math.nan

    w6, w24 = mean(0, 6), mean(0, 24)
    w18_24, w48_72 = mean(18, 24), mean(48, 72)
    # Growth of the deviation from the baseline over 24 h (log ratio): an exponential wear
    # process has a constant growth rate, so this says how fast, where the level says how far.
    now_dev, then_dev = abs(w6 - base), abs(w18_24 - base)
    floor = 0.01 * abs(base)
    growth = (
        math.log(max(now_dev, floor) / max(then_dev, floor)) if math.isfinite(base) else math.nan
    )
    with np.errstate(all="ignore"):
        return np.array(
            [
                w6 / base - 1.0,
                w24 / base - 1.0,
                (w6 - w18_24) / abs(base),
                (w24 - w48_72) / abs(base),
                w6 / ref,
                growth,
            ],
            dtype=np.float64,
        )


@dataclass
class MachineHistory:
    """The last `KEEP_HOURS` hour summaries of a machine, and the features they give."""

    tags: MachineTags
    hours: list[HourSummary] = field(default_factory=list)
    last_down_hour: int | None = None
    last_maintenance_hour: int | None = None

    @property
    def next_hour(self) -> int | None:
        """The hour index the next summary must have (None before the first)."""
        return self.hours[-1].hour + 1 if self.hours else None

    def add(self, summary: HourSummary) -> None:
        """Append the summary of the next hour (gaps are filled with empty hours)."""
        nxt = self.next_hour
        if nxt is not None and summary.hour < nxt:
            raise ValueError(f"hour {summary.hour} already summarised (next is {nxt})")
        if nxt is not None and summary.hour > nxt:
            width = len(self.tags.analog)
            for h in range(max(nxt, summary.hour - KEEP_HOURS), summary.hour):
                self.hours.append(HourSummary(h, np.full(width, np.nan), 0, False, False, 0, 0))
        self.hours.append(summary)
        if summary.down:
            self.last_down_hour = summary.hour
        if summary.maintenance:
            self.last_maintenance_hour = summary.hour
        if len(self.hours) > KEEP_HOURS:
            del self.hours[: len(self.hours) - KEEP_HOURS]

    def features(self) -> npt.NDArray[np.float64]:
        """The feature vector at the end of the last added hour (NaN where undefined)."""
        if not self.hours:
            return np.full(len(self.tags.feature_names()), np.nan)
        now = self.hours[-1].hour
        levels = np.array([h.levels for h in self.hours], dtype=np.float64)
        hour_idx = np.array([h.hour for h in self.hours], dtype=np.int64)
        since = -1 if self.last_down_hour is None else self.last_down_hour
        refs = np.array([np.nan if r is None else r for _, _, r in self.tags.analog])
        # Windows count hours with data (the machine executed), not calendar hours: over a
        # weekend or a night without a shift the last readings still say how worn it is.
        per_tag = np.concatenate(
            [_tag_features(levels[:, j], hour_idx > since, refs[j]) for j in range(levels.shape[1])]
        )
        producing = [h for h in self.hours if h.cycles > 0]
        last = producing[-24:]
        recent = producing[-6:]
        cyc24 = sum(h.cycles for h in last)
        cyc6 = sum(h.cycles for h in recent)
        rate24 = sum(h.scrap for h in last) / cyc24 if cyc24 > 0 else math.nan
        rate6 = sum(h.scrap for h in recent) / cyc6 if cyc6 > 0 else math.nan
        old = [h for h in producing[:-48] if h.hour > since]
        cyc_old = sum(h.cycles for h in old)
        rate_old = sum(h.scrap for h in old) / cyc_old if cyc_old > 0 else math.nan
        day = self.hours[-24:]
        exec_frac = sum(h.exec_minutes for h in day) / (60.0 * len(day))
        executed = [h.hour for h in self.hours if h.exec_minutes > 0]
        stale = float(now - executed[-1]) if executed else SINCE_CAP_HOURS
        since_down = (
            SINCE_CAP_HOURS
            if self.last_down_hour is None
            else min(float(now - self.last_down_hour), SINCE_CAP_HOURS)
        )
        since_maint = (
            SINCE_CAP_HOURS
            if self.last_maintenance_hour is None
            else min(float(now - self.last_maintenance_hour), SINCE_CAP_HOURS)
        )
        tail = np.array(
            [rate6, rate24, rate24 - rate_old, exec_frac, stale, since_down, since_maint],
            dtype=np.float64,
        )
        return np.concatenate((per_tag, tail))
