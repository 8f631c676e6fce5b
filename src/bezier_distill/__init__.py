"""bezier-distill: rectified flow, reflow, distillation and Bezier Distillation.

The names a user needs, importable from the package (``import bezier_distill as bd``)::

    teacher = bd.Teacher.from_module(my_model, bd.SolverSpec("rk4", 50))   # any v(x, t)
    ensemble = bd.TeacherEnsemble([teacher], degree=2, guides=[bd.Guide("state")], guide_as="through")
    coupling = bd.sample_coupling(ensemble, z0)                            # in memory
    student = bd.train(student, bd.BezierDistillation(coupling, "end"), bd.TrainSettings())

Each name is imported on first use, so ``import bezier_distill`` stays light.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    # models and foreign conventions
    "Velocity": "adapters",
    "VelocityModel": "capabilities",
    "from_pretrained": "models",
    "save_pretrained": "models",
    "build_model": "models",
    # teachers, guides and couplings
    "Teacher": "teachers",
    "TeacherEnsemble": "teachers",
    "Guide": "teachers",
    "DataAnchored": "teachers",
    "Coupling": "couplings",
    "IndependentCoupling": "pairings",
    "MinibatchOTCoupling": "pairings",
    "GivenCoupling": "pairings",
    "FeatureOTCoupling": "pairings",
    "ClassCoupling": "pairings",
    "CouplingDataset": "couplings",
    "sample_coupling": "couplings",
    "generate_coupling": "couplings",
    # Bezier curves and the objectives
    "curve": "bezier",
    "derivative": "bezier",
    "through_points_to_control": "bezier",
    "Objective": "objectives",
    "FlowMatching": "objectives",
    "Distillation": "objectives",
    "BezierDistillation": "objectives",
    "ConsistencyDistillation": "objectives",
    "MeanFlow": "objectives",
    "meanflow": "objectives",
    "velocity_matching": "objectives",
    "distillation": "objectives",
    "bezier_objective": "objectives",
    "bezier_time": "objectives",
    "grid_time": "objectives",
    "sample_time": "objectives",
    # training and sampling
    "train": "training",
    "TrainSettings": "training",
    "SolverSpec": "solvers",
    "solve": "solvers",
    "solve_to_times": "solvers",
    # data and evaluation
    "get_distribution": "data",
    "get_source": "data",
    "eval_data": "evaluation",
    "evaluate": "evaluation",
    "noise_floor": "evaluation",
    "distill_error": "evaluation",
    "w2": "metrics",
    "energy_distance": "metrics",
    "precision_recall": "metrics",
    "psnr": "metrics",
    "ssim": "metrics",
    "stream": "seeding",
    "BadInput": "errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
