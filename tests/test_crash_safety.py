"""SIGKILL at random points of a run's progress, rerun with --resume: the chain completes, no
file is corrupt, and the results equal an uninterrupted run (CPU).

The child process kills itself at a point of its own progress (the ``killed_at`` fixture: a
training step, a coupling shard, or start-up), drawn from a seeded generator, so neither the
kill point nor the verdict depends on the clock or on the machine's load.
"""

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "bezier_distill.cli"]
KILLS_PER_STAGE = 6
LOG_EVERY = 50  # training steps per logged line (and per checkpoint) in the stages below


def stages(root: Path) -> list[tuple[str, list[str]]]:
    return [
        (
            "rf1",
            [
                "train",
                "--data",
                "moons",
                "--steps",
                "2000",
                "--batch-size",
                "128",
                "--hidden",
                "64",
                "--layers",
                "2",
                "--checkpoint-every",
                str(LOG_EVERY),
                "--log-every",
                str(LOG_EVERY),
            ],
        ),
        (
            "pairs",
            [
                "reflow",
                "--model",
                str(root / "rf1"),
                "--n-pairs",
                "3000",
                "--shard-size",
                "100",
                "--solver-steps",
                "100",
            ],
        ),
        (
            "guided",
            [
                "guide",
                "--teachers",
                str(root / "rf1"),
                "--degree",
                "3",
                "--n-pairs",
                "3000",
                "--shard-size",
                "100",
                "--teacher-solvers",
                "rk4:100",
            ],
        ),
        (
            "student",
            [
                "bezier",
                "--coupling",
                str(root / "guided"),
                "--objective",
                "chord",
                "--steps",
                "2000",
                "--batch-size",
                "128",
                "--checkpoint-every",
                str(LOG_EVERY),
                "--log-every",
                str(LOG_EVERY),
            ],
        ),
    ]


def progress(folder: Path) -> int:
    """Shards listed in the manifest, or whole log lines, so far (the run's own progress)."""
    try:
        if (folder / "manifest.json").is_file():
            return len(json.loads((folder / "manifest.json").read_text())["shards"])
        if (folder / "metrics.jsonl").is_file():
            return (folder / "metrics.jsonl").read_text().count("\n")
    except (json.JSONDecodeError, OSError):
        pass
    return 0


def kill_point(name: str, folder: Path, rng: random.Random) -> str:
    """One kill in five during start-up; the others 1 to 3 units of progress further (in the
    middle of a logged unit of training steps, or at one of the next shards)."""
    if rng.random() < 0.2:
        return "start"
    if name in ("pairs", "guided"):  # shards are made in order: 0 .. done - 1 are listed
        return f"shard:{progress(folder) + rng.randint(0, 2)}"
    return f"step:{progress(folder) * LOG_EVERY + rng.randint(1, 3 * LOG_EVERY)}"


def check_not_corrupt(folder: Path, *, killed: bool = False) -> None:
    """Every file a run leaves is whole: JSON parses, safetensors and checkpoints load.

    ``metrics.jsonl`` is an append-only log: a kill may cut its last line (resume drops it).
    """
    for path in folder.rglob("*"):
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".jsonl":
            lines = path.read_text().splitlines()
            for line in lines[:-1] if killed else lines:
                json.loads(line)
        elif path.suffix == ".safetensors":
            load_file(path)
        elif path.suffix == ".pt":
            torch.load(path, weights_only=True)


def results(folder: Path) -> dict:
    if (folder / "manifest.json").is_file():
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["complete"]
        return {k: v["sha256"] for k, v in manifest["shards"].items()}
    return {k: v.clone() for k, v in load_file(folder / "model" / "model.safetensors").items()}


def test_sigkill_and_resume_everywhere_gives_the_uninterrupted_results(tmp_path, killed_at):
    rng = random.Random(20261127)
    ref, crash = tmp_path / "ref", tmp_path / "crash"
    for name, args in stages(ref):
        subprocess.run([*CLI, *args, "--out", str(ref / name)], check=True, capture_output=True)
    for name, args in stages(crash):
        argv = [*args, "--out", str(crash / name), "--resume"]
        cmd = [*CLI, *argv]
        for _ in range(KILLS_PER_STAGE):
            killed_at(kill_point(name, crash / name, rng), argv)
            if (crash / name).exists():
                check_not_corrupt(crash / name, killed=True)
        done = subprocess.run(cmd, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        check_not_corrupt(crash / name)
        a, b = results(ref / name), results(crash / name)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k], (name, k)
