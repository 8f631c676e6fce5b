"""The digits chain end to end: 1-RF -> pairs -> 2-RF -> distill, guide -> Bezier, feature FID."""

from __future__ import annotations

import csv
import json

import pytest

from bezier_distill.cli import main

pytestmark = pytest.mark.slow

UNET = ["--channels", "16,32", "--batch-size", "128"]


def _fid(tmp_path, model: str, solver: list[str]) -> dict:
    out = tmp_path / f"eval_{model}_{solver[1]}.json"
    code = main(["evaluate", "--model", str(tmp_path / model), "--n", "500", "--out", str(out)] + solver)
    assert code == 0
    return json.loads(out.read_text())


def test_digits_chain_improves_one_step_fid(tmp_path):
    d = str(tmp_path)
    assert main(["train", "--data", "digits", "--steps", "800", *UNET, "--out", f"{d}/rf1"]) == 0
    reflow = ["--solver", "rk4", "--solver-steps", "20", "--n-pairs", "3000", "--shard-size", "1500"]
    assert main(["reflow", "--model", f"{d}/rf1", *reflow, "--out", f"{d}/pairs1"]) == 0
    short = ["--steps", "500", "--batch-size", "128"]
    assert main(["train", "--pairs", f"{d}/pairs1", *short, "--out", f"{d}/rf2"]) == 0
    assert main(["distill", "--pairs", f"{d}/pairs1", *short, "--out", f"{d}/d1"]) == 0
    guide = ["--teacher-solvers", "rk4:20", "--degree", "2", "--n-pairs", "3000", "--shard-size", "1500"]
    assert main(["guide", "--teachers", f"{d}/rf1", *guide, "--out", f"{d}/guided"]) == 0
    assert (
        main(["bezier", "--coupling", f"{d}/guided", *short, "--objective", "end", "--out", f"{d}/bez"]) == 0
    )

    one = ["--solver", "euler", "--solver-steps", "1"]
    teacher = _fid(tmp_path, "rf1", ["--solver", "rk4", "--solver-steps", "20"])
    scores = {m: _fid(tmp_path, m, one) for m in ("rf1", "rf2", "d1", "bez")}
    fid = {m: r["scores"]["fid"] for m, r in scores.items()}
    floor = teacher["noise_floor"]["fid"]
    # one Euler step of 1-RF averages the data into blurs; the straightened and distilled
    # models make digits in one step, and the ODE of 1-RF is better than its single step
    assert teacher["scores"]["fid"] < fid["rf1"]
    for m in ("rf2", "d1", "bez"):
        assert fid[m] < 0.7 * fid["rf1"], (m, fid)
    assert all(floor < f for f in [*fid.values(), teacher["scores"]["fid"]])
    assert (tmp_path / "eval_bez_euler.png").is_file()


def test_compare_on_a_translation_task_writes_tables_and_grids(tmp_path):
    out = tmp_path / "cmp"
    argv = ["compare", "--datasets", "digits", "--source", "mnist:size=8", "--seeds", "0,1"]
    argv += ["--steps", "40", "--batch-size", "32", "--channels", "8", "--n-pairs", "200", "--n-eval", "200"]
    argv += ["--teacher-solver", "rk4:5", "--rectifications", "2", "--degrees", "2"]
    argv += ["--teacher-sets", "1-RF,1-RF+2-RF", "--objectives", "end,chord", "--pairing", "class"]
    assert main(argv + ["--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    # the 1-RF teacher pairs by class; nothing else is re-paired
    assert json.loads((out / "runs/digits/seed0/rf1/config.json").read_text())["pairing"] == "class"
    assert json.loads((out / "runs/digits/seed0/rf1-ot/config.json").read_text())["pairing"] == "ot"
    assert "class kept" in report and "trained on class pairs" in report
    assert "feature FID" in report and "faithfulness" in report and "--source mnist:size=8" in report
    assert "| 2-RF + distill | 1 |" in report
    assert (out / "samples_digits.png").is_file() and (out / "quality_vs_nfe.png").is_file()
    rows = (out / "results.csv").read_text().splitlines()
    # per seed: 2 teachers x 3 NFEs, 4 distills, 8 Bezier, and the baselines: 2-RF++ and OT-CFM
    # x 3 NFEs, OT-CFM + distill x 2, CD at one step only (its re-noising needs a Gaussian
    # source), MeanFlow x 2
    assert len(rows) == 1 + 2 * (2 * 3 + 2 * 2 + 2 * 2 * 2 + 3 + 3 + 2 + 1 + 2)
    with (out / "results.csv").open() as f:
        assert [r["nfe_budget"] for r in csv.DictReader(f) if r["method"] == "CD"] == ["1", "1"]
