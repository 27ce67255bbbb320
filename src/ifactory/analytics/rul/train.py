"""Training loop for the neural RUL models: Adam, cosine learning rate, early stopping on validation units."""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ifactory.analytics.rul.config import TrainConfig
from ifactory.analytics.rul.model import build_model, parameter_count

log = logging.getLogger(__name__)


@dataclass
class TrainedRul:
    """A trained model with its training record."""

    model: nn.Module
    config: TrainConfig
    seed: int
    best_epoch: int
    epochs_run: int
    stopped_by_time: bool
    val_rmse: float
    seconds: float
    parameters: int

    def predict(self, windows: np.ndarray, *, batch_size: int = 2048) -> np.ndarray:
        """Predicted RUL in cycles for windows (n × window × features), within [0, cap]."""
        self.model.eval()
        out: list[np.ndarray] = []
        with torch.no_grad():
            for start in range(0, len(windows), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(windows[start : start + batch_size]))
                out.append(self.model(batch.float()).numpy())
        scaled = np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
        return np.clip(scaled.astype(float) * self.config.cap, 0.0, self.config.cap)


def _val_rmse(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cap: float) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 4096]) for i in range(0, len(x), 4096)])
    return float(torch.sqrt(torch.mean((pred.clamp(0, 1) - y) ** 2))) * cap


def train_rul(
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray,
    val_y: np.ndarray,
    config: TrainConfig,
    *,
    seed: int,
) -> TrainedRul:
    """Train on windows with targets in cycles; keep the epoch with the lowest validation RMSE."""
    if len(train_x) == 0 or len(val_x) == 0:
        raise ValueError("training and validation windows must not be empty")
    if train_x.shape[1:] != val_x.shape[1:] or train_x.shape[1] != config.window:
        raise ValueError("training and validation windows must have the configured shape")
    torch.set_num_threads(config.threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    model = build_model(
        config.architecture,
        train_x.shape[2],
        config.window,
        width=config.width,
        layers=config.layers,
        dropout=config.dropout,
    )
    x = torch.from_numpy(np.ascontiguousarray(train_x, dtype=np.float32))
    y = torch.from_numpy(np.asarray(train_y, dtype=np.float32) / config.cap)
    vx = torch.from_numpy(np.ascontiguousarray(val_x, dtype=np.float32))
    vy = torch.from_numpy(np.asarray(val_y, dtype=np.float32) / config.cap)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    steps_per_epoch = math.ceil(len(x) / config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser,
        max_lr=config.learning_rate,
        total_steps=config.epochs * steps_per_epoch,
        pct_start=0.1,
    )
    loss_fn = nn.MSELoss()
    best_rmse = math.inf
    best_state = copy.deepcopy(model.state_dict())
    best_epoch = 0
    epoch = 0
    stopped_by_time = False
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.from_numpy(rng.permutation(len(x)))
        for start in range(0, len(x), config.batch_size):
            idx = order[start : start + config.batch_size]
            optimiser.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
        score = _val_rmse(model, vx, vy, config.cap)
        log.debug("seed %d epoch %d validation RMSE %.3f", seed, epoch, score)
        if score < best_rmse:
            best_rmse, best_epoch = score, epoch
            best_state = copy.deepcopy(model.state_dict())
        if epoch - best_epoch >= config.patience:
            break
        if time.perf_counter() - started > config.max_seconds:
            stopped_by_time = True
            log.info(
                "seed %d: stopped at epoch %d, time budget %.0f s", seed, epoch, config.max_seconds
            )
            break
    model.load_state_dict(best_state)
    return TrainedRul(
        model=model,
        config=config,
        seed=seed,
        best_epoch=best_epoch,
        epochs_run=epoch,
        stopped_by_time=stopped_by_time,
        val_rmse=best_rmse,
        seconds=time.perf_counter() - started,
        parameters=parameter_count(model),
    )
