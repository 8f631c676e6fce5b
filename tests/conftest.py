import pytest
import torch

from bezier_distill.models import MLPVelocity, save_pretrained


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
