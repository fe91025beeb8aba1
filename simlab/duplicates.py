"""Find duplicated images in a folder: every pair, features extracted once.

An image-integrity check compares every panel of a paper with every other one, looking
for a panel that reappears rotated, mirrored, recoloured or cropped, or a region copied
inside one panel (copy-move). Comparing every pair with SIFT from scratch (seed 000's
loop) costs two extractions per pair and grows with N². Here:

1. **Encode once.** SIFT (or RootSIFT) keypoints are extracted once per image, in
   parallel. The features are a dict of plain arrays (``np.savez`` / ``np.load(...,
   allow_pickle=False)`` round-trip them), so a cache can hold them.
2. **Mirrors for free.** Mirroring an image mirrors each SIFT descriptor by a fixed
   permutation of its 128 bins (:func:`mirror_descriptors`), so matching against the
   flipped descriptors finds mirrored copies without a second extraction.
3. **Prune cheaply.** Each image becomes a tf-idf bag of visual words over a vocabulary
   learnt from the folder and closed under mirroring; only each image's few most similar
   images (normal or mirrored) go on to geometric verification, so the expensive step
   grows with N, not N².
4. **Verify.** Ratio-test matches are kept only when one similarity transform (rotation,
   uniform scale, translation; RANSAC) explains them *and* turns and scales their
   keypoints as it should; a pair is flagged with at least ``min_inliers`` such inliers
   making up a high enough ``inlier_ratio`` of the matches, which is what keeps grey,
   low-texture panels from drowning in chance pairs.
5. **Copy-move.** Each image is also matched against itself, two ways. Keypoints: nearest
   neighbours other than the keypoint itself, away from its own position, verified the
   same way (finds copies that were scaled or turned by any angle). Dense: a region of
   some 60-80 px described by SIFT's large keypoints also describes its surroundings, so
   those descriptors differ between the two copies; a whitened image correlated with itself
   (and with itself turned by 90 and 180 degrees) shows a copied region as a sharp peak at
   its shift, and a pixel comparison at that shift finds the region (:func:`find_copy_move`).
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .errors import InvalidParameterError, SimlabError
from .registry import Features
from .vocabulary import one_blas_thread

__all__ = ["find", "encode_folder", "extract_features", "mirror_descriptors",
           "candidate_pairs", "verify_pair", "find_copy_move", "describe_transform",
           "PairMatch", "METHODS", "COLUMNS"]

#: Keypoint methods whose descriptors have the SIFT layout that mirroring permutes.
METHODS = ("rootsift", "sift")
#: Columns of the frame :func:`find` returns.
COLUMNS = ("a", "b", "kind", "score", "inliers", "matches", "inlier_ratio",
           "rotation_degrees", "scale", "mirrored", "overlap_a", "overlap_b")


def _mirror_permutation() -> np.ndarray:
    # SIFT descriptors are 4x4 spatial cells x 8 orientation bins, laid out in the
    # keypoint's own frame (x along its orientation). Mirroring the image mirrors that
    # frame across its x axis: cell rows reverse and each orientation bin b becomes -b.
    index = np.arange(128).reshape(4, 4, 8)
    return np.ascontiguousarray(index[::-1][..., (-np.arange(8)) % 8].ravel())


_MIRROR = _mirror_permutation()


def mirror_descriptors(descriptors: np.ndarray) -> np.ndarray:
    """SIFT/RootSIFT descriptors of the left-right mirrored image, by permutation.

    The keypoints stay where they are (at ``x' = w - 1 - x`` in the mirrored image);
    only the descriptors change. Equal to extracting on the mirrored image up to
    resampling noise (about 97 % as many verified matches).

    Examples
    --------
    >>> d = np.arange(256, dtype=np.float32).reshape(2, 128)
    >>> bool((mirror_descriptors(mirror_descriptors(d)) == d).all())   # an involution
    True
    """
    return np.ascontiguousarray(descriptors[:, _MIRROR])


def extract_features(image: np.ndarray, *, method: str = "rootsift",
                     max_keypoints: int = 1000, contrast_threshold: float = 0.01,
                     scale: float = 1.0, copy_move: bool = False,
                     fine_octave_below: int | None = None) -> Features:
    """Keypoints and descriptors of one RGB image, as arrays a cache can store.

    The grey image is first stretched so its 0.5-99.5 percentiles span 0-255 (measured
    without a black or white fill around the picture, see
    :func:`simlab.borders.fill_mask`), and SIFT's contrast threshold is a quarter of
    OpenCV's default: dim, low-contrast panels (microscopy, fundus images) then get
    keypoints too, and a copy whose contrast was changed is detected at the same
    places. The ``max_keypoints`` strongest are kept.

    Parameters
    ----------
    image : ndarray
        ``(H, W, 3)`` uint8 RGB (see :func:`simlab.load_image`).
    method : {"rootsift", "sift"}
        RootSIFT (Hellinger-normalised SIFT, as :mod:`simlab.methods.keypoints`) or SIFT.
    max_keypoints : int
        Keep the strongest this many keypoints.
    contrast_threshold : float
        SIFT's ``contrastThreshold`` (OpenCV's default is 0.04).
    scale : float
        How much the image was shrunk before extraction (1.0: not at all); stored so
        transforms can be reported in the original pixels.
    copy_move : bool
        Also look for a region repeated inside the image by dense matching (see
        :func:`find_copy_move`), which needs the pixels; about 40 ms for a 300-px image.
    fine_octave_below : int, optional
        SIFT first doubles the image and looks for keypoints finer than a pixel; that
        octave costs about three quarters of the detection time, and its keypoints are
        the first to vanish under JPEG or shrinking. Images whose longest side is at
        least this are described from their own resolution upwards instead (halved,
        which SIFT doubles back); coordinates and sizes stay in ``image``'s pixels.
        None: always the doubled octave.

    Returns
    -------
    dict of str to ndarray
        ``points``, ``sizes``, ``angles``, ``responses``, ``descriptors``, ``shape``
        (of the image given) and ``scale``; with ``copy_move``, also the ``copy_move_*``
        arrays of :func:`_dense_copy_move`. No object arrays, so a copy saved with
        ``np.savez`` loads with ``allow_pickle=False``. The cache key of a saved copy is
        the file plus ``method, max_side, max_keypoints, contrast_threshold, copy_move``.

    Examples
    --------
    >>> from simlab import samples
    >>> f = extract_features(samples.sample_image("camera", max_side=128))
    >>> f["descriptors"].shape[1], f["shape"].tolist()
    (128, [128, 128])
    """
    import cv2

    from .borders import fill_mask
    from .methods.keypoints import keypoint_arrays, root_descriptors

    if method not in METHODS:
        raise InvalidParameterError(
            f"duplicates needs a SIFT-layout method; got {method!r}, try one of: "
            f"{', '.join(METHODS)}")
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    # The stretch is measured on the picture, not on a rotated copy's white corners:
    # they would pin the top percentile at 255 and leave a dark picture unstretched
    # (a rotated night sky kept 6 keypoints of its original's 633).
    fill = fill_mask(grey)
    low, high = np.percentile(grey if fill is None else grey[~fill], (0.5, 99.5))
    if high > low:
        grey = cv2.convertScaleAbs(grey, alpha=255.0 / (high - low),
                                   beta=-low * 255.0 / (high - low))
    sift = cv2.SIFT_create(nfeatures=int(max_keypoints),
                           contrastThreshold=float(contrast_threshold))
    halve = fine_octave_below is not None and max(grey.shape) >= int(fine_octave_below)
    searched = cv2.resize(grey, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA) \
        if halve else grey
    keypoints, descriptors = sift.detectAndCompute(searched, None)
    features = keypoint_arrays(image.shape, keypoints, descriptors, 128, np.float32)
    if halve:  # back to the pixels of ``image`` (pixel centres stay centres)
        features["points"] = features["points"] * 2.0 + 0.5
        features["sizes"] = features["sizes"] * 2.0
    if method == "rootsift":
        features["descriptors"] = root_descriptors(features["descriptors"])
    features["scale"] = np.array(scale, np.float64)
    if copy_move:
        features.update(_dense_copy_move(grey))
    return features


def _load_and_extract(path: Path, max_side: int | None, options: dict[str, Any]
                      ) -> Features:
    from .io import load_scaled

    image, scale = load_scaled(path, max_side)
    return extract_features(image, scale=scale, **options)


def encode_folder(folder_or_paths: str | os.PathLike | Iterable[str | os.PathLike], *,
                  method: str = "rootsift", max_side: int | None = 800,
                  max_keypoints: int = 1000, contrast_threshold: float = 0.01,
                  copy_move: bool = False, workers: int = 2, progress: bool = True
                  ) -> tuple[dict[str, Features], list[dict[str, str]]]:
    """Features of every readable image, extracted once, in parallel.

    Threads suffice: OpenCV's SIFT and Pillow's decoders release the GIL. Measured on
    two cores with 512-px images: 35 ms per image with two threads, 45 ms with one
    (OpenCV already spreads part of SIFT over both cores). Options are those of
    :func:`extract_features` (``copy_move`` adds the dense copy-move search).

    Returns
    -------
    features : dict
        Path (as given by :func:`simlab.list_images`) to its features.
    skipped : list of dict
        ``{"path", "reason"}`` for each file that could not be read; never raises for one.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "empty.png").write_bytes(b"")
    >>> features, skipped = encode_folder(d, progress=False)
    >>> features, skipped[0]["reason"].startswith("the file is empty")
    ({}, True)
    """
    from tqdm.auto import tqdm

    from .io import scan_images

    options = {"method": method, "max_keypoints": max_keypoints,
               "contrast_threshold": contrast_threshold, "copy_move": copy_move}
    extract_features(np.zeros((16, 16, 3), np.uint8), **options)  # bad options raise here
    listed, unlisted = scan_images(folder_or_paths)
    paths = [str(p) for p in listed]
    features: dict[str, Features] = {}
    skipped: list[dict[str, str]] = list(unlisted)  # SVG, FIFOs, link loops...

    def work(path: str):
        try:
            return path, _load_and_extract(Path(path), max_side, options), None
        except SimlabError as exc:
            return path, None, exc.reason_for(path)

    with ThreadPoolExecutor(max(1, int(workers))) as pool:
        results = pool.map(work, paths)
        for path, feats, reason in tqdm(results, total=len(paths), desc="features",
                                        unit="image", disable=not progress):
            if feats is None:
                skipped.append({"path": path, "reason": reason})
            else:
                features[path] = feats
    return features, skipped


# ---------------------------------------------------------------------------------------
# Pruning: a bag of visual words closed under mirroring.

def _vocabulary(descriptor_sets: Sequence[np.ndarray], *, top: int = 128,
                branches: int = 128, seed: int = 0, sample: int = 100_000):
    """A :class:`simlab.vocabulary.Vocabulary` tree of ``2 * top * branches`` words,
    closed under mirroring.

    Cell ``top + i`` is the mirror of cell ``i`` (its centre and its sub-centres are
    mirrored), so the word of a mirrored descriptor is the mirror of its word (see
    :func:`_mirrored_words`): a mirrored image's histogram is a permutation of the
    original's, with no second assignment.
    """
    from .vocabulary import Vocabulary, lloyd, nearest_centre

    rng = np.random.default_rng(seed)
    pool = np.concatenate([d for d in descriptor_sets if len(d)]).astype(np.float32)
    if len(pool) > sample:
        pool = pool[rng.choice(len(pool), sample, replace=False)]
    # At least ~4 descriptors per cell, so centres are averages: a centre that is a lone
    # sample could coincide with the mirror of another and break the permutation.
    top = max(1, min(top, len(pool) // (4 * branches) or 1))
    centres = lloyd(pool, top, rng, 4)
    top_centres = np.concatenate([centres, mirror_descriptors(centres)])
    # Each cell learns from its own members and from the mirrors of its twin's members,
    # which is what it will receive once the whole folder and its mirror are assigned.
    both = np.concatenate([pool, mirror_descriptors(pool)])
    cells = nearest_centre(both, top_centres)
    sub = np.empty((2 * top, branches, pool.shape[1]), np.float32)
    for cell in range(top):
        members = both[cells == cell]
        if len(members) == 0:
            members = top_centres[cell:cell + 1]
        found = lloyd(members, branches, rng, 4)
        # Cells with fewer members than branches repeat their last centre (never chosen
        # twice: the nearest search keeps the first), keeping the layout rectangular.
        found = np.concatenate([found, np.repeat(found[-1:], branches - len(found), 0)])
        sub[cell], sub[cell + top] = found, mirror_descriptors(found)
    return Vocabulary(top_centres, sub, len(pool))


def _mirrored_words(vocabulary) -> np.ndarray:
    """Word -> the word of its mirror image, for a vocabulary from :func:`_vocabulary`."""
    cells, branches = vocabulary.sub.shape[:2]
    twin = (np.arange(cells) + cells // 2) % cells
    return (twin[:, None] * branches + np.arange(branches)[None, :]).ravel()


def _bag_of_words(descriptor_sets: Sequence[np.ndarray], vocabulary):
    """tf-idf rows (L2-normalised, CSR) and the word permutation that mirrors them.

    Term frequency is presence (0/1): repeated structure (burstiness) in one image
    should not outweigh many distinct shared words.
    """
    from scipy import sparse

    words = vocabulary.words
    mirror = _mirrored_words(vocabulary)
    owners = np.repeat(np.arange(len(descriptor_sets)), [len(d) for d in descriptor_sets])
    if len(owners):
        found = vocabulary.assign(np.concatenate(descriptor_sets).astype(np.float32))
    else:
        found = np.zeros(0, np.int64)
    present = sparse.csr_matrix((np.ones(len(owners), np.float32), (owners, found)),
                                shape=(len(descriptor_sets), words))
    present.sum_duplicates()
    present.data[:] = 1.0
    cols_ = present.indices
    # Document frequency over both orientations, so a mirrored row is exactly the
    # permuted row (idf[w] == idf[mirror[w]]).
    frequency = np.bincount(cols_, minlength=words).astype(np.float64)
    frequency = frequency + frequency[mirror]
    idf = np.log((2 * len(descriptor_sets) + 1) / (frequency + 1)).astype(np.float32)
    weighted = present.multiply(idf[None, :]).tocsr()
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    weighted = sparse.diags(1.0 / norms).dot(weighted).tocsr()
    return weighted, mirror


def candidate_pairs(descriptor_sets: Sequence[np.ndarray], *, neighbours: int = 6,
                    min_similarity: float = 0.02, seed: int = 0
                    ) -> list[tuple[int, int, bool, float]]:
    """Pairs worth verifying: each image's most similar others, plain or mirrored.

    Each image keeps its ``neighbours`` highest tf-idf cosine similarities among the
    ``2 (N - 1)`` candidates (every other image as is, and mirrored), so the number of
    pairs verified is at most ``neighbours * N``.

    Returns
    -------
    list of (i, j, mirrored, similarity)
        ``i < j`` index into ``descriptor_sets``; ``mirrored`` says whether ``j`` is to
        be matched mirrored. Sorted by decreasing similarity.

    Examples
    --------
    >>> from simlab import samples
    >>> a = extract_features(samples.sample_image("camera", max_side=256))["descriptors"]
    >>> b = extract_features(samples.sample_image("coffee", max_side=256))["descriptors"]
    >>> candidate_pairs([a, mirror_descriptors(a), b], neighbours=1)[0][:3]
    (0, 1, True)
    """
    count = len(descriptor_sets)
    # Fewer than two images with keypoints (flat panels): nothing to learn words from.
    if sum(len(d) > 0 for d in descriptor_sets) < 2:
        return []
    with one_blas_thread():
        vocabulary = _vocabulary(descriptor_sets, seed=seed)
        rows, mirror = _bag_of_words(descriptor_sets, vocabulary)
    mirrored_rows = rows[:, mirror]
    keep = min(neighbours, 2 * (count - 1))
    best: dict[tuple[int, int, bool], float] = {}
    block = 512  # rows at a time: the dense similarity block stays small for large N
    for start in range(0, count, block):
        stop = min(count, start + block)
        plain = (rows[start:stop] @ rows.T).toarray()
        flipped = (rows[start:stop] @ mirrored_rows.T).toarray()
        local = np.arange(stop - start)
        plain[local, local + start] = -1.0  # an image is not its own duplicate here;
        flipped[local, local + start] = -1.0  # copy-move is checked separately
        both = np.concatenate([plain, flipped], axis=1)
        top = np.argpartition(-both, keep - 1, axis=1)[:, :keep]
        for offset, columns in enumerate(top):
            i = start + offset
            for column in columns:
                similarity = float(both[offset, column])
                if similarity < min_similarity:
                    continue
                j, mirrored = int(column % count), bool(column >= count)
                key = (min(i, j), max(i, j), mirrored)
                if similarity > best.get(key, -1.0):
                    best[key] = similarity
    return sorted(((i, j, m, s) for (i, j, m), s in best.items()), key=lambda t: -t[3])


# ---------------------------------------------------------------------------------------
# Verification: ratio-test matches that one similarity transform explains.

@dataclass(frozen=True)
class PairMatch:
    """A verified comparison of two images (or of one with itself, for copy-move).

    Coordinates (``points_*``, ``region_*``) are in the pixels features were extracted
    from (after ``max_side``); ``matrix`` maps a to b in the original pixels.
    """

    a: str
    b: str
    kind: str
    score: float
    inliers: int
    matches: int
    inlier_ratio: float
    rotation_degrees: float
    scale: float
    mirrored: bool
    overlap_a: float
    overlap_b: float
    points_a: np.ndarray = field(repr=False, compare=False)
    points_b: np.ndarray = field(repr=False, compare=False)
    region_a: np.ndarray = field(repr=False, compare=False)
    region_b: np.ndarray = field(repr=False, compare=False)
    matrix: np.ndarray | None = field(default=None, repr=False, compare=False)

    def row(self) -> dict[str, Any]:
        """The table row: the fields named in :data:`COLUMNS`."""
        return {name: getattr(self, name) for name in COLUMNS}

    def transform(self) -> dict[str, Any]:
        """The estimated transform, JSON-ready (for ``simlab pairs --json``)."""
        return {"rotation_degrees": self.rotation_degrees, "scale": self.scale,
                "mirrored": self.mirrored, "overlap_a": self.overlap_a,
                "overlap_b": self.overlap_b, "kind": self.kind}


def describe_transform(matrix: np.ndarray) -> dict[str, Any]:
    """Rotation, scale and mirroring of a 2-D similarity (2x3 or 3x3, a -> b).

    Angles follow :func:`simlab.compare` (image coordinates, y down: positive is
    clockwise on screen, so ``samples.rotate(image, 90)``, counter-clockwise, reads -90).
    A mirrored transform is read as "mirror a left-right, then rotate and scale".

    Examples
    --------
    >>> describe_transform(np.array([[0, 1, 0], [-1, 0, 99]], float))   # np.rot90
    {'rotation_degrees': -90.0, 'scale': 1.0, 'mirrored': False}
    >>> describe_transform(np.array([[-2, 0, 99], [0, 2, 0]], float))   # mirror, x2
    {'rotation_degrees': 0.0, 'scale': 2.0, 'mirrored': True}
    """
    from .methods.keypoints import _describe_transform

    linear = np.asarray(matrix, np.float64)[:2, :2]
    mirrored = bool(np.linalg.det(linear) < 0)
    if mirrored:
        linear = linear @ np.diag([-1.0, 1.0])  # undo the left-right mirror first
    described = _describe_transform(linear)
    rotation = -((-described["rotation_degrees"] + 180.0) % 360.0 - 180.0)  # (-180, 180]
    return {"rotation_degrees": round(rotation + 0.0, 2), "scale": described["scale"],
            "mirrored": mirrored}


def _homogeneous(matrix: np.ndarray) -> np.ndarray:
    out = np.eye(3)
    out[:np.asarray(matrix).shape[0]] = matrix
    return out


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def _outline(shape: np.ndarray) -> np.ndarray:
    # Pixel centres are at integer coordinates, so the image spans -0.5 .. side - 0.5.
    bottom, right = (float(v) - 0.5 for v in shape[:2])
    return np.array([[-0.5, -0.5], [right, -0.5], [right, bottom], [-0.5, bottom]],
                    np.float32)


def _overlap(matrix: np.ndarray, shape_a: np.ndarray, shape_b: np.ndarray):
    """Fractions of a and of b that the other covers once aligned, and the regions."""
    import cv2

    warped = _apply(matrix, _outline(shape_a)).astype(np.float32)
    area, region_b = cv2.intersectConvexConvex(warped, _outline(shape_b))
    if region_b is None or area <= 0:
        empty = np.zeros((0, 2), np.float32)
        return 0.0, 0.0, empty, empty
    region_b = region_b.reshape(-1, 2).astype(np.float32)
    region_a = _apply(np.linalg.inv(matrix), region_b).astype(np.float32)
    area_a = area / abs(np.linalg.det(matrix[:2, :2]))
    fraction = lambda value, shape: round(min(1.0, value / float(shape[0] * shape[1])), 4)
    return fraction(area_a, shape_a), fraction(area, shape_b), region_a, region_b


def _distinct(points: np.ndarray) -> int:
    # SIFT puts several keypoints (one per dominant orientation) at one place; count
    # places, so a few blobs cannot add up to many "inliers".
    return len(np.unique(np.round(points), axis=0)) if len(points) else 0


def _consistent(matrix: np.ndarray, angles_a: np.ndarray, angles_b: np.ndarray,
                sizes_a: np.ndarray, sizes_b: np.ndarray, *, max_angle: float = 20.0,
                max_size_ratio: float = 1.5) -> np.ndarray:
    """Which matches turn and grow their keypoints as the fitted similarity does.

    A true match rotates a keypoint's orientation by the transform's angle and scales
    its size by its scale (measured: 90 % within 4 degrees and 10 %); a chance match
    between look-alike patches does not. Checking both drops most chance inliers, which
    is what keeps low-texture images from reaching ``min_inliers`` by luck.
    """
    rotation = math.degrees(math.atan2(matrix[1, 0], matrix[0, 0]))
    scale = math.hypot(matrix[0, 0], matrix[1, 0])
    turn = (angles_b - angles_a - rotation + 180.0) % 360.0 - 180.0
    growth = np.abs(np.log(np.maximum(sizes_b, 1e-6) / np.maximum(sizes_a * scale, 1e-6)))
    return (np.abs(turn) <= max_angle) & (growth <= math.log(max_size_ratio))


def _kind(same_image: bool, mirrored: bool, rotation: float, overlap_a: float,
          overlap_b: float) -> str:
    if same_image:
        return "copy-move"
    if mirrored:
        return "mirror"
    if abs(rotation) > 45.0:
        return "rotation"
    if min(overlap_a, overlap_b) < 0.85:
        return "crop"
    return "copy"  # same orientation, all of each image: exact, re-saved or recoloured


def _flip_x(width: float) -> np.ndarray:
    # Pixel x in an image of `width` columns <-> x in its left-right mirror.
    return np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def _to_original(matrix: np.ndarray, features_a: Features, features_b: Features):
    shrink_a = np.diag([float(features_a["scale"])] * 2 + [1.0])
    shrink_b = np.diag([float(features_b["scale"])] * 2 + [1.0])
    return np.linalg.inv(shrink_b) @ matrix @ shrink_a


def _no_match(a: str, b: str, matches: int) -> PairMatch:
    empty = np.zeros((0, 2), np.float32)
    return PairMatch(a, b, "none", 0.0, 0, matches, 0.0, 0.0, 1.0, False, 0.0, 0.0,
                     empty, empty, empty, empty, None)


def _score(inliers: int, inlier_ratio: float) -> float:
    # Certainty, not size: grows with the distinct inliers and with the share of the
    # ratio-test matches they explain; 0.5 at 12 inliers making half the matches.
    return round(float(inlier_ratio * inliers / (inliers + 6.0)), 4)


def verify_pair(features_a: Features, features_b: Features, *, mirrored: bool = False,
                ratio: float = 0.75, ransac_threshold: float = 4.0,
                names: tuple[str, str] = ("a", "b")) -> PairMatch:
    """Match a against b (or against b mirrored) and fit one similarity with RANSAC.

    Parameters
    ----------
    features_a, features_b : dict
        From :func:`extract_features`.
    mirrored : bool
        Match against b's mirrored descriptors (:func:`mirror_descriptors`); RANSAC
        then runs in the mirrored frame, and the transform reported is the whole one.
    ratio : float
        Lowe's ratio test.
    ransac_threshold : float
        Largest reprojection error of an inlier, in extracted pixels.
    names : (str, str)
        What to call a and b in the result.

    Returns
    -------
    PairMatch
        Kind ``"none"`` and 0 inliers when no transform could be fitted. Whether it is
        a duplicate is decided by :func:`find` (``min_inliers``, ``min_inlier_ratio``,
        ``threshold``).

    Examples
    --------
    >>> from simlab import samples
    >>> image = samples.sample_image("astronaut", max_side=256)
    >>> a, b = extract_features(image), extract_features(samples.flip(image))
    >>> match = verify_pair(a, b, mirrored=True)
    >>> match.kind, match.mirrored, match.inliers > 100, match.overlap_b > 0.99
    ('mirror', True, True, True)
    """
    from .methods.keypoints import match_descriptors, verify_matches

    descriptors_b, points_b = features_b["descriptors"], features_b["points"]
    angles_b = features_b["angles"]
    width_b = float(features_b["shape"][1])
    if mirrored:
        descriptors_b = mirror_descriptors(descriptors_b)
        points_b = _apply(_flip_x(width_b), points_b)
        angles_b = (180.0 - angles_b) % 360.0  # keypoint orientations, mirrored
    pairs = match_descriptors(features_a["descriptors"], descriptors_b, ratio=ratio)
    if len(pairs) < 3:
        return _no_match(*names, len(pairs))
    source = features_a["points"][pairs[:, 0]]
    target = points_b[pairs[:, 1]]
    mask, matrix = verify_matches(source, target, model="similarity",
                                  threshold=ransac_threshold, confidence=0.995)
    if matrix is None:
        return _no_match(*names, len(pairs))
    mask = mask & _consistent(
        matrix, features_a["angles"][pairs[:, 0]], angles_b[pairs[:, 1]],
        features_a["sizes"][pairs[:, 0]], features_b["sizes"][pairs[:, 1]])
    if mask.sum() < 2:  # nothing the similarity explains survives the checks
        return _no_match(*names, len(pairs))
    matrix = _homogeneous(matrix)
    if mirrored:
        matrix = _flip_x(width_b) @ matrix
    inliers_a = source[mask]
    inliers_b = features_b["points"][pairs[mask, 1]]
    inliers = min(_distinct(inliers_a), _distinct(inliers_b))
    matches = min(_distinct(source), _distinct(target))
    inlier_ratio = round(min(1.0, inliers / matches), 4)
    overlap_a, overlap_b, region_a, region_b = _overlap(matrix, features_a["shape"],
                                                        features_b["shape"])
    original = _to_original(matrix, features_a, features_b)
    described = describe_transform(original)
    kind = _kind(False, described["mirrored"], described["rotation_degrees"], overlap_a,
                 overlap_b)
    return PairMatch(names[0], names[1], kind, _score(inliers, inlier_ratio), inliers,
                     matches, inlier_ratio, described["rotation_degrees"],
                     described["scale"], described["mirrored"], overlap_a, overlap_b,
                     inliers_a, inliers_b, region_a, region_b, original)


def _self_matches(features: Features, ratio: float, min_offset: float) -> np.ndarray:
    """Unordered keypoint pairs (i < j) of one image whose descriptors match.

    For each keypoint, the nearest and second-nearest *other* descriptors are looked up
    among keypoints at least ``min_offset`` pixels away (SIFT puts several keypoints at
    one place, and a feature always resembles itself shifted by a pixel); the nearest is
    kept when it passes the ratio test.
    """
    descriptors = features["descriptors"].astype(np.float32)
    points = features["points"]
    if len(descriptors) < 3:
        return np.zeros((0, 2), np.int64)
    squared = np.einsum("ij,ij->i", descriptors, descriptors)
    distance = squared[:, None] + squared[None, :] - 2.0 * (descriptors @ descriptors.T)
    offsets = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)
    distance[offsets < min_offset] = np.inf
    two = np.argpartition(distance, 1, axis=1)[:, :2]
    rows = np.arange(len(descriptors))
    first, second = distance[rows, two[:, 0]], distance[rows, two[:, 1]]
    swap = first > second
    nearest = np.where(swap, two[:, 1], two[:, 0])
    first, second = np.minimum(first, second), np.maximum(first, second)
    first, second = np.sqrt(np.maximum(first, 0)), np.sqrt(np.maximum(second, 0))
    keep = np.isfinite(first) & (first < ratio * second)
    pairs = np.sort(np.stack([rows[keep], nearest[keep]], axis=1), axis=1)
    return np.unique(pairs, axis=0)


def find_copy_move(features: Features, *, ratio: float = 0.75, ransac_threshold: float = 4.0,
                   min_offset: float = 16.0, name: str = "a") -> PairMatch:
    """A region repeated inside one image: the image matched against itself.

    Two searches, the more certain one reported:

    * **Keypoints.** Pairs from :func:`_self_matches` are given to RANSAC in both
      directions (which copy is the source is unknown); the similarity found maps one
      copy onto the other. This finds copies that were scaled or turned by any angle,
      but only when keypoints small enough to lie wholly inside the copied region match.
    * **Dense** (features extracted with ``copy_move=True``): the region found by
      :func:`_dense_copy_move`, for copies shifted and turned by a multiple of 90
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

    from .methods.keypoints import verify_matches

    pairs = _self_matches(features, ratio, min_offset)
    if len(pairs) < 3:
        return _no_match(name, name, len(pairs))
    points = features["points"]
    source = np.concatenate([points[pairs[:, 0]], points[pairs[:, 1]]])
    target = np.concatenate([points[pairs[:, 1]], points[pairs[:, 0]]])
    mask, matrix = verify_matches(source, target, model="similarity",
                                  threshold=ransac_threshold, confidence=0.995)
    if matrix is None:
        return _no_match(name, name, len(pairs))
    order = np.concatenate([pairs, pairs[:, ::-1]])
    mask = mask & _consistent(
        matrix, features["angles"][order[:, 0]], features["angles"][order[:, 1]],
        features["sizes"][order[:, 0]], features["sizes"][order[:, 1]])
    # One direction per pair: a copy rotated by 180 degrees fits both ways round.
    forward, backward = np.split(mask, 2)
    backward &= ~forward
    if forward.sum() + backward.sum() < 2:
        return _no_match(name, name, len(pairs))
    inliers_a = np.concatenate([source[:len(pairs)][forward], source[len(pairs):][backward]])
    inliers_b = np.concatenate([target[:len(pairs)][forward], target[len(pairs):][backward]])
    inliers = min(_distinct(inliers_a), _distinct(inliers_b))
    matches = _distinct(np.concatenate([points[pairs[:, 0]], points[pairs[:, 1]]], axis=1))
    inlier_ratio = round(min(1.0, inliers / max(1, matches)), 4)
    image_area = float(features["shape"][0] * features["shape"][1])
    regions, fractions = [], []
    for found in (inliers_a, inliers_b):
        hull = cv2.convexHull(found.astype(np.float32)).reshape(-1, 2) if len(found) >= 3 \
            else np.zeros((0, 2), np.float32)
        regions.append(hull)
        fractions.append(round(float(cv2.contourArea(hull)) / image_area, 4) if len(hull)
                         else 0.0)
    matrix = _to_original(_homogeneous(matrix), features, features)
    described = describe_transform(matrix)
    return PairMatch(name, name, "copy-move", _score(inliers, inlier_ratio), inliers,
                     matches, inlier_ratio, described["rotation_degrees"],
                     described["scale"], described["mirrored"], fractions[0], fractions[1],
                     inliers_a, inliers_b, regions[0], regions[1], matrix)


def _dense_match(features: Features, name: str) -> PairMatch:
    """The :class:`PairMatch` of the region :func:`_dense_copy_move` stored, if any."""
    import cv2

    if "copy_move_points_a" not in features:  # extracted without copy_move
        return _no_match(name, name, 0)
    points_a = np.asarray(features["copy_move_points_a"], np.float32)
    points_b = np.asarray(features["copy_move_points_b"], np.float32)
    solid = np.asarray(features["copy_move_solid"], bool)
    inliers = int(solid.sum())
    if inliers < 3:
        return _no_match(name, name, len(points_a))
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
    matrix = _to_original(_homogeneous(affine), features, features)
    described = describe_transform(matrix)
    return PairMatch(name, name, "copy-move", _score(inliers, inlier_ratio), inliers,
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


def _dense_copy_move(grey: np.ndarray, *, block: int = 16, min_offset: float = 16.0,
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
    >>> found = _dense_copy_move(grey)
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
        score = _score(int(solid[rows, cols].sum()), share)
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


# ---------------------------------------------------------------------------------------
# The folder job.

def _parallel(function, items: Sequence, *, workers: int, progress: bool, desc: str,
              unit: str) -> list:
    from tqdm.auto import tqdm

    if not items:
        return []
    with ThreadPoolExecutor(max(1, int(workers))) as pool:
        return list(tqdm(pool.map(function, items), total=len(items), desc=desc, unit=unit,
                         disable=not progress, leave=False))


def find(folder_or_paths: str | os.PathLike | Iterable[str | os.PathLike], *,
         method: str = "rootsift", threshold: float = 0.3, min_inliers: int = 8,
         min_inlier_ratio: float = 0.3, copy_move: bool = True, neighbours: int = 6,
         max_side: int | None = 800, max_keypoints: int = 1000,
         contrast_threshold: float = 0.01, ratio: float = 0.75,
         ransac_threshold: float = 4.0, workers: int = 2, progress: bool = True,
         features: dict[str, Features] | None = None, seed: int = 0):
    """Duplicated images in a folder: flagged pairs, most certain first.

    Parameters
    ----------
    folder_or_paths : path or iterable of paths
        A folder (searched recursively, see :func:`simlab.list_images`) or image paths.
    method : {"rootsift", "sift"}
        Local features; RootSIFT usually gives more matches.
    threshold : float
        Smallest ``score`` reported (0..1). The score grows with the number of distinct
        inliers and with the share of ratio-test matches they explain:
        ``inlier_ratio * inliers / (inliers + 6)``.
    min_inliers, min_inlier_ratio : int, float
        Gates every reported pair must also pass: chance alignments between grey,
        low-texture images reach a handful of inliers, a small share of their matches.
    copy_move : bool
        Also look for a region repeated inside each image (reported with ``a == b``),
        with keypoints and densely (see :func:`find_copy_move`). Cached features
        extracted without it carry no dense evidence: only keypoints are used for them.
    neighbours : int
        Candidates kept per image by the bag-of-words pruning (plain and mirrored
        together); verification cost grows as ``neighbours * N``.
    max_side : int or None
        Shrink images so their longest side is at most this before extraction.
    max_keypoints, contrast_threshold : int, float
        See :func:`extract_features`.
    ratio, ransac_threshold : float
        Lowe's ratio test and the RANSAC inlier distance (extracted pixels).
    workers : int
        Threads for extraction and verification (OpenCV releases the GIL).
    progress : bool
        Show progress bars (tqdm; on stderr, or widgets in Jupyter).
    features : dict, optional
        A cache, path -> :func:`extract_features` output (of the same file, unchanged,
        extracted with the same options): images found there are not read again, and
        the features of the others are added to it. Pass the same dict to a second call
        (another threshold, say) to skip extraction.
    seed : int
        Seeds the vocabulary sample, so runs are repeatable.

    Returns
    -------
    pandas.DataFrame
        One row per flagged pair with the columns of :data:`COLUMNS`: paths ``a`` and
        ``b`` (``a == b`` for copy-move), ``kind`` (``copy``, ``crop``, ``rotation``,
        ``mirror``, ``copy-move``), ``score``, ``inliers``, ``matches``,
        ``inlier_ratio``, the transform b = T(a) (``rotation_degrees`` as
        :func:`describe_transform`, ``scale``, ``mirrored``) and ``overlap_a``,
        ``overlap_b``: the fraction of each image the other covers (copy-move: the
        areas of the two copies). ``frame.attrs`` holds ``skipped`` (``{"path",
        "reason"}`` per unreadable file), ``matches`` (``(a, b)`` ->
        :class:`PairMatch`, for the pictures), ``candidates`` (``(a, b, mirrored,
        similarity)`` per pair the pruning sent to verification, see
        :func:`candidate_pairs`) and ``stats`` (counts, options and seconds per stage).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> from simlab import samples
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> image = samples.sample_image("astronaut", max_side=200)
    >>> Image.fromarray(image).save(folder / "a.png")
    >>> Image.fromarray(samples.rotate(samples.flip(image), 90)).save(folder / "b.png")
    >>> Image.fromarray(samples.sample_image("coins", max_side=200)).save(folder / "c.png")
    >>> _ = (folder / "d.png").write_text("not an image")
    >>> frame = find(folder, progress=False)
    >>> [(pathlib.Path(r.a).name, pathlib.Path(r.b).name, r.kind, r.mirrored)
    ...  for r in frame.itertuples()]
    [('a.png', 'b.png', 'mirror', True)]
    >>> frame.attrs["skipped"][0]["path"].endswith("d.png")
    True
    """
    import pandas as pd

    from .io import scan_images

    if not 0.0 <= float(threshold) <= 1.0:
        raise InvalidParameterError(f"threshold must lie in [0, 1]; got {threshold!r}")
    options = dict(method=method, max_side=max_side, max_keypoints=max_keypoints,
                   contrast_threshold=contrast_threshold, copy_move=copy_move,
                   workers=workers, progress=progress)
    started = time.perf_counter()
    listed, unlisted = scan_images(folder_or_paths)
    paths = list(dict.fromkeys(str(p) for p in listed))  # no repeats
    known = features if features is not None else {}
    extracted, skipped = encode_folder([p for p in paths if p not in known], **options)
    skipped = list(unlisted) + skipped  # SVG, FIFOs, link loops... then unreadable files
    known.update(extracted)
    names = [path for path in paths if path in known]  # listing order, readable only
    seconds = {"extract": time.perf_counter() - started}

    clock = time.perf_counter()
    candidates = candidate_pairs([known[p]["descriptors"] for p in names],
                                 neighbours=neighbours, seed=seed)
    seconds["prune"] = time.perf_counter() - clock

    clock = time.perf_counter()
    verify = dict(ratio=ratio, ransac_threshold=ransac_threshold)
    results = _parallel(
        lambda c: verify_pair(known[names[c[0]]], known[names[c[1]]], mirrored=c[2],
                              names=(names[c[0]], names[c[1]]), **verify),
        candidates, workers=workers, progress=progress, desc="verify", unit="pair")
    best: dict[tuple[str, str], PairMatch] = {}
    for match in results:  # a pair may have been verified plain and mirrored
        key = (match.a, match.b)
        if key not in best or match.inliers > best[key].inliers:
            best[key] = match
    seconds["verify"] = time.perf_counter() - clock

    clock = time.perf_counter()
    if copy_move:
        with one_blas_thread():  # the workers are the parallelism
            found = _parallel(lambda name: find_copy_move(known[name], name=name, **verify),
                              names, workers=workers, progress=progress, desc="copy-move",
                              unit="image")
        for match in found:
            best[(match.a, match.b)] = match
    seconds["copy_move"] = time.perf_counter() - clock

    flagged = sorted(
        (m for m in best.values() if m.kind != "none" and m.inliers >= min_inliers
         and m.inlier_ratio >= min_inlier_ratio and m.score >= threshold),
        key=lambda m: (-m.score, -m.inliers, m.a, m.b))
    frame = pd.DataFrame([m.row() for m in flagged], columns=list(COLUMNS))
    seconds["total"] = time.perf_counter() - started
    frame.attrs["skipped"] = skipped
    frame.attrs["matches"] = {(m.a, m.b): m for m in flagged}
    frame.attrs["candidates"] = [(names[i], names[j], mirrored, similarity)
                                 for i, j, mirrored, similarity in candidates]
    frame.attrs["stats"] = {
        "images": len(names), "skipped": len(skipped), "candidates": len(candidates),
        "pairs_possible": len(names) * (len(names) - 1) // 2, "flagged": len(flagged),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "options": {**options, "threshold": threshold, "min_inliers": min_inliers,
                    "min_inlier_ratio": min_inlier_ratio, "neighbours": neighbours,
                    "copy_move": copy_move, "seed": seed, **verify}}
    return frame
