"""Features of the duplicate finder: the engine's RootSIFT, plus dense copy-move evidence.

Extracted once per image, in parallel; plain arrays (``np.savez`` / ``np.load(...,
allow_pickle=False)`` round-trip them), so a cache can hold them.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..errors import InvalidParameterError
from ..registry import Features

__all__ = ["extract_features", "encode_folder", "feature_cache", "METHODS"]

#: Keypoint methods whose descriptors have the SIFT layout that mirroring permutes.
METHODS = ("rootsift", "sift")


def extract_features(image: np.ndarray, *, method: str = "rootsift",
                     max_keypoints: int = 1000, contrast_threshold: float = 0.01,
                     scale: float = 1.0, copy_move: bool = False,
                     fine_octave_below: int | None = None, compact: bool = False
                     ) -> Features:
    """Keypoints and descriptors of one RGB image, as arrays a cache can store.

    :func:`simlab.local.extract_local` with the duplicate finder's options: the grey
    image is stretched (measured without a black or white fill around the picture) and
    SIFT's contrast threshold is a quarter of OpenCV's default, so dim, low-contrast
    panels (microscopy, fundus images) get keypoints too, and a copy whose contrast was
    changed is detected at the same places. The ``max_keypoints`` strongest are kept.

    Parameters
    ----------
    image : ndarray
        ``(H, W, 3)`` uint8 RGB (see :func:`simlab.load_image`).
    method : {"rootsift", "sift"}
        RootSIFT (Hellinger-normalised SIFT) or SIFT.
    max_keypoints, contrast_threshold, fine_octave_below : int, float, int
        See :func:`simlab.local.extract_local`.
    scale : float
        How much the image was shrunk before extraction (1.0: not at all); stored so
        transforms can be reported in the original pixels.
    copy_move : bool
        Also look for a region repeated inside the image by dense matching (see
        :func:`simlab.duplicates.find_copy_move`), which needs the pixels; about 40 ms
        for a 300-px image.
    compact : bool
        Hold the descriptors as SIFT's bytes (:func:`simlab.local.extract.sift_bytes`:
        uint8, a quarter of float32's memory, nothing lost), with ``descriptor``
        still naming the kind matched; every matcher of the package expands them
        (:func:`simlab.local.check_features`). How :func:`encode_folder` keeps a large
        folder's features in memory and in its cache.

    Returns
    -------
    dict of str to ndarray
        The engine's features; with ``copy_move``, also the ``copy_move_*`` arrays of
        :func:`simlab.duplicates.copy_move.dense_copy_move`. No object arrays, so a copy
        saved with ``np.savez`` loads with ``allow_pickle=False``. The cache key of a
        saved copy is the file plus ``method, max_side, max_keypoints,
        contrast_threshold, copy_move``.

    Examples
    --------
    >>> from simlab import samples
    >>> f = extract_features(samples.sample_image("camera", max_side=128))
    >>> f["descriptors"].shape[1], f["shape"].tolist()
    (128, [128, 128])
    >>> extract_features(samples.sample_image("camera", max_side=128),
    ...                  compact=True)["descriptors"].dtype
    dtype('uint8')
    """
    import cv2

    from ..local.extract import (extract_local, root_descriptors, sift_bytes,
                                 stretch_contrast)

    if method not in METHODS:
        raise InvalidParameterError(
            f"duplicates needs a SIFT-layout method; got {method!r}, try one of: "
            f"{', '.join(METHODS)}")
    features = extract_local(image, descriptor="sift" if compact else method,
                             max_keypoints=max_keypoints,
                             contrast_threshold=contrast_threshold, stretch=True,
                             fine_octave_below=fine_octave_below, scale=scale)
    if compact:
        held = sift_bytes(features["descriptors"])
        # Not whole numbers 0-255 (another extractor): kept as float32 in the kind that
        # ``descriptor`` names, since only bytes are expanded where they are matched.
        features["descriptors"] = held if held.dtype == np.uint8 or method == "sift" \
            else root_descriptors(held)
        features["descriptor"] = np.array(method)
    if copy_move:
        from .copy_move import dense_copy_move

        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        features.update(dense_copy_move(stretch_contrast(grey)))
    return features


def _load_and_extract(path: Path, max_side: int | None, options: dict[str, Any],
                      cache=None) -> Features:
    from ..io import load_scaled

    if cache is not None:
        found = cache.get(path)
        if found is not None:
            return found
    image, scale = load_scaled(path, max_side)
    features = extract_features(image, scale=scale, **options)
    if cache is not None:  # written as made: an interrupted run keeps what it did
        cache.put(path, features)
    return features


def _load_and_extract_path(path: str, *, max_side: int | None, options: dict[str, Any]
                           ) -> Features:
    """One file's features, for a worker process (a module function pickles by name)."""
    return _load_and_extract(Path(path), max_side, options)


def feature_cache(directory: str | os.PathLike, *, method: str = "rootsift",
                  max_side: int | None = 800, max_keypoints: int = 1000,
                  contrast_threshold: float = 0.01, copy_move: bool = False):
    """The on-disk cache (:class:`simlab.duplicates.cache.FeatureCache`) of features
    extracted with these options, in ``directory``.

    Examples
    --------
    >>> import tempfile
    >>> feature_cache(tempfile.mkdtemp()).hits
    0
    """
    from .cache import FeatureCache

    required = ["points", "sizes", "angles", "descriptors", "shape", "scale", "descriptor"]
    if copy_move:
        required += ["copy_move_points_a", "copy_move_points_b", "copy_move_solid",
                     "copy_move_share", "copy_move_block", "copy_move_itself"]
    settings = {"job": "pairs", "method": method, "max_side": max_side,
                "max_keypoints": max_keypoints, "contrast_threshold": contrast_threshold,
                "copy_move": bool(copy_move)}
    return FeatureCache(directory, settings, required=required)


def encode_folder(folder_or_paths: str | os.PathLike | Iterable[str | os.PathLike], *,
                  method: str = "rootsift", max_side: int | None = 800,
                  max_keypoints: int = 1000, contrast_threshold: float = 0.01,
                  copy_move: bool = False, workers: int = 2, progress: bool = True,
                  cache=None, cluster=None
                  ) -> tuple[dict[str, Features], list[dict[str, str]]]:
    """Features of every readable image, extracted once, in parallel.

    Options are those of :func:`extract_features` (``copy_move`` adds the dense
    copy-move search); threads as :func:`simlab.parallel.map_files`. ``cache`` (a
    :class:`~simlab.duplicates.cache.FeatureCache` made with the same options, see
    :func:`feature_cache`) gives the features of unchanged files without reading them,
    and keeps those extracted. ``cluster`` (a :class:`simlab.distributed.Cluster`)
    extracts on its workers; the cache is then read and written here, by the caller.

    Returns
    -------
    features : dict
        Path (as given by :func:`simlab.list_images`) to its features, descriptors
        held as SIFT's bytes (``compact``, see :func:`extract_features`): 20,000
        images' features take about 0.8 GB instead of 2.9 GB.
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
    from ..io import scan_images
    from ..parallel import map_files

    options: dict[str, Any] = {"method": method, "max_keypoints": max_keypoints,
                               "contrast_threshold": contrast_threshold,
                               "copy_move": copy_move, "compact": True}
    # Bad options raise here, before any file (the dense search needs no check).
    extract_features(np.zeros((16, 16, 3), np.uint8), **{**options, "copy_move": False})

    listed, unlisted = scan_images(folder_or_paths)
    paths = [str(p) for p in listed]
    if cluster is None:
        features, skipped = map_files(
            lambda path: _load_and_extract(Path(path), max_side, options, cache), paths,
            workers=workers, progress=progress, desc="features")
    else:
        # Workers may not see the cache folder: look it up and fill it here.
        found = {} if cache is None else {p: cache.get(p) for p in paths}
        found = {p: f for p, f in found.items() if f is not None}
        made, skipped = map_files(
            functools.partial(_load_and_extract_path, max_side=max_side, options=options),
            [p for p in paths if p not in found], progress=progress, desc="features",
            cluster=cluster)
        if cache is not None:
            for path, value in made.items():
                cache.put(path, value)
        features = {p: found[p] if p in found else made[p] for p in paths
                    if p in found or p in made}
    return features, list(unlisted) + skipped  # SVG, FIFOs, link loops... then unreadable
