"""Speed and memory of every stage, as ratios against bare PyTorch measured in one run.

    python benchmarks/run.py --quick          # a few minutes on two cores
    python benchmarks/run.py                  # the full tables of docs/PERFORMANCE.md
    python benchmarks/run.py --only training,startup --threads 2

Each comparison alternates the two sides (ours, bare, ours, bare, ...) ``--repeats`` times and
prints the per-repeat ratio's min / median / max, so load that changes during the run hits both
sides alike. Speed ratios are ``bare seconds / our seconds`` (1.0: as fast as the bare loop; the
target is >= 0.9); start-up is ``our seconds / import torch seconds`` (target <= 1.2). The torch
thread count is fixed (``--threads``, default 1) and printed.

The bare counterparts are written by hand here with the same model, batch, optimiser (Adam with
gradient clipping and the weight EMA that every recipe keeps), data and mathematics; they skip
what the project adds around it (named random streams, checkpoints, logging, checks, shards
with checksums).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import bezier_distill as bd
from bezier_distill.couplings import Coupling
from bezier_distill.data import get_distribution
from bezier_distill.metrics import w2
from bezier_distill.models import build_model, save_pretrained
from bezier_distill.objectives import (
    BezierDistillation,
    ConsistencyDistillation,
    Distillation,
    FlowMatching,
    MeanFlow,
    consistency_function,
)
from bezier_distill.pairings import IndependentCoupling, MinibatchOTCoupling, ot_permutation
from bezier_distill.solvers import SolverSpec, solve
from bezier_distill.training import TrainSettings, train

QUICK = {"steps": 40, "repeats": 3, "pairs": (10_000, 100_000), "pair_rows": 2_000, "n_sample": 2_000}
FULL = {
    "steps": 150,
    "repeats": 5,
    "pairs": (10_000, 100_000, 1_000_000),
    "pair_rows": 10_000,
    "n_sample": 10_000,
}


def spread(ratios: list[float]) -> str:
    return f"{min(ratios):6.2f} {statistics.median(ratios):6.2f} {max(ratios):6.2f}"


def alternate(ours, bare, repeats: int) -> tuple[list[float], float, float]:
    """Run ``ours`` and ``bare`` alternately; per-repeat ``bare / ours`` ratios, median seconds."""
    ratios, a, b = [], [], []
    ours(), bare()  # warm-up: first-call allocations, lazy imports
    for _ in range(repeats):
        t0 = time.perf_counter()
        ours()
        t1 = time.perf_counter()
        bare()
        t2 = time.perf_counter()
        a.append(t1 - t0)
        b.append(t2 - t1)
        ratios.append((t2 - t1) / (t1 - t0))
    return ratios, statistics.median(a), statistics.median(b)


# ---------------------------------------------------------------- training step time


def bare_loop(model: nn.Module, steps: int, batch: int, loss_of, lr: float = 1e-3, clip: float = 1.0):
    """Adam with gradient clipping and a 0.999 weight EMA; ``loss_of(model, ema, g)`` is the loss."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    ema = copy.deepcopy(model).requires_grad_(False)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        loss = loss_of(model, ema, g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema.parameters(), model.parameters()):
                e.lerp_(p, 0.001)


def training_cases(kind: str, batch: int):
    """(name, model factory, our objective, bare loss) for the MLP on moons or the UNet on digits."""
    if kind == "mlp":
        target, make = (
            get_distribution("moons"),
            lambda interval=False: build_model("mlp", dim=2, hidden=256, layers=3, interval=interval),
        )
    else:
        target, make = (
            get_distribution("digits"),
            lambda interval=False: build_model("unet", shape=(1, 8, 8), channels=[32, 64], interval=interval),
        )
    source = get_distribution("gaussian", dim=target.dim)
    data = target.points if target.points is not None else target.sample(20_000, torch.Generator())
    n = min(len(data), 10_000)
    z0 = torch.randn(n, target.dim)
    pairs = torch.stack([z0, data[:n] + 0.1 * z0])  # stand-in pairs: the cost does not depend on them
    guided = torch.stack([z0, 0.5 * (z0 + data[:n]), data[:n]])
    teacher = make().eval().requires_grad_(False)

    def draws(g):  # the data as our objectives draw it: the dataset's own sampler
        return source.sample(batch, g), target.sample(batch, g)

    def rows(points, g):
        return points[:, torch.randint(0, n, (batch,), generator=g)]

    def flow(model, ema, g):
        x0, x1 = draws(g)
        t = torch.rand(batch, generator=g)
        return (model((1 - t[:, None]) * x0 + t[:, None] * x1, t) - (x1 - x0)).pow(2).mean()

    def ot_flow(model, ema, g):
        x0, x1 = draws(g)
        x1 = x1[ot_permutation(x0, x1)]
        t = torch.rand(batch, generator=g)
        return (model((1 - t[:, None]) * x0 + t[:, None] * x1, t) - (x1 - x0)).pow(2).mean()

    def distill(model, ema, g):
        p = rows(pairs, g)
        return (model(p[0], torch.zeros(batch)) - (p[1] - p[0])).pow(2).mean()

    def end(model, ema, g):
        p, t = rows(guided, g), torch.rand(batch, generator=g)[:, None]
        x = (1 - t) ** 2 * p[0] + 2 * t * (1 - t) * p[1] + t**2 * p[2]
        return (model(x, t[:, 0]) - (p[2] - x) / (1 - t)).pow(2).mean()

    def chord(model, ema, g):
        p, t = rows(guided, g), torch.randint(0, 2, (batch,), generator=g).float()[:, None] / 2

        def b(s):
            return (1 - s) ** 2 * p[0] + 2 * s * (1 - s) * p[1] + s**2 * p[2]

        return (model(b(t), t[:, 0]) - 2 * (b(t + 0.5) - b(t))).pow(2).mean()

    def consistency(model, ema, g):
        x0, x1 = draws(g)
        h = 1 / 18
        t = torch.randint(0, 18, (batch,), generator=g).float() / 18
        x = (1 - t[:, None]) * x0 + t[:, None] * x1
        with torch.no_grad():
            v1 = teacher(x, t)
            v2 = teacher(x + h * v1, t + h)
            target = consistency_function(ema, x + 0.5 * h * (v1 + v2), t + h)
        return (consistency_function(model, x, t) - target).pow(2).mean()

    def meanflow(model, ema, g):
        x0, x1 = draws(g)
        a, c = torch.rand(batch, generator=g), torch.rand(batch, generator=g)
        t, s = torch.minimum(a, c), torch.maximum(a, c)
        s = torch.where(torch.rand(batch, generator=g) < 0.25, s, t)
        z, v = (1 - t[:, None]) * x0 + t[:, None] * x1, x1 - x0
        with torch.no_grad():
            _, dudt = torch.func.jvp(model, (z, t, s), (v, torch.ones_like(t), torch.zeros_like(s)))
        return (model(z, t, s) - (v + (s - t)[:, None] * dudt)).pow(2).mean()

    independent = IndependentCoupling(source, target)
    return [
        ("velocity matching (1-RF)", make, lambda: FlowMatching(independent), flow),
        (
            "velocity matching, minibatch OT",
            make,
            lambda: FlowMatching(MinibatchOTCoupling(source, target)),
            ot_flow,
        ),
        ("distillation, one step", make, lambda: Distillation(Coupling(pairs)), distill),
        ("Bezier end (n = 2)", make, lambda: BezierDistillation(Coupling(guided), "end"), end),
        (
            "Bezier chord (n = 2, k = 2)",
            make,
            lambda: BezierDistillation(Coupling(guided), "chord", k=2),
            chord,
        ),
        (
            "consistency distillation",
            make,
            lambda: ConsistencyDistillation(teacher, independent),
            consistency,
        ),
        ("MeanFlow", lambda: make(True), lambda: MeanFlow(independent), meanflow),
    ]


def bench_training(cfg: dict, kinds=("mlp", "unet")) -> list[dict]:
    out = []
    for kind in kinds:
        batch = 256 if kind == "mlp" else 128
        steps = cfg["steps"] if kind == "mlp" else max(10, cfg["steps"] // 4)
        settings = TrainSettings(
            steps=steps, batch_size=batch, warmup=0, log_every=steps, checkpoint_every=steps
        )
        for name, make, objective, loss in training_cases(kind, batch):
            torch.manual_seed(0)

            ratios, a, b = alternate(
                lambda m=make, o=objective, s=settings: train(m(), o(), s, progress=False),
                lambda m=make, f=loss, n=steps, b=batch: bare_loop(m(), n, b, f),
                cfg["repeats"],
            )
            out.append(
                {
                    "model": kind,
                    "stage": name,
                    "ratios": ratios,
                    "ours_ms": 1e3 * a / steps,
                    "bare_ms": 1e3 * b / steps,
                }
            )
            ms = f"{1e3 * a / steps:8.2f} ms/step ours, {1e3 * b / steps:8.2f} bare"
            print(f"  {kind:<5}{name:<34}{spread(ratios)}   {ms}")
    return out


# ---------------------------------------------------------------- pairs and memory


def _teacher(folder: Path, hidden: int = 256) -> Path:
    torch.manual_seed(0)
    save_pretrained(build_model("mlp", dim=2, hidden=hidden, layers=3), folder / "model")
    (folder / "model" / "config.json").write_text(
        json.dumps(
            json.loads((folder / "model" / "config.json").read_text())
            | {"provenance": {"source": "gaussian", "data": "moons"}}
        )
    )
    return folder


def bench_pairs(cfg: dict, tmp: Path) -> list[dict]:
    from bezier_distill.config import GuideConfig, ReflowConfig
    from bezier_distill.recipes import run_guide, run_reflow

    teacher = _teacher(tmp / "teacher")
    model = bd.from_pretrained(teacher)
    rows, shard = cfg["pair_rows"], cfg["pair_rows"] // 2
    out, counter = [], [0]

    def bare_rk4(n_rows, record=()):
        """rk4 x 50 over the same rows in shards of the same size; states at ``record`` kept."""
        g = torch.Generator().manual_seed(0)
        parts = []
        with torch.no_grad():
            for _ in range(n_rows // shard):
                x, kept = torch.randn(shard, 2, generator=g), []
                for i in range(50):
                    t, h = i / 50, 1 / 50
                    tt = torch.full((shard,), t)
                    k1 = model(x, tt)
                    k2 = model(x + h / 2 * k1, tt + h / 2)
                    k3 = model(x + h / 2 * k2, tt + h / 2)
                    k4 = model(x + h * k3, tt + h)
                    x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
                    if i + 1 in record:
                        kept.append(x)
                parts.append(torch.stack([*kept, x]))
        np.save(tmp / "bare.npy", torch.cat(parts, 1).numpy())

    def fresh(name):
        counter[0] += 1
        return str(tmp / f"{name}{counter[0]}")

    cases = [
        (
            "reflow pairs (rk4 x 50)",
            lambda: run_reflow(
                ReflowConfig(out=fresh("p"), model=str(teacher), n_pairs=rows, shard_size=shard),
                progress=False,
            ),
            lambda: bare_rk4(rows),
        ),
        (
            "guided coupling n = 2 (state at t = 1/2)",
            lambda: run_guide(
                GuideConfig(out=fresh("g"), teachers=str(teacher), degree=2, n_pairs=rows, shard_size=shard),
                progress=False,
            ),
            lambda: bare_rk4(rows, record=(25,)),
        ),
    ]
    for name, ours, bare in cases:
        ratios, a, b = alternate(ours, bare, cfg["repeats"])
        out.append({"stage": name, "ratios": ratios, "ours_s": a, "bare_s": b})
        print(f"  {name:<44}{spread(ratios)}   {a:7.2f} s ours, {b:7.2f} s bare ({rows:,} rows)")
    return out


MEMORY_CHILD = """
import resource, sys
from bezier_distill.config import ReflowConfig
from bezier_distill.recipes import run_reflow
run_reflow(ReflowConfig(out=sys.argv[2], model=sys.argv[1], n_pairs=int(sys.argv[3]), shard_size=10000,
           solver="euler", solver_steps=2), progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def bench_memory(cfg: dict, tmp: Path) -> list[dict]:
    """Peak resident memory of `reflow` at growing pair counts (small teacher, 2 Euler steps:
    the shards, not the solver, are what could grow)."""
    teacher = _teacher(tmp / "small", hidden=32)
    out = []
    for n in cfg["pairs"]:
        proc = subprocess.run(
            [sys.executable, "-c", MEMORY_CHILD, str(teacher), str(tmp / f"mem{n}"), str(n)],
            capture_output=True,
            text=True,
            check=True,
        )
        mb = int(proc.stdout.split()[-1]) / 1024
        out.append({"pairs": n, "peak_mb": mb})
        print(f"  {n:>10,} pairs   peak {mb:7.0f} MB")
    return out


# ---------------------------------------------------------------- sampling throughput


def bench_sampling(cfg: dict) -> list[dict]:
    """Samples per second and the W2 they reach: a 1-RF teacher at dopri5 and 100 Euler steps,
    its one- and two-step distilled students (moons; trained here at small budgets)."""
    target, g = get_distribution("moons"), torch.Generator().manual_seed(0)
    source = get_distribution("gaussian", dim=2)
    steps = 600 if cfg is QUICK else 2000
    settings = TrainSettings(steps=steps, batch_size=256, log_every=steps, checkpoint_every=steps)
    torch.manual_seed(0)
    teacher = train(
        build_model("mlp", dim=2), FlowMatching(IndependentCoupling(source, target)), settings, progress=False
    )
    maker = bd.TeacherEnsemble([bd.Teacher.from_module(teacher, SolverSpec("rk4", 50))], degree=1, guides=[])
    pairs = bd.sample_coupling(maker, torch.randn(cfg["pair_rows"], 2, generator=g))
    students = {
        k: train(
            copy.deepcopy(teacher).requires_grad_(True), Distillation(pairs, k=k), settings, progress=False
        )
        for k in (1, 2)
    }
    x0 = torch.randn(cfg["n_sample"], 2, generator=g)
    reference = target.sample(min(cfg["n_sample"], 2000), g)
    rows = [
        ("teacher, dopri5", teacher, SolverSpec("dopri5")),
        ("teacher, 100 Euler steps", teacher, SolverSpec("euler", 100)),
        ("one-step student", students[1], SolverSpec("euler", 1)),
        ("two-step student", students[2], SolverSpec("euler", 2)),
    ]
    out, base = [], None
    for name, model, spec in rows:
        times = []
        with torch.no_grad():
            for _ in range(cfg["repeats"]):
                t0 = time.perf_counter()
                result = solve(model, x0, spec)
                times.append(time.perf_counter() - t0)
        rate = cfg["n_sample"] / statistics.median(times)
        base = base or rate
        quality = w2(result.x[: len(reference)], reference)
        out.append({"sampler": name, "nfe": result.nfe, "per_s": rate, "w2": quality})
        speed = f"{rate:12,.0f} samples/s   {rate / base:7.1f}x dopri5"
        print(f"  {name:<28} NFE {result.nfe:>4}   {speed}   W2 {quality:.3f}")
    return out


# ---------------------------------------------------------------- start-up


def bench_startup(cfg: dict, tmp: Path) -> list[dict]:
    model = tmp / "tiny"
    torch.manual_seed(0)
    save_pretrained(build_model("mlp", dim=2, hidden=16, layers=1), model / "model")
    exe = [sys.executable, "-m", "bezier_distill.cli"]
    cases = [
        ("bezier-distill --help", exe + ["--help"]),
        (
            "bezier-distill sample (tiny model, 100 samples)",
            exe
            + [
                "sample",
                "--model",
                str(model),
                "--n",
                "100",
                "--out",
                str(tmp / "s.npy"),
                "--overwrite",
                "--solver",
                "euler",
                "--solver-steps",
                "1",
            ],
        ),
    ]
    baseline = [sys.executable, "-c", "import torch"]
    out = []
    for name, argv in cases:
        ratios = []
        for _ in range(cfg["repeats"] + 2):
            t0 = time.perf_counter()
            subprocess.run(baseline, check=True, capture_output=True)
            t1 = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True)
            t2 = time.perf_counter()
            ratios.append((t2 - t1) / (t1 - t0))
        out.append({"command": name, "ratios": ratios})
        print(f"  {name:<50}{spread(ratios)}   x `import torch`")
    return out


# ---------------------------------------------------------------- growth with dimension and batch


def bench_scaling(cfg: dict) -> list[dict]:
    """Milliseconds per training step of velocity matching (our loop) by data dimension and batch."""
    out = []
    steps = max(10, cfg["steps"] // 2)
    for dim in (2, 32, 128, 784):
        target = get_distribution("gaussian", dim=dim)
        for batch in (64, 256, 1024):
            settings = TrainSettings(steps=steps, batch_size=batch, log_every=steps, checkpoint_every=steps)
            objective = FlowMatching(IndependentCoupling(target, target))
            train(build_model("mlp", dim=dim), objective, replace_steps(settings, 2), progress=False)
            t0 = time.perf_counter()
            train(build_model("mlp", dim=dim), objective, settings, progress=False)
            ms = 1e3 * (time.perf_counter() - t0) / steps
            out.append({"dim": dim, "batch": batch, "ms_per_step": ms})
        row = "  ".join(f"{r['ms_per_step']:7.2f}" for r in out[-3:])
        print(f"  dim {dim:>4}   batch 64 / 256 / 1024: {row} ms/step")
    return out


def replace_steps(settings: TrainSettings, steps: int) -> TrainSettings:
    from dataclasses import replace

    return replace(settings, steps=steps, log_every=steps, checkpoint_every=steps)


SECTIONS = ("training", "pairs", "memory", "sampling", "startup", "scaling")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes: a few minutes on two cores")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--repeats", type=int, default=None, help="alternations per comparison")
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated: {', '.join(SECTIONS)}")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = p.parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL)
    if args.repeats:
        cfg["repeats"] = args.repeats
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    if bad := [s for s in only if s not in SECTIONS]:
        p.error(f"unknown section(s) {bad}: choose from {', '.join(SECTIONS)}")
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the start-up and memory subprocesses
    print(
        f"bezier-distill {bd.__version__}, torch {torch.__version__}, {args.threads} thread(s), "
        f"{os.cpu_count()} CPUs, {'quick' if args.quick else 'full'}, {cfg['repeats']} repeats; "
        "ratios min / median / max"
    )
    results = {"threads": args.threads, "quick": args.quick}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        titles = {
            "training": "training step, bare / ours (>= 0.9)",
            "pairs": "coupling generation, bare / ours (>= 0.9)",
            "memory": "peak memory of `reflow` by pair count (flat)",
            "sampling": "sampling throughput and quality",
            "startup": "CLI start-up, ours / `import torch` (<= 1.2)",
            "scaling": "training step by data dimension and batch (our loop)",
        }
        for section in only:
            print(f"\n{titles[section]}")
            run = globals()[f"bench_{section}"]
            results[section] = run(cfg, tmp) if section in ("pairs", "memory", "startup") else run(cfg)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))
    return results


if __name__ == "__main__":
    main()
