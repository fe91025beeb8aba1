"""User-facing text names things by what they are, not by internal document numbers.

The project started from three documents known internally as "seed 000/001/004" (a blog
post, a notebook of approaches, a forum question). Users never saw them under those
names, so notebooks, README, the CLI's help and the package metadata must not use them.
A random ``seed=`` argument is a different word and is allowed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from simlab.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
INTERNAL = re.compile(r"\bseed(?:[ _-]?0\d\d)?\b(?!\s*[=:])", re.IGNORECASE)


def _hits(text: str) -> list[str]:
    return [text[max(0, m.start() - 40):m.end() + 40].replace("\n", " ")
            for m in INTERNAL.finditer(text)]


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb"))
                         + [ROOT / "README.md", ROOT / "pyproject.toml"],
                         ids=lambda p: p.name)
def test_no_internal_document_names(path):
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        text = "\n".join("".join(cell["source"]) for cell in json.loads(text)["cells"])
    assert not _hits(text), _hits(text)


def test_cli_help_has_no_internal_document_names():
    parser = build_parser()
    texts = [parser.format_help()]
    sub = next(a for a in parser._actions if a.dest == "command")
    texts += [command.format_help() for command in sub.choices.values()]
    hits = [hit for text in texts for hit in _hits(text)]
    assert not hits, hits


def test_the_pattern_catches_what_it_should():
    assert _hits("Seed 000 did this") and _hits("the seed004 baseline") and \
        _hits("as in the seed notebook") and _hits("seed-004's program")
    assert not _hits("build_planted_set(folder, seed=0)") and not _hits("a seeded generator")
