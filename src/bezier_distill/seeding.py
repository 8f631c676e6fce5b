"""Explicit randomness: every draw takes a generator derived from integer keys.

``derive_seed(seed, step)`` or ``derive_seed(seed, shard)`` gives an
independent stream per training step or per shard, so that a resumed run or a
regenerated shard draws exactly the numbers the uninterrupted run drew.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def derive_seed(*keys: int) -> int:
    """A 63-bit seed that depends on all ``keys`` (non-negative integers)."""
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


def make_generator(*keys: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded by :func:`derive_seed`."""
    g = torch.Generator(device=device)
    g.manual_seed(derive_seed(*keys))
    return g


@contextmanager
def seeded(*keys: int) -> Iterator[None]:
    """Run a block (e.g. weight initialisation) under a torch RNG seeded from ``keys``.

    The global RNG state outside the block is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(*keys))
        yield
