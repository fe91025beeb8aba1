"""One bag of words for search and pair pruning: vocabulary, tf-idf, fusion."""

from __future__ import annotations

import numpy as np

from simlab.bow import InvertedFile, mirrored_words, rank_fusion, train_vocabulary
from simlab.bow.fusion import best_first, fused_best
from simlab.local import mirror_descriptors


def test_a_mirror_closed_vocabulary_maps_mirrored_descriptors_to_mirrored_words():
    rng = np.random.default_rng(0)
    vocabulary = train_vocabulary(rng.random((6000, 128), np.float32), words=256,
                                  mirror_closed=True)
    descriptors = rng.random((300, 128), np.float32)
    words = vocabulary.assign(descriptors)
    assert (mirrored_words(vocabulary)[words] == vocabulary.assign(
        mirror_descriptors(descriptors))).all()


def test_inverted_file_cosines_equal_the_dense_tf_idf_cosines():
    rng = np.random.default_rng(1)
    lists = [rng.integers(0, 50, rng.integers(5, 40)) for _ in range(20)]
    inverted = InvertedFile.build(lists, 50)
    query = rng.integers(0, 50, 30)
    dense = inverted.rows.toarray()
    counts = np.bincount(query, minlength=50).astype(np.float64)
    weights = np.sqrt(counts) * inverted.idf
    expected = dense @ (weights / np.linalg.norm(weights))
    assert np.allclose(inverted.cosines(query), expected, atol=1e-5)
    # The rows themselves are unit length (cosines of pairs are their products).
    assert np.allclose(np.linalg.norm(dense, axis=1), 1.0, atol=1e-5)


def test_mirrored_rows_are_the_rows_of_mirrored_images():
    rng = np.random.default_rng(2)
    mirror = rng.permutation(40)
    mirror = np.argsort(mirror)[mirror]  # any permutation works for the identity below
    lists = [rng.integers(0, 40, 25) for _ in range(6)]
    inverted = InvertedFile.build(lists, 40, mirror=mirror)
    assert np.allclose(inverted.mirrored_rows().toarray(),
                       inverted.rows.toarray()[:, mirror])


def test_rank_fusion_prefers_what_several_rankings_agree_on():
    # Item 1 is second, first and first; item 0 first, third and third.
    fused = rank_fusion([np.array([0.9, 0.8, 0.1]), np.array([0.1, 0.9, 0.5]),
                         np.array([0.0, 0.7, 0.3])], k=1)
    assert int(np.argmax(fused)) == 1


def test_best_first_is_a_stable_sort_of_the_best():
    rng = np.random.default_rng(0)
    for values in (rng.random(500), rng.integers(0, 5, 500).astype(float), np.zeros(7)):
        for count in (0, 1, 10, 499, 500, 600):
            assert best_first(values, count).tolist() == \
                np.argsort(-values, kind="stable")[:count].tolist()


def test_the_best_of_a_fusion_are_those_of_ranking_every_item():
    """Scored from each list's best 50 only, or every item when that cannot decide
    (ties everywhere): the same items, order and scores as the full fusion."""
    rng = np.random.default_rng(1)
    cases = [[rng.random(2000) for _ in range(3)],  # decided from the heads
             [rng.integers(0, 4, 2000).astype(float), np.zeros(2000), rng.random(2000)],
             [np.zeros(2000)] * 3]  # one tie: every item ranked
    for similarities in cases:
        full = rank_fusion(similarities)
        for count in (1, 10, 40):
            items, scores = fused_best(similarities, count, depth=50)
            assert items.tolist() == best_first(full, count).tolist()
            assert np.allclose(scores, full[items])
