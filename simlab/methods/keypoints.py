"""Local features for ``compare``: SIFT, RootSIFT and AKAZE pair methods.

Keypoint methods find the same small patches in both images, keep matches that pass
Lowe's ratio test, and then count the matches a single geometric transform explains
(RANSAC inliers). That makes them survive crops, rotations, scaling and recolouring,
which global methods (histograms, SSIM, hashes) do not. Extraction, matching and
verification are the engine's (:mod:`simlab.local`), shared with ``pairs`` and
``search``; this module maps its answer to a score.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Mapping

import numpy as np

from ..local import (MODELS, check_features, describe_transform, distinct, extract_local,
                     can_mirror, flip_matrix, mirror_features, mirror_points, verify)
from ..local.correspond import mutual_matches, ratio_matches
from ..local.extract import root_descriptors
from ..registry import Features, Method, Param, register
from ..results import Similarity

__all__ = ["sift_features", "rootsift_features", "root_descriptors", "match_descriptors",
           "compare_keypoints", "GEOMETRIC_MODELS", "KEYPOINT_PARAMS"]

#: Transform RANSAC fits to the ratio-test matches ("none" skips verification).
GEOMETRIC_MODELS = MODELS


def sift_features(image: np.ndarray, params: Mapping[str, Any]) -> Features:
    """SIFT keypoints (at most ``max_keypoints``, strongest first) and descriptors.

    Examples
    --------
    >>> import numpy as np
    >>> f = sift_features(np.zeros((64, 64, 3), np.uint8), {"max_keypoints": 100})
    >>> f["descriptors"].shape   # a flat image has no keypoints
    (0, 128)
    """
    return extract_local(image, descriptor="sift",
                         max_keypoints=int(params.get("max_keypoints", 2000)))


def rootsift_features(image: np.ndarray, params: Mapping[str, Any]) -> Features:
    """SIFT with RootSIFT descriptors (Arandjelović & Zisserman 2012).

    Each descriptor is L1-normalised and square-rooted, so that Euclidean distance
    between them equals the Hellinger distance between the original histograms.

    Examples
    --------
    >>> import numpy as np
    >>> from skimage import data
    >>> f = rootsift_features(data.camera()[..., None].repeat(3, 2), {"max_keypoints": 50})
    >>> bool(np.allclose(np.linalg.norm(f["descriptors"], axis=1), 1.0, atol=1e-4))
    True
    """
    return extract_local(image, descriptor="rootsift",
                         max_keypoints=int(params.get("max_keypoints", 2000)))


def match_descriptors(descriptors_a: np.ndarray, descriptors_b: np.ndarray, *,
                      ratio: float = 0.75, cross_check: bool = False) -> np.ndarray:
    """Ratio-test matches a -> b, or mutual nearest neighbours with ``cross_check``.

    Binary (uint8) descriptors use Hamming distance, float ones Euclidean distance.

    Examples
    --------
    >>> import numpy as np
    >>> d = np.eye(4, dtype=np.float32)
    >>> match_descriptors(d, d[::-1]).tolist()
    [[0, 3], [1, 2], [2, 1], [3, 0]]
    """
    if cross_check:
        return mutual_matches(descriptors_a, descriptors_b)
    return ratio_matches(descriptors_a, descriptors_b, ratio=ratio)


def compare_keypoints(name: str, features_a: Features, features_b: Features,
                      params: Mapping[str, Any]) -> Similarity:
    """Ratio-test matching plus the engine's verification, scored by the inlier fraction.

    With ``mirror``, b's mirror image is matched too and the side with more inliers is
    kept (``details["mirrored"]``).

    Score mapping: distinct inliers over the keypoint places of the image with fewer,
    clipped to 1 (see :mod:`simlab.local.verification`); raw is the number of distinct
    inliers. An image without keypoints scores 0 with a reason.
    """
    features_a = check_features(features_a, job=name)
    features_b = check_features(features_b, job=name)
    count_a, count_b = len(features_a["descriptors"]), len(features_b["descriptors"])
    model = params.get("model", "homography")
    details: dict[str, Any] = {
        "keypoints_a": count_a, "keypoints_b": count_b,
        "ratio": params.get("ratio"), "cross_check": bool(params.get("cross_check", False)),
        "model": model, "ransac_threshold": params.get("ransac_threshold"),
    }
    empty_visual = {"points_a": np.zeros((0, 2), np.float32),
                    "points_b": np.zeros((0, 2), np.float32),
                    "inlier_mask": np.zeros(0, bool),
                    "keypoints_a": features_a["points"], "keypoints_b": features_b["points"],
                    "frame": "extracted", "shape_a": features_a["shape"],
                    "shape_b": features_b["shape"]}
    if count_a == 0 or count_b == 0:
        which = " and ".join(side for side, n in (("first", count_a), ("second", count_b))
                             if n == 0)
        details.update(good_matches=0, inliers=0,
                       reason=f"no keypoints found in the {which} image (flat or tiny image)")
        return Similarity(name, 0.0, 0.0, details, empty_visual)
    ratio, cross_check = float(params.get("ratio", 0.75)), bool(params.get("cross_check", False))
    threshold = float(params.get("ransac_threshold", 5.0))
    sides = [(False, features_b)]
    if params.get("mirror", False) and can_mirror(features_b):
        # A mirrored copy: SIFT's descriptors of the mirror image are a permutation of
        # these (no second extraction); AKAZE described the mirror at extraction.
        sides.append((True, mirror_features(features_b)))
    best = None
    for mirrored, target in sides:
        pairs = match_descriptors(features_a["descriptors"], target["descriptors"],
                                  ratio=ratio, cross_check=cross_check)
        found = verify(features_a, target, pairs, model=model, threshold=threshold)
        if best is None or found.inliers > best[3].inliers:
            best = (mirrored, target, pairs, found)
    mirrored, target, pairs, found = best
    matrix = found.matrix
    if mirrored and matrix is not None:  # back to b's own pixels
        matrix = flip_matrix(features_b["shape"][1]) @ matrix
    details.update(good_matches=len(pairs), inliers=found.inliers,
                   inlier_ratio=found.inlier_ratio, mirrored=mirrored)
    if matrix is not None:
        details["transform"] = describe_transform(matrix)
    if len(pairs) and found.reason:
        details["reason"] = found.reason
    # Places, not keypoints, on both sides of the fraction: SIFT puts several keypoints
    # (orientations) at one place, and the verifier counts inlier places.
    places = min(distinct(features_a["points"]), distinct(features_b["points"]))
    score = min(1.0, found.inliers / max(1, places))
    points_b = target["points"][pairs[:, 1]]
    if mirrored:  # drawn on b itself
        points_b = mirror_points(points_b, features_b["shape"][1])
    visual = dict(empty_visual, points_a=features_a["points"][pairs[:, 0]],
                  points_b=points_b, inlier_mask=found.mask, matrix=matrix)
    return Similarity(name, score, found.inliers, details, visual)


#: Parameters shared by the keypoint methods (SIFT, RootSIFT, AKAZE).
KEYPOINT_PARAMS = (
    Param("max_keypoints", 2000, "keep at most this many keypoints (strongest)", low=10,
          high=100_000, extract=True),
    Param("ratio", 0.75, "Lowe's ratio test threshold", low=0.1, high=1.0),
    Param("cross_check", False, "mutual nearest neighbours instead of the ratio test"),
    Param("model", "homography", "transform RANSAC verifies", choices=GEOMETRIC_MODELS),
    Param("ransac_threshold", 5.0, "RANSAC reprojection error, pixels", low=0.5, high=100.0),
)

#: Keypoint methods also match the mirror image (SIFT: a descriptor permutation).
MIRROR_PARAM = Param("mirror", True, "also match the left-right mirrored image (finds "
                     "flipped copies)")

_SCORE_DOC = ("distinct inliers / min(keypoint places a, b), clipped to 1; raw = distinct "
              "inlier count")

for _name, _extract, _summary in (
    ("sift", sift_features,
     "SIFT keypoints, Lowe's ratio test, RANSAC-verified inliers; survives crop, rotation, "
     "scale, recolour"),
    ("rootsift", rootsift_features,
     "SIFT with RootSIFT (Hellinger) descriptors; usually more matches than plain SIFT"),
):
    register(Method(
        name=_name, summary=_summary, score_doc=_SCORE_DOC, extract=_extract,
        score=partial(compare_keypoints, _name),
        params=KEYPOINT_PARAMS + (MIRROR_PARAM,), draws="matches",
    ))
