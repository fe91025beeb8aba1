"""`simlab demo`: a method that cannot run here is shown with its reason, never as NaN."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from simlab import demo
from simlab.plotting import figure_png, pyplot_free


@pytest.fixture()
def no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("SIMLAB_VGG16_WEIGHTS", "")


def test_demo_summary_names_why_vgg16_was_skipped(tmp_path, no_weights):
    summary = demo.run_demo(tmp_path / "demo", methods=["phash", "vgg16"])
    vgg16_row = next(line for line in summary.splitlines() if line.startswith("vgg16 "))
    assert "NaN" not in summary and "skipped" in vgg16_row
    assert "vgg16 skipped: VGG16 ImageNet weights are not available offline" in summary
    assert (tmp_path / "demo" / "heatmap.png").is_file()


def test_heatmap_row_of_a_skipped_method_is_grey_and_captioned(no_weights):
    table, _ = demo.score_table(["phash", "vgg16"], max_side=96, progress=False)
    with pyplot_free():
        fig = demo.plot_heatmap(table)
    caption = " ".join(text.get_text() for text in fig.texts)
    assert "vgg16 skipped: VGG16 ImageNet weights are not available offline" in caption
    ax = fig.axes[0]
    assert {t.get_text() for t in ax.texts[len(table) // 2:]} == {"skipped"}
    picture = np.asarray(Image.open(io.BytesIO(figure_png(fig, dpi=80))).convert("RGB"))
    # The vgg16 row (second of two): its middle band of pixels is grey, not page white.
    left, bottom, width, height = ax.get_position().bounds
    rows, columns = picture.shape[:2]
    top_px = int((1 - bottom - height) * rows)
    band = picture[top_px + int(0.70 * height * rows):top_px + int(0.80 * height * rows),
                   int(left * columns) + 2:int((left + width) * columns) - 2]
    assert abs(np.median(band) - 0xd9) < 10  # grey (the "skipped" labels are darker)
    assert (band.min(axis=2) > 250).mean() < 0.01  # and nowhere page white
