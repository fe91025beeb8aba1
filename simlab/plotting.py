"""Figures that explain a comparison: the pair, matches, SSIM map, histograms, scores.

Every function takes ``ax=None`` (a new figure is made when it is None), returns the
:class:`matplotlib.figure.Figure`, and never calls ``plt.show()``: notebooks and
reports decide how to show it.

New figures come from :func:`new_figure`: through pyplot (so a notebook shows them at
the end of the cell), or, inside :func:`pyplot_free`, as plain Figures on their own Agg
canvas, which widgets render to PNG bytes in one step, on any thread, with no global
state to race on.
"""

from __future__ import annotations

import contextlib
import contextvars
import io as _io
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from .results import Similarity

__all__ = ["plot_pair", "plot_matches", "plot_ssim_map", "plot_histograms", "plot_scores",
           "plot_similarity", "plot_comparison", "side_by_side", "new_figure",
           "pyplot_free", "figure_png"]

# Context-local, so a widget drawing on its worker thread never changes how the
# notebook's own cells make figures.
_PYPLOT_FREE: contextvars.ContextVar[bool] = contextvars.ContextVar("simlab_pyplot_free",
                                                                    default=False)


@contextlib.contextmanager
def pyplot_free() -> Iterator[None]:
    """Inside, :func:`new_figure` (so every plot function here) bypasses pyplot.

    The figures are not registered with pyplot: nothing displays or closes them behind
    the caller's back, and they are freed with their last reference.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> before = plt.get_fignums()
    >>> with pyplot_free():
    ...     fig, ax = new_figure()
    >>> plt.get_fignums() == before
    True
    """
    token = _PYPLOT_FREE.set(True)
    try:
        yield
    finally:
        _PYPLOT_FREE.reset(token)


def new_figure(rows: int = 1, columns: int = 1, *, figsize: tuple[float, float] = (8, 4),
               squeeze: bool = True):
    """A figure and its axes, like ``plt.subplots``; pyplot-free inside :func:`pyplot_free`.

    Examples
    --------
    >>> fig, axes = new_figure(1, 2, figsize=(4, 2))
    >>> len(fig.axes)
    2
    """
    if _PYPLOT_FREE.get():
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize)
        FigureCanvasAgg(fig)
        return fig, fig.subplots(rows, columns, squeeze=squeeze)
    import matplotlib.pyplot as plt

    return plt.subplots(rows, columns, figsize=figsize, squeeze=squeeze)


def figure_png(fig, *, dpi: float = 80) -> bytes:
    """The whole figure as PNG bytes, exactly ``figsize * dpi`` pixels (no tight crop).

    Examples
    --------
    >>> with pyplot_free():
    ...     fig, _ = new_figure(figsize=(4, 2))
    >>> png = figure_png(fig, dpi=50)
    >>> png[:4], len(png) > 100
    (b'\\x89PNG', True)
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)  # a pyplot figure's GUI canvas may not draw off its thread
    buffer = _io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def _axes(ax, figsize=(8, 4)):
    if ax is None:
        return new_figure(figsize=figsize)
    return ax.figure, ax


def side_by_side(image_a: np.ndarray, image_b: np.ndarray, gap: int = 8
                 ) -> tuple[np.ndarray, int]:
    """Both images on one white canvas, tops aligned; returns it and b's x offset.

    Examples
    --------
    >>> canvas, offset = side_by_side(np.zeros((20, 30, 3), np.uint8),
    ...                               np.zeros((10, 10, 3), np.uint8))
    >>> canvas.shape, offset
    ((20, 48, 3), 38)
    """
    height = max(image_a.shape[0], image_b.shape[0])
    offset = image_a.shape[1] + gap
    canvas = np.full((height, offset + image_b.shape[1], 3), 255, np.uint8)
    canvas[:image_a.shape[0], :image_a.shape[1]] = _rgb(image_a)
    canvas[:image_b.shape[0], offset:] = _rgb(image_b)
    return canvas, offset


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image


def plot_pair(image_a: np.ndarray, image_b: np.ndarray, *, ax=None,
              titles: Sequence[str] = ("a", "b")):
    """The two images side by side.

    Examples
    --------
    >>> from skimage import data
    >>> fig = plot_pair(data.astronaut(), data.coffee())
    """
    fig, ax = _axes(ax)
    canvas, offset = side_by_side(image_a, image_b)
    ax.imshow(canvas)
    ax.set_title(f"{titles[0]}  |  {titles[1]}")
    ax.axis("off")
    return fig


def _to_shown(shape, image: np.ndarray) -> np.ndarray:
    """Factors (x, y) from the pixels a result was computed at to those of ``image``."""
    if shape is None:
        return np.ones(2)
    height, width = (float(v) for v in np.asarray(shape)[:2])
    return np.array([image.shape[1] / width, image.shape[0] / height])


def plot_matches(image_a: np.ndarray, image_b: np.ndarray, result: Similarity, *, ax=None,
                 show_outliers: bool = False, max_lines: int = 100,
                 show_keypoints: bool = False):
    """Matched keypoints as lines between the images: RANSAC inliers (green) only by
    default, ratio-test outliers (red, thin) on request.

    ``image_a`` and ``image_b`` may be the images the features were extracted from or
    the files at another size (``compare`` shrinks to ``max_side`` first): points are
    scaled to the images given when the result records the shapes it was made at
    (``visual["shape_a"]``, ``visual["shape_b"]``).

    Examples
    --------
    >>> import simlab
    >>> from skimage import data
    >>> a = data.astronaut(); r = simlab.compare(a, a[50:, 50:], "sift")
    >>> fig = plot_matches(a, a[50:, 50:], r)
    """
    fig, ax = _axes(ax)
    canvas, offset = side_by_side(image_a, image_b)
    ax.imshow(canvas)
    visual = result.visual
    factors = {side: _to_shown(visual.get(f"shape_{side}"), image)
               for side, image in (("a", image_a), ("b", image_b))}
    points_a = np.asarray(visual.get("points_a", np.zeros((0, 2)))) * factors["a"]
    points_b = np.asarray(visual.get("points_b", np.zeros((0, 2)))) * factors["b"]
    inliers = np.asarray(visual.get("inlier_mask", np.zeros(len(points_a), bool)), bool)
    if show_keypoints:
        for key, shift in (("keypoints_a", 0), ("keypoints_b", offset)):
            kps = np.asarray(visual.get(key, np.zeros((0, 2)))) * factors[key[-1]]
            if len(kps):
                ax.scatter(kps[:, 0] + shift, kps[:, 1], s=3, c="yellow", alpha=0.6)
    # Lines are matches: several inlier matches can share a keypoint, which the title's
    # count of (distinct) inliers counts once.
    groups = [(inliers, "lime", 0.9, "inlier match")]
    if show_outliers:
        groups.append((~inliers, "red", 0.5, "outlier match"))
    for mask, colour, width, label in groups:
        index = np.flatnonzero(mask)[:max_lines]
        for i in index:
            ax.plot([points_a[i, 0], points_b[i, 0] + offset], [points_a[i, 1], points_b[i, 1]],
                    color=colour, linewidth=width, alpha=0.8)
        if len(index):
            ax.plot([], [], color=colour, label=f"{label}s ({int(mask.sum())}, "
                                                 f"{len(index)} drawn)")
    if inliers.any() or (show_outliers and len(inliers)):
        ax.legend(loc="lower right", fontsize="small")
    title = (f"{result.method}: {int(result.details.get('inliers', 0))} distinct inliers, "
             f"{int(result.details.get('good_matches', 0))} ratio-test matches, "
             f"score {result.score:.2f}")
    if result.reason:
        title += f"\n{result.reason}"
    ax.set_title(title, fontsize="medium")
    ax.axis("off")
    return fig


def plot_ssim_map(result: Similarity, *, ax=None):
    """The local SSIM map: dark where the images differ.

    Examples
    --------
    >>> import simlab
    >>> from skimage import data
    >>> fig = plot_ssim_map(simlab.compare(data.camera(), data.camera()[::-1], "ssim"))
    """
    fig, ax = _axes(ax, figsize=(5, 5))
    ssim_map = result.visual["ssim_map"]
    image = ax.imshow(ssim_map, cmap="magma", vmin=-1, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="local SSIM")
    ax.set_title(f"SSIM map, mean {result.raw:.3f}", fontsize="medium")
    ax.axis("off")
    return fig


def plot_histograms(result: Similarity, *, ax=None, labels: Sequence[str] = ("a", "b")):
    """Per-channel histograms of both images (a solid, b dashed), with the metric's value.

    Colour histograms are joint over three channels; for reading, each channel's
    marginal is drawn. The score itself is computed on the joint histogram.

    Examples
    --------
    >>> import simlab
    >>> from skimage import data
    >>> fig = plot_histograms(simlab.compare(data.astronaut(), data.coffee(), "histogram"))
    """
    fig, ax = _axes(ax, figsize=(7, 3))
    hist_a = np.asarray(result.visual["hist_a"])
    hist_b = np.asarray(result.visual["hist_b"])
    space = result.details.get("color_space") or "gray"
    channel_names = {"gray": ("grey",), "rgb": ("red", "green", "blue"),
                     "hsv": ("hue", "saturation", "value")}[space]
    colours = {"grey": "black", "red": "tab:red", "green": "tab:green", "blue": "tab:blue",
               "hue": "tab:purple", "saturation": "tab:orange", "value": "tab:gray"}
    for channel, name in enumerate(channel_names):
        other_axes = tuple(i for i in range(hist_a.ndim) if i != channel)
        if space == "gray":
            other_axes = tuple(range(1, hist_a.ndim))
        marginal_a = hist_a.sum(axis=other_axes) if other_axes else hist_a
        marginal_b = hist_b.sum(axis=other_axes) if other_axes else hist_b
        bins = np.linspace(0, 1, marginal_a.size)
        ax.plot(bins, marginal_a, color=colours[name], label=f"{labels[0]} {name}")
        ax.plot(bins, marginal_b, color=colours[name], linestyle="--",
                label=f"{labels[1]} {name}")
    ax.set_xlabel(f"channel value ({space}, {result.details.get('bins')} bins per channel)")
    ax.set_ylabel("fraction of pixels")
    ax.set_title(f"{result.details.get('metric')} = {result.raw:.3f}, score "
                 f"{result.score:.2f}", fontsize="medium")
    ax.legend(fontsize="x-small", ncol=2)
    return fig


def plot_scores(frame, *, ax=None):
    """Horizontal bars of each method's score (from :func:`simlab.compare_all`).

    Examples
    --------
    >>> import simlab
    >>> from skimage import data
    >>> fig = plot_scores(simlab.compare_all(data.camera(), data.camera(), ["phash", "ssim"]))
    """
    fig, ax = _axes(ax, figsize=(6, 0.5 + 0.45 * len(frame)))
    scores = frame["score"].fillna(0.0).to_numpy()
    skipped = [isinstance(reason, str) for reason in frame["skipped"]]
    ax.barh(frame["method"], scores, color=["#bbbbbb" if s else "tab:blue" for s in skipped])
    for y, (score, was_skipped) in enumerate(zip(scores, skipped)):
        label = "skipped" if was_skipped else f"{score:.2f}"
        ax.text(min(score, 0.85) + 0.02, y, label, va="center")
    ax.set_xlim(0, 1.05)
    ax.invert_yaxis()
    ax.set_xlabel("score (1 = identical)")
    return fig


def plot_similarity(image_a: np.ndarray, image_b: np.ndarray, result: Similarity, *,
                    ax=None, **kwargs: Any):
    """The picture that explains ``result``, whatever its method.

    Matches for keypoint methods, the SSIM map for SSIM, histograms for histograms,
    and the pair with its score for the global methods. ``kwargs`` go to
    :func:`plot_matches` and are ignored by the other pictures.
    """
    draws = result.draws
    if draws == "matches":
        return plot_matches(image_a, image_b, result, ax=ax, **kwargs)
    if draws == "ssim_map":
        return plot_ssim_map(result, ax=ax)
    if draws == "histograms":
        return plot_histograms(result, ax=ax)
    fig = plot_pair(image_a, image_b, ax=ax)
    (fig.axes[0] if ax is None else ax).set_title(
        f"{result.method}: score {result.score:.2f} (raw {result.raw:.3g})", fontsize="medium")
    return fig


def plot_comparison(image_a: np.ndarray, image_b: np.ndarray, frame,
                    *, columns: int = 3, title: str | None = None, **match_options: Any):
    """One panel per method of a :func:`simlab.compare_all` frame, plus the score bars.

    ``image_a``/``image_b`` must be the images the frame was computed on (after
    ``max_side``), since matches are drawn in their pixel coordinates.
    ``match_options`` (``max_lines``, ``show_outliers``...) go to :func:`plot_matches`.

    Examples
    --------
    >>> import simlab
    >>> from skimage import data
    >>> a, b = data.camera(), data.camera()[40:, 40:]
    >>> frame = simlab.compare_all(a, b, ["histogram", "sift"])
    >>> fig = plot_comparison(simlab.load_image(a), simlab.load_image(b), frame, title="crop")
    >>> len(fig.axes)
    3
    """
    results: Mapping[str, Similarity] = frame.attrs.get("results", {})
    panels = len(results) + 1
    rows = -(-panels // columns)
    fig, axes = new_figure(rows, columns, figsize=(5.5 * columns, 4.2 * rows),
                           squeeze=False)
    flat = axes.ravel()
    plot_scores(frame, ax=flat[0])
    flat[0].set_title("scores")
    for ax, (name, result) in zip(flat[1:], results.items()):
        plot_similarity(image_a, image_b, result, ax=ax, **match_options)
    for ax in flat[panels:]:
        ax.remove()
    if title:
        fig.suptitle(title)
        fig.tight_layout(rect=(0, 0, 1, 0.96))
    else:
        fig.tight_layout()
    return fig
