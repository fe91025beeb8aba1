"""How well each pair method tells copies from other images: ROC AUC on labelled pairs.

Positives are a sample image and an edited copy of it (each edit of
:data:`simlab.lab.samples.TRANSFORMS` but ``identical``, at strengths 0.5 and 0.8);
negatives a sample against an edited copy of another sample. AUC is the chance that a
random positive scores above a random negative (1.0: a perfect ranking, 0.5: chance).
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

__all__ = ["labelled_pairs", "bench_methods"]

#: Methods measured by default: every classic one (VGG16 needs its weights).
METHODS = ("histogram", "ssim", "phash", "sift", "rootsift", "akaze")


def labelled_pairs(*, max_side: int = 256, negatives_per_image: int = 6, seed: int = 0
                   ) -> list[tuple[np.ndarray, np.ndarray, int, str]]:
    """``(image_a, image_b, label, kind)`` pairs: 1 for a copy, 0 for another image.

    Examples
    --------
    >>> pairs = labelled_pairs(max_side=64, negatives_per_image=1)
    >>> sum(label for _, _, label, _ in pairs) > len(pairs) // 2
    True
    """
    from ..lab import samples

    names = [n for n in samples.SAMPLE_NAMES if n != "cat"]  # "cat" is "chelsea"
    kinds = [k for k in samples.TRANSFORMS if k != "identical"]
    images = {n: samples.sample_image(n, max_side=max_side) for n in names}
    rng = np.random.default_rng(seed)
    pairs = [(image, samples.transform(image, kind, strength), 1, kind)
             for image in images.values() for kind in kinds for strength in (0.5, 0.8)]
    for name, image in images.items():
        others = [other for other in names if other != name]
        for other in rng.choice(others, negatives_per_image, replace=False):
            kind = kinds[int(rng.integers(len(kinds)))]
            pairs.append((image, samples.transform(images[other], kind, 0.5), 0, "other"))
    return pairs


def bench_methods(methods: Sequence[str] | None = None, *, max_side: int = 256,
                  progress: bool = True):
    """ROC AUC, positives, negatives and seconds per method on :func:`labelled_pairs`.

    Returns
    -------
    pandas.DataFrame
        One row per method: ``method``, ``auc``, ``pairs``, ``positives``, ``seconds``.
    """
    import pandas as pd
    from sklearn.metrics import roc_auc_score
    from tqdm.auto import tqdm

    from ..comparison import compare, resolve_methods

    chosen = resolve_methods(list(methods) if methods else list(METHODS))
    pairs = labelled_pairs(max_side=max_side)
    labels = np.array([label for _, _, label, _ in pairs])
    rows = []
    for method in tqdm(chosen, desc="methods", disable=not progress):
        started = time.perf_counter()
        scores = [compare(a, b, method).score for a, b, _, _ in pairs]
        rows.append({"method": method, "auc": round(float(roc_auc_score(labels, scores)), 4),
                     "pairs": len(pairs), "positives": int(labels.sum()),
                     "seconds": round(time.perf_counter() - started, 2)})
    return pd.DataFrame(rows)
