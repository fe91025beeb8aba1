"""Interactive widgets for notebooks: compare methods on a pair, sweep an edit's strength.

Each function returns a handle whose ``controls`` tests (and people) can set; changing
a control recomputes and redraws. Sliders use ``continuous_update=False`` so heavy
methods run once per release, not on every pixel of a drag. ipywidgets is imported
here only, and a missing install is named.

How a view updates, and why: the figure is built without pyplot (a plain Figure on an
Agg canvas), rendered to PNG bytes, and swapped into an ``ipywidgets.Image`` in one
message. Drawing with pyplot into an ``Output`` widget (the old way) let JupyterLab,
which sends widget messages on a kernel subshell, keep a half-drawn PNG. In a kernel
the work runs on one worker thread: the control's callback returns at once, a status
line says what is being computed, and a newer change supersedes an older one still
drawing (only the latest generation is ever shown). Outside a kernel (scripts, tests,
doctests) updates run synchronously.
"""

from __future__ import annotations

import html
import threading
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import MethodUnavailableError, NotAnImageError, SimlabError

__all__ = ["compare_ui", "sweep_ui", "browse_pairs", "figure_ui", "method_picker",
           "WidgetHandle"]

DEFAULT_METHODS = ("histogram", "ssim", "phash", "sift", "akaze")
#: Pixels per inch of the figures widgets show: a 3-column comparison is 1320 px wide.
DPI = 80


def _ipywidgets():
    try:
        import ipywidgets
    except ImportError:  # pragma: no cover - ipywidgets is a dependency
        raise MethodUnavailableError(
            "simlab.widgets needs ipywidgets: pip install ipywidgets") from None
    return ipywidgets


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


@dataclass
class WidgetHandle:
    """A displayed widget, its named controls, and the last thing it showed.

    Attributes
    ----------
    widget : ipywidgets.Widget
        The whole user interface (display it, or let the notebook show the handle).
    controls : dict
        Named controls; set ``controls["ratio"].value = 0.6`` to change a parameter.
    output : ipywidgets.VBox
        The view: ``status`` line, ``table`` and ``image``.
    status, table, image : ipywidgets.HTML, ipywidgets.HTML, ipywidgets.Image
        What is being computed (or how long the last update took, or its error), the
        scores, and the figure as PNG.
    frame : pandas.DataFrame or None
        Scores shown (of the latest update).
    figure : matplotlib.figure.Figure or None
        Figure shown, not registered with pyplot.
    png : bytes
        The figure as shown, ``figure`` size times ``dpi`` pixels.
    error : str or None
        The message of the last update's error (bad path...), shown in the status line.
    updates : int
        How many updates were shown (superseded ones are not counted).
    generation : int
        How many updates were requested; ``shown == generation`` once idle.
    """

    widget: Any
    controls: dict[str, Any]
    output: Any
    status: Any = None
    table: Any = None
    image: Any = None
    frame: Any = None
    figure: Any = None
    png: bytes = b""
    error: str | None = None
    updates: int = 0
    generation: int = 0
    shown: int = 0
    dpi: float = DPI
    background: bool | None = None
    _compute: Callable[[dict[str, Any]], tuple[Any, Any]] | None = field(default=None,
                                                                         repr=False)
    _lock: Any = field(default_factory=threading.Lock, repr=False)
    _worker: Any = field(default=None, repr=False)
    _idle: Any = field(default_factory=threading.Event, repr=False)

    def __post_init__(self) -> None:
        self._idle.set()

    @property
    def busy(self) -> bool:
        """True while an update is being computed or waits to be."""
        return not self._idle.is_set()

    def update(self, *_: Any) -> None:
        """Recompute with the controls' current values and show the result.

        In a kernel (after the first, synchronous, update) the work goes to the
        handle's worker thread and this returns at once; ``wait()`` blocks until the
        view is current. Each call is a new generation; results of older generations
        that finish late are dropped.
        """
        with self._lock:
            self.generation += 1
            self._idle.clear()
            # Said before any worker can finish this generation and say "updated".
            self._set_status("busy", self._describe_work())
            background = self.background if self.background is not None else (
                self.updates > 0 and _in_kernel())
            if background and self._worker is None:
                self._worker = threading.Thread(target=self._work, daemon=True,
                                                name="simlab-widget")
                self._worker.start()
        if not background:
            self._run(self.generation, reraise=True)
            with self._lock:
                if self._worker is None and self.shown == self.generation:
                    self._idle.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the latest requested update is shown; False on timeout."""
        return self._idle.wait(timeout)

    def _work(self) -> None:
        while True:
            with self._lock:
                if self.shown == self.generation:
                    self._worker = None
                    self._idle.set()
                    return
                generation = self.generation
            self._run(generation)

    def _run(self, generation: int, *, reraise: bool = False) -> None:
        from ..plotting import figure_png, pyplot_free

        started = time.perf_counter()
        frame = figure = None
        png, error = b"", None
        try:
            with pyplot_free():
                frame, figure = self._compute(self.controls)
                if figure is not None:
                    png = figure_png(figure, dpi=self.dpi)
        except SimlabError as exc:
            error = str(exc)
        except Exception as exc:  # a bug must show, not vanish with the worker thread
            error = f"{type(exc).__name__}: {exc}"
            if reraise:
                with self._lock:
                    if self._worker is None:
                        self._idle.set()
                raise
        with self._lock:
            if generation != self.generation:
                return  # superseded by a newer change: never show stale results
            self.shown = generation
            self.updates += 1
            self.error = error
            if error is None:
                self.frame, self.figure, self.png = frame, figure, png
        self._publish(error, frame, png, time.perf_counter() - started)
        if generation != self.generation:  # a change arrived while this was being shown
            self._set_status("busy", self._describe_work())

    def _publish(self, error, frame, png: bytes, seconds: float) -> None:
        if self.image is None:  # a handle made without a view (tests of _compute)
            return
        if error is not None:
            self.table.value = ""
            self.image.layout.display = "none"
            self._set_status("error", f"simlab: {error}")
            return
        self.table.value = _frame_html(frame)
        if png:
            self.image.value = png  # the whole figure, in one message
            self.image.layout.display = None
        else:
            self.image.layout.display = "none"
        self._set_status("ready", f"updated in {seconds:.1f} s")

    def _describe_work(self) -> str:
        methods = self.controls.get("methods")
        names = ", ".join(methods.value) if methods is not None else ""
        return f"computing {names}…" if names else "computing…"

    def _set_status(self, state: str, text: str) -> None:
        if self.status is None:
            return
        colour = {"busy": "#8a6d00", "error": "#b00", "ready": "#666"}[state]
        icon = {"busy": "\u23f3 ", "error": "", "ready": ""}[state]
        self.status.value = (f"<span class='simlab-{state}' style='color:{colour}'>"
                             f"{icon}{html.escape(text)}</span>")

    def _repr_mimebundle_(self, **kwargs: Any):
        return self.widget._repr_mimebundle_(**kwargs)


def _frame_html(frame) -> str:
    """The score table as HTML (pandas' ``dataframe`` class, as notebooks show tables)."""
    if frame is None or not len(getattr(frame, "columns", ())):
        return ""
    shown = frame.copy()
    for column in shown.columns:
        if shown[column].dtype == object:
            shown[column] = ["" if value is None else value for value in shown[column]]
    # A named index (browse_pairs' ranks) is data; a default one is not.
    table = shown.to_html(classes="dataframe", index=frame.index.name is not None,
                          na_rep="-", float_format=lambda value: f"{value:.3f}", border=0)
    # JupyterLab's class for rendered HTML outputs: the table looks like any DataFrame
    # (left-aligned, as a DataFrame output is, not centred as that class would).
    table = table.replace("<table ", "<table style='margin-left:0' ", 1)
    return f"<div class='jp-RenderedHTMLCommon'>{table}</div>"


def _view():
    """Status line, score table and figure image: the three parts every handle shows."""
    widgets = _ipywidgets()
    status = widgets.HTML(value="")
    status.add_class("simlab-status")
    table = widgets.HTML(value="")
    table.add_class("simlab-table")
    # Natural size, shrunk to fit but never stretched (a flex column would stretch it).
    image = widgets.Image(format="png", layout=widgets.Layout(
        max_width="100%", height="auto", align_self="flex-start", display="none"))
    image.add_class("simlab-figure")
    return status, table, image


def figure_ui(draw: Callable[..., Any], controls: Mapping[str, Any], *,
              layout: Callable[[dict, Any], Any] | None = None,
              dpi: float = DPI) -> WidgetHandle:
    """Controls and a figure that ``draw(**values)`` makes, updated atomically.

    Parameters
    ----------
    draw : callable
        Called with each control's ``value`` by name; returns a Figure, or a pair
        ``(table, figure)`` (either may be None). Figures made with
        :func:`simlab.plotting.new_figure` (every simlab plot function uses it) are
        built without pyplot here.
    controls : dict of name -> ipywidgets widget
        Every control with a ``value`` triggers an update when it changes.
    layout : callable, optional
        ``layout(controls, view)`` returns the whole widget; default: the controls in
        a row above the view.

    Examples
    --------
    >>> import ipywidgets
    >>> from simlab.plotting import new_figure
    >>> def draw(n):
    ...     fig, ax = new_figure(figsize=(3, 2)); ax.plot(range(n)); return fig
    >>> ui = figure_ui(draw, {"n": ipywidgets.IntSlider(value=3, min=2, max=9)})
    >>> ui.controls["n"].value = 5
    >>> ui.updates, ui.png[:4]
    (2, b'\\x89PNG')
    """
    def compute(current: dict[str, Any]) -> tuple[Any, Any]:
        values = {name: control.value for name, control in current.items()
                  if hasattr(control, "value")}
        result = draw(**values)
        return tuple(result) if isinstance(result, tuple) else (None, result)

    return _live(dict(controls), compute, layout=layout, dpi=dpi)


def _live(controls: dict[str, Any], compute: Callable[[dict[str, Any]], tuple[Any, Any]],
          *, layout: Callable[[dict, Any], Any] | None = None,
          dpi: float = DPI) -> WidgetHandle:
    """The handle every widget here is: controls, a view, ``compute(controls)``."""
    widgets = _ipywidgets()
    status, table, image = _view()
    view = widgets.VBox([status, table, image])
    ui = layout(controls, view) if layout is not None else widgets.VBox(
        [widgets.HBox([c for c in controls.values() if isinstance(c, widgets.DOMWidget)]),
         view])
    handle = WidgetHandle(ui, controls, view, status=status, table=table, image=image,
                          dpi=dpi, _compute=compute)
    _watch(handle)
    handle.update()
    return handle


def method_picker(options: Sequence[str], value: Sequence[str] = (), *,
                  description: str = "methods"):
    """One checkbox per method; ``.value`` is the tuple of ticked ones, in ``options`` order.

    Setting ``.value`` ticks the boxes; ticking a box changes ``.value`` (observe it
    with ``names="value"``, as any control).

    Examples
    --------
    >>> picker = method_picker(["ssim", "phash", "sift"], ["sift"])
    >>> picker.boxes["ssim"].value = True
    >>> picker.value
    ('ssim', 'sift')
    """
    return _picker_class()(options, value, description=description)


_PICKER = None


def _picker_class():
    global _PICKER
    if _PICKER is not None:
        return _PICKER
    widgets = _ipywidgets()
    import traitlets

    class MethodPicker(widgets.VBox):
        value = traitlets.Tuple()

        def __init__(self, options, value=(), *, description="methods"):
            self.options = tuple(options)
            self.boxes = {name: widgets.Checkbox(value=name in value, description=name,
                                                 indent=False,
                                                 layout=widgets.Layout(width="auto",
                                                                       height="22px"))
                          for name in self.options}
            self._syncing = False
            super().__init__([widgets.HTML(f"<b>{html.escape(description)}</b>"),
                              *self.boxes.values()])
            self.add_class("simlab-methods")
            self.value = tuple(name for name in self.options if name in value)
            for box in self.boxes.values():
                box.observe(self._box_changed, names="value")

        def _box_changed(self, _change) -> None:
            if not self._syncing:
                self.value = tuple(n for n in self.options if self.boxes[n].value)

        @traitlets.validate("value")
        def _valid(self, proposal):
            unknown = [n for n in proposal["value"] if n not in self.options]
            if unknown:
                raise traitlets.TraitError(
                    f"unknown method {unknown[0]!r}; try one of: {', '.join(self.options)}")
            return tuple(n for n in self.options if n in proposal["value"])

        @traitlets.observe("value")
        def _value_changed(self, change) -> None:
            self._syncing = True
            try:
                for name, box in self.boxes.items():
                    box.value = name in change["new"]
            finally:
                self._syncing = False

    _PICKER = MethodPicker
    return _PICKER


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
        ssim_color``. ``methods`` is a :func:`method_picker`: one checkbox per method
        (``controls["methods"].boxes["sift"]``), its ``value`` the ticked names.

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
        "methods": method_picker(runnable, chosen),
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

    def compute(c: dict[str, Any]) -> tuple[Any, Any]:
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
        figure = plot_comparison(image_a, image_b, frame, columns=columns,
                                 title=f"pair: {label}", max_lines=c["matches_drawn"].value,
                                 show_outliers=c["show_outliers"].value)
        return frame, figure

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
    return _live(controls, compute, layout=lambda _, view: widgets.VBox(
        [widgets.HBox([source_box, keypoint_box, global_box]), view]))


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
        "methods": method_picker(runnable, chosen),
    }

    def compute(c: dict[str, Any]) -> tuple[Any, Any]:
        original = image if image is not None else sample_image(c["image"].value,
                                                                max_side=max_side)
        original = load_image(original, max_side=max_side)
        low, high = c["strength"].value
        strengths = np.round(np.linspace(low, high, c["steps"].value), 4)
        curve = robustness_curve(original, c["kind"].value, strengths,
                                 [m for m in runnable if m in c["methods"].value])
        return curve, plot_robustness(curve)

    c = controls
    return _live(controls, compute, layout=lambda _, view: widgets.VBox(
        [widgets.HBox([widgets.VBox([c["image"], c["kind"], c["strength"], c["steps"]]),
                       c["methods"]]), view]), dpi=110)  # one small panel: more pixels


def browse_pairs(result, *, threshold: float = 0.3, max_side: int | None = None,
                 columns: tuple[str, ...] = ("a", "b", "kind", "score", "inliers",
                                             "inlier_ratio"), rows: int = 12):
    """A threshold slider over :func:`~simlab.duplicates.find`'s pairs and the picture of one.

    Run ``find`` with low gates (``threshold=0``) to browse what a stricter threshold
    would hide. Extra columns of ``result.table`` (say, whether a pair was planted) can be
    listed through ``columns``; the table shows the ``rows`` pairs around the one drawn
    (outputs stay small, which keeps headless notebook runs from stalling).

    Returns
    -------
    simlab.lab.widgets.WidgetHandle
        ``controls["threshold"]`` and ``controls["rank"]`` (1 = most certain pair above
        the threshold); ``handle.frame`` is the table shown (its ``rank`` column counts
        as the slider does) and ``handle.figure`` the picture of the chosen pair, shown
        as one PNG.

    Examples
    --------
    >>> from simlab.results import PairsResult
    >>> ui = browse_pairs(PairsResult.empty())
    >>> ui.controls["threshold"].value = 0.5
    >>> len(ui.frame), ui.figure is None
    (0, True)
    """
    from ..duplicates.report import load_pair_images, plot_pair_match
    from ..plotting import new_figure

    widgets = _ipywidgets()
    if max_side is None:
        max_side = result.stats.get("options", {}).get("max_side")
    matches, frame = result.matches, result.table
    slider = {"continuous_update": False, "style": {"description_width": "initial"}}
    controls = {
        "threshold": widgets.FloatSlider(value=threshold, min=0.0, max=1.0, step=0.05,
                                         description="score threshold", **slider),
        "rank": widgets.IntSlider(value=1, min=1, max=max(1, len(frame)),
                                  description="pair shown (rank)", **slider),
    }

    def compute(c: dict[str, Any]):
        shown = frame[frame["score"] >= c["threshold"].value]
        rank = min(c["rank"].value, len(shown))
        table = shown[list(columns)].copy()
        for side in ("a", "b"):
            table[side] = [Path(p).name for p in table[side]]
        table.index = range(1, len(table) + 1)  # ranks, as the slider counts them
        table.index.name = "rank"
        first = max(0, min(rank - 1 - rows // 2, len(table) - rows))
        figure = None
        if len(shown):
            row = shown.iloc[rank - 1]
            match = matches[(row["a"], row["b"])]
            figure, ax = new_figure(figsize=(7, 3.5))
            plot_pair_match(*load_pair_images(match, max_side=max_side), match, ax=ax)
        return table.iloc[first:first + rows], figure

    return _live(controls, compute)
