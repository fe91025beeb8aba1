"""Figures: each plot takes ax=None or an Axes, returns the Figure, draws what it says."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import simlab  # noqa: E402
from simlab import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_matches_draw_inliers_only_by_default(original, copies):
    result = simlab.compare(original, copies["crop70"], "sift", ratio=0.9)
    outliers = int((~result.visual["inlier_mask"]).sum())
    assert outliers > 0  # a loose ratio keeps some wrong matches to hide
    fig = plotting.plot_matches(original, copies["crop70"], result, max_lines=30)
    assert len(fig.axes[0].lines) == 30 + 1  # 30 inlier lines + 1 legend handle
    fig, ax = plt.subplots()
    returned = plotting.plot_matches(original, copies["crop70"], result, ax=ax,
                                     show_outliers=True, max_lines=30)
    assert returned is fig
    colours = {line.get_color() for line in ax.lines}
    assert {"lime", "red"} <= colours


def test_ssim_map_histograms_and_pair(original, copies):
    fig, axes = plt.subplots(1, 3)
    ssim = simlab.compare(original, copies["jpeg30"], "ssim")
    assert plotting.plot_ssim_map(ssim, ax=axes[0]) is fig
    assert axes[0].images[0].get_array().shape == (512, 512)
    hist = simlab.compare(original, copies["recolour"], "histogram")
    assert plotting.plot_histograms(hist, ax=axes[1]) is fig
    assert len(axes[1].lines) == 6  # 3 channels x 2 images
    phash = simlab.compare(original, copies["jpeg30"], "phash")
    assert plotting.plot_similarity(original, copies["jpeg30"], phash, ax=axes[2]) is fig
    assert "phash" in axes[2].get_title()


def test_comparison_figure_has_a_panel_per_method(original, copies):
    frame = simlab.compare_all(original, copies["crop70"], ["histogram", "ssim", "akaze"])
    fig = plotting.plot_comparison(original, copies["crop70"], frame)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0] == "scores" and any(t.startswith("akaze") for t in titles)
    bars = [p.get_width() for p in fig.axes[0].patches]
    assert np.allclose(bars, frame["score"])


def test_no_keypoints_figure_says_why(original):
    flat = np.full((128, 128, 3), 200, np.uint8)
    result = simlab.compare(original, flat, "akaze")
    fig = plotting.plot_matches(original, flat, result)
    assert "no keypoints" in fig.axes[0].get_title()
