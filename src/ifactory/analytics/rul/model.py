"""Neural RUL regressors over a window of normalised sensor readings (PyTorch; import lazily)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ifactory.analytics.rul.config import ARCHITECTURES


def transformer_encoder(
    d_model: int, heads: int, layers: int, dropout: float
) -> nn.TransformerEncoder:
    """`layers` pre-norm self-attention layers (feed-forward width 2 × d_model), batch first.

    Layer normalisation comes before attention and feed-forward (pre-LN, Xiong et al. 2020).
    The stacked layers start as copies of one freshly initialised layer (`nn.TransformerEncoder`
    deep-copies it), so building one consumes the random stream exactly as the models always did.
    """
    layer = nn.TransformerEncoderLayer(
        d_model,
        heads,
        dim_feedforward=2 * d_model,
        dropout=dropout,
        batch_first=True,
        norm_first=True,
    )
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


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
        self.encoder = transformer_encoder(d_model, heads, layers, dropout)
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


def conv_body(n_features: int, channels: int) -> nn.Sequential:
    """Three 1-D convolutions over time (kernels 5, 5, 3; length kept) with GELU: the CNN body."""
    return nn.Sequential(
        nn.Conv1d(n_features, channels, 5, padding=2),
        nn.GELU(),
        nn.Conv1d(channels, channels, 5, padding=2),
        nn.GELU(),
        nn.Conv1d(channels, channels, 3, padding=1),
        nn.GELU(),
    )


class CnnRul(nn.Module):
    """1-D CNN over time (after Li, Ding, Sun 2018, DCNN): stacked convolutions, then a dense head."""

    def __init__(
        self, n_features: int, window: int, *, channels: int = 32, dropout: float = 0.2
    ) -> None:
        super().__init__()
        self.body = conv_body(n_features, channels)
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


class AttentionPoolCnnRul(nn.Module):
    """The 1-D CNN body with attention pooling over time instead of the flattened dense head.

    A learned score per time step weights the convolutional features (additive attention
    pooling, Bahdanau et al. 2015; the "attention-based" head of AGCNN, Liu et al. 2021), so the
    head sees where in the window the degradation signal is and has far fewer parameters than
    the flattened head. The last step's features are concatenated, as the prediction is for
    the window's last cycle. Selectable with `--architecture cnn-attention`; on validation it
    did not beat the flattened CNN (docs/eval-cmapss.md), so it is not the default.
    """

    def __init__(
        self, n_features: int, window: int, *, channels: int = 32, dropout: float = 0.2
    ) -> None:
        super().__init__()
        self.body = conv_body(n_features, channels)
        self.position = nn.Parameter(torch.zeros(1, channels, window))
        self.score = nn.Conv1d(channels, 1, 1)
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(2 * channels, 64), nn.GELU(), nn.Linear(64, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Windows (batch × window × features) → RUL / cap (batch)."""
        h = self.body(x.transpose(1, 2)) + self.position[:, :, : x.shape[1]]
        weights = torch.softmax(self.score(h), dim=-1)  # batch × 1 × window
        pooled = torch.cat([(h * weights).sum(-1), h[:, :, -1]], dim=1)
        out: torch.Tensor = self.head(pooled).squeeze(-1)
        return out


class DualAttentionRul(nn.Module):
    """Dual-aspect self-attention (after DAST, Zhang et al. 2022): sensor-wise and time-wise encoders.

    The sensor encoder treats each feature's whole window as a token (attention between
    sensors); the time encoder treats each cycle's feature vector as a token (attention between
    cycles, learned positions). Both are pooled and fused by a dense head. Even at width 32 with
    one layer per aspect an epoch costs about 3-4 times the CNN's on the CPU, which is why it is
    an option (`--architecture dual-attention`) and not the default (docs/eval-cmapss.md).
    """

    def __init__(
        self,
        n_features: int,
        window: int,
        *,
        d_model: int = 32,
        heads: int = 4,
        layers: int = 1,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.sensor_embed = nn.Linear(window, d_model)
        self.sensor_id = nn.Parameter(torch.zeros(1, n_features, d_model))
        self.sensor_encoder = transformer_encoder(d_model, heads, layers, dropout)
        self.time_embed = nn.Linear(n_features, d_model)
        self.position = nn.Parameter(torch.zeros(1, window, d_model))
        nn.init.normal_(self.sensor_id, std=0.02)
        nn.init.normal_(self.position, std=0.02)
        self.time_encoder = transformer_encoder(d_model, heads, layers, dropout)
        self.norm_s = nn.LayerNorm(d_model)
        self.norm_t = nn.LayerNorm(d_model)
        self.head = nn.Sequential(
            nn.Linear(3 * d_model, d_model), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_model, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Windows (batch × window × features) → RUL / cap (batch)."""
        s = self.sensor_embed(x.transpose(1, 2)) + self.sensor_id
        s = self.norm_s(self.sensor_encoder(s))
        t = self.time_embed(x) + self.position[:, : x.shape[1]]
        t = self.norm_t(self.time_encoder(t))
        pooled = torch.cat([s.mean(1), t.mean(1), t[:, -1]], dim=1)
        out: torch.Tensor = self.head(pooled).squeeze(-1)
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
    if architecture == "cnn-attention":
        return AttentionPoolCnnRul(n_features, window, channels=width, dropout=dropout)
    if architecture == "dual-attention":
        heads = 4 if width % 4 == 0 else 1
        return DualAttentionRul(
            n_features, window, d_model=width, heads=heads, layers=layers, dropout=dropout
        )
    raise ValueError(f"unknown architecture {architecture!r}; choose from {ARCHITECTURES}")


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(math.prod(p.shape) for p in model.parameters() if p.requires_grad)
