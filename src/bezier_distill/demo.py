"""The demo chain: 1-RF -> pairs -> 2-RF -> pairs -> one-step distillation, measured.

On a paired task (``--data superres:digits``) the demo is a translation chain instead: 1-RF on
the given pairs -> pairs -> one-step distillation, and guide -> Bezier Distillation, each scored
against the ground truth of held-out inputs, with a grid of inputs, truths and outputs.

Every stage is an ordinary recipe writing its own run folder under ``--out``,
so the demo resumes stage by stage and each model can be reused with the CLI.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from .config import (
    BezierConfig,
    DemoConfig,
    DistillConfig,
    GuideConfig,
    ReflowConfig,
    TrainConfig,
    left_at_default,
    refuse_ignored,
    to_dict,
)
from .data import get_distribution, get_source
from .data.tasks import is_task_spec
from .errors import BadInput
from .evaluation import DOPRI, eval_data, evaluate, feature_metrics, noise_floor, solver_error, truth_scores
from .plotting import image_panels, scatter_panels, trajectory_panels
from .recipes import run_bezier, run_distill, run_guide, run_reflow, run_train
from .runs import start_run
from .solvers import SolverSpec, solve
from .storage import atomic_write_bytes, atomic_write_json
from .training import run_seconds

COLUMNS = ("method", "solver", "NFE", "W2", "energy", "distill error", "straightness", "compute s")


def _stage(name: str, fn, config, *, progress: bool, log):
    """Run one stage's recipe ``fn`` on ``config``, saying so first."""
    log(f"[demo] {name} -> {config.out}")
    return fn(config, progress=progress)


def format_table(rows: list[dict], floor: dict) -> str:
    """A markdown table of evaluation rows with the noise floor as its last line."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        s = "-" if r["straightness"] is None else f"{r['straightness']:.3f}"
        d = "-" if r["distill_error"] is None else f"{r['distill_error']:.2e}"
        lines.append(
            f"| {r['method']} | {r['solver']} | {r['nfe']} | {r['w2']:.3f} | {r['energy']:.4f} "
            f"| {d} | {s} | {r['compute_seconds']:.1f} |"
        )
    d = "-" if floor.get("distill_error") is None else f"{floor['distill_error']:.2e}"
    lines.append(
        f"| noise floor (data vs data; teacher solver error) | - | - | {floor['w2']:.3f} "
        f"| {floor['energy']:.4f} | {d} | - | - |"
    )
    return "\n".join(lines)


def run_demo(cfg: DemoConfig, *, progress: bool = True, log=print) -> dict:
    """Run the chain into ``cfg.out``; return the results (also written as JSON and markdown)."""
    target = get_distribution(cfg.data)
    if is_task_spec(cfg.source):
        raise BadInput(
            f"--source {cfg.source} is a paired task: pass it as --data (its inputs are the source)"
        )
    if target.paired is not None:
        return run_task_demo(cfg, target, progress=progress, log=log)
    if target.image_shape is not None:
        raise BadInput(
            f"demo runs 2-D data or a paired task (e.g. superres:digits), not the images {cfg.data}"
        )
    source = get_distribution(cfg.source, dim=target.dim)
    resume = start_run(cfg)
    stage = partial(_stage, progress=progress, log=log)
    out = Path(cfg.out)
    shared = {"seed": cfg.seed, "device": cfg.device, "resume": resume}
    optim = {"steps": cfg.steps, "batch_size": cfg.batch_size}
    pair_opts = {
        "n_pairs": cfg.n_pairs,
        "shard_size": max(1, cfg.n_pairs // 4),
        "solver": "rk4",
        "solver_steps": 50,
    }

    rf1 = stage(
        "1-RF",
        run_train,
        TrainConfig(out=str(out / "rf1"), data=cfg.data, source=cfg.source, **optim, **shared),
    )
    pairs1 = stage(
        "pairs from 1-RF",
        run_reflow,
        ReflowConfig(out=str(out / "pairs1"), model=str(out / "rf1"), **pair_opts, **shared),
    )
    rf2 = stage(
        "2-RF", run_train, TrainConfig(out=str(out / "rf2"), pairs=str(out / "pairs1"), **optim, **shared)
    )
    pairs2 = stage(
        "pairs from 2-RF",
        run_reflow,
        ReflowConfig(out=str(out / "pairs2"), model=str(out / "rf2"), **pair_opts, **shared),
    )
    student = stage(
        "2-RF + distill",
        run_distill,
        DistillConfig(out=str(out / "rf2-distill"), pairs=str(out / "pairs2"), k=1, **optim, **shared),
    )

    # Compute to obtain each model, read from the artefacts (so it survives resumes).
    cost = {"1-RF": run_seconds(out / "rf1")}
    cost["2-RF"] = cost["1-RF"] + pairs1["seconds"] + run_seconds(out / "rf2")
    cost["2-RF + distill"] = cost["2-RF"] + pairs2["seconds"] + run_seconds(out / "rf2-distill")

    log("[demo] evaluating")
    data = eval_data(source, target, cfg.n_eval, cfg.seed)
    x0 = data.x0.to(cfg.device)
    one = SolverSpec("euler", 1)
    # The student's distillation error is measured against its teacher's (the 2-RF's) dopri5
    # solution from the same held-out x0; the 2-RF's own solver error is its floor.
    teacher = solve(rf2, x0, DOPRI).x.cpu()
    floor = noise_floor(data) | {"distill_error": solver_error(rf2, x0, teacher)}
    plan = [
        ("1-RF", rf1, DOPRI, None),
        ("1-RF", rf1, one, None),
        ("2-RF", rf2, DOPRI, None),
        ("2-RF", rf2, one, None),
        ("2-RF + distill", student, one, teacher),
    ]
    rows, panels, straight_cache = [], {}, {}
    for method, model, spec, ode in plan:
        scores, samples = evaluate(
            model, data, spec, with_straightness=method not in straight_cache, teacher=ode, device=cfg.device
        )
        straight_cache.setdefault(method, scores.straightness)
        rows.append(
            {
                "method": method,
                "solver": spec.describe(),
                **scores.as_dict(),
                "straightness": straight_cache[method],
                "compute_seconds": round(cost[method], 2),
            }
        )
        panels[f"{method}, NFE {scores.nfe}\nW2 {scores.w2:.2f}"] = samples

    table = format_table(rows, floor)
    results = {"config": to_dict(cfg), "rows": rows, "noise_floor": floor}
    atomic_write_json(out / "results.json", results)
    if source.dim == 2:
        scatter_panels(panels, out / "samples.png", reference=data.reference)
        trajs = {
            name: solve(model, x0[:300], SolverSpec("rk4", 50), trajectory=True).trajectory
            for name, model in (("1-RF", rf1), ("2-RF", rf2))
        }
        trajectory_panels(
            {f"{k} trajectories (rk4 x 50)": v for k, v in trajs.items()}, out / "trajectories.png"
        )
    report = (
        f"# Demo: {cfg.source} -> {cfg.data}\n\n"
        f"{data.n} samples per row from held-out source draws, exact W2 (POT) and energy distance "
        "against one reference draw of the data; the noise floor is the same metric between two "
        "independent data draws. The distillation error is the mean squared distance between the "
        "student's output and its teacher's dopri5 solution from the same source draws; its floor is "
        "the teacher's own solver error (dopri5 at rtol = atol = 1e-5 against 1e-7). "
        "Compute = wall seconds of the training and pair-generation stages that lead to the model.\n\n"
        f"{table}\n\n![samples](samples.png)\n\n![trajectories](trajectories.png)\n"
    )
    atomic_write_bytes(out / "report.md", report.encode())
    log(table)
    log(f"[demo] report: {out / 'report.md'}")
    return results


# The sizes of the translation demo where the flags are left at their (2-D) defaults: a small
# UNet and short stages, about 75 seconds on two CPU cores.
TASK_SIZES = {"steps": 600, "batch_size": 128, "n_pairs": 2000}
TASK_COLUMNS = ("method", "solver", "NFE", "PSNR (dB)", "SSIM", "to truth", "FID (a)", "compute s")


def run_task_demo(cfg: DemoConfig, target, *, progress: bool = True, log=print) -> dict:
    """The translation chain on the paired task ``cfg.data`` (see the module docstring)."""
    refuse_ignored(cfg, ("source",), "with a paired task (its inputs are the source)")
    size = left_at_default(cfg, TASK_SIZES)
    resume = start_run(cfg)
    stage = partial(_stage, progress=progress, log=log)
    out = Path(cfg.out)
    shared = {"seed": cfg.seed, "device": cfg.device, "resume": resume}
    optim = {"steps": size["steps"], "batch_size": size["batch_size"]}
    student = {"steps": max(1, 2 * size["steps"] // 3), "batch_size": size["batch_size"]}
    rows_opts = {"n_pairs": size["n_pairs"], "shard_size": max(1, size["n_pairs"] // 2)}

    rf1 = stage(
        "1-RF on the given pairs",
        run_train,
        TrainConfig(out=str(out / "rf1"), data=cfg.data, channels="16,32", **optim, **shared),
    )
    pairs = stage(
        "pairs from 1-RF",
        run_reflow,
        ReflowConfig(
            out=str(out / "pairs1"),
            model=str(out / "rf1"),
            solver="rk4",
            solver_steps=10,
            **rows_opts,
            **shared,
        ),
    )
    distilled = stage(
        "1-RF + distill",
        run_distill,
        DistillConfig(out=str(out / "rf1-distill"), pairs=str(out / "pairs1"), k=1, **student, **shared),
    )
    guided = stage(
        "guide (quadratic curves through the 1-RF's state at t = 1/2)",
        run_guide,
        GuideConfig(
            out=str(out / "guided"),
            teachers=str(out / "rf1"),
            teacher_solvers="rk4:10",
            **rows_opts,
            **shared,
        ),
    )
    bezier = stage(
        "Bezier Distillation (end)",
        run_bezier,
        BezierConfig(
            out=str(out / "bezier"), coupling=str(out / "guided"), objective="end", **student, **shared
        ),
    )
    cost = {"1-RF": run_seconds(out / "rf1")}
    cost["1-RF + distill"] = cost["1-RF"] + pairs["seconds"] + run_seconds(out / "rf1-distill")
    cost["Bezier n=2 [1-RF] end"] = cost["1-RF"] + guided["seconds"] + run_seconds(out / "bezier")

    log("[demo] evaluating on the held-out inputs")
    source = get_source(cfg.data)
    data = eval_data(source, target, cfg.n_eval, cfg.seed)
    features = feature_metrics(target)
    one = SolverSpec("euler", 1)
    plan = [
        ("1-RF", rf1, SolverSpec("rk4", 10)),
        ("1-RF", rf1, one),
        ("1-RF + distill", distilled, one),
        ("Bezier n=2 [1-RF] end", bezier, one),
    ]
    rows, panels = [], {"input": data.x0, "ground truth": data.truth}
    for method, model, spec in plan:
        scores, samples = evaluate(
            model,
            data,
            spec,
            with_straightness=False,
            features=features,
            image=True,
            translation=True,
            seed=cfg.seed,
            device=cfg.device,
        )
        rows.append(
            {"method": method, "solver": spec.describe(), **scores.as_dict(), "compute_seconds": cost[method]}
        )
        panels[f"{method}, NFE {scores.nfe}\nPSNR {scores.psnr:.2f} dB"] = samples
    inputs = truth_scores(data.x0, data.truth, data.image_shape)
    lines = ["| " + " | ".join(TASK_COLUMNS) + " |", "|" + "---|" * len(TASK_COLUMNS)]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['solver']} | {r['nfe']} | {r['psnr']:.2f} | {r['ssim']:.3f} "
            f"| {r['truth_distance']:.4f} | {r['fid']:.2f} | {r['compute_seconds']:.1f} |"
        )
    lines.append(
        f"| the inputs themselves | - | - | {inputs['psnr']:.2f} | {inputs['ssim']:.3f} "
        f"| {inputs['truth_distance']:.4f} | - | - |"
    )
    table = "\n".join(lines)
    results = {"config": to_dict(cfg), "rows": rows, "inputs": inputs}
    atomic_write_json(out / "results.json", results)
    image_panels(panels, target.image_shape, out / "samples.png", n=16, cols=3)
    report = (
        f"# Demo: the paired task {cfg.data}\n\n"
        f"{data.n} held-out inputs (the test split, never trained on), each output scored against the "
        "clean image of its input: PSNR (dB, data range [-1, 1]), SSIM and the distance to the truth "
        "(RMS per pixel); FID (a) in the shipped classifier's features against the test split. One "
        "Euler step of the 1-RF is its estimate of the posterior mean of the truth given the input "
        "(what PSNR rewards, blurred); the distilled students learn the sharper end of its ODE. "
        "Compute = wall seconds of the training and coupling stages that lead to the model.\n\n"
        f"{table}\n\n![samples](samples.png)\n"
    )
    atomic_write_bytes(out / "report.md", report.encode())
    log(table)
    log(f"[demo] report: {out / 'report.md'}")
    return results
