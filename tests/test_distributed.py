"""torchrun with two CPU processes (gloo) follows one process with the same global batch."""

import json
import subprocess
import sys

import pytest
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "bezier_distill.cli"]
TORCHRUN = [
    sys.executable,
    "-m",
    "torch.distributed.run",
    "--standalone",
    "--nproc_per_node=2",
    "-m",
    "bezier_distill.cli",
]


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def weights(folder):
    return load_file(folder / "model" / "model.safetensors")


def assert_close(a, b, tol=1e-5):
    assert a.keys() == b.keys()
    for k in a:
        assert (a[k] - b[k]).abs().max() < tol, k


def test_two_ranks_match_one_process_for_train_reflow_distill_and_bezier(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    train = [
        "train",
        "--data",
        "moons",
        "--steps",
        "60",
        "--batch-size",
        "64",
        "--hidden",
        "32",
        "--layers",
        "2",
        "--seed",
        "3",
        "--checkpoint-every",
        "20",
    ]
    run([*CLI, *train, "--out", str(one / "rf1")])
    run([*TORCHRUN, *train, "--out", str(two / "rf1")])
    ranks = json.loads((two / "rf1" / "distributed.json").read_text())
    assert ranks["world_size"] == 2 and len(set(ranks["param_sha256"])) == 1
    assert_close(weights(one / "rf1"), weights(two / "rf1"))

    # Pair generation splits its shards across ranks and gives the same pairs (from the same teacher).
    reflow = [
        "reflow",
        "--model",
        str(one / "rf1"),
        "--n-pairs",
        "400",
        "--shard-size",
        "50",
        "--solver-steps",
        "10",
        "--seed",
        "2",
    ]
    run([*CLI, *reflow, "--out", str(one / "pairs")])
    run([*TORCHRUN, *reflow, "--out", str(two / "pairs")])
    m1 = json.loads((one / "pairs" / "manifest.json").read_text())
    m2 = json.loads((two / "pairs" / "manifest.json").read_text())
    assert m2["complete"] and m1["shards"] == m2["shards"]

    distill = ["distill", "--pairs", str(one / "pairs"), "--steps", "40", "--batch-size", "64"]
    run([*CLI, *distill, "--out", str(one / "d")])
    run([*TORCHRUN, *distill, "--out", str(two / "d")])
    assert_close(weights(one / "d"), weights(two / "d"))

    guide = [
        "guide",
        "--teachers",
        str(one / "rf1"),
        "--degree",
        "2",
        "--n-pairs",
        "200",
        "--shard-size",
        "50",
        "--teacher-solvers",
        "rk4:10",
    ]
    run([*TORCHRUN, *guide, "--out", str(two / "g")])
    bezier = ["bezier", "--coupling", str(two / "g"), "--steps", "40", "--batch-size", "64"]
    run([*CLI, *bezier, "--out", str(one / "b")])
    run([*TORCHRUN, *bezier, "--out", str(two / "b")])
    assert_close(weights(one / "b"), weights(two / "b"))


def test_commands_that_run_in_one_process_refuse_torchrun(tmp_path):
    proc = subprocess.run(
        [*TORCHRUN, "sample", "--model", str(tmp_path), "--out", str(tmp_path / "s.npy")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0 and "runs in one process" in proc.stderr


RELEASE = """
import os, sys, weakref, torch
import torch.distributed as dist
from bezier_distill import distributed
distributed.init_from_env()
group = weakref.ref(dist.group.WORLD)
net = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(3, 3))
net(torch.ones(2, 3)).sum().backward()
del net
distributed.shutdown()
with open(os.path.join(sys.argv[1], "rank" + os.environ["RANK"]), "w") as f:  # one file per rank
    f.write("alive" if group() is not None else "released")
"""


def test_shutdown_releases_the_process_group_after_ddp(tmp_path):
    # A group that outlives shutdown keeps gloo's threads running until the interpreter's
    # teardown, which can abort a rank after its work is done.
    script = tmp_path / "release.py"
    script.write_text(RELEASE)
    run([*TORCHRUN[:-2], str(script), str(tmp_path)])
    assert [(tmp_path / f"rank{r}").read_text() for r in (0, 1)] == ["released", "released"]
