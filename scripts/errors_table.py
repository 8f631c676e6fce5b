"""Regenerate the tables of docs/ERRORS.md from the cases the tests check.

    python scripts/errors_table.py        # rewrites both tables in docs/ERRORS.md

Every row is run for real (as the tests do) and its one-line message is copied, with the
scratch folder shown as DIR: the rows of ``BAD`` (tests/test_cli.py) each in a fresh folder,
the rows of ``SAFETY`` (tests/test_safety.py) from inside one folder that ``_world`` fills.
A table is the block of ``| `...` |`` rows after a ``<!-- rows: NAME -->`` line.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_cli import BAD, _bad_files  # noqa: E402
from test_safety import SAFETY, _world, shown  # noqa: E402

from bezier_distill.cli import main  # noqa: E402


def _row(argv: list[str], args: list[str], scratch: str) -> str:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    message = err.getvalue().strip().replace(scratch, "DIR").replace(str(ROOT / "src") + "/", "")
    message = message.split(": error: ", 1)[-1].replace("|", "\\|")
    return f"| `bezier-distill {shown(argv).replace('{tmp}', 'DIR')}` | {code} | {message} |"


def bad_rows() -> list[str]:
    out = []
    for argv, _ in BAD:
        with tempfile.TemporaryDirectory() as tmp:
            _bad_files(Path(tmp))
            args = [a.format(tmp=tmp) for a in argv]
            if "--out" not in args and args[0] in ("train", "demo", "distill"):
                args += ["--out", str(Path(tmp) / "out")]
            out.append(_row(argv, args, tmp))
    return out


def safety_rows() -> list[str]:
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp).resolve()
        _world(world)
        os.chdir(world)
        try:
            return [_row(argv, list(argv), str(world)) for argv, _ in SAFETY]
        finally:
            os.chdir(here)


def replace_rows(lines: list[str], name: str, rows: list[str]) -> list[str]:
    marker = lines.index(f"<!-- rows: {name} -->")
    first = marker + 3  # the marker, the header, the separator
    last = first
    while last < len(lines) and lines[last].startswith("| `"):
        last += 1
    return lines[:first] + rows + lines[last:]


def main_() -> None:
    doc = ROOT / "docs" / "ERRORS.md"
    lines = doc.read_text().splitlines()
    lines = replace_rows(lines, "BAD", bad_rows())
    lines = replace_rows(lines, "SAFETY", safety_rows())
    doc.write_text("\n".join(lines) + "\n")
    print(f"{doc}: {len(BAD)} + {len(SAFETY)} rows")


if __name__ == "__main__":
    main_()
