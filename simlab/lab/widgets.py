"""Interactive widgets for notebooks: compare methods on a pair, sweep an edit's strength.

Each function returns a handle whose ``controls`` tests (and people) can set; changing
a control recomputes and redraws. Sliders use ``continuous_update=False`` so heavy
methods run once per release, not on every pixel of a drag. ipywidgets is imported
here only, and a missing install is named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import MethodUnavailableError, NotAnImageError, SimlabError

__all__ = ["compare_ui", "sweep_ui", "WidgetHandle"]

DEFAULT_METHODS = ("histogram", "ssim", "phash", "sift", "akaze")


def _ipywidgets():
    try:
        import ipywidgets
    except ImportError:  # pragma: no cover - ipywidgets is a dependency
        raise MethodUnavailableError(
            "simlab.widgets needs ipywidgets: pip install ipywidgets") from None
    return ipywidgets


@dataclass
class WidgetHandle:
    """A displayed widget, its named controls, and the last thing it computed.

    Attributes
    ----------
    widget : ipywidgets.Widget
        The whole user interface (display it, or let the notebook show the handle).
    controls : dict
        Named controls; set ``controls["ratio"].value = 0.6`` to change a parameter.
    output : ipywidgets.Output
        Where tables and figures are drawn.
    frame : pandas.DataFrame or None
        Scores of the last update.
    figure : matplotlib.figure.Figure or None
        Figure of the last update.
    error : str or None
        The message of the last update's error (bad path...), shown in the output.
    updates : int
        How many times the view was recomputed.
    """

    widget: Any
    controls: dict[str, Any]
    output: Any
    frame: Any = None
    figure: Any = None
    error: str | None = None
    updates: int = 0
    _compute: Callable[["WidgetHandle"], None] | None = field(default=None, repr=False)

    def update(self, *_: Any) -> None:
        """Recompute with the controls' current values and redraw.

        Outside a Jupyter kernel (scripts, doctests) it only recomputes: there is no
        front end to draw into.
        """
        import matplotlib.pyplot as plt
        from IPython import get_ipython
        from IPython.display import HTML, display

        self.updates += 1
        if get_ipython() is None:
            self.error = None
            self._compute(self)
            plt.close(self.figure)
            return
        self.output.clear_output(wait=True)
        with self.output:
            try:
                self.error = None
                self._compute(self)
                display(self.frame)
                if self.figure is not None:
                    display(self.figure)
                    plt.close(self.figure)
            except SimlabError as exc:
                self.error = str(exc)
                display(HTML(f"<b style='color:#b00'>simlab: {self.error}</b>"))

    def _repr_mimebundle_(self, **kwargs: Any):
        return self.widget._repr_mimebundle_(**kwargs)


def _watch(handle: WidgetHandle) -> None:
    for control in handle.controls.values():
        if hasattr(control, "observe") and not isinstance(control, _ipywidgets().Button):
            control.observe(handle.update, names="value")


def _uploaded_image(upload) -> np.ndarray | None:
    """The first file of an ipywidgets 8 FileUpload as RGB uint8, or None."""
    import io

    from PIL import Image, UnidentifiedImageError

    from ..io import load_image

    if not upload.value:
        return None
    item = upload.value[0]
    name = item.get("name", "upload")
    try:
        image = Image.open(io.BytesIO(bytes(item["content"])))
    except (UnidentifiedImageError, OSError):
        raise NotAnImageError("the uploaded file is not an image", name) from None
    return load_image(image, name=name)


def compare_ui(pairs: dict | None = None, *, methods: Sequence[str] | None = None,
               max_side: int = 384, columns: int = 3) -> WidgetHandle:
    """Pick a pair and methods, move sliders, see every method's panel and the scores.

    Parameters
    ----------
    pairs : dict of name -> Pair, optional
        Default :func:`simlab.lab.samples.teaching_pairs`. Two paths or two uploads, when
        given in the widget, replace the chosen pair.
    methods : sequence of str, optional
        Initially selected methods (default histogram, ssim, phash, sift, akaze).
    max_side : int
        Images are shrunk to this longest side, to keep the widget responsive.

    Returns
    -------
    WidgetHandle
        Display it; ``handle.controls`` holds ``pair, path_a, path_b, upload_a,
        upload_b, methods, ratio, max_keypoints, matches_drawn, ransac_threshold,
        show_outliers, bins, color_space, metric, ssim_window, ssim_gaussian,
        ssim_color``.

    Examples
    --------
    >>> from simlab.lab.samples import teaching_pairs
    >>> ui = compare_ui(teaching_pairs(max_side=96), methods=["phash"], max_side=96)
    >>> float(ui.frame["score"].iloc[0])   # the first pair is "identical"
    1.0
    """
    widgets = _ipywidgets()
    from ..comparison import compare_all
    from ..io import load_image
    from ..methods.histogram import METRICS
    from ..plotting import plot_comparison
    from ..registry import available_methods
    from .samples import teaching_pairs

    pairs = pairs if pairs is not None else teaching_pairs(max_side=max_side)
    runnable = available_methods()
    chosen = [m for m in runnable if m in (methods or DEFAULT_METHODS)]
    slider = {"continuous_update": False, "style": {"description_width": "initial"}}
    controls = {
        "pair": widgets.Dropdown(options=list(pairs), description="pair"),
        "path_a": widgets.Text(placeholder="or a path to image A", description="A"),
        "path_b": widgets.Text(placeholder="or a path to image B", description="B"),
        "upload_a": widgets.FileUpload(accept="image/*", description="upload A"),
        "upload_b": widgets.FileUpload(accept="image/*", description="upload B"),
        "methods": widgets.SelectMultiple(options=runnable, value=tuple(chosen),
                                          description="methods", rows=len(runnable)),
        "ratio": widgets.FloatSlider(value=0.75, min=0.5, max=0.95, step=0.05,
                                     description="ratio test", **slider),
        "max_keypoints": widgets.IntSlider(value=2000, min=100, max=5000, step=100,
                                           description="keypoint cap", **slider),
        "matches_drawn": widgets.IntSlider(value=50, min=5, max=300, step=5,
                                           description="matches drawn", **slider),
        "ransac_threshold": widgets.FloatSlider(value=5.0, min=1.0, max=20.0, step=0.5,
                                                description="RANSAC px", **slider),
        "show_outliers": widgets.Checkbox(value=False, description="show outliers"),
        "bins": widgets.IntSlider(value=16, min=4, max=64, step=4,
                                  description="histogram bins", **slider),
        "color_space": widgets.Dropdown(options=["rgb", "hsv", "gray"], value="rgb",
                                        description="colour space"),
        "metric": widgets.Dropdown(options=list(METRICS), value="correlation",
                                   description="metric"),
        "ssim_window": widgets.IntSlider(value=7, min=3, max=31, step=2,
                                         description="SSIM window", **slider),
        "ssim_gaussian": widgets.Checkbox(value=False, description="SSIM Gaussian"),
        "ssim_color": widgets.Checkbox(value=False, description="SSIM colour"),
    }

    def images(c: dict) -> tuple[np.ndarray, np.ndarray, str]:
        uploaded = (_uploaded_image(c["upload_a"]), _uploaded_image(c["upload_b"]))
        if uploaded[0] is not None and uploaded[1] is not None:
            return (load_image(uploaded[0], max_side=max_side),
                    load_image(uploaded[1], max_side=max_side), "uploads")
        if c["path_a"].value.strip() and c["path_b"].value.strip():
            return (load_image(c["path_a"].value.strip(), max_side=max_side),
                    load_image(c["path_b"].value.strip(), max_side=max_side), "paths")
        pair = pairs[c["pair"].value]
        return (load_image(pair.image_a, max_side=max_side),
                load_image(pair.image_b, max_side=max_side), pair.name)

    def compute(handle: WidgetHandle) -> None:
        c = handle.controls
        image_a, image_b, label = images(c)
        keypoint = {"ratio": c["ratio"].value, "max_keypoints": c["max_keypoints"].value,
                    "ransac_threshold": c["ransac_threshold"].value}
        params = {"histogram": {"bins": c["bins"].value, "color_space": c["color_space"].value,
                                "metric": c["metric"].value},
                  "ssim": {"win_size": c["ssim_window"].value,
                           "gaussian": c["ssim_gaussian"].value,
                           "color": c["ssim_color"].value},
                  "sift": keypoint, "rootsift": keypoint, "akaze": keypoint}
        # Registry order, whatever order the boxes were ticked in.
        names = [m for m in runnable if m in c["methods"].value]
        frame = compare_all(image_a, image_b, names,
                            params={m: p for m, p in params.items() if m in names})
        handle.frame = frame
        handle.figure = plot_comparison(image_a, image_b, frame, columns=columns,
                                        title=f"pair: {label}",
                                        max_lines=c["matches_drawn"].value,
                                        show_outliers=c["show_outliers"].value)

    output = widgets.Output()
    c = controls
    keypoint_box = widgets.VBox([widgets.HTML("<b>keypoints</b>"), c["ratio"],
                                 c["max_keypoints"], c["ransac_threshold"], c["matches_drawn"],
                                 c["show_outliers"]])
    global_box = widgets.VBox([widgets.HTML("<b>histogram / SSIM</b>"), c["bins"],
                               c["color_space"], c["metric"], c["ssim_window"],
                               c["ssim_gaussian"], c["ssim_color"]])
    source_box = widgets.VBox([widgets.HTML("<b>images</b>"), c["pair"], c["path_a"],
                               c["path_b"], widgets.HBox([c["upload_a"], c["upload_b"]]),
                               c["methods"]])
    ui = widgets.VBox([widgets.HBox([source_box, keypoint_box, global_box]), output])
    handle = WidgetHandle(ui, controls, output, _compute=compute)
    _watch(handle)
    handle.update()
    return handle


def sweep_ui(image: np.ndarray | None = None, *, methods: Sequence[str] | None = None,
             kind: str = "crop", steps: int = 6, max_side: int = 320) -> WidgetHandle:
    """Choose an edit and a strength range; plot each method's score against strength.

    Parameters
    ----------
    image : ndarray, optional
        RGB original; default: the built-in image picked in the widget.
    methods : sequence of str, optional
        Initially selected methods.
    kind : str
        Initial transformation (a key of :data:`simlab.lab.samples.TRANSFORMS`).
    steps : int
        Initial number of strengths between the range's ends.

    Returns
    -------
    WidgetHandle
        Controls ``image, kind, strength, steps, methods``; ``frame`` holds the curve.

    Examples
    --------
    >>> ui = sweep_ui(methods=["phash"], kind="jpeg", steps=2, max_side=96)
    >>> sorted(ui.frame["strength"].unique().tolist())
    [0.0, 1.0]
    """
    widgets = _ipywidgets()
    from ..io import load_image
    from ..registry import available_methods
    from .robustness import plot_robustness, robustness_curve
    from .samples import SAMPLE_NAMES, TRANSFORMS, sample_image

    runnable = available_methods()
    chosen = [m for m in runnable if m in (methods or DEFAULT_METHODS)]
    slider = {"continuous_update": False, "style": {"description_width": "initial"}}
    controls = {
        "image": widgets.Dropdown(options=["(given)"] if image is not None else
                                  list(SAMPLE_NAMES), description="image"),
        "kind": widgets.Dropdown(options=[k for k in TRANSFORMS if k != "identical"],
                                 value=kind, description="edit"),
        "strength": widgets.FloatRangeSlider(value=(0.0, 1.0), min=0.0, max=1.0, step=0.05,
                                             description="strength", **slider),
        "steps": widgets.IntSlider(value=steps, min=2, max=11, description="steps",
                                   **slider),
        "methods": widgets.SelectMultiple(options=runnable, value=tuple(chosen),
                                          description="methods", rows=len(runnable)),
    }

    def compute(handle: WidgetHandle) -> None:
        c = handle.controls
        original = image if image is not None else sample_image(c["image"].value,
                                                                max_side=max_side)
        original = load_image(original, max_side=max_side)
        low, high = c["strength"].value
        strengths = np.round(np.linspace(low, high, c["steps"].value), 4)
        handle.frame = robustness_curve(original, c["kind"].value, strengths,
                                        [m for m in runnable if m in c["methods"].value])
        handle.figure = plot_robustness(handle.frame)

    output = widgets.Output()
    c = controls
    ui = widgets.VBox([widgets.HBox([widgets.VBox([c["image"], c["kind"], c["strength"],
                                                   c["steps"]]), c["methods"]]), output])
    handle = WidgetHandle(ui, controls, output, _compute=compute)
    _watch(handle)
    handle.update()
    return handle
