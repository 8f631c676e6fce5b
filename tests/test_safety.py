"""Never lose a user's files: every hostile input is one line, exit 2, and changes nothing.

``SAFETY`` lists the cases (run from inside a scratch folder that :func:`_world` fills with
runs, pair folders and damaged copies of them; paths are relative to it). The test of each
row snapshots every file and byte of that folder before and after the command.
``scripts/errors_table.py`` copies the rows and their messages into docs/ERRORS.md.
The cases that need a second process, a full disk or a read-only one are tests of their own.
"""

import errno
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from test_cli import snapshot

from bezier_distill import couplings, storage
from bezier_distill.cli import main
from bezier_distill.config import ReflowConfig, TrainConfig
from bezier_distill.errors import BadInput
from bezier_distill.models import MLPVelocity, save_pretrained
from bezier_distill.recipes import run_reflow, run_train
from bezier_distill.storage import check_out_dir, sha256_file

# The tiny run of the world; a row that resumes it must repeat these settings.
RUN = ["--data", "moons", "--steps", "4", "--batch-size", "8", "--hidden", "8", "--layers", "1"]
RUN += ["--checkpoint-every", "2", "--log-every", "2"]


def _run_config(out: Path) -> TrainConfig:
    return TrainConfig(
        out=str(out), data="moons", steps=4, batch_size=8, hidden=8, layers=1, checkpoint_every=2, log_every=2
    )


def _pairs(model: Path, out: Path) -> None:
    cfg = ReflowConfig(
        out=str(out), model=str(model), n_pairs=20, shard_size=10, solver="euler", solver_steps=2
    )
    run_reflow(cfg, progress=False)


def _edit_manifest(folder: Path, edit) -> None:
    path = folder / "manifest.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


def _rewrite_shard(folder: Path, index: int, tensors: dict) -> None:
    """Replace shard ``index`` and record its new checksum (a consistent but wrong shard)."""
    name = f"shard_{index:05d}.safetensors"
    save_file(tensors, folder / name)
    digest = sha256_file(folder / name)

    def edit(m):
        m["shards"][str(index)]["sha256"] = digest
        return m

    _edit_manifest(folder, edit)


def _bomb_png(path: Path, side: int = 30000) -> None:
    """A tiny PNG whose header claims side x side pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def _no_weights(folder: Path) -> None:
    (folder / "model.safetensors").unlink()


def _half_weights(folder: Path) -> None:
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])


def _string_numbers(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    numbers = {
        k: str(v) for k, v in config.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    (folder / "config.json").write_text(json.dumps(config | numbers))


def _empty_config(folder: Path) -> None:
    (folder / "config.json").write_text("{}")


# Model folders broken four ways (copies of run/model), and what the refusal of each says; every
# reader of a model folder refuses each of them in one line naming it (BROKEN_READERS).
BROKEN = {
    "mb_noweights": (_no_weights, "has no model.safetensors"),
    "mb_halfweights": (_half_weights, "are corrupt or were changed"),
    "mb_strings": (_string_numbers, "field 'dim' must be an integer, got \"2\""),
    "mb_empty": (_empty_config, "config.json has no 'type' field"),
}


def _world(root: Path) -> None:
    """Runs, pair folders and their damaged copies, as the SAFETY rows name them."""
    run_train(_run_config(root / "run"), progress=False)
    _pairs(root / "run", root / "pairs")
    run_train(
        TrainConfig(out=str(root / "k2"), pairs=str(root / "pairs"), steps=2, batch_size=8), progress=False
    )
    (root / "thesis").mkdir()
    (root / "thesis" / "thesis.tex").write_text("\\chapter{Years of work}\n")
    (root / "f.json").write_text('{"mine": true}\n')
    (root / "adir.npy").mkdir()
    np.save(root / "e1.npy", np.zeros((0, 4, 4), np.uint8))
    np.save(root / "e2.npy", np.zeros((10, 0, 4), np.uint8))
    (root / "bomb").mkdir()
    _bomb_png(root / "bomb" / "big.png")

    # manifests: a list, no shards, an entry without its file, paths leading out of the folder
    for name, edit in {
        "p_list": lambda m: [m],
        "p_noshards": lambda m: {k: v for k, v in m.items() if k != "shards"},
        "p_nofile": lambda m: (
            m | {"shards": {"0": {k: v for k, v in m["shards"]["0"].items() if k != "file"}}}
        ),
        "p_escape": lambda m: (
            m | {"shards": m["shards"] | {"0": m["shards"]["0"] | {"file": "../secret.safetensors"}}}
        ),
        "p_abs": lambda m: (
            m | {"shards": m["shards"] | {"0": m["shards"]["0"] | {"file": str(root / "secret.safetensors")}}}
        ),
    }.items():
        shutil.copytree(root / "pairs", root / name)
        _edit_manifest(root / name, edit)
    shutil.copy(root / "pairs" / "shard_00000.safetensors", root / "secret.safetensors")
    # shards: one without z1, one of another dimension
    shutil.copytree(root / "pairs", root / "p_noz1")
    _rewrite_shard(root / "p_noz1", 1, {"z0": torch.zeros(10, 2)})
    shutil.copytree(root / "pairs", root / "p_mixed")
    _rewrite_shard(root / "p_mixed", 1, {"z0": torch.zeros(10, 3), "z1": torch.zeros(10, 3)})
    # a shard of float64 (its checksum updated), manifests recording another shape or degree
    shutil.copytree(root / "pairs", root / "p_f64")
    shard = load_file(root / "pairs" / "shard_00001.safetensors")
    _rewrite_shard(root / "p_f64", 1, {k: v.double() for k, v in shard.items()})
    shutil.copytree(root / "pairs", root / "p_dim5")
    _edit_manifest(root / "p_dim5", lambda m: m | {"data_shape": [5]})
    shutil.copytree(root / "pairs", root / "p_degree2")
    _edit_manifest(root / "p_degree2", lambda m: m | {"degree": 2})

    # broken model folders, and pair folders whose teacher is one of them
    for name, (damage, _) in BROKEN.items():
        shutil.copytree(root / "run" / "model", root / name)
        damage(root / name)
        shutil.copytree(root / "pairs", root / f"p_{name}")
        teacher = str(root / name)
        _edit_manifest(
            root / f"p_{name}", lambda m, t=teacher: m | {"teachers": [m["teachers"][0] | {"path": t}]}
        )

    # a teacher replaced after its pairs were made
    shutil.copytree(root / "run", root / "t_changed")
    _pairs(root / "t_changed", root / "p_changed")
    torch.manual_seed(1)
    save_pretrained(MLPVelocity(dim=2, hidden=8, layers=1), root / "t_changed" / "model")

    # model folders: flipped weight bytes, a config whose type is a list, NaN weights
    shutil.copytree(root / "run" / "model", root / "m_flip")
    weights = bytearray((root / "m_flip" / "model.safetensors").read_bytes())
    weights[-3] ^= 0x40  # a byte of the last tensor's data: the file still parses
    (root / "m_flip" / "model.safetensors").write_bytes(bytes(weights))
    shutil.copytree(root / "run" / "model", root / "m_typelist")
    cfg = json.loads((root / "m_typelist" / "config.json").read_text())
    (root / "m_typelist" / "config.json").write_text(json.dumps(cfg | {"type": ["mlp"]}))
    shutil.copytree(root / "run" / "model", root / "m_provlist")
    (root / "m_provlist" / "config.json").write_text(json.dumps(cfg | {"provenance": ["pts.npy"]}))
    nan_model = MLPVelocity(dim=2, hidden=8, layers=1)
    with torch.no_grad():
        nan_model.net[0].weight[0, 0] = float("nan")
    save_pretrained(nan_model, root / "m_nan")

    # run configs: a list, pairs: 5, and a provenance cycle (its pairs were made by itself), beside
    # model folders that record no provenance of their own (as older versions made them)
    def _without_provenance(folder: Path) -> None:
        shutil.copytree(root / "run" / "model", folder)
        config = json.loads((folder / "config.json").read_text())
        config.pop("provenance")
        (folder / "config.json").write_text(json.dumps(config))

    for name, config in {"r_list": [], "r_pairs5": {"out": "r_pairs5", "seed": 0, "pairs": 5}}.items():
        _without_provenance(root / name / "model")
        (root / name / "config.json").write_text(json.dumps(config))
    _without_provenance(root / "r_cycle" / "model")
    shutil.copytree(root / "pairs", root / "p_cycle")
    (root / "r_cycle" / "config.json").write_text(
        json.dumps({"out": "r_cycle", "seed": 0, "pairs": str(root / "p_cycle")})
    )
    _edit_manifest(
        root / "p_cycle",
        lambda m: m | {"teachers": [m["teachers"][0] | {"path": str(root / "r_cycle" / "model")}]},
    )

    # resume checkpoints: without 'model', of another model's shapes
    for name in ("ck_nomodel", "ck_shape"):
        shutil.copytree(root / "run", root / name)
        state = torch.load(root / name / "checkpoint.pt", weights_only=True)
        if name == "ck_nomodel":
            del state["model"]
        else:
            other = MLPVelocity(dim=2, hidden=16, layers=1).state_dict()
            state["model"] = state["ema"] = other
        torch.save(state, root / name / "checkpoint.pt")
    storage.release_locks()


SAFETY = [
    # data loss
    (["train", "--out", "", "--overwrite"], "--out is empty"),
    (["train", "--out", "", "--resume"], "--out is empty"),
    (["train", "--out", "thesis", "--overwrite"], "only replaces a folder made by bezier-distill"),
    (["train", "--out", ".", "--overwrite"], "it is (or holds) the current folder"),
    (["train", "--out", "..", "--overwrite"], "it is (or holds) the current folder"),
    (["reflow", "--model", "run", "--out", "run", "--overwrite"], "--out run is the input --model run"),
    (["reflow", "--model", "run/model", "--out", "run", "--overwrite"], "holds the input --model"),
    (["train", "--pairs", "pairs", "--out", "pairs", "--overwrite"], "--out pairs is the input --pairs"),
    (
        ["train", "--pairs", "pairs", "--out", "run", "--overwrite"],
        "holds the input --init (the coupling's teacher)",
    ),
    (
        ["distill", "--pairs", "pairs", "--out", "run", "--overwrite"],
        "holds the input --init (the coupling's teacher)",
    ),
    (["guide", "--teachers", "run", "--out", "run", "--overwrite"], "is the input --teachers"),
    (["bezier", "--coupling", "pairs", "--out", "pairs", "--overwrite"], "is the input --coupling"),
    (["train", "--init", "run", "--out", "run", "--overwrite"], "is the input --init"),
    (["sample", "--model", "run", "--out", "f.npy"], "f.json already exists"),
    (["sample", "--model", "run", "--out", "adir.npy"], "adir.npy is a folder"),
    (["sample", "--model", "run", "--out", ""], "--out is empty"),
    # outputs inside inputs: files (and the sidecars beside them) and folders, inside a model
    # folder, a run folder holding the model and a coupling, with or without --overwrite
    (
        ["sample", "--model", "run", "--out", "run/model/config.npy", "--overwrite"],
        "--out run/model/config.npy lies inside the input --model run",
    ),
    (["sample", "--model", "run/model", "--out", "run/model/s.npy"], "lies inside the input --model run"),
    (
        ["sample", "--model", "run/model", "--out", "run/s.npy"],
        "--out run/s.npy lies inside the input --model run",
    ),
    (
        ["evaluate", "--model", "run", "--out", "run/e.json", "--overwrite"],
        "lies inside the input --model run",
    ),
    (
        ["sample", "--model", "k2", "--out", "pairs/manifest.npy", "--overwrite"],
        "lies inside the input --model's coupling",
    ),
    (["evaluate", "--model", "k2", "--out", "pairs/e.json"], "lies inside the input --model's coupling"),
    (["evaluate", "--model", "k2", "--out", "run/e.json"], "lies inside the input --model's teacher"),
    (["reflow", "--model", "run", "--out", "run/model/pairs"], "--out run/model/pairs lies inside the input"),
    (
        ["reflow", "--model", "run/model", "--out", "run/pairs", "--overwrite"],
        "lies inside the input --model",
    ),
    (
        ["guide", "--teachers", "run/model", "--out", "run/g"],
        "--out run/g lies inside the input --teachers run",
    ),
    (["train", "--init", "run", "--data", "moons", "--out", "run/model/ft"], "lies inside the input --init"),
    (["train", "--pairs", "pairs", "--out", "pairs/k", "--overwrite"], "lies inside the input --pairs pairs"),
    (["distill", "--pairs", "pairs", "--out", "pairs/d"], "lies inside the input --pairs pairs"),
    (["bezier", "--coupling", "pairs", "--out", "pairs/b"], "lies inside the input --coupling pairs"),
    (
        ["distill", "--pairs", "pairs", "--out", "run/d"],
        "lies inside the input --init (the coupling's teacher)",
    ),
    (
        ["train", "--pairs", "pairs", "--init", "k2", "--out", "run/k"],
        "lies inside the input (the coupling's teacher)",
    ),
    # inputs that are not what they claim to be
    (["train", "--pairs", "p_escape"], "is not a file inside p_escape"),
    (["train", "--pairs", "p_abs"], "is not a file inside p_abs"),
    (["train", "--pairs", "p_changed"], "has changed since the coupling was made"),
    (["distill", "--pairs", "p_changed"], "--allow-changed-teacher"),
    (["reflow", "--model", "m_flip"], "are corrupt or were changed"),
    (["train", "--pairs", "p_list"], "coupling manifest p_list/manifest.json must be a JSON object"),
    (
        ["distill", "--pairs", "p_noshards"],
        "coupling manifest p_noshards/manifest.json has no 'shards' field",
    ),
    (["train", "--pairs", "p_nofile"], "shards['0'] has no 'file' field"),
    (["bezier", "--coupling", "p_noz1"], "coupling shard p_noz1/shard_00001.safetensors has no 'z1' tensor"),
    (["train", "--pairs", "p_mixed"], "holds rows of shape (3,) (degree 1), but the shards before it hold"),
    (["distill", "--pairs", "p_f64"], "shard_00001.safetensors holds 'z0' as float64, but a stored coupling"),
    (
        ["train", "--pairs", "p_dim5"],
        "holds rows of shape (2,), but its manifest p_dim5/manifest.json records",
    ),
    (["bezier", "--coupling", "p_degree2"], "holds control points of degree 1, but its manifest"),
    (["reflow", "--model", "mb_noweights"], "model folder mb_noweights has no model.safetensors"),
    (["guide", "--teachers", "run,mb_empty"], "model config mb_empty/config.json has no 'type' field"),
    (["train", "--pairs", "p_mb_strings", "--init", "scratch"], "field 'dim' must be an integer"),
    (["sample", "--model", "m_typelist"], "field 'type' must be a string"),
    (["sample", "--model", "m_provlist"], "field 'provenance' must be an object"),
    (["sample", "--model", "m_nan"], "hold NaN or Inf"),
    (["sample", "--model", "r_list"], "run config r_list/config.json must be a JSON object"),
    (["train", "--out", "r_list", "--resume"], "run config r_list/config.json must be a JSON object"),
    (["reflow", "--model", "r_pairs5"], "field 'pairs' must be of type str | None, got 5"),
    (["evaluate", "--model", "r_cycle"], "loops"),
    (
        ["train", "--out", "ck_nomodel", "--resume", *RUN],
        "checkpoint ck_nomodel/checkpoint.pt has no 'model' field",
    ),
    (["train", "--out", "ck_shape", "--resume", *RUN], "'model' weights do not fit the model"),
    # tracebacks that are now one line
    (["train", "--data", "e1.npy"], "holds no images"),
    (["train", "--data", "e2.npy"], "holds no images"),
    (["train", "--data", "bomb"], "too large to read safely"),
    (["train", "--seed", "-1"], "--seed must be a non-negative integer"),
    (["sample", "--model", "run", "--seed", "-1"], "--seed must be a non-negative integer"),
    (["train", "--device", "cuda:abc"], "--device must be cpu, cuda or cuda:N"),
    (["train", "--device", "cuda:99"], "--device cuda:99"),
    (["train", "--batch-size", "1000000000000"], "lower --batch-size"),
    (["train", "--hidden", "10000000"], "lower --hidden"),
    (["train", "--data", "digits:size=100000"], "lower size="),
    (
        ["evaluate", "--model", "run", "--solver", "dopri5", "--rtol", "1e-30", "--atol", "1e-30"],
        "at least 1e-12",
    ),
    # silent surprises
    (["train", "--pairs", "pairs", "--data", "checkerboard"], "--data is ignored with --pairs"),
    (
        ["train", "--pairs", "pairs", "--hidden", "64"],
        "--hidden is ignored when training starts from a model",
    ),
    (["train", "--pairs", "pairs", "--layers", "5"], "--layers is ignored"),
    (["train", "--init", "run", "--arch", "unet"], "--arch is ignored"),
    (
        ["sample", "--model", "run", "--solver", "dopri5", "--solver-steps", "10"],
        "--solver-steps is ignored by dopri5",
    ),
    (["sample", "--model", "run", "--solver", "euler", "--rtol", "1e-3"], "--rtol is ignored by euler"),
    (["bezier", "--coupling", "pairs", "--channels", "8"], "--channels is ignored when training starts"),
    (["train", "--data", "moons", "--allow-changed-teacher"], "--allow-changed-teacher is ignored"),
    (
        ["bezier", "--coupling", "pairs", "--init", "run", "--allow-changed-teacher"],
        "--allow-changed-teacher is ignored",
    ),
    (["evaluate", "--model", "run", "--overwrite"], "--overwrite is ignored without --out"),
    (["compare", "--seeds", "0,-1"], "--seeds must be comma-separated integers >= 0"),
    (
        ["train", "--out", "run", "--resume", *RUN[:2], "--steps", "2", *RUN[4:]],
        "its checkpoint is at step 4 already",
    ),
    (["guide", "--teachers", "run", "--guides", "state:0@1e999+0@1"], "non-finite weight inf"),
    (["guide", "--teachers", "run", "--guides", "state:0@1e308+0@1e308"], "too large to add up"),
]
if not torch.cuda.is_available():
    SAFETY.append((["train", "--device", "cuda"], "no CUDA GPU is available here"))


def shown(argv: list[str]) -> str:
    """A row's command as docs/ERRORS.md shows it (an empty argument as '')."""
    return " ".join(a if a else "''" for a in argv)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    _world(root)
    return root


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def check_refused(capsys, folder: Path, argv, message: str) -> str:
    """Run ``argv``: exit 2, one line holding ``message``, and no file in ``folder`` changed or new."""
    before = snapshot(folder)
    code, _, err = run(capsys, *argv)
    assert code == 2, err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert snapshot(folder) == before
    return err


@pytest.mark.parametrize("argv,message", SAFETY, ids=[" ".join(a) for a, _ in SAFETY])
def test_every_hostile_case_is_one_line_exit_2_and_changes_nothing(world, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(world)
    check_refused(capsys, world, argv, message)


def test_the_world_is_what_the_rows_say(world, capsys, monkeypatch):
    """The damaged copies are damaged only where the rows say: the originals work."""
    monkeypatch.chdir(world)
    assert run(capsys, "sample", "--model", "run", "--out", "ok/s.npy", "--n", "10")[0] == 0
    assert (
        run(capsys, "train", "--pairs", "pairs", "--out", "ok/k", "--steps", "2", "--batch-size", "8")[0] == 0
    )
    shutil.rmtree(world / "ok")


# Every command that reads a model folder ({m}: one of BROKEN), directly or as a coupling's teacher.
BROKEN_READERS = [
    ["reflow", "--model", "{m}"],
    ["guide", "--teachers", "{m}"],
    ["guide", "--teachers", "run,{m}", "--guides", "state:1"],
    ["sample", "--model", "{m}"],
    ["evaluate", "--model", "{m}"],
    ["evaluate", "--model", "run", "--data", "moons", "--out", "e.json", "--overwrite", "--n", "10"],
    ["train", "--init", "{m}", "--data", "moons"],
    ["distill", "--pairs", "pairs", "--init", "{m}"],
    ["bezier", "--coupling", "pairs", "--init", "{m}"],
    ["train", "--pairs", "p_{m}"],
    ["train", "--pairs", "p_{m}", "--init", "scratch"],
    ["train", "--pairs", "p_{m}", "--init", "run"],
    ["distill", "--pairs", "p_{m}"],
    ["distill", "--pairs", "p_{m}", "--init", "run"],
    ["distill", "--pairs", "p_{m}", "--allow-changed-teacher"],
    ["bezier", "--coupling", "p_{m}"],
    ["bezier", "--coupling", "p_{m}", "--init", "scratch"],
]


@pytest.mark.parametrize("broken", BROKEN)
@pytest.mark.parametrize("argv", BROKEN_READERS, ids=" ".join)
def test_every_reader_of_a_model_folder_refuses_a_broken_one_in_one_line(
    world, capsys, monkeypatch, argv, broken
):
    monkeypatch.chdir(world)
    if "{m}" not in " ".join(argv):  # the control: the same command on the intact folder works
        code, _, err = run(capsys, *argv)
        assert code == 0, err
        (world / "e.json").unlink()
        (world / "e.png").unlink(missing_ok=True)
        return
    err = check_refused(capsys, world, [a.format(m=broken) for a in argv], BROKEN[broken][1])
    assert broken in err  # the message names the broken folder


@pytest.mark.parametrize("broken", BROKEN)
def test_every_api_reader_of_a_model_folder_refuses_a_broken_one(world, broken):
    from bezier_distill.couplings import CouplingDataset
    from bezier_distill.models import from_pretrained, load_model_dir, model_fingerprint, model_provenance
    from bezier_distill.provenance import provenance
    from bezier_distill.solvers import SolverSpec
    from bezier_distill.teachers import Teacher

    message = BROKEN[broken][1]
    readers = [from_pretrained, load_model_dir, model_fingerprint, model_provenance, provenance]
    readers.append(lambda folder: Teacher.load(folder, SolverSpec("euler", 2)))
    for read in readers:
        with pytest.raises(BadInput, match=re.escape(message)):
            read(world / broken)
    coupling = CouplingDataset(world / f"p_{broken}")
    for allow_changed in (False, True):
        with pytest.raises(BadInput, match=re.escape(message)):
            coupling.checked_teacher(allow_changed=allow_changed)


def test_the_broken_model_folders_break_only_where_they_say(world):
    """Each broken copy differs from run/model in exactly the damaged file."""
    for name in BROKEN:
        files = {p.name for p in (world / name).iterdir()}
        assert files <= {"config.json", "model.safetensors"}
        same = [f for f in files if (world / name / f).read_bytes() == (world / "run/model" / f).read_bytes()]
        assert len(same) == len(files) - (name != "mb_noweights"), name


def test_overwrite_from_a_scratch_folder_keeps_every_file(tmp_path, capsys, monkeypatch):
    """The acceptance case: an unset variable (--out "") and a folder of the user's own files."""
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "thesis.tex").write_text("years of work")
    monkeypatch.chdir(tmp_path)
    check_refused(capsys, tmp_path, ["train", "--out", "", "--overwrite"], "--out is empty")
    check_refused(capsys, tmp_path, ["train", "--out", "thesis", "--overwrite"], "made by bezier-distill")
    check_refused(capsys, tmp_path, ["train", "--out", ".", "--overwrite"], "current folder")
    monkeypatch.setenv("HOME", str(tmp_path / "thesis"))
    check_refused(capsys, tmp_path, ["train", "--out", "thesis", "--overwrite"], "home folder")
    assert (tmp_path / "thesis" / "thesis.tex").read_text() == "years of work"


@pytest.mark.parametrize("folder", ["/", "~"])
def test_overwrite_never_removes_the_root_or_the_home_folder(folder):
    # check_out_dir only looks: nothing is removed even if it were to accept
    with pytest.raises(BadInput, match="refuses to remove"):
        check_out_dir(os.path.expanduser(folder), overwrite=True)


def test_overwrite_replaces_a_run_but_keeps_its_inputs(tmp_path, capsys):
    out = tmp_path / "r"
    args = ["train", "--out", out, *RUN]
    assert run(capsys, *args)[0] == 0
    (out / "stale.txt").write_text("from the old run")
    assert run(capsys, *args, "--overwrite", "--seed", "1")[0] == 0
    assert not (out / "stale.txt").exists() and (out / "model" / "model.safetensors").is_file()
    assert json.loads((out / "config.json").read_text())["seed"] == 1


def test_a_changed_teacher_is_used_only_when_allowed_and_the_choice_is_recorded(world, tmp_path, capsys):
    out = tmp_path / "k"
    args = ["train", "--pairs", world / "p_changed", "--out", out, "--steps", "2", "--batch-size", "8"]
    assert run(capsys, *args, "--allow-changed-teacher")[0] == 0
    assert json.loads((out / "config.json").read_text())["allow_changed_teacher"] is True


def test_init_scratch_on_pairs_trains_a_fresh_model_of_the_given_size(world, tmp_path, capsys):
    out = tmp_path / "s"
    args = ["train", "--pairs", world / "pairs", "--init", "scratch", "--hidden", "12", "--layers", "1"]
    assert run(capsys, *args, "--out", out, "--steps", "2", "--batch-size", "8")[0] == 0
    assert json.loads((out / "model" / "config.json").read_text())["hidden"] == 12


def test_a_resume_may_add_steps(tmp_path, capsys):
    out = tmp_path / "r"
    assert run(capsys, "train", "--out", out, *RUN)[0] == 0
    more = [*RUN[:2], "--steps", "6", *RUN[4:]]
    assert run(capsys, "train", "--out", out, "--resume", *more)[0] == 0
    assert json.loads((out / "config.json").read_text())["steps"] == 6


def test_model_folders_record_and_check_their_weights_hash(world):
    config = json.loads((world / "run" / "model" / "config.json").read_text())
    assert config["weights_sha256"] == sha256_file(world / "run" / "model" / "model.safetensors")


def test_a_model_folder_without_a_recorded_hash_still_loads(world, tmp_path):
    from bezier_distill.models import from_pretrained

    shutil.copytree(world / "run" / "model", tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    del config["weights_sha256"]
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    assert from_pretrained(tmp_path / "old").data_shape == (2,)


# --- a second process, a full disk, a read-only disk, too little memory ---------------------------

HOLD_LOCK = """
import sys
from bezier_distill.storage import claim_out_dir
claim_out_dir(sys.argv[1])
print("locked", flush=True)
sys.stdin.read()  # hold the lock until the test closes stdin or kills us
"""


def test_a_second_process_is_refused_while_the_first_holds_the_folder(tmp_path, capsys):
    out = tmp_path / "r"
    assert run(capsys, "train", "--out", out, *RUN)[0] == 0
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    command = [sys.executable, "-c", HOLD_LOCK, str(out)]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env) as holder:
        try:
            assert holder.stdout.readline() == b"locked\n"  # waits for the holder, not for a time
            argv = ["train", "--out", out, "--resume", *RUN]
            err = check_refused(capsys, tmp_path, argv, "in use by another")
            assert f"(pid {holder.pid})" in err
            check_refused(capsys, tmp_path, ["train", "--out", out, "--overwrite", *RUN], "in use by another")
        finally:
            holder.kill()  # SIGKILL: the kernel drops its lock
    more = [*RUN[:2], "--steps", "6", *RUN[4:]]
    assert run(capsys, "train", "--out", out, "--resume", *more)[0] == 0  # the stale lock does not block


def test_a_full_disk_during_reflow_is_one_line_and_resume_completes(world, tmp_path, capsys, monkeypatch):
    args = [
        "reflow",
        "--model",
        world / "run",
        "--n-pairs",
        "30",
        "--shard-size",
        "10",
        "--solver-steps",
        "2",
    ]
    assert run(capsys, *args, "--out", tmp_path / "ref")[0] == 0
    real = couplings.atomic_write_bytes

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def full_after_one_shard(path, data):
        with monkeypatch.context() as m:
            if Path(path).name == "shard_00001.safetensors":
                m.setattr(os, "fsync", no_space)  # the disk fills while the second shard is written
            real(path, data)

    monkeypatch.setattr(couplings, "atomic_write_bytes", full_after_one_shard)
    out = tmp_path / "p"
    code, _, err = run(capsys, *args, "--out", out)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "disk full while writing" in err and "shard_00001" in err and "--resume" in err
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    shard0 = (out / "shard_00000.safetensors").read_bytes()
    assert shard0 == (tmp_path / "ref" / "shard_00000.safetensors").read_bytes()
    monkeypatch.undo()
    assert run(capsys, *args, "--out", out, "--resume")[0] == 0
    assert (out / "shard_00000.safetensors").read_bytes() == shard0
    for name in ("ref", "p"):
        manifest = json.loads((tmp_path / name / "manifest.json").read_text())
        assert manifest["complete"]
    ref, done = (json.loads((tmp_path / n / "manifest.json").read_text())["shards"] for n in ("ref", "p"))
    assert {k: v["sha256"] for k, v in ref.items()} == {k: v["sha256"] for k, v in done.items()}


def _read_only_below(monkeypatch, folder: Path) -> None:
    """Make creating anything below ``folder`` fail with EROFS, as on a read-only mount."""
    real_mkstemp, real_mkdir = tempfile.mkstemp, Path.mkdir

    def inside(path) -> bool:
        return Path(path).resolve().is_relative_to(folder.resolve())

    def mkstemp(*args, dir=None, **kw):
        if dir is not None and inside(dir):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dir))
        return real_mkstemp(*args, dir=dir, **kw)

    def mkdir(self, *args, **kw):
        if inside(self):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_mkdir(self, *args, **kw)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(Path, "mkdir", mkdir)


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--out", "{ro}/r", *RUN],
        ["sample", "--model", "{world}/run", "--out", "{ro}/s.npy", "--n", "10"],
        ["sample", "--model", "{world}/run", "--out", "{ro}/new/s.npy", "--n", "10"],
        ["evaluate", "--model", "{world}/run", "--out", "{ro}/e.json", "--n", "10"],
    ],
    ids=["train", "sample", "sample-new-folder", "evaluate"],
)
def test_a_read_only_disk_is_one_line(world, tmp_path, capsys, monkeypatch, argv):
    ro = tmp_path / "ro"
    ro.mkdir()
    _read_only_below(monkeypatch, ro)
    argv = [a.format(ro=ro, world=world) for a in argv]
    check_refused(capsys, tmp_path, argv, "Read-only file system")


def test_out_of_memory_while_running_is_one_line_naming_the_setting(world, tmp_path, capsys, monkeypatch):
    import bezier_distill.recipes as recipes

    def no_memory(*args, **kw):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: "
            "you tried to allocate 80000000000 bytes. Error code 12 (Cannot allocate memory)"
        )

    monkeypatch.setattr(recipes, "solve", no_memory)
    argv = ["sample", "--model", world / "run", "--out", tmp_path / "s.npy", "--n", "10"]
    err = check_refused(capsys, tmp_path, argv, "out of memory (tried to allocate 80000000000 bytes)")
    assert "lower --n" in err


def test_a_genuine_bug_keeps_its_traceback(world, tmp_path, monkeypatch):
    import bezier_distill.recipes as recipes

    def bug(*args, **kw):
        raise RuntimeError("an index went wrong")

    monkeypatch.setattr(recipes, "solve", bug)
    with pytest.raises(RuntimeError, match="index went wrong"):
        main(["sample", "--model", str(world / "run"), "--out", str(tmp_path / "s.npy"), "--n", "10"])


def test_a_diverging_run_is_one_line_and_keeps_a_good_checkpoint(tmp_path, capsys):
    """The issue's command (tests/test_training.py checks NaN weights behind a finite loss)."""
    out = tmp_path / "d"
    code, _, err = run(
        capsys, "train", "--out", out, "--lr", "1e6", "--warmup", "0", "--checkpoint-every", "1"
    )
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert f"the last good checkpoint: step {state['step']} is kept" in err
    for entry in ("model", "ema"):
        assert all(torch.isfinite(v).all() for v in state[entry].values())
    assert not (out / "model").exists()


def test_shards_never_resolve_outside_their_folder(world):
    with pytest.raises(BadInput, match="not a file inside"):
        couplings.read_manifest(world / "p_escape")
    assert load_file(world / "secret.safetensors")  # the target exists: it is refused, not missing


def test_an_output_file_and_its_sidecars_may_not_be_or_lie_inside_an_input(tmp_path):
    from bezier_distill.storage import check_out_file

    (tmp_path / "data").mkdir()
    (tmp_path / "s.json").write_text("{}")
    inputs = {"--data": [str(tmp_path / "data")], "--reference": [str(tmp_path / "s.json")]}
    check = lambda out: check_out_file(out, ".npy", overwrite=True, sidecars=(".json",), inputs=inputs)  # noqa: E731
    with pytest.raises(BadInput, match=r"s\.json \(written beside --out .*s\.npy\) is the input --reference"):
        check(tmp_path / "s.npy")
    with pytest.raises(BadInput, match="lies inside the input --data"):
        check(tmp_path / "data" / "new" / "x.npy")
    assert check(tmp_path / "x.npy") == tmp_path / "x.npy"  # beside the inputs is fine
    assert not (tmp_path / "data" / "new").exists()


@pytest.mark.parametrize("record", ["run", "model", "coupling"])
def test_a_sidecar_never_replaces_the_record_of_a_folder_the_tool_made(tmp_path, record):
    from bezier_distill.storage import check_out_file

    folder = tmp_path / "made"
    folder.mkdir()
    name, content = {
        "run": ("config.json", {"out": str(folder), "seed": 0}),
        "model": ("config.json", {"type": "mlp", "weights_sha256": "0" * 64}),
        "coupling": ("manifest.json", {"shards": {}, "teachers": []}),
    }[record]
    (folder / name).write_text(json.dumps(content))
    out = folder / name.replace(".json", ".npy")
    with pytest.raises(BadInput, match="never replaced"):
        check_out_file(out, ".npy", overwrite=True, sidecars=(".json", ".png"))
    (folder / name).write_text("{}")  # a file of that name that records nothing may be replaced
    assert check_out_file(out, ".npy", overwrite=True, sidecars=(".json", ".png")) == out
