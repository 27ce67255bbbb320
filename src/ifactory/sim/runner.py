"""SimulationRunner: drives a PlantSimulator from a thread at a chosen speed into a sink."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ifactory.core.clock import US, ManualClock
from ifactory.historian.batch import TelemetryBatch
from ifactory.sim.simulator import PlantSimulator

log = logging.getLogger(__name__)

# As fast as possible: simulated seconds per call to advance().
UNTHROTTLED_CHUNK_S = 600.0
# After a slow sink, catch up by at most this many ticks at once: the simulation slows down
# instead of bursting (back-pressure), and nothing is skipped.
MAX_CATCH_UP_TICKS = 4


class SimulationRunner:
    """Advances the simulation at `speed` x real time (None: as fast as possible) into `sink`.

    `sink(batch)` is called on the runner's thread and may block: the simulation waits for it.
    `clock`, if given, follows simulated time once a batch has been delivered.
    """

    def __init__(
        self,
        sim: PlantSimulator,
        sink: Callable[[TelemetryBatch], object],
        *,
        speed: float | None,
        clock: ManualClock | None = None,
        tick_s: float = 0.5,
        until_us: int | None = None,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive (or None for as fast as possible)")
        if tick_s <= 0:
            raise ValueError("tick_s must be positive")
        self.sim = sim
        self.sink = sink
        self.speed = speed
        self.clock = clock
        self.tick_s = tick_s
        self.until_us = until_us
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-runner", daemon=True)

    def start(self) -> None:
        """Start the runner thread."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the runner to stop after the batch in hand; returns at once (see `join`)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the runner thread to end (at once if it was never started)."""
        if self._thread.ident is None:  # a platform stopped before it was started
            return
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        """True while the runner thread is alive."""
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            last = time.monotonic()
            while not self._stop.is_set():
                if self.speed is None:
                    target = self.sim.now_us + round(UNTHROTTLED_CHUNK_S * US)
                else:
                    now = time.monotonic()
                    elapsed = min(now - last, MAX_CATCH_UP_TICKS * self.tick_s)
                    last = now
                    target = self.sim.now_us + round(elapsed * self.speed * US)
                if self.until_us is not None:
                    target = min(target, self.until_us)
                if target > self.sim.now_us:
                    batch = self.sim.advance(target)
                    if len(batch):
                        self.sink(batch)
                    if self.clock is not None:
                        self.clock.set(self.sim.now_us)
                if self.until_us is not None and self.sim.now_us >= self.until_us:
                    break
                if self.speed is not None:
                    self._stop.wait(self.tick_s)
        except Exception as exc:
            self.error = exc
            # The runner stops rather than skip a batch: a gap would pass silently otherwise.
            log.exception("simulation runner stopped at sim time %d us", self.sim.now_us)
        finally:
            self._stop.set()
