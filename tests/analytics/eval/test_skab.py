"""SKAB outlier metrics on a hand-made case, and the train/test protocol on synthetic files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ifactory.analytics.detectors.conv_ae import ConvAEDetector
from ifactory.analytics.eval import skab


def test_binary_metrics_by_hand() -> None:
    m = skab.binary_metrics([0, 0, 1, 1, 1, 0], [0, 1, 1, 0, 1, 0])
    assert (m.tp, m.fp, m.fn, m.tn) == (2, 1, 1, 2)
    assert m.f1 == pytest.approx(2 / 3)
    assert m.far_pct == pytest.approx(100 / 3)
    assert m.mar_pct == pytest.approx(100 / 3)
    assert skab.binary_metrics([0, 0], [0, 0]).f1 == 0.0


def synthetic(seed: int, shift_at: int = 700, n: int = 1100) -> skab.SkabFile:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(skab.FEATURES)))
    x[:, 1] += x[:, 0]
    labels = np.zeros(n, dtype=int)
    x[shift_at:900, 3] += 6.0
    labels[shift_at:900] = 1
    return skab.SkabFile(f"s{seed}", x, labels)


def test_protocol_trains_on_400_rows_and_flags_the_shift() -> None:
    files = [synthetic(s) for s in range(3)]
    metrics = skab.evaluate(files, skab.SkabSettings(factor=2.0))
    assert metrics.tp + metrics.fp + metrics.fn + metrics.tn == sum(
        len(f.values) - 400 for f in files
    )
    assert metrics.f1 > 0.9 and metrics.far_pct < 5.0


def test_files_are_read_as_skab_writes_them(tmp_path: Path) -> None:
    header = "datetime;" + ";".join(skab.FEATURES) + ";anomaly;changepoint"
    rows = [
        f"2020-03-09 10:14:{i:02d};" + ";".join(["1.0"] * 8) + f";{i % 2}.0;0.0" for i in range(3)
    ]
    (tmp_path / "data" / "valve9").mkdir(parents=True)
    (tmp_path / "data" / "valve9" / "0.csv").write_text("\n".join([header, *rows]) + "\n")
    (f,) = skab.load_files(tmp_path)
    assert f.name == "valve9/0.csv" and f.values.shape == (3, 8) and f.anomaly.tolist() == [0, 1, 0]
    with pytest.raises(skab.SkabDataError):
        skab.detect_file(f, skab.SkabSettings())


def normal_run(n: int = 4600, seed: int = 5) -> skab.SkabFile:
    """A normal-only recording: steady sensors, one that wanders slowly (like a thermocouple)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(skab.FEATURES)))
    x[:, 5] += np.cumsum(rng.normal(0, 0.2, n))  # a random-walk drift
    return skab.SkabFile("anomaly-free", x, np.zeros(n, dtype=int))


def test_wander_is_large_for_a_drifting_sensor_and_near_zero_for_steady_ones() -> None:
    w = skab.wander(normal_run(), scale=1.0)
    assert len(w) == len(skab.FEATURES)
    assert w[5] > 2.0
    assert max(w[i] for i in range(len(w)) if i != 5) < 0.5


def test_calibration_meets_the_false_alarm_target_on_the_normal_run_without_labels() -> None:
    normal = normal_run()
    settings = skab.calibrate(normal, target_far_pct=10.0)
    assert settings.drift_sd is not None and settings.drift_sd[5] > settings.drift_sd[0]
    assert skab.false_alarm_rate_on_normal(normal, settings) <= 10.0
    # the next more sensitive factor would exceed the target (the most sensitive one is chosen)
    k = skab.FACTOR_GRID.index(settings.factor)
    if k > 0:
        looser = replace(settings, factor=skab.FACTOR_GRID[k - 1])
        assert skab.false_alarm_rate_on_normal(normal, looser) > 10.0


def test_hysteresis_holds_the_alarm_through_a_fault_whose_score_dips() -> None:
    f = synthetic(0)
    # a fault that fades in and out below the rise level half of the time
    f.values[700:900, 3] -= 6.0
    f.values[700:900, 3] += 6.0 * (0.6 + 0.5 * np.sign(np.sin(np.arange(200) / 6.0)))
    held = skab.evaluate([f], skab.SkabSettings(factor=2.0, release=0.3))
    chattering = skab.evaluate([f], skab.SkabSettings(factor=2.0, release=1.0))
    assert held.mar_pct < chattering.mar_pct


def test_pca_preset_flags_the_shift_with_skabs_threshold_rule() -> None:
    files = [synthetic(s) for s in range(2)]
    metrics = skab.evaluate(files, skab.PCA_SETTINGS)
    assert metrics.f1 > 0.9 and metrics.far_pct < 10.0


def test_pca_preset_forgives_thermal_drift_but_not_a_flow_step() -> None:
    f = synthetic(1)
    thermo = skab.FEATURES.index("Thermocouple")
    f.values[:, thermo] += np.linspace(0.0, 40.0, len(f.values))  # steady warm-up, 40 SD
    frozen = skab.evaluate([f], replace(skab.PCA_SETTINGS, track=0.0))
    tracked = skab.evaluate([f], skab.PCA_SETTINGS)
    assert frozen.far_pct > 30.0
    assert tracked.far_pct < 10.0 and tracked.mar_pct < 10.0


def test_threshold_replays_training_rows_from_a_fresh_stream() -> None:
    # A thermal channel that drifts through the training rows must not inflate the threshold:
    # the frozen model replays them from the first sample, as it learnt them.
    f = synthetic(2)
    thermo = skab.FEATURES.index("Thermocouple")
    f.values[:, thermo] += np.linspace(0.0, 40.0, len(f.values))
    drifting = skab.detect_file(f, skab.PCA_SETTINGS)[2]
    steady = skab.detect_file(synthetic(2), skab.PCA_SETTINGS)[2]
    assert drifting == pytest.approx(steady, rel=0.5)


def test_release_none_clears_at_the_training_quantile() -> None:
    f = synthetic(0)
    scores, flags, threshold = skab.detect_file(f, replace(skab.PCA_SETTINGS, factor=2.0))
    clear = threshold / 2.0
    was = np.concatenate([[0], flags[:-1]])
    assert np.all(scores[(was == 1) & (flags == 0)] <= clear)
    assert np.all(scores[(was == 1) & (flags == 1)] > clear)


def test_unknown_detector_is_refused() -> None:
    with pytest.raises(ValueError):
        skab.make_detector(skab.SkabSettings(detector="nope"), 100)


def test_score_file_gives_the_scores_detect_file_thresholds() -> None:
    f = synthetic(3)
    settings = replace(skab.PCA_SETTINGS, factor=2.0)
    scores, base = skab.score_file(f, settings)
    same, flags, threshold = skab.detect_file(f, settings)
    assert scores.tolist() == same.tolist() and threshold == base * 2.0
    assert flags.tolist() == skab.alarm(scores, base, settings)[0].tolist()


def test_conv_ae_preset_thresholds_on_its_training_windows_and_flags_the_shift() -> None:
    pytest.importorskip("torch")
    f = synthetic(0)
    settings = replace(skab.CONV_AE_SETTINGS, window=16, factor=1.5)
    detector = skab.make_detector(settings, len(f.values) - 400)
    assert detector.name == "conv_ae"
    scores, flags, threshold = skab.detect_file(f, settings)
    detector.learn_many(f.values[:400])
    assert isinstance(detector, ConvAEDetector)
    expected = float(np.quantile(detector.training_errors, settings.quantile)) * 1.5
    assert threshold == pytest.approx(expected)
    truth = f.anomaly[400:].astype(bool)
    assert flags[truth].mean() > 0.8 and flags[~truth].mean() < 0.15
    # another seed trains another network: different scores, the same verdict on the shift
    other = skab.detect_file(f, replace(settings, seed=1))
    assert other[0].tolist() != scores.tolist() and other[1][truth].mean() > 0.8


def test_calibration_on_training_parts_reads_only_the_first_400_rows_and_no_label() -> None:
    files = [synthetic(s) for s in range(3)]
    settings = skab.calibrate_on_training_parts(files, skab.PCA_SETTINGS, target_far_pct=5.0)
    # labels and everything after row 400 may change: the factor does not
    tampered = [
        skab.SkabFile(f.name, np.vstack([f.values[:400], 50.0 + f.values[400:]]), 1 - f.anomaly)
        for f in files
    ]
    again = skab.calibrate_on_training_parts(tampered, skab.PCA_SETTINGS, target_far_pct=5.0)
    assert again.factor == settings.factor
    parts = [skab.SkabFile(f.name, f.values[:400], np.zeros(400, dtype=int)) for f in files]
    scored = [skab.score_file(p, settings, skab.PART_FIT_ROWS) for p in parts]
    assert skab._far_pct(scored, settings) <= 5.0
    k = skab.FACTOR_GRID.index(settings.factor)
    if k > 0:
        looser = replace(settings, factor=skab.FACTOR_GRID[k - 1])
        assert skab._far_pct(scored, looser) > 5.0
