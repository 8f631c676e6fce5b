"""Time-conditioned UNet velocity model for images ``(C, H, W)``.

The model takes and returns flat ``(B, C*H*W)`` tensors (or ``(B, C, H, W)``), so couplings,
objectives and solvers treat images as any other vector data.

Levels: one per entry of ``channels``; each holds ``blocks`` residual blocks (GroupNorm,
SiLU, 3x3 convolutions) and all but the last end in a stride-2 convolution. The time
embedding conditions each block by a scale and shift applied *after* its second group norm
(``h = norm(h) * (1 + scale(t)) + shift(t)``, as in the improved-DDPM / ADM UNets), so no
normalisation can remove it, whatever the width and group count: a per-channel constant added
before a group norm with one channel per group would be subtracted out with the group mean.
With ``interval=True`` the model takes a second time ``s`` (``forward(x, t, s)``, MeanFlow's
average velocity over ``[t, s]``): the embedding of the duration ``s - t`` is added to the
time embedding (``s`` defaults to ``t``, the instantaneous velocity).

The decoder mirrors the encoder with skip connections and nearest-neighbour upsampling to the
skip's size (so odd sizes such as 7 x 7 work).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..capabilities import VelocityModel
from .embeddings import SinusoidalTime, interval_length


def _groups(ch: int) -> int:
    return next(g for g in (8, 4, 2, 1) if ch % g == 0)


class ResBlock(nn.Module):
    """Residual block whose second group norm is modulated by the time: scale and shift per channel."""

    def __init__(self, cin: int, cout: int, tdim: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(_groups(cin), cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(tdim, 2 * cout)
        self.norm2, self.conv2 = nn.GroupNorm(_groups(cout), cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.time(temb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return h + self.skip(x)


class UNetVelocity(VelocityModel):
    """``v(x, t)`` for images of ``shape = (C, H, W)``; ``x`` flat ``(B, C*H*W)`` or ``(B, C, H, W)``."""

    kind = "unet"

    def __init__(
        self,
        shape: list[int] | tuple[int, ...],
        channels: list[int] | tuple[int, ...] = (32, 64),
        blocks: int = 1,
        time_dim: int = 128,
        time_freq: float = 16.0,
        interval: bool = False,
    ) -> None:
        super().__init__()
        shape, channels = [int(s) for s in shape], [int(c) for c in channels]
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"UNet shape must be (C, H, W) of positive sizes, got {shape}")
        if not channels or min(channels) < 1:
            raise ValueError(f"UNet channels must be positive widths, got {channels}")
        if not isinstance(blocks, int) or blocks < 1:
            raise ValueError(f"UNet blocks must be a positive integer, got {blocks!r}")
        self.config: dict[str, Any] = {
            "shape": shape,
            "channels": channels,
            "blocks": blocks,
            "time_dim": time_dim,
            "time_freq": time_freq,
            "interval": bool(interval),
        }
        c_in = shape[0]
        self.interval = bool(interval)
        self.time = nn.Sequential(
            SinusoidalTime(time_dim, time_freq), nn.Linear(time_dim, time_dim), nn.SiLU()
        )
        self.duration = (
            nn.Sequential(SinusoidalTime(time_dim, time_freq), nn.Linear(time_dim, time_dim), nn.SiLU())
            if interval
            else None
        )
        self.stem = nn.Conv2d(c_in, channels[0], 3, padding=1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        skips, ch = [], channels[0]
        for i, width in enumerate(channels):
            level = nn.ModuleList()
            for _ in range(blocks):
                level.append(ResBlock(ch, width, time_dim))
                ch = width
                skips.append(ch)
            self.down.append(level)
            last = i == len(channels) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(ch, ch, 3, stride=2, padding=1))
        self.mid = ResBlock(ch, ch, time_dim)
        self.up = nn.ModuleList()
        for width in reversed(channels):
            level = nn.ModuleList()
            for _ in range(blocks):
                level.append(ResBlock(ch + skips.pop(), width, time_dim))
                ch = width
            self.up.append(level)
        self.out = nn.Sequential(nn.GroupNorm(_groups(ch), ch), nn.SiLU(), nn.Conv2d(ch, c_in, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    @property
    def data_shape(self) -> tuple[int, ...]:
        c, h, w = self.config["shape"]
        return (c * h * w,)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.config["shape"])

    def forward(self, x: Tensor, t: Tensor, s: Tensor | None = None) -> Tensor:
        flat = x.dim() == 2
        h = x.reshape(x.shape[0], *self.config["shape"]) if flat else x
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        temb = self.time(t.to(h.dtype))
        if self.duration is not None:
            temb = temb + self.duration(interval_length(t, s).to(h.dtype))
        elif s is not None:
            raise TypeError("this model has one time input; build it with interval=True for two")
        h = self.stem(h)
        skips = []
        for level, down in zip(self.down, self.downsample):
            for block in level:
                h = block(h, temb)
                skips.append(h)
            h = down(h)
        h = self.mid(h, temb)
        for level in self.up:
            for block in level:
                skip = skips.pop()
                if h.shape[-2:] != skip.shape[-2:]:
                    h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
                h = block(torch.cat([h, skip], dim=1), temb)
        out = self.out(h)
        return out.reshape(x.shape) if flat else out
