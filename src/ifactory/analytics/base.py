"""Streaming detectors in the style of river: learn_one / score_one, hyperparameters in __init__.

A detector is a pure in-memory object: no I/O, no clock, no global state. Its state is saved
with `checkpoint()` to a versioned, non-executable msgpack document (JSON-like values plus raw
numpy arrays) and restored with `restore()`; loading never imports or runs code named by the
data: the class is looked up in a registry of detector classes filled at class definition.

Conventions shared by every detector:
- `score_one(x)` scores a point against the state *before* it (prequential order: score, then
  learn); a higher score is more anomalous, in [0, 1] for the NAB-grade detectors.
- a missing value (NaN, None, or an absent key) scores 0.0 and leaves the state unchanged, so a
  gap in the data neither raises nor corrupts the model.
- `score_learn_many(xs)` is the fast path used by the pipeline and the evaluations: exactly the
  same numbers as calling `score_one` then `learn_one` point by point.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import msgpack
import numpy as np

CHECKPOINT_FORMAT = "ifactory.detector"
CHECKPOINT_VERSION = 1

_REGISTRY: dict[str, type[Detector]] = {}

D = TypeVar("D", bound="Detector")


class CheckpointError(ValueError):
    """A checkpoint is not a detector checkpoint, has an unknown version or names an unknown class."""


def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value)
        return {
            "__ndarray__": True,
            "dtype": arr.dtype.str,
            "shape": list(arr.shape),
            "data": arr.tobytes(),
        }
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("__ndarray__") is True:
            dtype = np.dtype(value["dtype"])
            if dtype.hasobject:
                raise CheckpointError("object arrays are not allowed in a checkpoint")
            return np.frombuffer(value["data"], dtype=dtype).reshape(value["shape"]).copy()
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def is_missing(value: object) -> bool:
    """True for None and NaN: a sample the detector must skip."""
    return value is None or (isinstance(value, float) and math.isnan(value))


class Detector:
    """Base class: parameters from __init__, clone, checkpoint/restore, batch helpers."""

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__name__.startswith("_"):
            return  # a private base class (shared plumbing), not a detector users can restore
        key = cls.name or cls.__name__
        cls.name = key
        _REGISTRY[key] = cls

    # --- hyperparameters ---------------------------------------------------------------

    def _get_params(self) -> dict[str, Any]:
        """The __init__ arguments, read back from attributes of the same names."""
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    def clone(self: D, **overrides: Any) -> D:
        """A fresh, untrained detector with the same hyperparameters (optionally some changed)."""
        params = self._get_params()
        params.update(overrides)
        return type(self)(**params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._get_params().items())
        return f"{type(self).__name__}({args})"

    # --- state ---------------------------------------------------------------------------

    def _get_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _set_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def checkpoint(self) -> bytes:
        """The detector's hyperparameters and learnt state as a versioned msgpack document."""
        doc = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "detector": self.name,
            "params": _encode(self._get_params()),
            "state": _encode(self._get_state()),
        }
        return bytes(msgpack.packb(doc, use_bin_type=True))

    # --- online API (subclasses implement these) -----------------------------------------

    def learn_one(self, x: Any) -> None:
        """Update the state with one sample."""
        raise NotImplementedError

    def score_one(self, x: Any) -> float:
        """Anomaly score of one sample against the current state (the state is unchanged)."""
        raise NotImplementedError

    def score_learn_one(self, x: Any) -> float:
        """Score one sample, then learn it: the order the ingest pipeline uses."""
        score = self.score_one(x)
        self.learn_one(x)
        return score

    def learn_many(self, xs: Sequence[Any] | np.ndarray) -> None:
        """Learn a batch of samples in order."""
        for x in xs:
            self.learn_one(x)

    def score_many(self, xs: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Score a batch against the current state, without learning from it."""
        return np.asarray([self.score_one(x) for x in xs], dtype=float)

    def score_learn_many(self, xs: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Score then learn each sample of a batch in order (same numbers as one at a time)."""
        return np.asarray([self.score_learn_one(x) for x in xs], dtype=float)


def restore(data: bytes) -> Detector:
    """Rebuild a detector from `Detector.checkpoint()` output, without executing anything from it."""
    try:
        doc = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except (msgpack.UnpackException, ValueError) as exc:
        raise CheckpointError(f"not a msgpack document: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError("not an iFactory detector checkpoint")
    if doc.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"unsupported checkpoint version {doc.get('version')!r}")
    cls = _REGISTRY.get(doc.get("detector", ""))
    if cls is None:
        raise CheckpointError(f"unknown detector {doc.get('detector')!r}")
    detector = cls(**_decode(doc["params"]))
    detector._set_state(_decode(doc["state"]))
    return detector


def registered() -> dict[str, type[Detector]]:
    """Every detector class known to `restore`, by name."""
    return dict(_REGISTRY)
