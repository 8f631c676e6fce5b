"""Declarations of every command's settings, as frozen dataclasses: field helpers and shared checks
(``fields``), the flag groups several commands share (``groups``), one config per command
(``commands``; compare's is ``compare/config.py``), and loading from TOML plus overrides
(``loading``). Field names are the TOML keys; the CLI flag of ``batch_size`` is ``--batch-size``.
Every field carries its help text, so the CLI is generated from these classes and cannot drift
from them. The resolved config is written as ``config.json`` beside every artefact.
"""

from .commands import (
    TRAIN_RECIPES,
    BezierConfig,
    ClassifierConfig,
    DemoConfig,
    DistillConfig,
    EvaluateConfig,
    GuideConfig,
    ReflowConfig,
    SampleConfig,
    TrainConfig,
)
from .fields import check_device, flag_name, left_at_default, opt, parse_widths, refuse_ignored
from .loading import LIST_KEYS, load, read_run_config, to_dict

__all__ = [
    "LIST_KEYS",
    "TRAIN_RECIPES",
    "BezierConfig",
    "ClassifierConfig",
    "DemoConfig",
    "DistillConfig",
    "EvaluateConfig",
    "GuideConfig",
    "ReflowConfig",
    "SampleConfig",
    "TrainConfig",
    "check_device",
    "flag_name",
    "left_at_default",
    "load",
    "opt",
    "parse_widths",
    "read_run_config",
    "refuse_ignored",
    "to_dict",
]
