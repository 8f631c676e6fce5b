"""Time embeddings shared by every velocity model."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class SinusoidalTime(nn.Module):
    """Sinusoidal features of ``t`` in [0, 1]: ``(B,) -> (B, dim)``.

    Frequencies are geometric between 1 and ``max_freq`` cycles per unit time.
    """

    def __init__(self, dim: int = 64, max_freq: float = 16.0) -> None:
        super().__init__()
        if dim < 2 or dim % 2:
            raise ValueError(f"time embedding dim must be an even number >= 2, got {dim}")
        freqs = torch.exp(torch.linspace(0.0, math.log(max_freq), dim // 2))
        self.register_buffer("freqs", 2 * math.pi * freqs, persistent=False)

    def forward(self, t: Tensor) -> Tensor:
        args = t.reshape(-1, 1).to(self.freqs.dtype) * self.freqs
        return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


def interval_length(t: Tensor, s: Tensor | None) -> Tensor:
    """``s - t`` of shape ``(B,)`` (zero when ``s`` is None: the instantaneous velocity)."""
    if s is None:
        return torch.zeros_like(t)
    if s.dim() == 0:
        s = s.expand(t.shape[0])
    return s - t
