"""SIGKILL at random moments, rerun with --resume: the chain completes, no file is corrupt,
and the results equal an uninterrupted run (CPU)."""

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
    """Shards listed in the manifest, or checkpointed log lines, so far."""
    try:
        if (folder / "manifest.json").is_file():
            return len(json.loads((folder / "manifest.json").read_text())["shards"])
        if (folder / "metrics.jsonl").is_file():
            return len((folder / "metrics.jsonl").read_text().splitlines())
    except (json.JSONDecodeError, OSError):
        pass
    return 0


def run_until_killed(cmd: list[str], folder: Path, rng: random.Random) -> bool:
    """Start ``cmd`` and SIGKILL it at a random moment; return False if it finished first.

    One kill in five lands at a random time during start-up; the others right
    after the run shows new progress (a checkpoint or a shard), plus a random delay.
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if rng.random() < 0.2:
        time.sleep(rng.uniform(0.1, 1.5))
    else:
        before, deadline = progress(folder), time.time() + 120
        while proc.poll() is None and progress(folder) <= before and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


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
    kills = 0
    for name, args in stages(crash):
        cmd = [*CLI, *args, "--out", str(crash / name), "--resume"]
        for _ in range(KILLS_PER_STAGE):
            if not run_until_killed(cmd, crash / name, rng):
                break  # it finished before the kill landed
            kills += 1
            if (crash / name).exists():
                check_not_corrupt(crash / name, killed=True)
        done = subprocess.run(cmd, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        check_not_corrupt(crash / name)
        a, b = results(ref / name), results(crash / name)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k], (name, k)
    assert kills >= 20, f"only {kills} kills landed; lengthen the stages"
