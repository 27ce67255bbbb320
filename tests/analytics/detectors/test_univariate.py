"""The rank detector: exact ranks over a long history, and warm-up features kept out of it."""

from __future__ import annotations

import random

import numpy as np

from ifactory.analytics.base import restore
from ifactory.analytics.detectors.univariate import RankDetector, _SortedWindow


def test_sorted_window_counts_like_a_sorted_list_through_inserts_and_removals() -> None:
    rng = random.Random(3)
    window = _SortedWindow()
    window.LOAD = 4  # tiny blocks so that splits and emptied blocks are exercised
    plain: list[float] = []
    for step in range(3000):
        if plain and rng.random() < 0.45:
            old = rng.choice(plain)
            plain.remove(old)
            window.remove(old)
        else:
            x = float(rng.randint(0, 40))  # many duplicates
            plain.append(x)
            window.add(x)
        probe = rng.uniform(-1, 41) if step % 2 else float(rng.randint(0, 40))
        assert window.count_below(probe) == sum(1 for v in plain if v < probe)
        assert len(window) == len(plain)


def test_a_spike_after_warm_up_outranks_everything_despite_a_wild_start() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=3000)
    values[:20] += np.linspace(200.0, 0.0, 20)  # a start-up transient inside the grace period
    values[2000] += 12.0
    scores = RankDetector(grace=100, history=5000).score_learn_many(values)
    assert scores[2000] == 1.0
    assert scores[:100].tolist() == [0.0] * 100


def test_restore_rebuilds_the_history_and_scores_identically() -> None:
    rng = np.random.default_rng(1)
    values = np.cumsum(rng.normal(size=4000))
    d = RankDetector(history=1500, cooldown=20)
    d.score_learn_many(values[:2500])
    twin = restore(d.checkpoint())
    assert (
        twin.score_learn_many(values[2500:]).tolist() == d.score_learn_many(values[2500:]).tolist()
    )
