"""Atomic file writes, checksums and output-folder rules.

Every artefact (checkpoint, shard, manifest, config, report) is written to a
temporary file in the same folder, flushed to disk and renamed into place, so
a crash leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .errors import BadInput

try:
    import fcntl
except ImportError:  # not POSIX: output folders are not locked
    fcntl = None

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from e
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # ENOSPC and friends: name the file we were writing
        Path(tmp).unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror, str(path)) from e
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


def json_bytes(obj: Any) -> bytes:
    """``obj`` as indented JSON, the way every JSON artefact is written."""
    return (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode()


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically."""
    atomic_write_bytes(path, json_bytes(obj))


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


def check_fields(obj: Any, fields: dict[str, Any], where: str, *, optional: tuple[str, ...] = ()) -> dict:
    """Check that ``obj`` is a JSON object whose ``fields`` have the given types; return it.

    ``fields`` maps a name to a type or a tuple of types (``float`` accepts ints, ``int``
    never accepts booleans); names in ``optional`` may be absent. A wrong file is one
    :class:`BadInput` naming ``where`` and the field.
    """
    if not isinstance(obj, dict):
        raise BadInput(f"{where} must be a JSON object, got {_json_kind(obj)}")
    for name, types in fields.items():
        if name not in obj:
            if name in optional:
                continue
            raise BadInput(f"{where} has no {name!r} field")
        types = types if isinstance(types, tuple) else (types,)
        if not _has_type(obj[name], types):
            names = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)
            raise BadInput(f"{where}: field {name!r} must be {names}, got {_short(obj[name])}")
    return obj


_TYPE_NAMES = {
    dict: "an object",
    list: "a list",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}


def _has_type(value: Any, types: tuple) -> bool:
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int) and float in types:
        return True
    return isinstance(value, tuple(t for t in types if t is not bool))


def _json_kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), _short(value))


def _short(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (list, dict, str)) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- output folders -----------------------------------------------------------------------------

LOCK = ".lock"  # the advisory lock of an output folder; never removed (see claim_out_dir)


def _is_leftover(path: Path) -> bool:
    """A temporary file of an interrupted atomic write (never a result)."""
    return path.name.startswith(".") and path.name.endswith((".tmp", ".write-test"))


def _counts(path: Path) -> bool:
    """Whether ``path`` counts as content of an output folder (not a leftover, not the lock)."""
    return not _is_leftover(path) and path.name != LOCK


def _json_object(path: Path) -> dict | None:
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def _is_tool_record(path: Path) -> bool:
    """Whether ``path`` is a file that makes its folder this tool's: a run's ``config.json``, a
    coupling's ``manifest.json`` or a model folder's ``config.json`` (it records the weights' hash)."""
    if path.name not in ("config.json", "manifest.json") or not path.is_file():
        return False
    record = _json_object(path) or {}
    return {"out", "seed"} <= record.keys() or {"shards", "teachers"} <= record.keys() or (
        "weights_sha256" in record
    )


def made_by_us(folder: str | Path) -> bool:
    """Whether ``folder`` holds a run of this tool: a run ``config.json`` or a coupling ``manifest.json``.

    A run config is a JSON object with the ``out`` and ``seed`` every command records; a
    manifest one with ``shards`` and ``teachers``. Only such folders may be replaced by
    ``--overwrite``.
    """
    folder = Path(folder)
    run = _json_object(folder / "config.json")
    manifest = _json_object(folder / "manifest.json")
    return bool(run and {"out", "seed"} <= run.keys()) or bool(
        manifest and {"shards", "teachers"} <= manifest.keys()
    )


def _real(path: str | Path) -> Path:
    return Path(os.path.realpath(os.path.expanduser(str(path))))


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def _check_not_precious(out: Path) -> None:
    """``--overwrite`` never removes the root, the home folder or the folder we run in."""
    real = _real(out)
    if real == Path(real.anchor):
        raise BadInput(f"--overwrite refuses to remove {out}: it is the root folder")
    if _within(_real(Path.home()), real):
        raise BadInput(f"--overwrite refuses to remove {out}: it is (or holds) the home folder")
    if _within(_real(Path.cwd()), real):
        raise BadInput(f"--overwrite refuses to remove {out}: it is (or holds) the current folder")


def check_not_input(out: str | Path, inputs: dict[str, list[str]], *, beside: tuple[Path, ...] = ()) -> None:
    """Refuse an ``out`` that is, holds or lies inside an input of the same command.

    ``inputs`` maps a flag (``--model``) to the paths it names; paths that do not
    exist (a dataset name) are skipped. ``beside`` are the files written next to an output
    file (its sidecars), checked as ``out`` is.
    """
    for flag, paths in inputs.items():
        for path in paths:
            if not path or not os.path.exists(path):
                continue
            real = _real(path)
            for target in (Path(out), *beside):
                real_target = _real(target)
                named = f"--out {out}" if target == Path(out) else f"{target} (written beside --out {out})"
                if _within(real, real_target):
                    verb = "is" if real == real_target else "holds"
                    raise BadInput(
                        f"{named} {verb} the input {flag} {path}: write the output to another folder"
                    )
                if _within(real_target, real):
                    raise BadInput(
                        f"{named} lies inside the input {flag} {path}: write the output outside it"
                    )


def check_out_dir(
    out: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    inputs: dict[str, list[str]] | None = None,
) -> bool:
    """Check that ``out`` may take a run, touching nothing; return whether an earlier run is continued.

    A missing or empty folder is fine. A folder that already holds files is refused unless
    ``resume`` (it must hold a run: returns True) or ``overwrite`` (it must be a folder this
    tool made, see :func:`made_by_us`, and neither the root, the home folder nor the current
    folder). ``out`` may not be, hold or lie inside any of ``inputs``.
    """
    if resume and overwrite:
        raise BadInput("--resume and --overwrite exclude each other; pass one")
    if not str(out).strip():
        raise BadInput("--out is empty: name an output folder")
    check_not_input(out, inputs or {})
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BadInput(f"output folder {out} is an existing file")
    if overwrite:
        _check_not_precious(out)
    try:
        holds_files = out.is_dir() and any(_counts(p) for p in out.iterdir())
    except OSError as e:
        raise BadInput(f"output folder {out} cannot be read ({e.strerror})") from None
    if holds_files and not (resume or overwrite):
        raise BadInput(
            f"output folder {out} already holds files; pass --resume to continue the run "
            "it holds, --overwrite to replace it, or choose another --out"
        )
    if holds_files and overwrite and not made_by_us(out):
        raise BadInput(
            f"--overwrite only replaces a folder made by bezier-distill, and {out} holds no run "
            "config.json or coupling manifest.json: remove its files yourself or choose another --out"
        )
    if resume and not (out / "config.json").is_file():
        if holds_files:
            raise BadInput(f"output folder {out} holds no run to resume (no config.json)")
        resume = False
    return resume


def claim_out_dir(out: str | Path, *, overwrite: bool = False) -> None:
    """Create ``out``, take its lock, empty it if ``overwrite`` and check that it is writable.

    Call after :func:`check_out_dir`. The lock (``fcntl.flock`` on ``out/.lock``) is held by
    this process until :func:`release_locks` or its end; the kernel drops it when the process
    dies, so a killed run never blocks its ``--resume``. The lock file itself stays: removing
    it would let two processes lock two different files.
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock_out_dir(out)
        for entry in out.iterdir():
            if entry.name == LOCK:
                continue
            if overwrite and entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            elif overwrite or _is_leftover(entry):
                entry.unlink(missing_ok=True)
        _probe(out)
    except OSError as e:
        raise BadInput(f"output folder {out} is not writable ({e.strerror})") from None


_LOCKS: dict[str, int] = {}  # real path of a locked folder -> the open lock file


def lock_out_dir(folder: str | Path) -> None:
    """Take the advisory lock of ``folder`` for this process (again: no-op); BadInput if held elsewhere."""
    key = str(_real(folder))
    if key in _LOCKS or fcntl is None:
        return
    fd = os.open(Path(folder) / LOCK, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        holder = os.read(fd, 32).decode(errors="replace").strip()
        os.close(fd)
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise
        pid = f" (pid {holder})" if holder.isdigit() else ""
        raise BadInput(
            f"output folder {folder} is in use by another bezier-distill process{pid}; "
            "wait for it to finish or choose another --out"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _LOCKS[key] = fd


def release_locks() -> None:
    """Release every output-folder lock this process holds (the CLI calls it when a command ends)."""
    while _LOCKS:
        os.close(_LOCKS.popitem()[1])


# --- output files -------------------------------------------------------------------------------


def check_out_file(
    path: str | Path,
    suffix: str,
    *,
    overwrite: bool,
    sidecars: tuple[str, ...] = (),
    inputs: dict[str, list[str]] | None = None,
) -> Path:
    """Check that the file ``path`` (and its ``sidecars``, same name with these suffixes) may be
    written, touching nothing; return it.

    None of them may be or lie inside any of ``inputs`` (see :func:`check_not_input`), even with
    ``overwrite``. Existing files are refused unless ``overwrite``; a folder in their place is
    always refused. The nearest existing folder above ``path`` must be writable.
    """
    if not str(path).strip():
        raise BadInput(f"--out is empty: name a {suffix} file")
    path = Path(path)
    if path.suffix != suffix:
        raise BadInput(f"--out must be a {suffix} file, got {path}")
    beside = tuple(path.with_suffix(s) for s in sidecars)
    check_not_input(path, inputs or {}, beside=beside)
    for target in [path, *beside]:
        if target.is_dir():
            raise BadInput(f"{target} is a folder; --out must name a {suffix} file")
        if _is_tool_record(target):
            raise BadInput(
                f"{target} records a run, coupling or model this tool made; it is never replaced "
                "(with or without --overwrite): write the output elsewhere"
            )
        if target.exists() and not overwrite:
            raise BadInput(f"{target} already exists; pass --overwrite to replace it")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise BadInput(f"cannot create {path}: {parent} is not a folder")
    try:
        _probe(parent)
    except OSError as e:
        raise BadInput(f"cannot write {path}: {parent} is not writable ({e.strerror})") from None
    return path


def _probe(folder: Path) -> None:
    """Create and remove a hidden temporary file in ``folder`` (OSError if it cannot be written)."""
    fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe.", suffix=".write-test")
    os.close(fd)
    os.unlink(probe)


def write_out_file(path: str | Path, data: bytes) -> None:
    """Create the folders above ``path`` if needed and write ``data`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
