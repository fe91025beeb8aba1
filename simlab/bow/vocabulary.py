"""Visual vocabularies: k-means words for bags of visual words.

A bag of visual words replaces each local descriptor by the nearest of ``k`` centres
(its *word*), so an image becomes a sparse histogram that an inverted file searches in
milliseconds. Retrieval needs a *fine* vocabulary (tens of thousands of words, Philbin
et al. 2007): with the 800 words of the naive program from a well-known forum question, unrelated patches share words
and every image looks a bit like every other one.

A flat k-means with 20,000 centres is slow to learn and to assign (every descriptor is
compared with every centre). A two-level *vocabulary tree* (Nistér & Stewénius 2006)
does the same job cheaply: ``top`` centres split the descriptor space into cells, and
each cell is split again into ``branches`` centres, learnt from the cell's members
only. A descriptor is compared with ``top + branches`` centres instead of
``top * branches``. ``branches=1`` gives a flat vocabulary (that naive baseline's).

A vocabulary can be *closed under mirroring* (``mirror_closed=True``): the words come
in pairs, each the mirror image of its twin, so the words of a mirrored image are a
fixed permutation of the original's (:func:`mirrored_words`) and mirrored copies are
found without assigning anything twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import InvalidParameterError
from ..parallel import one_blas_thread

__all__ = ["Vocabulary", "train_vocabulary", "DescriptorPool", "mirrored_words",
           "nearest_centre", "lloyd"]


def nearest_centre(descriptors: np.ndarray, centres: np.ndarray, *,
                   chunk: int = 8192) -> np.ndarray:
    """Index of the nearest centre (Euclidean) of each descriptor.

    ``argmin |d - c|^2 = argmax (d.c - |c|^2 / 2)``: one BLAS product per chunk, which
    releases the GIL, so two threads assign on two cores.

    Examples
    --------
    >>> centres = np.array([[0.0, 0.0], [10.0, 10.0]], np.float32)
    >>> nearest_centre(np.array([[1.0, 2.0], [9.0, 7.0]], np.float32), centres).tolist()
    [0, 1]
    """
    descriptors = np.asarray(descriptors, np.float32)
    half_norms = 0.5 * np.einsum("ij,ij->i", centres, centres)
    out = np.empty(len(descriptors), np.int64)
    for start in range(0, len(descriptors), chunk):
        block = descriptors[start:start + chunk] @ centres.T
        block -= half_norms
        out[start:start + chunk] = block.argmax(axis=1)
    return out


@dataclass(frozen=True)
class Vocabulary:
    """A two-level vocabulary tree: ``top`` cells of ``branches`` words each.

    Attributes
    ----------
    top : ndarray, shape (cells, D)
        Centres of the first level.
    sub : ndarray, shape (cells, branches, D)
        Centres of the second level, per cell. Cells that had fewer members than
        ``branches`` repeat their last centre; the nearest search keeps the first of
        equal centres, so a repeated one is never chosen.
    trained_on : int
        How many descriptors the vocabulary was learnt from.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> vocabulary = train_vocabulary(rng.random((2000, 8), np.float32), words=64, seed=0)
    >>> vocabulary.words, vocabulary.assign(rng.random((3, 8), np.float32)).shape
    (64, (3,))
    """

    top: np.ndarray
    sub: np.ndarray
    trained_on: int = 0

    @property
    def words(self) -> int:
        """Number of visual words (``cells * branches``)."""
        return int(self.sub.shape[0] * self.sub.shape[1])

    def assign(self, descriptors: np.ndarray) -> np.ndarray:
        """The word (``cell * branches + branch``) of each descriptor, as int64."""
        descriptors = np.asarray(descriptors, np.float32)
        words = np.empty(len(descriptors), np.int64)
        if len(descriptors) == 0:
            return words
        cells = nearest_centre(descriptors, self.top)
        branches = self.sub.shape[1]
        if branches == 1:
            return cells
        order = np.argsort(cells, kind="stable")
        bounds = np.searchsorted(cells[order], np.arange(len(self.top) + 1))
        for cell in range(len(self.top)):
            members = order[bounds[cell]:bounds[cell + 1]]
            if len(members):
                words[members] = cell * branches + nearest_centre(descriptors[members],
                                                                  self.sub[cell])
        return words

    def to_arrays(self, prefix: str = "vocabulary_") -> dict[str, np.ndarray]:
        """Plain arrays for ``np.savez`` (no pickling needed to load them)."""
        return {f"{prefix}top": self.top, f"{prefix}sub": self.sub,
                f"{prefix}trained_on": np.array(self.trained_on, np.int64)}

    @classmethod
    def from_arrays(cls, arrays, prefix: str = "vocabulary_") -> "Vocabulary":
        """Inverse of :meth:`to_arrays`."""
        return cls(np.asarray(arrays[f"{prefix}top"], np.float32),
                   np.asarray(arrays[f"{prefix}sub"], np.float32),
                   int(arrays[f"{prefix}trained_on"]))


def _kmeans(points: np.ndarray, count: int, seed: int, *, iterations: int) -> np.ndarray:
    """The first level's (or a flat vocabulary's) centres: :func:`lloyd` from random
    members.

    scikit-learn's ``MiniBatchKMeans`` did this before. Importing scikit-learn alone
    took 1.6-2.7 s here, more than a 20-page paper's whole verification, and on 65,000
    RootSIFT descriptors of the search benchmark into 143 cells its fit took 2.0 s
    (import included) against Lloyd's 0.26 s for 5 steps, which also fits closer (mean
    squared distance to the centre 0.1877 against 0.1889).
    """
    return lloyd(points, count, np.random.default_rng(seed), iterations=iterations)


def lloyd(points: np.ndarray, count: int, rng: np.random.Generator,
          iterations: int) -> np.ndarray:
    """Plain Lloyd k-means from ``count`` random members; returns the centres.

    Both levels of a vocabulary tree use it: each step is one BLAS product per chunk
    (:func:`nearest_centre`) and one sparse sum, and a second-level cell is small
    (hundreds to a few thousand descriptors), where a library call costs more in
    overhead than the arithmetic. Run it inside :func:`one_blas_thread` when called
    many times.

    Examples
    --------
    >>> points = np.array([[0, 0], [0, 1], [10, 10], [10, 11]], np.float32)
    >>> centres = lloyd(points, 2, np.random.default_rng(0), iterations=3)
    >>> sorted(centres.tolist())
    [[0.0, 0.5], [10.0, 10.5]]
    """
    from scipy import sparse

    count = max(1, min(count, len(points)))
    centres = points[rng.choice(len(points), count, replace=False)].copy()
    for _ in range(iterations):
        labels = nearest_centre(points, centres)
        # Sum each cluster's members with one sparse product (np.add.at is slow).
        membership = sparse.csr_matrix(
            (np.ones(len(points), np.float32), (labels, np.arange(len(points)))),
            shape=(count, len(points)))
        counts = np.bincount(labels, minlength=count)
        filled = counts > 0
        centres[filled] = (membership @ points)[filled] / counts[filled, None]
    return centres


#: Descriptors assigned to words at a time: the float32 copy stays about 100 MB.
_ASSIGNED_AT_ONCE = 200_000


class DescriptorPool:
    """Many images' descriptors seen as one ``(N, 128)`` pool, never concatenated.

    Rows are gathered (and expanded from SIFT's bytes, see
    :func:`simlab.local.extract.matched_descriptors`) only when indexed, so
    :func:`train_vocabulary`'s sample of 100,000 rows costs 51 MB however large the
    folder, and :meth:`assign` converts a few hundred thousand rows at a time. The
    duplicate finder's pruning uses it: a concatenated float32 pool of 20,000 images
    took 2.8 GB, and twice that while it was converted. ``kind`` (``"rootsift"`` or
    ``"sift"``) says how bytes are expanded; float descriptors are taken as they are.

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


def train_vocabulary(descriptors: np.ndarray, *, words: int = 20_480, branches: int | None = None,
                     seed: int = 0, sample: int = 120_000, min_per_word: int = 4,
                     iterations: int = 5, mirror_closed: bool = False) -> Vocabulary:
    """Learn a vocabulary of (about) ``words`` words by k-means.

    The first level (and a flat vocabulary) is ``iterations`` Lloyd steps from random
    descriptors; each cell's second level is a few Lloyd steps on the cell's members.

    Parameters
    ----------
    descriptors : ndarray, shape (N, D)
        Training descriptors (RootSIFT, SIFT...); or any object with ``len()`` whose
        rows an integer array indexes (``pool[rows]``, a float32 array of them), such
        as :class:`DescriptorPool`: only the sample is then ever held.
    words : int
        Wanted number of words. Fewer are made when there are fewer than
        ``min_per_word * words`` descriptors (a word learnt from one descriptor is noise).
    branches : int, optional
        Words per first-level cell; default ``round(sqrt(words))`` (a balanced tree).
        ``branches=1`` learns a flat vocabulary (one k-means of ``words`` centres).
    seed : int
        Random seed of the sampling and of k-means.
    sample : int
        Learn from at most this many randomly chosen descriptors.
    min_per_word : int
        Smallest number of training descriptors per word.
    iterations : int
        Lloyd steps of the first level (the second level runs at most 5).
    mirror_closed : bool
        SIFT-layout descriptors only: cell ``cells/2 + i`` is the mirror of cell ``i``
        (its centre and its words mirrored), learnt from the descriptors and their
        mirrors, so :func:`mirrored_words` maps each word to its mirror's.

    Returns
    -------
    Vocabulary

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> train_vocabulary(rng.random((500, 4), np.float32), words=1000).words <= 125
    True
    """
    # A pool (not an array or a list) is sampled before anything is gathered from it.
    pooled = not isinstance(descriptors, (np.ndarray, list, tuple)) and hasattr(
        descriptors, "__getitem__") and hasattr(descriptors, "__len__")
    if not pooled:
        descriptors = np.asarray(descriptors, np.float32)
    elif len(descriptors) <= sample:
        descriptors = np.asarray(descriptors[np.arange(len(descriptors))], np.float32)
    if (not pooled and descriptors.ndim != 2) or len(descriptors) == 0:
        raise InvalidParameterError(
            f"a vocabulary needs descriptors of shape (N, D) with N > 0, got "
            f"{np.shape(descriptors)}; index images that have keypoints (not flat images)")
    if words < 1:
        raise InvalidParameterError(f"words must be at least 1, got {words}")
    rng = np.random.default_rng(seed)
    if len(descriptors) > sample:
        descriptors = np.asarray(
            descriptors[rng.choice(len(descriptors), sample, replace=False)], np.float32)
    # Mirror closure trains on the descriptors and their mirrors: twice the members.
    copies = 2 if mirror_closed else 1
    words = max(1, min(int(words), copies * len(descriptors) // max(1, min_per_word)))
    if branches is None:
        branches = max(1, round(words ** 0.5))
    branches = max(1, min(int(branches), words))
    cells = max(1, words // branches // copies)
    if mirror_closed:
        from ..local.mirror import mirror_descriptors

        # At least min_per_word members per cell, so centres are averages: a lone sample
        # could coincide with the mirror of another and break the permutation.
        cells = max(1, min(cells, len(descriptors) // (min_per_word * branches) or 1))
        learnt = _kmeans(descriptors, cells, seed, iterations=iterations)
        top = np.concatenate([learnt, mirror_descriptors(learnt)])
        # Each cell learns from its own members and from the mirrors of its twin's
        # members, which is what it will receive once an image and its mirror are assigned.
        descriptors = np.concatenate([descriptors, mirror_descriptors(descriptors)])
    else:
        top = _kmeans(descriptors, cells, seed, iterations=iterations)
    cells = len(top)
    sub = np.empty((cells, branches, descriptors.shape[1]), np.float32)
    if branches == 1:
        sub[:, 0] = top
        return Vocabulary(top, sub, len(descriptors))
    labels = nearest_centre(descriptors, top)
    learnt_cells = cells // 2 if mirror_closed else cells
    with one_blas_thread():  # hundreds of small products (see one_blas_thread)
        for cell in range(learnt_cells):
            members = descriptors[labels == cell]
            if len(members) == 0:
                members = top[cell:cell + 1]
            found = lloyd(members, branches, rng, iterations=min(iterations, 5))
            # Cells with fewer members than branches repeat their last centre (never
            # chosen twice: the nearest search keeps the first), keeping it rectangular.
            padding = np.repeat(found[-1:], branches - len(found), axis=0)
            sub[cell] = np.concatenate([found, padding])
            if mirror_closed:
                sub[cell + learnt_cells] = mirror_descriptors(sub[cell])
    return Vocabulary(top, sub, len(descriptors))


def mirrored_words(vocabulary: Vocabulary) -> np.ndarray:
    """Word -> the word of its mirror image, for a ``mirror_closed`` vocabulary.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> v = train_vocabulary(rng.random((4000, 128), np.float32), words=64,
    ...                      mirror_closed=True)
    >>> from simlab.local import mirror_descriptors
    >>> d = rng.random((50, 128), np.float32)
    >>> bool((mirrored_words(v)[v.assign(d)] == v.assign(mirror_descriptors(d))).mean() > 0.9)
    True
    """
    cells, branches = vocabulary.sub.shape[:2]
    twin = (np.arange(cells) + cells // 2) % cells
    return (twin[:, None] * branches + np.arange(branches)[None, :]).ravel()
