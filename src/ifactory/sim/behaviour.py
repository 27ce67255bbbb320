"""What one machine does over time: a sparse event process producing state segments and records.

Events are few (a few dozen per machine-day), so they are generated one by one in Python; the
per-sample signals are then rendered from these segments with numpy (see `signals`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from ifactory.core.clock import US
from ifactory.plant.spec import MachineState
from ifactory.sim.degradation import REASON_CODES, Episode
from ifactory.sim.ground_truth import FailureRecord, ProductChange
from ifactory.sim.options import FailureMode, SimOptions
from ifactory.sim.planned import PlannedTime
from ifactory.sim.schedule import MachineSchedule

# Internal state codes (index into STATES); the state tag maps them to its own enum values.
EXECUTING, SETUP, IDLE, DOWN, MAINTENANCE = range(5)
STATES = (
    MachineState.executing,
    MachineState.setup,
    MachineState.idle,
    MachineState.down,
    MachineState.maintenance,
)
HOUR_US = 3600 * US
NO_PRODUCT = -1
MINOR_STOP_REASONS = ("MIN-JAM", "MIN-STARVED", "MIN-BLOCKED", "MIN-SENSOR")
MINOR_STOP_WEIGHTS = (0.4, 0.3, 0.2, 0.1)


class Segment(NamedTuple):
    """The machine in one condition over [start_us, end_us)."""

    start_us: int
    end_us: int
    state: int
    reason: str
    product: int


class MachineBehaviour:
    """The event process of one machine, extended lazily and independently of how it is read."""

    def __init__(
        self,
        *,
        key: str,
        products: list[str],
        modes: list[FailureMode],
        utility: bool,
        planned: PlannedTime,
        options: SimOptions,
        rng: np.random.Generator,
        start_us: int,
        random_products: int | None = None,
        schedule: MachineSchedule | None = None,
    ) -> None:
        self.key = key
        self.products = products
        self.modes = modes
        self.utility = utility
        self.options = options
        self.segments: list[Segment] = []
        self.failures: list[FailureRecord] = []
        self.product_changes: list[ProductChange] = []
        self.episodes: list[Episode] = []
        self._planned = planned
        self._rng = rng
        self._start = start_us
        # Random changeovers pick among the machine's own products; a schedule may add more.
        self._random_products = len(products) if random_products is None else random_products
        self._schedule = schedule
        n = self._random_products
        self._product = int(rng.integers(n)) if n else NO_PRODUCT
        if schedule is not None:
            at_start, _ = schedule.at(start_us)
            if at_start is not None:
                # The machine is already set up for the run under way when the simulation starts.
                self._product = at_start
        self._active: dict[FailureMode, Episode] = {}
        for mode in modes:
            if mode != FailureMode.sudden:
                self._new_episode(mode, start_us, initial=True)
        self._sudden_left = self._exp_us(options.sudden_mtbf_h * HOUR_US)
        self._minor_left = self._exp_us(options.minor_stop_mean_min * 60 * US)
        self._next_changeover = start_us + self._exp_us(options.changeover_mean_h * HOUR_US)
        longest = options.planned_maintenance_every_days[1]
        self._next_pm = start_us + self._seconds(self._uniform(0.0, longest) * 86_400)
        self._setup_left = 0
        self._process = self._run()

    # --- random draws, rounded to whole seconds so events fall on the sample grid -------------

    def _uniform(self, lo: float, hi: float) -> float:
        return float(self._rng.uniform(lo, hi))

    @staticmethod
    def _seconds(s: float) -> int:
        return max(1, round(s)) * US

    def _exp_us(self, mean_us: float) -> int:
        return self._seconds(float(self._rng.exponential(mean_us / US)))

    def _range_us(self, bounds: tuple[float, float], unit_us: int) -> int:
        return self._seconds(self._uniform(*bounds) * unit_us / US)

    # --- public --------------------------------------------------------------------------------

    def extend_to(self, t_us: int) -> None:
        """Generate segments until they cover `t_us`."""
        while not self.segments or self.segments[-1].end_us <= t_us:
            self.segments.append(next(self._process))

    def product_name(self, index: int) -> str | None:
        """The product code of a product index (None for machines without products)."""
        return self.products[index] if index >= 0 else None

    # --- the process ---------------------------------------------------------------------------

    def _new_episode(self, mode: FailureMode, reset_us: int, *, initial: bool = False) -> None:
        opts = self.options.degradation(mode)
        duration = self._range_us(opts.onset_to_failure_h, HOUR_US)
        onset = reset_us + self._exp_us(opts.mean_time_to_onset_h * HOUR_US)
        if initial:
            # A run starts part-way through the machine's life: a degradation may be under way.
            onset -= self._seconds(self._uniform(0.0, 1.0) * duration / US)
        episode = Episode(mode, onset, onset + duration, self._uniform(0.8, 1.25))
        self._active[mode] = episode
        self.episodes.append(episode)

    def _reset(self, mode: FailureMode, t_us: int, outcome: str) -> None:
        episode = self._active[mode]
        if episode.onset_us >= t_us:
            # It had not begun: it never happened.
            self.episodes.remove(episode)
        else:
            episode.end_us = t_us
            episode.outcome = outcome
        self._new_episode(mode, t_us)

    def _due_failure(self, t_us: int) -> FailureMode | None:
        for mode, episode in self._active.items():
            if episode.crossing_us <= t_us:
                return mode
        if FailureMode.sudden in self.modes and self._sudden_left <= 0:
            return FailureMode.sudden
        return None

    def _fail(self, t_us: int, mode: FailureMode) -> Iterator[Segment]:
        reason = REASON_CODES[mode]
        if mode == FailureMode.sudden:
            repair = self._range_us(self.options.sudden_repair_h, HOUR_US)
            onset = None
        else:
            repair = self._range_us(self.options.degradation(mode).repair_h, HOUR_US)
            onset = self._active[mode].onset_us
        maintenance = self._range_us(self.options.maintenance_after_repair_min, 60 * US)
        repaired = t_us + repair
        self.failures.append(FailureRecord(t_us, self.key, mode.value, onset, repaired, reason))
        yield Segment(t_us, repaired, DOWN, reason, self._product)
        yield Segment(repaired, repaired + maintenance, MAINTENANCE, reason, self._product)
        # The degradation is gone only once the machine is back together.
        if mode == FailureMode.sudden:
            self._sudden_left = self._exp_us(self.options.sudden_mtbf_h * HOUR_US)
        else:
            self._reset(mode, repaired + maintenance, "failure")

    def _changeover(self, t_us: int) -> None:
        old = self._product
        choices = [i for i in range(self._random_products) if i != old]
        self._switch(t_us, int(choices[int(self._rng.integers(len(choices)))]))

    def _switch(self, t_us: int, product: int) -> None:
        """Change over to `product`: a setup, perhaps a tool change, and the next changeover due."""
        old = self._product
        self._product = product
        self.product_changes.append(
            ProductChange(t_us, self.key, self.product_name(old), self.products[self._product])
        )
        self._setup_left = self._range_us(self.options.setup_min, 60 * US)
        if (
            FailureMode.tool_wear in self._active
            and self._rng.random() < self.options.tool_change_probability
        ):
            self._reset(FailureMode.tool_wear, t_us, "tool_change")
        # A product run lasts at least an hour after its setup.
        self._next_changeover = (
            t_us
            + self._setup_left
            + HOUR_US
            + self._exp_us(self.options.changeover_mean_h * HOUR_US)
        )

    def _run(self) -> Iterator[Segment]:
        t = self._start
        schedule = self._schedule
        changeovers = not self.utility and schedule is None and self._random_products > 1
        minor_stops = not self.utility
        sudden = FailureMode.sudden in self.modes
        while True:
            planned, until, why = self._planned.at(t)
            if not planned:
                yield Segment(t, until, IDLE, why, self._product)
                t = until
                continue
            if schedule is not None:
                wanted, boundary = schedule.at(t)
                if wanted is None:
                    # No order on the machine: available but idle, until the next run starts.
                    end = min(until, boundary)
                    yield Segment(t, end, IDLE, "", self._product)
                    t = end
                    continue
                if wanted != self._product:
                    self._switch(t, wanted)
                    continue
                # Production of this run stops where the run ends.
                until = min(until, boundary)
            if self._setup_left > 0:
                end = min(t + self._setup_left, until)
                yield Segment(t, end, SETUP, "SET-CHG", self._product)
                self._setup_left -= end - t
                t = end
                continue
            mode = self._due_failure(t)
            if mode is not None:
                for segment in self._fail(t, mode):
                    yield segment
                    t = segment.end_us
                continue
            if minor_stops and self._minor_left <= 0:
                self._minor_left = self._exp_us(self.options.minor_stop_mean_min * 60 * US)
                reason = str(self._rng.choice(MINOR_STOP_REASONS, p=MINOR_STOP_WEIGHTS))
                end = min(t + self._range_us(self.options.minor_stop_s, US), until)
                yield Segment(t, end, IDLE, reason, self._product)
                t = end
                continue
            if self._next_pm <= t:
                end = t + self._range_us(self.options.planned_maintenance_h, HOUR_US)
                yield Segment(t, end, MAINTENANCE, "PLN-PM", self._product)
                t = end
                self._next_pm = t + self._range_us(
                    self.options.planned_maintenance_every_days, 86_400 * US
                )
                continue
            if changeovers and self._next_changeover <= t:
                self._changeover(t)
                continue
            end = min(until, self._next_pm)
            if sudden:
                end = min(end, t + self._sudden_left)
            if minor_stops:
                end = min(end, t + self._minor_left)
            if changeovers:
                end = min(end, self._next_changeover)
            for episode in self._active.values():
                end = min(end, episode.crossing_us)
            yield Segment(t, end, EXECUTING, "", self._product)
            self._sudden_left -= end - t
            self._minor_left -= end - t
            t = end
