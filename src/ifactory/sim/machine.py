"""One simulated machine: its event process, gateway outages, and its tags rendered per block."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ifactory.core.clock import US
from ifactory.plant.loader import Node, Tag
from ifactory.plant.spec import DataType, MachineState, TagRole
from ifactory.sim.behaviour import EXECUTING, STATES, MachineBehaviour
from ifactory.sim.block import Block, Carry, FloatArray, IntArray
from ifactory.sim.degradation import applicable_modes, health
from ifactory.sim.options import FailureMode, SimOptions
from ifactory.sim.planned import PlannedTime
from ifactory.sim.schedule import MachineSchedule, ScheduledRun
from ifactory.sim.signals import MEASUREMENTS, PER_CYCLE, compute_load, generic, profile_for

# Random streams of a machine, so adding a tag or an option in one place leaves the others alone.
STREAM_EVENTS, STREAM_OUTAGES, STREAM_SIGNALS, STREAM_CONSTANTS = 1, 2, 3, 4
STREAM_SCHEDULE = 5
DEFAULT_CYCLE_TIME_S = 60.0
MONTH_US = 30 * 86_400 * US


def stable_hash(text: str) -> int:
    """A hash of a key that is the same in every process (unlike `hash`)."""
    return zlib.crc32(text.encode("utf-8"))


class OutageProcess:
    """Gateway outages of one machine: a Poisson process with log-uniform durations."""

    def __init__(self, options: SimOptions, rng: np.random.Generator, start_us: int) -> None:
        self._rng = rng
        self._mean_gap_us = MONTH_US / options.outages_per_machine_month
        lo, hi = options.outage_min
        self._log_range = (np.log(lo * 60), np.log(hi * 60))
        self.outages: list[tuple[int, int]] = []
        self._next = start_us + self._gap()

    def _gap(self) -> int:
        return round(float(self._rng.exponential(self._mean_gap_us / US))) * US

    def extend_to(self, t_us: int) -> None:
        """Draw outages until one starts after `t_us`."""
        while self._next <= t_us:
            duration = round(float(np.exp(self._rng.uniform(*self._log_range)))) * US
            self.outages.append((self._next, self._next + duration))
            self._next += duration + self._gap()


@dataclass
class Column:
    """A tag of the machine and how it is rendered."""

    tag: Tag
    kind: str  # state, product, cycles, good, scrap, rework, energy, measurement, constant


def _column_kind(tag: Tag) -> str:
    spec = tag.spec
    kinds = {
        TagRole.state: "state",
        TagRole.product: "product",
        TagRole.cycle_counter: "cycles",
        TagRole.good_counter: "good",
        TagRole.scrap_counter: "scrap",
        TagRole.rework_counter: "rework",
        TagRole.energy: "energy",
    }
    if spec.role in kinds:
        return kinds[spec.role]
    if spec.data_type in (DataType.enum, DataType.string):
        return "constant"
    return "measurement"


class MachineSim:
    """Renders one machine's tags for a block of sample times."""

    def __init__(
        self,
        node: Node,
        *,
        seed: int,
        start_us: int,
        step_s: float,
        options: SimOptions,
        planned: PlannedTime,
        runs: Sequence[ScheduledRun] = (),
    ) -> None:
        self.node = node
        self.key = node.key
        self.step_s = step_s
        self.options = options
        self._seed = seed
        self._hash = stable_hash(node.key)
        names = {t.spec.name for t in node.tags}
        self.columns = [Column(t, _column_kind(t)) for t in node.tags]
        kinds = {c.kind for c in self.columns}
        self.profile = profile_for(node.spec.equipment_class, names)
        self.modes = applicable_modes(names)
        # A machine that counts parts makes products; one that does not is a utility.
        produces = "cycles" in kinds or bool(node.ideal_cycle_times)
        products = list(node.ideal_cycle_times) or (["default"] if produces else [])
        cycle_times = [node.ideal_cycle_times.get(p, DEFAULT_CYCLE_TIME_S) for p in products]
        if runs and not produces:
            raise ValueError(f"machine '{node.key}' makes no parts and cannot be scheduled")
        # A scheduled (product, cycle time) reuses the machine's own product entry when they agree,
        # so a schedule that matches plant.yaml changes nothing but the timing of changeovers.
        index = {(p, c): i for i, (p, c) in enumerate(zip(products, cycle_times, strict=True))}
        extra: list[str] = []
        for run in runs:
            if (run.product, run.cycle_time_s) not in index:
                index[(run.product, run.cycle_time_s)] = len(products) + len(extra)
                extra.append(run.product)
                cycle_times.append(run.cycle_time_s)
        self._cycle_times = np.array([*cycle_times, 0.0])
        self.behaviour = MachineBehaviour(
            key=node.key,
            products=products + extra,
            random_products=len(products),
            schedule=MachineSchedule.of(runs, index) if runs else None,
            modes=self.modes,
            utility=not produces,
            planned=planned,
            options=options,
            rng=self._rng(STREAM_EVENTS),
            start_us=start_us,
        )
        self.outages = OutageProcess(options, self._rng(STREAM_OUTAGES), start_us)
        const = self._rng(STREAM_CONSTANTS)
        speed = const.uniform(*options.speed_factor, size=len(products) + 1)
        if extra:
            # Their own stream: the machine's other constants stay what they are unscheduled.
            more = self._rng(STREAM_SCHEDULE).uniform(*options.speed_factor, size=len(extra))
            speed = np.concatenate((speed[:-1], more, speed[-1:]))
        self._speed = speed
        self._scrap_rate = float(const.uniform(*options.scrap_rate))
        self._counter_max = {
            c.kind: c.tag.spec.counter_max
            for c in self.columns
            if c.kind in ("cycles", "good", "scrap")
        }
        cycle_max = self._counter_max.get("cycles") or 1_000_000
        # Machines are not new: counters start part-way, so rollovers happen in short runs too.
        self._cycles = int(const.integers(0, cycle_max))
        self._scrap = int(self._cycles * self._scrap_rate)
        self._energy0 = float(np.round(const.uniform(1e4, 1e5), 1))
        self._run_hours0 = float(np.round(const.uniform(5_000, 30_000), 1))
        self._frac = 0.0
        self._carry = Carry()
        self._cursor = 0
        self._state_values = self._state_mapping()

    def resume_counters(self, latest: Mapping[str, float]) -> None:
        """Take this machine's counter and meter values from `latest` (tag key -> value)."""
        for col in self.columns:
            value = latest.get(col.tag.key)
            if value is None or not np.isfinite(value):
                continue
            if col.kind == "cycles":
                self._cycles = int(value)
            elif col.kind == "scrap":
                self._scrap = int(value)
            elif col.kind == "energy":
                self._energy0 = float(value)

    def _rng(self, stream: int, *more: int) -> np.random.Generator:
        return np.random.default_rng([self._seed, self._hash, stream, *more])

    def _state_mapping(self) -> FloatArray:
        """The state tag's value for each internal state code."""
        col = next((c for c in self.columns if c.kind == "state"), None)
        if col is None or not col.tag.spec.enum:
            return np.zeros(len(STATES))
        by_label = {label: value for value, label in col.tag.spec.enum.items()}
        # A state the enum lacks is shown as idle (available but not producing), else the first.
        fallback = by_label.get(MachineState.idle.value, next(iter(col.tag.spec.enum)))
        return np.array([by_label.get(s.value, fallback) for s in STATES], dtype=np.float64)

    # --- block rendering ------------------------------------------------------------------------

    def _segments_over(self, t: IntArray) -> tuple[npt.NDArray[np.int8], IntArray]:
        self.behaviour.extend_to(int(t[-1]))
        segs = self.behaviour.segments
        while segs[self._cursor].end_us <= t[0]:
            self._cursor += 1
        end = self._cursor
        while end < len(segs) and segs[end].start_us <= t[-1]:
            end += 1
        sub = segs[self._cursor : end]
        starts = np.fromiter((s.start_us for s in sub), dtype=np.int64, count=len(sub))
        idx = np.searchsorted(starts, t, side="right") - 1
        states = np.fromiter((s.state for s in sub), dtype=np.int8, count=len(sub))
        products = np.fromiter((s.product for s in sub), dtype=np.int64, count=len(sub))
        return states[idx], products[idx]

    def _health(
        self, t: IntArray
    ) -> tuple[dict[FailureMode, FloatArray], dict[FailureMode, float]]:
        t0, t1 = int(t[0]), int(t[-1])
        out: dict[FailureMode, FloatArray] = {}
        severity: dict[FailureMode, float] = {}
        for episode in self.behaviour.episodes:
            if episode.onset_us > t1 or (episode.end_us is not None and episode.end_us <= t0):
                continue
            h = health(episode, t)
            out[episode.mode] = out[episode.mode] + h if episode.mode in out else h
            severity[episode.mode] = episode.severity
        return out, severity

    def outage_rows(self, t: IntArray) -> list[tuple[int, int]]:
        """Row ranges of `t` that fall into an outage (no points are published there)."""
        self.outages.extend_to(int(t[-1]))
        rows = []
        for s, e in self.outages.outages:
            if e <= t[0] or s > t[-1]:
                continue
            a, b = np.searchsorted(t, [s, e], side="left")
            if b > a:
                rows.append((int(a), int(b)))
        return rows

    def render(
        self, block_index: int, t: IntArray, ambient: FloatArray
    ) -> tuple[list[FloatArray], dict[int, npt.NDArray[np.object_]]]:
        """Values of every tag (in tag order) over `t`, and the text of string tags by position."""
        state, product = self._segments_over(t)
        hlth, severity = self._health(t)
        block = Block(
            t=t,
            step_s=self.step_s,
            state=state,
            product=product,
            ambient=ambient,
            health=hlth,
            severity=severity,
            rng=self._rng(STREAM_SIGNALS, block_index),
            carry=self._carry,
        )
        block.initial_run_hours = self._run_hours0
        self._produce(block)
        current_col = next((c for c in self.columns if c.tag.spec.role == TagRole.current), None)
        compute_load(block, self.profile, None if current_col is None else current_col.tag.spec)
        counters = self._count(block)
        values: list[FloatArray] = []
        texts: dict[int, npt.NDArray[np.object_]] = {}
        for i, col in enumerate(self.columns):
            spec = col.tag.spec
            if col.kind == "state":
                values.append(self._state_values[state])
            elif col.kind == "product":
                names = np.array([*self.behaviour.products, ""], dtype=object)
                texts[i] = names[product]
                values.append(np.full(len(t), np.nan))
            elif col.kind in counters:
                values.append(counters[col.kind])
            elif col.kind == "energy":
                total = block.accumulate(
                    spec.name, block.power_kw * (self.step_s / 3600.0), self._energy0
                )
                if spec.counter_max:
                    total = np.mod(total, spec.counter_max)
                values.append(total)
            elif col.kind == "constant":
                first = next(iter(spec.enum)) if spec.enum else np.nan
                values.append(np.full(len(t), float(first)))
                if spec.data_type == DataType.string:
                    texts[i] = np.full(len(t), "", dtype=object)
            else:
                values.append(self._measure(block, col))
        return values, texts

    def _measure(self, block: Block, col: Column) -> FloatArray:
        spec = col.tag.spec
        if spec.data_type == DataType.bool:
            running: FloatArray = (block.state == EXECUTING).astype(np.float64)
            return running
        render = MEASUREMENTS.get(spec.name, generic)
        value = render(block, spec, self.profile)
        lim = spec.limits
        if lim is not None and (lim.low is not None or lim.high is not None):
            # A transmitter saturates at the ends of its range.
            value = np.clip(value, lim.low, lim.high)
        if spec.data_type == DataType.int:
            value = np.round(value)
        return value

    def _produce(self, block: Block) -> None:
        """Cycles completed per sample: ideal cycle time per product, times a speed factor <= 1."""
        executing = block.state == EXECUTING
        product = np.where(block.product >= 0, block.product, len(self._cycle_times) - 1)
        block.cycle_time_s = self._cycle_times[product]
        speed = self._speed[product] + block.smooth("speed", 0.02)
        block.speed = np.where(executing, np.clip(speed, 0.5, 1.0), 0.0)
        rate = np.zeros(block.n)
        counting = executing & (block.cycle_time_s > 0)
        np.divide(block.speed * self.step_s, block.cycle_time_s, out=rate, where=counting)
        cum = self._frac + np.cumsum(rate)
        block.cycles = np.floor(cum).astype(np.int64)
        self._frac = float(cum[-1] - block.cycles[-1])
        new = int(block.cycles[-1])
        block.cycle_rows = np.searchsorted(block.cycles, np.arange(1, new + 1), side="left")
        for col in self.columns:
            per_cycle = PER_CYCLE.get(col.tag.spec.name)
            if per_cycle is not None and col.kind == "measurement":
                per_cycle(block, col.tag.spec)

    def _count(self, block: Block) -> dict[str, FloatArray]:
        """Cycle, good and scrap counters: good + scrap = cycles, rolling over at counter_max."""
        rows = block.cycle_rows
        p_scrap = self._scrap_rate + 0.15 * block.h(FailureMode.seal_leak)[rows]
        scrap = block.rng.random(len(rows)) < p_scrap
        for col in self.columns:
            if col.tag.spec.name == "dimension" and col.kind == "measurement":
                lim = col.tag.spec.limits
                dims = block.per_cycle["dimension"]
                lo = lim.alarm_low if lim is not None and lim.alarm_low is not None else -np.inf
                hi = lim.alarm_high if lim is not None and lim.alarm_high is not None else np.inf
                # An out-of-tolerance part is scrap.
                scrap |= (dims < lo) | (dims > hi)
        scrap_cum = np.concatenate(([0], np.cumsum(scrap)))[block.cycles]
        cycles = self._cycles + block.cycles
        scraps = self._scrap + scrap_cum
        self._cycles = int(cycles[-1])
        self._scrap = int(scraps[-1])
        totals = {"cycles": cycles, "scrap": scraps, "good": cycles - scraps}
        out: dict[str, FloatArray] = {}
        for kind, total in totals.items():
            top = self._counter_max.get(kind)
            out[kind] = (total % (top + 1) if top else total).astype(np.float64)
        out["rework"] = np.zeros(block.n)
        return out
