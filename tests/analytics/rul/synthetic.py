"""Small synthetic C-MAPSS-like subsets written in the public file layout, for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Flight conditions of the multi-condition C-MAPSS subsets (altitude kft, Mach, TRA).
CONDITIONS = np.array(
    [
        [0, 0, 100],
        [10, 0.25, 100],
        [20, 0.7, 100],
        [25, 0.62, 60],
        [35, 0.84, 100],
        [42, 0.84, 100],
    ],
    dtype=float,
)
CONSTANT = (0, 4, 9, 15, 17, 18)  # s1, s5, s10, s16, s18, s19
FLICKER = 5  # s6 takes two values only


def make_unit(
    rng: np.random.Generator, unit: int, life: int, cycles: int, regimes: int
) -> np.ndarray:
    """Rows (unit, cycle, 3 settings, 21 sensors) of one engine failing at cycle `life`."""
    t = np.arange(1, cycles + 1)
    health = np.exp(3.0 * (t / life) ** 2) - 1.0  # 0 when new, grows toward failure
    regime = rng.integers(regimes, size=cycles) if regimes > 1 else np.zeros(cycles, dtype=int)
    settings = CONDITIONS[regime] + rng.normal(0, 0.001, size=(cycles, 3))
    if regimes == 1:
        settings = np.column_stack(
            [rng.normal(0, 0.002, cycles), rng.normal(0, 0.0003, cycles), np.full(cycles, 100.0)]
        )
    sensors = np.empty((cycles, 21))
    for j in range(21):
        offset = 50.0 * (j + 1) + 30.0 * regime
        if j in CONSTANT:
            sensors[:, j] = 100.0 + j + (10.0 * regime if regimes > 1 else 0)
        elif j == FLICKER:
            sensors[:, j] = 21.6 + 0.01 * rng.integers(2, size=cycles)
        else:
            sign = 1.0 if j % 2 else -1.0
            sensors[:, j] = offset + sign * 0.6 * health + rng.normal(0, 0.5, cycles)
    return np.column_stack([np.full(cycles, unit), t, settings, sensors])


def write_subset(
    root: Path,
    name: str = "FD001",
    *,
    train_units: int = 20,
    test_units: int = 10,
    regimes: int = 1,
    seed: int = 0,
) -> np.ndarray:
    """Write train/test/RUL files of a synthetic subset into `root`; returns the test true RUL."""
    rng = np.random.default_rng(seed)
    train = [
        make_unit(rng, u, life := int(rng.integers(120, 220)), life, regimes)
        for u in range(1, train_units + 1)
    ]
    test_rows = []
    truth = []
    for u in range(1, test_units + 1):
        life = int(rng.integers(120, 220))
        cycles = int(rng.integers(25, life - 5))
        test_rows.append(make_unit(rng, u, life, cycles, regimes))
        truth.append(life - cycles)
    fmt = ["%d", "%d"] + ["%.4f"] * 24
    np.savetxt(root / f"train_{name}.txt", np.vstack(train), fmt=fmt)
    np.savetxt(root / f"test_{name}.txt", np.vstack(test_rows), fmt=fmt)
    np.savetxt(root / f"RUL_{name}.txt", np.array(truth), fmt="%d")
    return np.array(truth, dtype=float)
