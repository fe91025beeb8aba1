"""Verifying one candidate pair: ratio-test matches that one similarity explains.

The engine does the work (:func:`simlab.local.ratio_matches`, :func:`simlab.local.verify`
with its chance guard and distinct inliers); this module names what was found (copy,
crop, rotation, mirror) and scores how certain it is.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..errors import InvalidFeaturesError
from ..registry import Features
from ..results import PairMatch

__all__ = ["verify_pair", "evidence_score", "no_match", "kind_of", "calibration", "verdict",
           "calibrated_probability", "with_significance", "CALIBRATION_FILE"]

#: The calibrated probability's fitted parameters (see :func:`calibration`).
CALIBRATION_FILE = "calibration.json"
#: Evidence (``-log_nfa``) is capped to this range before the logistic fit: beyond it
#: every pair is certain (or hopeless) alike, and an infinite NFA has no number.
EVIDENCE_RANGE = (-10.0, 60.0)

#: Descriptor kinds the duplicate finder matches (mirroring permutes their layout).
_SIFT_LAYOUT = ("rootsift", "sift")


def evidence_score(inliers: int, inlier_ratio: float) -> float:
    """Certainty, not size: grows with the distinct inliers and with the share of the
    correspondences they explain: 0.67 at 12 inliers explaining every match, 0.33 at 12
    explaining half of them.

    Examples
    --------
    >>> evidence_score(12, 1.0)
    0.6667
    """
    return round(float(inlier_ratio * inliers / (inliers + 6.0)), 4)


def calibration() -> dict:
    """The calibrated probability's parameters, per job, as fitted on labelled pairs.

    Read from ``simlab/duplicates/calibration.json``, which says what it was fitted on;
    ``simlab bench integrity --refit`` fits them again (on a benchmark set of another
    seed than the one it reports on) and rewrites the file.

    Examples
    --------
    >>> sorted(calibration()["jobs"])
    ['copy-move', 'cross-image']
    """
    return _read_calibration(str(_calibration_path()))


def _calibration_path():
    from pathlib import Path

    return Path(__file__).with_name(CALIBRATION_FILE)


@functools.lru_cache(maxsize=4)
def _read_calibration(path: str) -> dict:
    import json

    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def evidence(log_nfa: float, ruled_out: bool = False) -> float:
    """``-log_nfa`` capped to :data:`EVIDENCE_RANGE`; a ruled-out match (or no number)
    one below the range, so the calibration tells it from a merely weak one."""
    low, high = EVIDENCE_RANGE
    if ruled_out or math.isnan(log_nfa):
        return low - 1.0
    return float(min(max(-log_nfa, low), high))


def calibrated_probability(log_nfa: float, job: str, *, ruled_out: bool = False) -> float:
    """The probability that a match of this significance is a true copy.

    The monotone map of :func:`evidence` fitted on labelled benchmark pairs (a logistic
    function when the file holds no knots), from :func:`calibration` for ``job``
    (``"cross-image"`` or ``"copy-move"``).

    Examples
    --------
    >>> calibrated_probability(-40.0, "cross-image") > calibrated_probability(2.0, "cross-image")
    True
    """
    fitted = calibration()["jobs"][job]
    value = evidence(log_nfa, ruled_out)
    if fitted.get("isotonic"):  # the monotone map measured on labelled pairs
        knots = fitted["isotonic"]
        return round(float(np.interp(value, knots["evidence"], knots["probability"])), 4)
    z = fitted["intercept"] + fitted["slope"] * value
    return round(1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0))), 4)


def with_significance(match: PairMatch, *, tests: float, job: str) -> PairMatch:
    """``match`` with ``log_nfa`` counted over ``tests`` comparisons (it was computed for
    one, or for ``tests_done``) and its calibrated probability."""
    import dataclasses

    if match.kind == "none":
        return match
    significance = round(match.log_nfa + math.log10(max(float(tests), 1.0)), 3) \
        if math.isfinite(match.log_nfa) else match.log_nfa
    return dataclasses.replace(match, log_nfa=significance, probability=calibrated_probability(
        significance, job, ruled_out=bool(match.ruled_out)))


def no_match(a: str, b: str, matches: int) -> PairMatch:
    """The :class:`~simlab.results.PairMatch` of a pair nothing was verified for."""
    empty = np.zeros((0, 2), np.float32)
    return PairMatch(a, b, "none", 0.0, 0, matches, 0.0, 0.0, 1.0, False, 0.0, 0.0,
                     empty, empty, empty, empty, None)


def kind_of(same_image: bool, mirrored: bool, rotation: float, overlap_a: float,
            overlap_b: float) -> str:
    """What a verified pair is: copy-move, mirror, rotation, crop or copy.

    Examples
    --------
    >>> kind_of(False, False, 3.0, 0.5, 1.0)
    'crop'
    """
    if same_image:
        return "copy-move"
    if mirrored:
        return "mirror"
    if abs(rotation) > 45.0:
        return "rotation"
    if min(overlap_a, overlap_b) < 0.85:
        return "crop"
    return "copy"  # same orientation, all of each image: exact, re-saved or recoloured


def verify_pair(features_a: Features, features_b: Features, *, mirrored: bool = False,
                ratio: float = 0.75, ransac_threshold: float = 4.0,
                names: tuple[str, str] = ("a", "b")) -> PairMatch:
    """Match a against b (or against b mirrored) and fit one similarity with RANSAC.

    Parameters
    ----------
    features_a, features_b : dict
        From :func:`simlab.duplicates.extract_features`, or ``simlab.extract(image,
        "rootsift")`` (both of one descriptor kind).
    mirrored : bool
        Match against b's mirrored features (:func:`simlab.local.mirror_features`);
        RANSAC then runs in the mirrored frame, and the transform reported is the
        whole one.
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
        a duplicate is decided by :func:`simlab.duplicates.find` (``min_inliers``,
        ``min_inlier_ratio``, ``threshold``).

    Raises
    ------
    InvalidFeaturesError
        Features that are not SIFT-layout local features, or of two kinds.

    Examples
    --------
    >>> from simlab import samples
    >>> from simlab.duplicates import extract_features
    >>> image = samples.sample_image("astronaut", max_side=256)
    >>> a, b = extract_features(image), extract_features(samples.flip(image))
    >>> match = verify_pair(a, b, mirrored=True)
    >>> match.kind, match.mirrored, match.inliers > 100, match.overlap_b > 0.99
    ('mirror', True, True, True)
    """
    from ..local import (check_features, flip_matrix, mirror_features, overlap,
                         ratio_matches, to_original, verify)

    features_a = check_features(features_a, job="pairs", descriptors=_SIFT_LAYOUT,
                                label=names[0])
    features_b = check_features(features_b, job="pairs", descriptors=_SIFT_LAYOUT,
                                label=names[1])
    if str(features_a["descriptor"]) != str(features_b["descriptor"]):
        raise InvalidFeaturesError(
            f"pairs compares features of one kind; got {features_a['descriptor']} and "
            f"{features_b['descriptor']}: extract both with the same method",
            f"{names[0]}, {names[1]}")
    target = mirror_features(features_b) if mirrored else features_b
    pairs = ratio_matches(features_a["descriptors"], target["descriptors"], ratio=ratio)
    found = verify(features_a, target, pairs, model="similarity",
                   threshold=ransac_threshold, min_correspondences=3)
    if found.matrix is None:
        return no_match(*names, found.correspondences)
    matrix = flip_matrix(features_b["shape"][1]) @ found.matrix if mirrored else found.matrix
    kept = found.pairs[found.mask]
    inliers_a = features_a["points"][kept[:, 0]]
    inliers_b = features_b["points"][kept[:, 1]]
    overlap_a, overlap_b, region_a, region_b = overlap(matrix, features_a["shape"],
                                                       features_b["shape"])
    original = to_original(matrix, features_a["scale"], features_b["scale"])
    from ..local import describe_transform

    described = describe_transform(original)
    kind = kind_of(False, described["mirrored"], described["rotation_degrees"], overlap_a,
                   overlap_b)
    significance = found.log_nfa(tests=1)  # find() counts the comparisons it made
    reason = (f"{found.inliers} distinct keypoints of {found.correspondences} matched "
              f"agree with one {'mirrored ' if mirrored else ''}similarity (rotation "
              f"{described['rotation_degrees']:g} deg, scale {described['scale']:.2f}), "
              f"covering {overlap_a:.0%} of a and {overlap_b:.0%} of b")
    return PairMatch(names[0], names[1], kind,
                     evidence_score(found.inliers, found.inlier_ratio), found.inliers,
                     found.correspondences, found.inlier_ratio,
                     described["rotation_degrees"], described["scale"],
                     described["mirrored"], overlap_a, overlap_b, inliers_a, inliers_b,
                     region_a, region_b, original, log_nfa=significance,
                     reasons=(reason,))


def verdict(image_a: np.ndarray, image_b: np.ndarray, *, max_side: int = 800,
            max_nfa: float | None = None) -> dict:
    """Same source or not: the duplicate finder's verification of one pair, with its
    significance (what ``simlab compare`` prints).

    Both images are shrunk to ``max_side`` (as ``simlab pairs`` does), described once,
    and verified plain and mirrored; the comparison counts as two tests. The pair is
    "same source" when the number of false alarms is at most ``max_nfa`` (default
    ``10 ** MATCH_LOG_NFA``, the bound ``simlab pairs`` flags pairs of images by, see
    :data:`simlab.local.significance.MATCH_LOG_NFA`).

    Returns
    -------
    dict
        ``same_source`` (bool), ``verdict`` (words), ``kind``, ``inliers``,
        ``log_nfa`` (None when nothing was verified), ``probability`` (calibrated) and
        ``reason``.

    Examples
    --------
    >>> from simlab import samples
    >>> image = samples.sample_image("astronaut", max_side=200)
    >>> verdict(image, samples.flip(image))["verdict"]
    'same source'
    >>> verdict(image, samples.sample_image("coffee", max_side=200))["same_source"]
    False
    """
    from ..io import resize_longest_side
    from .features import extract_features

    def described(image: np.ndarray):
        shrink = min(1.0, max_side / max(image.shape[:2]))
        return extract_features(resize_longest_side(image, max_side), scale=shrink)

    features_a, features_b = described(image_a), described(image_b)
    best = min((with_significance(verify_pair(features_a, features_b, mirrored=flip),
                                  tests=2, job="cross-image") for flip in (False, True)),
               key=lambda match: (match.log_nfa, -match.inliers))
    from ..local.significance import MATCH_LOG_NFA

    bound = MATCH_LOG_NFA if max_nfa is None else math.log10(max_nfa)
    same = best.kind != "none" and best.log_nfa <= bound
    finite = math.isfinite(best.log_nfa)
    return {"same_source": bool(same), "verdict": "same source" if same else
            "not the same source", "kind": best.kind, "inliers": best.inliers,
            "log_nfa": best.log_nfa if finite else None,
            "probability": best.probability if best.kind != "none" else 0.0,
            "reason": best.reasons[0] if best.reasons else
            "no transform explains the keypoint matches"}
