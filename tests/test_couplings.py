import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from bezier_distill.couplings import MANIFEST, CouplingDataset, generate_coupling, regenerate_shard
from bezier_distill.data import get_distribution
from bezier_distill.errors import BadInput
from bezier_distill.models import from_pretrained, model_fingerprint
from bezier_distill.pairings import IndependentCoupling
from bezier_distill.solvers import SolverSpec, solve
from bezier_distill.teachers import Teacher, TeacherEnsemble

RK4 = SolverSpec("rk4", 10)


def ensemble(teacher_dir):
    return TeacherEnsemble([Teacher.load(teacher_dir, RK4)], degree=1, guides=[])


def identity(ens, n_pairs=600, shard_size=200, seed=5):
    return {
        "source": "gaussian",
        "n_pairs": n_pairs,
        "shard_size": shard_size,
        "seed": seed,
        **ens.identity(),
    }


def make(teacher_dir, out, on_shard=None, **kw):
    ens = ensemble(teacher_dir)
    return generate_coupling(
        ens, get_distribution("gaussian"), out, identity(ens, **kw), progress=False, on_shard=on_shard
    )


def checksums(manifest):
    return {k: v["sha256"] for k, v in manifest["shards"].items()}


def test_pairs_are_teacher_ode_solutions_with_provenance(teacher_dir, tmp_path):
    manifest = make(teacher_dir, tmp_path / "p", n_pairs=500)
    assert manifest["complete"] and manifest["num_shards"] == 3 and manifest["mean_nfe"] == 40
    assert [s["rows"] for s in manifest["shards"].values()] == [200, 200, 100]
    assert manifest["teachers"][0]["sha256"] == model_fingerprint(teacher_dir)
    assert manifest["teachers"][0]["solver"]["method"] == "rk4" and manifest["kind"] == "pairs"
    pairs = CouplingDataset(tmp_path / "p")
    assert len(pairs) == 500 and pairs.data_shape == (2,) and pairs.degree == 1
    z0, z1 = pairs.points[0], pairs.points[-1]
    assert torch.allclose(solve(from_pretrained(teacher_dir), z0[:50], RK4).x, z1[:50], atol=1e-6)


def test_interrupted_generation_resumes_to_identical_shards(teacher_dir, tmp_path):
    full = make(teacher_dir, tmp_path / "full")

    def crash(index):
        if index == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make(teacher_dir, tmp_path / "cut", on_shard=crash)
    partial = json.loads((tmp_path / "cut" / MANIFEST).read_text())
    assert not partial["complete"] and len(partial["shards"]) == 2
    resumed = make(teacher_dir, tmp_path / "cut")
    assert checksums(resumed) == checksums(full)


def test_a_corrupted_shard_is_regenerated_on_resume_and_refused_on_load(teacher_dir, tmp_path):
    full = make(teacher_dir, tmp_path / "p")
    shard = tmp_path / "p" / "shard_00001.safetensors"
    shard.write_bytes(shard.read_bytes()[:-8] + b"\x00" * 8)
    with pytest.raises(BadInput, match="fails its checksum"):
        CouplingDataset(tmp_path / "p")
    assert checksums(make(teacher_dir, tmp_path / "p")) == checksums(full)


def test_a_shard_regenerates_from_seed_and_index(teacher_dir, tmp_path):
    make(teacher_dir, tmp_path / "p")
    assert regenerate_shard(ensemble(teacher_dir), get_distribution("gaussian"), tmp_path / "p", 2)


def test_other_settings_in_the_same_folder_are_refused(teacher_dir, tmp_path):
    make(teacher_dir, tmp_path / "p", seed=5)
    before = (tmp_path / "p" / MANIFEST).read_bytes()
    with pytest.raises(BadInput, match="other settings.*seed"):
        make(teacher_dir, tmp_path / "p", seed=6)
    assert (tmp_path / "p" / MANIFEST).read_bytes() == before


def test_incomplete_pairs_are_refused(teacher_dir, tmp_path):
    make(teacher_dir, tmp_path / "p")
    m = json.loads((tmp_path / "p" / MANIFEST).read_text())
    m["complete"] = False
    (tmp_path / "p" / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(BadInput, match="incomplete"):
        CouplingDataset(tmp_path / "p")


def test_independent_coupling_checks_dimensions(tmp_path):
    import numpy as np

    np.save(tmp_path / "p3.npy", np.random.default_rng(0).normal(size=(10, 3)).astype("float32"))
    with pytest.raises(BadInput, match="dimension"):
        IndependentCoupling(get_distribution("gaussian"), get_distribution(str(tmp_path / "p3.npy")))


def _cli(*args):
    return [sys.executable, "-m", "bezier_distill.cli", *args]


def test_sigkill_during_reflow_then_resume_matches_an_uninterrupted_run(teacher_dir, tmp_path, killed_at):
    """A real crash: SIGKILL the reflow process mid-run, rerun with --resume."""
    common = [
        "--model",
        str(teacher_dir),
        "--source",
        "gaussian",
        "--n-pairs",
        "2400",
        "--shard-size",
        "300",
        "--solver",
        "rk4",
        "--solver-steps",
        "300",
        "--seed",
        "1",
    ]
    assert subprocess.run(_cli("reflow", "--out", str(tmp_path / "a"), *common)).returncode == 0
    # The run kills itself once shard 1 of 8 is computed, before it is written: shard 0 is listed.
    killed_at("shard:1", ["reflow", "--out", str(tmp_path / "b"), *common])
    manifest = tmp_path / "b" / MANIFEST
    done = json.loads(manifest.read_text())
    assert not done["complete"], "the run finished before it could be killed; make it longer"
    rerun = subprocess.run(_cli("reflow", "--out", str(tmp_path / "b"), "--resume", *common))
    assert rerun.returncode == 0
    a = json.loads((tmp_path / "a" / MANIFEST).read_text())
    b = json.loads(manifest.read_text())
    assert checksums(a) == checksums(b) and b["complete"]


def test_minibatch_ot_pairs_each_batch_at_the_exact_optimal_cost():
    import ot

    from bezier_distill.pairings import MinibatchOTCoupling

    source, target = get_distribution("gaussian"), get_distribution("moons")
    independent, optimal = IndependentCoupling(source, target), MinibatchOTCoupling(source, target)
    for seed in range(3):
        x0, x1 = independent.sample(256, torch.Generator().manual_seed(seed))
        y0, y1 = optimal.sample(256, torch.Generator().manual_seed(seed))
        assert torch.equal(x0, y0)  # the same draws, only re-paired
        assert sorted(map(tuple, x1.tolist())) == sorted(map(tuple, y1.tolist()))
        cost = lambda a, b: float(((a.double() - b.double()) ** 2).sum(1).mean())  # noqa: E731
        weights = np.full(256, 1 / 256)
        exact = ot.emd2(weights, weights, torch.cdist(x0.double(), x1.double()).square().numpy())
        assert cost(y0, y1) == pytest.approx(exact, rel=1e-6)  # POT's optimum (up to its cdist rounding)
        assert cost(y0, y1) < 0.5 * cost(x0, x1)  # far straighter pairs than independent ones


def test_train_with_ot_pairing_and_u_shaped_times_from_the_cli(tmp_path, capsys):
    from bezier_distill.cli import main

    args = [
        "train",
        "--data",
        "moons",
        "--steps",
        "20",
        "--batch-size",
        "64",
        "--hidden",
        "16",
        "--layers",
        "1",
    ]
    assert main([*args, "--pairing", "ot", "--time-sampling", "u-shaped", "--out", str(tmp_path / "r")]) == 0
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (config["pairing"], config["time_sampling"]) == ("ot", "u-shaped")
    assert main([*args, "--pairing", "sinkhorn", "--out", str(tmp_path / "bad")]) == 2
    assert "unknown pairing 'sinkhorn'" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    with_pairs = ["train", "--pairs", str(tmp_path / "p"), "--pairing", "ot", "--out", str(tmp_path / "k")]
    assert main(with_pairs) == 2
    assert "--pairing is ignored with --pairs" in capsys.readouterr().err
