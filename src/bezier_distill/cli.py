"""Command-line interface: parse flags -> config dataclass -> one library call.

Flags are generated from the config dataclasses (``--batch-size`` sets
``batch_size``), so the CLI, TOML files and the library share one vocabulary.
Bad input prints one line and exits with code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import typing
from collections.abc import Callable

from . import __version__, distributed, storage
from .compare.config import CompareConfig
from .config import (
    BezierConfig,
    ClassifierConfig,
    DemoConfig,
    DistillConfig,
    EvaluateConfig,
    GuideConfig,
    ReflowConfig,
    SampleConfig,
    TrainConfig,
    flag_name,
    load,
)
from .errors import BadInput
from .resources import explain

EXIT_BAD_INPUT = 2


def _print_train(model, cfg) -> None:
    print(f"model saved to {cfg.out}/model (EMA weights; metrics in {cfg.out}/metrics.jsonl)")


def _print_reflow(manifest, cfg) -> None:
    print(
        f"{manifest['n_pairs']} rows (degree {manifest['degree']}) in {manifest['num_shards']} shards "
        f"written to {cfg.out} "
        f"(teacher NFE {manifest['mean_nfe']:.0f} per sample, {manifest['seconds']:.1f} s)"
    )


def _print_sample(info, cfg) -> None:
    print(f"{info['n']} samples written to {cfg.out} (NFE {info['nfe']}, {info['seconds']:.2f} s)")


# (label, score key, format) of the evaluate table, in print order; rows without a value are skipped
EVALUATE_ROWS = (
    ("W2", "w2", ".4f"),
    ("energy", "energy", ".5f"),
    ("FID (a)", "fid", ".4f"),
    ("KID (a)", "kid", ".4f"),
    ("precision (a)", "precision", ".3f"),
    ("recall (a)", "recall", ".3f"),
    ("FID (b)", "fid_b", ".4f"),
    ("KID (b)", "kid_b", ".4f"),
    ("precision (b)", "precision_b", ".3f"),
    ("recall (b)", "recall_b", ".3f"),
    ("out of range", "out_of_range", ".4f"),
    ("faithfulness", "faithfulness", ".4f"),
    ("class kept", "class_kept", ".3f"),
    ("PSNR (dB)", "psnr", ".2f"),
    ("SSIM", "ssim", ".4f"),
    ("to truth", "truth_distance", ".4f"),
    ("distill error", "distill_error", ".3g"),
    ("straightness", "straightness", ".4f"),
)


def _print_evaluate(report, cfg) -> None:
    s, f = report["scores"], report["noise_floor"]
    print(f"{'metric':<15}{'model':>12}{'floor':>12}")
    for label, key, fmt in EVALUATE_ROWS:
        if s.get(key) is not None:
            floor = f"{f[key]:>12{fmt}}" if f.get(key) is not None else f"{'-':>12}"
            print(f"{label:<15}{s[key]:>12{fmt}}{floor}")
    print(f"{'NFE':<15}{s['nfe']:>12d}")
    print(f"{'samples':<15}{s['n']:>12d}")
    print(f"{'sample s':<15}{s['sample_seconds']:>12.3f}")
    for net, name in report["feature_metrics"].items():
        print(f"({net}: {name})")
    if s.get("kid") is not None:
        print(
            "(KID: the unbiased polynomial-kernel estimate on the classifier's raw features, unscaled; "
            "sets drawn from the data itself can score slightly below zero)"
        )
    if s.get("distill_error") is not None:
        print(
            f"(distill error: mean squared distance to the teacher's dopri5 solution from the same held-out "
            f"source draws; its floor is the teacher's own solver error; teacher {report['teacher']})"
        )
    if s.get("psnr") is not None:
        print(
            "(PSNR, SSIM and 'to truth', the RMS per-pixel distance: each output against the ground truth "
            "of its input, the held-out clean image of the paired task; data range [-1, 1])"
        )
    if cfg.out:
        print(f"report written to {cfg.out}")


def _print_classifier(info, cfg) -> None:
    print(
        f"classifier for {info['dataset']}: test accuracy {info['accuracy']:.4f} "
        f"({info['epochs']} epochs, {info['seconds']:.0f} s) written to {info['path']}"
    )


# command -> (config class, "module:function" that runs it, printer of its result). The module
# is imported only when its command runs, so --help and --version stay light (no plotting,
# no optimal-transport solver).
COMMANDS: dict[str, tuple[type, str, Callable | None]] = {
    "train": (TrainConfig, "recipes:run_train", _print_train),
    "reflow": (ReflowConfig, "recipes:run_reflow", _print_reflow),
    "distill": (DistillConfig, "recipes:run_distill", _print_train),
    "guide": (GuideConfig, "recipes:run_guide", _print_reflow),
    "bezier": (BezierConfig, "recipes:run_bezier", _print_train),
    "sample": (SampleConfig, "recipes:run_sample", _print_sample),
    "evaluate": (EvaluateConfig, "recipes:run_evaluate", _print_evaluate),
    "demo": (DemoConfig, "demo:run_demo", None),
    "compare": (CompareConfig, "compare.run:run_compare", None),
    "classifier": (ClassifierConfig, "features:run_classifier", _print_classifier),
}


def command_function(name: str) -> Callable:
    """The function that runs command ``name``, imported on first use."""
    module, _, function = COMMANDS[name][1].partition(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), function)


# Commands that may run under torchrun (one process per rank).
DISTRIBUTED = ("train", "distill", "bezier", "reflow", "guide")

# What to lower when a command runs out of memory.
_MODEL = "--batch-size or the model (--hidden, --layers, --channels) or the image size="
LOWER = {
    "train": _MODEL,
    "distill": "--batch-size",
    "bezier": "--batch-size",
    "reflow": "--shard-size",
    "guide": "--shard-size",
    "sample": "--n",
    "evaluate": "--n",
    "demo": "--batch-size or --n-pairs",
    "compare": "--batch-size, --n-pairs or the model (--hidden, --channels)",
    "classifier": "the image size=",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _flag_type(annotation) -> type:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args else annotation


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bezier-distill",
        description="Rectified flow, reflow, distillation and Bezier Distillation.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for name, (cls, _, _) in COMMANDS.items():
        doc = (cls.__doc__ or "").strip()
        p = sub.add_parser(name, help=doc, description=doc)
        p.add_argument("--config", metavar="TOML", help="TOML file with any option below; flags win")
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            help_text = f.metadata.get("help", "")
            kind = _flag_type(hints[f.name])
            if kind is bool:
                p.add_argument(
                    flag_name(f.name),
                    dest=f.name,
                    action="store_true",
                    default=None,
                    help=help_text,
                )
            else:
                shown = f.default is not None and "default" not in help_text
                p.add_argument(
                    flag_name(f.name),
                    dest=f.name,
                    type=kind,
                    default=None,
                    metavar=kind.__name__.upper(),
                    help=f"{help_text} (default: {f.default})" if shown else help_text,
                )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 2 bad input, 130 interrupted)."""
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):
        parser.print_help()  # the usage line and every command
        return 0
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version and argparse errors
        return int(e.code or 0)
    overrides = {k: v for k, v in vars(args).items() if k not in ("command", "config")}
    try:
        cls, _, report = COMMANDS[args.command]
        cfg = load(cls, args.config, overrides)
        run = command_function(args.command)
        if distributed.init_from_env(cfg.device) and args.command not in DISTRIBUTED:
            raise BadInput(f"`{args.command}` runs in one process; torchrun is for {', '.join(DISTRIBUTED)}")
        result = run(cfg)
        if report is not None and distributed.is_main():
            report(result, cfg)
    except BadInput as e:
        print(f"bezier-distill {args.command}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (OSError, RuntimeError, MemoryError) as e:  # a full disk, too little memory...
        message = explain(
            e, lower=LOWER[args.command], resumable=args.command in DISTRIBUTED + ("demo", "compare")
        )
        if message is None:
            raise  # a bug: keep the traceback
        print(f"bezier-distill {args.command}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(
            f"bezier-distill {args.command}: interrupted; rerun with --resume to continue",
            file=sys.stderr,
        )
        return 130
    finally:
        storage.release_locks()
        distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
