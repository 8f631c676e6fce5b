"""End-to-end runs of the whole chain (``pytest -m slow``)."""

import json
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow


def test_demo_runs_the_chain_and_distillation_beats_one_euler_step(tmp_path):
    out = tmp_path / "demo"
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bezier_distill.cli", "demo", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    print(f"demo took {seconds:.0f} s")
    rows = {
        (r["method"], r["nfe"] if r["nfe"] <= 2 else "ode"): r
        for r in json.loads((out / "results.json").read_text())["rows"]
    }
    assert rows[("2-RF + distill", 1)]["w2"] < rows[("1-RF", 1)]["w2"]
    assert rows[("2-RF", 1)]["w2"] < rows[("1-RF", 1)]["w2"]
    assert rows[("2-RF", "ode")]["straightness"] < rows[("1-RF", "ode")]["straightness"]
    for name in ("samples.png", "trajectories.png", "report.md"):
        assert (out / name).stat().st_size > 0
    assert "noise floor" in proc.stdout

    # Resuming a finished demo re-evaluates the same models and reproduces the table.
    again = subprocess.run(
        [sys.executable, "-m", "bezier_distill.cli", "demo", "--out", str(out), "--resume"],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr
    rerun = json.loads((out / "results.json").read_text())["rows"]
    assert [r["w2"] for r in rerun] == [r["w2"] for r in rows.values()]
