"""Robustness curves: each method's score as one edit gets stronger.

The curve makes visible why a method "stops finding the image once the query differs
more" (as a well-known forum question puts it): a global method falls off a cliff while
a verified keypoint method degrades slowly.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["robustness_curve", "plot_robustness"]


def robustness_curve(image: np.ndarray, kind: str, strengths: Sequence[float],
                     methods: Sequence[str] | None = None, *,
                     params: dict | None = None, progress: bool = False):
    """Score of ``image`` against ``transform(image, kind, s)`` for each strength ``s``.

    Features of the original are extracted once per method; only the edited copies
    are re-extracted.

    Parameters
    ----------
    image : ndarray
        RGB uint8 original.
    kind : str
        A key of :data:`simlab.lab.samples.TRANSFORMS` (crop, jpeg, rotate, hue...).
    strengths : sequence of float
        Edit strengths in [0, 1].
    methods : sequence of str, optional
        Methods to run; default every method that can run here.
    params : dict, optional
        Per-method parameters, ``{"sift": {"ratio": 0.8}}``.

    Returns
    -------
    pandas.DataFrame
        Long table ``kind, strength, method, score, raw``.

    Examples
    --------
    >>> from simlab.lab.samples import sample_image
    >>> curve = robustness_curve(sample_image("camera", max_side=96), "jpeg", [0.0, 1.0],
    ...                          ["phash"])
    >>> bool(curve["score"].iloc[0] >= curve["score"].iloc[1])
    True
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from ..registry import available_methods, get_method
    from .samples import transform

    names = list(methods) if methods is not None else available_methods()
    params = params or {}
    specs = {name: get_method(name) for name in names}
    resolved = {name: spec.resolve(params.get(name)) for name, spec in specs.items()}
    for name, spec in specs.items():
        spec.ensure_available(resolved[name])
    originals = {name: spec.extract(image, resolved[name]) for name, spec in specs.items()}
    rows = []
    for strength in tqdm(list(strengths), desc=f"{kind} strengths", disable=not progress):
        edited = transform(image, kind, float(strength))
        for name, spec in specs.items():
            result = spec.score(originals[name], spec.extract(edited, resolved[name]),
                                resolved[name])
            rows.append({"kind": kind, "strength": float(strength), "method": name,
                         "score": result.score, "raw": result.raw})
    return pd.DataFrame(rows, columns=["kind", "strength", "method", "score", "raw"])


def plot_robustness(curve, *, ax=None):
    """Score against edit strength, one line per method.

    Examples
    --------
    >>> from simlab.lab.samples import sample_image
    >>> fig = plot_robustness(robustness_curve(sample_image("camera", max_side=96), "crop",
    ...                                        [0.0, 0.5], ["histogram"]))
    """
    from ..plotting import new_figure
    from .samples import TRANSFORMS

    if ax is None:
        fig, ax = new_figure(figsize=(6.5, 3.8))
    else:
        fig = ax.figure
    for method, group in curve.groupby("method", sort=False):
        ax.plot(group["strength"], group["score"], marker="o", label=method)
    kinds = list(dict.fromkeys(curve["kind"]))
    meaning = "; ".join(f"{k}: {TRANSFORMS[k][1]}" for k in kinds if k in TRANSFORMS)
    ax.set_xlabel(f"edit strength s ({meaning})", fontsize="small")
    ax.set_ylabel("score (1 = identical)")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title(f"robustness to {', '.join(kinds)}")
    ax.legend(fontsize="small", loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
