"""Pair pruning: which pairs of a folder are worth verifying, from bags of visual words.

Each image becomes a tf-idf bag of words over a vocabulary learnt from the folder and
closed under mirroring (:mod:`simlab.bow`); only each image's few most similar images
(normal or mirrored) go on to geometric verification, so the expensive step grows with
N, not N².
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["candidate_pairs"]

#: Vocabulary of the pruning: 128 learnt cells of 128 words each, and their mirrors,
#: from 100,000 descriptors in 4 k-means steps per level. A rough vocabulary suffices to
#: rank candidates (the verifier decides), and its training is the pruning's main cost.
WORDS, BRANCHES, SAMPLE, ITERATIONS = 2 * 128 * 128, 128, 100_000, 4


def candidate_pairs(descriptor_sets: Sequence[np.ndarray], *, neighbours: int = 6,
                    min_similarity: float = 0.02, seed: int = 0, kind: str = "rootsift",
                    workers: int = 2) -> list[tuple[int, int, bool, float]]:
    """Pairs worth verifying: each image's most similar others, plain or mirrored.

    Each image keeps its ``neighbours`` highest tf-idf cosine similarities among the
    ``2 (N - 1)`` candidates (every other image as is, and mirrored), so the number of
    pairs verified is at most ``neighbours * N``. Descriptors held as SIFT's bytes
    (:func:`~simlab.duplicates.extract_features` ``compact``) are expanded as ``kind``
    (``"rootsift"`` or ``"sift"``) a few at a time, so the pruning holds no float32
    copy of the folder's descriptors. The similarities are computed a block of rows at
    a time on ``workers`` threads.

    Returns
    -------
    list of (i, j, mirrored, similarity)
        ``i < j`` index into ``descriptor_sets``; ``mirrored`` says whether ``j`` is to
        be matched mirrored. Sorted by decreasing similarity.

    Examples
    --------
    >>> from simlab import samples
    >>> from simlab.duplicates import extract_features, mirror_descriptors
    >>> a = extract_features(samples.sample_image("camera", max_side=256))["descriptors"]
    >>> b = extract_features(samples.sample_image("coffee", max_side=256))["descriptors"]
    >>> candidate_pairs([a, mirror_descriptors(a), b], neighbours=1)[0][:3]
    (0, 1, True)
    """
    from ..bow import DescriptorPool, InvertedFile, mirrored_words, train_vocabulary
    from ..parallel import one_blas_thread, parallel_map

    count = len(descriptor_sets)
    # Fewer than two images with keypoints (flat panels): nothing to learn words from.
    if sum(len(d) > 0 for d in descriptor_sets) < 2:
        return []
    with one_blas_thread():
        pool = DescriptorPool(descriptor_sets, kind)
        vocabulary = train_vocabulary(pool, words=WORDS, branches=BRANCHES, seed=seed,
                                      sample=SAMPLE, mirror_closed=True,
                                      iterations=ITERATIONS)
        inverted = InvertedFile.build(pool.assign(vocabulary), vocabulary.words,
                                      mirror=mirrored_words(vocabulary))
    rows, mirrored_rows = inverted.rows, inverted.mirrored_rows()
    keep = min(neighbours, 2 * (count - 1))
    # Rows at a time: a block's dense similarities (rows x 2N float64, about four
    # arrays of it in flight per thread) stay near 64 MB each however large the folder.
    # 20,000 images: 42 s and 0.65 GB over the features on two threads, against 46 s
    # and 1.0 GB with blocks twice as large.
    block = int(np.clip(2 ** 22 // max(count, 1), 64, 512))

    def nearest(start: int) -> tuple[np.ndarray, np.ndarray]:
        # One block of rows: each row's ``keep`` best columns, and their similarities.
        stop = min(count, start + block)
        plain = (rows[start:stop] @ rows.T).toarray()
        flipped = (rows[start:stop] @ mirrored_rows.T).toarray()
        local = np.arange(stop - start)
        plain[local, local + start] = -1.0  # an image is not its own duplicate here;
        flipped[local, local + start] = -1.0  # copy-move is checked separately
        both = np.concatenate([plain, flipped], axis=1)
        # A copy: the slice alone would keep the whole block's index array alive.
        top = np.argpartition(-both, keep - 1, axis=1)[:, :keep].copy()
        return top, np.take_along_axis(both, top, axis=1)

    # Blocks on ``workers`` threads (the sparse products and the partition run without
    # the GIL: 20,000 images' pruning took 86 s on one thread), merged in block order,
    # as one thread would.
    starts = list(range(0, count, block))
    best: dict[tuple[int, int, bool], float] = {}
    for start, (top, values) in zip(starts, parallel_map(nearest, starts, workers=workers,
                                                         progress=False)):
        for offset, (columns, similarities) in enumerate(zip(top, values)):
            i = start + offset
            for column, similarity in zip(columns, similarities):
                similarity = float(similarity)
                if similarity < min_similarity:
                    continue
                j, mirrored = int(column % count), bool(column >= count)
                key = (min(i, j), max(i, j), mirrored)
                if similarity > best.get(key, -1.0):
                    best[key] = similarity
    return sorted(((i, j, m, s) for (i, j, m), s in best.items()), key=lambda t: -t[3])
