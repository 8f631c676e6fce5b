"""Regenerate the table of docs/ERRORS.md from the bad inputs that tests/test_cli.py checks.

    python scripts/errors_table.py        # rewrites the table in docs/ERRORS.md

Every row is run for real (as the test does) and its one-line message is copied, with the
scratch folder shown as DIR.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_cli import BAD, _bad_files  # noqa: E402

from bezier_distill.cli import main  # noqa: E402


def rows() -> list[str]:
    out = []
    for argv, _ in BAD:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            _bad_files(tmp_path)
            args = [a.format(tmp=tmp) for a in argv]
            if "--out" not in args and args[0] in ("train", "demo", "distill"):
                args += ["--out", str(tmp_path / "out")]
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main(args)
        message = err.getvalue().strip().replace(tmp, "DIR").replace(str(ROOT / "src") + "/", "")
        message = message.split(": error: ", 1)[-1]
        shown = "bezier-distill " + " ".join(argv).replace("{tmp}", "DIR")
        escaped = message.replace("|", "\\|")
        out.append(f"| `{shown}` | {code} | {escaped} |")
    return out


def main_() -> None:
    doc = ROOT / "docs" / "ERRORS.md"
    lines = doc.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("| `"))
    last = max(i for i, line in enumerate(lines) if line.startswith("| `"))
    doc.write_text("\n".join(lines[:first] + rows() + lines[last + 1 :]) + "\n")
    print(f"{doc}: {len(BAD)} rows")


if __name__ == "__main__":
    main_()
