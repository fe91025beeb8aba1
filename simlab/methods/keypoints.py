"""Local features: SIFT and RootSIFT, plus the matching and RANSAC shared with AKAZE.

Keypoint methods find the same small patches in both images, keep matches that pass
Lowe's ratio test, and then count the matches a single geometric transform explains
(RANSAC inliers). That makes them survive crops, rotations, scaling and recolouring,
which global methods (histograms, SSIM, hashes) do not.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Mapping

import cv2
import numpy as np

from ..registry import Features, Method, Param, register
from ..results import Similarity

__all__ = ["keypoint_arrays", "sift_features", "root_descriptors", "rootsift_features", "match_descriptors",
           "verify_matches", "compare_keypoints", "GEOMETRIC_MODELS", "KEYPOINT_PARAMS"]

#: Transform RANSAC fits to the ratio-test matches ("none" skips verification).
GEOMETRIC_MODELS = ("homography", "similarity", "affine", "none")
_MIN_MATCHES = {"homography": 4, "similarity": 2, "affine": 3}


def keypoint_arrays(image_shape: tuple[int, ...], keypoints, descriptors,
                    descriptor_size: int, descriptor_dtype) -> Features:
    """Pack OpenCV keypoints and descriptors into plain arrays.

    ``cv2.KeyPoint`` objects do not pickle or save; these arrays do (``np.savez``).
    An image without keypoints gives empty arrays of the right width and dtype.
    """
    count = len(keypoints)
    if descriptors is None or count == 0:
        descriptors = np.zeros((0, descriptor_size), descriptor_dtype)
    return {
        "points": np.array([kp.pt for kp in keypoints], np.float32).reshape(count, 2),
        "sizes": np.array([kp.size for kp in keypoints], np.float32),
        "angles": np.array([kp.angle for kp in keypoints], np.float32),
        "responses": np.array([kp.response for kp in keypoints], np.float32),
        "descriptors": np.ascontiguousarray(descriptors),
        "shape": np.array(image_shape[:2], np.int32),
    }


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def sift_features(image: np.ndarray, params: Mapping[str, Any]) -> Features:
    """SIFT keypoints (at most ``max_keypoints``, strongest first) and descriptors.

    Examples
    --------
    >>> import numpy as np
    >>> f = sift_features(np.zeros((64, 64, 3), np.uint8), {"max_keypoints": 100})
    >>> f["descriptors"].shape   # a flat image has no keypoints
    (0, 128)
    """
    sift = cv2.SIFT_create(nfeatures=int(params.get("max_keypoints", 2000)))
    keypoints, descriptors = sift.detectAndCompute(_gray(image), None)
    return keypoint_arrays(image.shape, keypoints, descriptors, 128, np.float32)


def root_descriptors(descriptors: np.ndarray) -> np.ndarray:
    """RootSIFT: L1-normalise each SIFT descriptor, then take the square root.

    Examples
    --------
    >>> [round(float(v), 3) for v in root_descriptors(np.array([[1.0, 3.0]], np.float32))[0]]
    [0.5, 0.866]
    """
    if not len(descriptors):
        return descriptors
    normalised = descriptors / (np.abs(descriptors).sum(axis=1, keepdims=True) + 1e-7)
    return np.sqrt(normalised).astype(np.float32)


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
    features = sift_features(image, params)
    features["descriptors"] = root_descriptors(features["descriptors"])
    return features


def match_descriptors(descriptors_a: np.ndarray, descriptors_b: np.ndarray, *,
                      ratio: float = 0.75, cross_check: bool = False) -> np.ndarray:
    """Match descriptors a -> b with Lowe's ratio test or a cross-check.

    Binary (uint8) descriptors use Hamming distance, float ones Euclidean distance.

    Parameters
    ----------
    descriptors_a, descriptors_b : ndarray
        ``(N, D)`` descriptors, both float32 or both uint8.
    ratio : float
        Keep a match when its distance is below ``ratio`` times the second-nearest one.
    cross_check : bool
        Instead of the ratio test, keep pairs that are each other's nearest neighbour.

    Returns
    -------
    ndarray
        ``(M, 2)`` int array of (index in a, index in b), ordered by distance.

    Examples
    --------
    >>> import numpy as np
    >>> d = np.eye(4, dtype=np.float32)
    >>> match_descriptors(d, d[::-1]).tolist()
    [[0, 3], [1, 2], [2, 1], [3, 0]]
    """
    if len(descriptors_a) == 0 or len(descriptors_b) == 0:
        return np.zeros((0, 2), np.int64)
    norm = cv2.NORM_HAMMING if descriptors_a.dtype == np.uint8 else cv2.NORM_L2
    if cross_check:
        matcher = cv2.BFMatcher(norm, crossCheck=True)
        matches = list(matcher.match(descriptors_a, descriptors_b))
    else:
        matcher = cv2.BFMatcher(norm)
        matches = []
        for pair in matcher.knnMatch(descriptors_a, descriptors_b, k=2):
            if len(pair) == 1 or (len(pair) == 2 and
                                  pair[0].distance < ratio * pair[1].distance):
                matches.append(pair[0])
    matches.sort(key=lambda m: m.distance)
    return np.array([(m.queryIdx, m.trainIdx) for m in matches], np.int64).reshape(-1, 2)


def _describe_transform(matrix: np.ndarray) -> dict[str, Any]:
    linear = matrix[:2, :2] / (matrix[2, 2] if matrix.shape[0] == 3 else 1.0)
    determinant = float(np.linalg.det(linear))
    return {
        "rotation_degrees": round(math.degrees(math.atan2(linear[1, 0], linear[0, 0])), 2),
        "scale": round(math.sqrt(abs(determinant)), 4),
        "mirrored": determinant < 0,
    }


def verify_matches(points_a: np.ndarray, points_b: np.ndarray, *, model: str = "homography",
                   threshold: float = 5.0, confidence: float = 0.99
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """RANSAC: which matched point pairs one geometric transform explains.

    Parameters
    ----------
    points_a, points_b : ndarray
        ``(M, 2)`` matched coordinates.
    model : {"homography", "similarity", "affine", "none"}
        The transform fitted; "similarity" is rotation + uniform scale + translation
        (fewest chance inliers), "none" keeps every match.
    threshold : float
        Maximum reprojection error of an inlier, in pixels.
    confidence : float
        RANSAC's required probability of having drawn one all-inlier sample.

    Returns
    -------
    inlier_mask : ndarray of bool, shape (M,)
    matrix : ndarray or None
        The fitted transform (3x3, or 2x3 for the affine models) mapping a to b.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.random.default_rng(1).uniform(0, 100, (20, 2)).astype(np.float32)
    >>> mask, _ = verify_matches(a, a + 5, model="similarity")
    >>> int(mask.sum())
    20
    """
    count = len(points_a)
    if model == "none":
        return np.ones(count, bool), None
    if count < _MIN_MATCHES[model]:
        return np.zeros(count, bool), None
    src = points_a.reshape(-1, 1, 2).astype(np.float32)
    dst = points_b.reshape(-1, 1, 2).astype(np.float32)
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
    if matrix is None or mask is None:
        return np.zeros(count, bool), None
    return mask.ravel().astype(bool), matrix


def compare_keypoints(name: str, features_a: Features, features_b: Features,
                      params: Mapping[str, Any]) -> Similarity:
    """Ratio-test matching plus RANSAC verification, scored by the inlier fraction.

    Score mapping: ``inliers / min(keypoints_a, keypoints_b)``, clipped to 1, where
    raw is the inlier count. An image without keypoints scores 0 with a reason.
    """
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
                    "keypoints_a": features_a["points"], "keypoints_b": features_b["points"]}
    if count_a == 0 or count_b == 0:
        which = " and ".join(side for side, n in (("first", count_a), ("second", count_b))
                             if n == 0)
        details.update(good_matches=0, inliers=0,
                       reason=f"no keypoints found in the {which} image (flat or tiny image)")
        return Similarity(name, 0.0, 0.0, details, empty_visual)
    pairs = match_descriptors(features_a["descriptors"], features_b["descriptors"],
                              ratio=float(params.get("ratio", 0.75)),
                              cross_check=bool(params.get("cross_check", False)))
    points_a = features_a["points"][pairs[:, 0]]
    points_b = features_b["points"][pairs[:, 1]]
    inlier_mask, matrix = verify_matches(points_a, points_b, model=model,
                                         threshold=float(params.get("ransac_threshold", 5.0)))
    inliers = int(inlier_mask.sum())
    details.update(good_matches=len(pairs), inliers=inliers)
    if matrix is not None:
        details["transform"] = _describe_transform(matrix)
    if len(pairs) and model != "none" and matrix is None:
        details["reason"] = (f"{len(pairs)} ratio-test matches, too few for a "
                             f"{model} to be verified")
    score = min(1.0, inliers / min(count_a, count_b))
    visual = dict(empty_visual, points_a=points_a, points_b=points_b, inlier_mask=inlier_mask,
                  matrix=matrix)
    return Similarity(name, score, inliers, details, visual)


#: Parameters shared by the keypoint methods (SIFT, RootSIFT, AKAZE).
KEYPOINT_PARAMS = (
    Param("max_keypoints", 2000, "keep at most this many keypoints (strongest)", low=10,
          high=100_000, extract=True),
    Param("ratio", 0.75, "Lowe's ratio test threshold", low=0.1, high=1.0),
    Param("cross_check", False, "mutual nearest neighbours instead of the ratio test"),
    Param("model", "homography", "transform RANSAC verifies", choices=GEOMETRIC_MODELS),
    Param("ransac_threshold", 5.0, "RANSAC reprojection error, pixels", low=0.5, high=100.0),
)

_SCORE_DOC = "inliers / min(keypoints_a, keypoints_b), clipped to 1; raw = inlier count"

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
        params=KEYPOINT_PARAMS, draws="matches",
    ))
