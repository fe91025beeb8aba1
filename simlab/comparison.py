"""Compare two images with one method, or with many side by side."""

from __future__ import annotations

import os
import time
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .errors import (ImageTooLargeError, InvalidParameterError, MethodUnavailableError,
                     SimlabError)
from .io import ImageSource, describe_source, load_image
from .registry import Features, get_method, method_names
from .results import Similarity

__all__ = ["extract", "compare", "compare_all", "resolve_methods", "DEFAULT_MAX_SIDE",
           "DEFAULT_MEMORY_BUDGET_MB"]

#: Longest side, in pixels, :func:`compare` and :func:`compare_all` shrink images to by
#: default. Two 6000x4000 photos with every method took 75 s and 5.9 GB at full size,
#: 2.5 s and 0.29 GB at 1024. Pass ``max_side=None`` to compare at full size.
DEFAULT_MAX_SIDE = 1024
#: Memory, in MB, one comparison may plan to use (override with the
#: ``SIMLAB_MEMORY_BUDGET_MB`` environment variable). Only full-size comparisons of
#: large images come near it.
DEFAULT_MEMORY_BUDGET_MB = 2048
#: Peak memory of a method's extraction, in bytes per pixel of the larger image, measured
#: on 2000x2000 pairs on this project's machines (SIFT's pyramid of float images: ~210;
#: SSIM's float64 windows of both images: ~115; AKAZE's nonlinear scale space: ~80), with
#: a margin. pHash and VGG16 shrink the image first, histograms count it in one pass.
_BYTES_PER_PIXEL = {"sift": 240, "rootsift": 240, "ssim": 130, "akaze": 100,
                    "histogram": 4, "phash": 4, "vgg16": 4}
_DEFAULT_BYTES_PER_PIXEL = 16


def _memory_budget() -> int:
    text = os.environ.get("SIMLAB_MEMORY_BUDGET_MB", "").strip()
    if not text:
        return DEFAULT_MEMORY_BUDGET_MB * 2**20
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise InvalidParameterError(
            f"SIMLAB_MEMORY_BUDGET_MB={text!r} is not a positive number of megabytes; set "
            f"it like SIMLAB_MEMORY_BUDGET_MB=8000, or unset it for the default "
            f"{DEFAULT_MEMORY_BUDGET_MB}")
    return int(value * 2**20)


def _check_memory(method: str, image_a: np.ndarray, image_b: np.ndarray) -> None:
    """Refuse, before starting, a comparison whose extraction would outgrow the budget."""
    pixels = max(image_a.shape[0] * image_a.shape[1], image_b.shape[0] * image_b.shape[1])
    needed = pixels * _BYTES_PER_PIXEL.get(method, _DEFAULT_BYTES_PER_PIXEL)
    budget = _memory_budget()
    if needed > budget:
        sizes = " and ".join(f"{im.shape[1]}x{im.shape[0]}" for im in (image_a, image_b))
        raise ImageTooLargeError(
            f"{method} on {sizes} pixels would need about {needed / 2**30:.1f} GB of "
            f"memory, over simlab's budget of {budget / 2**30:.1f} GB; compare at a "
            f"smaller size (max_side={DEFAULT_MAX_SIDE} is the default, --max-side on the "
            "command line), or raise SIMLAB_MEMORY_BUDGET_MB if this machine has the memory")


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return type(exc).__name__ == "error" and ("Insufficient memory" in text
                                              or "Failed to allocate" in text)


def extract(image: ImageSource, method: str = "sift", *, max_side: int | None = None,
            **params: Any) -> Features:
    """Features of one image for ``method``: the cacheable half of a comparison.

    Parameters
    ----------
    image : path, array or PIL image
        Anything :func:`simlab.load_image` accepts.
    method : str
        Registry name (see :func:`simlab.method_names`).
    max_side : int, optional
        Shrink the image so its longest side is at most this, first.
    **params
        Method parameters (see ``simlab methods``).

    Returns
    -------
    dict of str to ndarray
        Saveable with ``np.savez`` and loadable with ``allow_pickle=False``.

    Examples
    --------
    >>> from skimage import data
    >>> extract(data.camera(), "phash")["hash"].shape
    (8,)
    """
    spec = get_method(method)
    resolved = spec.resolve(params)
    spec.ensure_available(resolved)
    loaded = load_image(image, max_side=max_side)
    _check_memory(spec.name, loaded, loaded)
    return spec.extract(loaded, resolved)


def compare(a: ImageSource, b: ImageSource, method: str = "sift", *,
            max_side: int | None = DEFAULT_MAX_SIDE, **params: Any) -> Similarity:
    """How similar two images are, by one method.

    Parameters
    ----------
    a, b : path, array or PIL image
        The two images (arrays are RGB; see :func:`simlab.load_image`).
    method : str
        One of :func:`simlab.method_names`: ``histogram``, ``ssim``, ``sift``,
        ``rootsift``, ``akaze``, ``phash``, ``vgg16``.
    max_side : int or None
        Shrink both images so their longest side is at most this many pixels (default
        :data:`DEFAULT_MAX_SIDE`, 1024: speed and bounded memory). ``None`` compares at
        full size; a method that would then need more memory than
        ``SIMLAB_MEMORY_BUDGET_MB`` (default 2048) raises
        :class:`~simlab.errors.ImageTooLargeError` before it starts.
    **params
        Method parameters, e.g. ``ratio=0.8`` for SIFT; unknown names raise
        :class:`~simlab.errors.InvalidParameterError` listing the valid ones.

    Returns
    -------
    Similarity
        ``score`` in [0, 1] (1.0 for identical images), ``raw``, ``details`` (with
        ``seconds``: extraction of both images plus scoring) and ``visual``.

    Examples
    --------
    >>> from skimage import data
    >>> compare(data.astronaut(), data.astronaut(), "histogram").score
    1.0
    """
    spec = get_method(method)
    resolved = spec.resolve(params)
    spec.ensure_available(resolved)
    image_a = load_image(a, max_side=max_side)
    image_b = load_image(b, max_side=max_side)
    return _timed_compare(spec, image_a, image_b, resolved)


def _timed_compare(spec, image_a: np.ndarray, image_b: np.ndarray,
                   params: Mapping[str, Any]) -> Similarity:
    _check_memory(spec.name, image_a, image_b)
    start = time.perf_counter()
    try:
        features_a = spec.extract(image_a, params)
        features_b = spec.extract(image_b, params)
        result = spec.score(features_a, features_b, params)
    except SimlabError:
        raise
    except Exception as exc:  # MemoryError, cv2.error "Insufficient memory"
        if not _is_out_of_memory(exc):
            raise
        sizes = " and ".join(f"{im.shape[1]}x{im.shape[0]}" for im in (image_a, image_b))
        raise ImageTooLargeError(
            f"{spec.name} ran out of memory on {sizes} pixels; compare at a smaller size "
            f"(max_side={DEFAULT_MAX_SIDE} is the default, --max-side on the command line)"
        ) from None
    seconds = time.perf_counter() - start
    return Similarity(result.method, result.score, result.raw,
                      {**result.details, "seconds": round(seconds, 6)}, result.visual)


def resolve_methods(methods: str | Iterable[str] | None) -> list[str]:
    """Expand ``None`` or ``"all"`` into every registered name; check the others.

    Examples
    --------
    >>> resolve_methods(["ssim", "sift"])
    ['ssim', 'sift']
    """
    if methods is None or methods == "all":
        return method_names()
    if isinstance(methods, str):
        methods = [methods]
    names: list[str] = []
    for name in methods:
        expanded = method_names() if name == "all" else [get_method(name).name]
        names.extend(n for n in expanded if n not in names)
    return names


def compare_all(a: ImageSource, b: ImageSource, methods: str | Sequence[str] | None = None,
                *, max_side: int | None = DEFAULT_MAX_SIDE,
                params: Mapping[str, Mapping[str, Any]] | None = None):
    """Compare two images with several methods side by side.

    Methods that cannot run here (e.g. VGG16 without weights offline), or that would
    need more memory than the budget at this size, are not errors: they get a row with
    a NaN score and the reason in ``skipped``.

    Parameters
    ----------
    a, b : path, array or PIL image
        The two images.
    methods : list of str or "all", optional
        Methods to run; default all registered ones.
    max_side : int or None
        Shrink both images first (applies to every method); default
        :data:`DEFAULT_MAX_SIDE`, ``None`` for full size (see :func:`compare`).
    params : dict, optional
        Per-method parameters, e.g. ``{"sift": {"ratio": 0.8}}``.

    Returns
    -------
    pandas.DataFrame
        Columns ``method, score, raw, seconds, skipped``; the :class:`Similarity`
        objects are in ``frame.attrs["results"]`` (method name -> Similarity), for
        :func:`simlab.plotting.plot_comparison`.

    Examples
    --------
    >>> from skimage import data
    >>> frame = compare_all(data.camera(), data.camera(), ["phash", "ssim"])
    >>> frame[["method", "score"]].to_dict("records")
    [{'method': 'phash', 'score': 1.0}, {'method': 'ssim', 'score': 1.0}]
    """
    import pandas as pd

    names = resolve_methods(methods)
    params = dict(params or {})
    unknown = set(params) - set(names)
    if unknown:
        raise InvalidParameterError(
            f"parameters given for methods not being run: {', '.join(sorted(unknown))}")
    image_a = load_image(a, max_side=max_side)
    image_b = load_image(b, max_side=max_side)
    rows, results = [], {}
    for name in names:
        spec = get_method(name)
        resolved = spec.resolve(params.get(name))
        reason = spec.unavailable_reason(resolved)
        result = None
        if reason is None:
            try:
                result = _timed_compare(spec, image_a, image_b, resolved)
            except (MethodUnavailableError, ImageTooLargeError) as exc:
                reason = str(exc)
        if result is None:
            rows.append({"method": name, "score": np.nan, "raw": np.nan,
                         "seconds": np.nan, "skipped": reason})
            continue
        results[name] = result
        rows.append({"method": name, "score": result.score, "raw": result.raw,
                     "seconds": result.seconds, "skipped": None})
    frame = pd.DataFrame(rows, columns=["method", "score", "raw", "seconds", "skipped"])
    frame.attrs["results"] = results
    frame.attrs["images"] = (describe_source(a), describe_source(b))
    return frame
