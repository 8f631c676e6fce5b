import json
import math

import pytest
import torch

from bezier_distill.errors import BadInput
from bezier_distill.models import MLPVelocity, from_pretrained
from bezier_distill.objectives import sample_time, velocity_matching
from bezier_distill.training import CHECKPOINT, METRICS, TrainingDiverged, TrainSettings, train


def loss_fn(model, g, part=slice(None)):
    x0 = torch.randn(64, 2, generator=g)
    x1 = torch.randn(64, 2, generator=g) * 0.5 + 2.0
    return velocity_matching(model, x0[part], x1[part], sample_time(64, g)[part])


def fresh():
    torch.manual_seed(7)
    return MLPVelocity(dim=2, hidden=32, layers=2)


def settings(steps, **kw):
    return TrainSettings(steps=steps, batch_size=64, warmup=5, checkpoint_every=10, log_every=5, seed=3, **kw)


def state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_gives_the_same_weights_as_one_run(tmp_path):
    one = fresh()
    ema_one = train(one, loss_fn, settings(40), tmp_path / "one", progress=False)

    two = fresh()
    train(two, loss_fn, settings(20), tmp_path / "two", progress=False)
    resumed = fresh()  # a new process would rebuild the model from scratch
    ema_two = train(resumed, loss_fn, settings(40), tmp_path / "two", resume=True, progress=False)

    for (k, a), b in zip(state(one).items(), state(resumed).values()):
        assert torch.equal(a, b), k
    for a, b in zip(state(ema_one).values(), state(ema_two).values()):
        assert torch.equal(a, b)
    lines = [json.loads(x) for x in (tmp_path / "two" / METRICS).read_text().splitlines()]
    assert [r["step"] for r in lines] == list(range(5, 41, 5))


def test_resume_from_a_mid_run_checkpoint_drops_later_log_lines(tmp_path):
    model = fresh()
    train(model, loss_fn, settings(25), tmp_path / "r", progress=False)  # checkpoint at 25
    log = tmp_path / "r" / METRICS
    log.write_text(log.read_text() + json.dumps({"step": 99, "loss": 0.0}) + "\n")
    train(fresh(), loss_fn, settings(30), tmp_path / "r", resume=True, progress=False)
    steps = [json.loads(x)["step"] for x in log.read_text().splitlines()]
    assert steps == [5, 10, 15, 20, 25, 30]


def test_training_reduces_the_loss_and_saves_the_ema_model(tmp_path):
    model = fresh()
    ema = train(model, loss_fn, settings(200, lr=3e-3), tmp_path / "t", progress=False)
    log = [json.loads(x) for x in (tmp_path / "t" / METRICS).read_text().splitlines()]
    assert log[-1]["loss"] < 0.5 * log[0]["loss"]
    loaded = from_pretrained(tmp_path / "t")
    x, t = torch.randn(4, 2), torch.rand(4)
    assert torch.equal(loaded(x, t), ema(x, t))
    assert (tmp_path / "t" / CHECKPOINT).is_file()


def test_nan_loss_stops_with_the_step_and_keeps_the_checkpoint(tmp_path):
    def exploding(model, g, part):
        loss = loss_fn(model, g, part)
        return loss * math.nan if exploding.calls_left == 0 else loss

    exploding.calls_left = 1
    model = fresh()
    train(model, loss_fn, settings(10), tmp_path / "n", progress=False)
    before = (tmp_path / "n" / CHECKPOINT).read_bytes()
    exploding.calls_left = 0
    with pytest.raises(TrainingDiverged, match="at step 11.*step 10 is kept"):
        train(fresh(), exploding, settings(20), tmp_path / "n", resume=True, progress=False)
    assert (tmp_path / "n" / CHECKPOINT).read_bytes() == before


def test_nan_weights_behind_a_finite_loss_are_not_checkpointed(tmp_path):
    """A finite loss with a NaN gradient at a checkpoint step: the weights turn NaN, the loss did not."""

    def poisoned(model, g, part):
        poisoned.calls += 1
        loss = loss_fn(model, g, part)
        if poisoned.calls == 20:
            return loss + torch.sqrt(0 * next(model.parameters()).sum())  # value + 0, gradient NaN
        return loss

    poisoned.calls = 0
    with pytest.raises(TrainingDiverged, match="NaN or Inf by step 20 .*checkpoint: step 10 is kept"):
        train(fresh(), poisoned, settings(30), tmp_path / "p", progress=False)
    state = torch.load(tmp_path / "p" / CHECKPOINT, weights_only=True)
    assert state["step"] == 10
    assert all(torch.isfinite(v).all() for part in ("model", "ema") for v in state[part].values())
    assert not (tmp_path / "p" / "model").exists()


def test_corrupt_checkpoint_is_reported(tmp_path):
    train(fresh(), loss_fn, settings(10), tmp_path / "c", progress=False)
    (tmp_path / "c" / CHECKPOINT).write_bytes(b"\x00" * 100)
    with pytest.raises(BadInput, match="checkpoint .* is corrupt"):
        train(fresh(), loss_fn, settings(20), tmp_path / "c", resume=True, progress=False)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"steps": 0}, "steps"),
        ({"lr": -1.0}, "lr"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"warmup": -1}, "warmup"),
    ],
)
def test_bad_settings(kw, match):
    with pytest.raises(BadInput, match=match):
        TrainSettings(**kw)


class _Payload:
    """Any pickled object that is not plain tensors and containers."""


def test_resume_never_unpickles_arbitrary_objects(tmp_path):
    train(fresh(), loss_fn, settings(10), tmp_path / "u", progress=False)
    torch.save({"step": 10, "model": _Payload()}, tmp_path / "u" / CHECKPOINT)
    with pytest.raises(BadInput, match="corrupt"):
        train(fresh(), loss_fn, settings(20), tmp_path / "u", resume=True, progress=False)
