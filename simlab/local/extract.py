"""Keypoints and descriptors as plain arrays: the one extractor of every job.

``compare`` (sift, rootsift, akaze), ``pairs`` and ``search`` all extract here; they
differ only in options. Features are a dict of numpy arrays that ``np.savez`` stores
and ``np.load(..., allow_pickle=False)`` reads back, with the same keys whatever the
job: ``points``, ``sizes``, ``angles``, ``responses``, ``descriptors``, ``shape`` (of
the image described), ``scale`` (how much it was shrunk from its file) and
``descriptor`` (its kind), so features from :func:`simlab.extract` work in every job
that takes features (:func:`check_features` says when they cannot).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..errors import InvalidFeaturesError, InvalidParameterError

__all__ = ["extract_local", "keypoint_arrays", "check_features", "stretch_contrast",
           "root_descriptors", "sift_bytes", "matched_descriptors", "DESCRIPTORS"]

#: Descriptor kinds: their width and dtype.
DESCRIPTORS = {"sift": (128, np.float32), "rootsift": (128, np.float32),
               "akaze": (61, np.uint8)}


def keypoint_arrays(image_shape: tuple[int, ...], keypoints, descriptors,
                    descriptor: str, *, scale: float = 1.0) -> dict[str, np.ndarray]:
    """Pack OpenCV keypoints and descriptors into plain arrays.

    ``cv2.KeyPoint`` objects do not pickle or save; these arrays do (``np.savez``).
    An image without keypoints gives empty arrays of the right width and dtype.

    Examples
    --------
    >>> f = keypoint_arrays((40, 60, 3), [], None, "akaze")
    >>> f["descriptors"].shape, f["shape"].tolist(), str(f["descriptor"])
    ((0, 61), [40, 60], 'akaze')
    """
    width, dtype = DESCRIPTORS[descriptor]
    count = len(keypoints)
    if descriptors is None or count == 0:
        descriptors = np.zeros((0, width), dtype)
    return {
        "points": np.array([kp.pt for kp in keypoints], np.float32).reshape(count, 2),
        "sizes": np.array([kp.size for kp in keypoints], np.float32),
        "angles": np.array([kp.angle for kp in keypoints], np.float32),
        "responses": np.array([kp.response for kp in keypoints], np.float32),
        "descriptors": np.ascontiguousarray(descriptors),
        "shape": np.array(image_shape[:2], np.int32),
        "scale": np.array(scale, np.float64),
        "descriptor": np.array(descriptor),
    }


def root_descriptors(descriptors: np.ndarray) -> np.ndarray:
    """RootSIFT (Arandjelović & Zisserman 2012): L1-normalise, then square-root.

    Euclidean distance between RootSIFT descriptors is the Hellinger distance between
    the SIFT histograms.

    Examples
    --------
    >>> [round(float(v), 3) for v in root_descriptors(np.array([[1.0, 3.0]], np.float32))[0]]
    [0.5, 0.866]
    """
    if not len(descriptors):
        return descriptors
    normalised = descriptors / (np.abs(descriptors).sum(axis=1, keepdims=True) + 1e-7)
    return np.sqrt(normalised).astype(np.float32)


def sift_bytes(descriptors: np.ndarray) -> np.ndarray:
    """SIFT descriptors as bytes: a quarter of the memory, nothing lost.

    OpenCV's SIFT writes each value as a whole number 0-255 (``saturate_cast<uchar>``)
    even into its float32 output, so uint8 holds it exactly; RootSIFT is computed from
    the bytes where descriptors are matched (:func:`matched_descriptors`), identical to
    RootSIFT of the float32 SIFT. Descriptors that are not whole numbers 0-255 (another
    extractor) are returned as they are.

    Examples
    --------
    >>> sift = np.array([[0.0, 17.0, 255.0]], np.float32)
    >>> sift_bytes(sift).dtype, sift_bytes(sift).tolist()
    (dtype('uint8'), [[0, 17, 255]])
    >>> sift_bytes(np.array([[0.5]], np.float32)).dtype
    dtype('float32')
    """
    compact = descriptors.astype(np.uint8)
    if not np.array_equal(compact, descriptors):
        return descriptors
    return compact


def matched_descriptors(descriptors: np.ndarray, kind: str) -> np.ndarray:
    """The float32 descriptors that are matched, from what features hold.

    SIFT held as bytes (:func:`sift_bytes`) becomes float32 SIFT, or RootSIFT when
    ``kind`` is ``"rootsift"`` (the same values :func:`extract_local` gives); any other
    descriptors are returned as they are.

    Examples
    --------
    >>> held = np.array([[1, 3]], np.uint8)
    >>> [round(float(v), 3) for v in matched_descriptors(held, "rootsift")[0]]
    [0.5, 0.866]
    >>> matched_descriptors(held, "sift").tolist()
    [[1.0, 3.0]]
    """
    if descriptors.dtype != np.uint8 or kind not in ("sift", "rootsift"):
        return descriptors
    values = descriptors.astype(np.float32)
    if kind == "sift" or not len(values):
        return values
    # root_descriptors in place, 40 % faster (pairs expand every verified image). The
    # same values bit for bit: bytes need no abs, and their float32 row sums are exact
    # integers (at most 128 * 255 < 2 ** 24), so summing them as integers is equal.
    sums = descriptors.sum(axis=1, dtype=np.int32, keepdims=True).astype(np.float32)
    sums += 1e-7
    np.divide(values, sums, out=values)
    return np.sqrt(values, out=values)


def stretch_contrast(grey: np.ndarray) -> np.ndarray:
    """Stretch a grey image so its 0.5-99.5 percentiles (of the picture, not its fill)
    span 0-255.

    Examples
    --------
    >>> int(stretch_contrast(np.array([[100, 110], [120, 130]], np.uint8)).max())
    255
    """
    import cv2

    from ..borders import fill_mask

    # Measured on the picture, not on a rotated copy's white corners: they would pin the
    # top percentile at 255 and leave a dark picture unstretched (a rotated night sky
    # kept 6 keypoints of its original's 633).
    fill = fill_mask(grey)
    low, high = np.percentile(grey if fill is None else grey[~fill], (0.5, 99.5))
    if high <= low:
        return grey
    return cv2.convertScaleAbs(grey, alpha=255.0 / (high - low),
                               beta=-low * 255.0 / (high - low))


def extract_local(image: np.ndarray, *, descriptor: str = "rootsift",
                  max_keypoints: int = 2000, contrast_threshold: float = 0.04,
                  stretch: bool = False, fine_octave_below: int | None = None,
                  akaze_threshold: float = 0.001, scale: float = 1.0,
                  with_mirror: bool = False) -> dict[str, np.ndarray]:
    """Local features of one RGB (or grey) image.

    Parameters
    ----------
    image : ndarray
        ``(H, W, 3)`` uint8 RGB or ``(H, W)`` grey.
    descriptor : {"rootsift", "sift", "akaze"}
        SIFT, SIFT with RootSIFT (Hellinger) descriptors, or AKAZE's binary M-LDB.
    max_keypoints : int
        Keep the strongest this many; 0 keeps every keypoint (OpenCV's default SIFT).
    contrast_threshold : float
        SIFT's ``contrastThreshold`` (OpenCV's default 0.04). The folder jobs use 0.01
        with ``stretch``: dim, low-contrast panels (microscopy, fundus images) then get
        keypoints too.
    stretch : bool
        First stretch the grey image so its 0.5-99.5 percentiles span 0-255, measured
        without a black or white fill around the picture
        (:func:`simlab.borders.fill_mask`): a copy whose contrast was changed is then
        detected at the same places.
    fine_octave_below : int, optional
        SIFT first doubles the image and looks for keypoints finer than a pixel; that
        octave costs about three quarters of the detection time, and its keypoints are
        the first to vanish under JPEG or shrinking. Images whose longest side is at
        least this are described from their own resolution upwards instead (halved,
        which SIFT doubles back); coordinates and sizes stay in ``image``'s pixels.
        None: always the doubled octave.
    akaze_threshold : float
        AKAZE's detector response threshold (lower: more keypoints).
    scale : float
        How much ``image`` was shrunk from its file (1.0: not at all); stored so jobs
        can report transforms and draw in the original pixels.
    with_mirror : bool
        AKAZE only: also describe the mirrored image (``mirror_points``,
        ``mirror_descriptors``... in the mirror's pixels), so that mirrored copies can be
        matched. SIFT needs no second pass: its mirror is a permutation
        (:func:`simlab.local.mirror_features`).

    Returns
    -------
    dict of str to ndarray
        See the module documentation.

    Examples
    --------
    >>> from simlab import samples
    >>> f = extract_local(samples.sample_image("camera", max_side=128), max_keypoints=50)
    >>> f["descriptors"].shape[1], f["shape"].tolist(), str(f["descriptor"])
    (128, [128, 128], 'rootsift')
    >>> extract_local(np.zeros((64, 64), np.uint8), descriptor="sift")["points"].shape
    (0, 2)
    """
    import cv2

    if descriptor not in DESCRIPTORS:
        raise InvalidParameterError(f"unknown descriptor {descriptor!r}; try one of: "
                                    f"{', '.join(DESCRIPTORS)}")
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if stretch:
        grey = stretch_contrast(grey)
    if descriptor == "akaze":
        features = _akaze(grey, image.shape, max_keypoints, akaze_threshold, scale)
        if with_mirror:
            from .mirror import mirror_image

            mirrored = _akaze(mirror_image(grey), image.shape, max_keypoints,
                              akaze_threshold, scale)
            features.update({f"mirror_{key}": mirrored[key] for key in _SIDE_KEYS})
        return features
    sift = cv2.SIFT_create(nfeatures=int(max_keypoints),
                           contrastThreshold=float(contrast_threshold))
    halve = fine_octave_below is not None and max(grey.shape) >= int(fine_octave_below)
    searched = cv2.resize(grey, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA) \
        if halve else grey
    keypoints, descriptors = sift.detectAndCompute(searched, None)
    features = keypoint_arrays(image.shape, keypoints, descriptors, descriptor, scale=scale)
    if halve:  # back to the pixels of ``image`` (pixel centres stay centres)
        features["points"] = features["points"] * 2.0 + 0.5
        features["sizes"] = features["sizes"] * 2.0
    if descriptor == "rootsift":
        features["descriptors"] = root_descriptors(features["descriptors"])
    return features


#: Per-keypoint arrays (what a mirrored description repeats as ``mirror_<key>``).
_SIDE_KEYS = ("points", "sizes", "angles", "responses", "descriptors")


def _akaze(grey: np.ndarray, shape, max_keypoints: int, threshold: float, scale: float):
    import cv2

    akaze = cv2.AKAZE_create(threshold=float(threshold))
    keypoints = akaze.detect(grey, None)
    if max_keypoints and len(keypoints) > max_keypoints:
        keypoints = sorted(keypoints, key=lambda kp: -kp.response)[:int(max_keypoints)]
    descriptors = None
    if keypoints:
        keypoints, descriptors = akaze.compute(grey, keypoints)
    return keypoint_arrays(shape, keypoints or (), descriptors, "akaze", scale=scale)


_REQUIRED = ("points", "descriptors", "shape")


def check_features(features: Mapping[str, np.ndarray], *, job: str,
                   descriptors: tuple[str, ...] | None = None,
                   label: str | None = None) -> dict[str, np.ndarray]:
    """Features a job can use, with the defaults older or foreign features lack.

    Features made by :func:`extract_local` (and so by :func:`simlab.extract` for sift,
    rootsift and akaze) pass. Features without ``scale``, ``sizes``, ``angles`` or
    ``descriptor`` are completed (scale 1, NaN orientations that the chance guard does
    not check, kind guessed from the descriptors), and SIFT held as bytes
    (:func:`sift_bytes`) is expanded to the float32 descriptors matched; anything else
    raises.

    Raises
    ------
    InvalidFeaturesError
        A key is missing, the arrays disagree, or the descriptor kind is not one
        ``job`` takes (``descriptors``).

    Examples
    --------
    >>> check_features({"points": np.zeros((0, 2))}, job="pairs")
    Traceback (most recent call last):
    ...
    simlab.errors.InvalidFeaturesError: pairs needs local features with 'descriptors', \
'shape' (from simlab.extract(image, 'rootsift') or simlab.local.extract_local)
    """
    missing = [key for key in _REQUIRED if key not in features]
    if missing:
        raise InvalidFeaturesError(
            f"{job} needs local features with {', '.join(repr(k) for k in missing)} (from "
            "simlab.extract(image, 'rootsift') or simlab.local.extract_local)", label)
    out = dict(features)
    count = len(out["points"])
    if len(out["descriptors"]) != count:
        raise InvalidFeaturesError(f"{job}: {count} points but {len(out['descriptors'])} "
                                   "descriptors; extract the features again", label)
    if "descriptor" in out:
        kind = str(out["descriptor"])
    else:
        kind = "akaze" if out["descriptors"].dtype == np.uint8 else "sift"
        # Unit-length rows are RootSIFT's; SIFT's are integers up to 255.
        if kind == "sift" and count and np.allclose(
                np.linalg.norm(out["descriptors"][:8], axis=1), 1.0, atol=1e-3):
            kind = "rootsift"
        out["descriptor"] = np.array(kind)
    if descriptors is not None and kind not in descriptors:
        raise InvalidFeaturesError(
            f"{job} takes {' or '.join(descriptors)} features, these are {kind}; extract "
            f"them with simlab.extract(image, {descriptors[0]!r})", label)
    # SIFT held as bytes (sift_bytes) is matched as float32 SIFT or RootSIFT.
    out["descriptors"] = matched_descriptors(np.asarray(out["descriptors"]), kind)
    out.setdefault("scale", np.array(1.0))
    if "sizes" not in out or "angles" not in out:  # NaN: no orientation check
        out["sizes"] = np.full(count, np.nan, np.float32)
        out["angles"] = np.full(count, np.nan, np.float32)
    return out
