"""Dense-vector search (simlab.search.vectors): faiss, exact while small, IVF past a size."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from simlab import samples
from simlab.bow.fusion import best_first
from simlab.index import build
from simlab.search.vectors import nearest, vector_index


def _unit_rows(count: int, width: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((count, width)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_the_exact_index_answers_as_the_numpy_scan():
    rows = _unit_rows(3000, 64)
    queries = _unit_rows(5, 64, seed=1)
    found, scores = nearest(vector_index(rows), queries, 20)
    for query, got, got_scores in zip(queries, found, scores):
        cosines = rows @ query
        assert got.tolist() == best_first(cosines, 20).tolist()
        np.testing.assert_allclose(got_scores, cosines[got], atol=1e-5)


def test_past_its_size_an_inverted_file_still_finds_near_copies_first():
    rows = _unit_rows(4000, 64)
    index = vector_index(rows, ivf_from=1000, probes=8)
    assert type(index).__name__ == "IndexIVFFlat"
    assert index.nprobe == 8 and index.ntotal == 4000
    # Noisy copies of stored rows: each copy's own row comes back first.
    picked = np.arange(0, 4000, 97)
    noisy = rows[picked] + 0.2 * _unit_rows(len(picked), 64, seed=2)
    found, scores = nearest(index, noisy / np.linalg.norm(noisy, axis=1, keepdims=True), 5)
    assert (found[:, 0] == picked).mean() >= 0.95
    assert (np.diff(scores, axis=1) <= 0).all()  # best first


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    for name in ("astronaut", "coffee", "camera", "chelsea", "rocket", "coins", "moon"):
        Image.fromarray(samples.sample_image(name, max_side=256)).save(folder / f"{name}.png")
    return folder


def test_histogram_search_ranks_by_the_exact_cosine(folder, tmp_path):
    from simlab.search.backends import ColourHistogram

    index = build(folder, path=tmp_path / "hist", method="histogram", progress=False)
    query = samples.sample_image("coffee", max_side=256)
    hits = index.search(query, top=7)
    vector = ColourHistogram.vector(query)
    cosines = [float(index._features[[e["path"] for e in index.files].index(h.path)]["vector"]
                     @ vector) for h in hits]
    assert hits[0].path.endswith("coffee.png")
    assert [h.details["cosine"] for h in hits] == pytest.approx(cosines, abs=1e-5)
    assert cosines == sorted(cosines, reverse=True)
