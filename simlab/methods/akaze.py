"""AKAZE: binary local features matched by Hamming distance.

AKAZE (Alcantarilla et al. 2013) builds a nonlinear scale space and describes each
keypoint with a binary string (M-LDB). Binary descriptors must be compared with the
Hamming distance: Euclidean distance on them runs silently with the wrong metric.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Mapping

import numpy as np

from ..registry import Features, Method, Param, register
from ..local import extract_local
from .keypoints import _SCORE_DOC, KEYPOINT_PARAMS, compare_keypoints

__all__ = ["akaze_features"]


def akaze_features(image: np.ndarray, params: Mapping[str, Any]) -> Features:
    """AKAZE keypoints (the ``max_keypoints`` strongest) and 61-byte binary descriptors.

    Examples
    --------
    >>> from skimage import data
    >>> f = akaze_features(data.astronaut(), {"max_keypoints": 100})
    >>> f["descriptors"].dtype, f["descriptors"].shape[1]
    (dtype('uint8'), 61)
    """
    return extract_local(image, descriptor="akaze",
                         max_keypoints=int(params.get("max_keypoints", 2000)),
                         akaze_threshold=float(params.get("threshold", 0.001)))


register(Method(
    name="akaze",
    summary="AKAZE binary features, Hamming matching (ratio test or cross-check), RANSAC",
    score_doc=_SCORE_DOC,
    extract=akaze_features,
    score=partial(compare_keypoints, "akaze"),
    params=KEYPOINT_PARAMS + (
        Param("threshold", 0.001, "detector response threshold (lower: more keypoints)",
              low=1e-6, high=1.0, extract=True),
    ),
    draws="matches",
))
