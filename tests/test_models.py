import inspect
import json

import pytest
import torch

from bezier_distill.errors import BadInput
from bezier_distill.models import (
    CONFIG_FIELDS,
    MODELS,
    REQUIRED_FIELDS,
    MLPVelocity,
    build_model,
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


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_the_config_schema_of_model_folders_is_each_models_signature(kind):
    """load_model_dir checks a config.json against CONFIG_FIELDS: they must be the model's arguments."""
    parameters = inspect.signature(MODELS[kind]).parameters
    assert set(CONFIG_FIELDS[kind]) == set(parameters)
    assert set(REQUIRED_FIELDS[kind]) == {n for n, p in parameters.items() if p.default is p.empty}
    for name, kind_of in CONFIG_FIELDS[kind].items():
        default = parameters[name].default
        if default is not parameters[name].empty:
            assert isinstance(default, tuple if kind_of is list else kind_of), name


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


@pytest.mark.parametrize("kind", ["mlp", "unet"])
def test_an_interval_model_takes_a_second_time_defaulting_to_the_first(kind, tmp_path):
    config = {"dim": 4, "hidden": 16, "layers": 2} if kind == "mlp" else {"shape": (1, 4, 4), "channels": [8]}
    model = build_model(kind, interval=True, **config)
    x, t = torch.randn(3, 16 if kind == "unet" else 4), torch.rand(3)
    if kind == "unet":
        torch.nn.init.normal_(model.out[-1].weight)  # the UNet's output layer starts at zero
    assert torch.equal(model(x, t), model(x, t, t))
    assert not torch.allclose(model(x, t, t + 0.5), model(x, t))
    save_pretrained(model, tmp_path / "m")
    again = from_pretrained(tmp_path / "m")
    assert again.interval and torch.equal(again(x, t, t + 0.5), model(x, t, t + 0.5))
    plain = build_model(kind, **config)
    with pytest.raises(TypeError, match="one time input"):
        plain(x, t, t)
