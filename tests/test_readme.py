"""Docs that run: the README's ```python and ```bash blocks are executed here."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(blocks("python")) >= 1 and len(blocks("bash")) >= 1


def test_python_and_cli_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # no weights: vgg16 skipped
    for code in blocks("python"):
        exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    assert (tmp_path / "matches.png").stat().st_size > 0
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                 f"{os.environ['PATH']}"}
    for block in blocks("bash"):
        for line in block.strip().splitlines():
            done = subprocess.run(shlex.split(line), capture_output=True, text=True,
                                  cwd=tmp_path, env=env, timeout=300)
            assert done.returncode == 0, (line, done.stderr)
    assert (tmp_path / "explain.png").stat().st_size > 0
