"""Couplings: how ``(x0, x1)`` training pairs are drawn.

* :class:`IndependentCoupling` pairs a source draw with an independent data
  draw (1-rectified flow).
* :func:`generate_pairs` is reflow's coupling generator: ``z1 = ODE(teacher, z0)``
  written to disk once as safetensors shards plus ``manifest.json`` with the
  provenance (teacher folder and hash, solver, mean NFE, seed, checksums).
  Shard ``i`` depends on ``(seed, i)`` alone, so generation resumes shard by
  shard after a crash and any shard can be regenerated and checked.
* :class:`PairDataset` loads and verifies a pair folder and draws batches.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import Tensor, nn
from tqdm.auto import tqdm

from .errors import BadInput
from .seeding import make_generator
from .solvers import SolverSpec, solve
from .storage import atomic_write_bytes, atomic_write_json, read_json, sha256_file

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


class IndependentCoupling:
    """``x0 ~ source`` and ``x1 ~ target`` drawn independently."""

    def __init__(self, source, target) -> None:
        if source.dim != target.dim:
            raise BadInput(
                f"source {source.name!r} has dimension {source.dim} but target "
                f"{target.name!r} has dimension {target.dim}"
            )
        self.source, self.target = source, target

    def sample(self, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        return self.source.sample(batch, generator), self.target.sample(batch, generator)


def shard_name(index: int) -> str:
    return f"shard_{index:05d}.safetensors"


@dataclass(frozen=True)
class PairSpec:
    """Everything that determines a pair folder's contents."""

    teacher: str
    teacher_sha256: str
    source: str
    solver: dict
    n_pairs: int
    shard_size: int
    seed: int

    @property
    def num_shards(self) -> int:
        return -(-self.n_pairs // self.shard_size)

    def shard_rows(self, index: int) -> int:
        return min(self.shard_size, self.n_pairs - index * self.shard_size)


def _make_shard(teacher: nn.Module, source, spec: PairSpec, index: int, device: str):
    generator = make_generator(spec.seed, index)
    z0 = source.sample(spec.shard_rows(index), generator).to(device)
    result = solve(teacher, z0, SolverSpec(**spec.solver))
    tensors = {"z0": z0.cpu().contiguous(), "z1": result.x.cpu().contiguous()}
    # No safetensors metadata: its key order is not stable across processes, and checksums must be.
    return save(tensors), result.nfe


def generate_pairs(
    teacher: nn.Module,
    source,
    out_dir: str | Path,
    spec: PairSpec,
    *,
    device: str = "cpu",
    progress: bool = True,
    on_shard: Callable[[int], None] | None = None,
) -> dict:
    """Write ``spec.n_pairs`` pairs ``(z0, teacher ODE(z0))`` into ``out_dir``; return the manifest.

    Shards already listed in an existing manifest with matching settings and a
    matching checksum are kept; the others are (re)generated. ``on_shard`` is
    called with each finished shard index (tests use it to interrupt).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "kind": "pairs",
        "format_version": FORMAT_VERSION,
        **asdict(spec),
        "num_shards": spec.num_shards,
        "data_shape": None,
        "complete": False,
        "mean_nfe": None,
        "shards": {},
        "seconds": 0.0,
    }
    if (out_dir / MANIFEST).is_file():
        old = read_json(out_dir / MANIFEST, what="pair manifest")
        differs = [k for k, v in asdict(spec).items() if old.get(k) != v]
        if differs:
            raise BadInput(
                f"pair folder {out_dir} was made with other settings ({', '.join(differs)}); "
                "use --overwrite or another --out"
            )
        manifest.update({k: old[k] for k in ("shards", "seconds", "data_shape") if k in old})
        manifest["shards"] = {
            k: v
            for k, v in manifest["shards"].items()
            if (out_dir / v["file"]).is_file() and sha256_file(out_dir / v["file"]) == v["sha256"]
        }
    teacher = teacher.to(device).eval()
    todo = [i for i in range(spec.num_shards) if str(i) not in manifest["shards"]]
    bar = tqdm(
        total=spec.num_shards,
        initial=spec.num_shards - len(todo),
        desc="pairs",
        disable=None if progress else True,
        dynamic_ncols=True,
        leave=False,
    )
    t_prev = manifest["seconds"]
    t_start = time.perf_counter()
    for index in todo:
        data, nfe = _make_shard(teacher, source, spec, index, device)
        atomic_write_bytes(out_dir / shard_name(index), data)
        manifest["shards"][str(index)] = {
            "file": shard_name(index),
            "rows": spec.shard_rows(index),
            "nfe": nfe,
            "sha256": sha256_file(out_dir / shard_name(index)),
        }
        manifest["data_shape"] = [source.dim]
        manifest["seconds"] = round(t_prev + time.perf_counter() - t_start, 3)
        atomic_write_json(out_dir / MANIFEST, manifest)
        bar.update(1)
        if on_shard is not None:
            on_shard(index)
    bar.close()
    manifest["shards"] = dict(sorted(manifest["shards"].items(), key=lambda kv: int(kv[0])))
    nfes = [s["nfe"] for s in manifest["shards"].values()]
    manifest["mean_nfe"] = sum(nfes) / len(nfes)
    manifest["complete"] = True
    atomic_write_json(out_dir / MANIFEST, manifest)
    return manifest


def regenerate_shard(teacher: nn.Module, source, folder: str | Path, index: int) -> bool:
    """Rebuild shard ``index`` from ``(seed, index)`` and say whether it matches the stored checksum."""
    manifest = read_json(Path(folder) / MANIFEST, what="pair manifest")
    spec = PairSpec(**{k: manifest[k] for k in PairSpec.__dataclass_fields__})
    data, _ = _make_shard(teacher, source, spec, index, "cpu")
    return hashlib.sha256(data).hexdigest() == manifest["shards"][str(index)]["sha256"]


class PairDataset:
    """A verified pair folder held in memory: ``z0, z1`` of shape ``(N, *D)``."""

    def __init__(self, folder: str | Path, *, verify: bool = True) -> None:
        folder = Path(folder)
        if not folder.is_dir():
            raise BadInput(f"pair folder {folder} does not exist")
        self.folder = folder
        self.manifest = read_json(folder / MANIFEST, what="pair manifest")
        if not self.manifest.get("complete"):
            raise BadInput(f"pair folder {folder} is incomplete; rerun its reflow command with --resume")
        z0s, z1s = [], []
        for entry in self.manifest["shards"].values():
            path = folder / entry["file"]
            if not path.is_file():
                raise BadInput(f"pair shard {path} is missing")
            if verify and sha256_file(path) != entry["sha256"]:
                raise BadInput(f"pair shard {path} fails its checksum (corrupt or modified)")
            try:
                tensors = load_file(path)
            except (SafetensorError, OSError, ValueError) as e:
                raise BadInput(f"pair shard {path} is corrupt ({e})") from None
            z0s.append(tensors["z0"])
            z1s.append(tensors["z1"])
        self.z0, self.z1 = torch.cat(z0s), torch.cat(z1s)

    @property
    def data_shape(self) -> tuple[int, ...]:
        return tuple(self.z0.shape[1:])

    def __len__(self) -> int:
        return self.z0.shape[0]

    def sample(self, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """A batch of stored pairs drawn with replacement: ``(z0, z1)`` each ``(batch, *D)``."""
        idx = torch.randint(0, len(self), (batch,), generator=generator)
        return self.z0[idx], self.z1[idx]
