"""Neural RUL regressors over a window of normalised sensor readings (PyTorch; import lazily)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ifactory.analytics.rul.config import ARCHITECTURES


class TransformerRul(nn.Module):
    """Transformer encoder over time steps: sensor embedding, learned positions, pooled head.

    Self-attention over the cycles of a window (Vaswani et al. 2017), the family that reaches
    the best published C-MAPSS results (DAST, Zhang et al. 2022; STAR, Fan et al. 2024).
    A 1-D convolution embeds each step with its neighbours so attention sees local trends.
    """

    def __init__(
        self,
        n_features: int,
        window: int,
        *,
        d_model: int = 64,
        heads: int = 4,
        layers: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.embed = nn.Conv1d(n_features, d_model, kernel_size=3, padding=1)
        self.position = nn.Parameter(torch.zeros(1, window, d_model))
        nn.init.normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d_model,
            heads,
            dim_feedforward=2 * d_model,
            dropout=dropout,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Sequential(
            nn.Linear(2 * d_model, d_model), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_model, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Windows (batch × window × features) → RUL / cap (batch)."""
        h = self.embed(x.transpose(1, 2)).transpose(1, 2) + self.position[:, : x.shape[1]]
        h = self.norm(self.encoder(h))
        pooled = torch.cat([h.mean(1), h[:, -1]], dim=1)
        out: torch.Tensor = self.head(pooled).squeeze(-1)
        return out


class CnnRul(nn.Module):
    """1-D CNN over time (after Li, Ding, Sun 2018, DCNN): stacked convolutions, then a dense head."""

    def __init__(
        self, n_features: int, window: int, *, channels: int = 32, dropout: float = 0.2
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(n_features, channels, 5, padding=2),
            nn.GELU(),
            nn.Conv1d(channels, channels, 5, padding=2),
            nn.GELU(),
            nn.Conv1d(channels, channels, 3, padding=1),
            nn.GELU(),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(channels * window, 64),
            nn.GELU(),
            nn.Linear(64, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Windows (batch × window × features) → RUL / cap (batch)."""
        out: torch.Tensor = self.head(self.body(x.transpose(1, 2))).squeeze(-1)
        return out


def build_model(
    architecture: str,
    n_features: int,
    window: int,
    *,
    width: int = 64,
    layers: int = 2,
    dropout: float = 0.1,
) -> nn.Module:
    """A fresh, randomly initialised model of the named architecture."""
    if architecture == "transformer":
        heads = 4 if width % 4 == 0 else 1
        return TransformerRul(
            n_features, window, d_model=width, heads=heads, layers=layers, dropout=dropout
        )
    if architecture == "cnn":
        return CnnRul(n_features, window, channels=width, dropout=dropout)
    raise ValueError(f"unknown architecture {architecture!r}; choose from {ARCHITECTURES}")


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(math.prod(p.shape) for p in model.parameters() if p.requires_grad)
