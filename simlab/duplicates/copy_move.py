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

import numpy as np

from ..registry import Features
from ..results import PairMatch
from .matching import evidence_score, no_match

__all__ = ["find_copy_move", "dense_copy_move"]


def find_copy_move(features: Features, *, ratio: float = 0.75, ransac_threshold: float = 4.0,
                   min_offset: float = 16.0, name: str = "a") -> PairMatch:
    """A region repeated inside one image: the image matched against itself.

    Two searches, the more certain one reported:

    * **Keypoints.** Pairs from :func:`simlab.local.self_matches` are given to RANSAC in both
      directions (which copy is the source is unknown); the similarity found maps one
      copy onto the other. This finds copies that were scaled or turned by any angle,
      but only when keypoints small enough to lie wholly inside the copied region match.
    * **Dense** (features extracted with ``copy_move=True``): the region found by
      :func:`dense_copy_move`, for copies shifted and turned by a multiple of 90
      degrees. ``inliers`` counts points on an 8-px grid whose whole 16-px block is
      matched; ``inlier_ratio`` is the share of the matched region that no other shift
      explains (about 0 in a periodic pattern, where every shift by a period matches).

    Returns
    -------
    PairMatch
        ``a == b == name``, kind ``"copy-move"``; ``region_a`` and ``region_b`` outline
        the two copies, ``overlap_*`` their areas as fractions of the image. Kind
        ``"none"`` when nothing was fitted.

    Examples
    --------
    >>> from simlab import samples
    >>> from simlab.duplicates import extract_features
    >>> image = samples.sample_image("astronaut", max_side=256).copy()
    >>> image[150:230, 150:230] = image[20:100, 30:110]          # paste a region
    >>> match = find_copy_move(extract_features(image))          # keypoints only
    >>> match.kind, match.inliers >= 10, match.rotation_degrees, match.scale
    ('copy-move', True, 0.0, 1.0)
    >>> cells = samples.sample_image("cell", max_side=256).copy()     # 256 x 213
    >>> cells[120:190, 20:90] = np.rot90(cells[20:90, 130:200])  # turned by 90 degrees
    >>> match = find_copy_move(extract_features(cells, copy_move=True))
    >>> match.kind, match.inliers >= 8, abs(match.rotation_degrees), match.inlier_ratio
    ('copy-move', True, 90.0, 1.0)
    """
    by_keypoints = _keypoint_copy_move(features, ratio, ransac_threshold, min_offset, name)
    dense = _dense_match(features, name)
    return dense if dense.score > by_keypoints.score else by_keypoints


def _keypoint_copy_move(features: Features, ratio: float, ransac_threshold: float,
                        min_offset: float, name: str) -> PairMatch:
    import cv2

    from ..local import check_features, describe_transform, distinct, self_matches, \
        to_original, verify

    features = check_features(features, job="copy-move", label=name)
    points = features["points"]
    pairs = self_matches(features["descriptors"], points, ratio=ratio, min_offset=min_offset)
    if len(pairs) < 3:
        return no_match(name, name, len(pairs))
    # Both directions (which copy is the source is unknown): correspondence k maps
    # source[k] to target[k].
    order = np.concatenate([pairs, pairs[:, ::-1]])
    source = {key: features[key][order[:, 0]] for key in ("points", "angles", "sizes")}
    target = {key: features[key][order[:, 1]] for key in ("points", "angles", "sizes")}
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
    inliers_a, inliers_b = source["points"][kept], target["points"][kept]
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
    matrix = to_original(found.matrix, features["scale"], features["scale"])
    described = describe_transform(matrix)
    return PairMatch(name, name, "copy-move", evidence_score(inliers, inlier_ratio), inliers,
                     matches, inlier_ratio, described["rotation_degrees"],
                     described["scale"], described["mirrored"], fractions[0], fractions[1],
                     inliers_a, inliers_b, regions[0], regions[1], matrix)


def _dense_match(features: Features, name: str) -> PairMatch:
    """The :class:`PairMatch` of the region :func:`dense_copy_move` stored, if any."""
    import cv2

    from ..local import describe_transform, to_original

    if "copy_move_points_a" not in features:  # extracted without copy_move
        return no_match(name, name, 0)
    points_a = np.asarray(features["copy_move_points_a"], np.float32)
    points_b = np.asarray(features["copy_move_points_b"], np.float32)
    solid = np.asarray(features["copy_move_solid"], bool)
    inliers = int(solid.sum())
    if inliers < 3:
        return no_match(name, name, len(points_a))
    # The points are exact correspondences (a shift and a quarter turn): least squares.
    design = np.column_stack([points_a, np.ones(len(points_a))]).astype(np.float64)
    affine = np.linalg.lstsq(design, points_b.astype(np.float64), rcond=None)[0].T
    inlier_ratio = round(float(features["copy_move_share"]), 4)
    half = float(features["copy_move_block"]) / 2.0
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
    return PairMatch(name, name, "copy-move", evidence_score(inliers, inlier_ratio), inliers,
                     len(points_a), inlier_ratio, described["rotation_degrees"],
                     described["scale"], described["mirrored"], fractions[0], fractions[1],
                     points_a[solid], points_b[solid], regions[0], regions[1], matrix)


# ---------------------------------------------------------------------------------------
# Dense copy-move: the image correlated with itself, shifted and turned.

def _from_turned(x, y, turns: int, shape):
    """Coordinates in ``np.rot90(image, turns)`` -> the same pixel's in ``image``."""
    height, width = shape
    if turns == 0:
        return x, y
    if turns == 1:
        return width - 1 - y, x
    if turns == 2:
        return width - 1 - x, height - 1 - y
    return y, height - 1 - x


def _shifted_difference(image: np.ndarray, turned: np.ndarray, shift) -> np.ndarray:
    """``|image(p) - turned(p - shift)|``, 255 where ``p - shift`` falls outside."""
    height, width = image.shape
    rows, cols = turned.shape
    dy, dx = shift
    out = np.full((height, width), 255.0, np.float32)
    y0, y1, x0, x1 = max(0, dy), min(height, rows + dy), max(0, dx), min(width, cols + dx)
    if y1 > y0 and x1 > x0:
        out[y0:y1, x0:x1] = np.abs(image[y0:y1, x0:x1]
                                   - turned[y0 - dy:y1 - dy, x0 - dx:x1 - dx])
    return out


def _correlation_peaks(whitened: np.ndarray, spectrum: np.ndarray, size, turns: int, *,
                       peaks: int, min_offset: float) -> list[tuple[int, int]]:
    """The ``peaks`` shifts at which ``whitened`` best matches itself turned."""
    import cv2
    from scipy import fft

    height, width = whitened.shape
    turned = np.rot90(whitened, turns)
    rows, cols = turned.shape
    # Turned by 180 degrees and flipped back is the image itself: its spectrum is known.
    kernel = spectrum if turns == 2 else fft.rfft2(turned[::-1, ::-1], size, workers=1)
    raw = fft.irfft2(spectrum * kernel, size, workers=1)[:height + rows - 1, :width + cols - 1]
    raw = raw.astype(np.float32)
    # A copy gives a one-pixel peak; oriented texture gives ridges, smooth images a broad
    # hill around no shift. Rank by how far a value stands above a ring 2 px away.
    ring = np.ones((5, 5), np.uint8)
    ring[1:4, 1:4] = 0
    sharp = raw - cv2.dilate(raw, ring)
    dy = np.arange(raw.shape[0])[:, None] - (rows - 1)
    dx = np.arange(raw.shape[1])[None, :] - (cols - 1)
    if turns == 0:
        # A shift and its opposite pair the same two regions; small shifts are the image
        # matching itself.
        sharp[(dy < 0) | ((dy == 0) & (dx <= 0)) | (dy ** 2 + dx ** 2 < min_offset ** 2)] \
            = -np.inf
    found = []
    for _ in range(peaks):
        i, j = np.unravel_index(int(np.argmax(sharp)), sharp.shape)
        if not np.isfinite(sharp[i, j]):
            break
        # The exact shift is the raw maximum next to the sharpest point (a peak may
        # straddle two pixels in ``sharp``).
        top, left = max(0, i - 1), max(0, j - 1)
        window = raw[top:i + 2, left:j + 2]
        di, dj = np.unravel_index(int(np.argmax(window)), window.shape)
        found.append((int(dy[top + di, 0]), int(dx[0, left + dj])))
        sharp[max(0, i - 4):i + 5, max(0, j - 4):j + 5] = -np.inf
    return found


def _matched_region(grey: np.ndarray, turned: np.ndarray, turns: int, shift, *,
                    block: int, min_offset: float, uniqueness: float,
                    max_difference: float) -> np.ndarray:
    """Block centres where ``grey`` equals ``turned`` shifted by ``shift``, and only there.

    A block matches when its mean absolute difference is at most ``max_difference`` and
    below ``uniqueness`` times the smallest difference at the eight shifts 2 px around:
    flat areas and straight edges match at neighbouring shifts too, a copy only at its
    own. The largest connected matched area is returned.
    """
    import cv2

    height, width = grey.shape
    blur = lambda shifted: cv2.blur(_shifted_difference(grey, turned, shifted), (block, block))
    difference = blur(shift)
    matched = difference <= max_difference
    half = block // 2
    matched[:half], matched[height - half:] = False, False
    matched[:, :half], matched[:, width - half:] = False, False
    if matched.sum() < block * block:  # cannot hold one whole block: skip the ring
        return np.zeros_like(matched)
    # The ring only where the shift matched: a window one block wider than those pixels
    # (the blur sees half a block around each) gives the same values, for less work.
    rows, cols = np.nonzero(matched)
    top, bottom = max(0, rows.min() - block), min(height, rows.max() + block + 1)
    left, right = max(0, cols.min() - block), min(width, cols.max() + block + 1)
    window = grey[top:bottom, left:right]
    nearby = np.full(window.shape, np.inf, np.float32)
    for ring_y in (-2, 0, 2):
        for ring_x in (-2, 0, 2):
            if ring_y or ring_x:
                moved = (shift[0] + ring_y - top, shift[1] + ring_x - left)
                # the window's pixel p is the image's p + (top, left)
                nearby = np.minimum(nearby, cv2.blur(_shifted_difference(
                    window, turned, moved), (block, block)))
    matched[top:bottom, left:right] &= difference[top:bottom, left:right] < \
        uniqueness * nearby
    # A pixel whose partner is close by is an object matching itself (a symmetric shape
    # turned about its centre), not a copy.
    rows, cols = np.nonzero(matched)
    source_x, source_y = _from_turned(cols - shift[1], rows - shift[0], turns,
                                      (height, width))
    near = (source_x - cols) ** 2 + (source_y - rows) ** 2 < min_offset ** 2
    matched[rows[near], cols[near]] = False
    count, labels, stats, _ = cv2.connectedComponentsWithStats(matched.astype(np.uint8),
                                                               connectivity=8)
    if count < 2:
        return np.zeros_like(matched)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def dense_copy_move(grey: np.ndarray, *, block: int = 16, min_offset: float = 16.0,
                     peaks: int = 2, uniqueness: float = 0.5, max_difference: float = 8.0,
                     spacing: int = 8, max_side: int = 512) -> dict[str, np.ndarray]:
    """Dense copy-move evidence of one grey image, as arrays a cache can store.

    1. **Candidate shifts.** The image is whitened (high-pass, divided by the local
       contrast) and cross-correlated, by FFT, with itself turned by 0, 90 and 180
       degrees (270 is 90 with the copies' roles swapped). A copied region adds up to a
       one-pixel peak at its shift; the ``peaks`` sharpest of each turn are kept (on the
       planted benchmark the copy was always the sharpest; the second is a margin).
    2. **Region.** At each candidate, :func:`_matched_region` compares pixels: blocks
       that match there and nowhere 2 px around.
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
        ``copy_move_share`` (float) and ``copy_move_block`` (block side in ``grey``'s
        pixels). ``K == 0`` when nothing matched.

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
    from scipy import fft

    empty = {"copy_move_points_a": np.zeros((0, 2), np.float32),
             "copy_move_points_b": np.zeros((0, 2), np.float32),
             "copy_move_solid": np.zeros(0, bool),
             "copy_move_share": np.array(0.0), "copy_move_block": np.array(float(block))}
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
    size = (fft.next_fast_len(height + max(height, width)),
            fft.next_fast_len(width + max(height, width)))
    spectrum = fft.rfft2(whitened, size, workers=1)
    candidates = []
    for turns in (0, 1, 2):
        turned = np.rot90(grey, turns)
        for shift in _correlation_peaks(whitened, spectrum, size, turns, peaks=peaks,
                                        min_offset=min_offset):
            region = _matched_region(grey, turned, turns, shift, block=block,
                                     min_offset=min_offset, uniqueness=uniqueness,
                                     max_difference=max_difference)
            if region.any():
                rows, cols = np.nonzero(region)
                source_x, source_y = _from_turned(cols - shift[1], rows - shift[0], turns,
                                                  (height, width))
                covered = region.copy()
                covered[source_y, source_x] = True
                candidates.append((turns, shift, region, covered))
    best, best_score = None, 0.0
    for index, (turns, shift, region, _) in enumerate(candidates):
        others = np.zeros_like(region)
        for other, (_, _, _, covered) in enumerate(candidates):
            if other != index:
                others |= covered
        exclusive = region & ~others
        share = float(exclusive.sum()) / float(region.sum())
        solid = cv2.erode(exclusive.astype(np.uint8), np.ones((block, block), np.uint8),
                          borderValue=0).astype(bool)
        grid = np.zeros_like(exclusive)
        grid[::spacing, ::spacing] = True
        rows, cols = np.nonzero(exclusive & grid)
        score = evidence_score(int(solid[rows, cols].sum()), share)
        if score > best_score:
            source_x, source_y = _from_turned(cols - shift[1], rows - shift[0], turns,
                                              (height, width))
            best_score = score
            best = (np.column_stack([source_x, source_y]), np.column_stack([cols, rows]),
                    solid[rows, cols], share)
    if best is None:
        return empty
    points_a, points_b, solid, share = best
    # Back to the pixels features were extracted from (pixel centres stay centres).
    back = lambda points: ((points + 0.5) / shrink - 0.5).astype(np.float32)
    return {"copy_move_points_a": back(points_a), "copy_move_points_b": back(points_b),
            "copy_move_solid": solid.astype(bool), "copy_move_share": np.array(share),
            "copy_move_block": np.array(block / shrink)}

