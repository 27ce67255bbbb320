"""Convolutional autoencoder detector: training once, reconstruction error, persistence, seeds."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from ifactory.analytics.base import restore

torch = pytest.importorskip("torch")

from ifactory.analytics.detectors.conv_ae import ConvAEDetector  # noqa: E402

SMALL = dict(window=8, train_size=160, channels=8, kernel=3, epochs=40, patience=5)


def waves(n: int, seed: int = 0, start: int = 0) -> np.ndarray:
    """Two coupled periodic sensors and a noisy third: structure an autoencoder can learn."""
    rng = np.random.default_rng(seed)
    t = np.arange(start, start + n)
    a = np.sin(2 * np.pi * t / 16)
    return np.column_stack(
        [a + 0.05 * rng.normal(size=n), -a + 0.05 * rng.normal(size=n), rng.normal(size=n)]
    )


def trained(seed: int = 0, **overrides: object) -> ConvAEDetector:
    d = ConvAEDetector(**{**SMALL, "seed": seed, **overrides})  # type: ignore[arg-type]
    d.learn_many(waves(160))
    return d


def test_trains_once_on_the_training_samples_and_scores_zero_before() -> None:
    d = ConvAEDetector(**SMALL)  # type: ignore[arg-type]
    xs = waves(160)
    assert [d.score_learn_one(x) for x in xs] == [0.0] * 160
    assert d.trained and 1 <= d.epochs_run <= 40
    # every training window has an in-sample error; the stream goes on from the training rows
    assert len(d.training_errors) == 160 - 8 + 1
    assert d.score_one(waves(1, start=160)[0]) > 0.0


def test_normal_windows_reconstruct_well_and_a_shifted_sensor_does_not() -> None:
    d = trained()
    normal = d.score_learn_many(waves(200, seed=1, start=160))
    shifted = waves(200, seed=2, start=360)
    shifted[:, 0] += 3.0  # about 4 training SDs
    anomalous = d.score_learn_many(shifted)
    q99 = float(np.quantile(d.training_errors, 0.99))
    assert float(np.median(normal)) < q99
    assert float(np.min(anomalous[8:])) > 1.5 * q99


def test_persistence_is_the_minimum_of_the_last_window_errors() -> None:
    once, held = trained(persistence=1), trained(persistence=3)
    for name, w in once.weights.items():  # persistence does not change training
        assert np.array_equal(w, held.weights[name])
    xs = waves(100, seed=3, start=160)
    xs[40:60, 0] += 3.0
    raw = np.concatenate([once.training_errors[-2:], once.score_learn_many(xs)])
    expected = [min(raw[i : i + 3]) for i in range(len(xs))]
    assert held.score_learn_many(xs).tolist() == pytest.approx(expected, rel=1e-6)


def test_a_seed_fixes_the_network_and_leaves_the_global_generators_alone() -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, b, c = trained(seed=1), trained(seed=1), trained(seed=2)
    assert torch.equal(torch.get_rng_state(), before)
    assert all(np.array_equal(a.weights[k], b.weights[k]) for k in a.weights)
    assert any(not np.array_equal(a.weights[k], c.weights[k]) for k in a.weights)


def test_checkpoint_holds_float32_weights_and_restores_the_same_scores() -> None:
    d = trained()
    doc = msgpack.unpackb(d.checkpoint(), raw=False)
    conv = doc["state"]["weights"]["0.weight"]
    assert conv["__ndarray__"] and conv["dtype"] == "<f4" and conv["shape"] == [8, 3, 3]
    xs = waves(50, seed=4, start=160)
    assert restore(d.checkpoint()).score_learn_many(xs).tolist() == d.score_learn_many(xs).tolist()


def test_fresh_stream_keeps_the_network_and_refills_the_window() -> None:
    d = trained()
    fresh = d.fresh_stream()
    scores = fresh.score_learn_many(waves(20, seed=5))
    assert scores[:7].tolist() == [0.0] * 7 and scores[7] > 0.0


def test_a_partly_missing_sample_is_imputed_with_the_training_mean() -> None:
    d = trained()
    x = waves(1, start=160)[0]
    partly = x.copy()
    partly[2] = np.nan
    imputed = x.copy()
    imputed[2] = d.center[2]
    assert d.score_one(partly) == d.score_one(imputed)


def test_window_error_is_the_mean_over_time_summed_over_features() -> None:
    absolute, squared = trained(error="absolute"), trained(error="squared")
    for name, w in absolute.weights.items():  # the error kind does not change training
        assert np.array_equal(w, squared.weights[name])
    rows = waves(8, seed=6, start=160)
    z = absolute._standardize(rows)[None]
    x = torch.from_numpy(z.astype(np.float64))  # inference runs in float64
    with torch.no_grad():
        e = (absolute._module()(x.transpose(1, 2)).transpose(1, 2) - x).numpy()[0]
    for d, per_step in ((absolute, np.abs(e)), (squared, e * e)):
        fresh = d.fresh_stream()
        fresh.learn_many(rows[:7])
        assert fresh.score_one(rows[7]) == pytest.approx(float(per_step.mean(0).sum()), rel=1e-5)


def test_a_centered_feature_may_drift_in_level_without_raising_the_score() -> None:
    test = waves(200, seed=7, start=160)
    test[:, 2] += 5.0  # the noisy sensor settles 5 SDs higher, its noise unchanged
    plain = trained()
    centered = trained(centered=["x2"])
    q_plain = float(np.quantile(plain.training_errors, 0.99))
    q_centered = float(np.quantile(centered.training_errors, 0.99))
    assert float(np.median(plain.score_learn_many(test))) > 2 * q_plain
    assert float(np.median(centered.score_learn_many(test))) < 1.5 * q_centered


def test_input_noise_is_drawn_from_the_seed() -> None:
    a, b, clean = trained(noise=0.5), trained(noise=0.5), trained()
    assert all(np.array_equal(a.weights[k], b.weights[k]) for k in a.weights)
    assert any(not np.array_equal(a.weights[k], clean.weights[k]) for k in a.weights)


def test_a_feature_missing_through_training_neither_warns_nor_breaks_scoring() -> None:
    rows = waves(160)
    rows[:, 2] = np.nan
    d = ConvAEDetector(**SMALL)  # type: ignore[arg-type]
    d.learn_many(rows)  # pytest turns a RuntimeWarning (mean of an empty slice) into an error
    assert d.trained and d.center[2] == 0.0
    assert np.isfinite(d.score_learn_many(waves(20, start=160))).all()


def test_centering_an_unknown_feature_is_refused_when_training() -> None:
    d = ConvAEDetector(**{**SMALL, "features": ["a", "b", "c"], "centered": ["nope"]})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nope"):
        d.learn_many(waves(160))


@pytest.mark.parametrize(
    "bad",
    [
        {"window": 10},
        {"window": 8, "train_size": 8},
        {"persistence": 0},
        {"kernel": 4},
        {"dropout": 1.0},
        {"validation": 0.0},
        {"epochs": 0},
        {"learning_rate": 0.0},
        {"noise": -1.0},
        {"error": "huber"},
    ],
)
def test_invalid_hyperparameters_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ConvAEDetector(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("persistence", [1, 3])
def test_the_batched_path_scores_exactly_like_one_at_a_time(persistence: int) -> None:
    """Windows go through the network in chunks on the batch path: over a chunk boundary, with
    missing samples and a batch split anywhere, the numbers are those of `score_learn_one`."""
    test = waves(1300, seed=9, start=160)
    test[[5, 600, 601]] = np.nan  # all missing: score 0, the stream is not advanced
    one = trained(persistence=persistence)
    expected = [one.score_learn_one(x) for x in test]
    batched = trained(persistence=persistence)
    got = [*batched.score_learn_many(test[:3]), *batched.score_learn_many(test[3:])]
    assert got == expected
    # score_many leaves the state alone and agrees with score_one on the next sample
    probe = trained(persistence=persistence)
    probe.learn_many(test[:700])
    before = probe.checkpoint()
    assert probe.score_many(test[700:701]).tolist() == [probe.score_one(test[700])]
    assert probe.checkpoint() == before
