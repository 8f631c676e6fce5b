"""Training objectives: velocity matching (rectified flow), distillation, Bezier Distillation and
the field's few-step baselines (consistency distillation, MeanFlow).

Each objective is a pure function of a model and a batch returning a scalar loss
(:func:`velocity_matching`, :func:`distillation`, :func:`bezier_objective`, :func:`meanflow`),
and an :class:`Objective` object that also draws its batch (:class:`FlowMatching`,
:class:`Distillation`, :class:`BezierDistillation`, :class:`ConsistencyDistillation`,
:class:`MeanFlow`): the training loop draws the global batch,
gives each process its rows and calls the object, without knowing which one it runs.

One module per family: ``base`` (losses, the Objective interface), ``times`` (training-time
samplings), ``flow`` (velocity matching, distillation), ``bezier_distillation``, ``consistency``,
``meanflow``."""

from .base import ADAPTIVE_C, LOSSES, Objective, regression
from .bezier_distillation import (
    BEZIER_OBJECTIVES,
    TIME_SAMPLINGS,
    BezierDistillation,
    bezier_objective,
    bezier_time,
)
from .consistency import ConsistencyDistillation, consistency_function
from .flow import Distillation, FlowMatching, distillation, velocity_matching
from .meanflow import MeanFlow, interval_times, meanflow, meanflow_target
from .times import T_EPS, TRAIN_TIMES, U_SHAPE, grid_time, sample_time, u_shaped

__all__ = [
    "ADAPTIVE_C",
    "BEZIER_OBJECTIVES",
    "BezierDistillation",
    "ConsistencyDistillation",
    "Distillation",
    "FlowMatching",
    "LOSSES",
    "MeanFlow",
    "Objective",
    "TIME_SAMPLINGS",
    "TRAIN_TIMES",
    "T_EPS",
    "U_SHAPE",
    "bezier_objective",
    "bezier_time",
    "consistency_function",
    "distillation",
    "grid_time",
    "interval_times",
    "meanflow",
    "meanflow_target",
    "regression",
    "sample_time",
    "u_shaped",
    "velocity_matching",
]
