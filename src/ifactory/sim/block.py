"""One machine over one block of samples: its states, production and noise helpers, as arrays."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ifactory.core.clock import US
from ifactory.sim.options import FailureMode

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class Carry:
    """What a machine's signals remember from one block to the next, so blocks join seamlessly."""

    values: dict[str, Any] = field(default_factory=dict)


class Block:
    """Arrays describing one machine over the sample times `t` (all of length n)."""

    def __init__(
        self,
        *,
        t: IntArray,
        step_s: float,
        state: npt.NDArray[np.int8],
        product: IntArray,
        ambient: FloatArray,
        health: dict[FailureMode, FloatArray],
        severity: dict[FailureMode, float],
        rng: np.random.Generator,
        carry: Carry,
    ) -> None:
        self.t = t
        self.n = len(t)
        self.step_s = step_s
        self.state = state
        self.product = product
        self.ambient = ambient
        self.health = health
        self.severity = severity
        self.rng = rng
        self.carry = carry.values
        change = np.flatnonzero((np.diff(state) != 0) | (np.diff(product) != 0)) + 1
        bounds = [0, *change.tolist(), self.n]
        # Runs of constant state and product: signals that lag (temperatures) are solved per run.
        self.runs = list(itertools.pairwise(bounds))
        # Filled by the machine before tags are rendered.
        self.speed: FloatArray = np.zeros(self.n)
        self.cycle_time_s: FloatArray = np.zeros(self.n)
        self.cycles: IntArray = np.zeros(self.n, dtype=np.int64)
        self.cycle_rows: IntArray = np.zeros(0, dtype=np.int64)
        self.current_a: FloatArray = np.zeros(self.n)
        self.power_kw: FloatArray = np.zeros(self.n)
        self.per_cycle: dict[str, FloatArray] = {}
        self.initial_run_hours = 0.0
        self.rendered: dict[str, FloatArray] = {}

    def h(self, mode: FailureMode) -> FloatArray:
        """Health index of a degradation mode (zeros when the machine does not have it)."""
        got = self.health.get(mode)
        return got if got is not None else np.zeros(self.n)

    def by_state(self, levels: tuple[float, ...]) -> FloatArray:
        """Per-sample value looked up by machine state (levels ordered like `behaviour.STATES`)."""
        return np.asarray(levels, dtype=np.float64)[self.state]

    def white(self, sigma: float | FloatArray) -> FloatArray:
        """Gaussian measurement noise."""
        return self.rng.standard_normal(self.n) * sigma

    def smooth(self, name: str, sigma: float, period_s: float = 120.0) -> FloatArray:
        """Slowly wandering noise: random knots every `period_s`, linearly interpolated."""
        k = max(1, round(period_s / self.step_s))
        xp = np.arange(k - 1, self.n, k, dtype=np.float64)
        if len(xp) == 0 or xp[-1] != self.n - 1:
            xp = np.append(xp, self.n - 1)
        fp = self.rng.standard_normal(len(xp)) * sigma
        first = float(self.carry.get(f"smooth:{name}", 0.0))
        self.carry[f"smooth:{name}"] = float(fp[-1])
        out: FloatArray = np.interp(
            np.arange(self.n, dtype=np.float64), np.append(-1.0, xp), np.append(first, fp)
        )
        return out

    def lag(self, name: str, target: FloatArray, tau_s: float) -> FloatArray:
        """First-order lag towards a target that is constant within each run (exact, per run)."""
        key = f"lag:{name}"
        value, t_prev = self.carry.get(key, (float(target[0]), int(self.t[0]) - US))
        out = np.empty(self.n)
        for a, b in self.runs:
            goal = float(target[a])
            dt = (self.t[a:b] - t_prev).astype(np.float64) / US
            out[a:b] = goal + (value - goal) * np.exp(-dt / tau_s)
            value = float(out[b - 1])
            t_prev = int(self.t[b - 1])
        self.carry[key] = (value, t_prev)
        return out

    def hold(self, name: str, per_cycle: FloatArray, initial: float) -> FloatArray:
        """A value measured once per cycle (a part's dimension), held until the next cycle."""
        key = f"hold:{name}"
        ext = np.concatenate(([float(self.carry.get(key, initial))], per_cycle))
        self.carry[key] = float(ext[-1])
        return ext[self.cycles]

    def accumulate(self, name: str, increments: FloatArray, initial: float) -> FloatArray:
        """A running total (energy, run hours) carried across blocks."""
        key = f"sum:{name}"
        start = float(self.carry.get(key, initial))
        out = start + np.cumsum(increments)
        self.carry[key] = float(out[-1])
        return out
