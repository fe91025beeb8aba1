"""tf-idf rows and the inverted file: a collection's bags of visual words, searchable.

Words frequent in the collection weigh little (idf); each word lists the images that
contain it, so a query touches only the images sharing its words (a sparse product),
never every histogram. Term frequency is the square root of the count: a repeated
pattern (a brick wall, burstiness) should not drown many distinct shared words. Rows
are L2-normalised, so their dot products are cosines, which degrade gracefully when a
crop keeps only a subset of the words. Search (:mod:`simlab.search`) asks it for one
query's cosines; pair pruning (:mod:`simlab.duplicates`) multiplies its rows.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["InvertedFile"]


class InvertedFile:
    """L2-normalised tf-idf rows of a collection, one per image.

    Build with :meth:`build`. With ``mirror`` (a word permutation, from
    :func:`simlab.bow.vocabulary.mirrored_words`), document frequencies count both
    orientations, so a mirrored row is exactly the permuted row.

    Attributes
    ----------
    rows : scipy.sparse.csr_matrix, shape (images, words)
    idf : ndarray, shape (words,)
    mirror : ndarray or None

    Examples
    --------
    >>> inverted = InvertedFile.build([np.array([0, 1, 1]), np.array([2, 3])], words=4)
    >>> [round(float(c), 2) for c in inverted.cosines(np.array([1, 0]))]
    [0.99, 0.0]
    """

    def __init__(self, rows, idf: np.ndarray, mirror: np.ndarray | None = None):
        self.rows = rows
        self.idf = idf
        self.mirror = mirror
        self._columns = None

    @classmethod
    def build(cls, word_lists: Sequence[np.ndarray], words: int, *,
              mirror: np.ndarray | None = None) -> "InvertedFile":
        """tf-idf rows of each image's words (integer ids below ``words``)."""
        from scipy import sparse

        count = len(word_lists)
        owners = np.repeat(np.arange(count), [len(w) for w in word_lists])
        found = (np.concatenate([np.asarray(w, np.int64) for w in word_lists]) if count
                 else np.zeros(0, np.int64))
        counts = sparse.csr_matrix((np.ones(len(found), np.float32), (owners, found)),
                                   shape=(count, words))
        counts.sum_duplicates()
        frequency = np.bincount(counts.indices, minlength=words).astype(np.float64)
        documents = count
        if mirror is not None:
            frequency = frequency + frequency[mirror]
            documents = 2 * count
        idf = np.log((documents + 1.0) / (frequency + 1.0)).astype(np.float32)
        weighted = counts.copy()
        weighted.data = np.sqrt(weighted.data) * idf[weighted.indices]
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return cls((sparse.diags(1.0 / norms) @ weighted).tocsr(), idf, mirror)

    def __len__(self) -> int:
        return self.rows.shape[0]

    def query_weights(self, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The query's words and their normalised tf-idf weights (same weighting)."""
        unique, counts = np.unique(np.asarray(words, np.int64), return_counts=True)
        weights = np.sqrt(counts).astype(np.float32) * self.idf[unique]
        norm = float(np.linalg.norm(weights))
        return unique, (weights / norm if norm else weights)

    def cosines(self, words: np.ndarray) -> np.ndarray:
        """Cosine of a query's bag of words with every row (0 for no shared word)."""
        count = len(self)
        if len(words) == 0 or count == 0:
            return np.zeros(count, np.float32)
        unique, weights = self.query_weights(words)
        if not weights.any():
            return np.zeros(count, np.float32)
        if self._columns is None:  # the inverted file proper: word -> images
            self._columns = self.rows.tocsc()
        return np.asarray(self._columns[:, unique] @ weights).ravel()

    def mirrored_rows(self):
        """Rows of the mirrored images (needs ``mirror``)."""
        return self.rows[:, self.mirror]
