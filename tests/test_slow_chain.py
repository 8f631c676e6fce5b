"""End-to-end runs of the whole chain (``pytest -m slow``)."""

import json
import subprocess
import sys
import time

import pytest
from conftest import need

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


def test_compare_quick_writes_report_csv_and_plots(tmp_path):
    out = tmp_path / "compare"
    proc = subprocess.run(
        [sys.executable, "-m", "bezier_distill.cli", "compare", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    import csv

    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    methods = {r["method"] for r in rows}
    for k in (1, 2, 3):
        assert f"{k}-RF" in methods and f"{k}-RF + distill" in methods
    for n in (2, 3):
        for teachers in ("1-RF", "1-RF x2", "1-RF+2-RF"):
            for objective in ("end", "tangent", "chord"):
                assert f"Bezier n={n} [{teachers}] {objective}" in methods
    assert {r["seed"] for r in rows} == {"0", "1"} and {r["dataset"] for r in rows} == {"8gaussians", "moons"}
    assert {r["nfe_budget"] for r in rows} == {"1", "2", "ODE"}
    for method in ("2-RF++", "OT-CFM", "OT-CFM + distill", "CD", "MeanFlow"):
        budgets = {r["nfe_budget"] for r in rows if r["method"] == method}
        assert {"1", "2"} <= budgets, method
    spent = {r["method"]: float(r["teacher_evals"]) for r in rows if r["seed"] == "0"}
    assert spent["CD"] == 2 * 150 * 128 and spent["MeanFlow"] == 0 and spent["2-RF++"] == spent["2-RF"] > 0
    report = (out / "report.md").read_text()
    assert "Claim 1" in report and "noise floor" in report and "Against CD, 2 NFE" in report
    assert "## Every method by mean rank" in report
    for name in (
        "quality_vs_nfe.png",
        "quality_vs_rectifications.png",
        "quality_vs_compute.png",
        "samples_8gaussians.png",
        "samples_moons.png",
    ):
        assert (out / name).stat().st_size > 0, name
    manifest = json.loads((out / "runs/moons/seed0/guided-n3-1-RFx2/manifest.json").read_text())
    assert len(manifest["teachers"]) == 2 and manifest["degree"] == 3


def test_a_torchcfm_flow_is_distilled_into_one_and_two_step_students(monkeypatch):
    """examples/torchcfm_interop.py at a small size; CI installs torchcfm and requires this to run."""
    from pathlib import Path

    need("torchcfm")
    example = Path(__file__).resolve().parents[1] / "examples"
    monkeypatch.syspath_prepend(str(example))
    import torchcfm_interop

    rows = torchcfm_interop.main(["--steps", "400", "--n-pairs", "2000", "--n-eval", "500"])
    one_step = rows["torchcfm teacher, 1 Euler step"]["distill_error"]
    two_steps = rows["torchcfm teacher, 2 Euler steps"]["distill_error"]
    for student in ("one-step distillation", "Bezier end, 1 step"):
        assert rows[student]["nfe"] == 1 and rows[student]["distill_error"] < one_step / 10
    assert rows["Bezier chord, 2 steps"]["nfe"] == 2
    assert rows["Bezier chord, 2 steps"]["distill_error"] < two_steps / 10
