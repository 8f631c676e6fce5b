"""The pages of docs/results/ are exactly what scripts/results_pages.py makes of the committed CSVs."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "docs" / "results"


def _generator():
    spec = importlib.util.spec_from_file_location("results_pages", ROOT / "scripts" / "results_pages.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["results_pages"] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def test_the_committed_result_pages_are_up_to_date(tmp_path, capsys):
    _generator().main(["--out", str(tmp_path)])
    made = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_bytes() for p in PAGES.iterdir()}
    assert sorted(made) == sorted(committed), "run: python scripts/results_pages.py"
    stale = [name for name in made if made[name] != committed[name]]
    assert not stale, f"out of date (run: python scripts/results_pages.py): {stale}"


def test_the_generator_is_deterministic_and_reads_every_committed_csv(tmp_path):
    generator = _generator()
    first, second = generator.pages(), generator.pages()
    assert first == second
    used = {page.csv for page in generator.PAGES} | {stem for stem, *_ in generator.PAIRINGS}
    committed = {p.name.removesuffix("_results.csv") for p in (ROOT / "docs").glob("*_results.csv")}
    assert used == committed  # a new CSV needs a page


def test_the_pages_reproduce_numbers_the_results_page_quotes():
    # one cell per kind of table, each as docs/RESULTS.md quotes it from the run's report
    pages = _generator().pages()
    assert (
        "| 1-RF + distill | 0.422 (2) | 0.236 (1) | 0.426 (1) | 0.273 (3) | 3.57 (3) | 2.0 |"
        in pages["compare-2d.md"]
    )
    assert "| Bezier n=2 [1-RF] chord | 2 | 4.748 ± 0.147 | 1.173 ± 0.299 |" in pages["compare-digits.md"]
    assert "| 2 | 3.520 ± 0.018 | 0.1417 | 0.555 | 3.811 ± 0.017 |" in pages["accumulation-2d.md"]
    assert "**-0.134 [-0.138, -0.129] better**" in pages["bezier-options-2d.md"]
