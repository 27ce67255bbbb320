"""Convolutional autoencoder on windows of the standardized multivariate sample (PyTorch, lazy).

Why this detector: it is the best outlier detector of SKAB's leaderboard (Conv-AE, F1 0.78 /
FAR 13.55 % over the 34 files; waico/SKAB README and Conv-AE notebook, after the Keras example
"Timeseries anomaly detection using an Autoencoder"). The network learns to reproduce windows
of normal operation through a bottleneck (two strided 1-D convolutions down, two transposed
convolutions up); a window it cannot reproduce does not look like anything it was trained on.

The recipe is SKAB's: the first `train_size` samples are standardized with their own mean and
standard deviation and cut into all overlapping windows of `window` samples; the network is
Conv1D(32, k 7, stride 2, ReLU) → Dropout(0.2) → Conv1D(16, k 7, stride 2, ReLU) →
ConvTranspose1D(16, k 7, stride 2, ReLU) → Dropout(0.2) → ConvTranspose1D(32, k 7, stride 2,
ReLU) → Conv1D(features, k 7); it is trained with Adam (learning rate 1e-3) on the mean squared
error, batches of 32, at most 100 epochs, stopping when the loss on the last 10 % of the windows
(Keras' validation_split, not shuffled) has not improved for 5 epochs. The window error is
SKAB's residual: the mean absolute reconstruction error over the window's time steps, summed
over the features. Unlike Keras' EarlyStopping default, the weights of the best validation epoch
are kept; Adam is written out (same update, Kingma & Ba 2015).

Three options leave the recipe when set (their defaults keep it): `noise` > 0 trains a
denoising autoencoder (Gaussian input corruption of that SD, Vincent et al. 2008); `centered`
features enter each window minus their own mean over the window, so the network models their
short-term shape and not their level (for sensors that drift slowly, like SKAB's thermal
channels); `error="squared"` sums the mean *squared* error over the features, which weighs a
large deviation in one sensor more against the noise of all the others than the absolute
error does.

Online use: the window error is given to the window's last sample (a causal detector cannot see
the samples after it), and the score is the smallest error of the last `persistence` windows,
so a score above a threshold means that many consecutive windows were all above it: SKAB's
rule that a point is an anomaly only when all the windows around it are (there the windows
*containing* the point, which needs the future; here the windows *ending* at the last
`persistence` samples).

The detector trains once, when its `train_size`-th sample is learnt, and is frozen afterwards
(`learn_one` then only advances the per-stream window). Training is deterministic for a seed:
the weights are initialised and the dropout masks and input noise drawn inside a forked torch
RNG seeded with `seed`, and the batches are shuffled by a numpy generator seeded with `seed`; the global RNGs
are left as they were. The learnt weights are float32 arrays in the checkpoint (the house
msgpack document, no pickle, no `torch.save`), so a restored detector scores exactly like the
original. Scores are 0 until the network is trained and while the window is filling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ifactory.analytics.base import Detector
from ifactory.analytics.detectors.multivariate import FeatureVectors

if TYPE_CHECKING:
    from torch import nn


_CHUNK = 512  # windows per forward pass on the batched path


class TorchMissingError(ImportError):
    """The Conv-AE detector needs PyTorch (`pip install 'ifactory[ml]'`)."""


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised only without the ml extra
        raise TorchMissingError(
            "ConvAEDetector needs PyTorch: install the ml extra (pip install 'ifactory[ml]')"
        ) from exc
    return torch


def _network(n_features: int, channels: int, kernel: int, dropout: float) -> nn.Module:
    """SKAB's Conv-AE: two strided convolutions down, two transposed convolutions up, one out."""
    torch = _torch()
    layers = torch.nn
    pad = kernel // 2
    half = max(channels // 2, 1)
    # Conv: stride 2 halves an even length; ConvTranspose with output_padding 1 doubles it back
    # (Keras' padding="same" with strides=2).
    net = layers.Sequential(
        layers.Conv1d(n_features, channels, kernel, stride=2, padding=pad),
        layers.ReLU(),
        layers.Dropout(dropout),
        layers.Conv1d(channels, half, kernel, stride=2, padding=pad),
        layers.ReLU(),
        layers.ConvTranspose1d(half, half, kernel, stride=2, padding=pad, output_padding=1),
        layers.ReLU(),
        layers.Dropout(dropout),
        layers.ConvTranspose1d(half, channels, kernel, stride=2, padding=pad, output_padding=1),
        layers.ReLU(),
        layers.Conv1d(channels, n_features, kernel, padding=pad),
    )
    return cast("nn.Module", net)


class _Adam:
    """Adam (Kingma & Ba 2015, Algorithm 1; Keras' defaults β₁ 0.9, β₂ 0.999, ε 1e-7).

    Written out rather than torch.optim.Adam, whose constructor imports the compiler stack
    lazily (file reads) on first use: a detector does no I/O while it learns.
    """

    def __init__(self, params: list[Any], lr: float) -> None:
        torch = _torch()
        self.params, self.lr, self.t = params, lr, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    def step(self) -> None:
        torch = _torch()
        self.t += 1
        b1, b2, eps = 0.9, 0.999, 1e-7
        with torch.no_grad():
            for p, m, v in zip(self.params, self.m, self.v, strict=True):
                if p.grad is None:
                    continue
                m.mul_(b1).add_(p.grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                m_hat = m / (1 - b1**self.t)
                v_hat = v / (1 - b2**self.t)
                p.sub_(self.lr * m_hat / (v_hat.sqrt() + eps))


class ConvAEDetector(FeatureVectors, Detector):
    """Smallest reconstruction error of the last `persistence` windows of a convolutional AE.

    `features` fixes the order of the dict keys (None: from the first sample). A missing
    feature is replaced by its training mean (standardized 0); a sample with every feature
    missing scores 0, is not learnt and does not enter the window.
    """

    name = "conv_ae"

    def __init__(
        self,
        features: Sequence[str] | None = None,
        window: int = 60,
        train_size: int = 400,
        persistence: int = 1,
        channels: int = 32,
        kernel: int = 7,
        dropout: float = 0.2,
        epochs: int = 100,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        validation: float = 0.1,
        patience: int = 5,
        noise: float = 0.0,
        centered: Sequence[str] | None = None,
        error: str = "absolute",
        seed: int = 0,
    ) -> None:
        if window < 4 or window % 4:
            raise ValueError("window must be a multiple of 4 (two stride-2 layers), at least 4")
        if train_size < window + 1:
            raise ValueError("train_size must exceed window (at least two training windows)")
        if persistence < 1:
            raise ValueError("persistence must be >= 1")
        if channels < 2 or kernel < 1 or kernel % 2 == 0:
            raise ValueError("channels must be >= 2 and kernel a positive odd number")
        if not 0.0 <= dropout < 1.0:
            raise ValueError("dropout must be in [0, 1)")
        if epochs < 1 or batch_size < 1 or patience < 1:
            raise ValueError("epochs, batch_size and patience must be >= 1")
        if not 0.0 < validation < 1.0:
            raise ValueError("validation must be in (0, 1)")
        if not learning_rate > 0.0:
            raise ValueError("learning_rate must be > 0")
        if not noise >= 0.0:
            raise ValueError("noise must be >= 0")
        if error not in ("absolute", "squared"):
            raise ValueError("error must be 'absolute' or 'squared'")
        self.features = list(features) if features is not None else None
        self._features = self.features
        self.window = window
        self.train_size = train_size
        self.persistence = persistence
        self.channels = channels
        self.kernel = kernel
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation = validation
        self.patience = patience
        self.noise = noise
        self.centered = list(centered) if centered is not None else None
        self.error = error
        self.seed = seed
        self._p = len(self._features) if self._features else 0
        self._net: nn.Module | None = None
        self._init_arrays()

    def _init_arrays(self) -> None:
        p = self._p
        self.n = 0
        self.train_rows = np.zeros((0, p))  # raw training samples (NaN kept) until trained
        self.center = np.zeros(p)
        self.scale = np.ones(p)
        self.weights: dict[str, np.ndarray] = {}
        self.training_errors = np.zeros(0)  # in-sample window errors of the trained network
        self.epochs_run = 0
        # The last window - 1 samples (raw, NaN kept) and the last persistence - 1 window errors.
        self.recent = np.zeros((0, p))
        self.errors = np.zeros(0)
        self._net = None

    @property
    def trained(self) -> bool:
        """True once the network has been fitted on the first `train_size` samples."""
        return bool(self.weights)

    # --- windows -------------------------------------------------------------------------

    def _standardize(self, rows: np.ndarray) -> np.ndarray:
        z = (rows - self.center) / self.scale
        return np.where(np.isnan(z), 0.0, z).astype(np.float32)

    def _center(self, windows: np.ndarray) -> np.ndarray:
        """Each `centered` feature minus its own mean over the window (n × window × p)."""
        if not self.centered or self._features is None:
            return windows
        mask = np.asarray([f in self.centered for f in self._features])
        out = windows.copy()
        out[:, :, mask] -= out[:, :, mask].mean(axis=1, keepdims=True)
        return out

    def _window_errors(self, windows: np.ndarray) -> np.ndarray:
        """SKAB's residual of each standardized window (n × window × p): Σ_features mean_t |e|.

        With `error="squared"`: Σ_features mean_t e².
        """
        torch = _torch()
        net = self._module()
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(self._center(windows), dtype=np.float64))
            rec = net(x.transpose(1, 2)).transpose(1, 2)
            diff = rec - x
            per_step = diff.abs() if self.error == "absolute" else diff * diff
            err = per_step.mean(dim=1).sum(dim=1)
        return np.asarray(err.numpy(), dtype=float)

    def _current_error(self, v: np.ndarray) -> float | None:
        """Window error of the recent samples followed by v; None while the window is filling."""
        if not self.trained or len(self.recent) < self.window - 1:
            return None
        rows = np.vstack([self.recent, v[None, :]])
        return float(self._window_errors(self._standardize(rows)[None])[0])

    def _score_from(self, err: float | None) -> float:
        if err is None or len(self.errors) < self.persistence - 1:
            return 0.0
        return float(min(err, *self.errors)) if len(self.errors) else err

    def _advance(self, v: np.ndarray, err: float | None) -> None:
        """Push the sample into the window and its error into the persistence buffer."""
        if self.window > 1:
            self.recent = np.vstack([self.recent, v[None, :]])[-(self.window - 1) :]
        if err is not None and self.persistence > 1:
            self.errors = np.append(self.errors, err)[-(self.persistence - 1) :]

    # --- training ------------------------------------------------------------------------

    def _module(self) -> nn.Module:
        """The network with the learnt weights, built once per instance (not checkpointed)."""
        if self._net is None:
            torch = _torch()
            # Building the layers draws initial weights: from a forked RNG, so the global
            # generator is untouched (they are overwritten by the learnt ones at once).
            with torch.random.fork_rng(devices=[]):
                net = _network(self._p, self.channels, self.kernel, self.dropout)
            net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in self.weights.items()})
            net.double().eval()
            self._net = net
        return self._net

    def _fit(self) -> None:
        """Standardize the training rows, cut them into windows and train the network."""
        torch = _torch()
        rows = self.train_rows
        unknown = sorted(set(self.centered or ()) - set(self._features or ()))
        if unknown:
            raise ValueError(f"centered names unknown features {unknown}")
        seen = (~np.isnan(rows)).any(axis=0)
        # Mean and SD over the present values; a feature never seen gets 0 and the floor.
        if seen.all():
            self.center, sd = np.nanmean(rows, axis=0), np.nanstd(rows, axis=0)
        else:
            self.center, sd = np.zeros(self._p), np.zeros(self._p)
            self.center[seen] = np.nanmean(rows[:, seen], axis=0)
            sd[seen] = np.nanstd(rows[:, seen], axis=0)
        # A constant feature gets a floor relative to its level instead of dividing by zero.
        floor = 1e-6 * (1.0 + np.abs(self.center))
        self.scale = np.where(sd < floor, floor, sd)
        z = self._standardize(rows)
        windows = np.lib.stride_tricks.sliding_window_view(z, self.window, axis=0)
        windows = np.ascontiguousarray(windows.transpose(0, 2, 1))  # n × window × p
        n_val = max(1, round(len(windows) * self.validation))
        if len(windows) - n_val < 1:
            n_val = len(windows) - 1
        centered = np.ascontiguousarray(self._center(windows), dtype=np.float32)
        x = torch.from_numpy(centered[: len(windows) - n_val]).transpose(1, 2).contiguous()
        xv = torch.from_numpy(centered[len(windows) - n_val :]).transpose(1, 2).contiguous()
        rng = np.random.default_rng(self.seed)
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(self.seed)  # CPU only: no device probing
            net = _network(self._p, self.channels, self.kernel, self.dropout)
            adam = _Adam(list(net.parameters()), self.learning_rate)
            best = math.inf
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            waited = 0
            for epoch in range(self.epochs):
                net.train()
                order = torch.from_numpy(rng.permutation(len(x)))
                for start in range(0, len(x), self.batch_size):
                    batch = x[order[start : start + self.batch_size]]
                    net.zero_grad(set_to_none=True)
                    seen = batch
                    if self.noise > 0.0:
                        seen = batch + self.noise * torch.randn(batch.shape)
                    loss = torch.mean((net(seen) - batch) ** 2)
                    loss.backward()
                    adam.step()
                net.eval()
                with torch.no_grad():
                    val = float(torch.mean((net(xv) - xv) ** 2))
                self.epochs_run = epoch + 1
                if val < best:
                    best, waited = val, 0
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                else:
                    waited += 1
                    if waited >= self.patience:
                        break
        self.weights = {k: v.numpy().astype(np.float32).copy() for k, v in best_state.items()}
        self._net = None
        self.training_errors = self._window_errors(windows)
        self.train_rows = np.zeros((0, self._p))
        # The stream goes on from the end of the training rows: the last window - 1 samples
        # open the first test window, the last training windows open the persistence buffer.
        self.recent = rows[len(rows) - (self.window - 1) :].copy()
        keep = self.persistence - 1
        self.errors = (
            self.training_errors[max(len(self.training_errors) - keep, 0) :]
            if keep
            else np.zeros(0)
        )

    # --- online API ----------------------------------------------------------------------

    def score_one(self, x: Any) -> float:
        """Smallest window error of the last `persistence` windows ending at x; state unchanged."""
        v = self._vector(x)
        if np.isnan(v).all():
            return 0.0
        return self._score_from(self._current_error(v))

    def learn_one(self, x: Any) -> None:
        """Collect training samples and train on the last one; afterwards advance the window."""
        v = self._vector(x)
        if np.isnan(v).all():
            return
        # The window error only matters to later scores through the persistence buffer.
        self._learn(v, self._current_error(v) if self.persistence > 1 else None)

    def _learn(self, v: np.ndarray, err: float | None) -> None:
        if not self.trained:
            self.train_rows = np.vstack([self.train_rows, v[None, :]])
            self.n += 1
            if self.n >= self.train_size:
                self._fit()
            return
        self._advance(v, err)

    def score_learn_one(self, x: Any) -> float:
        """Score then learn one sample, computing its window error once."""
        v = self._vector(x)
        if np.isnan(v).all():
            return 0.0
        err = self._current_error(v)
        score = self._score_from(err)
        self._learn(v, err)
        return score

    def score_many(self, xs: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Score a batch against the current state: the batched path on a copy of the stream."""
        if not self.trained:
            return super().score_many(xs)
        copy = self.clone()
        copy._set_state(self._get_state())
        copy._net = self._net  # same weights: no need to build the network again
        return copy._score_learn_trained(xs)

    def score_learn_many(self, xs: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Score then learn a batch, the same numbers as one at a time.

        Before the network is trained samples go one at a time (the last training sample
        trains it); afterwards the windows ending at every sample of the batch go through
        the network in chunks of `_CHUNK`, the point-by-point path's one window per call.
        """
        items = list(xs) if not isinstance(xs, np.ndarray) else xs
        out = np.zeros(len(items))
        i = 0
        while i < len(items) and not self.trained:
            out[i] = self.score_learn_one(items[i])
            i += 1
        if i < len(items):
            out[i:] = self._score_learn_trained(items[i:])
        return out

    def _score_learn_trained(self, xs: Sequence[Any] | np.ndarray) -> np.ndarray:
        """`score_learn_one` over a batch once trained, with the window errors batched."""
        out = np.zeros(len(xs))
        vectors = [self._vector(x) for x in xs]
        keep = [j for j, v in enumerate(vectors) if not np.isnan(v).all()]  # all-NaN: 0, skipped
        if not keep:
            return out
        w = self.window
        rows = np.vstack([self.recent, *(vectors[j][None, :] for j in keep)])
        first = w - 1 - len(self.recent)  # index in `keep` of the first full window
        errs = np.full(len(keep), math.nan)
        if first < len(keep):
            z = self._standardize(rows)
            windows = np.lib.stride_tricks.sliding_window_view(z, w, axis=0).transpose(0, 2, 1)
            start = max(first, 0)  # windows[k] ends at keep[k + len(recent) - (w - 1)]
            offset = len(self.recent) - (w - 1)
            for a in range(start, len(keep), _CHUNK):
                b = min(a + _CHUNK, len(keep))
                errs[a:b] = self._window_errors(
                    np.ascontiguousarray(windows[a + offset : b + offset])
                )
        buffer: list[float] = [float(e) for e in self.errors]
        need = self.persistence - 1
        for k, j in enumerate(keep):
            err = None if math.isnan(errs[k]) else float(errs[k])
            if err is not None and len(buffer) >= need:
                out[j] = min(err, *buffer[len(buffer) - need :]) if need else err
            if err is not None and need:
                buffer.append(err)
        if w > 1:
            self.recent = rows[-(w - 1) :].copy()
        if need:
            self.errors = np.asarray(buffer[-need:], dtype=float)
        return out

    def fresh_stream(self) -> ConvAEDetector:
        """A copy with the trained network and an empty window: replays a recording from its start."""
        copy = self.clone()
        copy._set_state(self._get_state())
        copy.recent = np.zeros((0, self._p))
        copy.errors = np.zeros(0)
        return copy

    def _get_state(self) -> dict[str, Any]:
        return {
            "features": self._features,
            "n": self.n,
            "train_rows": self.train_rows,
            "center": self.center,
            "scale": self.scale,
            "weights": self.weights,
            "training_errors": self.training_errors,
            "epochs_run": self.epochs_run,
            "recent": self.recent,
            "errors": self.errors,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self._restore_features(state)
        self.n = int(state["n"])
        self.train_rows = np.asarray(state["train_rows"], dtype=float).reshape(-1, self._p)
        self.center = np.asarray(state["center"], dtype=float)
        self.scale = np.asarray(state["scale"], dtype=float)
        self.weights = {
            str(k): np.asarray(v, dtype=np.float32) for k, v in dict(state["weights"]).items()
        }
        self.training_errors = np.asarray(state["training_errors"], dtype=float)
        self.epochs_run = int(state["epochs_run"])
        self.recent = np.asarray(state["recent"], dtype=float).reshape(-1, self._p)
        self.errors = np.asarray(state["errors"], dtype=float)
