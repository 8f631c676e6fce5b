"""Atomic file writes, checksums and output-folder rules.

Every artefact (checkpoint, shard, manifest, config, report) is written to a
temporary file in the same folder, flushed to disk and renamed into place, so
a crash leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .errors import BadInput

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def read_json(path: str | Path, *, what: str = "file") -> Any:
    """Read a JSON file, turning a missing or corrupt file into :class:`BadInput`."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{what} {path} does not exist")
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInput(f"{what} {path} is not valid JSON ({e})") from None


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_leftover(path: Path) -> bool:
    """A temporary file of an interrupted atomic write (never a result)."""
    return path.name.startswith(".") and path.name.endswith((".tmp", ".write-test"))


def prepare_out_dir(out: str | Path, *, resume: bool = False, overwrite: bool = False) -> bool:
    """Make ``out`` ready for a run and say whether an earlier run is continued.

    An empty or missing folder is created. A folder that already holds files is
    refused unless ``resume`` (continue the run it holds: returns True) or
    ``overwrite`` (its contents are removed first). An unwritable location is
    refused. Nothing existing is touched when the folder is refused.
    """
    if resume and overwrite:
        raise BadInput("--resume and --overwrite exclude each other; pass one")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BadInput(f"output folder {out} is an existing file")
    holds_files = out.is_dir() and any(not _is_leftover(p) for p in out.iterdir())
    if holds_files and not (resume or overwrite):
        raise BadInput(
            f"output folder {out} already holds files; pass --resume to continue the run "
            "it holds, --overwrite to replace it, or choose another --out"
        )
    if resume and not (out / "config.json").is_file():
        if holds_files:
            raise BadInput(f"output folder {out} holds no run to resume (no config.json)")
        resume = False
    try:
        if holds_files and overwrite:
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
        for leftover in filter(_is_leftover, out.iterdir()):
            leftover.unlink(missing_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise BadInput(f"output folder {out} is not writable ({e.strerror})") from None
    return resume
