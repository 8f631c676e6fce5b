"""The README's Python example runs as written, and its set-up commands are the ones CI uses."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    for code in blocks:
        exec(compile(code, str(README), "exec"), {})
    assert "80" in capsys.readouterr().out


def test_readme_opens_with_the_two_commands_and_ci_runs_its_test_command():
    commands = re.findall(r"```bash\n(.*?)\n```", README.read_text(), flags=re.S)[:2]
    assert commands[0].endswith("bezier-distill demo --out runs/demo")
    assert commands[1].endswith("&& pytest")
    ci = (README.parent / ".ci" / "run").read_text()
    assert "pip install -q torch==2.13.0" in ci and "\npytest\n" in ci and "pytest -m slow" in ci
