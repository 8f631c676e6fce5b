"""Memory and disk: sizes refused up front, and failures of the machine as one-line messages.

* :func:`check_fits` refuses a size whose *lower bound* of memory already exceeds the
  device's total memory (certain to fail, so it is refused before anything is written).
* :func:`explain` turns what the machine refuses while a command runs (out of memory; a
  full, read-only or forbidden disk) into one line saying what to do; the CLI prints it
  and exits with code 2. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import os
import re

import torch

from .errors import BadInput


def total_memory(device: str = "cpu") -> int | None:
    """Bytes of memory of ``device`` (the machine's RAM for the CPU); None when unknown."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_properties(torch.device(device)).total_memory
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _size(nbytes: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if nbytes < 1000 or unit == "PB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    raise AssertionError("unreachable")


def check_fits(nbytes: float, what: str, lower: str, device: str = "cpu") -> None:
    """Refuse ``what`` when it needs at least ``nbytes`` and ``device`` has less memory in all.

    ``lower`` names the setting to lower (``--batch-size``).
    """
    total = total_memory(device)
    if total is not None and nbytes > total:
        raise BadInput(
            f"{what} needs at least {_size(nbytes)}, but the {device} memory is {_size(total)}: lower {lower}"
        )


def is_out_of_memory(exc: BaseException) -> bool:
    """An allocation failure: CUDA or CPU allocator, or Python's MemoryError."""
    if isinstance(exc, torch.OutOfMemoryError | MemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)


# errno -> what to do, for the failures of the disk that the user can fix.
_DISK = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EISDIR: "is a folder",
    errno.ENOTDIR: "not a folder",
    errno.ENAMETOOLONG: "file name too long",
}


def explain(exc: BaseException, *, lower: str, resumable: bool) -> str | None:
    """One line for a failure of the machine (or None: a bug, which keeps its traceback).

    ``lower`` names the settings to lower when memory runs out; ``resumable`` says whether
    the command can continue with ``--resume`` after a full disk.
    """
    if is_out_of_memory(exc):
        m = re.search(r"(?:tried to allocate|Tried to allocate) ([0-9.]+ ?[A-Za-z]+)", str(exc))
        tried = f" (tried to allocate {m[1]})" if m else ""
        return f"out of memory{tried}: lower {lower}"
    if isinstance(exc, OSError) and exc.errno in _DISK:
        where = f" while writing {exc.filename}" if exc.filename else ""
        again = "rerun with --resume to continue" if resumable else "rerun"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"{_DISK[exc.errno]}{where}: free some space, then {again}"
        name = f" {exc.filename}" if exc.filename else ""
        return f"cannot write{name} ({_DISK[exc.errno]}): choose a writable --out"
    return None
