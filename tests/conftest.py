import importlib
import os
import signal
import subprocess
import sys

import pytest
import torch

from bezier_distill.data.images import FASHION_ENV, has_fashion
from bezier_distill.models import MLPVelocity, save_pretrained


def _imports(*modules: str) -> bool:
    try:
        for module in modules:
            importlib.import_module(module)
    except ImportError:
        return False
    return True


# What a test may need that the README's install (torch, then `pip install -e ".[test]"`) does not
# bring: whether it is here, how to get it, and the variable under which CI requires it (set to 1,
# the test fails instead of skipping).
NEEDS = {
    "fashion": (
        has_fashion,
        "needs Fashion-MNIST: apt-get install dataset-fashion-mnist, or set "
        f"{FASHION_ENV} to a folder of its four IDX files",
        "BEZIER_DISTILL_REQUIRE_FASHION",
    ),
    "torchcfm": (
        # the parts of torchcfm that examples/torchcfm_interop.py uses (they need pandas too)
        lambda: _imports("torchcfm.conditional_flow_matching", "torchcfm.models"),
        'needs torchcfm: pip install --no-deps "torchcfm>=1.0" && pip install pandas (as .ci/run does)',
        "BEZIER_DISTILL_REQUIRE_TORCHCFM",
    ),
    "statsmodels": (lambda: _imports("statsmodels"), "needs statsmodels: pip install statsmodels", None),
}


def need(what: str) -> None:
    """Skip the calling test unless ``what`` (a key of :data:`NEEDS`) is here, with a reason that
    says how to get it; fail it instead when CI's variable for ``what`` requires it."""
    here, how, required_by = NEEDS[what]
    if here():
        return
    if required_by and os.environ.get(required_by, "") not in ("", "0"):
        pytest.fail(f"{how} ({required_by} requires it)")
    pytest.skip(how)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def teacher_dir(tmp_path):
    """A small (untrained, deterministic) 2-D velocity model saved as a model folder."""
    torch.manual_seed(123)
    model = MLPVelocity(dim=2, hidden=32, layers=2)
    folder = tmp_path / "teacher" / "model"
    save_pretrained(model, folder)
    return folder


# Runs the CLI in a child process that SIGKILLs itself at an exact point of its own progress,
# so a crash test never waits on the clock: "start" (after the output folder is claimed, before
# its config is written), "step:N" (after training step N) or "shard:N" (after shard N of a
# coupling is computed, before it is written).
_KILLER = r"""
import os, signal, sys
from bezier_distill import cli, couplings, runs, training

point, _, at = sys.argv[1].partition(":")
at = int(at or 0)

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if point == "start":
    claim = runs.claim_out_dir
    def claimed(*args, **kwargs):
        claim(*args, **kwargs)
        die()
    runs.claim_out_dir = claimed
elif point == "step":
    update = training._ema_update
    def updated(ema, model, decay, step):
        update(ema, model, decay, step)
        if step == at:
            die()
    training._ema_update = updated
elif point == "shard":
    make = couplings._make_shard
    def made(maker, source, manifest, index, device):
        out = make(maker, source, manifest, index, device)
        if index == at:
            die()
        return out
    couplings._make_shard = made
else:
    raise SystemExit(f"unknown kill point {point!r}")
sys.exit(cli.main(sys.argv[2:]))
"""


@pytest.fixture
def killed_at():
    """``killed_at(point, argv)`` runs ``bezier-distill argv`` and checks it died at ``point``."""

    def run(point: str, argv: list[str]) -> None:
        done = subprocess.run([sys.executable, "-c", _KILLER, point, *argv], capture_output=True, text=True)
        assert done.returncode == -signal.SIGKILL, f"{argv[0]} did not reach {point}: {done.stderr[-500:]}"

    return run
