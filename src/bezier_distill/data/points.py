"""Loading user point sets (``.npy`` or ``.csv``) as an ``(N, D)`` float32 tensor.

Formats:

* ``.npy``: a NumPy array of rank 2 (``N x D``) with an integer or floating dtype,
  saved without pickling (``allow_pickle=False`` is used when loading).
* ``.csv``: comma-separated numbers, one point per line, the same number of columns on
  every line; blank lines are ignored. An optional single header row is allowed if *none*
  of its fields is a number (e.g. ``x,y``). A UTF-8 byte-order mark is accepted.

Every problem raises :class:`~bezier_distill.errors.BadInput` with a one-line message that
names the file: missing file, unreadable/corrupt file, unsupported extension, empty file
(zero rows or zero columns), wrong rank, non-numeric content, NaN/Inf values (also values
that overflow float32).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from bezier_distill.errors import BadInput

__all__ = ["POINT_EXTENSIONS", "load_points"]

POINT_EXTENSIONS: tuple[str, ...] = (".npy", ".csv")
"""File extensions :func:`load_points` accepts (matched case-insensitively)."""

_NPY_MAGIC = b"\x93NUMPY"


def load_points(path: str | Path) -> Tensor:
    """Load a point set from a ``.npy`` or ``.csv`` file.

    Args:
        path: the file; its extension (case-insensitive) selects the format.

    Returns:
        Tensor ``(N, D)`` float32 on the CPU, ``N >= 1``, ``D >= 1``, all values finite.

    Raises:
        BadInput: the file is missing, unreadable, has another extension, is empty, is not
            a 2-D ``N x D`` array, holds non-numeric values, or holds NaN/Inf.
    """
    path = Path(path)
    if not path.exists():
        raise BadInput(f"point file '{path}' does not exist")
    if not path.is_file():
        raise BadInput(f"point file '{path}' is not a regular file")
    ext = path.suffix.lower()
    if ext in POINT_EXTENSIONS and path.stat().st_size == 0:
        raise BadInput(f"point file '{path}' is empty (0 bytes)")
    if ext == ".npy":
        arr = _read_npy(path)
    elif ext == ".csv":
        arr = _read_csv(path)
    else:
        raise BadInput(
            f"point file '{path}' has unsupported extension '{path.suffix}': "
            f"use one of {', '.join(POINT_EXTENSIONS)}"
        )
    return _to_tensor(arr, path)


def _read_npy(path: Path) -> np.ndarray:
    """Read and validate dtype/rank of a ``.npy`` file; returns a 2-D numeric array."""
    try:
        with path.open("rb") as fh:
            magic = fh.read(len(_NPY_MAGIC))
    except OSError as err:
        raise BadInput(f"cannot read point file '{path}': {_one_line(err)}") from err
    if magic != _NPY_MAGIC:
        raise BadInput(f"cannot read point file '{path}': not a NumPy .npy file")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as err:  # any failure here (bad header, truncated data, pickled
        # object array) means the file cannot be used as a point set
        raise BadInput(f"cannot read point file '{path}': {_one_line(err)}") from err
    if not isinstance(arr, np.ndarray):  # defensive: np.load may return other containers
        raise BadInput(f"cannot read point file '{path}': not a single NumPy array")
    if arr.dtype.names is not None or arr.dtype.kind not in "iuf":
        raise BadInput(
            f"point file '{path}' holds non-numeric values (dtype {arr.dtype}); "
            "expected an integer or float array"
        )
    if arr.ndim != 2:
        raise BadInput(
            f"point file '{path}' holds an array of shape {tuple(arr.shape)}; expected a 2-D array N x D"
        )
    if arr.shape[0] == 0:
        raise BadInput(f"point file '{path}' is empty (0 rows)")
    return arr


def _read_csv(path: Path) -> np.ndarray:
    """Parse a ``.csv`` file of numbers (optional non-numeric header row) to a 2-D array."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"cannot read point file '{path}': {_one_line(err)}") from err
    lines = [(i + 1, line) for i, line in enumerate(text.splitlines()) if line.strip()]
    if not lines:
        raise BadInput(f"point file '{path}' is empty (0 rows)")

    first_fields = [f.strip() for f in lines[0][1].split(",")]
    if not any(_is_number(f) for f in first_fields):
        lines = lines[1:]  # header row of names
        if not lines:
            raise BadInput(f"point file '{path}' is empty (a header row but 0 data rows)")

    n_cols = None
    rows: list[list[float]] = []
    for lineno, line in lines:
        fields = line.split(",")
        if n_cols is None:
            n_cols = len(fields)
        elif len(fields) != n_cols:
            raise BadInput(f"point file '{path}' line {lineno} has {len(fields)} columns, expected {n_cols}")
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            bad = next(f.strip() for f in fields if not _is_number(f))
            raise BadInput(f"point file '{path}' line {lineno} holds a non-numeric value {bad!r}") from None
    return np.asarray(rows, dtype=np.float64)


def _to_tensor(arr: np.ndarray, path: Path) -> Tensor:
    """Convert a validated 2-D array to float32 and reject empty/non-finite data."""
    if arr.shape[1] == 0:
        raise BadInput(f"point file '{path}' is empty (0 columns)")
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(arr, dtype=np.float32)
    bad_rows = int((~np.isfinite(out)).any(axis=1).sum())
    if bad_rows:
        raise BadInput(
            f"point file '{path}' has NaN or Inf (or values beyond float32 range) in "
            f"{bad_rows} of {out.shape[0]} rows"
        )
    return torch.from_numpy(out)


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _one_line(err: BaseException) -> str:
    """An exception's message squeezed onto one line."""
    msg = " ".join(str(err).split())
    return msg or type(err).__name__
