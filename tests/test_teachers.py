import json

import pytest
import torch

from bezier_distill.bezier import curve
from bezier_distill.couplings import MANIFEST, CouplingDataset, generate_coupling
from bezier_distill.data import get_distribution
from bezier_distill.errors import BadInput
from bezier_distill.models import MLPVelocity, model_fingerprint, save_pretrained
from bezier_distill.solvers import SolverSpec, solve, solve_to_times
from bezier_distill.teachers import Guide, Teacher, TeacherEnsemble, parse_guides, parse_solvers

RK4 = SolverSpec("rk4", 12)


@pytest.fixture
def teachers(tmp_path):
    out = []
    for seed in range(3):
        torch.manual_seed(seed)
        folder = tmp_path / f"t{seed}" / "model"
        save_pretrained(MLPVelocity(dim=2, hidden=16, layers=2), folder)
        out.append(Teacher.load(folder, RK4))
    return out


def test_solve_to_times_splits_the_grid_and_matches_solve(teachers):
    model, z0 = teachers[0].model, torch.randn(20, 2)
    (end,), nfe = solve_to_times(model, z0, RK4, [1.0])
    assert torch.equal(end, solve(model, z0, RK4).x) and nfe == 48
    states, nfe = solve_to_times(model, z0, RK4, [0.5, 1.0])
    assert nfe == 48 and torch.allclose(states[1], end, atol=1e-6)
    dopri = SolverSpec("dopri5", rtol=1e-7, atol=1e-7)
    d_states, _ = solve_to_times(model, z0, dopri, [0.5, 1.0])
    assert torch.allclose(d_states[0], states[0], atol=5e-3)  # rk4 x 12 against dopri5


def test_state_guides_passed_through_lie_on_the_curve(teachers):
    z0 = torch.randn(30, 2)
    ens = TeacherEnsemble(teachers[:1], 3, parse_guides("state", 3, 1), guide_as="through")
    out, nfe = ens(z0)
    points = torch.cat([z0[None], out["guides"].transpose(0, 1), out["z1"][None]])
    states, _ = solve_to_times(teachers[0].model, z0, RK4, [1 / 3, 2 / 3, 1.0])
    for s, state in zip((1 / 3, 2 / 3), states):
        assert torch.allclose(curve(points, torch.full((30,), s)), state, atol=1e-5)
    assert torch.equal(out["z1"], states[2]) and nfe == 48


def test_guide_kinds_and_weights(teachers):
    z0 = torch.randn(10, 2)
    guides = parse_guides("onestep:1;endpoint:1@1+2@3", 3, 3)
    assert guides == [Guide("onestep", ((1, 1.0),)), Guide("endpoint", ((1, 1.0), (2, 3.0)))]
    out, nfe = TeacherEnsemble(teachers, 3, guides, guide_as="control")(z0)
    onestep = z0 + teachers[1].model(z0, torch.zeros(10))
    end1, end2 = (solve(t.model, z0, RK4).x for t in teachers[1:])
    assert torch.allclose(out["guides"][:, 0], onestep)
    assert torch.allclose(out["guides"][:, 1], 0.25 * end1 + 0.75 * end2, atol=1e-6)
    assert torch.equal(out["z1"], solve(teachers[0].model, z0, RK4).x)
    assert nfe == 3 * 48 + 1


def test_multi_teacher_coupling_records_every_teacher_and_resumes(teachers, tmp_path):
    ens = TeacherEnsemble(teachers, 2, parse_guides("endpoint:1@1+2@1", 2, 3), guide_as="control")
    identity = {"source": "gaussian", "n_pairs": 300, "shard_size": 100, "seed": 2, **ens.identity()}
    gauss = get_distribution("gaussian")
    full = generate_coupling(ens, gauss, tmp_path / "full", identity, progress=False)
    recorded = json.loads((tmp_path / "full" / MANIFEST).read_text())
    assert recorded["kind"] == "guided" and recorded["degree"] == 2
    assert [t["sha256"] for t in recorded["teachers"]] == [model_fingerprint(t.path) for t in teachers]
    assert [t["solver"]["steps"] for t in recorded["teachers"]] == [12, 12, 12]
    assert recorded["guides"] == [{"kind": "endpoint", "teachers": [[1, 1.0], [2, 1.0]]}]

    def crash(index):
        if index == 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_coupling(ens, gauss, tmp_path / "cut", identity, progress=False, on_shard=crash)
    resumed = generate_coupling(ens, gauss, tmp_path / "cut", identity, progress=False)
    assert {k: v["sha256"] for k, v in resumed["shards"].items()} == {
        k: v["sha256"] for k, v in full["shards"].items()
    }
    data = CouplingDataset(tmp_path / "cut")
    assert data.points.shape == (3, 300, 2) and data.end_teacher == teachers[0].path
    assert data.sample_points(8, torch.Generator().manual_seed(0)).shape == (3, 8, 2)


@pytest.mark.parametrize(
    "text,degree,match",
    [
        ("state;state", 2, "2 entries for the 1 interior"),
        ("magic", 2, "unknown guide kind"),
        ("state:3", 2, "names teacher 3"),
        ("state:0@-1", 2, "non-positive weight"),
        ("state:x", 2, "cannot read guide"),
        ("state", 1, "degree 1 has no interior"),
    ],
)
def test_bad_guides(text, degree, match):
    with pytest.raises(BadInput, match=match):
        parse_guides(text, degree, 2)


def test_bad_ensembles(teachers, tmp_path):
    with pytest.raises(BadInput, match="every guide must be of kind 'state'"):
        TeacherEnsemble(teachers, 2, [Guide("endpoint")], guide_as="through")
    with pytest.raises(BadInput, match="end-teacher 5"):
        TeacherEnsemble(teachers, 1, [], end_teacher=5)
    save_pretrained(MLPVelocity(dim=3, hidden=8, layers=1), tmp_path / "t3")
    with pytest.raises(BadInput, match="disagree on the data shape"):
        TeacherEnsemble([teachers[0], Teacher.load(tmp_path / "t3", RK4)], 1, [])
    with pytest.raises(BadInput, match="2 solvers for 3 teachers"):
        parse_solvers("rk4:5,euler:3", 3)
    assert parse_solvers("dopri5", 2)[1].method == "dopri5"
    with pytest.raises(BadInput, match="unknown solver"):
        parse_solvers("rk45", 1)


def test_a_data_anchored_coupling_solves_the_teacher_backward_and_keeps_the_data_as_its_end():
    from bezier_distill.solvers import SolverSpec
    from bezier_distill.teachers import DataAnchored, Guide, Teacher, TeacherEnsemble

    class Constant(torch.nn.Module):
        data_shape = (2,)

        def forward(self, x, t):
            return torch.tensor([2.0, -1.0]).expand_as(x)

    teacher = Teacher.from_module(Constant(), SolverSpec("euler", 4))
    ensemble = TeacherEnsemble([teacher], 2, [Guide("state")], guide_as="control")
    x1 = torch.randn(32, 2)
    made, nfe = DataAnchored(ensemble)(x1)
    shift = torch.tensor([2.0, -1.0])
    assert torch.allclose(made["z0"], x1 - shift, atol=1e-6)  # the exact backward solution
    assert torch.equal(made["z1"], x1)  # the data itself, not the teacher's forward solution
    assert torch.allclose(made["guides"][:, 0], x1 - shift / 2, atol=1e-6)  # the state at t = 1/2
    assert nfe == 4 + 4
