"""Correspondences: which keypoints of two images (or of one) may show the same patch.

Four sources, for four jobs: Lowe's ratio test and mutual nearest neighbours on
descriptors (``compare``, ``pairs``), the same visual word (``search``, which stores
words instead of descriptors) and an image against itself (copy-move). Each returns an
``(M, 2)`` int array of index pairs for :func:`simlab.local.verification`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["ratio_matches", "mutual_matches", "word_correspondences",
           "word_correspondences_batch", "self_matches"]


def _norm(descriptors: np.ndarray) -> int:
    import cv2

    # Binary descriptors (AKAZE) need the Hamming distance: L2 on them runs silently
    # with the wrong metric.
    return cv2.NORM_HAMMING if descriptors.dtype == np.uint8 else cv2.NORM_L2


def _as_pairs(matches) -> np.ndarray:
    matches = sorted(matches, key=lambda m: m.distance)
    return np.array([(m.queryIdx, m.trainIdx) for m in matches], np.int64).reshape(-1, 2)


def ratio_matches(descriptors_a: np.ndarray, descriptors_b: np.ndarray, *,
                  ratio: float = 0.75) -> np.ndarray:
    """Nearest neighbours a -> b that pass Lowe's ratio test, ordered by distance.

    A match is kept when its distance is below ``ratio`` times the second-nearest
    one (a lone candidate always passes).

    Examples
    --------
    >>> d = np.eye(4, dtype=np.float32)
    >>> ratio_matches(d, d[::-1]).tolist()
    [[0, 3], [1, 2], [2, 1], [3, 0]]
    """
    import cv2

    if len(descriptors_a) == 0 or len(descriptors_b) == 0:
        return np.zeros((0, 2), np.int64)
    if descriptors_a.dtype != np.uint8 and descriptors_b.dtype != np.uint8:
        return _ratio_matches_l2(np.asarray(descriptors_a, np.float32),
                                 np.asarray(descriptors_b, np.float32), ratio)
    matcher = cv2.BFMatcher(_norm(descriptors_a))
    kept = [pair[0] for pair in matcher.knnMatch(descriptors_a, descriptors_b, k=2)
            if len(pair) == 1 or (len(pair) == 2 and
                                  pair[0].distance < ratio * pair[1].distance)]
    return _as_pairs(kept)


def _ratio_matches_l2(descriptors_a: np.ndarray, descriptors_b: np.ndarray, ratio: float,
                      *, rows: int = 2048) -> np.ndarray:
    """:func:`ratio_matches` for float descriptors, as OpenCV's brute force finds them.

    The two nearest neighbours are found from one matrix product (``|a - b|^2 = |a|^2 +
    |b|^2 - 2 a.b``) and two passes of argmax, which on two cores took a fifth of the
    time of ``BFMatcher.knnMatch`` (1,000 x 1,000 RootSIFT: 7 ms against 39 ms); the two
    distances are then computed directly, as the brute force does, so the ratio test
    and the order see the same values (only neighbours tied to within rounding may
    differ, and the ratio test rejects those anyway).
    """
    if len(descriptors_b) == 1:  # a lone candidate always passes
        distance = np.sqrt(((descriptors_a - descriptors_b[0]) ** 2).sum(axis=1))
        order = np.argsort(distance, kind="stable")
        return np.stack([order, np.zeros_like(order)], axis=1).astype(np.int64)
    squared_b = np.einsum("ij,ij->i", descriptors_b, descriptors_b)
    first = np.empty(len(descriptors_a), np.int64)
    second = np.empty(len(descriptors_a), np.int64)
    for start in range(0, len(descriptors_a), rows):  # bounded memory for large sets
        block = descriptors_a[start:start + rows]
        # Minimising |b|^2 - 2 a.b is minimising the distance (|a|^2 is one per row).
        score = squared_b[None, :] - 2.0 * (block @ descriptors_b.T)
        local = np.arange(len(block))
        best = np.argmin(score, axis=1)
        score[local, best] = np.inf
        first[start:start + rows] = best
        second[start:start + rows] = np.argmin(score, axis=1)
    nearest = np.sqrt(((descriptors_a - descriptors_b[first]) ** 2).sum(axis=1))
    runner_up = np.sqrt(((descriptors_a - descriptors_b[second]) ** 2).sum(axis=1))
    if np.any(runner_up < nearest):  # rounding swapped a near tie: order them exactly
        swap = runner_up < nearest
        first[swap], second[swap] = second[swap], first[swap]
        nearest, runner_up = np.minimum(nearest, runner_up), np.maximum(nearest, runner_up)
    kept = np.flatnonzero(nearest < ratio * runner_up)
    order = kept[np.argsort(nearest[kept], kind="stable")]
    return np.stack([order, first[order]], axis=1).astype(np.int64).reshape(-1, 2)


def mutual_matches(descriptors_a: np.ndarray, descriptors_b: np.ndarray) -> np.ndarray:
    """Pairs that are each other's nearest neighbour (cross-check), by distance.

    Examples
    --------
    >>> d = np.eye(3, dtype=np.float32)
    >>> mutual_matches(d, d).tolist()
    [[0, 0], [1, 1], [2, 2]]
    """
    import cv2

    if len(descriptors_a) == 0 or len(descriptors_b) == 0:
        return np.zeros((0, 2), np.int64)
    matcher = cv2.BFMatcher(_norm(descriptors_a), crossCheck=True)
    return _as_pairs(matcher.match(descriptors_a, descriptors_b))


def word_correspondences(words_a: np.ndarray, words_b: np.ndarray, *,
                         max_per_word: int = 3) -> np.ndarray:
    """Every pair of keypoints that share a visual word (Philbin et al. 2007).

    Words occurring more than ``max_per_word`` times in ``b`` are skipped: they are
    repeated texture, not evidence. Pairs are ordered by ``a``'s keypoint, then by
    ``b``'s.

    Examples
    --------
    >>> word_correspondences(np.array([5, 7, 9]), np.array([9, 5, 5, 1])).tolist()
    [[0, 1], [0, 2], [2, 0]]
    """
    return word_correspondences_batch([words_a], [words_b], max_per_word=max_per_word)[0]


#: :func:`word_correspondences_batch` looks b's words up in a table of every (a array,
#: word) key while there are at most this many (4 query sides x 20,480 words: 82k).
_TABLE_KEYS = 1 << 22


def _distinct(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Which distinct array (by identity) each of ``arrays`` is, and those arrays as
    int64, in order of first appearance."""
    position: dict[int, int] = {}
    distinct = []
    for array in arrays:
        if id(array) not in position:
            position[id(array)] = len(distinct)
            distinct.append(np.asarray(array, np.int64))
    return np.array([position[id(array)] for array in arrays], np.int64), distinct


def word_correspondences_batch(words_a: Sequence[np.ndarray], words_b: Sequence[np.ndarray],
                               *, max_per_word: int = 3) -> list[np.ndarray]:
    """:func:`word_correspondences` of each pair ``(words_a[g], words_b[g])``, in one
    vectorised pass (a search screens its whole shortlist at once).

    Examples
    --------
    >>> found = word_correspondences_batch([np.array([5, 7]), np.array([1])],
    ...                                    [np.array([7, 5, 5]), np.array([1, 1])])
    >>> [pairs.tolist() for pairs in found]
    [[[0, 1], [0, 2], [1, 0]], [[0, 0], [0, 1]]]
    """
    groups = len(words_a)
    if not groups or not sum(len(w) for w in words_a) or not sum(len(w) for w in words_b):
        return [np.zeros((0, 2), np.int64) for _ in range(groups)]
    # A search pairs a few query sides with each of its candidates: each distinct array
    # (by identity) is converted, sorted or counted once, not once per pair of them.
    a_of, a_list = _distinct(words_a)
    b_of, b_list = _distinct(words_b)
    span = int(max(max((int(w.max()) for w in a_list if len(w)), default=0),
                   max((int(w.max()) for w in b_list if len(w)), default=0))) + 1
    # Every distinct a array sorted, end to end under one key (array, word): the b
    # words are then looked up in this small array (a few thousand keys), not b's
    # keys sorted for every group (150k for a search's shortlist, 14 ms a query).
    a_order, a_keys, a_start = [], [], np.zeros(len(a_list), np.int64)
    offset = 0
    for position, words in enumerate(a_list):
        order = np.argsort(words, kind="stable")
        a_order.append(order + offset)
        a_keys.append(words[order] + position * span)
        a_start[position] = offset
        offset += len(words)
    a_order, a_keys = np.concatenate(a_order), np.concatenate(a_keys)
    # Words occurring more than max_per_word times in a b array are skipped there.
    kept = [np.flatnonzero(np.bincount(words, minlength=span)[words] <= max_per_word)
            for words in b_list]
    group_b = [kept[position] for position in b_of]
    lengths = np.array([len(indices) for indices in group_b], np.int64)
    index_b = np.concatenate(group_b)
    owner = np.repeat(np.arange(groups), lengths)
    b_words = np.concatenate([b_list[position][kept[position]] for position in b_of])
    keys = b_words + a_of[owner] * span
    if len(a_list) * span <= _TABLE_KEYS:
        # Where each key's run starts in a_keys, for every key: two gathers instead of
        # binary searches of unsorted keys (numpy's searchsorted is slow on those).
        first = np.searchsorted(a_keys, np.arange(len(a_list) * span + 1))
        low = first[keys]
        counts = first[keys + 1] - low
    else:
        low = np.searchsorted(a_keys, keys, "left")
        counts = np.searchsorted(a_keys, keys, "right") - low
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    index_a = a_order[np.repeat(low, counts) + within] - a_start[a_of[owner]].repeat(counts)
    index_b, owner = index_b.repeat(counts), owner.repeat(counts)
    # Ordered by group, then a's keypoint, then b's (as one sort of each group would).
    width_b = max(len(w) for w in b_list) + 1
    width_a = max(len(w) for w in a_list) + 1
    order = np.argsort((owner * width_a + index_a) * width_b + index_b, kind="stable")
    pairs = np.stack([index_a[order], index_b[order]], axis=1)
    ends = np.cumsum(np.bincount(owner, minlength=groups))
    return np.split(pairs, ends[:-1])


def self_matches(descriptors: np.ndarray, points: np.ndarray, *, ratio: float = 0.75,
                 min_offset: float = 16.0, against: np.ndarray | None = None) -> np.ndarray:
    """Unordered keypoint pairs (i < j) of one image whose descriptors match.

    For each keypoint, the nearest and second-nearest *other* descriptors are looked up
    among keypoints at least ``min_offset`` pixels away (SIFT puts several keypoints at
    one place, and a feature always resembles itself shifted by a pixel); the nearest is
    kept when it passes the ratio test.

    ``against`` (optional) are the same keypoints described otherwise, row for row:
    their mirrored descriptors (:func:`~simlab.local.mirror_descriptors`) find a region
    repeated mirrored inside the image.

    Examples
    --------
    >>> d = np.array([[1, 0], [0, 1], [1, 0.01]], np.float32)
    >>> p = np.array([[0, 0], [50, 0], [100, 0]], np.float32)
    >>> self_matches(d, p).tolist()
    [[0, 2]]
    """
    descriptors = np.asarray(descriptors, np.float32)
    if len(descriptors) < 3:
        return np.zeros((0, 2), np.int64)
    other = descriptors if against is None else np.asarray(against, np.float32)
    squared = np.einsum("ij,ij->i", descriptors, descriptors)
    squared_other = np.einsum("ij,ij->i", other, other)
    distance = squared[:, None] + squared_other[None, :] - 2.0 * (descriptors @ other.T)
    # Squared offsets against the squared bound: the same test as the distance against
    # the bound, without a square root per pair.
    points = np.asarray(points, np.float32)
    for axis in (0, 1):
        step = points[:, None, axis] - points[None, :, axis]
        near = step * step if axis == 0 else near + step * step
    distance[near < np.float32(min_offset) ** 2] = np.inf
    # The two nearest by two passes of argmin (a partition costs three times as much).
    # Where the two are tied, the ratio test below rejects the keypoint whichever is
    # called nearest, so the pairs are those a partition gives.
    rows = np.arange(len(descriptors))
    nearest = np.argmin(distance, axis=1)
    first = distance[rows, nearest]
    distance[rows, nearest] = np.inf
    second = distance.min(axis=1)
    first, second = np.sqrt(np.maximum(first, 0)), np.sqrt(np.maximum(second, 0))
    keep = np.isfinite(first) & (first < ratio * second)
    pairs = np.sort(np.stack([rows[keep], nearest[keep]], axis=1), axis=1)
    return np.unique(pairs, axis=0)
