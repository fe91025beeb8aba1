"""Compare two images with one method, or with many side by side."""

from __future__ import annotations

import time
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .errors import InvalidParameterError, MethodUnavailableError
from .io import ImageSource, describe_source, load_image
from .registry import Features, get_method, method_names
from .results import Similarity

__all__ = ["extract", "compare", "compare_all", "resolve_methods"]


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
    return spec.extract(load_image(image, max_side=max_side), resolved)


def compare(a: ImageSource, b: ImageSource, method: str = "sift", *,
            max_side: int | None = None, **params: Any) -> Similarity:
    """How similar two images are, by one method.

    Parameters
    ----------
    a, b : path, array or PIL image
        The two images (arrays are RGB; see :func:`simlab.load_image`).
    method : str
        One of :func:`simlab.method_names`: ``histogram``, ``ssim``, ``sift``,
        ``rootsift``, ``akaze``, ``phash``, ``vgg16``.
    max_side : int, optional
        Shrink both images so their longest side is at most this (for speed).
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
    start = time.perf_counter()
    features_a = spec.extract(image_a, params)
    features_b = spec.extract(image_b, params)
    result = spec.score(features_a, features_b, params)
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
                *, max_side: int | None = None,
                params: Mapping[str, Mapping[str, Any]] | None = None):
    """Compare two images with several methods side by side.

    Methods that cannot run here (e.g. VGG16 without weights offline) are not errors:
    they get a row with a NaN score and the reason in ``skipped``.

    Parameters
    ----------
    a, b : path, array or PIL image
        The two images.
    methods : list of str or "all", optional
        Methods to run; default all registered ones.
    max_side : int, optional
        Shrink both images first (applies to every method).
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
            except MethodUnavailableError as exc:
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
