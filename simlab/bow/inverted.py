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

__all__ = ["InvertedFile", "ShardedInvertedFile"]


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
        lengths = np.array([len(w) for w in word_lists], np.int64)
        found = (np.concatenate([np.asarray(w, np.int64) for w in word_lists])
                 if len(word_lists) else np.zeros(0, np.int64))
        return cls.build_shards([(found, lengths)], words, mirror=mirror)[0]

    @staticmethod
    def counts(values: np.ndarray, lengths: np.ndarray, words: int):
        """Word counts per image (sparse rows) of words end to end (``values``) and
        how many belong to each image (``lengths``)."""
        from scipy import sparse

        count = len(lengths)
        owners = np.repeat(np.arange(count), lengths)
        counts = sparse.csr_matrix((np.ones(len(values), np.float32),
                                    (owners, np.asarray(values, np.int64))),
                                   shape=(count, words))
        counts.sum_duplicates()
        return counts

    @classmethod
    def build_shards(cls, shards: Sequence[tuple[np.ndarray, np.ndarray]], words: int, *,
                     mirror: np.ndarray | None = None) -> list["InvertedFile"]:
        """One inverted file per shard ``(values, lengths)``, weighted by the idf of
        all of them: each shard is searched on its own, and its cosines are those the
        images would have in one inverted file of every shard (so merging the shards'
        shortlists gives the unsharded ranking)."""
        from scipy import sparse

        counted = [cls.counts(values, lengths, words) for values, lengths in shards]
        frequency = np.zeros(words, np.float64)
        documents = 0
        for counts in counted:
            frequency += np.bincount(counts.indices, minlength=words)
            documents += counts.shape[0]
        if mirror is not None:
            frequency = frequency + frequency[mirror]
            documents = 2 * documents
        idf = np.log((documents + 1.0) / (frequency + 1.0)).astype(np.float32)
        built = []
        for counts in counted:
            weighted = counts.copy()
            weighted.data = np.sqrt(weighted.data) * idf[weighted.indices]
            norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
            norms[norms == 0] = 1.0
            built.append(cls((sparse.diags(1.0 / norms) @ weighted).tocsr(), idf, mirror))
        return built

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


class ShardedInvertedFile:
    """Inverted files of several shards (one idf), searched one by one, merged.

    :meth:`cosines` asks each shard for its images' cosines and puts them end to end:
    the best ``k`` of that are the merge of each shard's best ``k``, and equal to one
    inverted file's over every image (:meth:`InvertedFile.build_shards`).

    Examples
    --------
    >>> shards = InvertedFile.build_shards([(np.array([0, 1, 1]), np.array([3])),
    ...                                     (np.array([2, 3]), np.array([2]))], words=4)
    >>> [round(float(c), 2) for c in ShardedInvertedFile(shards).cosines(np.array([1, 0]))]
    [0.99, 0.0]
    """

    def __init__(self, shards: Sequence[InvertedFile]):
        self.shards = list(shards)
        self.idf = self.shards[0].idf if self.shards else np.zeros(0, np.float32)

    def __len__(self) -> int:
        return sum(len(shard) for shard in self.shards)

    def cosines(self, words: np.ndarray) -> np.ndarray:
        """Cosine of a query's bag of words with every image of every shard."""
        if not self.shards:
            return np.zeros(0, np.float32)
        return np.concatenate([shard.cosines(words) for shard in self.shards])

    @property
    def rows(self):
        """Every shard's rows stacked (scipy.sparse.csr_matrix)."""
        from scipy import sparse

        return sparse.vstack([shard.rows for shard in self.shards]).tocsr()
