"""run_compare: validate a comparison, run its chains, write results.csv, report.md, claims.json and
the figures."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..config import refuse_ignored
from ..data import get_distribution
from ..data.tasks import is_task_spec
from ..errors import BadInput
from ..evaluation import feature_metrics
from ..pairings import data_coupling
from ..runs import start_run
from ..storage import atomic_write_bytes, atomic_write_json
from .chains import build_chain
from .claims import claim_paragraph, claim_record, claims_of, decide, decision_metrics
from .config import CompareConfig
from .figures import plots, slug
from .records import Chain
from .scoring import scored_chain
from .stats import summary
from .tables import accumulation, aggregate, ranking, table

QUICK = {
    "datasets": "8gaussians,moons",
    "seeds": "0,1",
    "steps": 150,
    "batch_size": 128,
    "hidden": 64,
    "layers": 2,
    "n_pairs": 1000,
    "n_eval": 300,
}


def _check_data(cfg: CompareConfig, datasets: list[str]) -> tuple[bool, bool, bool]:
    """Load every dataset before anything trains; return (images, translation, paired)."""
    if is_task_spec(cfg.source):
        raise BadInput(
            f"--source {cfg.source} is a paired task: name it in --datasets (its inputs are the source)"
        )
    targets = {d: get_distribution(d, data_dir=cfg.data_dir) for d in datasets}
    kinds = {t.image_shape is None for t in targets.values()}
    if len(kinds) > 1:
        raise BadInput("--datasets mixes image and point datasets: compare them in separate runs")
    tasks = {t.paired is not None for t in targets.values()}
    if len(tasks) > 1:
        raise BadInput("--datasets mixes paired tasks and plain datasets: compare them in separate runs")
    paired = tasks == {True}
    if paired:
        refuse_ignored(cfg, ("source",), "with paired tasks (their inputs are the source)")
        refuse_ignored(cfg, ("pairing",), "with paired tasks (their pairs are given)")
    if paired and "OT-CFM" in cfg.baseline_list():
        raise BadInput(
            "--baselines OT-CFM re-pairs the data, but a paired task's pairs are given: leave it out"
        )
    sources = {
        d: t.paired if paired else get_distribution(cfg.source, dim=t.dim, data_dir=cfg.data_dir)
        for d, t in targets.items()
    }  # one per target: a Gaussian source takes each dataset's dimension
    if not paired:
        for d, target in targets.items():  # a pairing the data cannot take fails here, before any training
            data_coupling(sources[d], target, cfg.pairing)
    first = next(iter(targets.values()))
    images = first.image_shape is not None
    if images and any(len(feature_metrics(t)) < 2 for t in targets.values()):
        raise BadInput(
            "compare on images needs a built-in image dataset: its two shipped classifiers give the FIDs"
        )
    return images, next(iter(sources.values())).image_shape is not None, paired


def _floors(chain_floors: list[dict], images: bool) -> dict:
    """Summaries over seeds of every noise-floor score (``quality``: the headline one)."""
    keys = [k for k, v in chain_floors[0].items() if v is not None]
    floors = {k: summary([f[k] for f in chain_floors]) for k in keys}
    return floors | {"quality": floors["fid" if images else "w2"]}


@dataclass(frozen=True)
class _Plan:
    """What a comparison runs: its configuration, budgets, datasets and seeds, and what the datasets
    are (as :func:`_check_data` found them)."""

    cfg: CompareConfig
    sizes: dict
    datasets: list[str]
    seeds: list[int]
    images: bool
    translation: bool
    paired: bool

    @property
    def label(self) -> str:
        """The headline score."""
        return "feature FID (a)" if self.images else "W2"


def run_compare(cfg: CompareConfig, *, progress: bool = True, log=print) -> dict:
    """Run the whole comparison into ``cfg.out``; return the rows and the decided claims."""
    sizes = QUICK if cfg.quick else {k: getattr(cfg, k) for k in QUICK}
    datasets = [d.strip() for d in sizes["datasets"].split(",") if d.strip()]
    seeds = [int(s) for s in sizes["seeds"].split(",")]
    plan = _Plan(cfg, sizes, datasets, seeds, *_check_data(cfg, datasets))
    resume = start_run(cfg)
    out = Path(cfg.out)
    rows, chain_floors, samples = _run_chains(plan, resume, log)
    floors = {d: _floors(chain_floors[d], plan.images) for d in datasets}
    metrics = decision_metrics(plan.images, plan.paired)
    margins = {(d, m.key): cfg.margin * floors[d][m.key].mean for d in datasets for m in metrics}
    _write_csv(out / "results.csv", rows)
    decided = _decide(cfg, rows, datasets, metrics, margins)
    shapes = {d: get_distribution(d, data_dir=cfg.data_dir).image_shape for d in datasets}
    figures = plots(rows, datasets, floors, out, samples, plan.label, shapes, decided)
    report = _report(plan, rows, floors, metrics, margins, decided, figures)
    atomic_write_bytes(out / "report.md", ("\n".join(report) + "\n").encode())
    claims = [claim_record(claim, results) for claim, results in decided]
    atomic_write_json(out / "claims.json", {"margin": cfg.margin, "claims": claims})
    for claim, results in decided:
        tally = defaultdict(int)
        for r in results:
            tally[r["verdict"]] += 1
        log(f"{claim.title} -> {dict(tally)}")
    log(f"[compare] report: {out / 'report.md'}")
    return {"rows": rows, "claims": claims}


def _run_chains(plan: _Plan, resume: bool, log) -> tuple[list[dict], dict, dict]:
    """Train and score every (dataset, seed) chain; return the rows, each dataset's noise floors
    (one per seed) and the first seed's samples of each dataset (for the figures)."""
    rows, chain_floors, samples = [], defaultdict(list), {}
    total = len(plan.datasets) * len(plan.seeds)
    for i, (d, seed) in enumerate(((d, s) for d in plan.datasets for s in plan.seeds), start=1):
        log(f"[compare {i}/{total}] {d}, seed {seed}")
        root = Path(plan.cfg.out) / "runs" / d / f"seed{seed}"
        kinds = {"images": plan.images, "translation": plan.translation}
        models = build_chain(Chain.of(plan.cfg, plan.sizes, d, seed, root, resume, **kinds))
        chain = scored_chain(models, d, seed, plan.sizes["n_eval"], plan.cfg, root)
        rows += chain["rows"]
        chain_floors[d].append(chain["floor"])
        if seed == plan.seeds[0]:
            samples[d] = chain["samples"] | {
                "reference": chain["reference"],
                "input": chain["x0"] if plan.translation else None,
                "truth": chain["truth"],
            }
    return rows, chain_floors, samples


def _write_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode())


def _decide(cfg: CompareConfig, rows: list[dict], datasets: list[str], metrics, margins: dict) -> list:
    """Every claim whose methods were sampled (and the exploratory ones), with its verdicts."""
    sampled = {(r["method"], r["nfe_budget"]) for r in rows}
    runnable = [
        c
        for c in claims_of(cfg)
        if c.exploratory or {(c.baseline, c.budget), (c.candidate, c.budget)} <= sampled
    ]
    return [(claim, decide(claim, rows, datasets, metrics, margins)) for claim in runnable]


def _report(plan: _Plan, rows, floors: dict, metrics, margins: dict, decided: list, figures) -> list[str]:
    """The lines of ``report.md``."""
    return [
        *_head(plan, rows, metrics, margins, decided),
        *_rankings(rows, plan.datasets),
        *_accumulation(rows, plan.datasets),
        *_frontier(plan.cfg),
        *_dataset_tables(plan, rows, floors),
        "## Plots",
        "",
        *[
            f"![{f}]({f})"
            for f in figures
            if not f.startswith(("samples_", "claims", "drift_", "compute_vs", "frontier"))
        ],
    ]


def _head(plan: _Plan, rows, metrics, margins: dict, decided: list) -> list[str]:
    """The title, the command and protocol, the margins and the claims."""
    cfg, sizes, datasets = plan.cfg, plan.sizes, plan.datasets
    q = aggregate(rows)
    secs = {(d, m): s.mean for (d, m, _), s in aggregate(rows, "compute_seconds").items()}
    paragraphs = [claim_paragraph(claim, results, q, secs) for claim, results in decided]
    return [
        "# Comparison: k-RF, k-RF + distill, Bezier Distillation and the field's few-step baselines",
        "",
        f"Command: `{cfg.command()}` (datasets {', '.join(datasets)}; "
        f"seeds {', '.join(map(str, plan.seeds))}; "
        f"{sizes['steps']} training steps per stage at batch {sizes['batch_size']}; "
        f"{_architecture(cfg, sizes, plan.images)}; "
        f"{sizes['n_pairs']} pairs or guided rows per coupling from teachers at {cfg.teacher_solver}; "
        f"{rows[0]['n']} evaluation samples; device {cfg.device}).",
        "",
        _protocol(plan),
        "",
        "Equivalence margins (fixed by the configuration before the run as "
        f"{cfg.margin:g} x the mean noise floor): "
        + "; ".join(f"{d} {m.label} ±{margins[(d, m.key)]:.3g}" for d in datasets for m in metrics)
        + ".",
        "",
        "## Claims",
        "",
        *[p + "\n" for p in paragraphs],
        "![claims](claims.png)",
        "",
    ]


def _rankings(rows, datasets: list[str]) -> list[str]:
    """The Bezier variants, then every method, by mean rank over the datasets."""
    report = ["## Bezier variants by mean rank over the datasets (exploratory)", ""]
    for budget in ("1", "2"):
        top = ", ".join(f"{m} ({r:.1f})" for m, r in ranking(rows, datasets, budget)[:6])
        report += [f"- NFE {budget}: {top}"]
    report += ["", "## Every method by mean rank over the datasets", ""]
    report += [
        "Rank of each method's mean quality among all models sampled at the budget (teachers in one "
        "Euler step included), averaged over the datasets; the claims above carry the statistics.",
        "",
    ]
    for budget in ("1", "2"):
        every = ", ".join(f"{m} ({r:.1f})" for m, r in ranking(rows, datasets, budget, bezier_only=False))
        report += [f"- NFE {budget}: {every}"]
    return [*report, ""]


def _accumulation(rows, datasets: list[str]) -> list[str]:
    """Error accumulation over rectifications: a table per dataset."""
    report = ["## Error accumulation over rectifications", ""]
    report += [
        "Per rectification count k (mean ± sd over seeds): the k-RF solved with dopri5, its "
        "straightness and coupling drift (mean distance between its dopri5 solution and the "
        "1-RF's from the same held-out draws), the k-RF in one Euler step, its distilled students, "
        "and the compute spent up to the one-step student (compute s and teacher NFE: means).",
        "",
    ]
    for d in datasets:
        report += [f"**{d}**", "", accumulation(rows, d), ""]
    return [*report, "![drift](drift_vs_rectifications.png) ![compute](compute_vs_rectifications.png)", ""]


def _frontier(cfg: CompareConfig) -> list[str]:
    """What the frontier figure shows."""
    return [
        "## Quality against compute (the frontier)",
        "",
        "Each model's mean quality against the compute spent to obtain it, counted in forward passes "
        "(three per training sample, one per teacher evaluation, everything upstream included): the "
        "k-RF + distill students over k, and"
        + (
            " the primary Bezier recipes trained longer, to the compute of the k-RF + distill of each k "
            'of `--equal-compute` (the claims "Equal compute" above); '
            if cfg.equal_compute_list()
            else " (without `--equal-compute`, no Bezier student is trained longer); "
        )
        + "every other few-step model is a point. A Bezier student from fewer rectifications wins at "
        "equal compute where it sits below the k-RF + distill line.",
        "",
        "![frontier](frontier.png)",
        "",
    ]


def _dataset_tables(plan: _Plan, rows, floors: dict) -> list[str]:
    """Each dataset's table and samples."""
    report = []
    for d in plan.datasets:
        report += [f"## {d}", "", table(rows, d, floors[d], plan.images, plan.translation, plan.paired), ""]
        report += [f"![samples](samples_{slug(d)}.png)", ""]
    return report


def _architecture(cfg: CompareConfig, sizes: dict, images: bool) -> str:
    if images:
        return f"UNet widths {cfg.channels}, {cfg.blocks} block(s) per level"
    return f"MLP {sizes['layers']} x {sizes['hidden']}"


def _protocol(plan: _Plan) -> str:
    """How the report's scores, costs and claims are obtained."""
    return _scores_protocol(plan) + _costs_protocol(plan.label) + _claims_protocol(plan.cfg, plan.images)


def _scores_protocol(plan: _Plan) -> str:
    cfg, images, translation, paired = plan.cfg, plan.images, plan.translation, plan.paired
    text = (
        "Scores are mean ± standard deviation over seeds. Every model of a seed samples from the same "
        "held-out source draws (never a training or coupling input) and is scored against the same "
        "held-out reference; the noise floor scores an independent data draw, disjoint from the "
        "reference, in the same way. "
    )
    if images:
        text += (
            "Samples are clipped to [-1, 1] and quantised to 8 bits before every score (the fraction of "
            "values outside [-1, 1] is the 'out of range' column). The feature FIDs are computed in the "
            "feature spaces of two independently trained classifiers of the dataset (a and b: different "
            "architectures and seeds), against its test split; KID, precision and recall (Kynkaanniemi et "
            "al. 2019, k = 3) are in network a's space; W2 is the exact W2 in pixel space against a "
            "test-split draw. "
        )
        if paired:
            text += (
                "Each dataset is a paired task: its inputs (degraded test images) are the source and "
                "their clean images the ground truth; PSNR (dB), SSIM and the distance to the truth (RMS "
                "per pixel) score each output against the truth of its input, and a claim also needs the "
                "distance to the truth to agree with both FIDs (the noise-floor row's truth columns score "
                "the inputs themselves, and 5 % of their distance is that metric's margin). "
            )
        elif translation:
            text += (
                f"The source is the image dataset {cfg.source} (translation, inputs from its test split; "
                f"the 1-RF teachers trained on {cfg.pairing} pairs of source and data draws); "
                "faithfulness is the RMS per-pixel distance between each input and its output, class kept "
                "the fraction of outputs network a labels as their input's true class (chance: one over "
                "the number of classes). "
            )
    else:
        text += "W2 is the exact 2-Wasserstein distance and energy the energy distance. "
    return text


def _costs_protocol(label: str) -> str:
    return (
        f"The gap is {label} minus that of the model's own teacher solved with dopri5. The distillation "
        "error is the mean squared distance between a student's output and its teacher's dopri5 solution "
        "from the same source draws; in brackets its floor, the teacher's own solver error (dopri5 at "
        "rtol = atol = 1e-5 against 1e-7). Straightness is S(Z) of the teachers' flows (0 = straight). "
        "Compute has four columns: wall seconds of the training and coupling-generation runs upstream "
        "of the model (noisy on a shared machine), the number of training runs upstream (each of the "
        "same steps and batch), the teacher evaluations per sample spent making couplings and the "
        "teacher evaluations in all (couplings, and the Heun steps of consistency distillation's "
        "targets) (all three exact). The few-step baselines spend the training samples of 1-RF + "
        "distill: 2-RF++ reflows the 1-RF once (U-shaped times, pseudo-Huber loss, starting from the "
        "1-RF; Lee et al. 2024); OT-CFM is a 1-RF trained on exact minibatch optimal-transport pairs "
        "(Tong et al. 2023), distilled like the 1-RF; CD distils the 1-RF by consistency distillation "
        "(Song et al. 2023; two steps: the multistep consistency sampler); MeanFlow (Geng et al. "
        "2025) is trained from scratch for twice the steps with its adaptive loss. "
    )


def _claims_protocol(cfg: CompareConfig, images: bool) -> str:
    text = (
        "A claim compares a candidate with a baseline on every dataset by the per-seed paired "
        "difference (candidate - baseline; negative = candidate better) with its t-based 95 % interval; "
        "the p-values of the paired t-tests are Holm-corrected across the datasets of the claim. Each "
        "difference gets one of four verdicts: **better** or **worse** (Holm-adjusted p < 0.05), "
        "**equivalent** (not different, and the equivalence test against the margin below passes after "
        "Holm's correction: for one dataset, the 95 % interval lies inside the margin) or "
        "**inconclusive**. A better or worse whose whole interval lies inside the margin is marked "
        "'by less than the margin': detectable, but smaller than the difference the margin calls relevant. "
    )
    if images:
        text += (
            "A verdict on images stands only where both feature spaces give it; otherwise it reads "
            "**metric-dependent**. "
        )
    text += (
        f"The recipes that decide the claims were named in the configuration before the run "
        f"(one step: {cfg.primary_one_step} against {cfg.baseline_one_step}, and against 2-RF + distill "
        f"for claim 1; two steps: {cfg.primary_two_step} against {cfg.baseline_two_step}); the best of "
        "all variants on each dataset is reported separately and labelled exploratory."
    )
    return text
