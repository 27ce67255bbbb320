"""Hyperparameters of the neural RUL model (no PyTorch import, so the CLI can build them cheaply)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ARCHITECTURES = ("transformer", "cnn", "cnn-attention", "dual-attention")


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run (chosen on validation units, never on test labels)."""

    architecture: str = "cnn"
    window: int = 40
    # Training windows end at every cycle from this one on; earlier than `window` they are
    # padded with the first cycle, as a prediction on a short history is (online and in test).
    first_window_end: int = 1
    width: int = 32
    layers: int = 2
    dropout: float = 0.2
    cap: float = 125.0
    epochs: int = 60
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 10
    threads: int = 1
    max_seconds: float = 600.0  # a guard only: runs are bounded by epochs and early stopping

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, for printing and checkpoints."""
        return asdict(self)
