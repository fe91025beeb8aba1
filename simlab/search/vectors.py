"""Dense-vector search: faiss inner-product indexes over unit rows.

The ``histogram`` and ``vgg16`` index methods search their vectors with faiss-cpu:
exactly (``IndexFlatIP``) below :data:`IVF_FROM` rows, and past it by an inverted file
of :func:`ivf_lists` k-means cells of which :data:`IVF_PROBES` are scanned
(``IndexIVFFlat``), which touches a fraction of the rows. Measured on the 100,000
colour histograms of ``simlab bench scale`` (512-d, 100 queries, one thread): the exact
scan 14.5 ms a query (numpy's product and partial sort: 13.3 ms), the inverted file
1.05 ms, its top 10 as close to numpy's as the exact scan's (95.8 % of the images, the
rest near-ties); 8, 16 and 32 cells gave 0.29-0.59 ms and kept 92.7-95.6 %. Training
the cells takes about 6 s at the first search.

``bow-verify``'s fallback (ordinal thumbnail and colour histogram) stays a numpy scan:
its rank fusion needs every image's rank in each list, and fusing only each list's best
1,000 (what a faiss search gives) changed the order of unconfirmed images in 92 of 100
top-10 lists at 10,000 images, for no speed: at 100,000 images the exact faiss scan
made a query slower (p50 134-138 ms against 121-126 ms) and the inverted file saved 5 %.

faiss is imported when the first index is made: ``import simlab`` and the folder jobs
never load it. Results come best first, equal scores by row number; which of several
rows tied at the cut are kept is faiss's choice.

Examples
--------
>>> rows = np.array([[1, 0], [0.6, 0.8], [0, 1]], np.float32)
>>> rows_found, scores = nearest(vector_index(rows), rows[[2]], 2)
>>> rows_found.tolist(), scores.astype(float).round(2).tolist()
([[2, 1]], [[1.0, 0.8]])
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["vector_index", "nearest", "ivf_lists", "IVF_FROM", "IVF_PROBES"]

#: Rows from which an inverted file replaces the exact scan: there the scan takes about
#: 7 ms a query for 512-d vectors, and training the cells a few seconds.
IVF_FROM = 50_000
#: Cells scanned per query of an inverted file (see the module docstring).
IVF_PROBES = 64


def ivf_lists(rows: int) -> int:
    """Cells of an inverted file over ``rows`` rows: about ``4 sqrt(rows)``, faiss's
    rule of thumb, so a probe's cell holds about ``sqrt(rows) / 4`` rows.

    Examples
    --------
    >>> ivf_lists(100_000)
    1264
    """
    return max(1, int(4 * math.sqrt(max(1, int(rows)))))


def vector_index(rows: np.ndarray, *, ivf_from: int | None = None,
                 probes: int | None = None, seed: int = 0):
    """A faiss inner-product index holding ``rows`` (``(N, D)``, unit length).

    Exact below ``ivf_from`` rows (default :data:`IVF_FROM`); else an ``IndexIVFFlat``
    trained on (a sample of) the rows themselves, scanning ``probes`` cells per query
    (default :data:`IVF_PROBES`).
    """
    import faiss

    ivf_from = IVF_FROM if ivf_from is None else ivf_from
    probes = IVF_PROBES if probes is None else probes

    rows = np.ascontiguousarray(rows, np.float32)
    count, width = rows.shape
    if count < int(ivf_from):
        index = faiss.IndexFlatIP(width)
    else:
        lists = ivf_lists(count)
        quantizer = faiss.IndexFlatIP(width)
        index = faiss.IndexIVFFlat(quantizer, width, lists, faiss.METRIC_INNER_PRODUCT)
        # 40 rows per cell is what faiss asks of a k-means; more only slows training.
        sample = np.random.default_rng(seed).choice(count, min(count, 40 * lists),
                                                    replace=False)
        index.cp.seed = int(seed)
        index.train(rows[np.sort(sample)])
        index.nprobe = int(probes)
    index.add(rows)
    return index


def nearest(index, queries: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Each query row's ``count`` best rows of ``index`` and their inner products.

    Returns ``(rows, scores)``, both ``(len(queries), k)`` with ``k = min(count,
    index.ntotal)``, best first and ties by row number; an inverted file that finds
    fewer rows than asked pads with row -1 and score -inf.
    """
    queries = np.ascontiguousarray(np.atleast_2d(queries), np.float32)
    count = max(0, min(int(count), int(index.ntotal)))
    if count == 0:
        return np.zeros((len(queries), 0), np.int64), np.zeros((len(queries), 0), np.float32)
    scores, rows = index.search(queries, count)
    scores = np.where(rows < 0, -np.inf, scores).astype(np.float32)
    for q in range(len(queries)):  # faiss leaves the order of equal scores open
        order = np.lexsort((np.where(rows[q] < 0, np.iinfo(np.int64).max, rows[q]),
                            -scores[q]))
        rows[q], scores[q] = rows[q][order], scores[q][order]
    return rows.astype(np.int64), scores
