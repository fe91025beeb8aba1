"""How surprising a verified match is: the a-contrario number of false alarms (NFA).

A match is evidence only if chance could not have produced it. The a-contrario answer
(Desolneux, Moisan & Morel, *From Gestalt Theory to Image Analysis*, 2008; Moisan &
Stival's ORSA for RANSAC, 2004) counts how many matches at least this good one should
expect by chance among all the comparisons made. Below 1, fewer than one such match is
expected; simlab reports its base-10 logarithm (``-6`` means one in a million).

The null hypothesis (nothing in common): a correspondence's point in b falls anywhere in
b, and its keypoint orientation is any angle, independently of the transform. The chance
that one correspondence is an inlier of a given transform is then

    p = (pi * threshold**2 / area_b) * (2 * max_angle / 360)

(the orientation factor only where the chance guard checked orientations). A transform is
fixed by ``s`` correspondences (2 for a similarity, 3 affine, 4 homography), so ``k``
inliers among ``n`` correspondences arise by chance with probability at most
``C(n, k) C(k, s) p**(k - s)``; ORSA's ``(n - s)`` pays for having chosen ``k``, and the
number of tests (image pairs compared, images searched) for having looked everywhere:

    NFA = tests * (n - s) * C(n, k) * C(k, s) * p**(k - s)

``n`` and ``k`` are *distinct* places (see :mod:`~simlab.local.verification`), so one blob
described several times does not count several times.

What the null does not model: look-alike structure that is really there (periodic
textures, symmetric designs, an image against itself). Those give real, non-chance
geometric agreement, and a job must rule them out before trusting a small NFA; a
calibrated probability measured on labelled pairs is the other half of a verdict.

Examples
--------
>>> round(log_nfa(inliers=8, correspondences=30, threshold=4.0, area=512 * 512,
...               model="similarity", max_angle=20.0), 1)
-18.4
>>> log_nfa(inliers=8, correspondences=30, threshold=4.0, area=512 * 512,
...         model="similarity", max_angle=20.0, tests=10**6) < 0
True
>>> log_nfa(inliers=0, correspondences=30, threshold=4.0, area=512 * 512)
inf
"""

from __future__ import annotations

import math

__all__ = ["log_nfa", "log_nfa_region", "inlier_chance", "MINIMAL_SAMPLE", "MATCH_LOG_NFA"]

#: Correspondences that fix each model (RANSAC's minimal sample).
MINIMAL_SAMPLE = {"similarity": 2, "affine": 3, "homography": 4, "none": 1}

#: The default bound on ``log_nfa`` for calling two *different* images the same source
#: (a flagged pair, a search match, ``simlab compare``'s verdict). It sits well below 0
#: because the null is loose for look-alike structure: blob and cell fields, textures and
#: logos give a few inliers that chance "should" not. Measured on the planted benchmarks
#: (4 planted folders of 340 images, 12 pairs of generated papers), every flagged pair
#: with log10 NFA above -25 was unrelated (9 of 9, between -9.0 and -1.4, with 4-7
#: inliers) and every true one lay below -25; on reverse-search queries whose source is
#: not indexed, matches fell from 2.0 % at 0 to 0 at -15 (0.7 % at -10).
MATCH_LOG_NFA = -10.0


def _log10_binomial(n: int, k: int) -> float:
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / math.log(10)


def inlier_chance(*, threshold: float, area: float,
                  max_angle: float | None = None) -> float:
    """The chance that an unrelated correspondence is an inlier of a given transform.

    Examples
    --------
    >>> round(inlier_chance(threshold=4.0, area=100 * 100), 4)
    0.005
    >>> round(inlier_chance(threshold=4.0, area=100 * 100, max_angle=18.0), 5)
    0.0005
    """
    place = min(1.0, math.pi * float(threshold) ** 2 / max(float(area), 1.0))
    turn = 1.0 if max_angle is None else min(1.0, 2.0 * float(max_angle) / 360.0)
    return place * turn


def log_nfa(*, inliers: int, correspondences: int, threshold: float, area: float,
            model: str = "similarity", max_angle: float | None = None,
            tests: float = 1) -> float:
    """log10 of the number of false alarms of ``inliers`` among ``correspondences``.

    Parameters
    ----------
    inliers, correspondences : int
        Distinct inlier places and distinct correspondence places.
    threshold : float
        The verifier's largest reprojection error, in pixels of the image of area ``area``.
    area : float
        Area in pixels of the image the inliers were measured in (b's).
    model : str
        The fitted model (its minimal sample size enters the count).
    max_angle : float or None
        The chance guard's orientation tolerance in degrees, None when orientations were
        not checked.
    tests : float
        How many comparisons were made (image pairs, images searched); at least 1.

    Returns
    -------
    float
        ``log10(NFA)``; ``inf`` when there are too few inliers to say anything.
    """
    sample = MINIMAL_SAMPLE.get(model, 2)
    k, n = int(inliers), max(int(correspondences), int(inliers))
    if k <= sample:
        return math.inf
    chance = inlier_chance(threshold=threshold, area=area, max_angle=max_angle)
    value = (math.log10(max(float(tests), 1.0)) + math.log10(max(n - sample, 1))
             + _log10_binomial(n, k) + _log10_binomial(k, sample)
             + (k - sample) * math.log10(chance))
    return round(value, 3)


def log_nfa_region(*, blocks: int, cells: int, chance: float, tests: float = 1,
                   neighbours: int = 8) -> float:
    """log10 of the number of false alarms of one *connected* region of matched blocks.

    :func:`log_nfa` counts ``k`` inliers chosen anywhere among ``n`` (``C(n, k)`` ways),
    which is right for scattered keypoints but pays far too much for a dense match,
    whose ``k`` blocks form one connected region: a grid of ``cells`` blocks holds at
    most ``cells * (e (d - 1))**(k - 1)`` connected sets of ``k`` blocks, each cell
    having ``d`` neighbours (the bound on connected subgraphs through a vertex of a
    graph of degree ``d``; Bollobas, *The Art of Mathematics*, 2006, problem 45). Under
    the null each block's best match lies anywhere: the first block of the region
    fixes the transform and each other one agrees with it with probability
    ``chance``. The region's size is chosen too (at most ``cells`` sizes), so

        NFA = tests * cells * cells * (e (d - 1))**(k - 1) * chance**(k - 1)

    Parameters
    ----------
    blocks : int
        Non-overlapping blocks in the matched region (``k``).
    cells : int
        Blocks the image holds (the grid's size).
    chance : float
        The chance that one block matches at the region's transform
        (:func:`inlier_chance`).
    tests : float
        Comparisons made (images searched times transforms tried); at least 1.
    neighbours : int
        Neighbours of a cell on the grid (8: regions connected through corners too).

    Returns
    -------
    float
        ``log10(NFA)``; ``inf`` for fewer than 2 blocks.

    Examples
    --------
    >>> chance = inlier_chance(threshold=1.0, area=384 * 384)
    >>> round(log_nfa_region(blocks=6, cells=576, chance=chance, tests=1000), 1)
    -8.4
    >>> log_nfa_region(blocks=6, cells=576, chance=chance) < log_nfa(
    ...     inliers=6, correspondences=576, threshold=1.0, area=384 * 384, model="none")
    True
    """
    k, n = int(blocks), max(int(cells), int(blocks), 1)
    if k < 2:
        return math.inf
    growth = math.e * max(int(neighbours) - 1, 1)
    value = (math.log10(max(float(tests), 1.0)) + 2.0 * math.log10(n)
             + (k - 1) * (math.log10(growth) + math.log10(max(float(chance), 1e-300))))
    return round(value, 3)
