import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from bezier_distill.cli import main
from bezier_distill.couplings import generate_coupling
from bezier_distill.data import get_distribution
from bezier_distill.errors import BadInput
from bezier_distill.models import MLPVelocity, save_pretrained
from bezier_distill.solvers import SolverSpec
from bezier_distill.teachers import Teacher, TeacherEnsemble

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
    code, out, _ = run(
        capsys, "evaluate", "--model", student, "--n", "200", "--solver", "euler", "--solver-steps", "2"
    )
    # a student's distillation error on held-out noise, with its teacher's solver error as the floor
    line = next(x for x in out.splitlines() if x.startswith("distill error"))
    assert code == 0 and float(line.split()[2]) > float(line.split()[3]) > 0
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
    assert code == 0 and "floor" in out
    scores = json.loads(report.read_text())
    assert scores["data"] == "moons" and scores["scores"]["nfe"] == 1  # traced through the pairs


def test_bezier_distillation_through_the_cli(tmp_path, capsys):
    t1, t2 = tmp_path / "t1", tmp_path / "t2"
    assert run(capsys, "train", "--data", "moons", "--out", t1, *FAST)[0] == 0
    assert run(capsys, "train", "--data", "moons", "--out", t2, "--seed", "1", *FAST)[0] == 0
    guided = tmp_path / "g"
    code, out, _ = run(
        capsys,
        "guide",
        "--teachers",
        f"{t1},{t2}",
        "--degree",
        "3",
        "--guides",
        "state:0+1;endpoint:1",
        "--guide-as",
        "control",
        "--teacher-solvers",
        "rk4:4,euler:8",
        "--n-pairs",
        "200",
        "--shard-size",
        "100",
        "--out",
        guided,
    )
    assert code == 0 and "200 rows (degree 3) in 2 shards" in out
    manifest = json.loads((guided / "manifest.json").read_text())
    assert [t["solver"]["method"] for t in manifest["teachers"]] == ["rk4", "euler"]
    assert json.loads((guided / "config.json").read_text())["guides"] == "state:0+1;endpoint:1"
    student = tmp_path / "s"
    assert (
        run(
            capsys,
            "bezier",
            "--coupling",
            guided,
            "--objective",
            "chord",
            "--k",
            "2",
            "--out",
            student,
            "--steps",
            "20",
        )[0]
        == 0
    )
    code, out, _ = run(
        capsys, "evaluate", "--model", student, "--solver", "euler", "--solver-steps", "2", "--n", "100"
    )
    assert code == 0 and "NFE" in out  # data traced through the guided coupling to the teacher
    assert run(capsys, "train", "--pairs", guided, "--out", tmp_path / "k", "--steps", "5")[0] == 0
    assert run(capsys, "train", "--data", "moons", "--path", "cosine", "--out", tmp_path / "c", *FAST)[0] == 0


@pytest.mark.parametrize("seed", ["0", "3"])
def test_sample_and_reflow_with_the_same_seed_share_no_row(tmp_path, capsys, seed):
    # sample draws its source noise from the evaluation stream, reflow from its coupling's
    assert run(capsys, "train", "--data", "moons", "--out", tmp_path / "m", *FAST)[0] == 0
    one_step = ["--solver", "euler", "--solver-steps", "1", "--seed", seed]
    pairs = ["--n-pairs", "500", "--shard-size", "250", "--out", tmp_path / "p"]
    assert run(capsys, "reflow", "--model", tmp_path / "m", *one_step, *pairs)[0] == 0
    code, out, _ = run(
        capsys, "sample", "--model", tmp_path / "m", *one_step, "--n", "500", "--out", tmp_path / "s.npy"
    )
    assert code == 0 and "500 samples" in out
    sampled = {r.tobytes() for r in np.load(tmp_path / "s.npy")}
    made = set()
    for shard in (tmp_path / "p").glob("shard_*.safetensors"):
        made |= {r.tobytes() for r in load_file(shard)["z1"].numpy()}
    assert len(sampled) == len(made) == 500 and not sampled & made


def test_config_file_with_override(tmp_path, capsys):
    toml = tmp_path / "c.toml"
    toml.write_text('data = "circles"\nsteps = 99\nbatch_size = 32\nhidden = 16\nlayers = 1\n')
    assert run(capsys, "train", "--config", toml, "--steps", "12", "--out", tmp_path / "r")[0] == 0
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (cfg["data"], cfg["steps"], cfg["batch_size"]) == ("circles", 12, 32)


def test_toml_arrays_stand_for_the_lists_flags_take(tmp_path):
    from bezier_distill.compare.config import CompareConfig
    from bezier_distill.config import GuideConfig, load

    toml = tmp_path / "c.toml"
    toml.write_text('seeds = [0, 1, 2]\ndatasets = ["moons", "spirals"]\nchannels = [16, 32]\n')
    cfg = load(CompareConfig, str(toml))
    assert (cfg.seeds, cfg.datasets, cfg.channels) == ("0,1,2", "moons,spirals", "16,32")
    toml.write_text('guides = ["state", "endpoint"]\nteachers = ["a", "b"]\n')
    assert (load(GuideConfig, str(toml)).guides, load(GuideConfig, str(toml)).teachers) == (
        "state;endpoint",
        "a,b",
    )
    for bad in ("seeds = [true]", "seeds = []", "steps = [1, 2]"):
        toml.write_text(bad + "\n")
        with pytest.raises(BadInput, match="seeds|steps"):
            load(CompareConfig, str(toml))


def test_help_lists_the_commands_and_imports_no_plotting_or_transport():
    code = (
        "import sys, contextlib, io\n"
        "from bezier_distill.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    codes = [main([]), main(['--help']), main(['compare', '--help']), main(['--version'])]\n"
        "heavy = [m for m in ('matplotlib', 'ot') if m in sys.modules]\n"
        "print(codes, heavy, 'reflow' in out.getvalue() and 'usage: bezier-distill' in out.getvalue())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split("\n")[-2] == "[0, 0, 0, 0] [] True", done.stdout + done.stderr


def test_every_flag_shows_at_most_one_default_and_never_none():
    from bezier_distill.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, sub in commands.items():
        for action in sub._actions:
            text = action.help or ""
            assert text.count("(default") <= 1 and "(default: None)" not in text, (name, text)
    assert "--out" in commands["reflow"].format_help() and "pairs" in next(
        a.help for a in commands["reflow"]._actions if "--out" in a.option_strings
    )


def test_a_model_folder_carries_its_provenance_and_evaluates_after_a_move(tmp_path, capsys, monkeypatch):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir(), elsewhere.mkdir()
    monkeypatch.chdir(work)  # relative paths, as a user types them
    np.save("pts.npy", np.random.default_rng(0).normal(size=(500, 2)).astype(np.float32))
    assert run(capsys, "train", "--data", "pts.npy", "--out", "rf1", *FAST)[0] == 0
    reflow = ["reflow", "--model", "rf1", "--out", "pairs", "--n-pairs", "200", "--solver-steps", "4"]
    assert run(capsys, *reflow)[0] == 0
    assert (
        run(capsys, "distill", "--pairs", "pairs", "--out", "d1", "--steps", "20", "--batch-size", "32")[0]
        == 0
    )
    rf1 = json.loads(Path("rf1/model/config.json").read_text())["provenance"]
    assert rf1["data"] == str(work / "pts.npy") and len(rf1["sha256"]["data"]) == 64
    student = json.loads(Path("d1/model/config.json").read_text())["provenance"]
    assert student["coupling"] == str(work / "pairs") and student["teacher"] == str(work / "rf1" / "model")
    assert (
        student["teachers"][0]["sha256"]
        == json.loads(Path("pairs/manifest.json").read_text())["teachers"][0]["sha256"]
    )
    assert student["data"] == str(work / "pts.npy") and len(student["coupling_digest"]) > 0
    shutil.copytree("d1/model", elsewhere / "student")
    monkeypatch.chdir(elsewhere)
    code, out, err = run(
        capsys, "evaluate", "--model", "student", "--n", "200", "--solver", "euler", "--solver-steps", "1"
    )
    assert code == 0, err
    assert "distill error" in out  # the teacher was found through the recorded provenance


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


# one dataset, one Bezier variant, tiny networks and budgets: a whole comparison in seconds
TINY_COMPARE = ["compare", "--datasets", "moons", "--steps", "20", "--n-pairs", "200", "--n-eval", "100"]
TINY_COMPARE += ["--hidden", "16", "--layers", "1", "--teacher-solver", "euler:10", "--rectifications", "2"]
TINY_COMPARE += ["--degrees", "2", "--teacher-sets", "1-RF", "--objectives", "end"]
TINY_COMPARE += ["--primary-two-step", "Bezier n=2 [1-RF] end"]


def test_a_resumed_compare_adds_a_seed_and_reuses_the_trained_chains(tmp_path, capsys):
    out = tmp_path / "cmp"
    tiny = [*TINY_COMPARE, "--out", out]

    def results():
        with (out / "results.csv").open() as f:
            return list(csv.DictReader(f))

    def chain(seed):  # weights, shards and training logs (with their wall seconds) of one chain
        files = (out / f"runs/moons/seed{seed}").rglob("*")
        return {p: p.read_bytes() for p in files if p.suffix in (".safetensors", ".jsonl")}

    assert run(capsys, *tiny, "--seeds", "0", "--baselines", "")[0] == 0
    seed0, first = chain(0), results()
    code, _, err = run(capsys, *tiny, "--seeds", "0", "--n-pairs", "300", "--resume")
    assert code == 2 and "other settings for n_pairs" in err
    # a resume may add seeds and baselines: the chains trained already are reused as they are
    assert run(capsys, *tiny, "--seeds", "0,1", "--baselines", "CD,MeanFlow", "--resume")[0] == 0
    assert seed0 and all(chain(0)[p] == b for p, b in seed0.items()) and chain(1)
    rows = results()
    assert {r["seed"] for r in rows} == {"0", "1"}
    assert [r for r in rows if r["seed"] == "0" and r["family"] != "baseline"] == first
    assert {r["method"] for r in rows if r["family"] == "baseline"} == {"CD", "MeanFlow"}
    assert "Against MeanFlow, 1 NFE" in (out / "report.md").read_text()


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
    np.save(tmp_path / "inf.npy", np.array([[0.0, np.inf], [1.0, 2.0]]))
    np.save(tmp_path / "p3.npy", np.zeros((10, 3)))
    (tmp_path / "afile").write_text("a file, not a folder")
    (tmp_path / "mixed").mkdir()
    Image.fromarray(np.zeros((6, 6), np.uint8)).save(tmp_path / "mixed" / "a.png")
    Image.fromarray(np.zeros((7, 7), np.uint8)).save(tmp_path / "mixed" / "b.png")
    torch.manual_seed(0)
    save_pretrained(MLPVelocity(dim=2, hidden=8, layers=1), tmp_path / "m")
    shutil.copytree(tmp_path / "m", tmp_path / "m_badjson")
    (tmp_path / "m_badjson" / "config.json").write_text("{oops")
    shutil.copytree(tmp_path / "m", tmp_path / "m_trunc")
    weights = (tmp_path / "m_trunc" / "model.safetensors").read_bytes()
    (tmp_path / "m_trunc" / "model.safetensors").write_bytes(weights[: len(weights) // 3])
    ens = TeacherEnsemble([Teacher.load(tmp_path / "m", SolverSpec("euler", 2))], 1, [])
    ident = {"source": "gaussian", "n_pairs": 20, "shard_size": 10, "seed": 0, **ens.identity()}
    generate_coupling(ens, get_distribution("gaussian"), tmp_path / "p_bad", ident, progress=False)
    shard = tmp_path / "p_bad" / "shard_00001.safetensors"
    shard.write_bytes(shard.read_bytes()[:-4] + b"\xff\xff\xff\xff")


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
    (["demo", "--data", "digits"], "demo runs 2-D data or a paired task"),
    (["demo", "--source", "superres:digits"], "is a paired task: pass it as --data"),
    (["demo", "--data", "superres:digits", "--source", "moons"], "--source is ignored with a paired task"),
    (["guide"], "--teachers is required"),
    (["guide", "--teachers", "{tmp}/nowhere"], "does not exist"),
    (["guide", "--teachers", "{tmp}/m", "--degree", "0"], "--degree must be an integer >= 1"),
    (["guide", "--teachers", "{tmp}/m", "--degree", "-2"], "--degree must be an integer >= 1"),
    (["guide", "--teachers", "{tmp}/m", "--guides", "magic"], "unknown guide kind"),
    (["bezier"], "--coupling is required"),
    (["bezier", "--coupling", "{tmp}/g", "--objective", "arc"], "unknown objective"),
    (["bezier", "--coupling", "{tmp}/g", "--time-sampling", "random"], "unknown time sampling"),
    (["train", "--path", "vp"], "unknown path"),
    (["compare", "--seeds", "a,b"], "--seeds must be comma-separated integers"),
    (["compare", "--datasets", "nope"], "unknown dataset"),
    (["frobnicate"], "invalid choice"),
    (["sample", "--model", "{tmp}/m_badjson"], "is not valid JSON"),
    (["sample", "--model", "{tmp}/m_trunc"], "are corrupt"),
    (["train", "--pairs", "{tmp}/p_bad"], "fails its checksum"),
    (["distill", "--pairs", "{tmp}/p_bad"], "fails its checksum"),
    (["reflow", "--model", "{tmp}/m", "--source", "{tmp}/p3.npy"], "model expects data of shape (2,)"),
    (["guide", "--teachers", "{tmp}/m", "--source", "{tmp}/p3.npy"], "model expects data of shape (2,)"),
    (["train", "--data", "{tmp}/p3.npy", "--init", "{tmp}/m"], "model expects data of shape (2,)"),
    (["train", "--data", "{tmp}/inf.npy"], "Inf"),
    (["train", "--out", "{tmp}/afile/sub"], "not writable"),
    (["train", "--resume", "--overwrite"], "exclude each other"),
    (["evaluate", "--model", "{tmp}/m"], "--data is required"),
    (["train", "--data", "digits:size=1"], "size must be an integer >= 2"),
    (["train", "--data", "digits:colour=red"], "bad dataset option"),
    (["train", "--data", "fashion", "--data-dir", "{tmp}/nowhere"], "apt-get install dataset-fashion-mnist"),
    (["train", "--data", "{tmp}/mixed"], "different sizes"),
    (["train", "--arch", "unet"], "--arch unet needs image data"),
    (["train", "--arch", "cnn"], "unknown arch"),
    (["train", "--channels", "a,b"], "--channels must be comma-separated positive widths"),
    (["train", "--precision", "fp8"], "unknown precision"),
    (["evaluate", "--model", "{tmp}/m", "--data", "digits"], "model expects data of shape (2,)"),
    (
        ["evaluate", "--model", "{tmp}/m", "--data", "digits", "--inception-weights", "{tmp}/none.pth"],
        "Inception",
    ),
    (["compare", "--teacher-sets", "2-RF"], "--teacher-sets must list"),
    (["compare", "--objectives", "arc"], "--objectives must list"),
    (["compare", "--degrees", "1"], "--degrees must be comma-separated integers >= 2"),
    (["compare", "--rectifications", "5"], "--rectifications must be 2, 3 or 4"),
    (
        ["compare", "--rectifications", "2", "--equal-compute", "3"],
        "--equal-compute must list rectification counts",
    ),
    (["compare", "--datasets", "digits,moons"], "mixes image and point datasets"),
    (
        ["compare", "--teacher-solver", "rk4:x"],
        "solver steps in --teacher-solver must be a positive integer",
    ),
    (["compare", "--objectives", "end"], "--primary-two-step must name a Bezier student of this comparison"),
    (["compare", "--primary-one-step", "Bezier n=2 [1-RF+2-RF] end"], "built from 1-RF teachers only"),
    (["compare", "--baseline-one-step", "4-RF + distill"], "--baseline-one-step must name a k-RF + distill"),
    (["compare", "--margin", "0"], "--margin must be a positive number"),
    (["compare", "--baselines", "DDIM"], "--baselines must list some of"),
    (["compare", "--objectives", "end@x"], "--objectives must list some of"),
    (["compare", "--student-hidden", "-1"], "--student-hidden must be a non-negative integer"),
    (
        ["distill", "--pairs", "{tmp}/p", "--hidden", "8"],
        "--hidden is ignored when training starts from a model",
    ),
    (
        ["bezier", "--coupling", "{tmp}/g", "--guide-noise", "-1"],
        "--guide-noise must be a non-negative number",
    ),
    (["train", "--recipe", "2-rf++"], "--recipe 2-rf++ reflows a flow: pass --pairs"),
    (["train", "--recipe", "fast"], "unknown recipe 'fast'"),
    (["train", "--objective", "meanflow", "--meanflow-ratio", "2"], "--meanflow-ratio must lie in [0, 1]"),
    (["train", "--meanflow-ratio", "0.5"], "--meanflow-ratio is ignored unless --objective meanflow"),
    (["train", "--objective", "meanflow", "--path", "cosine"], "trains on the straight path"),
    (
        ["evaluate", "--model", "{tmp}/m", "--data", "moons", "--reference", "{tmp}/p3.npy"],
        "--reference is for",
    ),
    (["train", "--data", "superres:digits:factor=3"], "factor=3 does not divide the 8x8 images"),
    (["train", "--data", "inpaint:digits:sigma=1"], "inpaint takes box=, size=, class="),
    (
        ["train", "--data", "superres:digits", "--source", "mnist:size=8"],
        "--source is ignored with the paired task",
    ),
    (["train", "--data", "superres:digits", "--pairing", "ot"], "--pairing is ignored with the paired task"),
    (["train", "--source-noise", "0.1"], "--source-noise is ignored unless --data is a paired task"),
    (["train", "--data", "denoise:digits", "--source-noise", "-1"], "--source-noise must be a non-negative"),
    (["compare", "--datasets", "superres:digits,digits"], "mixes paired tasks and plain datasets"),
    (["compare", "--datasets", "moons", "--pairing", "class"], "--pairing class needs labelled"),
    (
        ["compare", "--datasets", "superres:digits", "--pairing", "ot"],
        "--pairing is ignored with paired tasks",
    ),
    (
        ["compare", "--datasets", "superres:digits", "--baselines", "OT-CFM"],
        "a paired task's pairs are given",
    ),
    (
        ["compare", "--datasets", "digits", "--source", "superres:digits"],
        "is a paired task: name it in --datasets",
    ),
    (["classifier", "--dataset", "cifar"], "unknown dataset 'cifar'"),
    (["classifier", "--dataset", "digits"], "already exists"),
]


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and folder under ``root``, hidden ones included."""
    return {
        str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes())
        for p in sorted(root.rglob("*"))
        if not p.is_symlink()
    }


@pytest.mark.parametrize("argv,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_gives_one_line_and_exit_2(tmp_path, capsys, monkeypatch, argv, message):
    _bad_files(tmp_path)
    monkeypatch.chdir(tmp_path)  # a default --out lands in the scratch folder too
    argv = [a.format(tmp=tmp_path) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")] if argv[0] in ("train", "demo", "distill") else []
    before = snapshot(tmp_path)
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert snapshot(tmp_path) == before  # no file changed, none appeared


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


def test_the_errors_doc_lists_every_bad_input():
    from test_safety import SAFETY, shown

    doc = (Path(__file__).resolve().parents[1] / "docs" / "ERRORS.md").read_text()
    rows = {line.split("`")[1]: line for line in doc.splitlines() if line.startswith("| `")}
    for argv, message in BAD + SAFETY:
        command = "bezier-distill " + shown(argv).replace("{tmp}", "DIR")
        assert command in rows, command
        assert message.replace("{tmp}", "DIR").replace("|", "\\|") in rows[command], command


def test_consistency_distillation_from_the_cli(tmp_path, capsys):
    rf1, pairs = tmp_path / "rf1", tmp_path / "pairs"
    assert run(capsys, "train", "--data", "moons", "--out", rf1, *FAST)[0] == 0
    assert (
        run(capsys, "reflow", "--model", rf1, "--out", pairs, "--n-pairs", "200", "--solver-steps", "4")[0]
        == 0
    )
    tiny = ["--steps", "20", "--batch-size", "32", "--consistency-steps", "6"]
    code, out, err = run(
        capsys, "distill", "--pairs", pairs, "--objective", "consistency", *tiny, "--out", tmp_path / "c"
    )
    assert code == 0, err
    assert json.loads((tmp_path / "c" / "config.json").read_text())["objective"] == "consistency"
    code, _, err = run(
        capsys, "distill", "--pairs", pairs, "--objective", "consistency", "--k", "2", "--out", tmp_path / "x"
    )
    assert (
        code == 2 and "--k is ignored with --objective consistency" in err and not (tmp_path / "x").exists()
    )


def test_meanflow_from_the_cli_samples_in_one_and_two_steps(tmp_path, capsys):
    mf = tmp_path / "mf"
    code, _, err = run(capsys, "train", "--objective", "meanflow", "--loss", "adaptive", "--out", mf, *FAST)
    assert code == 0, err
    assert json.loads((mf / "model" / "config.json").read_text())["interval"] is True
    for steps in ("1", "2"):
        code, out, err = run(capsys, "evaluate", "--model", mf, "--solver", "euler", "--solver-steps", steps)
        assert code == 0 and out.split("NFE")[-1].split()[0] == steps, err
    rf = tmp_path / "rf"
    assert run(capsys, "train", "--out", rf, *FAST)[0] == 0
    code, _, err = run(
        capsys, "train", "--objective", "meanflow", "--init", rf, "--out", tmp_path / "x", "--steps", "5"
    )
    assert code == 2 and "two time inputs" in err and not (tmp_path / "x").exists()


def test_the_2rf_plus_plus_recipe_fills_the_settings_left_at_their_defaults(tmp_path, capsys):
    rf1, pairs = tmp_path / "rf1", tmp_path / "pairs"
    assert run(capsys, "train", "--out", rf1, *FAST)[0] == 0
    assert (
        run(capsys, "reflow", "--model", rf1, "--out", pairs, "--n-pairs", "200", "--solver-steps", "4")[0]
        == 0
    )
    tiny = ["--steps", "10", "--batch-size", "32"]
    assert (
        run(capsys, "train", "--pairs", pairs, "--recipe", "2-rf++", "--out", tmp_path / "a", *tiny)[0] == 0
    )
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert (config["recipe"], config["time_sampling"], config["loss"]) == (
        "2-rf++",
        "u-shaped",
        "pseudo_huber",
    )
    argv = ["train", "--pairs", pairs, "--recipe", "2-rf++", "--loss", "l1", "--out", tmp_path / "b", *tiny]
    assert run(capsys, *argv)[0] == 0
    assert json.loads((tmp_path / "b" / "config.json").read_text())["loss"] == "l1"


def test_consistency_sampling_beyond_one_step_needs_a_gaussian_source(tmp_path, capsys):
    rf = tmp_path / "rf"
    assert run(capsys, "train", "--out", rf, *FAST)[0] == 0
    np.save(tmp_path / "src.npy", np.random.default_rng(0).normal(size=(500, 2)))
    two = ["--solver", "consistency", "--solver-steps", "2"]
    assert run(capsys, "sample", "--model", rf, *two, "--out", tmp_path / "s.npy")[0] == 0
    argv = ["sample", "--model", rf, *two, "--source", tmp_path / "src.npy", "--out", tmp_path / "t.npy"]
    code, _, err = run(capsys, *argv)
    assert code == 2 and "re-noises with Gaussian noise" in err and not (tmp_path / "t.npy").exists()


def test_a_resumed_compare_reuses_a_chains_scores_until_a_model_changes(tmp_path, capsys, monkeypatch):
    from bezier_distill.compare import scoring

    out = tmp_path / "cmp"
    tiny = [*TINY_COMPARE, "--baselines", "", "--seeds", "0", "--out", out]
    assert run(capsys, *tiny)[0] == 0
    first = (out / "results.csv").read_text()
    calls = []
    scored = scoring.evaluate_chain
    monkeypatch.setattr(scoring, "evaluate_chain", lambda *a: calls.append(a) or scored(*a))
    assert run(capsys, *tiny, "--resume")[0] == 0
    assert calls == [] and (out / "results.csv").read_text() == first
    # other weights in a finished stage (its checkpoint and model from a sibling): scored again
    seed0 = out / "runs/moons/seed0"
    shutil.copy(seed0 / "d2-k1/checkpoint.pt", seed0 / "d1-k1/checkpoint.pt")
    shutil.copy(seed0 / "d2-k1/model/model.safetensors", seed0 / "d1-k1/model/model.safetensors")
    assert run(capsys, *tiny, "--resume")[0] == 0
    assert len(calls) == 1 and (out / "results.csv").read_text() != first


def test_compare_follows_error_accumulation_to_four_rectifications(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", "--datasets", "moons", "--seeds", "0", "--steps", "20", "--n-pairs", "200"]
    argv += ["--n-eval", "100", "--hidden", "16", "--layers", "1", "--teacher-solver", "euler:10"]
    argv += ["--rectifications", "4", "--degrees", "2", "--baselines", "CD", "--student-hidden", "8"]
    argv += ["--student-steps", "10"]
    argv += ["--teacher-sets", "1-RF,1-RF endpoint,1-RF control,1-RF guides+2-RF end,1-RF data-anchored"]
    argv += ["--objectives", "end,chord,end/grid,end/mixed@0.2", "--equal-compute", "2,4"]
    argv += ["--out", out]
    assert run(capsys, *argv)[0] == 0
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    drift = {r["method"]: float(r["coupling_drift"]) for r in rows if r["coupling_drift"]}
    assert set(drift) == {"1-RF", "2-RF", "3-RF", "4-RF"} and drift["1-RF"] == 0
    assert all(drift[f"{k}-RF"] > 0 for k in (2, 3, 4))
    stages = {r["method"]: r["training_stages"] for r in rows if r["nfe_budget"] == "1"}
    assert stages["4-RF"] == "4" and stages["4-RF + distill"] == "5"
    report = (out / "report.md").read_text()
    table = report.split("## Error accumulation over rectifications")[1].split("## moons")[0]
    ks = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")]
    assert ks == ["k", "1", "2", "3", "4"]
    assert (out / "drift_vs_rectifications.png").stat().st_size > 0
    bezier = {r["method"]: r for r in rows if r["family"] == "Bezier" and r["nfe_budget"] == "1"}
    assert len(bezier) == 20 and "Bezier n=2 [1-RF guides+2-RF end] end/grid" in bezier
    anchored = json.loads((out / "runs/moons/seed0/guided-n2-1-RFdata-anchored/manifest.json").read_text())
    assert anchored["anchor"] == {"data": "moons"}
    mixed = bezier["Bezier n=2 [1-RF guides+2-RF end] end/mixed@0.2"]
    assert (mixed["rectifications"], mixed["teacher"], mixed["training_stages"]) == ("2", "2-RF", "3")
    control = json.loads((out / "runs/moons/seed0/guided-n2-1-RFcontrol/manifest.json").read_text())
    assert control["guide_as"] == "control"
    widths = {
        name: json.loads((out / f"runs/moons/seed0/{name}/model/config.json").read_text())["hidden"]
        for name in ("rf1", "rf4", "d4-k1", "cd", "guided-n2-1-RF-end")
    }
    assert widths == {"rf1": 16, "rf4": 16, "d4-k1": 8, "cd": 8, "guided-n2-1-RF-end": 8}
    assert "Premise, 1 NFE" in report
    # the curve control: the named one-step recipe against end/grid, which sees only true states
    assert "Curve control, 1 NFE" in report and "vs Bezier n=2 [1-RF] end/grid " in report
    noisy = "runs/moons/seed0/guided-n2-1-RFguides_2-RFend-end_mixed_noise0.2/config.json"
    assert json.loads((out / noisy).read_text())["guide_noise"] == 0.2
    # the frontier: the primary recipes trained longer, each to a k-RF + distill's compute
    evals = {(r["method"], r["nfe_budget"]): float(r["compute_evals"]) for r in rows}
    batch = 256  # one more training step adds TRAIN_COST x batch forward passes
    assert not any("3-RF compute" in method for method, _ in evals)  # only the k asked for
    for k in (2, 4):
        for budget, recipe in (("1", "Bezier n=2 [1-RF] end"), ("2", "Bezier n=2 [1-RF] chord")):
            twin = evals[(f"{recipe} @ {k}-RF compute", budget)]
            assert 0 <= twin - evals[(f"{k}-RF + distill", budget)] < 3 * batch
            assert twin > evals[(recipe, budget)]
        assert f"Equal compute, {k}-RF, 1 NFE" in report and f"Equal compute, {k}-RF, 2 NFE" in report
        # the control: 1-RF + distill trained as much longer, one and two steps
        for budget in ("1", "2"):
            control = evals[(f"1-RF + distill @ {k}-RF compute", budget)]
            assert 0 <= control - evals[(f"{k}-RF + distill", budget)] < 3 * batch
        assert f"Equal compute control, {k}-RF, 1 NFE" in report
    assert ("Bezier n=2 [1-RF] end @ 2-RF compute", "2") not in evals  # one-step twins: one step
    assert config_steps(out, "d1-k2-eq4") == config_steps(out, "guided-n2-1-RF-chord-eq4")  # same compute
    steps = json.loads((out / "runs/moons/seed0/guided-n2-1-RF-end-eq4/config.json").read_text())["steps"]
    assert steps > 10 and (out / "frontier.png").stat().st_size > 0
    # students train --student-steps (10), teachers --steps (20), and the compute counts each
    config = lambda name: json.loads((out / f"runs/moons/seed0/{name}/config.json").read_text())  # noqa: E731
    assert config("d1-k1")["steps"] == 10 and config("rf2")["steps"] == 20 and config("cd")["steps"] == 10
    first = next(r for r in rows if r["method"] == "1-RF + distill" and r["nfe_budget"] == "1")
    spent = evals[("1-RF + distill", "1")] - evals[("1-RF", "ODE")]
    assert spent == 3 * 10 * batch + float(first["teacher_evals"])


def config_steps(out, name: str) -> int:
    return json.loads((out / f"runs/moons/seed0/{name}/config.json").read_text())["steps"]


def test_reflow_anchored_on_data_ends_every_pair_on_a_training_row(tmp_path, capsys):
    from bezier_distill.couplings import CouplingDataset
    from bezier_distill.data import get_distribution
    from bezier_distill.models import from_pretrained
    from bezier_distill.solvers import SolverSpec, solve

    points = np.random.default_rng(0).normal(size=(400, 2)).astype(np.float32) + 3
    np.save(tmp_path / "data.npy", points)
    rf = tmp_path / "rf"
    assert run(capsys, "train", "--data", tmp_path / "data.npy", "--out", rf, *FAST)[0] == 0
    argv = ["reflow", "--model", rf, "--n-pairs", "100", "--solver-steps", "8", "--anchor", "data"]
    code, _, err = run(capsys, *argv, "--out", tmp_path / "p")
    assert code == 0, err
    pairs = CouplingDataset(tmp_path / "p")
    train = get_distribution(str(tmp_path / "data.npy")).points
    z0, z1 = pairs.points[0], pairs.points[-1]
    assert bool(((z1[:, None] - train[None]).abs().sum(-1).min(1).values == 0).all())  # data rows
    back = solve(from_pretrained(rf), z1, SolverSpec("rk4", 8), t0=1.0, t1=0.0).x  # the teacher backward
    assert torch.allclose(z0, back, atol=1e-5) and not torch.allclose(z0, z1)
    assert pairs.manifest["anchor"]["data"].endswith("data.npy") and pairs.manifest["source"] == "gaussian"
    code, _, err = run(capsys, *argv, "--source", "gaussian", "--out", tmp_path / "q")
    assert code == 2 and "--source is ignored with --anchor data" in err


def test_every_committed_comparison_config_is_valid():
    import tomllib

    from bezier_distill.compare.config import CompareConfig

    root = Path(__file__).resolve().parents[1] / "configs"
    configs = sorted(root.rglob("*.toml"))
    assert len(configs) >= 10
    for path in configs:
        cfg = CompareConfig(**tomllib.loads(path.read_text()))
        assert cfg.out.startswith("runs/") and path.stem in cfg.out, path


def test_a_resume_accepts_an_input_path_spelled_otherwise_but_not_another_input(tmp_path, capsys):
    rf, other = tmp_path / "rf", tmp_path / "other"
    assert run(capsys, "train", "--out", rf, *FAST)[0] == 0
    assert run(capsys, "train", "--out", other, *FAST, "--seed", "1")[0] == 0
    (tmp_path / "link").symlink_to(tmp_path)  # the same run folder through a link
    reflow = ["reflow", "--n-pairs", "50", "--solver-steps", "4", "--out", tmp_path / "p"]
    assert run(capsys, *reflow, "--model", rf)[0] == 0
    assert run(capsys, *reflow, "--model", tmp_path / "link" / "rf", "--resume")[0] == 0
    code, _, err = run(capsys, *reflow, "--model", other, "--resume")
    assert code == 2 and "other settings for model" in err


def test_compare_runs_point_datasets_of_different_dimensions_together(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", "--datasets", "moons,mixture32", "--seeds", "0", "--steps", "10", "--n-pairs", "100"]
    argv += ["--n-eval", "100", "--hidden", "16", "--layers", "1", "--teacher-solver", "euler:4"]
    argv += ["--rectifications", "2", "--degrees", "2", "--teacher-sets", "1-RF", "--objectives", "end"]
    argv += ["--baselines", "", "--primary-two-step", "Bezier n=2 [1-RF] end", "--out", out]
    code, _, err = run(capsys, *argv)
    assert code == 0, err  # the Gaussian source takes each dataset's dimension
    with (out / "results.csv").open() as f:
        assert {r["dataset"] for r in csv.DictReader(f)} == {"moons", "mixture32"}
