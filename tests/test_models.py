import json

import pytest
import torch

from bezier_distill.errors import BadInput
from bezier_distill.models import (
    MLPVelocity,
    from_pretrained,
    model_fingerprint,
    resolve_model_dir,
    save_pretrained,
)


def test_mlp_shapes_and_scalar_time():
    m = MLPVelocity(dim=3, hidden=16, layers=2)
    x = torch.randn(4, 3)
    assert m(x, torch.rand(4)).shape == (4, 3)
    assert torch.equal(m(x, torch.tensor(0.5)), m(x, torch.full((4,), 0.5)))


def test_save_and_load_rebuilds_the_same_function(tmp_path):
    m = MLPVelocity(dim=2, hidden=16, layers=2)
    save_pretrained(m, tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    loaded = from_pretrained(tmp_path / "m")
    x, t = torch.randn(8, 2), torch.rand(8)
    assert torch.equal(m(x, t), loaded(x, t))
    assert json.loads((tmp_path / "m" / "config.json").read_text())["type"] == "mlp"


def test_run_folder_resolves_to_its_model(tmp_path):
    save_pretrained(MLPVelocity(dim=2, hidden=8, layers=1), tmp_path / "run" / "model")
    (tmp_path / "run" / "config.json").write_text("{}")
    assert resolve_model_dir(tmp_path / "run") == tmp_path / "run" / "model"
    assert model_fingerprint(tmp_path / "run") == model_fingerprint(tmp_path / "run" / "model")


def test_missing_folder(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        from_pretrained(tmp_path / "nope")


def test_corrupt_weights(teacher_dir):
    (teacher_dir / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(BadInput, match="corrupt"):
        from_pretrained(teacher_dir)


def test_truncated_weights(teacher_dir):
    data = (teacher_dir / "model.safetensors").read_bytes()
    (teacher_dir / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadInput, match="corrupt"):
        from_pretrained(teacher_dir)


def test_corrupt_config(teacher_dir):
    (teacher_dir / "config.json").write_text("{not json")
    with pytest.raises(BadInput, match="not valid JSON"):
        from_pretrained(teacher_dir)


def test_config_weights_mismatch(teacher_dir):
    cfg = json.loads((teacher_dir / "config.json").read_text())
    cfg["hidden"] = 64
    (teacher_dir / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BadInput, match="do not match"):
        from_pretrained(teacher_dir)


def test_unknown_model_type(teacher_dir):
    (teacher_dir / "config.json").write_text(json.dumps({"type": "transformer"}))
    with pytest.raises(BadInput, match="unknown model type"):
        from_pretrained(teacher_dir)
