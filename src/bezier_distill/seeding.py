"""Explicit randomness: every random draw comes from a stream named for its purpose.

``stream("eval source", seed)`` or ``stream("train/1-RF", seed, step)`` gives a
``torch.Generator`` whose seed is a hash of the purpose's name and the integer
keys. Two purposes therefore never share a stream, whatever the seeds, steps,
shard indices or stage counts, and a resumed run or a regenerated shard draws
exactly the numbers the uninterrupted run drew.

The purposes the project uses (a name may carry a suffix that identifies its
stage or coupling, e.g. ``train/k-RF@<digest>``):

========================  ====================================================
``init``                  weight initialisation of a new velocity model
``train/<stage>``         training batches of one stage, keyed by step
``shard/<coupling>``      the source draws of one stored coupling, keyed by shard
``eval source``           the source draws ``x0`` that samples start from
``eval renoise``          the fresh noise of the multistep consistency sampler
``eval reference``        the reference draw of the data a sample set is scored against
``noise-floor twin``      the second, independent data draw of the noise floor
``held-out split``        the fixed split of a point file into training and held-out rows
``task noise``            the fixed noise of the ``denoise`` task's inputs, keyed by split
``mixture means``         the fixed means of the built-in high-dimensional Gaussian mixtures
``teacher b``             the seed of the second 1-RF teacher of a comparison
``classifier init``       weight initialisation of a feature classifier
``classifier batches``    its training batches and augmentation
``KID subsets``           the subsets of the kernel inception distance
``fid sanity draws``      the image sets of ``scripts/fid_sanity.py``
========================  ====================================================
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def stream_seed(purpose: str, *keys: int) -> int:
    """A 63-bit seed that depends on the purpose's name and on all integer ``keys``."""
    if not isinstance(purpose, str) or not purpose:
        raise ValueError(f"a random stream needs a purpose name, got {purpose!r}")
    text = json.dumps([purpose, *[int(k) for k in keys]])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") & ((1 << 63) - 1)


def stream(purpose: str, *keys: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded by :func:`stream_seed`."""
    g = torch.Generator(device=device)
    g.manual_seed(stream_seed(purpose, *keys))
    return g


def digest(obj) -> str:
    """A short stable hash of a JSON-able object (names a coupling or stage in a purpose)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


@contextmanager
def seeded(purpose: str, *keys: int) -> Iterator[None]:
    """Run a block (e.g. weight initialisation) under a torch RNG seeded from a named stream.

    The global RNG state outside the block is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stream_seed(purpose, *keys))
        yield
