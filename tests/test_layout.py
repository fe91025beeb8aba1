"""The layout shows the architecture: product code never imports the tooling or benchmarks.

Product code flows downwards (cli -> jobs -> engine -> core). The notebook tooling
(:mod:`simlab.lab`) and the benchmarks (:mod:`simlab.bench`) sit beside it: they may
import the product, never the other way round. Only the command line reaches them, for
``simlab demo``, ``simlab report`` and ``simlab bench``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import simlab

PACKAGE = Path(simlab.__file__).parent
TOOLING = ("simlab.lab", "simlab.bench")


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (docstrings and strings ignored)."""
    module = ".".join(("simlab",) + path.relative_to(PACKAGE).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[:len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def test_product_code_never_imports_the_notebook_tooling_or_the_benchmarks():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(("lab/", "bench/")) or relative in ("cli.py", "__init__.py"):
            continue
        bad = sorted(name for name in _imports(path)
                     if name.startswith(TOOLING) or name in ("simlab.samples",))
        if bad:
            offenders[relative] = bad
    assert offenders == {}


def test_each_engine_concept_has_one_home():
    # The engine's pieces are found by folder name, and the jobs call them instead of
    # their own copies: no job module defines a RANSAC call or a vocabulary trainer.
    for concept, home in (("cv2.estimateAffinePartial2D", "local/verification.py"),
                          ("cv2.findHomography", "local/verification.py"),
                          ("MiniBatchKMeans", "bow/vocabulary.py"),
                          ("cv2.SIFT_create", "local/extract.py"),
                          ("knnMatch", "local/correspond.py")):
        users = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
                       if concept in p.read_text())
        assert users == [home] or (concept == "knnMatch" and set(users) <= {
            home, "bench/baselines.py"}) or (concept == "cv2.SIFT_create" and set(users) <= {
            home, "bench/baselines.py"}), (concept, users)
