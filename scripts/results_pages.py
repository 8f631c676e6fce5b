"""Write the result pages of docs/results/ from the committed per-row CSVs of docs/.

    python scripts/results_pages.py              # rewrites docs/results/*.md
    python scripts/results_pages.py --out DIR    # writes the same pages into DIR

Every ``docs/<name>_results.csv`` is the ``results.csv`` of one finished run: of ``bezier-distill
compare --config configs/<name>.toml`` (the config's name has hyphens where the file's has
underscores; ``regime_images_fashion14`` is ``configs/regimes/images-fashion14.toml``), or of
``scripts/translation_pairings.py`` for the ``translation_pairings*`` files. Each comparison gets
one page: per dataset, every method at every budget with the mean ± sd over the seeds of each
score the CSV holds; on the comparisons of docs/RESULTS.md's ranking, every method ranked at one
and two steps (``scripts/ranking_table.py``); on the error-accumulation runs the table per
rectification count k, and for the twins their paired differences from the reference
(``scripts/accumulation_table.py``); on the options run every Bezier option against its baseline
(``scripts/options_table.py``). The pages are a pure function of the CSVs (same bytes on every
run); ``tests/test_results_pages.py`` checks that the committed pages are up to date.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bezier_distill.compare import tables
from bezier_distill.compare.stats import summary

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
HERE = Path(__file__).resolve().parent
BUDGETS = ("ODE", "1", "2")
RESULTS = "../RESULTS.md"


def _script(name: str):
    """A sibling script as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


ranking_table = _script("ranking_table")
accumulation_table = _script("accumulation_table")
options_table = _script("options_table")
translation_pairings = _script("translation_pairings")


@dataclass(frozen=True)
class Page:
    """One comparison's page: the CSV it is made from and what it shows beside every model."""

    csv: str  # the stem of docs/<csv>_results.csv
    file: str  # the page under docs/results/
    title: str
    config: str  # the config file that made the CSV
    section: str  # the anchor of the section of docs/RESULTS.md that reads it
    ranked: bool = False  # every method ranked at 1 and 2 NFE
    accumulation: bool = False  # the table per rectification count k
    reference: str | None = None  # a twin of this run: its paired differences from the reference
    options: bool = False  # every Bezier option against its baseline


PAGES = (
    Page(
        "compare_2d",
        "compare-2d.md",
        "Point sets: the 2-D suite and the 32-D mixture",
        "configs/compare-2d.toml",
        "point-sets-the-2-d-suite-and-the-32-d-mixture",
        ranked=True,
    ),
    Page(
        "compare_digits",
        "compare-digits.md",
        "Images: generation on scikit-learn's 8x8 digits",
        "configs/compare-digits.toml",
        "images-generation-on-scikit-learns-8x8-digits",
        ranked=True,
    ),
    Page(
        "compare_translation",
        "compare-translation.md",
        "Images: translation from MNIST (shrunk to 8x8) to scikit-learn's digits",
        "configs/compare-translation.toml",
        "images-translation-from-mnist-shrunk-to-8x8-to-scikit-learns-digits",
        ranked=True,
    ),
    Page(
        "compare_tasks",
        "compare-tasks.md",
        "Images: paired tasks with ground truth (super-resolution, inpainting, denoising)",
        "configs/compare-tasks.toml",
        "images-paired-tasks-with-ground-truth-claim-3",
        ranked=True,
    ),
    Page(
        "accumulation_2d",
        "accumulation-2d.md",
        "Error accumulation over four rectifications: the 2-D suite and the 32-D mixture",
        "configs/accumulation-2d.toml",
        "error-accumulation-over-four-rectifications-the-2-d-suite-and-the-32-d-mixture",
        accumulation=True,
    ),
    Page(
        "accumulation_2d_pairs2k",
        "accumulation-2d-pairs2k.md",
        "Error accumulation with fewer pairs (2,000 per coupling): the reference's twin",
        "configs/accumulation-2d-pairs2k.toml",
        "estimation-error-and-solver-error-the-references-twins",
        accumulation=True,
        reference="accumulation_2d",
    ),
    Page(
        "accumulation_2d_euler8",
        "accumulation-2d-euler8.md",
        "Error accumulation with teachers solved by 8 Euler steps: the reference's twin",
        "configs/accumulation-2d-euler8.toml",
        "estimation-error-and-solver-error-the-references-twins",
        accumulation=True,
        reference="accumulation_2d",
    ),
    Page(
        "accumulation_digits",
        "accumulation-digits.md",
        "Error accumulation over four rectifications: digits",
        "configs/accumulation-digits.toml",
        "error-accumulation-over-four-rectifications-digits",
        accumulation=True,
    ),
    Page(
        "regime_images_fashion14",
        "regime-images-fashion14.md",
        "The regime sweep on images: Fashion-MNIST shrunk to 14x14",
        "configs/regimes/images-fashion14.toml",
        "the-regime-sweep-does-2-rf--distill-beat-1-rf--distill-anywhere",
    ),
    Page(
        "bezier_options_2d",
        "bezier-options-2d.md",
        "Bezier at its best: every option of the method, and the control",
        "configs/bezier-options-2d.toml",
        "bezier-at-its-best-every-option-of-the-method-and-the-control",
        options=True,
    ),
    Page(
        "confirm_2d",
        "confirm-2d.md",
        "Confirmatory run on fresh seeds: the reference protocol",
        "configs/confirm-2d.toml",
        "confirmatory-runs-fresh-seeds-with-the-recipe-and-the-outcome-named-first",
    ),
    Page(
        "confirm_2d_euler8",
        "confirm-2d-euler8.md",
        "Confirmatory run on fresh seeds: couplings from a coarse solver",
        "configs/confirm-2d-euler8.toml",
        "confirmatory-runs-fresh-seeds-with-the-recipe-and-the-outcome-named-first",
    ),
)

# The options run's mean noise floors (W2 between the held-out reference and an independent draw,
# seeds 0-4, 2,000 draws): the run scores them but the CSV has no row for them. Its equivalence
# margins are 0.05 x these (the report rounds them: ±0.00698, ±0.0119, ±0.165).
# `python scripts/results_pages.py --floors` recomputes them with the library, as compare does.
OPTIONS_FLOORS = {
    "moons": 0.13955669881752525,
    "checkerboard": 0.2384791365367093,
    "mixture32": 3.294437446191309,
}
OPTIONS_MARGINS = {d: 0.05 * floor for d, floor in OPTIONS_FLOORS.items()}
OPTIONS_TABLES = (  # (heading, budget, baseline, objectives): the tables of the options run
    (
        "Every one-step option against 1-RF + distill",
        "1",
        "1-RF + distill",
        ("end", "end-space", "end/u-shaped", "end/mixed", "end@0.1", "end/grid"),
    ),
    ("The two-step `chord` students against 1-RF + distill", "2", "1-RF + distill", ("chord",)),
    (
        "Every one-step option against the named one-step recipe, `Bezier n=2 [1-RF] end`",
        "1",
        "Bezier n=2 [1-RF] end",
        ("end", "end-space", "end/u-shaped", "end/mixed", "end@0.1", "end/grid"),
    ),
)

POINT_SCORES = (("W2", "w2"), ("energy", "energy"))
IMAGE_SCORES = (
    ("FID (a)", "fid"),
    ("FID (b)", "fid_b"),
    ("KID (a)", "kid"),
    ("KID (b)", "kid_b"),
    ("precision (a)", "precision"),
    ("recall (a)", "recall"),
    ("precision (b)", "precision_b"),
    ("recall (b)", "recall_b"),
    ("out of range", "out_of_range"),
    ("W2 (pixels)", "w2"),
    ("PSNR (dB)", "psnr"),
    ("SSIM", "ssim"),
    ("to truth", "truth_distance"),
    ("faithfulness", "faithfulness"),
    ("class kept", "class_kept"),
)
COST = (  # (header, field, format) of the compute columns, means over the seeds
    ("compute s", "compute_seconds", ".1f"),
    ("training stages", "training_stages", ".0f"),
    ("teacher NFE / sample", "teacher_nfe_per_sample", ".0f"),
    ("teacher evaluations", "teacher_evals", ".3g"),
)

PAIRINGS = (  # (CSV stem, title, the command that made it)
    (
        "translation_pairings",
        "MNIST (shrunk to 8x8) -> digits",
        "python scripts/translation_pairings.py --out runs/pairings",
    ),
    (
        "translation_pairings_digits14_mnist14",
        "digits -> MNIST, 14x14",
        "python scripts/translation_pairings.py --source digits:size=14 --data mnist:size=14 "
        "--out runs/pairings-digits14-mnist14",
    ),
    (
        "translation_pairings_digits_mnist",
        "digits -> MNIST, 8x8",
        "python scripts/translation_pairings.py --source digits --data mnist:size=8 "
        "--out runs/pairings-digits-mnist",
    ),
)
def read(stem: str) -> list[dict]:
    with (DOCS / f"{stem}_results.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped, spaces to hyphens."""
    kept = "".join(c for c in heading.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def _stats(rows: list[dict], field: str) -> dict[tuple[str, str], list[float]]:
    """``(method, budget) -> the field's values over the seeds`` (rows without it left out)."""
    found: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in rows:
        if r.get(field, "") != "":
            found[(r["method"], r["nfe_budget"])].append(float(r[field]))
    return found


def _mean(values: list[float]) -> float:
    return summary(values).mean


def _nfe(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.0f}" if low == high else f"{low:.0f}-{high:.0f}"


def every_model(rows: list[dict], dataset: str) -> str:
    """Every method and budget on one dataset, ordered by budget and then mean quality."""
    rows = [r for r in rows if r["dataset"] == dataset]
    images = any(r.get("fid", "") != "" for r in rows)
    scores = [(h, _stats(rows, f)) for h, f in (IMAGE_SCORES if images else POINT_SCORES) if _stats(rows, f)]
    quality, nfe = _stats(rows, "quality"), _stats(rows, "nfe")
    distill, solver, straight = (_stats(rows, f) for f in ("distill_error", "solver_error", "straightness"))
    cost = [(h, _stats(rows, f), fmt) for h, f, fmt in COST if f in rows[0]]
    teacher_of = {r["method"]: r["teacher"] for r in rows}
    head = ["method", "NFE", *(h for h, _ in scores), "gap to teacher", "distill error (floor)"]
    head += ["straightness", *(h for h, _, _ in cost)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    keys = sorted(quality, key=lambda k: (BUDGETS.index(k[1]), _mean(quality[k]), k[0]))
    for key in keys:
        method, budget = key
        teacher = teacher_of[method] or (method if budget != "ODE" else "")
        gap = "-"
        if budget != "ODE" and (teacher, "ODE") in quality:
            gap = f"{_mean(quality[key]) - _mean(quality[(teacher, 'ODE')]):+.3f}"
        if key in distill:
            floor = solver.get((teacher_of[method], "ODE"))
            error = f"{_mean(distill[key]):.3g}" + (f" ({_mean(floor):.1g})" if floor else "")
        elif key in solver:
            error = f"solver error {_mean(solver[key]):.1g}"
        else:
            error = "-"
        cells = [method, _nfe(nfe[key]) if key in nfe else "-"]
        cells += [str(summary(stat[key])) if key in stat else "-" for _, stat in scores]
        cells += [gap, error, f"{_mean(straight[key]):.3f}" if key in straight else "-"]
        cells += [f"{_mean(stat[key]):{fmt}}" if key in stat else "-" for _, stat, fmt in cost]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# the per-k fields of an accumulation table, read from the CSV as numbers (empty: None)
ACCUMULATION_FIELDS = (
    "quality",
    "coupling_drift",
    "straightness",
    "compute_seconds",
    "teacher_nfe_per_sample",
    "training_stages",
    "compute_evals",
)


def accumulation(rows: list[dict], dataset: str) -> str:
    """The compare report's accumulation table (:func:`bezier_distill.compare.tables.accumulation`)
    of one dataset, from the CSV's rows."""
    numeric = [
        r | {f: float(r[f]) if r.get(f, "") != "" else None for f in ACCUMULATION_FIELDS} for r in rows
    ]
    return tables.accumulation(numeric, dataset)


def _seeds(rows: list[dict]) -> str:
    return ", ".join(sorted({r["seed"] for r in rows}, key=int))


def _header(title: str, made: str, regenerate: str, back: str) -> list[str]:
    return [
        f"# {title}",
        "",
        "<!-- Generated by scripts/results_pages.py: edit the script, not this page. -->",
        "",
        made,
        f"Regenerate this page (and every page of this folder) with `{regenerate}`. {back}",
        "",
    ]


def _contents(sections: list[str]) -> list[str]:
    return ["Contents: " + ", ".join(f"[{s}](#{slug(s)})" for s in sections) + ".", ""]


def comparison_page(page: Page) -> str:
    rows = read(page.csv)
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    images = any(r.get("fid", "") != "" for r in rows)
    out = page.config.split("/")[-1].removesuffix(".toml")
    folder = "runs/regimes/" if "regimes/" in page.config else "runs/"
    lines = _header(
        page.title,
        f"Made from [{page.csv}_results.csv](../{page.csv}_results.csv) ({len(rows)} rows; datasets "
        f"{', '.join(datasets)}; seeds {_seeds(rows)}), the per-row results that `bezier-distill compare "
        f"--config {page.config}` writes to `{folder}{out}/results.csv`.",
        "python scripts/results_pages.py",
        "What the numbers say, with the verdicts and their intervals: "
        f"[docs/RESULTS.md]({RESULTS}#{page.section}).",
    )
    sections = []
    if page.ranked:
        sections.append("Every method ranked")
    if page.options:
        sections += [heading for heading, *_ in OPTIONS_TABLES]
    if page.accumulation:
        sections.append("Per rectification count")
    if page.reference:
        sections.append("Against the reference")
    sections.append("Every model")
    lines += _contents(sections)
    if page.ranked:
        lines += ["## Every method ranked", ""]
        lines += [
            "Per budget, every method by its mean score over the seeds on each dataset (in brackets its "
            "rank there among all the models sampled at that budget), then by the mean of those ranks; "
            "the compute columns are means over datasets and seeds (wall seconds from a shared machine; "
            "training runs and teacher evaluations exact). Made by `ranking_table.table` of "
            "`scripts/ranking_table.py`; the paired verdicts are in docs/RESULTS.md.",
            "",
        ]
        metrics = (("fid", "feature FID (a)"), ("fid_b", "feature FID (b)")) if images else (("w2", "W2"),)
        for field, label in metrics:
            for budget in ("1", "2"):
                lines += [f"**{budget} NFE, {label}**", "", ranking_table.table(rows, budget, field), ""]
        bezier = [r for r in rows if r["family"] == "Bezier"]
        lines += [
            "**The Bezier variants among themselves** (exploratory: ranked among the Bezier students "
            f"only, by {metrics[0][1]})",
            "",
        ]
        for budget in ("1", "2"):
            lines += [f"**{budget} NFE**", "", ranking_table.table(bezier, budget, metrics[0][0]), ""]
    if page.options:
        lines += [
            "Paired differences of W2 over the seeds (candidate - baseline, negative: the candidate is "
            "better) with their 95 % intervals; the verdicts are Holm-corrected over each whole table, "
            "with the run's margins (0.05 x the mean noise floor: "
            + ", ".join(f"{d} ±{m:.3g}" for d, m in OPTIONS_MARGINS.items())
            + "). Exploratory except the rows of the named recipes. Made by `options_table.table` of "
            "`scripts/options_table.py`.",
            "",
        ]
        for heading, budget, baseline, objectives in OPTIONS_TABLES:
            lines += [f"## {heading}", ""]
            lines += [options_table.table(rows, OPTIONS_MARGINS, budget, baseline, list(objectives)), ""]
    if page.accumulation:
        lines += ["## Per rectification count", ""]
        lines += [
            "Per k, mean ± sd over the seeds: the k-RF solved with dopri5, its straightness and its "
            "coupling drift (the mean distance between its dopri5 solution and the 1-RF's from the same "
            "held-out draws), the k-RF in one Euler step, k-RF + distill at one and two steps, and the "
            "compute spent up to the one-step student (means: wall seconds, forward passes, training "
            "runs, teacher evaluations per sample).",
            "",
        ]
        for d in datasets:
            lines += [f"**{d}**", "", accumulation(rows, d), ""]
    if page.reference:
        ref = next(p for p in PAGES if p.csv == page.reference)
        names = [p.config.split("/")[-1].removesuffix(".toml") for p in (ref, page)]
        lines += ["## Against the reference", ""]
        lines += [
            f"Seed by seed against the reference run ([{ref.file}]({ref.file}), the same 1-RFs): per k, "
            "the k-RF at dopri5, its coupling drift and k-RF + distill in one step (means over the "
            "seeds), each of this run's columns followed by its paired difference from the reference "
            "(twin - reference, 95 % interval; positive: worse or further). Made by "
            "`accumulation_table.table` of `scripts/accumulation_table.py`.",
            "",
        ]
        paths = [DOCS / f"{p.csv}_results.csv" for p in (ref, page)]
        lines += [accumulation_table.table(paths, names), ""]
    lines += ["## Every model", ""]
    what = (
        "feature FIDs in the two networks a and b, KID, precision and recall in each, the fraction of "
        "values outside [-1, 1], W2 in pixels"
        + (", PSNR, SSIM and the distance to the truth (RMS per pixel)" if "psnr" in rows[0] else "")
        + (", faithfulness (RMS distance from input to output)" if "faithfulness" in rows[0] else "")
        if images
        else "exact W2 and energy distance against the held-out reference"
    )
    lines += [
        f"Per dataset, every method at every budget (ODE: dopri5), mean ± sd over the seeds: {what}. "
        "NFE is the number of model calls (a range where dopri5 took different numbers on different "
        "seeds). The gap is the mean score minus that of the model's teacher at dopri5; the "
        "distillation error is the mean squared distance between a student's output and its "
        "teacher's dopri5 solution from the same draws, in brackets its floor, the teacher's own "
        "solver error; straightness is S(Z) of a flow's paths (0 = straight). Compute: wall seconds "
        "upstream of the model (noisy on a shared machine), training stages, teacher evaluations per "
        "sample and in all (exact). The noise floor (data against data) is scored by the run but is "
        "not a row of the CSV: docs/RESULTS.md gives it.",
        "",
    ]
    for d in datasets:
        lines += [f"### {d}", "", every_model(rows, d), ""]
    return "\n".join(lines)


def pairings_page() -> str:
    lines = _header(
        "Pairing by content in unpaired translation",
        "Made from the per-row results of `scripts/translation_pairings.py` (one 1-RF per pairing and "
        "seed, solved with dopri5 from the same held-out source images): "
        + ", ".join(f"[{stem}_results.csv](../{stem}_results.csv)" for stem, *_ in PAIRINGS)
        + ".",
        "python scripts/results_pages.py",
        f"What they say: [docs/RESULTS.md]({RESULTS}#pairing-by-content-keeps-the-class).",
    )
    lines += _contents([title for _, title, _ in PAIRINGS])
    for stem, title, command in PAIRINGS:
        rows = read(stem)
        seeds = sorted({r["seed"] for r in rows}, key=int)
        lines += [f"## {title}", "", f"`{command}`, seeds {', '.join(seeds)}; mean ± sd over the seeds:", ""]
        lines += translation_pairings.pairing_tables(rows)
        lines.append("")
    return "\n".join(lines)


def index_page() -> str:
    lines = _header(
        "Result tables",
        "One page per run, each made from the per-row CSV the run wrote (committed under docs/); "
        "the verdicts, their intervals and what they mean are in [docs/RESULTS.md](../RESULTS.md).",
        "python scripts/results_pages.py",
        "",
    )
    lines[-2] = lines[-2].rstrip()
    lines += ["| page | made by |", "|---|---|"]
    for page in PAGES:
        lines.append(f"| [{page.title}]({page.file}) | `bezier-distill compare --config {page.config}` |")
    lines.append(
        "| [Pairing by content in unpaired translation](translation-pairings.md) "
        "| `python scripts/translation_pairings.py` |"
    )
    lines.append("")
    return "\n".join(lines)


def pages() -> dict[str, str]:
    """``file name -> text`` of every page."""
    found = {page.file: comparison_page(page) for page in PAGES}
    found["translation-pairings.md"] = pairings_page()
    found["README.md"] = index_page()
    return found


def floors() -> dict[str, float]:
    """The options run's mean noise floors, recomputed as ``bezier-distill compare`` scores them
    (seeds 0-4, 2,000 held-out draws from the standard Gaussian source; a few seconds)."""
    from bezier_distill.data import get_distribution
    from bezier_distill.evaluation import eval_data, noise_floor

    found = {}
    for dataset in OPTIONS_FLOORS:
        target = get_distribution(dataset)
        source = get_distribution("gaussian", dim=target.dim)
        found[dataset] = sum(noise_floor(eval_data(source, target, 2000, s))["w2"] for s in range(5)) / 5
    return found


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=DOCS / "results", help="the folder to write the pages to")
    p.add_argument("--floors", action="store_true", help="recompute the options run's noise floors and stop")
    args = p.parse_args(argv)
    if args.floors:
        for dataset, floor in floors().items():
            print(f"{dataset}: {floor!r} (written in the script: {OPTIONS_FLOORS[dataset]!r})")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in pages().items():
        (args.out / name).write_text(text.rstrip("\n") + "\n")
        print(args.out / name)


if __name__ == "__main__":
    main()
