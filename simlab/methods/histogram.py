"""Colour and grey histograms compared by correlation, intersection, chi-square or
Bhattacharyya distance.

A histogram ignores where pixels are, so it survives crops, flips and rotations, but
not recolouring, grey conversion or brightness changes. The "ignore white" option (from
a widely shared notebook of image-similarity approaches) drops the white background of
figure panels before counting.

The metrics follow OpenCV's ``compareHist`` definitions but are computed here in numpy,
in float64, on the flattened histograms: ``compareHist(HISTCMP_CORREL)`` on 3-D
(16x16x16) float32 histograms of large images returned values far outside [-1, 1] and
NaN, where the same histograms flattened give the right correlation.
"""

from __future__ import annotations

from typing import Any, Mapping

import cv2
import numpy as np

from ..errors import InvalidParameterError
from ..registry import Features, Method, Param, register
from ..results import Similarity

__all__ = ["histogram_features", "compare_histograms", "histogram_distance", "METRICS"]

#: simlab metric name -> (the OpenCV flag of the same definition, True when a larger raw
#: value means more similar). simlab computes them itself (:func:`histogram_distance`).
METRICS = {
    "correlation": (cv2.HISTCMP_CORREL, True),
    "intersection": (cv2.HISTCMP_INTERSECT, True),
    "chi-square": (cv2.HISTCMP_CHISQR_ALT, False),
    "bhattacharyya": (cv2.HISTCMP_BHATTACHARYYA, False),
}
_RANGES = {"gray": [0, 256], "rgb": [0, 256, 0, 256, 0, 256],
           "hsv": [0, 180, 0, 256, 0, 256]}


def histogram_features(image: np.ndarray, params: Mapping[str, Any]) -> Features:
    """Normalised histogram of an RGB uint8 image.

    Parameters
    ----------
    image : ndarray
        ``(H, W, 3)`` uint8 RGB.
    params : mapping
        ``color_space`` ("gray", "rgb" or "hsv"), ``bins`` per channel,
        ``ignore_white`` (drop pixels whose channels are all >= ``white_level``) and
        ``mask`` (optional ``(H, W)`` array, nonzero = count the pixel).

    Returns
    -------
    dict
        ``hist``: float32 histogram summing to 1 (joint over channels), ``pixels``:
        how many pixels were counted.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((20, 20, 3), np.uint8)
    >>> f = histogram_features(image, {"color_space": "gray", "bins": 4})
    >>> f["hist"].ravel().tolist()
    [1.0, 0.0, 0.0, 0.0]
    """
    space = params.get("color_space", "rgb")
    bins = int(params.get("bins", 16))
    if space == "gray":
        data = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        channels = [0]
    elif space == "hsv":
        data = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
        channels = [0, 1, 2]
    else:
        data = image
        channels = [0, 1, 2]
    mask = params.get("mask")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != image.shape[:2]:
            raise InvalidParameterError(
                f"histogram.mask has shape {mask.shape} but the image is {image.shape[:2]}; "
                "pass one (H, W) mask per image")
        mask = (mask != 0).astype(np.uint8)
    if params.get("ignore_white", False):
        level = int(params.get("white_level", 250))
        not_white = (image.min(axis=2) < level).astype(np.uint8)
        mask = not_white if mask is None else mask & not_white
    hist = cv2.calcHist([data], channels, mask, [bins] * len(channels), _RANGES[space])
    pixels = float(hist.sum())
    if pixels > 0:
        hist /= pixels
    return {"hist": hist.astype(np.float32), "pixels": np.array(pixels)}


def compare_histograms(features_a: Features, features_b: Features,
                       params: Mapping[str, Any]) -> Similarity:
    """Compare two histograms with one of :data:`METRICS`.

    Score mapping: correlation -> ``max(raw, 0)``; intersection of histograms summing
    to 1 -> ``raw``; chi-square (OpenCV's symmetric "alternative" form) ->
    ``1 / (1 + raw)``; Bhattacharyya distance -> ``1 - raw``. Identical histograms give
    1.0 for every metric.

    Examples
    --------
    >>> import numpy as np
    >>> f = histogram_features(np.full((20, 20, 3), 90, np.uint8), {"bins": 8})
    >>> compare_histograms(f, f, {"metric": "bhattacharyya"}).score
    1.0
    """
    metric = params.get("metric", "correlation")
    if metric not in METRICS:
        raise InvalidParameterError(f"unknown histogram metric {metric!r}; try one of: "
                                    f"{', '.join(METRICS)}")
    hist_a, hist_b = features_a["hist"], features_b["hist"]
    if hist_a.shape != hist_b.shape:
        raise InvalidParameterError(
            f"histograms of shapes {hist_a.shape} and {hist_b.shape} cannot be compared; "
            "extract both with the same color_space and bins")
    details: dict[str, Any] = {"metric": metric, "color_space": params.get("color_space"),
                               "bins": int(params.get("bins", 16)),
                               "pixels_a": int(features_a["pixels"]),
                               "pixels_b": int(features_b["pixels"])}
    if features_a["pixels"] == 0 or features_b["pixels"] == 0:
        details["reason"] = "no pixel was counted (all masked or white)"
        return Similarity("histogram", 0.0, float("nan"), details,
                          {"hist_a": hist_a, "hist_b": hist_b})
    raw = histogram_distance(hist_a, hist_b, metric)
    if metric == "correlation":
        score = max(raw, 0.0)
    elif metric == "intersection":
        score = raw
    elif metric == "chi-square":
        score = 1.0 / (1.0 + max(raw, 0.0))
    else:
        score = 1.0 - raw
    score = float(np.clip(score, 0.0, 1.0))
    return Similarity("histogram", score, raw, details, {"hist_a": hist_a, "hist_b": hist_b})


def histogram_distance(hist_a: np.ndarray, hist_b: np.ndarray,
                       metric: str = "correlation") -> float:
    """One of :data:`METRICS` between two histograms, in float64 on the flattened bins.

    Definitions (OpenCV's): correlation is Pearson's r of the bin counts (0.0 when one
    histogram is constant and the other is not, 1.0 when both are the same constant);
    intersection ``sum(min(a, b))``; chi-square (symmetric) ``2 * sum((a - b)**2 /
    (a + b))`` over bins where ``a + b > 0``; Bhattacharyya ``sqrt(1 - sum(sqrt(a * b)) /
    sqrt(sum(a) * sum(b)))``. The result is always finite.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([0.5, 0.5, 0.0]); b = np.array([0.0, 0.5, 0.5])
    >>> round(histogram_distance(a, b, "correlation"), 3), histogram_distance(a, b, "intersection")
    (-0.5, 0.5)
    """
    a = np.asarray(hist_a, np.float64).ravel()
    b = np.asarray(hist_b, np.float64).ravel()
    if metric == "correlation":
        a_centred, b_centred = a - a.mean(), b - b.mean()
        denominator = np.sqrt(float(a_centred @ a_centred) * float(b_centred @ b_centred))
        if denominator == 0.0:  # a constant histogram: correlated only with itself
            return 1.0 if np.array_equal(a, b) else 0.0
        return float(np.clip(float(a_centred @ b_centred) / denominator, -1.0, 1.0))
    if metric == "intersection":
        return float(np.minimum(a, b).sum())
    if metric == "chi-square":
        total = a + b
        counted = total > 0
        return float(2.0 * ((a[counted] - b[counted]) ** 2 / total[counted]).sum())
    if metric == "bhattacharyya":
        mass = float(a.sum()) * float(b.sum())
        if mass <= 0.0:
            return 1.0
        coefficient = float(np.sqrt(a * b).sum()) / np.sqrt(mass)
        return float(np.sqrt(max(0.0, 1.0 - coefficient)))
    raise InvalidParameterError(f"unknown histogram metric {metric!r}; try one of: "
                                f"{', '.join(METRICS)}")


register(Method(
    name="histogram",
    summary="colour/grey histogram compared by correlation, intersection, chi-square or "
            "Bhattacharyya; position-free, colour-sensitive",
    score_doc="correlation: max(raw, 0); intersection: raw; chi-square: 1/(1+raw); "
              "bhattacharyya: 1-raw",
    extract=histogram_features,
    score=compare_histograms,
    params=(
        Param("color_space", "rgb", "channels counted", choices=("gray", "rgb", "hsv"),
              extract=True),
        Param("bins", 16, "bins per channel", low=2, high=256, extract=True),
        Param("ignore_white", False, "skip near-white pixels (figure backgrounds)",
              extract=True),
        Param("white_level", 250, "a pixel is white when every channel is >= this",
              low=0, high=255, extract=True),
        Param("metric", "correlation", "histogram comparison metric", choices=tuple(METRICS)),
    ),
    draws="histograms",
))
