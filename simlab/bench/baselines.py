"""Baselines the benchmarks measure simlab against, written as their sources wrote them.

* :func:`blog_pair_loop`: the all-pairs loop of the blog post that started simlab (SIFT
  on both images of every pair, ratio test, one match picture per pair);
* the naive SIFT bag of words from a well-known forum question is an index method a
  user can pick (``simlab index --method naive-bow``), so it lives with the other
  methods in :mod:`simlab.search.backends`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

__all__ = ["blog_pair_loop"]


def blog_pair_loop(pairs: Sequence[tuple[str, str]], out: str | os.PathLike) -> list[float]:
    """Run the blog post's per-pair loop on ``pairs``; return the seconds each pair took.

    Per pair, as in the post: read both images, SIFT ``detectAndCompute`` on both
    (no keypoint cap), ``BFMatcher().knnMatch(k=2)``, Lowe's ratio 0.75, ``drawMatches``
    of every ratio-test match and ``imwrite``. Two guards the post lacks keep it running
    on images without keypoints (it would crash); they cost nothing measurable.
    """
    import cv2

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seconds = []
    for first, second in pairs:
        start = time.perf_counter()
        img1, img2 = cv2.imread(first), cv2.imread(second)
        gray1 = cv2.cvtColor(img1, cv2.COLOR_BGR2GRAY)
        gray2 = cv2.cvtColor(img2, cv2.COLOR_BGR2GRAY)
        sift = cv2.SIFT_create()
        kp1, des1 = sift.detectAndCompute(gray1, None)
        kp2, des2 = sift.detectAndCompute(gray2, None)
        good = []
        if des1 is not None and des2 is not None:
            matches = cv2.BFMatcher().knnMatch(des1, des2, k=2)
            good = [m for m, *rest in matches if rest and m.distance < 0.75 * rest[0].distance]
        result = cv2.drawMatches(img1, kp1, img2, kp2, good, None)
        cv2.imwrite(str(out / f"{Path(first).stem}_{Path(second).name}"), result)
        seconds.append(time.perf_counter() - start)
    return seconds
