"""The README's Python example runs as printed."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.DOTALL).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, str(README), "exec"), {})  # noqa: S102 - the README's own example, run as a reader would
    printed = capsys.readouterr().out
    assert "Hit(corpus_id=2" in printed  # the guitar paraphrase ranks first
    assert (tmp_path / "my-model" / "modules.json").is_file()
