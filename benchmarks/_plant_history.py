"""Synthetic machine state histories for the benchmarks (benchmarks/oee.py, benchmarks/cmms.py).

A history alternates a run (executing) with a stop of some kind, from a start time until an end
time; the generators differ only in how long runs and stops are and which kinds of stop occur.
"""

from __future__ import annotations

import numpy as np

from ifactory.production import oee

US = 1_000_000


def alternating_spans(
    start_us: int, end_us: int, run_us: np.ndarray, stop_kind: np.ndarray, stop_us: np.ndarray
) -> oee.Spans:
    """Run i then stop i (of state `stop_kind[i]`) in turn from `start_us`, cut at `end_us`."""
    n = len(run_us)
    durations = np.empty(2 * n)
    durations[0::2] = run_us
    durations[1::2] = stop_us
    states = np.empty(2 * n, dtype=np.int8)
    states[0::2] = oee.EXECUTING
    states[1::2] = stop_kind
    edges = start_us + np.concatenate(([0], np.cumsum(durations))).astype(np.int64)
    keep = edges[:-1] < end_us
    return oee.Spans(states[keep], edges[:-1][keep], np.minimum(edges[1:][keep], end_us))


def synthetic_history(rng: np.random.Generator, start_us: int, end_us: int) -> oee.Spans:
    """A machine's state history: alternating runs and stops of realistic lengths.

    Runs of 2-60 min; stops are idle (minor stops of 0.2-8 min, 75 %), setups (10 %),
    breakdowns (12 %) or no-data gaps (3 %), the last three 5-90 min. A stress case: about
    23,000 spans a machine-year.
    """
    n = int((end_us - start_us) / (20 * 60 * US) * 2) + 16
    run = rng.uniform(2, 60, n) * 60 * US
    kind = rng.choice([oee.IDLE, oee.SETUP, oee.DOWN, oee.UNKNOWN], n, p=[0.75, 0.1, 0.12, 0.03])
    stop = np.where(kind == oee.IDLE, rng.uniform(0.2, 8, n), rng.uniform(5, 90, n)) * 60 * US
    return alternating_spans(start_us, end_us, run, kind, stop)
