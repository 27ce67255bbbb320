"""Degradation episodes: a hidden health index that rises from onset to the failure threshold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ifactory.sim.options import FailureMode

# Shape of the exponential rise: the index is small for most of the episode and climbs at the end.
GROWTH = 3.5
# The index may pass the threshold while the machine stands (failures happen when it runs).
CAP = 1.35

PRESSURE_TAGS = ("hydraulic_pressure", "injection_pressure", "discharge_pressure")


@dataclass
class Episode:
    """One degradation: onset, the moment the hidden threshold is crossed, and how it ended."""

    mode: FailureMode
    onset_us: int
    crossing_us: int
    severity: float  # per-episode spread of how strongly the precursor shows
    end_us: int | None = None
    outcome: str | None = None


def health(episode: Episode, t_us: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Health index over `t_us`: 0 before onset, 1 at the threshold, roughly exponential between."""
    span = max(episode.crossing_us - episode.onset_us, 1)
    x = (t_us - episode.onset_us).astype(np.float64) / span
    h: npt.NDArray[np.float64] = np.minimum(
        np.expm1(GROWTH * np.clip(x, 0.0, 2.0)) / np.expm1(GROWTH), CAP
    )
    h[t_us < episode.onset_us] = 0.0
    if episode.end_us is not None:
        h[t_us >= episode.end_us] = 0.0
    return h


def applicable_modes(tag_names: set[str]) -> list[FailureMode]:
    """The degradation modes a machine's tags make observable (plus sudden trips, always)."""
    modes = []
    if "vibration_rms" in tag_names:
        modes.append(FailureMode.bearing_wear)
    if "dimension" in tag_names:
        modes.append(FailureMode.tool_wear)
    if any(name in tag_names for name in PRESSURE_TAGS):
        modes.append(FailureMode.seal_leak)
    modes.append(FailureMode.sudden)
    return modes


REASON_CODES = {
    FailureMode.bearing_wear: "BRK-MECH",
    FailureMode.tool_wear: "BRK-TOOL",
    FailureMode.seal_leak: "BRK-HYD",
    FailureMode.sudden: "BRK-ELEC",
}
