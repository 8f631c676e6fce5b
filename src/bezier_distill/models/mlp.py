"""Time-conditioned MLP velocity model for vector data ``(B, D)``."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..capabilities import VelocityModel
from .embeddings import SinusoidalTime, interval_length


class MLPVelocity(VelocityModel):
    """``v(x, t)``: ``x (B, D)``, ``t (B,)`` in [0, 1] -> ``(B, D)``.

    ``layers`` hidden layers of width ``hidden`` with SiLU; the time embedding
    is concatenated to the input. With ``interval=True`` the model takes a second time ``s``
    (``forward(x, t, s)``, the average velocity over ``[t, s]`` of MeanFlow) whose duration
    ``s - t`` is embedded and concatenated too; ``s`` defaults to ``t`` (the instantaneous
    velocity), so solvers use it as any velocity model.
    """

    kind = "mlp"

    def __init__(
        self,
        dim: int,
        hidden: int = 256,
        layers: int = 3,
        time_dim: int = 64,
        time_freq: float = 16.0,
        interval: bool = False,
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
            "interval": bool(interval),
        }
        self.interval = bool(interval)
        self.time = SinusoidalTime(time_dim, time_freq)
        self.duration = SinusoidalTime(time_dim, time_freq) if interval else None
        widths = [dim + time_dim * (2 if interval else 1)] + [hidden] * layers
        blocks: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            blocks += [nn.Linear(a, b), nn.SiLU()]
        blocks.append(nn.Linear(widths[-1], dim))
        self.net = nn.Sequential(*blocks)

    @property
    def data_shape(self) -> tuple[int, ...]:
        return (self.config["dim"],)

    def forward(self, x: Tensor, t: Tensor, s: Tensor | None = None) -> Tensor:
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        parts = [x, self.time(t).to(x.dtype)]
        if self.duration is not None:
            parts.append(self.duration(interval_length(t, s)).to(x.dtype))
        elif s is not None:
            raise TypeError("this model has one time input; build it with interval=True for two")
        return self.net(torch.cat(parts, dim=-1))
