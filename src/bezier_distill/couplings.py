"""Couplings as control points: in memory, and stored once as shards with their provenance.

* :func:`generate_coupling` writes a *stored coupling* once: for every source
  draw ``z0`` a maker (reflow's teacher ODE, or a teacher ensemble's Bezier
  control points) produces ``z1`` and optional interior guides. Shards are
  safetensors files plus ``manifest.json`` with the provenance (teachers and
  their hashes, solvers, mean NFE, seed, checksums). Shard ``i`` depends on
  ``(seed, i)`` alone, so generation resumes shard by shard after a crash and
  any shard can be regenerated and checked.
* :class:`Coupling` holds control points ``(n + 1, N, *D)`` in memory (:func:`sample_coupling`
  makes one); :class:`CouplingDataset` loads and verifies a stored coupling. Both draw batches:
  pairs ``(z0, z1)`` or control points.

A reflow pair folder is a stored coupling of degree 1. The online pairings of a 1-RF
(independent, minibatch OT, class, given pairs) are :mod:`bezier_distill.pairings`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import Tensor
from tqdm.auto import tqdm

from . import distributed
from .errors import BadInput
from .models import load_model_dir
from .seeding import digest, stream
from .solvers import on_model_call
from .storage import atomic_write_bytes, atomic_write_json, check_fields, read_json, sha256_file

MANIFEST = "manifest.json"


FORMAT_VERSION = 1


# maker(z0) -> (tensors with "z1" and, for degree > 1, "guides" (B, n - 1, *D), teacher NFE)
Maker = Callable[[Tensor], tuple[dict[str, Tensor], int]]


def shard_name(index: int) -> str:
    return f"shard_{index:05d}.safetensors"


def _num_shards(identity: dict) -> int:
    return -(-identity["n_pairs"] // identity["shard_size"])


def _shard_rows(identity: dict, index: int) -> int:
    return min(identity["shard_size"], identity["n_pairs"] - index * identity["shard_size"])


# What determines a coupling's contents besides its seed and teachers (the identity's other keys).
_MADE_BY = ("source", "n_pairs", "shard_size", "degree", "guides", "guide_as", "end_teacher")


def shard_stream(identity: dict) -> str:
    """The purpose name of a coupling's source draws: ``shard/<digest>`` of what makes it.

    The digest covers the source, sizes, degree, guides and the teachers' weights (by SHA-256)
    and solvers, so two couplings with the same seed (pairs of the 1-RF and of the 2-RF, pairs
    and guides) draw different ``z0``, and none draws what evaluation or training draws.
    """
    what = {k: identity.get(k) for k in _MADE_BY}
    what["teachers"] = [
        {"sha256": t.get("sha256"), "solver": t.get("solver")} for t in identity.get("teachers", [])
    ]
    return f"shard/{digest(what)}"


def _make_shard(maker: Maker, source, manifest: dict, index: int, device: str) -> tuple[bytes, int]:
    g = stream(shard_stream(manifest), manifest["seed"], index)
    z0 = source.sample(_shard_rows(manifest, index), g)
    tensors, nfe = maker(z0.to(device))  # a data-anchored maker returns its own "z0"
    tensors = {"z0": z0, **{k: v.cpu().contiguous() for k, v in tensors.items()}}
    # No safetensors metadata: its key order is not stable across processes, and checksums must be.
    return save(tensors), nfe


_MANIFEST_FIELDS = {
    "complete": bool,
    "shards": dict,
    "teachers": list,
    "end_teacher": int,
    "degree": int,
    "n_pairs": int,
    "shard_size": int,
    "seed": int,
    "data_shape": list,
}


_SHARD_FIELDS = {"file": str, "sha256": str, "rows": int, "nfe": (int, float)}


_TEACHER_FIELDS = {"path": str, "sha256": str}


def read_manifest(folder: str | Path) -> dict:
    """The manifest of a stored coupling, schema-checked (one line naming the file and the field).

    Every shard entry names a plain file inside ``folder`` (no ``..``, no absolute path, no
    link leading out), and ``end_teacher`` indexes ``teachers``.
    """
    folder = Path(folder)
    path = folder / MANIFEST
    where = f"coupling manifest {path}"
    optional = ("end_teacher", "degree", "n_pairs", "shard_size", "seed", "data_shape")
    manifest = check_fields(
        read_json(path, what="coupling manifest"), _MANIFEST_FIELDS, where, optional=optional
    )
    if not manifest["teachers"]:
        raise BadInput(f"{where}: field 'teachers' is empty")
    for i, teacher in enumerate(manifest["teachers"]):
        check_fields(teacher, _TEACHER_FIELDS, f"{where}: teachers[{i}]")
    end = manifest.get("end_teacher", 0)
    if not 0 <= end < len(manifest["teachers"]):
        raise BadInput(
            f"{where}: field 'end_teacher' is {end}, but there are {len(manifest['teachers'])} teachers"
        )
    for key, entry in manifest["shards"].items():
        check_fields(entry, _SHARD_FIELDS, f"{where}: shards[{key!r}]")
        if not key.isdigit():
            raise BadInput(f"{where}: shard key {key!r} is not a shard index")
        _shard_path(folder, entry["file"], where)
    return manifest


def end_teacher_entry(manifest: dict) -> dict:
    """The manifest's entry (``path``, ``sha256``, ...) of the teacher whose ODE solution is ``z1``."""
    return manifest["teachers"][manifest.get("end_teacher", 0)]


def _shard_path(folder: Path, name: str, where: str) -> Path:
    path = folder / name
    real_folder = Path(os.path.realpath(folder))
    if (
        Path(name).name != name
        or name in ("", ".", "..")
        or Path(os.path.realpath(path)).parent != real_folder
    ):
        raise BadInput(f"{where}: shard file {name!r} is not a file inside {folder}")
    return path


def _valid_shards(folder: Path, shards: dict) -> dict:
    return {
        k: v
        for k, v in shards.items()
        if (folder / v["file"]).is_file() and sha256_file(folder / v["file"]) == v["sha256"]
    }


def generate_coupling(
    maker: Maker,
    source,
    out_dir: str | Path,
    identity: dict,
    *,
    device: str = "cpu",
    progress: bool = True,
    on_shard: Callable[[int], None] | None = None,
) -> dict:
    """Write a stored coupling into ``out_dir``; return its manifest.

    ``identity`` holds everything that determines the contents (``n_pairs``,
    ``shard_size``, ``seed``, ``source``, ``degree``, the teachers...). Shards
    already listed in an existing manifest with the same identity and a
    matching checksum are kept; the others are (re)generated. ``on_shard`` is
    called with each finished shard index (tests use it to interrupt).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "kind": "pairs" if identity.get("degree", 1) == 1 else "guided",
        "format_version": FORMAT_VERSION,
        **identity,
        "stream": shard_stream(identity),
        "num_shards": _num_shards(identity),
        "data_shape": [source.dim],
        "complete": False,
        "mean_nfe": None,
        "seconds": 0.0,
        "shards": {},
    }
    if (out_dir / MANIFEST).is_file():
        old = read_manifest(out_dir)
        differs = [k for k, v in identity.items() if old.get(k) != v]
        if differs:
            raise BadInput(
                f"coupling folder {out_dir} was made with other settings ({', '.join(differs)}); "
                "use --overwrite or another --out"
            )
        manifest["seconds"] = old.get("seconds", 0.0)
        manifest["shards"] = _valid_shards(out_dir, old.get("shards", {}))
    # Under torchrun rank r makes the shards i with i % world == r; rank 0 keeps the manifest.
    main, rank, world = distributed.is_main(), distributed.rank(), distributed.world()
    todo = [
        i for i in range(manifest["num_shards"]) if str(i) not in manifest["shards"] and i % world == rank
    ]
    bar = tqdm(
        total=identity["n_pairs"],
        initial=sum(int(e["rows"]) for e in manifest["shards"].values()),
        unit="row",
        desc=manifest["kind"],
        disable=None if (progress and distributed.is_main()) else True,
        dynamic_ncols=True,
        leave=False,
    )
    seconds_before, t_start = manifest["seconds"], time.perf_counter()
    for index in todo:
        where = f"shard {index + 1} of {manifest['num_shards']}"
        shown = on_model_call(
            lambda t, where=where: bar.set_postfix_str(f"{where}: ODE at t = {min(t, 1.0):.2f}")
        )
        with shown if not bar.disable else contextlib.nullcontext():  # the ODE's progress in the shard
            data, nfe = _make_shard(maker, source, manifest, index, device)
        atomic_write_bytes(out_dir / shard_name(index), data)
        manifest["shards"][str(index)] = {
            "file": shard_name(index),
            "rows": _shard_rows(identity, index),
            "nfe": nfe,
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        manifest["seconds"] = round(seconds_before + time.perf_counter() - t_start, 3)
        if main:
            atomic_write_json(out_dir / MANIFEST, manifest)
        bar.update(_shard_rows(identity, index))
        if on_shard is not None:
            on_shard(index)
    bar.close()
    for shards in distributed.gather(manifest["shards"]):
        manifest["shards"].update(shards)
    manifest["shards"] = dict(sorted(manifest["shards"].items(), key=lambda kv: int(kv[0])))
    nfes = [s["nfe"] for s in manifest["shards"].values()]
    manifest["mean_nfe"] = sum(nfes) / len(nfes)
    manifest["complete"] = True
    if main:
        atomic_write_json(out_dir / MANIFEST, manifest)
    distributed.barrier()
    return manifest


def regenerate_shard(maker: Maker, source, folder: str | Path, index: int) -> bool:
    """Rebuild shard ``index`` from ``(seed, index)``; say whether it matches its stored checksum."""
    manifest = read_manifest(folder)
    data, _ = _make_shard(maker, source, manifest, index, "cpu")
    return hashlib.sha256(data).hexdigest() == manifest["shards"][str(index)]["sha256"]


def _shard_points(tensors: dict[str, Tensor], path: Path, rows: int) -> Tensor:
    """The control points ``(n + 1, rows, *D)`` of one shard, after checking its tensors."""
    for name in ("z0", "z1"):
        if name not in tensors:
            raise BadInput(f"coupling shard {path} has no {name!r} tensor")
    z0, z1 = tensors["z0"], tensors["z1"]
    if z0.dim() < 2 or z0.shape != z1.shape or z0.shape[0] != rows:
        raise BadInput(
            f"coupling shard {path} holds z0 of shape {tuple(z0.shape)} and z1 of shape "
            f"{tuple(z1.shape)}; expected both ({rows}, *D) as its manifest entry says"
        )
    guides = tensors.get("guides", z0[:, None][:, :0])
    if guides.dim() != z0.dim() + 1 or guides.shape[0] != rows or guides.shape[2:] != z0.shape[1:]:
        raise BadInput(
            f"coupling shard {path} holds guides of shape {tuple(guides.shape)}; expected ({rows}, n - 1, "
            f"{', '.join(map(str, z0.shape[1:]))})"
        )
    return torch.cat([z0[None], guides.transpose(0, 1), z1[None]])


def _layout(points: Tensor) -> str:
    return f"rows of shape {tuple(points.shape[2:])} (degree {points.shape[0] - 1})"


def _check_against_manifest(tensors: dict[str, Tensor], points: Tensor, path: Path, manifest: dict) -> None:
    """A stored shard holds float32 rows of the data shape and degree its manifest records (a
    consistent but foreign shard is refused here, not deep in training)."""
    for name, tensor in tensors.items():
        if tensor.dtype != torch.float32:
            raise BadInput(
                f"coupling shard {path} holds {name!r} as {str(tensor.dtype).replace('torch.', '')}, "
                "but a stored coupling holds float32"
            )
    shape, degree = manifest.get("data_shape"), manifest.get("degree")
    if shape is not None and list(points.shape[2:]) != shape:
        raise BadInput(
            f"coupling shard {path} holds rows of shape {tuple(points.shape[2:])}, but its manifest "
            f"{path.parent / MANIFEST} records data of shape {tuple(shape)}"
        )
    if degree is not None and points.shape[0] - 1 != degree:
        raise BadInput(
            f"coupling shard {path} holds control points of degree {points.shape[0] - 1}, but its "
            f"manifest {path.parent / MANIFEST} records degree {degree}"
        )


class Coupling:
    """Control points ``(n + 1, N, *D)`` held in memory: ``points[0] = z0``, ``points[-1] = z1``
    and, for a guided coupling, the guides between (degree ``n``; ``n = 1`` is reflow pairs)."""

    def __init__(self, points: Tensor) -> None:
        if points.dim() < 3 or points.shape[0] < 2:
            raise BadInput(
                f"coupling points must have shape (n + 1, N, *D) with n >= 1, got {tuple(points.shape)}"
            )
        self.points = points

    @property
    def degree(self) -> int:
        return self.points.shape[0] - 1

    @property
    def data_shape(self) -> tuple[int, ...]:
        return tuple(self.points.shape[2:])

    def __len__(self) -> int:
        return self.points.shape[1]

    def sample_points(self, batch: int, generator: torch.Generator) -> Tensor:
        """Control points of ``batch`` stored samples (with replacement): ``(n + 1, batch, *D)``."""
        return self.points[:, torch.randint(0, len(self), (batch,), generator=generator)]

    def sample(self, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """A batch of ``(z0, z1)`` pairs, each ``(batch, *D)``."""
        points = self.sample_points(batch, generator)
        return points[0], points[-1]


@torch.no_grad()
def sample_coupling(maker: Maker, z0: Tensor, *, batch: int | None = None) -> Coupling:
    """A coupling made in memory from the source draws ``z0 (N, *D)`` (``batch`` rows per call of
    ``maker``, all at once by default); :func:`generate_coupling` stores one in a folder instead."""
    parts = []
    for rows in z0.split(batch or len(z0)):
        made, _ = maker(rows)
        parts.append(_shard_points({"z0": rows, **made}, Path("(in memory)"), len(rows)))
    return Coupling(torch.cat(parts, dim=1))


class CouplingDataset(Coupling):
    """A verified stored coupling held in memory.

    ``points`` has shape ``(n + 1, N, *D)``: ``points[0] = z0``, ``points[-1] = z1``
    and the interior rows are the guides (control points) of a guided coupling.
    """

    def __init__(self, folder: str | Path, *, verify: bool = True) -> None:
        folder = Path(folder)
        if not folder.is_dir():
            raise BadInput(f"coupling folder {folder} does not exist")
        self.folder = folder
        self.manifest = read_manifest(folder)
        if not self.manifest["complete"]:
            raise BadInput(
                f"coupling folder {folder} is incomplete; rerun the command that made it with --resume"
            )
        if not self.manifest["shards"]:
            raise BadInput(f"coupling manifest {folder / MANIFEST} lists no shards")
        columns: list[Tensor] = []
        for entry in self.manifest["shards"].values():
            path = folder / entry["file"]
            if not path.is_file():
                raise BadInput(f"coupling shard {path} is missing")
            if verify and sha256_file(path) != entry["sha256"]:
                raise BadInput(f"coupling shard {path} fails its checksum (corrupt or modified)")
            try:
                t = load_file(path)
            except (SafetensorError, OSError, ValueError) as e:
                raise BadInput(f"coupling shard {path} is corrupt ({e})") from None
            column = _shard_points(t, path, entry["rows"])
            if columns and _layout(column) != _layout(columns[0]):
                raise BadInput(
                    f"coupling shard {path} holds {_layout(column)}, but the shards before it "
                    f"hold {_layout(columns[0])}"
                )
            _check_against_manifest(t, column, path, self.manifest)
            columns.append(column)
        self.points = torch.cat(columns, dim=1)

    def checked_teacher(self, *, allow_changed: bool = False) -> str:
        """Folder of the end teacher, after checking its weights are the ones the coupling recorded.

        A teacher replaced or retrained since the coupling was made is refused unless
        ``allow_changed`` (``--allow-changed-teacher``).
        """
        entry = end_teacher_entry(self.manifest)
        loaded = load_model_dir(entry["path"])  # a broken teacher folder is refused either way
        if not allow_changed and loaded.sha256 != entry["sha256"]:
            raise BadInput(
                f"the teacher {entry['path']} of coupling folder {self.folder} has changed since the "
                "coupling was made (its weights' SHA-256 differs from the manifest's): remake the "
                "coupling, or pass --allow-changed-teacher to use it anyway"
            )
        return entry["path"]

    @property
    def digest(self) -> str:
        """A short hash of the coupling's contents (its shards' checksums): names its training streams."""
        return digest([entry["sha256"] for entry in self.manifest["shards"].values()])

    @property
    def end_teacher(self) -> str:
        """Folder of the model that produced ``z1`` (the default model to fine-tune from)."""
        return end_teacher_entry(self.manifest)["path"]
