"""Widgets: setting a control recomputes, and the scores or figure change accordingly."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from simlab import samples, widgets  # noqa: E402


@pytest.fixture(scope="module")
def pairs():
    return samples.teaching_pairs(max_side=192)


def test_compare_ui_controls_change_scores(pairs):
    ui = widgets.compare_ui(pairs, methods=["sift", "histogram"], max_side=192)
    assert ui.updates == 1 and list(ui.frame["method"]) == ["histogram", "sift"]
    ui.controls["pair"].value = "jpeg"
    before = ui.frame.set_index("method")["raw"]
    ui.controls["ratio"].value = 0.5
    after = ui.frame.set_index("method")["raw"]
    assert ui.updates == 3
    assert after["sift"] < before["sift"]            # fewer matches survive a strict ratio
    assert after["histogram"] == before["histogram"]  # and the histogram is unaffected
    ui.controls["metric"].value = "bhattacharyya"
    assert ui.frame.set_index("method")["raw"]["histogram"] != after["histogram"]


def test_compare_ui_method_selection_and_figure(pairs):
    ui = widgets.compare_ui(pairs, methods=["phash"], max_side=192)
    panels_before = len(ui.figure.axes)
    ui.controls["methods"].value = ("phash", "ssim", "akaze")
    assert list(ui.frame["method"]) == ["ssim", "phash", "akaze"]
    assert len(ui.figure.axes) > panels_before


def test_compare_ui_paths(tmp_path, pairs):
    from PIL import Image

    Image.fromarray(pairs["crop"].image_a).save(tmp_path / "a.png")
    Image.fromarray(pairs["crop"].image_b).save(tmp_path / "b.png")
    ui = widgets.compare_ui(pairs, methods=["sift"], max_side=192)
    ui.controls["path_a"].value = str(tmp_path / "a.png")
    ui.controls["path_b"].value = str(tmp_path / "b.png")
    assert ui.figure.texts[0].get_text() == "pair: paths"


def test_sweep_ui_range_and_kind(pairs):
    ui = widgets.sweep_ui(methods=["phash", "sift"], kind="jpeg", steps=3, max_side=160)
    assert sorted(ui.frame["strength"].unique()) == [0.0, 0.5, 1.0]
    assert set(ui.frame["kind"]) == {"jpeg"}
    ui.controls["kind"].value = "crop"
    ui.controls["steps"].value = 4
    assert set(ui.frame["kind"]) == {"crop"} and ui.frame["strength"].nunique() == 4
    at_zero = ui.frame[ui.frame["strength"] == 0.0]
    assert (at_zero["score"] == 1.0).all()  # strength 0 is the unedited image
