"""Copy-move: a region repeated inside one image, found two ways.

* **Keypoints.** Each keypoint's nearest *other* descriptor away from its own position
  (:func:`simlab.local.self_matches`), verified by the engine in both directions
  (:func:`simlab.local.verify`): finds copies that were scaled or turned by any angle.
* **Dense.** A region of some 60-80 px described by SIFT's large keypoints also
  describes its surroundings, so those descriptors differ between the two copies; a
  whitened image correlated with itself (and with itself turned by 90 and 180 degrees)
  shows a copied region as a sharp peak at its shift, and a pixel comparison at that
  shift finds the region (:func:`dense_copy_move`).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

from ..errors import SimlabError
from ..registry import Features
from ..results import PairMatch
from .matching import evidence_score, no_match

__all__ = ["find_copy_move", "dense_copy_move", "rule_out_patterns", "pixel_agreement",
           "region_pixels", "FEWEST_INLIERS", "PIXEL_AGREEMENT"]

#: The significance flags no copy-move with fewer distinct inliers: its null places
#: chance matches uniformly, which a handful of look-alike keypoints of one image
#: defeats (three inliers of four self-matches in a photograph reach an NFA of 0.1).
FEWEST_INLIERS = 5


def find_copy_move(features: Features, *, ratio: float = 0.75, ransac_threshold: float = 4.0,
                   min_offset: float = 16.0, name: str = "a", mirrored: bool = True,
                   rule_out: bool = True, tests: float = 1,
                   pixels: Callable[[], np.ndarray] | None = None) -> PairMatch:
    """A region repeated inside one image: the image matched against itself.

    Three searches, the most significant finding that no pattern explains reported:

    * **Keypoints.** Pairs from :func:`simlab.local.self_matches` are given to RANSAC in both
      directions (which copy is the source is unknown); the similarity found maps one
      copy onto the other. This finds copies that were scaled or turned by any angle,
      but only when keypoints small enough to lie wholly inside the copied region match.
    * **Mirrored keypoints** (``mirrored``): the same, each keypoint matched against the
      mirrored descriptors of the others (:func:`simlab.local.mirror_descriptors`), for
      a region pasted mirrored.
    * **Dense** (features extracted with ``copy_move=True``): the region found by
      :func:`dense_copy_move`, for copies shifted, turned by a multiple of 90 degrees or
      mirrored. ``inliers`` counts points on an 8-px grid whose whole 16-px block is
      matched; ``inlier_ratio`` is the share of the matched region that no other shift
      explains (about 0 in a periodic pattern, where every shift by a period matches).

    Each finding carries its significance, ``log_nfa`` (:mod:`simlab.local.significance`,
    ``tests`` comparisons times the searches made), and with ``rule_out`` the patterns
    that the a-contrario null does not model are ruled out (:func:`rule_out_patterns`):
    a region that repeats at several offsets (periodic texture), a transform that maps
    the region onto itself (mirror- or rotation-symmetric design), a flat area or JPEG
    blocks. A finding so explained keeps its numbers but says why in ``ruled_out``; it
    is returned only when every finding is. With ``pixels`` (called with no argument,
    it returns the image the features were extracted from; read only when needed), a
    keypoint finding whose two regions' pixels do not agree is ruled out as a chance
    alignment (:func:`pixel_agreement`; not for half turns and mirrors, whose outlines
    may take in both copies).

    Returns
    -------
    PairMatch
        ``a == b == name``, kind ``"copy-move"``; ``region_a`` and ``region_b`` outline
        the two copies, ``overlap_*`` their areas as fractions of the image, ``reasons``
        why it was raised. Kind ``"none"`` when nothing was fitted.

    Examples
    --------
    >>> from simlab import samples
    >>> from simlab.duplicates import extract_features
    >>> image = samples.sample_image("astronaut", max_side=256).copy()
    >>> image[150:230, 150:230] = image[20:100, 30:110]          # paste a region
    >>> match = find_copy_move(extract_features(image))          # keypoints only
    >>> match.kind, match.inliers >= 10, match.rotation_degrees, match.scale
    ('copy-move', True, 0.0, 1.0)
    >>> match.log_nfa < -10, match.ruled_out
    (True, '')
    >>> cells = samples.sample_image("cell", max_side=256).copy()     # 256 x 213
    >>> cells[120:190, 20:90] = np.rot90(cells[20:90, 130:200])  # turned by 90 degrees
    >>> match = find_copy_move(extract_features(cells, copy_move=True))
    >>> match.kind, match.inliers >= 8, abs(round(match.rotation_degrees)), match.log_nfa < -5
    ('copy-move', True, 90, True)
    """
    from ..local import can_mirror, check_features

    # Once for every step below: SIFT held as bytes becomes the descriptors matched.
    features = check_features(features, job="copy-move", label=name)
    searches = [False] + ([True] if mirrored and can_mirror(features) else [])
    dense = "copy_move_points_a" in features
    # Every search is a comparison: the significance pays for all of them.
    tests = max(float(tests), 1.0) * (len(searches) + (_DENSE_ORIENTATIONS if dense else 0))
    found = [_keypoint_copy_move(features, ratio, ransac_threshold, min_offset, name,
                                 mirrored=flip, tests=tests) for flip in searches]
    found.append(_dense_match(features, name, tests))
    found = [match for match in found if match.kind != "none"]
    if not found:
        return no_match(name, name, 0)
    if rule_out:
        found = [rule_out_patterns(match, features, min_offset=min_offset,
                                   dense=match.reasons[0].startswith(_DENSE_REASON))
                 for match in found]
        if pixels is not None:
            found = _pixels_checked(found, features, pixels)
    alarms = [match for match in found if not match.ruled_out] or found
    # A finding with fewer distinct inliers than the gate flags (FEWEST_INLIERS) must
    # not hide a flaggable one of another search: a dense region of 4 grid points at
    # a smaller NFA hid a keypoint copy of 5 inliers.
    return min(alarms, key=lambda m: (m.inliers < FEWEST_INLIERS, m.log_nfa, -m.score))


#: A keypoint copy-move whose two regions correlate less than this at the transform
#: found (zero-mean normalised cross-correlation of their grey pixels) is ruled out as a
#: chance alignment of keypoints. Measured on the integrity benchmark (sets 0 and 2):
#: its 185 planted copies found by keypoints (shifted, turned, mirrored, rescaled
#: 0.7-1.4, brightness and contrast changed, re-saved as JPEG 75-93) correlate 0.91 or
#: more; its two keypoint false alarms on unedited photographs, 0.49 and 0.78.
PIXEL_AGREEMENT = 0.85


def region_pixels(image: np.ndarray, match: PairMatch, scale: float = 1.0
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """The copy's grey pixels (inside ``match.region_b``) and, for each, the source's
    pixel that the match's transform maps there; None when under 64 pixels compare.

    ``image`` is the one the features were extracted from (``scale`` times the file:
    the features' ``scale``); regions are in its pixels, the transform in the file's.
    """
    import cv2

    if match.matrix is None or len(match.region_b) < 3:
        return None
    grey = image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image[..., :3]),
                                                      cv2.COLOR_RGB2GRAY)
    grey = grey.astype(np.float32)
    height, width = grey.shape
    shrink = np.diag([float(scale), float(scale), 1.0])
    extracted = shrink @ np.asarray(match.matrix, np.float64) @ np.linalg.inv(shrink)
    # warpAffine samples the source at the inverse transform: the source mapped onto
    # the copy. Pixels that drew on the border's value came from outside the image.
    warped = cv2.warpAffine(grey, extracted[:2], (width, height), flags=cv2.INTER_LINEAR,
                            borderValue=-1000)
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(match.region_b)).astype(np.int32)], 1)
    inside = (mask > 0) & (warped > -500)
    if inside.sum() < 64:
        return None
    return grey[inside], warped[inside]


def pixel_agreement(image: np.ndarray, match: PairMatch, scale: float = 1.0
                    ) -> float | None:
    """How well the copy's pixels agree with its source's: the normalised correlation of
    the grey pixels inside ``match.region_b`` with the source mapped there by the
    match's transform (:func:`region_pixels`). None when under 64 pixels compare or one
    side is flat.

    Examples
    --------
    >>> from simlab import samples
    >>> from simlab.duplicates import extract_features
    >>> image = samples.sample_image("astronaut", max_side=256).copy()
    >>> image[150:230, 150:230] = image[20:100, 30:110]
    >>> match = find_copy_move(extract_features(image))
    >>> round(pixel_agreement(image, match), 2)
    1.0
    """
    pixels = region_pixels(image, match, scale)
    if pixels is None:
        return None
    copy, source = (values - values.mean() for values in pixels)
    norm = math.sqrt(float((copy * copy).sum()) * float((source * source).sum()))
    return float((copy * source).sum()) / norm if norm > 1e-6 else None


def _involution(match: PairMatch) -> bool:
    """A half turn or a mirror: the transform is its own inverse, so it fits either way
    round, and its inliers (and outlines) may lie in both copies."""
    return abs(abs(match.rotation_degrees) - 180.0) < 2.0 or bool(match.mirrored)


def _pixels_checked(found: list[PairMatch], features: Features,
                    pixels: Callable[[], np.ndarray]) -> list[PairMatch]:
    """``found`` with each keypoint finding that could alarm, other than a half turn or
    a mirror, checked against the pixels (:data:`PIXEL_AGREEMENT`); the image is read
    once, and only when needed."""
    import dataclasses

    image, checked = None, []
    for match in found:
        # Dense findings compared pixels already. A half turn's or a mirror's outline
        # can take in both copies and the ground between them (its inliers lie in
        # both): a planted half turn in a cell field correlated 0.84 over it.
        if match.ruled_out or match.inliers < FEWEST_INLIERS or \
                match.reasons[0].startswith(_DENSE_REASON) or _involution(match):
            checked.append(match)
            continue
        if image is None:
            try:
                image = pixels()
            except (SimlabError, OSError):  # changed or gone since it was read: no check
                image = False
        agreement = None if image is False else \
            pixel_agreement(image, match, float(features.get("scale", 1.0)))
        if agreement is None:
            checked.append(match)
        elif agreement < PIXEL_AGREEMENT:
            checked.append(dataclasses.replace(match, ruled_out=(
                f"chance: the two regions' pixels do not agree (correlation "
                f"{agreement:.2f} at the transform; a copy, even recoloured or re-saved, "
                f"correlates above {PIXEL_AGREEMENT:g})")))
        else:
            checked.append(dataclasses.replace(match, reasons=match.reasons + (
                f"pixels agree: correlation {agreement:.2f} at the transform",)))
    return checked


def _keypoint_copy_move(features: Features, ratio: float, ransac_threshold: float,
                        min_offset: float, name: str, *, mirrored: bool = False,
                        tests: float = 1) -> PairMatch:
    import cv2

    from ..local import check_features, describe_transform, distinct, flip_matrix, \
        mirror_features, self_matches, to_original, verify
    from ..local.significance import log_nfa

    features = check_features(features, job="copy-move", label=name)
    points = features["points"]
    other = mirror_features(features) if mirrored else features
    pairs = self_matches(features["descriptors"], points, ratio=ratio, min_offset=min_offset,
                         against=other["descriptors"] if mirrored else None)
    if len(pairs) < 3:
        return no_match(name, name, len(pairs))
    # Both directions (which copy is the source is unknown): correspondence k maps
    # source[k] to target[k] (in the mirrored frame for a mirrored search).
    order = np.concatenate([pairs, pairs[:, ::-1]])
    source = {key: features[key][order[:, 0]] for key in ("points", "angles", "sizes")}
    target = {key: other[key][order[:, 1]] for key in ("points", "angles", "sizes")}
    target["shape"] = features["shape"]
    identity = np.stack([np.arange(len(order))] * 2, axis=1)
    found = verify(source, target, identity, model="similarity", threshold=ransac_threshold)
    if found.matrix is None:
        return no_match(name, name, len(pairs))
    # One direction per pair: a copy rotated by 180 degrees fits both ways round.
    forward, backward = np.split(found.mask, 2)
    backward = backward & ~forward
    if forward.sum() + backward.sum() < 2:
        return no_match(name, name, len(pairs))
    kept = np.concatenate([forward, backward])
    inliers_a = source["points"][kept]
    inliers_b = points[order[kept, 1]]  # the copy's own place, mirrored or not
    inliers = min(distinct(inliers_a), distinct(inliers_b))
    matches = len(np.unique(np.round(np.concatenate([points[pairs[:, 0]],
                                                     points[pairs[:, 1]]], axis=1)), axis=0))
    inlier_ratio = round(min(1.0, inliers / max(1, matches)), 4)
    image_area = float(features["shape"][0] * features["shape"][1])
    regions, fractions = [], []
    for points_found in (inliers_a, inliers_b):
        hull = cv2.convexHull(points_found.astype(np.float32)).reshape(-1, 2) \
            if len(points_found) >= 3 else np.zeros((0, 2), np.float32)
        regions.append(hull)
        fractions.append(round(float(cv2.contourArea(hull)) / image_area, 4) if len(hull)
                         else 0.0)
    extracted = flip_matrix(features["shape"][1]) @ found.matrix if mirrored else found.matrix
    matrix = to_original(extracted, features["scale"], features["scale"])
    described = describe_transform(matrix)
    significance = log_nfa(inliers=inliers, correspondences=matches,
                           threshold=ransac_threshold, area=image_area, model="similarity",
                           max_angle=found.max_angle, tests=tests)
    reason = (f"{inliers} distinct keypoints of {matches} matched inside the image agree "
              f"with one {'mirrored ' if mirrored else ''}similarity (rotation "
              f"{described['rotation_degrees']:g} deg, scale {described['scale']:.2f})")
    return PairMatch(name, name, "copy-move", evidence_score(inliers, inlier_ratio), inliers,
                     matches, inlier_ratio, described["rotation_degrees"],
                     described["scale"], described["mirrored"], fractions[0], fractions[1],
                     inliers_a, inliers_b, regions[0], regions[1], matrix,
                     log_nfa=significance, reasons=(reason,))


# ---------------------------------------------------------------------------------------
# Patterns the a-contrario null does not model: ruled out, and said why.

def _hull(points: np.ndarray) -> np.ndarray:
    import cv2

    points = np.asarray(points, np.float32).reshape(-1, 2)
    return cv2.convexHull(points).reshape(-1, 2) if len(points) >= 3 else points


def _gap(hull_a: np.ndarray, hull_b: np.ndarray) -> float:
    """Distance between two convex polygons (0 when they touch or overlap)."""
    import cv2

    if len(hull_a) < 3 or len(hull_b) < 3:
        return 0.0
    gaps = []
    for one, two in ((hull_a, hull_b), (hull_b, hull_a)):
        contour = two.reshape(-1, 1, 2).astype(np.float32)
        gaps += [-cv2.pointPolygonTest(contour, (float(x), float(y)), True) for x, y in one]
    return max(0.0, float(min(gaps)))


def _overlap_share(hull_a: np.ndarray, hull_b: np.ndarray) -> float:
    """Intersection over the smaller of two convex polygons."""
    import cv2

    if len(hull_a) < 3 or len(hull_b) < 3:
        return 0.0
    area, _ = cv2.intersectConvexConvex(hull_a.astype(np.float32), hull_b.astype(np.float32))
    smaller = min(cv2.contourArea(hull_a.astype(np.float32)),
                  cv2.contourArea(hull_b.astype(np.float32)))
    return float(area) / smaller if smaller > 0 else 0.0


def _symmetry(match, extracted: np.ndarray, image_shape, min_offset: float = 16.0,
              extends: bool | None = None) -> str:
    """Why the transform maps the region onto itself, or "" when it does not.

    A symmetric design matches itself two ways: by a transform that is its own inverse
    (a mirror about an axis, a half turn about a centre) whose two "copies" are the
    design's two halves, touching; or by a turn about a centre inside the design, the
    two "copies" then being the same place. A pasted copy is somewhere else.
    """
    import cv2

    points_a = np.asarray(match.points_a, np.float64)
    points_b = np.asarray(match.points_b, np.float64)
    if len(points_a) < 3:
        return ""
    # Orient each pair along the main direction of the displacements, so one side
    # holds one copy (or one half): a transform that is its own inverse (a half turn, a
    # mirror) fits each pair both ways round, and a search keeps either.
    side_a, side_b = _oriented(points_a, points_b)
    hull_a, hull_b = _hull(side_a), _hull(side_b)
    size = math.sqrt(max(_polygon_area(hull_a), _polygon_area(hull_b), 1.0))
    if _overlap_share(hull_a, hull_b) > 0.25:
        return ("symmetric: the transform maps the region onto itself (the two matched "
                "places overlap: a design turned or mirrored about its own centre)")
    linear, shift = extracted[:2, :2], extracted[:2, 2]
    if not match.mirrored and abs(match.rotation_degrees) > 2.0:
        # A turn about a centre inside one of the matched places: a shape turning about
        # itself (a disc, a rosette), not a copy pasted elsewhere.
        centre = np.linalg.solve(np.eye(2) - linear, shift)
        for hull in (hull_a, hull_b):
            if len(hull) >= 3 and cv2.pointPolygonTest(
                    hull.reshape(-1, 1, 2).astype(np.float32),
                    (float(centre[0]), float(centre[1])), True) > -0.25 * size:
                return ("symmetric: the transform turns the region about a centre inside "
                        "it (a shape turning onto itself), not a copy")
    spread = np.linalg.svd(side_a - side_a.mean(0), compute_uv=False)
    if len(spread) == 2 and spread[1] < 0.08 * spread[0]:
        return ("a line: the matched points lie along one straight line or edge, which "
                "matches itself shifted along its length (not a 2-D region)")
    if not match.mirrored and abs(match.rotation_degrees) > 2.0:
        # Points on a circle about the turn's centre, each side spanning a wide arc: a
        # round object (a disc, a coin, a wheel) turned about its own centre.
        centre = np.linalg.solve(np.eye(2) - linear, shift)
        everything = np.concatenate([side_a, side_b]) - centre
        radii = np.hypot(everything[:, 0], everything[:, 1])
        spans = []
        for side in (side_a, side_b):
            angles = np.sort(np.arctan2(*(side - centre).T[::-1]))
            gaps = np.diff(np.concatenate([angles, angles[:1] + 2 * np.pi]))
            spans.append(2 * np.pi - gaps.max())
        if radii.mean() > 0 and radii.std() < 0.15 * radii.mean() and \
                min(spans) > math.radians(60):
            return ("symmetric: the matched points lie on a circle about the turn's centre "
                    "(a round object turned about itself), not a copy")
    twice = extracted @ extracted
    involution = np.abs(twice[:2, :2] - np.eye(2)).max() < 0.1 and \
        float(np.hypot(*twice[:2, 2])) < max(6.0, 0.1 * size)
    if not involution:
        return ""
    gap = _gap(hull_a, hull_b)
    what = "mirror" if np.linalg.det(extracted[:2, :2]) < 0 else "half turn"
    # Keypoints nearer than min_offset to their own mirror image are never matched, so
    # even a design's touching halves show a gap of about 2 * min_offset.
    if gap < max(2.0 * min_offset, 0.2 * size):
        return (f"symmetric: a {what} maps the region onto itself (its two halves touch, "
                f"{gap:.0f} px apart): a symmetric design, not a copy")
    # A design symmetric about the picture's centre (a logo, a sign, a phantom): the
    # mirror's axis, or the half turn's centre, passes through the middle of the image.
    height, width = (float(v) for v in image_shape[:2])
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    if what == "mirror":
        normal = np.linalg.svd(linear + np.eye(2))[2][-1]  # eigenvector of eigenvalue -1
        off_centre = abs(float(normal @ centre - normal @ shift / 2.0))
    else:
        off_centre = float(np.hypot(*(centre - shift / 2.0)))
    # A copy pasted by chance about the middle is not a design: a design's symmetry
    # holds beyond the two matched places too (``extends``, None when too few keypoints
    # lie elsewhere to tell).
    if off_centre < 0.05 * max(height, width) and extends is not False:
        return (f"symmetric: a {what} about the middle of the image maps it onto itself "
                f"({off_centre:.0f} px from the centre): a symmetric design, not a copy")
    return ""


def _about_the_centre(match, extracted: np.ndarray, image_shape,
                      extends: bool | None = None) -> str:
    """A turn (not a half turn: :func:`_symmetry` judges those) about the middle of
    the image: a design with four-fold or round symmetry (a rosette, a wheel), unless
    the image's other keypoints show that the turn maps nothing else onto itself
    (``extends`` False: a copy that happened to be pasted about the middle)."""
    if match.mirrored or abs(match.rotation_degrees) < 2.0 or extends is False:
        return ""
    height, width = (float(v) for v in image_shape[:2])
    linear, shift = extracted[:2, :2], extracted[:2, 2]
    centre = np.linalg.solve(np.eye(2) - linear, shift)
    off_centre = float(np.hypot(centre[0] - (width - 1) / 2, centre[1] - (height - 1) / 2))
    if off_centre < 0.05 * max(height, width):
        return (f"symmetric: a turn by {match.rotation_degrees:g} deg about the middle of "
                f"the image maps it onto itself ({off_centre:.0f} px from the centre): a "
                "symmetric design, not a copy")
    return ""


def _oriented(points_a: np.ndarray, points_b: np.ndarray):
    """The pairs swapped where needed so that all point the same way (see _symmetry)."""
    moves = points_b - points_a
    if len(moves) < 2 or not np.any(moves):
        return points_a, points_b
    _, _, axes = np.linalg.svd(moves, full_matrices=False)
    swap = moves @ axes[0] < 0
    if swap.sum() * 2 > len(swap):  # keep the majority as found
        swap = ~swap
    return (np.where(swap[:, None], points_b, points_a),
            np.where(swap[:, None], points_a, points_b))


def _tiled(features: Features, match, extracted: np.ndarray,
           outside: tuple[float, float, int] | None = None) -> str:
    """Why the whole image repeats at the match's shift (a tileable texture), or "".

    A pasted region repeats at its shift and nothing around it does; a tiled texture
    repeats everywhere the image overlaps itself shifted. Keypoints in that overlap are
    checked for a keypoint at the shifted place.

    A periodic texture seen in perspective (bricks receding) matches itself slightly
    scaled or turned: with many keypoints outside the two places (30 or more), any
    transform that maps that much of the rest of the image onto itself is ruled out.
    """
    if outside is None:  # (share, chance, count) of :func:`_agreement_outside`
        outside = _agreement_outside(features, match, extracted)
    if match.mirrored or abs(match.rotation_degrees) > 1.0 or abs(match.scale - 1) > 0.03:
        share, chance, outside = outside
        if outside >= 30 and _repeats_elsewhere(share, chance, outside) and \
                not match.mirrored:
            return (f"periodic: {share:.0%} of the image outside the two matched places "
                    f"maps onto itself by this transform ({chance:.0%} by transforms next "
                    "to it), not one region: a texture or pattern")
        return ""
    height, width = (float(v) for v in features["shape"][:2])
    dx, dy = (float(v) for v in extracted[:2, 2])
    zone = max(0.0, width - abs(dx)) * max(0.0, height - abs(dy))
    region = max(_polygon_area(_hull(match.points_a)), 1.0)
    if zone < 1.0:
        return ""
    points = np.asarray(features["points"], np.float64)
    sizes = np.asarray(features["sizes"], np.float64)

    def repeated(shift_x: float, shift_y: float) -> float:
        moved = points + [shift_x, shift_y]
        inside = (moved[:, 0] >= 0) & (moved[:, 0] < width) & (moved[:, 1] >= 0) & \
            (moved[:, 1] < height)
        if inside.sum() < 10:
            return math.nan
        near = np.hypot(moved[inside, None, 0] - points[None, :, 0],
                        moved[inside, None, 1] - points[None, :, 1]) < 3.0
        alike = np.abs(np.log(sizes[inside, None] / sizes[None, :])) < math.log(1.5)
        return float((near & alike).any(axis=1).mean())

    share, chance, outside = outside
    if outside >= _FEWEST_OUTSIDE and np.isfinite(share):
        # Judged where the two copies are not: a pasted region repeats only itself, a
        # tiled texture repeats everywhere the image overlaps itself shifted.
        # On the tuning set, pasted copies repeated at most 14 % more of the rest of
        # the image than chance (7.6 standard deviations); bricks and tiled textures
        # 17 % (20 deviations) and more.
        if _repeats_elsewhere(share, chance, outside):
            return (f"tiled: {share:.0%} of the image outside the two matched places "
                    f"repeats at this shift ({chance:.0%} at shifts next to it), not one "
                    "region: a tileable texture")
        return ""
    share = repeated(dx, dy)
    # Dense keypoints find a neighbour anywhere by chance: measured a few pixels off.
    nearby = [repeated(dx + ox, dy + oy)
              for ox, oy in ((11, 7), (-9, 12), (13, -10), (-12, -8))]
    nearby = [value for value in nearby if np.isfinite(value)]
    if not np.isfinite(share) or not nearby:
        return ""
    chance = float(np.mean(nearby))
    excess = share - chance
    # A pasted region repeats its own keypoints only: about region / zone of those in
    # the overlap. A tiled texture repeats beyond the region, or fills the whole
    # overlap with a region larger than a pasted one usually is.
    if excess >= 0.3 and (excess >= 1.5 * region / zone or region >= 0.2 * width * height):
        return (f"tiled: {share:.0%} of the image repeats at this shift ({chance:.0%} at "
                "shifts next to it), not one region: a tileable texture")
    return ""


#: How much more of the image outside the two matched places must repeat at a shift
#: than chance for a tiled texture (see :func:`_tiled`).
_TILED_EXCESS = 0.18

def _repeats_elsewhere(share: float, chance: float, count: int) -> bool:
    """Whether ``share`` of ``count`` keypoints outside the matched places repeating
    (``chance`` expected) is a pattern: :data:`_TILED_EXCESS` above chance, or nearly
    that (0.15) and far outside what chance gives so many (10 standard deviations)."""
    excess = share - chance
    spread = math.sqrt(max(chance, 0.02) * (1 - max(chance, 0.02)) / max(count, 1))
    return excess >= _TILED_EXCESS or (excess >= 0.15 and excess >= 10 * spread)


#: Keypoints outside the two matched places needed to judge whether a transform maps
#: the rest of the image onto itself.
_FEWEST_OUTSIDE = 12


def _agreement_outside(features: Features, match, extracted: np.ndarray
                       ) -> tuple[float, float, int]:
    """How much of the image *outside* the two matched places the transform maps onto
    keypoints: ``(share, chance, count)``.

    ``count`` keypoints lie outside both places (8 px around them) and map, by the
    match's transform (in extracted pixels), inside the image and outside both places
    too; ``share`` of them land within 3 px of a keypoint of a like size (as scaled by
    the transform), ``chance`` is the same share for the transform moved a few pixels
    (dense keypoints find a neighbour anywhere by chance). A tiled texture or a
    symmetric design repeats beyond the matched places; a pasted copy does not.
    """
    import cv2
    from scipy.spatial import cKDTree

    points = np.asarray(features["points"], np.float64).reshape(-1, 2)
    sizes = np.asarray(features["sizes"], np.float64)
    height, width = (int(v) for v in features["shape"][:2])
    if len(points) < 3 or len(match.region_a) < 3 or len(match.region_b) < 3:
        return math.nan, math.nan, 0
    # The two places, 8 px wider, as a mask: a lookup per point instead of a polygon
    # test.
    places = np.zeros((height, width), np.uint8)
    for region in (match.region_a, match.region_b):
        cv2.fillPoly(places, [np.round(np.asarray(region, np.float64)).astype(np.int32)], 1)
    places = cv2.dilate(places, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (17, 17)))

    def away(where: np.ndarray) -> np.ndarray:
        cols = np.clip(np.round(where[:, 0]).astype(np.int64), 0, width - 1)
        rows = np.clip(np.round(where[:, 1]).astype(np.int64), 0, height - 1)
        return places[rows, cols] == 0

    linear, shift = extracted[:2, :2], extracted[:2, 2]
    growth = math.sqrt(abs(float(np.linalg.det(linear))))
    mapped = points @ linear.T + shift
    usable = away(points) & (mapped[:, 0] >= 0) & (mapped[:, 0] < width) & \
        (mapped[:, 1] >= 0) & (mapped[:, 1] < height)
    usable[usable] &= away(mapped[usable])
    count = int(usable.sum())
    if count < 1:
        return math.nan, math.nan, 0
    mine, size_of = mapped[usable], sizes[usable] * growth
    tree = cKDTree(points)

    def landed(offset) -> float:
        near = tree.query_ball_point(mine + offset, r=3.0 - 1e-9)
        hits = [any(abs(math.log(max(size_of[k], 1e-6) / max(sizes[j], 1e-6)))
                    < math.log(1.5) for j in found) for k, found in enumerate(near)]
        return float(np.mean(hits))

    share = landed((0.0, 0.0))
    chance = float(np.mean([landed(o) for o in ((11, 7), (-9, 12), (13, -10), (-12, -8))]))
    return share, chance, count


def _polygon_area(hull: np.ndarray) -> float:
    import cv2

    return float(cv2.contourArea(hull.astype(np.float32))) if len(hull) >= 3 else 0.0


def _repeats(features: Features, region: np.ndarray, match, *, min_offset: float,
             extracted: np.ndarray) -> int:
    """How many other offsets the region's keypoints also repeat at (periodicity).

    Each keypoint inside the region is compared with every other keypoint (no ratio
    test: in a periodic texture the nearest and second-nearest look alike, which is
    what the ratio test throws away); the displacements to its near-best matches are
    clustered. A copy repeats its region at one offset, a brick wall at many.
    """
    import cv2

    from ..local import distinct

    points = np.asarray(features["points"], np.float64)
    descriptors = np.asarray(features["descriptors"], np.float32)
    if len(region) < 3 or len(points) < 4:
        return 0
    contour = np.asarray(region, np.float32).reshape(-1, 1, 2)
    inside = np.array([cv2.pointPolygonTest(contour, (float(x), float(y)), True) >= -4
                       for x, y in points])
    if inside.sum() < 3:
        return 0
    mine = np.flatnonzero(inside)
    distance = np.sqrt(np.maximum(
        np.einsum("ij,ij->i", descriptors[mine], descriptors[mine])[:, None]
        + np.einsum("ij,ij->i", descriptors, descriptors)[None, :]
        - 2.0 * descriptors[mine] @ descriptors.T, 0))
    offsets = points[None, :, :] - points[mine][:, None, :]
    distance[np.hypot(offsets[..., 0], offsets[..., 1]) < min_offset] = np.inf
    best = distance.min(axis=1, keepdims=True)
    close = np.isfinite(distance) & (distance <= 1.15 * best) & \
        (np.argsort(np.argsort(distance, axis=1), axis=1) < 3)
    rows, cols = np.nonzero(close)
    moves = offsets[rows, cols]
    # A shift and its opposite are one offset; the match's own transform is not a repeat.
    flip = (moves[:, 1] < 0) | ((moves[:, 1] == 0) & (moves[:, 0] < 0))
    moves[flip] *= -1
    mapped = points[mine][rows] @ extracted[:2, :2].T + extracted[:2, 2]
    own = np.hypot(*(points[cols] - mapped).T) < 6.0
    mapped_back = points[cols] @ extracted[:2, :2].T + extracted[:2, 2]
    own |= np.hypot(*(points[mine][rows] - mapped_back).T) < 6.0
    moves, origins = moves[~own], points[mine][rows][~own]
    # SIFT describes one blob several times (one keypoint per dominant orientation):
    # a repeat counts the distinct places that repeat at it, not the keypoints.
    places = distinct(points[mine])
    need = max(3, int(0.2 * places))
    clusters = 0
    while len(moves) >= need:
        near = np.hypot(moves[:, None, 0] - moves[None, :, 0],
                        moves[:, None, 1] - moves[None, :, 1]) < 6.0
        counts = np.array([distinct(origins[row]) for row in near])
        top = int(np.argmax(counts))
        if counts[top] < need:
            break
        clusters += 1
        moves, origins = moves[~near[top]], origins[~near[top]]
    return clusters


def rule_out_patterns(match: PairMatch, features: Features, *, min_offset: float = 16.0,
                      dense: bool = False) -> PairMatch:
    """``match`` with ``ruled_out`` set when a pattern, not a copy, explains it.

    * **Periodic**: the source region's keypoints also repeat at two or more other
      offsets (bricks, tiles, grilles, ladders, cell fields); a pasted region repeats
      once (:func:`_repeats`).
    * **Symmetric**: the transform maps the region onto itself: a mirror or a half turn
      whose two halves touch, or copies that overlap (logos, signs, round objects).
    * **Flat / JPEG blocks**: a dense match over a shift by whole 8-px JPEG blocks with
      too few grid points of texture.

    What was checked is added to ``reasons`` either way.

    Examples
    --------
    >>> from skimage import data
    >>> from simlab.io import load_image
    >>> from simlab.duplicates import extract_features
    >>> bricks = extract_features(load_image(data.checkerboard()), copy_move=True)
    >>> match = find_copy_move(bricks)
    >>> match.kind == "none" or bool(match.ruled_out)
    True
    """
    import dataclasses

    from ..local import check_features

    if match.kind == "none" or match.matrix is None:
        return match
    # SIFT held as bytes becomes the descriptors matched (the periodicity test reads them).
    features = check_features(features, job="copy-move", label=match.a)
    scale = float(features.get("scale", 1.0))
    shrink = np.diag([scale, scale, 1.0])
    extracted = shrink @ np.asarray(match.matrix, np.float64) @ np.linalg.inv(shrink)
    reasons = list(match.reasons)
    itself = float(features.get("copy_move_itself", 0.0)) if dense else 0.0
    share, chance, outside = _agreement_outside(features, match, extracted)
    # Symmetry the rest of the image plainly lacks (many keypoints elsewhere, no more
    # of them mapped onto keypoints than chance maps): None when that is not plain
    # (keypoints of noise or texture rarely repeat even in a symmetric design).
    extends = False if outside >= 30 and np.isfinite(share) and share <= chance + 0.01 \
        else None
    ruled_out = ("symmetric: the transform maps the neighbourhood of its own centre (or "
                 f"axis) onto itself ({itself:.1f} blocks): a symmetric shape, not a copy"
                 if itself >= 0.5 else "") or \
        _symmetry(match, extracted, features["shape"], min_offset, extends) or \
        _about_the_centre(match, extracted, features["shape"], extends) or \
        _tiled(features, match, extracted, (share, chance, outside))
    if not ruled_out:
        repeats = _repeats(features, match.region_a, match, min_offset=min_offset,
                           extracted=extracted)
        # Look-alike blobs (cells, stones) repeat a region's keypoints at other offsets
        # too; a pattern then also maps the rest of the image onto itself, a copy in a
        # field of look-alikes does not (many keypoints elsewhere, at most 5 % above
        # chance mapped onto keypoints).
        plainly_not = outside >= 30 and np.isfinite(share) and share - chance < 0.05
        if repeats >= 3 or (repeats >= 2 and not plainly_not):
            ruled_out = (f"periodic: the region also repeats at {repeats} other offsets "
                         "(a texture or pattern, not one copy)")
        else:
            reasons.append(f"not periodic: the region repeats at {repeats} other offset"
                           f"{'' if repeats == 1 else 's'}")
    if not ruled_out:
        reasons.append("not symmetric: the transform does not map the region onto itself")
        shift = extracted[:2, 2]
        if dense and not match.mirrored and abs(match.rotation_degrees) < 0.5 and \
                np.allclose(shift / 8.0, np.round(shift / 8.0), atol=0.02) and \
                match.inliers < 12:
            ruled_out = ("JPEG blocks: a shift by whole 8-px blocks matched by few points "
                         "(compression blocks in a flat area look alike)")
    if _involution(match):
        # Outline the two copies apart (a half turn or a mirror fits either way round).
        side_a, side_b = _oriented(np.asarray(match.points_a), np.asarray(match.points_b))
        if len(side_a) >= 3 and _overlap_share(_hull(side_a), _hull(side_b)) < \
                _overlap_share(_hull(match.points_a), _hull(match.points_b)):
            return dataclasses.replace(match, reasons=tuple(reasons), ruled_out=ruled_out,
                                       points_a=side_a, points_b=side_b,
                                       region_a=_hull(side_a), region_b=_hull(side_b))
    return dataclasses.replace(match, reasons=tuple(reasons), ruled_out=ruled_out)


def _dense_match(features: Features, name: str, tests: float = 1) -> PairMatch:
    """The :class:`PairMatch` of the region :func:`dense_copy_move` stored, if any."""
    import cv2

    from ..local import describe_transform, to_original
    from ..local.significance import inlier_chance, log_nfa_region

    if "copy_move_points_a" not in features:  # extracted without copy_move
        return no_match(name, name, 0)
    points_a = np.asarray(features["copy_move_points_a"], np.float32)
    points_b = np.asarray(features["copy_move_points_b"], np.float32)
    solid = np.asarray(features["copy_move_solid"], bool)
    inliers = int(solid.sum())
    if inliers < 3:
        return no_match(name, name, len(points_a))
    # The points are exact correspondences (a shift, a quarter turn, a mirror): least
    # squares.
    design = np.column_stack([points_a, np.ones(len(points_a))]).astype(np.float64)
    affine = np.linalg.lstsq(design, points_b.astype(np.float64), rcond=None)[0].T
    inlier_ratio = round(float(features["copy_move_share"]), 4)
    block = float(features["copy_move_block"])
    half = block / 2.0
    corners = np.array([[-half, -half], [half, -half], [half, half], [-half, half]],
                       np.float32)
    height, width = (float(v) for v in features["shape"][:2])
    regions, fractions = [], []
    for found in (points_a, points_b):
        # Grid points are block centres; the copied region reaches half a block beyond.
        spread = (found[:, None, :] + corners[None]).reshape(-1, 2)
        spread = np.clip(spread, -0.5, [width - 0.5, height - 0.5]).astype(np.float32)
        hull = cv2.convexHull(spread).reshape(-1, 2)
        regions.append(hull)
        fractions.append(round(float(cv2.contourArea(hull)) / (height * width), 4))
    homogeneous = np.eye(3)
    homogeneous[:2] = affine
    scale = float(features.get("scale", 1.0))
    matrix = to_original(homogeneous, scale, scale)
    described = describe_transform(matrix)
    # Significance: the region is one connected set of independent blocks matched at
    # the one transform found (to within a pixel: its pixels were not matched 2 px
    # around), which chance gives each block with probability pi * 1^2 / area; counted
    # as a connected region (:func:`~simlab.local.significance.log_nfa_region`), not
    # as k blocks anywhere. The grid points are the centres of matched blocks, half a
    # block apart: the blocks, not their centres, cover the matched area (counting the
    # centres' area left a small copy, whose centres keep half a block from its edges,
    # with half its blocks). Each block covers 2 x 2 cells of half a block.
    cells = np.round(points_b / half).astype(np.int64)
    covered = {(int(x) + dx, int(y) + dy) for x, y in cells for dx in (-1, 0)
               for dy in (-1, 0)}
    independent = max(1, len(covered) // 4)
    pixel = block / 16.0  # one pixel of the image dense matching compared
    significance = log_nfa_region(
        blocks=independent, cells=max(independent, int(height * width / block ** 2)),
        chance=inlier_chance(threshold=pixel, area=height * width), tests=tests)
    reason = (f"{_DENSE_REASON}{inliers} grid points of one {fractions[1]:.0%} region equal, pixel for "
              f"pixel, another region {'mirrored, ' if described['mirrored'] else ''}"
              f"turned by {described['rotation_degrees']:g} deg; "
              f"{inlier_ratio:.0%} of it is explained by no other shift")
    return PairMatch(name, name, "copy-move", evidence_score(inliers, inlier_ratio), inliers,
                     len(points_a), inlier_ratio, described["rotation_degrees"],
                     described["scale"], described["mirrored"], fractions[0], fractions[1],
                     points_a[solid], points_b[solid], regions[0], regions[1], matrix,
                     log_nfa=significance, reasons=(reason,))


# ---------------------------------------------------------------------------------------
# Dense copy-move: the image correlated with itself, shifted and turned.

#: Orientations the dense search correlates the image with: (quarter turns, mirrored
#: left-right first). 270 degrees is 90 with the copies' roles swapped; mirrored and
#: turned by 180 is mirrored top-bottom. Diagonal mirrors are left out (rare edits,
#: two more correlations).
_ORIENTATIONS = ((0, False), (1, False), (2, False), (0, True), (2, True))
_DENSE_ORIENTATIONS = len(_ORIENTATIONS)
_DENSE_REASON = "dense: "


def _orient(image: np.ndarray, orientation) -> np.ndarray:
    turns, flip = orientation
    return np.rot90(image[:, ::-1] if flip else image, turns)


def _from_turned(x, y, turns, shape):
    """Coordinates in ``_orient(image, orientation)`` -> the same pixel's in ``image``.

    ``turns`` is a number of quarter turns, or an orientation ``(turns, mirrored)``.
    """
    turns, flip = turns if isinstance(turns, tuple) else (turns, False)
    height, width = shape
    if turns == 0:
        x, y = x, y
    elif turns == 1:
        x, y = width - 1 - y, x
    elif turns == 2:
        x, y = width - 1 - x, height - 1 - y
    else:
        x, y = y, height - 1 - x
    return (width - 1 - x, y) if flip else (x, y)


def _shifted_difference(image: np.ndarray, turned: np.ndarray, shift) -> np.ndarray:
    """``|image(p) - turned(p - shift)|``, 255 where ``p - shift`` falls outside."""
    import cv2

    height, width = image.shape
    rows, cols = turned.shape
    dy, dx = shift
    out = np.full((height, width), 255.0, np.float32)
    y0, y1, x0, x1 = max(0, dy), min(height, rows + dy), max(0, dx), min(width, cols + dx)
    if y1 > y0 and x1 > x0:
        # One pass, written in place (numpy's abs of a difference made two temporaries).
        cv2.absdiff(image[y0:y1, x0:x1], turned[y0 - dy:y1 - dy, x0 - dx:x1 - dx],
                    dst=out[y0:y1, x0:x1])
    return out


def _block_difference(image: np.ndarray, turned: np.ndarray, shift, block: int) -> np.ndarray:
    """Mean of :func:`_shifted_difference` over the ``block`` x ``block`` square around
    each pixel: how well the block there matches ``turned`` at ``shift``."""
    import cv2

    return cv2.blur(_shifted_difference(image, turned, shift), (block, block))


def _spectrum(image: np.ndarray, size) -> np.ndarray:
    """OpenCV's packed real spectrum of float32 ``image`` padded with zeros to ``size``.

    OpenCV, not scipy.fft: on this work's 2-core machines, one thread, a 400 x 380 panel
    padded to 800 x 800 took 1.7 ms forward and 2.3 ms back against pocketfft's 5.1 and
    7.6 ms (at scipy's own fast size, 800 x 784).
    """
    import cv2

    padded = np.zeros(size, np.float32)
    padded[:image.shape[0], :image.shape[1]] = image
    return cv2.dft(padded, nonzeroRows=image.shape[0])


#: A candidate shift's sub-pixel part is applied (:func:`_subpixel`) from this fraction of
#: a pixel on either axis. A copy pasted at a fractional offset, or a figure resampled
#: after the edit, matches its source only half-way at the nearest whole shift: on the
#: integrity benchmark recall rose 0.689 -> 0.712 (tuning set; JPEG-saved clones 0.42 ->
#: 0.67) and 0.667 -> 0.689 (held out), with no new false alarm on either set, the
#: generated papers or a 1,000-image folder.
SUBPIXEL = 0.2


def _fraction(raw: np.ndarray, i: int, j: int) -> tuple[float, float]:
    """Sub-pixel offset ``(dy, dx)`` of the correlation peak at ``raw[i, j]``: the top of
    a parabola through it and its two neighbours on each axis (0 at an edge of the plane
    or where the three are not a peak)."""
    offsets = []
    for before, peak, after in ((raw[i - 1, j] if i > 0 else None, raw[i, j],
                                 raw[i + 1, j] if i + 1 < raw.shape[0] else None),
                                (raw[i, j - 1] if j > 0 else None, raw[i, j],
                                 raw[i, j + 1] if j + 1 < raw.shape[1] else None)):
        curve = None if before is None or after is None else float(before - 2 * peak + after)
        offsets.append(0.0 if not curve or curve >= 0 else
                       float(np.clip(0.5 * (before - after) / curve, -0.5, 0.5)))
    return offsets[0], offsets[1]


def _subpixel(grey: np.ndarray, turned: np.ndarray, shift, fraction, *, block: int,
              max_difference: float) -> np.ndarray:
    """``turned`` moved by ``fraction`` = (dy, dx) of a pixel (bilinear), so that
    ``shift`` then lines it up with a copy at a fractional offset; ``turned`` itself when
    the move is under :data:`SUBPIXEL` (an exact copy stays exact) or when fewer blocks
    match moved than not (a broad peak, as in a smooth image, places its top poorly)."""
    import cv2

    fy, fx = fraction
    if max(abs(fy), abs(fx)) < SUBPIXEL:
        return turned
    move = np.array([[1.0, 0.0, fx], [0.0, 1.0, fy]])
    moved = cv2.warpAffine(np.ascontiguousarray(turned), move, turned.shape[::-1],
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    matched = [np.count_nonzero(_block_difference(grey, candidate, shift, block)
                                <= max_difference) for candidate in (turned, moved)]
    return moved if matched[1] > matched[0] else turned


def _correlation_peaks(whitened: np.ndarray, spectrum: np.ndarray, size, orientation, *,
                       peaks: int, min_offset: float) -> list[tuple[tuple[int, int],
                                                                    tuple[float, float]]]:
    """The ``peaks`` shifts at which ``whitened`` best matches itself turned (mirrored),
    each with its sub-pixel fraction (:func:`_fraction`)."""
    import cv2

    height, width = whitened.shape
    turns, flip = orientation
    turned = _orient(whitened, orientation)
    rows, cols = turned.shape
    # Turned by 180 degrees and flipped back is the image itself: its spectrum is known.
    kernel = spectrum if orientation == (2, False) else _spectrum(turned[::-1, ::-1], size)
    raw = cv2.idft(cv2.mulSpectrums(spectrum, kernel, 0),
                   flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)[:height + rows - 1,
                                                             :width + cols - 1]
    # A copy gives a one-pixel peak; oriented texture gives ridges, smooth images a broad
    # hill around no shift. Rank by how far a value stands above a ring 2 px away.
    ring = np.ones((5, 5), np.uint8)
    ring[1:4, 1:4] = 0
    sharp = raw - cv2.dilate(raw, ring)
    dy = np.arange(raw.shape[0])[:, None] - (rows - 1)
    dx = np.arange(raw.shape[1])[None, :] - (cols - 1)
    if orientation == (0, False):
        # A shift and its opposite pair the same two regions; small shifts are the image
        # matching itself. (Slices, not masks of the whole plane: this runs per image.)
        sharp[:rows - 1] = -np.inf  # dy < 0
        sharp[rows - 1, :cols] = -np.inf  # dy == 0, dx <= 0
        near_y = np.flatnonzero(np.abs(dy[:, 0]) < min_offset)
        near_x = np.flatnonzero(np.abs(dx[0]) < min_offset)
        disc = sharp[near_y[0]:near_y[-1] + 1, near_x[0]:near_x[-1] + 1]
        disc[dy[near_y] ** 2 + dx[:, near_x] ** 2 < min_offset ** 2] = -np.inf
    found = []
    if flip:
        # Mirrored, a shift along the mirror's axis (dy = 0 mirrored left-right, dx = 0
        # top-bottom) maps a whole line, the axis, onto itself, and every blob or edge
        # symmetric about a line across it adds to a thin ridge of peaks there, which
        # outranked the copies (no mirrored copy was found on the benchmark). The band
        # gets one peak of its own, the rest of the plane the others.
        across = dy[:, 0] if turns == 0 else dx[0]
        band = np.flatnonzero(np.abs(across) < min_offset / 2)  # a run of rows (columns)
        lines = slice(band[0], band[-1] + 1)
        in_band = sharp[lines] if turns == 0 else sharp[:, lines]
        i, j = np.unravel_index(int(np.argmax(in_band)), in_band.shape)
        if np.isfinite(in_band[i, j]):
            i, j = (i + band[0], j) if turns == 0 else (i, j + band[0])
            found.append(((int(dy[i, 0]), int(dx[0, j])), _fraction(raw, i, j)))
        # A mirror's shift and the one mirrored across its axis, (dy, dx) and (-dy, dx)
        # left-right, pair the same two regions with roles swapped: the covered-area
        # test below then took each for the other's repeat and the copy for a pattern.
        # The band and everything before it (across < 0) are left out.
        if turns == 0:
            sharp[:band[-1] + 1] = -np.inf
        else:
            sharp[:, :band[-1] + 1] = -np.inf
    for _ in range(peaks):
        i, j = np.unravel_index(int(np.argmax(sharp)), sharp.shape)
        if not np.isfinite(sharp[i, j]):
            break
        # The exact shift is the raw maximum next to the sharpest point (a peak may
        # straddle two pixels in ``sharp``).
        top, left = max(0, i - 1), max(0, j - 1)
        window = raw[top:i + 2, left:j + 2]
        di, dj = np.unravel_index(int(np.argmax(window)), window.shape)
        found.append(((int(dy[top + di, 0]), int(dx[0, left + dj])),
                      _fraction(raw, top + di, left + dj)))
        sharp[max(0, i - 4):i + 5, max(0, j - 4):j + 5] = -np.inf
    return found


def _matched_region(grey: np.ndarray, turned: np.ndarray, turns, shift, *,
                    block: int, min_offset: float, uniqueness: float,
                    max_difference: float, ring: int = 2) -> np.ndarray:
    """Block centres where ``grey`` equals ``turned`` shifted by ``shift``, and only there.

    A block matches when its mean absolute difference is at most ``max_difference`` and
    below ``uniqueness`` times the smallest difference at the eight shifts ``ring`` px
    around: flat areas and straight edges match at neighbouring shifts too, a copy only
    at its own. The largest connected matched area is returned.
    """
    import cv2

    height, width = grey.shape
    difference = _block_difference(grey, turned, shift, block)
    matched = difference <= max_difference
    half = block // 2
    matched[:half], matched[height - half:] = False, False
    matched[:, :half], matched[:, width - half:] = False, False
    if np.count_nonzero(matched) < block * block:  # cannot hold one whole block
        return np.zeros_like(matched), 0
    # The ring only where the shift matched: a window one block wider than those pixels
    # (the blur sees half a block around each) gives the same values, for less work.
    # Nothing matched lies outside it, so the rest of the work stays inside it too.
    rows, cols = np.flatnonzero(matched.any(axis=1)), np.flatnonzero(matched.any(axis=0))
    top, bottom = max(0, rows[0] - block), min(height, rows[-1] + block + 1)
    left, right = max(0, cols[0] - block), min(width, cols[-1] + block + 1)
    window = grey[top:bottom, left:right]
    nearby = np.full(window.shape, np.inf, np.float32)
    for ring_y in (-ring, 0, ring):
        for ring_x in (-ring, 0, ring):
            if ring_y or ring_x:
                moved = (shift[0] + ring_y - top, shift[1] + ring_x - left)
                # the window's pixel p is the image's p + (top, left)
                np.minimum(nearby, _block_difference(window, turned, moved, block),
                           out=nearby)
    inside = matched[top:bottom, left:right]
    inside &= difference[top:bottom, left:right] < uniqueness * nearby
    # A pixel whose partner is close by is an object matching itself (a symmetric shape
    # turned about its centre), not a copy.
    rows, cols = np.nonzero(inside)
    rows, cols = rows + top, cols + left
    source_x, source_y = _from_turned(cols - shift[1], rows - shift[0], turns,
                                      (height, width))
    near = (source_x - cols) ** 2 + (source_y - rows) ** 2 < min_offset ** 2
    inside[rows[near] - top, cols[near] - left] = False
    count, labels, stats, _ = cv2.connectedComponentsWithStats(inside.view(np.uint8),
                                                               connectivity=8)
    region = np.zeros_like(matched)
    if count < 2:
        return region, 0
    # How much matched right next to its own partner: the transform maps the
    # neighbourhood of its own centre (or axis) onto itself, as in a symmetric design.
    region[top:bottom, left:right] = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return region, int(near.sum())


#: Below this mean absolute difference (grey levels, the 75th percentile of blocks) an
#: image moved by 2 px is smooth for :func:`dense_copy_move`. Measured: photographs and
#: micrographs of scikit-image 11-19, the two scanned blob fields whose copies were
#: missed 5.0 and 5.1, scikit-image's cells 1.9, the moon 4.9.
_SMOOTH = 8.0


def _smooth(grey: np.ndarray, block: int) -> bool:
    """Whether ``grey`` moved by 2 px differs from itself by less than :data:`_SMOOTH`
    in three blocks of four."""
    moved = np.minimum(*(_block_difference(grey, grey, s, block)
                         for s in ((0, 2), (2, 0))))[block:-block, block:-block]
    return bool(moved.size) and float(np.percentile(moved, 75)) < _SMOOTH


class _Region(NamedTuple):
    """The dense search's best region: grid points and their partners, which of them
    have their whole block matched, the share no other shift explains, its score, and
    how many blocks' worth matched right next to their own partner."""

    points_a: np.ndarray
    points_b: np.ndarray
    solid: np.ndarray
    share: float
    score: float
    itself: float


def _best_region(grey: np.ndarray, shifts, *, ring: int, block: int, min_offset: float,
                 uniqueness: float, max_difference: float, spacing: int) -> _Region | None:
    """The candidate shift whose matched region no other shift of its orientation
    explains best, or None."""
    import cv2

    height, width = grey.shape
    candidates = []
    for turns, turned, shift in shifts:
        region, itself = _matched_region(grey, turned, turns, shift, block=block,
                                         min_offset=min_offset, uniqueness=uniqueness,
                                         max_difference=max_difference, ring=ring)
        if region.any():
            rows, cols = np.nonzero(region)
            source_x, source_y = _from_turned(cols - shift[1], rows - shift[0], turns,
                                              (height, width))
            covered = region.copy()
            covered[source_y, source_x] = True
            candidates.append((turns, shift, region, covered, itself))
    best, best_score = None, 0.0
    for index, (turns, shift, region, _, itself) in enumerate(candidates):
        others = np.zeros_like(region)
        # A periodic pattern matches itself at several shifts of one orientation; other
        # orientations matching the same place are a symmetric design, which
        # :func:`rule_out_patterns` judges with the whole transform.
        for other, (other_turns, _, _, covered, _) in enumerate(candidates):
            if other != index and other_turns == turns:
                others |= covered
        exclusive = region & ~others
        share = float(exclusive.sum()) / float(region.sum())
        solid = cv2.erode(exclusive.astype(np.uint8), np.ones((block // 2 + 1,) * 2, np.uint8),
                          borderValue=0).astype(bool)
        grid = np.zeros_like(exclusive)
        grid[::spacing, ::spacing] = True
        rows, cols = np.nonzero(exclusive & grid)
        score = evidence_score(int(solid[rows, cols].sum()), share)
        if score > best_score:
            source_x, source_y = _from_turned(cols - shift[1], rows - shift[0], turns,
                                              (height, width))
            best_score = score
            best = _Region(np.column_stack([source_x, source_y]),
                           np.column_stack([cols, rows]), solid[rows, cols], share, score,
                           itself / float(block * block))
    return best


def dense_copy_move(grey: np.ndarray, *, block: int = 16, min_offset: float = 16.0,
                     peaks: int = 2, uniqueness: float = 0.5, max_difference: float = 8.0,
                     spacing: int = 8, max_side: int = 512) -> dict[str, np.ndarray]:
    """Dense copy-move evidence of one grey image, as arrays a cache can store.

    1. **Candidate shifts.** The image is whitened (high-pass, divided by the local
       contrast) and cross-correlated, by FFT, with itself turned by 0, 90 and 180
       degrees (270 is 90 with the copies' roles swapped) and mirrored left-right and
       top-bottom. A copied region adds up to a
       one-pixel peak at its shift; the ``peaks`` sharpest of each turn are kept (on the
       planted benchmark the copy was always the sharpest; the second is a margin), each
       with the sub-pixel part of its shift, which the comparison below applies.
    2. **Region.** At each candidate, :func:`_matched_region` compares pixels: blocks
       that match there and nowhere 2 px around (4 px in a smooth image where 2 px left
       a region too small to flag).
    3. **Only one explanation.** A region that another candidate's region (or its
       source) covers is a periodic pattern (a checkerboard, a brick wall), not a copy:
       only the part no other candidate explains counts, and its share is kept.
    4. **A 2-D area.** Points on a ``spacing`` grid count as evidence when a whole
       ``block`` around them is matched (an erosion): a shared edge or outline, as in
       line drawings and symmetric shapes, is thinner than a block.

    Returns
    -------
    dict of str to ndarray
        ``copy_move_points_a`` and ``copy_move_points_b`` (``(K, 2)`` float32, grid
        points of the best candidate's region and their partners, in ``grey``'s
        pixels), ``copy_move_solid`` (``(K,)`` bool, the whole block matched),
        ``copy_move_share`` (float), ``copy_move_block`` (block side in ``grey``'s
        pixels) and ``copy_move_itself`` (blocks' worth of pixels that matched right
        next to their own partner: a transform mapping its own centre's neighbourhood
        onto itself, as a symmetric design does). ``K == 0`` when nothing matched.

    Examples
    --------
    >>> from simlab import samples
    >>> grey = samples.sample_image("camera", max_side=200)[..., 0].copy()
    >>> grey[120:180, 20:80] = grey[30:90, 110:170]
    >>> found = dense_copy_move(grey)
    >>> int(found["copy_move_solid"].sum()) >= 8, float(found["copy_move_share"])
    (True, 1.0)
    >>> np.median(found["copy_move_points_b"] - found["copy_move_points_a"], 0).tolist()
    [-90.0, 90.0]
    """
    import cv2

    empty = {"copy_move_points_a": np.zeros((0, 2), np.float32),
             "copy_move_points_b": np.zeros((0, 2), np.float32),
             "copy_move_solid": np.zeros(0, bool),
             "copy_move_share": np.array(0.0), "copy_move_block": np.array(float(block)),
             "copy_move_itself": np.array(0.0)}
    shrink = min(1.0, max_side / max(grey.shape[:2]))
    if shrink < 1.0:  # cost grows with the pixels; a copy of a few % of the area stays
        grey = cv2.resize(grey, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
    grey = grey.astype(np.float32)
    height, width = grey.shape
    if min(height, width) < 3 * block:
        return empty
    detail = grey - cv2.GaussianBlur(grey, (0, 0), 2.0)
    contrast = np.sqrt(cv2.GaussianBlur(detail * detail, (0, 0), 4.0))
    whitened = detail / (contrast + 1.0)
    size = (cv2.getOptimalDFTSize(height + max(height, width)),
            cv2.getOptimalDFTSize(width + max(height, width)))
    spectrum = _spectrum(whitened, size)
    shifts = []
    for turns in _ORIENTATIONS:  # an orientation: (quarter turns, mirrored)
        turned = _orient(grey, turns)
        shifts += [(turns, _subpixel(grey, turned, shift, fraction, block=block,
                                     max_difference=max_difference), shift)
                   for shift, fraction in _correlation_peaks(
                       whitened, spectrum, size, turns, peaks=peaks, min_offset=min_offset)]
    settings = dict(block=block, min_offset=min_offset, uniqueness=uniqueness,
                    max_difference=max_difference, spacing=spacing)
    best = _best_region(grey, shifts, ring=2, **settings)
    if best is not None and int(best.solid.sum()) < FEWEST_INLIERS and _smooth(grey, block):
        # A smooth image (a blurred scan, a field of soft blobs) differs so little from
        # itself moved 2 px that a copy's blocks match about as well 2 px off its shift
        # and most fail the uniqueness test: where 2 px left a region too small to flag,
        # look 4 px around instead. Not when 2 px found a flaggable region: a symmetric
        # design whose half turn it finds (and the rule-outs explain) must not have it
        # outranked by a lesser shift. Not when it found nothing either, as in most
        # images (53 of a paper's 55 panels): that would cost a second pass for each.
        wider = _best_region(grey, shifts, ring=4, **settings)
        if wider is not None and wider.score > best.score:
            best = wider
    if best is None:
        return empty
    points_a, points_b, solid, share = best.points_a, best.points_b, best.solid, best.share
    # Back to the pixels features were extracted from (pixel centres stay centres).
    back = lambda points: ((points + 0.5) / shrink - 0.5).astype(np.float32)
    return {"copy_move_points_a": back(points_a), "copy_move_points_b": back(points_b),
            "copy_move_solid": solid.astype(bool), "copy_move_share": np.array(share),
            "copy_move_itself": np.array(best.itself),
            "copy_move_block": np.array(block / shrink)}

