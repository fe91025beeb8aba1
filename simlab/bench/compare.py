"""Benchmarks (speed, not correctness): ``simlab bench compare``.

Times are medians over repeated runs after one warm-up run, on this machine, with
images from :mod:`simlab.samples` (nothing downloaded).
"""

from __future__ import annotations

import statistics
import time
from typing import Sequence

__all__ = ["bench_compare"]


def _median_seconds(function, repeats: int) -> float:
    function()  # warm-up: first calls pay for lazy imports and allocations
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_compare(*, size: int = 640, repeats: int = 7,
                  methods: Sequence[str] | None = None):
    """Median time per ``extract`` and per pair for each method on ``size``-px images.

    The pair is scikit-image's rocket photo (640x427 at the default size) against a
    cropped, JPEG-compressed copy of it. A pair's time is two extractions plus scoring. VGG16 runs with random weights
    when ImageNet weights are absent: same network, same time, scores meaningless.

    Returns
    -------
    pandas.DataFrame
        ``method, extract_ms, score_ms, pair_ms, note``.

    Examples
    --------
    >>> frame = bench_compare(size=128, repeats=1, methods=["phash"])
    >>> list(frame.columns)
    ['method', 'extract_ms', 'score_ms', 'pair_ms', 'note']
    """
    import pandas as pd

    from ..comparison import resolve_methods
    from ..registry import get_method
    from ..samples import crop, jpeg, sample_image

    image_a = sample_image("rocket", max_side=size)
    image_b = jpeg(crop(image_a, 0.8), 40)
    rows = []
    for name in resolve_methods(methods):
        spec = get_method(name)
        params = spec.resolve()
        note = ""
        if spec.unavailable_reason(params):
            if name == "vgg16" and spec.unavailable_reason({"weights": None}) is None:
                params = spec.resolve({"weights": None})
                note = "random weights (ImageNet file absent): timing only"
            else:
                rows.append({"method": name, "extract_ms": None, "score_ms": None,
                             "pair_ms": None, "note": f"skipped: {spec.unavailable_reason()}"})
                continue
        features_a = spec.extract(image_a, params)
        features_b = spec.extract(image_b, params)
        extract_s = _median_seconds(lambda: spec.extract(image_a, params), repeats)
        score_s = _median_seconds(lambda: spec.score(features_a, features_b, params), repeats)
        pair_s = _median_seconds(lambda: spec.score(spec.extract(image_a, params),
                                                    spec.extract(image_b, params), params),
                                 repeats)
        rows.append({"method": name, "extract_ms": round(extract_s * 1000, 2),
                     "score_ms": round(score_s * 1000, 2), "pair_ms": round(pair_s * 1000, 2),
                     "note": note})
    return pd.DataFrame(rows, columns=["method", "extract_ms", "score_ms", "pair_ms", "note"])
