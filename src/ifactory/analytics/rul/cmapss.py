"""NASA C-MAPSS turbofan run-to-failure data (FD001–FD004), loaded from the public text files.

Layout (NASA PCoE readme; Saxena et al., PHM08): `train_FDxxx.txt`, `test_FDxxx.txt` and
`RUL_FDxxx.txt` in one folder. Train/test rows are space-separated, no header, 26 columns:
unit, cycle, 3 operational settings, 21 sensors (the readme's "26 sensors" is an erratum).
Training units run to failure; test units stop before it, and `RUL_FDxxx.txt` gives the true
remaining cycles after each test unit's last row, one line per unit in unit order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SUBSETS = ("FD001", "FD002", "FD003", "FD004")
N_SETTINGS = 3
N_SENSORS = 21
N_COLUMNS = 2 + N_SETTINGS + N_SENSORS
SETTING_NAMES = tuple(f"setting{i}" for i in range(1, N_SETTINGS + 1))
SENSOR_NAMES = tuple(f"s{i}" for i in range(1, N_SENSORS + 1))


class CmapssDataError(ValueError):
    """A C-MAPSS file is missing or does not have the published layout."""


@dataclass(frozen=True)
class Unit:
    """One engine's history: operating settings (cycles × 3) and sensors (cycles × 21)."""

    unit: int
    settings: np.ndarray
    sensors: np.ndarray

    @property
    def cycles(self) -> int:
        """Number of recorded cycles."""
        return int(self.sensors.shape[0])


@dataclass(frozen=True)
class CmapssSubset:
    """A C-MAPSS subset: run-to-failure training units, truncated test units, their true RUL."""

    name: str
    train: list[Unit]
    test: list[Unit]
    test_rul: np.ndarray


def _read_units(path: Path) -> list[Unit]:
    if not path.is_file():
        raise CmapssDataError(f"{path} not found")
    try:
        raw = np.loadtxt(path, dtype=float, ndmin=2)
    except ValueError as exc:
        raise CmapssDataError(f"{path}: not a numeric space-separated table ({exc})") from None
    if raw.size == 0:
        raise CmapssDataError(f"{path} is empty")
    if raw.shape[1] != N_COLUMNS:
        raise CmapssDataError(f"{path}: {raw.shape[1]} columns, expected {N_COLUMNS}")
    if not np.isfinite(raw).all():
        raise CmapssDataError(f"{path}: contains non-finite values")
    units: list[Unit] = []
    ids = raw[:, 0].astype(int)
    # Rows are grouped by unit; keep the file's unit order and check cycles run 1, 2, 3, ...
    boundaries = np.flatnonzero(np.diff(ids)) + 1
    for block in np.split(raw, boundaries):
        unit = int(block[0, 0])
        cycles = block[:, 1].astype(int)
        if not np.array_equal(cycles, np.arange(1, len(block) + 1)):
            raise CmapssDataError(f"{path}: unit {unit} cycles are not 1, 2, 3, ...")
        if any(u.unit == unit for u in units):
            raise CmapssDataError(f"{path}: unit {unit} appears in two separate blocks")
        units.append(
            Unit(
                unit=unit, settings=block[:, 2 : 2 + N_SETTINGS], sensors=block[:, 2 + N_SETTINGS :]
            )
        )
    return units


def load_subset(data: Path, subset: str = "FD001") -> CmapssSubset:
    """Read train, test and true-RUL files of one subset from the folder `data`."""
    name = subset.upper()
    if not re.fullmatch(r"FD\d{3}", name):
        raise CmapssDataError(f"subset {subset!r} is not of the form FD001 (known: {SUBSETS})")
    if not data.is_dir():
        raise CmapssDataError(f"{data} is not a folder")
    train = _read_units(data / f"train_{name}.txt")
    test = _read_units(data / f"test_{name}.txt")
    rul_path = data / f"RUL_{name}.txt"
    if not rul_path.is_file():
        raise CmapssDataError(f"{rul_path} not found")
    try:
        rul = np.loadtxt(rul_path, dtype=float, ndmin=1)
    except ValueError as exc:
        raise CmapssDataError(f"{rul_path}: not one number per line ({exc})") from None
    if rul.ndim != 1 or rul.shape[0] != len(test):
        raise CmapssDataError(
            f"{rul_path}: {rul.size} values for {len(test)} test units (one per unit expected)"
        )
    if (rul < 0).any() or not np.isfinite(rul).all():
        raise CmapssDataError(f"{rul_path}: RUL values must be finite and non-negative")
    return CmapssSubset(name=name, train=train, test=test, test_rul=rul)
