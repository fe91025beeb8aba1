"""The one verifier: which correspondences one geometric transform explains.

Every job that matches local features asks the same question of its correspondences
(ratio-test matches, same-word pairs, self-matches): does one transform explain enough
of them, and is that more than chance? :func:`verify` answers it the same way for all:

1. **RANSAC** fits the model (``similarity``: rotation, uniform scale, translation, the
   fewest chance inliers; ``affine``; ``homography``; ``none`` keeps every match).
2. **The chance guard.** A true match turns and grows its keypoints as the fitted
   transform does locally (measured: 90 % within 4 degrees and 10 %); a chance match
   between look-alike patches of a repetitive texture does not. Inliers whose
   orientation or size disagree are dropped (features without orientations skip it).
3. **Distinct inliers.** SIFT puts several keypoints (one per dominant orientation) at
   one place; inliers count *places*, on the side with fewer, so a few blobs cannot add
   up to many inliers. Correspondences are counted the same way, and their ratio
   (``inlier_ratio``) says how much of the evidence the transform explains.

Jobs then decide with :meth:`Verification.confirmed` (``min_inliers``,
``min_inlier_ratio``) and report :attr:`Verification.transform` (rotation, scale,
mirroring) and :func:`overlap` (which part of each image the other covers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping, Sequence

import numpy as np

from .significance import log_nfa

__all__ = ["verify", "fit_model", "distinct", "describe_transform", "to_original",
           "overlap", "guard_window", "guard_windows", "Verification", "MODELS"]

#: Transforms :func:`verify` fits ("none" keeps every correspondence).
MODELS = ("homography", "similarity", "affine", "none")
_MIN_POINTS = {"homography": 4, "similarity": 2, "affine": 3, "none": 1}


def fit_model(points_a: np.ndarray, points_b: np.ndarray, *, model: str = "similarity",
              threshold: float = 4.0, confidence: float = 0.995
              ) -> tuple[np.ndarray, np.ndarray | None]:
    """RANSAC (OpenCV): the inlier mask and the 3x3 transform mapping a to b, or None.

    Examples
    --------
    >>> a = np.random.default_rng(1).uniform(0, 100, (20, 2)).astype(np.float32)
    >>> mask, matrix = fit_model(a, a + 5)
    >>> int(mask.sum()), matrix[:2, 2].round(3).tolist()
    (20, [5.0, 5.0])
    """
    import cv2

    count = len(points_a)
    if model == "none":
        return np.ones(count, bool), None
    if count < _MIN_POINTS[model]:
        return np.zeros(count, bool), None
    src = np.asarray(points_a, np.float32).reshape(-1, 1, 2)
    dst = np.asarray(points_b, np.float32).reshape(-1, 1, 2)
    if model == "homography":
        matrix, mask = cv2.findHomography(src, dst, cv2.RANSAC, threshold, maxIters=2000,
                                          confidence=confidence)
    elif model == "similarity":
        matrix, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC,
                                                   ransacReprojThreshold=threshold,
                                                   maxIters=2000, confidence=confidence)
    else:
        matrix, mask = cv2.estimateAffine2D(src, dst, method=cv2.RANSAC,
                                            ransacReprojThreshold=threshold,
                                            maxIters=2000, confidence=confidence)
    if matrix is None or mask is None or not np.isfinite(matrix).all():
        return np.zeros(count, bool), None
    full = np.eye(3)
    full[:matrix.shape[0]] = matrix
    return mask.ravel().astype(bool), full


def distinct(points: np.ndarray) -> int:
    """How many places (to the nearest pixel) ``points`` occupy.

    Examples
    --------
    >>> distinct(np.array([[10.2, 5.0], [9.9, 5.1], [40.0, 2.0]]))
    2
    """
    points = np.asarray(points)
    if not len(points):
        return 0
    # One integer key per rounded place: a 1-D unique is many times faster than rows.
    rounded = np.round(points.astype(np.float64)).astype(np.int64)
    return len(np.unique((rounded[:, 0] << 32) + (rounded[:, 1] & 0xFFFFFFFF)))


def _local_linear(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The transform's 2x2 Jacobian at each point (constant unless a homography)."""
    points = np.asarray(points, np.float64)
    if np.allclose(matrix[2, :2], 0.0):
        return np.broadcast_to(matrix[:2, :2] / matrix[2, 2], (len(points), 2, 2))
    w = points @ matrix[2, :2] + matrix[2, 2]
    w = np.where(np.abs(w) < 1e-12, np.nan, w)  # on the horizon line: no local transform
    mapped = (points @ matrix[:2, :2].T + matrix[:2, 2]) / w[:, None]
    jacobian = matrix[None, :2, :2] - mapped[:, :, None] * matrix[None, 2, None, :2]
    return jacobian / w[:, None, None]


def _consistent(matrix: np.ndarray, a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray],
                pairs: np.ndarray, *, max_angle: float, max_size_ratio: float) -> np.ndarray:
    """Which correspondences turn and grow their keypoints as ``matrix`` does locally.

    Features without orientations (NaN angles or sizes) pass: NaN never exceeds a
    tolerance. Where the transform has no finite local form (a degenerate homography),
    nothing passes.
    """
    angles_a, angles_b = a["angles"][pairs[:, 0]], b["angles"][pairs[:, 1]]
    sizes_a, sizes_b = a["sizes"][pairs[:, 0]], b["sizes"][pairs[:, 1]]
    (m00, m01, m02), (m10, m11, m12), (m20, m21, m22) = matrix.tolist()
    tolerance = 1e-6 * (abs(m00) + abs(m10))
    if m20 == 0 and m21 == 0 and abs(m00 - m11) <= tolerance and abs(m01 + m10) <= tolerance:
        # A similarity (what search and pairs fit): orientations turn by its angle, sizes
        # grow by its scale. A few operations on small arrays: this runs for every
        # candidate a search verifies.
        rotation = math.degrees(math.atan2(m10, m00))
        scale = math.hypot(m00, m10) / abs(m22)
        turn = (angles_b - angles_a - rotation + 180.0) % 360.0 - 180.0
        with np.errstate(divide="ignore", invalid="ignore"):
            growth = sizes_b / (sizes_a * scale)
    else:
        # Any other transform, mirrored and sheared ones too: its Jacobian at each point
        # applied to a's orientation (orientations turn backwards under a mirror).
        local = _local_linear(matrix, np.asarray(a["points"])[pairs[:, 0]])
        theta = np.radians(angles_a)
        direction = np.einsum("nij,nj->ni", local,
                              np.stack([np.cos(theta), np.sin(theta)], 1))
        predicted = np.degrees(np.arctan2(direction[:, 1], direction[:, 0]))
        turn = (angles_b - predicted + 180.0) % 360.0 - 180.0
        with np.errstate(divide="ignore", invalid="ignore"):
            growth = sizes_b / (sizes_a * np.sqrt(np.abs(
                local[:, 0, 0] * local[:, 1, 1] - local[:, 0, 1] * local[:, 1, 0])))
        degenerate = ~np.isfinite(local).all(axis=(1, 2))
        turn[degenerate] = np.inf
    return ~(np.abs(turn) > max_angle) & ~(growth > max_size_ratio) \
        & ~(growth * max_size_ratio < 1.0)


def guard_window(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray],
                 pairs: np.ndarray, *, needed: int = 0, max_angle: float = 20.0,
                 max_size_ratio: float = 1.5) -> tuple[int, np.ndarray]:
    """At most how many of ``pairs`` the chance guard can keep, whatever the similarity,
    and which pairs lie where ``needed`` of them could be kept.

    A similarity turns every keypoint by its angle and grows it by its scale, and the
    guard keeps only correspondences within ``max_angle`` and ``max_size_ratio`` of
    that: all inside one window of (turn, log growth) 2 x ``max_angle`` by 2 x
    ``log(max_size_ratio)`` wide. Histogram bins half that size, summed 3 by 3, cover
    every such window, so the largest sum bounds the inliers (counted per
    correspondence, above the distinct places :func:`verify` counts). A search skips
    RANSAC for candidates whose bound is below what it needs, and lets RANSAC sample
    only from the bins of windows holding at least ``needed`` (``verify(...,
    fit_subset=...)``). Features without orientations: ``len(pairs)`` and every pair.

    Examples
    --------
    >>> a = {"angles": np.zeros(40, np.float32), "sizes": np.ones(40, np.float32)}
    >>> b = {"angles": np.arange(40) * 9.0, "sizes": np.ones(40, np.float32)}
    >>> pairs = np.stack([np.arange(40)] * 2, 1)
    >>> guard_window(a, b, pairs, needed=8)[0]     # turns spread round: 7 at most
    7
    >>> b["angles"][:10] = 90.0                    # ten turn by 90 degrees
    >>> bound, window = guard_window(a, b, pairs, needed=8)
    >>> bound, int(window.sum()), bool(window[:10].all())
    (16, 16, True)
    """
    return guard_windows([a], [b], [pairs], needed=needed, max_angle=max_angle,
                         max_size_ratio=max_size_ratio)[0]


def guard_windows(a: Sequence[Mapping[str, np.ndarray]], b: Sequence[Mapping[str, np.ndarray]],
                  pairs: Sequence[np.ndarray], *, needed: int = 0, max_angle: float = 20.0,
                  max_size_ratio: float = 1.5) -> list[tuple[int, np.ndarray]]:
    """:func:`guard_window` of each ``(a[g], b[g], pairs[g])``, in one vectorised pass
    (a search screens its whole shortlist at once).

    Examples
    --------
    >>> a = {"angles": np.zeros(40, np.float32), "sizes": np.ones(40, np.float32)}
    >>> b = {"angles": np.arange(40) * 9.0, "sizes": np.ones(40, np.float32)}
    >>> pairs = np.stack([np.arange(40)] * 2, 1)
    >>> [bound for bound, _ in guard_windows([a, a], [b, a], [pairs, pairs], needed=8)]
    [7, 40]
    """
    pairs = [np.asarray(p, np.int64).reshape(-1, 2) for p in pairs]
    found: list = [(len(p), np.ones(len(p), bool)) for p in pairs]  # no orientations
    keys = ("angles", "sizes")
    groups = [g for g, p in enumerate(pairs)
              if len(p) and all(k in f for f in (a[g], b[g]) for k in keys)]
    if not groups:
        return found
    lengths = np.array([len(pairs[g]) for g in groups], np.int64)
    owner = np.repeat(np.arange(len(groups)), lengths)
    # Every group's features end to end, and its pairs shifted to match.
    joined = {}
    for side, features, column in (("a", a, 0), ("b", b, 1)):
        sizes = np.array([len(features[g]["angles"]) for g in groups], np.int64)
        shift = np.cumsum(sizes) - sizes
        index = np.concatenate([pairs[g][:, column] for g in groups]) + shift[owner]
        for key in keys:
            joined[side, key] = np.concatenate(
                [np.asarray(features[g][key], np.float64) for g in groups])[index]
    turn = (joined["b", "angles"] - joined["a", "angles"]) % 360.0
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.log(joined["b", "sizes"] / joined["a", "sizes"])
    starts = np.cumsum(lengths) - lengths
    finite = np.logical_and.reduceat(np.isfinite(turn) & np.isfinite(growth), starts)
    if not finite.all():  # a group with a non-finite orientation or size: no guard
        keep = finite[owner]
        groups = [g for g, ok in zip(groups, finite) if ok]
        if not groups:
            return found
        lengths, turn, growth = lengths[finite], turn[keep], growth[keep]
        owner = np.repeat(np.arange(len(groups)), lengths)
        starts = np.cumsum(lengths) - lengths
    turns = max(3, int(np.ceil(360.0 / max_angle)))
    turn_bin = np.minimum((turn * (turns / 360.0)).astype(np.int64), turns - 1)
    growth_bin = np.floor(growth * (1.0 / math.log(max_size_ratio))).astype(np.int64)
    growth_bin -= np.minimum.reduceat(growth_bin, starts)[owner] - 1  # empty row above
    rows = int(growth_bin.max()) + 2  # and below (more below for the shorter groups)
    width = turns + 2
    # Columns padded by one on each side with the wrapped-round turns: plain slices
    # then give the 3 x 3 sums.
    cells = (owner * rows + growth_bin) * width + turn_bin + 1
    counts = np.bincount(cells, minlength=len(groups) * rows * width) \
        .reshape(len(groups), rows, width)
    counts[:, :, 0], counts[:, :, -1] = counts[:, :, -2], counts[:, :, 1]
    around = counts[:, :, :-2] + counts[:, :, 1:-1] + counts[:, :, 2:]
    # Centred on rows 1 .. rows-2. A group's extra empty rows below add windows that
    # never beat the one above them, so bounds and subsets are those of one group.
    window = around[:, :-2] + around[:, 1:-1] + around[:, 2:]
    bounds = window.max(axis=(1, 2))
    enough = np.zeros((len(groups), rows, width), bool)
    enough[:, 1:-1, 1:-1] = window >= max(int(needed), 1)
    enough[:, :, 0], enough[:, :, -1] = enough[:, :, -2], enough[:, :, 1]
    # Every bin of a window with enough: the window centres dilated by one bin.
    columns = enough[:, :, :-2] | enough[:, :, 1:-1] | enough[:, :, 2:]
    near = columns.copy()
    near[:, 1:] |= columns[:, :-1]
    near[:, :-1] |= columns[:, 1:]
    subsets = np.split(near[owner, growth_bin, turn_bin], np.cumsum(lengths)[:-1])
    for g, bound, subset in zip(groups, bounds.tolist(), subsets):
        found[g] = (bound, subset if bound >= int(needed) else np.zeros(len(subset), bool))
    return found


def describe_transform(matrix: np.ndarray) -> dict[str, Any]:
    """Rotation, scale and mirroring of a 2-D transform (2x3 or 3x3, a -> b).

    Angles are in image coordinates (y down): positive is clockwise on screen, so
    ``samples.rotate(image, 90)``, counter-clockwise, reads -90. A mirrored transform is
    read as "mirror a left-right, then rotate and scale".

    Examples
    --------
    >>> describe_transform(np.array([[0, 1, 0], [-1, 0, 99]], float))   # np.rot90
    {'rotation_degrees': -90.0, 'scale': 1.0, 'mirrored': False}
    >>> describe_transform(np.array([[-2, 0, 99], [0, 2, 0]], float))   # mirror, x2
    {'rotation_degrees': 0.0, 'scale': 2.0, 'mirrored': True}
    """
    matrix = np.asarray(matrix, np.float64)
    linear = matrix[:2, :2] / (matrix[2, 2] if matrix.shape[0] == 3 else 1.0)
    mirrored = bool(np.linalg.det(linear) < 0)
    if mirrored:
        linear = linear @ np.diag([-1.0, 1.0])  # undo the left-right mirror first
    rotation = math.degrees(math.atan2(linear[1, 0], linear[0, 0]))
    rotation = -((-round(rotation, 2) + 180.0) % 360.0 - 180.0)  # in (-180, 180]
    return {"rotation_degrees": round(rotation + 0.0, 2),
            "scale": round(math.sqrt(abs(float(np.linalg.det(linear)))), 4),
            "mirrored": mirrored}


def to_original(matrix: np.ndarray, scale_a: float, scale_b: float) -> np.ndarray:
    """A transform between extracted pixels, in the pixels of the two files.

    ``scale_*`` is how much each image was shrunk before extraction.

    Examples
    --------
    >>> to_original(np.eye(3), 0.5, 0.25)[:2, :2].tolist()
    [[2.0, 0.0], [0.0, 2.0]]
    """
    shrink_a = np.diag([float(scale_a)] * 2 + [1.0])
    shrink_b = np.diag([float(scale_b)] * 2 + [1.0])
    return np.linalg.inv(shrink_b) @ np.asarray(matrix, np.float64) @ shrink_a


def _outline(shape) -> np.ndarray:
    # Pixel centres are at integer coordinates, so the image spans -0.5 .. side - 0.5.
    bottom, right = (float(v) - 0.5 for v in shape[:2])
    return np.array([[-0.5, -0.5], [right, -0.5], [right, bottom], [-0.5, bottom]],
                    np.float32)


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def overlap(matrix: np.ndarray, shape_a, shape_b):
    """Fractions of a and of b that the other covers once aligned, and the two regions.

    Returns ``(fraction_a, fraction_b, region_a, region_b)``; the regions are polygons
    in a's and b's pixels.

    Examples
    --------
    >>> half = np.diag([1.0, 1.0, 1.0]); half[0, 2] = 50      # shifted by half a width
    >>> overlap(half, (100, 100), (100, 100))[:2]
    (0.5, 0.5)
    """
    import cv2

    warped = _apply(matrix, _outline(shape_a)).astype(np.float32)
    area, region_b = cv2.intersectConvexConvex(warped, _outline(shape_b))
    if region_b is None or area <= 0:
        empty = np.zeros((0, 2), np.float32)
        return 0.0, 0.0, empty, empty
    region_b = region_b.reshape(-1, 2).astype(np.float32)
    region_a = _apply(np.linalg.inv(matrix), region_b).astype(np.float32)
    area_a = area / abs(np.linalg.det(matrix[:2, :2]))
    fraction = lambda value, shape: round(min(1.0, float(value) / float(shape[0] * shape[1])), 4)
    return fraction(area_a, shape_a), fraction(area, shape_b), region_a, region_b


def _area(features: Mapping[str, np.ndarray]) -> float:
    """b's area in pixels: its image shape, or the span of its keypoints."""
    if "shape" in features:
        height, width = (float(v) for v in np.asarray(features["shape"]).ravel()[:2])
        return max(height * width, 1.0)
    points = np.asarray(features["points"], np.float64).reshape(-1, 2)
    if not len(points):
        return 1.0
    span = points.max(0) - points.min(0) + 1.0
    return float(max(span[0] * span[1], 1.0))


@dataclass(frozen=True)
class Verification:
    """What :func:`verify` found.

    Attributes
    ----------
    pairs : ndarray, shape (M, 2)
        The correspondences tried (index in a, index in b).
    mask : ndarray of bool, shape (M,)
        Which of them the transform explains and the chance guard kept.
    matrix : ndarray or None
        3x3 transform mapping a's points to b's (in the frames given), None when none
        was fitted.
    inliers : int
        Distinct inlier places (see the module documentation).
    model : str
    reason : str or None
        Why nothing was verified, when nothing was.
    points_a, points_b : ndarray, shape (M, 2)
        Where the correspondences are in a and in b.
    threshold : float
        The reprojection error allowed, in b's pixels.
    area_b : float
        Area of b in pixels (its ``shape``; the span of its points when not given).
    max_angle : float or None
        The chance guard's orientation tolerance, None when orientations were not checked.
    """

    pairs: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)
    matrix: np.ndarray | None = field(repr=False)
    inliers: int
    model: str
    reason: str | None = None
    points_a: np.ndarray | None = field(default=None, repr=False, compare=False)
    points_b: np.ndarray | None = field(default=None, repr=False, compare=False)
    threshold: float = field(default=4.0, repr=False, compare=False)
    area_b: float = field(default=0.0, repr=False, compare=False)
    max_angle: float | None = field(default=None, repr=False, compare=False)

    @cached_property
    def correspondences(self) -> int:
        """Distinct places among all correspondences (on the side with fewer).

        Computed when first asked: a search verifies dozens of candidates per query and
        asks it only of those with enough inliers.
        """
        if self.points_a is None or self.points_b is None:
            return len(self.pairs)
        return min(distinct(self.points_a), distinct(self.points_b))

    @property
    def inlier_ratio(self) -> float:
        """Distinct inliers per distinct correspondence, in [0, 1]."""
        return round(min(1.0, self.inliers / max(1, self.correspondences)), 4)

    @property
    def transform(self) -> dict[str, Any]:
        """:func:`describe_transform` of the fitted matrix ({} when none)."""
        return describe_transform(self.matrix) if self.matrix is not None else {}

    def log_nfa(self, tests: float = 1) -> float:
        """log10 of the a-contrario number of false alarms among ``tests`` comparisons.

        See :mod:`simlab.local.significance`; ``inf`` when nothing was verified.
        """
        if self.matrix is None or self.model == "none":
            return math.inf
        return log_nfa(inliers=self.inliers, correspondences=self.correspondences,
                       threshold=self.threshold, area=self.area_b, model=self.model,
                       max_angle=self.max_angle, tests=tests)

    def confirmed(self, *, min_inliers: int, min_inlier_ratio: float = 0.0) -> bool:
        """Enough distinct inliers, explaining enough of the correspondences."""
        return (self.matrix is not None or self.model == "none") and \
            self.inliers >= int(min_inliers) and self.inlier_ratio >= float(min_inlier_ratio)


def verify(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], pairs: np.ndarray, *,
           model: str = "similarity", threshold: float = 4.0, confidence: float = 0.995,
           check_orientation: bool = True, max_angle: float = 20.0,
           max_size_ratio: float = 1.5, min_correspondences: int = 0,
           fit_subset: np.ndarray | None = None) -> Verification:
    """Fit one transform to the correspondences ``pairs`` between a and b, and guard it.

    Parameters
    ----------
    a, b : mapping
        Features with ``points`` (and ``angles`` and ``sizes`` for the chance guard),
        e.g. from :func:`simlab.local.extract_local`.
    pairs : ndarray, shape (M, 2)
        Correspondences, from :mod:`simlab.local.correspond`.
    model : {"similarity", "affine", "homography", "none"}
        The transform RANSAC fits.
    threshold : float
        Largest reprojection error of an inlier, in b's pixels.
    confidence : float
        RANSAC's required probability of having drawn one all-inlier sample.
    check_orientation : bool
        Apply the chance guard (keypoint orientation and size agree with the transform).
    max_angle, max_size_ratio : float
        The guard's tolerances.
    min_correspondences : int
        Do not run RANSAC on fewer correspondences (nothing could be confirmed).
    fit_subset : ndarray of bool, optional
        Which correspondences RANSAC samples from (e.g. :func:`guard_window`'s); the
        inliers are then every correspondence the fitted transform explains, and
        ``correspondences`` still counts them all.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> points = rng.uniform(0, 300, (60, 2)).astype(np.float32)
    >>> a, b = {"points": points}, {"points": points * 0.5 + 20}
    >>> found = verify(a, b, np.stack([np.arange(60)] * 2, 1))
    >>> found.inliers, found.inlier_ratio, found.transform["scale"]
    (60, 1.0, 0.5)
    """
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    empty = np.zeros(len(pairs), bool)
    points_a = np.asarray(a["points"], np.float32)[pairs[:, 0]]
    points_b = np.asarray(b["points"], np.float32)[pairs[:, 1]]
    where = {"points_a": points_a, "points_b": points_b, "threshold": float(threshold),
             "area_b": _area(b)}
    needed = max(_MIN_POINTS[model], int(min_correspondences))
    if len(pairs) < needed:
        reason = (f"{len(pairs)} correspondences, too few for a {model} to be verified"
                  if len(pairs) else "no correspondences")
        return Verification(pairs, empty, None, 0, model, reason, **where)
    if fit_subset is not None and model not in ("none", "homography"):
        subset = np.asarray(fit_subset, bool)
        matrix = fit_model(points_a[subset], points_b[subset], model=model,
                           threshold=threshold, confidence=confidence)[1]
        mask = empty if matrix is None else \
            np.linalg.norm(_apply(matrix, points_a) - points_b, axis=1) <= threshold
    else:
        mask, matrix = fit_model(points_a, points_b, model=model, threshold=threshold,
                                 confidence=confidence)
    if model == "none":
        every = min(distinct(points_a), distinct(points_b))
        return Verification(pairs, mask, None, every, model, **where)
    if matrix is None:
        return Verification(pairs, empty, None, 0, model,
                            f"RANSAC found no {model} explaining {len(pairs)} "
                            "correspondences", **where)
    fitted = mask  # RANSAC's inliers, before the guard
    if check_orientation and "angles" in a and "angles" in b and "sizes" in a \
            and "sizes" in b:
        if np.isfinite(a["angles"][pairs[mask, 0]]).all() and \
                np.isfinite(b["angles"][pairs[mask, 1]]).all():
            where["max_angle"] = float(max_angle)  # every inlier's orientation checked
        kept = np.flatnonzero(mask)  # only RANSAC's inliers need checking
        mask = mask.copy()
        mask[kept] = _consistent(matrix, a, b, pairs[kept], max_angle=max_angle,
                                 max_size_ratio=max_size_ratio)
    inliers = min(distinct(points_a[mask]), distinct(points_b[mask]))
    if inliers < 2:  # nothing the transform explains survives
        reason = (f"RANSAC's {model} explains fewer than 2 places"
                  if min(distinct(points_a[fitted]), distinct(points_b[fitted])) < 2 else
                  "no correspondence agrees with the transform's rotation and scale")
        return Verification(pairs, empty, None, 0, model, reason, **where)
    return Verification(pairs, mask, matrix, inliers, model, **where)
