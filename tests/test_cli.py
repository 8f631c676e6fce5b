import json
import subprocess
import sys

import numpy as np
import pytest

from bezier_distill.cli import main

FAST = ["--steps", "30", "--batch-size", "64", "--hidden", "32", "--layers", "2", "--log-every", "10"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_chain_through_the_cli(tmp_path, capsys):
    rf1, pairs, rf2, student = (tmp_path / n for n in ("rf1", "pairs", "rf2", "student"))
    assert run(capsys, "train", "--data", "moons", "--out", rf1, *FAST)[0] == 0
    cfg = json.loads((rf1 / "config.json").read_text())
    assert cfg["data"] == "moons" and cfg["steps"] == 30 and "resume" not in cfg
    code, out, _ = run(
        capsys,
        "reflow",
        "--model",
        rf1,
        "--out",
        pairs,
        "--n-pairs",
        "300",
        "--shard-size",
        "100",
        "--solver-steps",
        "5",
    )
    assert code == 0 and "300 rows (degree 1) in 3 shards" in out
    manifest = json.loads((pairs / "manifest.json").read_text())
    assert manifest["source"] == "gaussian" and manifest["teachers"][0]["path"] == str(
        (rf1 / "model").resolve()
    )
    assert run(capsys, "train", "--pairs", pairs, "--out", rf2, *FAST[:4])[0] == 0
    assert run(capsys, "distill", "--pairs", pairs, "--out", student, "--k", "2", "--steps", "20")[0] == 0
    samples = tmp_path / "s.npy"
    code, out, _ = run(
        capsys,
        "sample",
        "--model",
        student,
        "--out",
        samples,
        "--solver",
        "euler",
        "--solver-steps",
        "2",
        "--n",
        "100",
    )
    assert code == 0 and "NFE 2" in out
    assert np.load(samples).shape == (100, 2) and (tmp_path / "s.png").is_file()
    assert json.loads((tmp_path / "s.json").read_text())["nfe"] == 2
    report = tmp_path / "e.json"
    code, out, _ = run(
        capsys,
        "evaluate",
        "--model",
        rf2,
        "--n",
        "200",
        "--solver",
        "euler",
        "--solver-steps",
        "1",
        "--out",
        report,
    )
    assert code == 0 and "noise floor" in out
    scores = json.loads(report.read_text())
    assert scores["data"] == "moons" and scores["scores"]["nfe"] == 1  # traced through the pairs


def test_config_file_with_override(tmp_path, capsys):
    toml = tmp_path / "c.toml"
    toml.write_text('data = "circles"\nsteps = 99\nbatch_size = 32\nhidden = 16\nlayers = 1\n')
    assert run(capsys, "train", "--config", toml, "--steps", "12", "--out", tmp_path / "r")[0] == 0
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (cfg["data"], cfg["steps"], cfg["batch_size"]) == ("circles", 12, 32)


def test_resume_and_overwrite(tmp_path, capsys):
    out = tmp_path / "r"
    args = ["train", "--out", out, *FAST]
    assert run(capsys, *args)[0] == 0
    weights = (out / "model" / "model.safetensors").read_bytes()
    code, _, err = run(capsys, *args)
    assert code == 2 and "already holds files" in err
    assert (out / "model" / "model.safetensors").read_bytes() == weights
    assert run(capsys, *args, "--resume")[0] == 0
    assert (out / "model" / "model.safetensors").read_bytes() == weights
    code, _, err = run(capsys, *args, "--resume", "--lr", "0.1")
    assert code == 2 and "other settings for lr" in err
    assert run(capsys, *args, "--overwrite", "--seed", "4")[0] == 0
    assert (out / "model" / "model.safetensors").read_bytes() != weights


def _bad_files(tmp_path):
    (tmp_path / "bad.npy").write_bytes(b"not an array")
    np.save(tmp_path / "nan.npy", np.array([[0.0, np.nan], [1.0, 2.0]]))
    (tmp_path / "empty.csv").write_text("")
    np.save(tmp_path / "rank1.npy", np.zeros(5))
    (tmp_path / "bad.toml").write_text("steps = = 3")
    (tmp_path / "unknown.toml").write_text("stepz = 3")
    (tmp_path / "type.toml").write_text('steps = "many"')
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("precious")


BAD = [
    (["train", "--data", "nope"], "unknown dataset 'nope'"),
    (["train", "--source", "nope"], "unknown dataset 'nope'"),
    (["train", "--steps", "0"], "--steps must be a positive integer"),
    (["train", "--steps", "-5"], "--steps must be a positive integer"),
    (["train", "--batch-size", "0"], "--batch-size must be a positive integer"),
    (["train", "--steps", "abc"], "invalid int value"),
    (["train", "--loss", "l3"], "unknown loss"),
    (["train", "--lr", "-1"], "--lr must be a positive number"),
    (["train", "--device", "tpu"], "--device"),
    (["train", "--data", "{tmp}/bad.npy"], "bad.npy"),
    (["train", "--data", "{tmp}/nan.npy"], "NaN"),
    (["train", "--data", "{tmp}/empty.csv"], "empty.csv"),
    (["train", "--data", "{tmp}/rank1.npy"], "rank1.npy"),
    (["train", "--data", "{tmp}/missing.npy"], "missing.npy"),
    (["train", "--config", "{tmp}/bad.toml"], "not valid TOML"),
    (["train", "--config", "{tmp}/unknown.toml"], "unknown config key 'stepz'"),
    (["train", "--config", "{tmp}/type.toml"], "config key 'steps'"),
    (["train", "--config", "{tmp}/none.toml"], "does not exist"),
    (["train", "--out", "{tmp}/busy"], "already holds files"),
    (["train", "--out", "{tmp}/busy", "--resume"], "no run to resume"),
    (["train", "--pairs", "{tmp}/nowhere"], "coupling folder"),
    (["sample", "--model", "{tmp}/nowhere"], "model folder"),
    (["sample"], "--model is required"),
    (["evaluate", "--model", "{tmp}/nowhere", "--solver", "rk45"], "unknown solver"),
    (["evaluate", "--model", "{tmp}/nowhere", "--solver-steps", "0"], "positive integer"),
    (["reflow"], "--model is required"),
    (["reflow", "--model", "{tmp}/nowhere"], "does not exist"),
    (["reflow", "--model", "{tmp}/m", "--n-pairs", "0"], "--n-pairs"),
    (["distill"], "--pairs is required"),
    (["distill", "--pairs", "{tmp}/p", "--k", "0"], "--k must be a positive integer"),
    (["demo", "--data", "nope"], "unknown dataset"),
    (["frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize("argv,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_gives_one_line_and_exit_2(tmp_path, capsys, argv, message):
    _bad_files(tmp_path)
    argv = [a.format(tmp=tmp_path) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")] if argv[0] in ("train", "demo", "distill") else []
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert (tmp_path / "busy" / "keep.txt").read_text() == "precious"


def test_argparse_errors_are_one_line_with_exit_2():
    proc = subprocess.run(
        [sys.executable, "-m", "bezier_distill.cli", "train", "--steps", "abc"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_bad_dataset_through_a_real_process_has_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "bezier_distill.cli", "train", "--data", "nope", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert not (tmp_path / "o").exists()


def test_every_command_has_help(capsys):
    for command in ("train", "reflow", "distill", "sample", "evaluate", "demo"):
        assert main([command, "--help"]) == 0
        out = capsys.readouterr().out
        assert "--config" in out and "--seed" in out and "--device" in out
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--resume" in out and "--overwrite" in out
