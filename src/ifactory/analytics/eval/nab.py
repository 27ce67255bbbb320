"""Numenta Anomaly Benchmark (NAB v1.1) scoring, re-implemented exactly as NAB defines it.

Reference: Lavin & Ahmad (2015), "Evaluating Real-time Anomaly Detection Algorithms - the
Numenta Anomaly Benchmark", arXiv:1510.03336, and the NAB code at commit ea702d75:
nab/sweeper.py (scaledSigmoid, calcSweepScore, calcScoreByThreshold, scoreDataSet),
nab/optimizer.py (threshold sweep over the corpus) and nab/runner.py (normalize).

The scorer is pure: it takes arrays and label windows and returns numbers. Reading the
corpus layout from disk lives in the `load_*` helpers at the bottom, used by the CLI and the
benchmark script only.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ifactory.analytics.detectors.sequence import SequenceLikelihoodDetector

PROBATION_PERCENT = 0.15  # NAB runner default (probationaryPercent), first 15% of a file
PROBATION_CAP_ROWS = 5000  # NAB caps the probation at 15% of 5000 rows = 750 rows
PROBATIONARY = "probationary"


class NabDataError(ValueError):
    """The NAB corpus, labels or a results file are malformed."""


@dataclass(frozen=True)
class CostMatrix:
    """One NAB application profile (config/profiles.json, "CostMatrix")."""

    tp_weight: float
    fp_weight: float
    fn_weight: float
    tn_weight: float = 1.0


# config/profiles.json of NAB v1.1; used when no profiles file is given.
PROFILES: dict[str, CostMatrix] = {
    "standard": CostMatrix(tp_weight=1.0, fp_weight=0.11, fn_weight=1.0),
    "reward_low_FP_rate": CostMatrix(tp_weight=1.0, fp_weight=0.22, fn_weight=1.0),
    "reward_low_FN_rate": CostMatrix(tp_weight=1.0, fp_weight=0.11, fn_weight=2.0),
}


def scaled_sigmoid(relative_position: float) -> float:
    """NAB sweeper.scaledSigmoid: 2·sigmoid(-5·y) - 1, and -1 beyond y > 3."""
    if relative_position > 3.0:
        # A false positive well after a window is a plain -1.
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * relative_position)) - 1.0


def probationary_length(n_rows: int, percent: float = PROBATION_PERCENT) -> float:
    """NAB sweeper._getProbationaryLength: min(floor(p·n), p·5000)."""
    return min(math.floor(percent * n_rows), percent * PROBATION_CAP_ROWS)


MAX_TP = scaled_sigmoid(-1.0)


@dataclass(frozen=True)
class ThresholdScore:
    """Score and confusion counts of one file (or corpus) at one threshold."""

    threshold: float
    score: float
    tp: int
    tn: int
    fp: int
    fn: int
    total: int


@dataclass
class SweepRows:
    """Per-row anomaly score, weighted sweep score S(t) and window name (None outside)."""

    scores: np.ndarray
    sweep: np.ndarray
    window: list[str | None]


def window_indices(
    timestamps: Sequence[str] | np.ndarray, windows: Iterable[Sequence[str]]
) -> list[tuple[int, int]]:
    """Map label windows [start, end] (timestamps) to inclusive row indices, as NAB's labeler does."""
    ts = np.asarray(timestamps, dtype="datetime64[us]")
    out: list[tuple[int, int]] = []
    for start, end in windows:
        s, e = np.datetime64(start, "us"), np.datetime64(end, "us")
        si = np.flatnonzero(ts == s)
        ei = np.flatnonzero(ts == e)
        if len(si) == 0 or len(ei) == 0:
            raise NabDataError(f"window [{start}, {end}] does not start and end on data timestamps")
        out.append((int(si[0]), int(ei[0])))
    return out


def sweep_scores(
    anomaly_scores: Sequence[float] | np.ndarray,
    windows: Sequence[tuple[int, int]],
    cost: CostMatrix,
    name: str = "",
    probation_percent: float = PROBATION_PERCENT,
) -> SweepRows:
    """NAB Sweeper.calcSweepScore: weighted score S(t) each row would earn if it were a detection.

    Inside a window the row scores tpWeight·σ(-(right - i + 1)/width)/σ(-1); outside, after a
    window, fpWeight·σ(|prevRight - i| / (prevWidth - 1)); before any window fpWeight·(-1);
    rows in the probation period score 0 and belong to no window.
    """
    scores = np.asarray(anomaly_scores, dtype=float)
    n = len(scores)
    probation = probationary_length(n, probation_percent)
    pending = sorted(windows)
    sweep = np.zeros(n)
    names: list[str | None] = [None] * n
    cur: tuple[int, int] | None = None
    cur_name: str | None = None
    cur_width = 0.0
    prev_right: int | None = None
    prev_width = 0.0
    wi = 0
    for i in range(n):
        if wi < len(pending) and i == pending[wi][0]:
            cur = pending[wi]
            wi += 1
            cur_name = f"{name}|{cur[0]}"
            cur_width = float(cur[1] - cur[0] + 1)
        if cur is not None:
            position = -(cur[1] - i + 1) / cur_width
            # NAB divides by maxTP = scaledSigmoid(-1) so a detection on a window's first row earns tpWeight.
            weighted = scaled_sigmoid(position) * cost.tp_weight / MAX_TP
        else:
            if prev_right is None:
                unweighted = -1.0
            else:
                # NAB divides by (width - 1); a one-row window would divide by zero there too.
                unweighted = scaled_sigmoid(abs(prev_right - i) / (prev_width - 1.0))
            weighted = unweighted * cost.fp_weight
        if i >= probation:
            names[i] = cur_name
            sweep[i] = weighted
        else:
            names[i] = PROBATIONARY
            sweep[i] = 0.0
        if cur is not None and i == cur[1]:
            prev_right, prev_width = cur[1], cur_width
            cur, cur_name, cur_width = None, None, 0.0
    return SweepRows(scores=scores, sweep=sweep, window=names)


def scores_by_threshold(rows: Sequence[SweepRows], cost: CostMatrix) -> list[ThresholdScore]:
    """NAB Sweeper.calcScoreByThreshold: the score at every distinct threshold, highest first.

    A row is a detection when its anomaly score >= threshold. Each window scores the best S(t)
    of its detections (its earliest), or -fnWeight when it has none; false positives add their S(t).
    """
    score_list: list[float] = []
    sweep_list: list[float] = []
    win_list: list[str | None] = []
    for r in rows:
        for s, w, nm in zip(r.scores.tolist(), r.sweep.tolist(), r.window, strict=True):
            if nm == PROBATIONARY:
                continue
            score_list.append(s)
            sweep_list.append(w)
            win_list.append(nm)
    # NAB reports Total_Count over all rows, probation included; the four counts exclude it.
    total = sum(len(r.scores) for r in rows)
    order = sorted(range(len(score_list)), key=lambda k: score_list[k], reverse=True)
    parts: dict[str, float] = {}
    for nm in win_list:
        if nm is not None:
            parts[nm] = -cost.fn_weight
    fp_part = 0.0
    window_part = sum(parts.values())
    tn = sum(1 for nm in win_list if nm is None)
    fn = len(win_list) - tn
    tp = fp = 0
    out: list[ThresholdScore] = []
    threshold = 1.1
    for k in order:
        value = score_list[k]
        if value != threshold:
            out.append(ThresholdScore(threshold, window_part + fp_part, tp, tn, fp, fn, total))
            threshold = value
        nm = win_list[k]
        if nm is not None:
            tp += 1
            fn -= 1
            best = max(parts[nm], sweep_list[k])
            window_part += best - parts[nm]
            parts[nm] = best
        else:
            tn -= 1
            fp += 1
            fp_part += sweep_list[k]
    out.append(ThresholdScore(threshold, window_part + fp_part, tp, tn, fp, fn, total))
    return out


def score_at_threshold(rows: SweepRows, cost: CostMatrix, threshold: float) -> ThresholdScore:
    """NAB Sweeper.scoreDataSet: the row of the threshold sweep that applies at `threshold`."""
    table = scores_by_threshold([rows], cost)
    previous: ThresholdScore | None = None
    for row in table:
        if row.threshold == threshold:
            return row
        if row.threshold < threshold:
            break
        previous = row
    else:
        # Threshold below every score: NAB would find no row; every row is then a detection.
        return table[-1]
    assert previous is not None  # the first row (1.1) is always above a threshold <= 1.1
    return previous


def row_contributions(rows: SweepRows, cost: CostMatrix, threshold: float) -> np.ndarray:
    """Per-row share of the file score at `threshold` (the S(t)_<profile> column NAB writes).

    A false positive contributes its own S(t); a window contributes once, on its first scored
    row: the S(t) of its best (earliest) detection, or -fnWeight when it was missed.
    """
    out = np.zeros(len(rows.scores))
    best: dict[str, float] = {}
    first: dict[str, int] = {}
    for i, (value, sweep, nm) in enumerate(
        zip(rows.scores.tolist(), rows.sweep.tolist(), rows.window, strict=True)
    ):
        if nm == PROBATIONARY:
            continue
        if nm is None:
            if value >= threshold:
                out[i] = sweep
            continue
        if nm not in first:
            first[nm] = i
            best[nm] = -cost.fn_weight
        if value >= threshold:
            best[nm] = max(best[nm], sweep)
    for nm, i in first.items():
        out[i] = best[nm]
    return out


def optimize_threshold(rows: Sequence[SweepRows], cost: CostMatrix) -> ThresholdScore:
    """NAB optimizer.optimizeThreshold: the corpus-wide threshold with the highest total score."""
    table = scores_by_threshold(rows, cost)
    # sorted(..., reverse=True)[0] in NAB: the first maximum in sweep order wins ties.
    best = table[0]
    for row in table[1:]:
        if row.score > best.score:
            best = row
    return best


def normalized_score(score: float, null_score: float, perfect_score: float) -> float:
    """NAB runner.normalize: 100·(S - S_null) / (S_perfect - S_null)."""
    return 100.0 * (score - null_score) / (perfect_score - null_score)


@dataclass
class NabFile:
    """One corpus file with its timestamps, values and label windows (row indices)."""

    name: str
    timestamps: np.ndarray
    values: np.ndarray
    windows: list[tuple[int, int]]


@dataclass
class ProfileResult:
    """Scores of one detector under one profile over a set of files."""

    profile: str
    threshold: float
    raw_total: float
    normalized: float
    null_total: float
    perfect_total: float
    per_file: dict[str, ThresholdScore] = field(default_factory=dict)


def score_detector(
    files: Sequence[NabFile],
    anomaly_scores: Mapping[str, np.ndarray],
    profiles: Mapping[str, CostMatrix] = PROFILES,
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, ProfileResult]:
    """Score a detector's outputs per profile: the NAB threshold sweep (or given thresholds), then normalise.

    The null detector scores every window as missed (-fnWeight per scored window); the perfect
    detector earns tpWeight per labelled window (NAB runner.normalize uses the count of windows).
    """
    results: dict[str, ProfileResult] = {}
    for profile, cost in profiles.items():
        rows = [sweep_scores(anomaly_scores[f.name], f.windows, cost, f.name) for f in files]
        if thresholds is not None:
            threshold = thresholds[profile]
        else:
            threshold = optimize_threshold(rows, cost).threshold
        per_file = {
            f.name: score_at_threshold(r, cost, threshold) for f, r in zip(files, rows, strict=True)
        }
        raw_total = sum(s.score for s in per_file.values())
        null_rows = [sweep_scores(np.zeros(len(f.values)), f.windows, cost, f.name) for f in files]
        null_total = sum(score_at_threshold(r, cost, 0.5).score for r in null_rows)
        perfect_total = cost.tp_weight * sum(len(f.windows) for f in files)
        results[profile] = ProfileResult(
            profile=profile,
            threshold=threshold,
            raw_total=raw_total,
            normalized=normalized_score(raw_total, null_total, perfect_total),
            null_total=null_total,
            perfect_total=perfect_total,
            per_file=per_file,
        )
    return results


# --- corpus layout (read by the CLI and benchmarks, never by a detector) ---------------------


def load_profiles(root: Path) -> dict[str, CostMatrix]:
    """config/profiles.json of a NAB checkout (falls back to the v1.1 values)."""
    path = root / "config" / "profiles.json"
    if not path.exists():
        return dict(PROFILES)
    data = json.loads(path.read_text())
    return {
        name: CostMatrix(
            tp_weight=float(p["CostMatrix"]["tpWeight"]),
            fp_weight=float(p["CostMatrix"]["fpWeight"]),
            fn_weight=float(p["CostMatrix"]["fnWeight"]),
            tn_weight=float(p["CostMatrix"].get("tnWeight", 1.0)),
        )
        for name, p in data.items()
    }


def read_series(path: Path, columns: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Timestamps and float columns of a NAB-style CSV (timestamp first)."""
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        idx = {c: header.index(c) for c in columns}
        ts: list[str] = []
        cols: dict[str, list[float]] = {c: [] for c in columns}
        for row in reader:
            if not row:
                continue
            ts.append(row[0])
            for c, j in idx.items():
                cols[c].append(float(row[j]) if row[j] != "" else math.nan)
    return np.asarray(ts, dtype="datetime64[us]"), {c: np.asarray(v) for c, v in cols.items()}


def load_corpus(root: Path, windows_file: Path | None = None) -> list[NabFile]:
    """Every data/<category>/<file>.csv under `root` that has windows in labels/combined_windows.json."""
    labels_path = windows_file or root / "labels" / "combined_windows.json"
    if not labels_path.exists():
        raise NabDataError(f"{labels_path} not found")
    labels: dict[str, list[list[str]]] = json.loads(labels_path.read_text())
    files: list[NabFile] = []
    data_dir = root / "data"
    for path in sorted(data_dir.glob("*/*.csv")):
        name = path.relative_to(data_dir).as_posix()
        if name not in labels:
            continue
        ts, cols = read_series(path, ["value"])
        files.append(NabFile(name, ts, cols["value"], window_indices(ts, labels[name])))
    if not files:
        raise NabDataError(f"no labelled data files under {data_dir}")
    return files


def load_results(root: Path, detector: str, files: Sequence[NabFile]) -> dict[str, np.ndarray]:
    """A published detector's anomaly_score column per file (results/<det>/<cat>/<det>_<file>)."""
    out: dict[str, np.ndarray] = {}
    for f in files:
        category, base = f.name.split("/")
        path = root / "results" / detector / category / f"{detector}_{base}"
        ts, cols = read_series(path, ["anomaly_score"])
        if len(ts) != len(f.timestamps) or not np.array_equal(ts, f.timestamps):
            raise NabDataError(f"{path} does not cover the rows of {f.name}")
        out[f.name] = cols["anomaly_score"]
    return out


def run_detector_per_file(
    files: Sequence[NabFile], make: Callable[[NabFile], object]
) -> dict[str, np.ndarray]:
    """Like `run_detector`, with a detector built for each file (NAB's runner hands every
    detector the file's probationary period and value range; `make` may use them)."""
    out: dict[str, np.ndarray] = {}
    for f in files:
        detector = make(f)
        out[f.name] = np.asarray(detector.score_learn_many(f.values))  # type: ignore[attr-defined]
    return out


def run_detector(files: Sequence[NabFile], make: Callable[[], object]) -> dict[str, np.ndarray]:
    """Run a fresh univariate detector over each file, point by point, score before learning."""
    out: dict[str, np.ndarray] = {}
    for f in files:
        detector = make()
        out[f.name] = np.asarray(detector.score_learn_many(f.values))  # type: ignore[attr-defined]
    return out


def sequence_detector_for_file(
    f: NabFile, template: SequenceLikelihoodDetector | None = None, **params: Any
) -> SequenceLikelihoodDetector:
    """The sequence-likelihood detector set up as NAB's numenta wrapper sets up HTM for a file.

    NAB's runner gives every detector the file's value range (inputMin/inputMax) and its
    probationary period; nab/detectors/numenta/numenta_detector.py learns for
    floor(probation / 2) points and estimates the likelihood distribution over the rest of it.
    The other settings come from `template` (a detector of the wanted settings) or `params`.
    """
    probation = int(probationary_length(len(f.values)))
    learning = max(1, probation // 2)
    per_file = {
        "min_value": float(np.nanmin(f.values)),
        "max_value": float(np.nanmax(f.values)),
        "learning_period": learning,
        "estimation_samples": max(1, probation - learning),
    }
    base = template if template is not None else SequenceLikelihoodDetector(**params)
    return base.clone(**per_file)
