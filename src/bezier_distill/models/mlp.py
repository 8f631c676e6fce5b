"""Time-conditioned MLP velocity model for vector data ``(B, D)``."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .embeddings import SinusoidalTime


class MLPVelocity(nn.Module):
    """``v(x, t)``: ``x (B, D)``, ``t (B,)`` in [0, 1] -> ``(B, D)``.

    ``layers`` hidden layers of width ``hidden`` with SiLU; the time embedding
    is concatenated to the input.
    """

    kind = "mlp"

    def __init__(
        self, dim: int, hidden: int = 256, layers: int = 3, time_dim: int = 64, time_freq: float = 16.0
    ) -> None:
        super().__init__()
        for name, value in (("dim", dim), ("hidden", hidden), ("layers", layers)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"MLP {name} must be a positive integer, got {value!r}")
        self.config: dict[str, Any] = {
            "dim": dim,
            "hidden": hidden,
            "layers": layers,
            "time_dim": time_dim,
            "time_freq": time_freq,
        }
        self.time = SinusoidalTime(time_dim, time_freq)
        widths = [dim + time_dim] + [hidden] * layers
        blocks: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            blocks += [nn.Linear(a, b), nn.SiLU()]
        blocks.append(nn.Linear(widths[-1], dim))
        self.net = nn.Sequential(*blocks)

    @property
    def data_shape(self) -> tuple[int, ...]:
        return (self.config["dim"],)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        return self.net(torch.cat([x, self.time(t).to(x.dtype)], dim=-1))
