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


# --- how a view updates: one PNG per change, newest wins, never pyplot ------------------

def test_compare_ui_figure_is_one_png_of_the_full_figure_and_not_in_pyplot(pairs):
    import io

    import matplotlib.pyplot as plt
    from PIL import Image

    before = plt.get_fignums()
    ui = widgets.compare_ui(pairs, methods=["histogram", "ssim", "sift"], max_side=192)
    ui.controls["pair"].value = "crop"
    assert plt.get_fignums() == before  # nothing for a notebook backend to flush
    assert ui.image.value == ui.png and ui.png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = Image.open(io.BytesIO(ui.png)).size
    assert (width, height) == tuple(round(v * ui.dpi) for v in ui.figure.get_size_inches())
    assert len(ui.figure.axes) >= 4  # the scores and one panel per method (+ colour bar)
    assert "crop" in ui.figure.texts[0].get_text()
    assert "<table" in ui.table.value and "sift" in ui.table.value
    assert "updated in" in ui.status.value and not ui.busy


def test_method_checkboxes_and_the_methods_value_agree(pairs):
    ui = widgets.compare_ui(pairs, methods=["phash"], max_side=192)
    picker = ui.controls["methods"]
    picker.boxes["sift"].value = True  # what a click does
    assert picker.value == ("phash", "sift") and list(ui.frame["method"]) == ["phash", "sift"]
    picker.value = ("ssim",)
    assert [name for name, box in picker.boxes.items() if box.value] == ["ssim"]
    assert list(ui.frame["method"]) == ["ssim"]
    with pytest.raises(Exception, match="unknown method 'nope'"):
        picker.value = ("nope",)


def test_a_newer_change_supersedes_one_still_drawing():
    import threading

    import ipywidgets

    from simlab.plotting import new_figure

    started, release = threading.Event(), threading.Event()
    drawn = []

    def draw(n):
        if n == 1:  # the first change is slow: the next two arrive while it draws
            started.set()
            assert release.wait(30)
        drawn.append(n)
        fig, ax = new_figure(figsize=(2, 1))
        ax.set_title(str(n))
        return fig

    ui = widgets.figure_ui(draw, {"n": ipywidgets.IntSlider(value=0, max=9)})
    shown = []
    ui.image.observe(lambda change: shown.append(ui.figure.axes[0].get_title()), "value")
    ui.background = True  # as in a kernel: updates run on the handle's worker thread
    ui.controls["n"].value = 1
    assert started.wait(30) and ui.busy and "computing" in ui.status.value
    ui.controls["n"].value = 2
    ui.controls["n"].value = 3
    release.set()
    assert ui.wait(30) and not ui.busy
    assert ui.figure.axes[0].get_title() == "3" and ui.generation == ui.shown == 4
    assert shown == ["3"]  # the slow, superseded result (1) was never shown
    assert drawn == [0, 1, 3]  # 2 was superseded before it started: never computed
    assert ui.updates == 2  # the first view and the latest change


def test_errors_show_in_the_status_line_and_hide_the_figure(pairs, tmp_path):
    ui = widgets.compare_ui(pairs, methods=["phash"], max_side=192)
    ui.controls["path_a"].value = str(tmp_path / "missing.png")
    ui.controls["path_b"].value = str(tmp_path / "missing.png")
    assert "missing.png" in ui.error and "missing.png" in ui.status.value
    assert ui.image.layout.display == "none" and ui.table.value == ""
    ui.controls["path_a"].value = ""
    assert ui.error is None and ui.image.layout.display is None
