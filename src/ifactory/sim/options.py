"""Knobs of the simulated plant: failure rates, durations, stops, outages and sensor glitches."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class FailureMode(StrEnum):
    """How a simulated machine fails."""

    bearing_wear = "bearing_wear"  # vibration and bearing temperature rise over days
    tool_wear = "tool_wear"  # part dimension drifts, scrap rises, then the tool breaks
    seal_leak = "seal_leak"  # hydraulic / injection / discharge pressure decays over days
    sudden = "sudden"  # electrical trip: no precursor by construction


@dataclass(frozen=True)
class DegradationOptions:
    """One degradation mode: how often it starts, how long it takes to fail, how long the repair."""

    # Mean calendar time from a reset (repair, tool change, start of the run) to the onset.
    mean_time_to_onset_h: float
    # Onset-to-failure duration, drawn uniformly from this range (calendar hours).
    onset_to_failure_h: tuple[float, float]
    repair_h: tuple[float, float]

    def __post_init__(self) -> None:
        if self.mean_time_to_onset_h <= 0:
            raise ValueError("mean_time_to_onset_h must be positive")
        _check_range("onset_to_failure_h", self.onset_to_failure_h)
        _check_range("repair_h", self.repair_h)


def _check_range(name: str, bounds: tuple[float, float]) -> None:
    lo, hi = bounds
    if not 0 < lo <= hi:
        raise ValueError(f"{name} must be (low, high) with 0 < low <= high, got {bounds}")


def _bearing() -> DegradationOptions:
    return DegradationOptions(
        mean_time_to_onset_h=60 * 24, onset_to_failure_h=(4 * 24, 12 * 24), repair_h=(3.0, 8.0)
    )


def _seal() -> DegradationOptions:
    return DegradationOptions(
        mean_time_to_onset_h=50 * 24, onset_to_failure_h=(3 * 24, 8 * 24), repair_h=(2.0, 6.0)
    )


def _tool() -> DegradationOptions:
    # The clock restarts at every tool change, so the onset is counted from the last change.
    # Wear shows for three to six days before breakage (a long-life tool), so a prediction
    # 48-72 h ahead is possible; many episodes end earlier in a tool change at a setup.
    return DegradationOptions(
        mean_time_to_onset_h=14 * 24, onset_to_failure_h=(72.0, 144.0), repair_h=(0.5, 2.0)
    )


@dataclass(frozen=True)
class SimOptions:
    """Everything about the simulated plant's behaviour that a scenario may want to change."""

    bearing_wear: DegradationOptions = field(default_factory=_bearing)
    seal_leak: DegradationOptions = field(default_factory=_seal)
    tool_wear: DegradationOptions = field(default_factory=_tool)
    # Electrical trips: mean executing hours between two trips of one machine.
    sudden_mtbf_h: float = 1500.0
    sudden_repair_h: tuple[float, float] = (20 / 60, 2.0)
    # Maintenance (test run, reassembly) after every repair, before the machine runs again.
    maintenance_after_repair_min: tuple[float, float] = (15.0, 60.0)
    planned_maintenance_every_days: tuple[float, float] = (14.0, 28.0)
    planned_maintenance_h: tuple[float, float] = (1.0, 4.0)
    # Product changeovers: mean calendar hours between two, then a setup of this many minutes.
    changeover_mean_h: float = 36.0
    setup_min: tuple[float, float] = (10.0, 40.0)
    # Chance that a setup includes a tool change (which resets tool wear).
    tool_change_probability: float = 0.5
    # Minor stops (jams, starved, blocked): mean executing minutes between two, and duration.
    minor_stop_mean_min: float = 50.0
    minor_stop_s: tuple[float, float] = (30.0, 240.0)
    # Gateway outages: the machine publishes nothing for a while.
    outages_per_machine_month: float = 3.0
    outage_min: tuple[float, float] = (2.0, 60.0)
    # Probability that one sample of a measurement is a sensor glitch (bad quality, NaN).
    glitch_probability: float = 2e-5
    speed_factor: tuple[float, float] = (0.85, 0.97)
    scrap_rate: tuple[float, float] = (0.005, 0.03)

    def __post_init__(self) -> None:
        for name in (
            "sudden_mtbf_h",
            "changeover_mean_h",
            "minor_stop_mean_min",
            "outages_per_machine_month",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in (
            "sudden_repair_h",
            "maintenance_after_repair_min",
            "planned_maintenance_every_days",
            "planned_maintenance_h",
            "setup_min",
            "minor_stop_s",
            "outage_min",
            "speed_factor",
            "scrap_rate",
        ):
            _check_range(name, getattr(self, name))
        if self.speed_factor[1] > 1:
            raise ValueError("speed_factor must not exceed 1 (ideal cycle time is the fastest)")
        if not 0 <= self.tool_change_probability <= 1 or not 0 <= self.glitch_probability < 1:
            raise ValueError("tool_change_probability and glitch_probability are probabilities")

    def degradation(self, mode: FailureMode) -> DegradationOptions:
        """The options of a degradation mode (not `sudden`)."""
        if mode == FailureMode.bearing_wear:
            return self.bearing_wear
        if mode == FailureMode.seal_leak:
            return self.seal_leak
        if mode == FailureMode.tool_wear:
            return self.tool_wear
        raise ValueError(f"{mode} is not a degradation mode")
