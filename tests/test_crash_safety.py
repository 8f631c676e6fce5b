"""SIGKILL at random points of a run's progress, rerun with --resume: the chain completes, no
file is corrupt, and the results equal an uninterrupted run (CPU).

Kill points are defined by the run's own progress (shards in the manifest, lines in the
log), never by wall time, so a busy machine changes how long the test takes, not its verdict.
"""

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "bezier_distill.cli"]
KILLS_PER_STAGE = 6


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
                "50",
                "--log-every",
                "50",
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
                "50",
                "--log-every",
                "50",
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


def run_until_killed(cmd: list[str], folder: Path, target: int, rng: random.Random) -> None:
    """Start ``cmd`` and SIGKILL it once the run's progress reaches ``target``.

    After ``target`` is seen, a random number of further looks (10 ms apart) while the
    progress stays at ``target`` spreads the kill over that unit of work; once the next unit
    shows up, the kill is sent at once. No wall-clock deadline is involved: the run could only
    escape by finishing every remaining unit between one look and the kill.
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    extra = rng.randrange(10)
    try:
        while proc.poll() is None:
            done = progress(folder)
            if done > target or (done == target and extra == 0):
                break
            if done == target:
                extra -= 1
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"{cmd[3]} ended by itself before the kill at {target}"


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


def test_sigkill_and_resume_everywhere_gives_the_uninterrupted_results(tmp_path):
    rng = random.Random(20261127)
    ref, crash = tmp_path / "ref", tmp_path / "crash"
    for name, args in stages(ref):
        subprocess.run([*CLI, *args, "--out", str(ref / name)], check=True, capture_output=True)
    for name, args in stages(crash):
        cmd = [*CLI, *args, "--out", str(crash / name), "--resume"]
        target = 0
        for _ in range(KILLS_PER_STAGE):
            # one kill in five during start-up (no new progress), the others 1 to 3 units further
            target = progress(crash / name) + (0 if rng.random() < 0.2 else rng.randint(1, 3))
            run_until_killed(cmd, crash / name, target, rng)
            if (crash / name).exists():
                check_not_corrupt(crash / name, killed=True)
        done = subprocess.run(cmd, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        check_not_corrupt(crash / name)
        a, b = results(ref / name), results(crash / name)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k], (name, k)
