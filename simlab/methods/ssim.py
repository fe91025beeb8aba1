"""Structural similarity (SSIM, Wang et al. 2004) from scikit-image.

SSIM compares local luminance, contrast and structure pixel by pixel, so the two
images must be aligned and of one size: it is the right tool for "same picture,
different quality" (JPEG, noise, blur) and the wrong one for crops, rotations or flips.
"""

from __future__ import annotations

from typing import Any, Mapping

import cv2
import numpy as np

from ..errors import InvalidParameterError, SizeMismatchError
from ..registry import Features, Method, Param, register
from ..results import Similarity

__all__ = ["ssim_features", "compare_ssim", "SIZE_POLICIES"]

#: How images of different sizes are brought to one size before SSIM.
SIZE_POLICIES = ("resize", "crop", "error")


def ssim_features(image: np.ndarray, params: Mapping[str, Any]) -> Features:
    """The image SSIM works on: grey (default) or RGB, uint8.

    Examples
    --------
    >>> import numpy as np
    >>> ssim_features(np.zeros((20, 30, 3), np.uint8), {"color": False})["image"].shape
    (20, 30)
    """
    if params.get("color", False):
        return {"image": np.ascontiguousarray(image)}
    return {"image": cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)}


def _same_size(image_a: np.ndarray, image_b: np.ndarray, policy: str
               ) -> tuple[np.ndarray, np.ndarray, str | None]:
    if image_a.shape[:2] == image_b.shape[:2]:
        return image_a, image_b, None
    (ha, wa), (hb, wb) = image_a.shape[:2], image_b.shape[:2]
    if policy == "error":
        raise SizeMismatchError(
            f"SSIM needs images of one size, got {wa}x{ha} and {wb}x{hb}; resize them, or "
            "use size_policy='resize' (second resized to the first) or 'crop'")
    if policy == "resize":
        interpolation = cv2.INTER_AREA if hb * wb > ha * wa else cv2.INTER_LINEAR
        return image_a, cv2.resize(image_b, (wa, ha), interpolation=interpolation), \
            f"second image resized from {wb}x{hb} to {wa}x{ha}"
    height, width = min(ha, hb), min(wa, wb)

    def centre(image: np.ndarray) -> np.ndarray:
        top = (image.shape[0] - height) // 2
        left = (image.shape[1] - width) // 2
        return image[top:top + height, left:left + width]

    return centre(image_a), centre(image_b), f"both centre-cropped to {width}x{height}"


def compare_ssim(features_a: Features, features_b: Features,
                 params: Mapping[str, Any]) -> Similarity:
    """Mean SSIM of two images, with the SSIM map for drawing.

    Size policy (``size_policy``): ``"resize"`` (default) resizes the second image to
    the first one's size, ``"crop"`` centre-crops both to the common size, ``"error"``
    raises :class:`~simlab.errors.SizeMismatchError`. Score mapping: ``max(raw, 0)``,
    where raw is the mean SSIM in ``[-1, 1]``; identical images give 1.0.

    Examples
    --------
    >>> import numpy as np
    >>> f = ssim_features(np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8),
    ...                   {"color": False})
    >>> compare_ssim(f, f, {}).score
    1.0
    """
    from skimage.metrics import structural_similarity

    policy = params.get("size_policy", "resize")
    image_a, image_b, note = _same_size(features_a["image"], features_b["image"], policy)
    if image_a.ndim != image_b.ndim:
        raise InvalidParameterError("extract both images with the same 'color' setting")
    win_size = int(params.get("win_size", 7))
    gaussian = bool(params.get("gaussian", False))
    smallest = min(image_a.shape[:2])
    if gaussian:
        # skimage derives an 11x11 window from sigma=1.5 when gaussian weights are used.
        win_size = 11
    if win_size % 2 == 0 or win_size > smallest:
        raise InvalidParameterError(
            f"ssim.win_size must be odd and at most the smaller side ({smallest} px); "
            f"got {win_size}")
    # Float input with an explicit data_range: uint8-vs-float and int64 inputs make
    # skimage infer a wrong range (int64 gives 1.0 for different images).
    kwargs: dict[str, Any] = {"data_range": 255.0, "full": True}
    if gaussian:
        kwargs.update(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    else:
        kwargs["win_size"] = win_size
    if image_a.ndim == 3:
        kwargs["channel_axis"] = -1
    raw, ssim_map = structural_similarity(image_a.astype(np.float64),
                                          image_b.astype(np.float64), **kwargs)
    if ssim_map.ndim == 3:
        ssim_map = ssim_map.mean(axis=2)
    details: dict[str, Any] = {"win_size": win_size, "gaussian": gaussian,
                               "color": image_a.ndim == 3, "size_policy": policy,
                               "compared_size": [int(image_a.shape[1]), int(image_a.shape[0])]}
    if note:
        details["size_note"] = note
    return Similarity("ssim", float(np.clip(raw, 0.0, 1.0)), float(raw), details,
                      {"ssim_map": ssim_map.astype(np.float32)})


register(Method(
    name="ssim",
    summary="structural similarity (scikit-image); needs aligned images, breaks on crops "
            "and rotations",
    score_doc="max(mean SSIM, 0)",
    extract=ssim_features,
    score=compare_ssim,
    params=(
        Param("color", False, "compare RGB channels instead of grey", extract=True),
        Param("win_size", 7, "side of the sliding window (odd)", low=3, high=255),
        Param("gaussian", False, "Gaussian-weighted 11x11 window (Wang et al.)"),
        Param("size_policy", "resize", "different sizes: resize second, centre-crop, or "
              "error", choices=SIZE_POLICIES),
    ),
    draws="ssim_map",
))
