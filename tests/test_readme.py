"""The README's Python example runs as written, and its set-up commands are the ones CI uses."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
API = README.parent / "docs" / "API.md"


def _run_examples(path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, str(path), "exec"), {})


def test_readme_python_examples_run(tmp_path, monkeypatch, capsys):
    # the README's own-model example: each student lands at least ten times closer to the
    # teacher's ODE solution than the teacher's own Euler steps at the same NFE
    monkeypatch.chdir(tmp_path)
    _run_examples(README)
    error = {}
    for line in capsys.readouterr().out.splitlines():
        name, nfe = line[:13].strip(), int(line.split("NFE")[1].split()[0])
        error[(name, nfe)] = float(line.split()[-1])
    assert set(error) == {("teacher", 1), ("teacher", 2), ("distilled", 1), ("Bezier chord", 2)}
    assert error[("distilled", 1)] < error[("teacher", 1)] / 10
    assert error[("Bezier chord", 2)] < error[("teacher", 2)] / 10
    assert not any(tmp_path.iterdir())  # nothing was written


def test_the_api_walkthrough_runs_and_prints_what_the_page_shows(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _run_examples(API)
    rows = {line[:24].strip(): line for line in capsys.readouterr().out.splitlines()}
    error = {
        name: float(rows[name].split()[-1]) for name in ("teacher, 1 Euler step", "Bezier student, 1 step")
    }
    assert error["Bezier student, 1 step"] < error["teacher, 1 Euler step"] / 10
    assert not any(tmp_path.iterdir())  # nothing was written


def test_readme_opens_with_the_two_commands_and_ci_runs_its_test_command():
    commands = re.findall(r"```bash\n(.*?)\n```", README.read_text(), flags=re.S)[:2]
    assert commands[0].endswith("bezier-distill demo --out runs/demo")
    assert commands[1].endswith("&& pytest")
    ci = (README.parent / ".ci" / "run").read_text()
    assert "pip install -q torch==2.13.0" in ci and "\npytest\n" in ci and "pytest -m slow" in ci
