"""Pair pruning: which pairs of a folder are worth verifying, from bags of visual words.

Each image becomes a tf-idf bag of words over a vocabulary learnt from the folder and
closed under mirroring (:mod:`simlab.bow`); only each image's few most similar images
(normal or mirrored) go on to geometric verification, so the expensive step grows with
N, not N².
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["candidate_pairs", "DescriptorPool"]

#: Vocabulary of the pruning: 128 learnt cells of 128 words each, and their mirrors,
#: from 100,000 descriptors in 4 k-means steps per level. A rough vocabulary suffices to
#: rank candidates (the verifier decides), and its training is the pruning's main cost.
WORDS, BRANCHES, SAMPLE, ITERATIONS = 2 * 128 * 128, 128, 100_000, 4
#: Descriptors assigned to words at a time: the float32 copy stays about 100 MB.
_ASSIGNED_AT_ONCE = 200_000


class DescriptorPool:
    """Many images' descriptors seen as one ``(N, 128)`` pool, never concatenated.

    Rows are gathered (and expanded from SIFT's bytes, see
    :func:`simlab.local.extract.matched_descriptors`) only when indexed, so a
    vocabulary's sample of 100,000 rows costs 51 MB however large the folder; a
    concatenated float32 pool of 20,000 images took 2.8 GB, and twice that while it
    was converted.

    Examples
    --------
    >>> sets = [np.array([[1, 3]], np.uint8), np.zeros((0, 2), np.uint8),
    ...         np.array([[4, 0], [0, 9]], np.uint8)]
    >>> pool = DescriptorPool(sets, "sift")
    >>> len(pool), pool[np.array([2, 0])].tolist()
    (3, [[0.0, 9.0], [1.0, 3.0]])
    """

    def __init__(self, descriptor_sets: Sequence[np.ndarray], kind: str = "rootsift"):
        self.sets, self.kind = descriptor_sets, kind
        self.bounds = np.cumsum([0] + [len(d) for d in descriptor_sets])

    def __len__(self) -> int:
        return int(self.bounds[-1])

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        from ..local.extract import matched_descriptors

        rows = np.asarray(rows, np.int64)
        owners = np.searchsorted(self.bounds, rows, side="right") - 1
        width = self.sets[int(owners[0])].shape[1] if len(rows) else 128
        out = np.empty((len(rows), width), np.float32)
        for owner in np.unique(owners):
            mine = np.flatnonzero(owners == owner)
            held = self.sets[owner][rows[mine] - self.bounds[owner]]
            out[mine] = matched_descriptors(held, self.kind)
        return out

    def assign(self, vocabulary) -> list[np.ndarray]:
        """Each set's words, assigned a few hundred thousand rows at a time."""
        from ..local.extract import matched_descriptors

        words: list[np.ndarray] = []
        start = 0
        while start < len(self.sets):
            stop, rows = start, 0
            while stop < len(self.sets) and (rows == 0 or rows + len(self.sets[stop])
                                             <= _ASSIGNED_AT_ONCE):
                rows += len(self.sets[stop])
                stop += 1
            chunk = [matched_descriptors(np.asarray(d), self.kind)
                     for d in self.sets[start:stop]]
            found = vocabulary.assign(np.concatenate(chunk).astype(np.float32, copy=False)
                                      if rows else np.zeros((0, 128), np.float32))
            words.extend(np.split(found, np.cumsum([len(d) for d in chunk])[:-1]))
            start = stop
        return words


def candidate_pairs(descriptor_sets: Sequence[np.ndarray], *, neighbours: int = 6,
                    min_similarity: float = 0.02, seed: int = 0, kind: str = "rootsift"
                    ) -> list[tuple[int, int, bool, float]]:
    """Pairs worth verifying: each image's most similar others, plain or mirrored.

    Each image keeps its ``neighbours`` highest tf-idf cosine similarities among the
    ``2 (N - 1)`` candidates (every other image as is, and mirrored), so the number of
    pairs verified is at most ``neighbours * N``. Descriptors held as SIFT's bytes
    (:func:`~simlab.duplicates.extract_features` ``compact``) are expanded as ``kind``
    (``"rootsift"`` or ``"sift"``) a few at a time, so the pruning holds no float32
    copy of the folder's descriptors.

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
    from ..bow import InvertedFile, mirrored_words, train_vocabulary
    from ..parallel import one_blas_thread

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
    best: dict[tuple[int, int, bool], float] = {}
    block = 512  # rows at a time: the dense similarity block stays small for large N
    for start in range(0, count, block):
        stop = min(count, start + block)
        plain = (rows[start:stop] @ rows.T).toarray()
        flipped = (rows[start:stop] @ mirrored_rows.T).toarray()
        local = np.arange(stop - start)
        plain[local, local + start] = -1.0  # an image is not its own duplicate here;
        flipped[local, local + start] = -1.0  # copy-move is checked separately
        both = np.concatenate([plain, flipped], axis=1)
        top = np.argpartition(-both, keep - 1, axis=1)[:, :keep]
        for offset, columns in enumerate(top):
            i = start + offset
            for column in columns:
                similarity = float(both[offset, column])
                if similarity < min_similarity:
                    continue
                j, mirrored = int(column % count), bool(column >= count)
                key = (min(i, j), max(i, j), mirrored)
                if similarity > best.get(key, -1.0):
                    best[key] = similarity
    return sorted(((i, j, m, s) for (i, j, m), s in best.items()), key=lambda t: -t[3])
