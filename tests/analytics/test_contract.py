"""The contract every streaming detector keeps: clone, checkpoint, determinism, no I/O, gaps, causality."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import msgpack
import numpy as np
import pytest

from ifactory.analytics.base import CheckpointError, Detector, registered, restore
from ifactory.analytics.detectors import (
    cadose,
    conv_ae,
    knncad,
    multivariate,
    pca,
    sequence,
    univariate,
)

try:  # imported here, before any I/O guard: the Conv-AE detector needs PyTorch (the ml extra)
    import torch
except ImportError:  # pragma: no cover - the test extra installs it
    torch = None  # type: ignore[assignment]

N = 600

# A factory per registered detector with small warm-up settings, and the stream it consumes.
FACTORIES: dict[str, Callable[[], Detector]] = {
    "zscore": lambda: univariate.ZScoreDetector(alpha=0.05, grace=10),
    "likelihood": lambda: univariate.LikelihoodDetector(grace=50, likelihood_alpha=0.01),
    "rank": lambda: univariate.RankDetector(history=300, cooldown=50, grace=50),
    "knncad": lambda: knncad.KnnCadDetector(probation=120, dim=5, k=7),
    "cadose": lambda: cadose.ContextOseDetector(min_value=-4.0, max_value=20.0, rest_period=30),
    "seqlik": lambda: sequence.SequenceLikelihoodDetector(
        bins=8,
        learning_period=60,
        estimation_samples=40,
        historic_window=200,
        reestimation_period=25,
    ),
    "mahalanobis": lambda: multivariate.MahalanobisDetector(
        grace=20, refit_every=25, drift_horizon=100, drift_sd=[1.0, 0.5, 2.0]
    ),
    "pca_t2q": lambda: pca.PcaT2QDetector(
        lags=2, grace=20, refit_every=25, track=0.01, gate=5.0, tracked=["a"]
    ),
    "conv_ae": lambda: conv_ae.ConvAEDetector(
        window=8, train_size=80, persistence=2, channels=8, kernel=3, epochs=15, patience=3
    ),
}
MULTIVARIATE = {"mahalanobis", "pca_t2q", "conv_ae"}
NEEDS_TORCH = {"conv_ae"}


def stream(name: str, seed: int, n: int = N) -> list[Any]:
    """A seeded stream with a level shift and a spike; dict samples for multivariate detectors."""
    rng = np.random.default_rng(seed)
    if name in MULTIVARIATE:
        x = rng.normal(size=(n, 3))
        x[:, 1] += 0.5 * x[:, 0]
        x[n // 2 :, 2] += 4.0
        return [{"a": float(r[0]), "b": float(r[1]), "c": float(r[2])} for r in x]
    v = rng.normal(size=n)
    v[n // 2 :] += 5.0
    v[n // 3] += 12.0
    return [float(t) for t in v]


def run(detector: Detector, xs: list[Any]) -> list[float]:
    """Prequential scores, point by point."""
    return [detector.score_learn_one(x) for x in xs]


def test_every_registered_detector_is_covered() -> None:
    assert set(registered()) == set(FACTORIES)


@pytest.fixture(
    params=[
        pytest.param(
            n,
            marks=pytest.mark.skipif(
                n in NEEDS_TORCH and torch is None, reason="PyTorch is not installed"
            ),
        )
        for n in sorted(FACTORIES)
    ]
)
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_clone_is_fresh_with_the_same_hyperparameters(name: str) -> None:
    trained = FACTORIES[name]()
    run(trained, stream(name, 1))
    clone = trained.clone()
    assert repr(clone) == repr(FACTORIES[name]())
    assert run(clone, stream(name, 2)) == run(FACTORIES[name](), stream(name, 2))


def test_checkpoint_round_trip_continues_exactly(name: str) -> None:
    xs = stream(name, 3)
    original = FACTORIES[name]()
    run(original, xs[: N // 2])
    blob = original.checkpoint()
    doc = msgpack.unpackb(blob, raw=False)
    assert doc["format"] == "ifactory.detector" and doc["version"] == 1 and doc["detector"] == name
    restored = restore(blob)
    assert type(restored) is type(original) and repr(restored) == repr(original)
    assert run(restored, xs[N // 2 :]) == run(original, xs[N // 2 :])


def test_restore_refuses_foreign_or_future_documents() -> None:
    with pytest.raises(CheckpointError):
        restore(b"\x80\x04K\x01.")  # a pickle is not a checkpoint
    with pytest.raises(CheckpointError):
        restore(msgpack.packb({"format": "ifactory.detector", "version": 99, "detector": "zscore"}))
    with pytest.raises(CheckpointError):
        restore(
            msgpack.packb({"format": "ifactory.detector", "version": 1, "detector": "os.system"})
        )


def test_deterministic_for_a_seed(name: str) -> None:
    assert run(FACTORIES[name](), stream(name, 7)) == run(FACTORIES[name](), stream(name, 7))


def test_batch_path_equals_point_by_point(name: str) -> None:
    xs = stream(name, 4)
    batch_input: Any = np.asarray(xs) if name not in MULTIVARIATE else xs
    assert FACTORIES[name]().score_learn_many(batch_input).tolist() == run(FACTORIES[name](), xs)


def test_causal_first_scores_do_not_depend_on_later_points(name: str) -> None:
    xs = stream(name, 5)
    k = N // 3
    assert run(FACTORIES[name](), xs[:k]) == run(FACTORIES[name](), xs)[:k]


def _gap(x: Any) -> Any:
    return {k: math.nan for k in x} if isinstance(x, dict) else math.nan


def test_missing_values_and_gaps_score_zero_and_leave_the_state_alone(name: str) -> None:
    xs = stream(name, 6)
    with_gaps = (
        xs[:200] + [_gap(xs[0])] * 50 + [None if name not in MULTIVARIATE else {}] + xs[200:]
    )
    scores = run(FACTORIES[name](), with_gaps)
    assert all(math.isfinite(s) for s in scores)
    assert scores[200:251] == [0.0] * 51
    assert scores[:200] + scores[251:] == run(FACTORIES[name](), xs)


def test_scores_rise_on_the_injected_anomaly(name: str) -> None:
    scores = np.asarray(run(FACTORIES[name](), stream(name, 8)))
    assert scores[N // 2 : N // 2 + 20].max() > np.quantile(scores[100 : N // 3 - 5], 0.95)


class _IOAttempted(RuntimeError):
    pass


_guard = {"on": False}


def _audit(event: str, _args: tuple[Any, ...]) -> None:
    if _guard["on"] and event.split(".")[0] in {
        "open",
        "socket",
        "subprocess",
        "os",
        "shutil",
        "urllib",
    }:
        raise _IOAttempted(event)


sys.addaudithook(_audit)


def test_no_io_while_learning_scoring_and_checkpointing(name: str) -> None:
    xs = stream(name, 9)
    detector = FACTORIES[name]()
    with _io_guard():
        run(detector, xs)
        restore(detector.checkpoint())
        detector.clone()


class _io_guard:
    """Any file, socket, process or os-level call inside the block raises."""

    def __enter__(self) -> None:
        _guard["on"] = True

    def __exit__(self, *exc: object) -> None:
        _guard["on"] = False


def test_the_guard_does_catch_io(tmp_path: Any) -> None:
    with pytest.raises(_IOAttempted), _io_guard():
        open(tmp_path / "x", "w")  # noqa: SIM115
