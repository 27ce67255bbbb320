"""A production schedule for the simulator: which product each machine makes when, and how fast.

Plain data, so the simulator never needs the production domain: the demo turns dispatched order
operations into `ScheduledRun`s (see `ifactory.production.demo.dispatched_runs`).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

FOREVER_US = 2**62


@dataclass(frozen=True)
class ScheduledRun:
    """A product run on one machine from `start_us`, until `end_us` or the machine's next run.

    `cycle_time_s` is the ideal cycle time (the routing's); the machine makes parts at it times
    its own speed factor (<= 1). `quantity` is what the order asks for: it is informative only,
    the run does not stop when it is reached (give `end_us` for that).
    """

    start_us: int
    product: str
    cycle_time_s: float
    quantity: float | None = None
    end_us: int | None = None

    def __post_init__(self) -> None:
        if not self.product:
            raise ValueError("a scheduled run needs a product code")
        if not self.cycle_time_s > 0:
            raise ValueError(f"cycle_time_s must be positive, got {self.cycle_time_s}")
        if self.end_us is not None and self.end_us <= self.start_us:
            raise ValueError("a scheduled run must end after it starts")


Schedule = Mapping[str, Sequence[ScheduledRun]]


class MachineSchedule:
    """The runs of one machine as non-overlapping [start, end) spans of product indices."""

    def __init__(self, spans: Sequence[tuple[int, int, int]]) -> None:
        self.spans = sorted(spans)
        for (_, e0, _), (s1, _, _) in zip(self.spans, self.spans[1:], strict=False):
            if s1 < e0:
                raise ValueError("scheduled runs of a machine overlap")
        self._starts = [s for s, _, _ in self.spans]

    @classmethod
    def of(
        cls, runs: Sequence[ScheduledRun], index: Mapping[tuple[str, float], int]
    ) -> MachineSchedule:
        """Spans from runs; an open run lasts until the next one starts (or forever)."""
        ordered = sorted(runs, key=lambda r: r.start_us)
        spans = []
        for i, run in enumerate(ordered):
            nxt = ordered[i + 1].start_us if i + 1 < len(ordered) else FOREVER_US
            end = run.end_us if run.end_us is not None else nxt
            spans.append((run.start_us, end, index[(run.product, run.cycle_time_s)]))
        return cls(spans)

    def at(self, t_us: int) -> tuple[int | None, int]:
        """(product index scheduled at `t_us` or None, when that answer next changes)."""
        i = bisect.bisect_right(self._starts, t_us) - 1
        if i >= 0 and t_us < self.spans[i][1]:
            return self.spans[i][2], self.spans[i][1]
        nxt = self._starts[i + 1] if i + 1 < len(self._starts) else FOREVER_US
        return None, nxt
