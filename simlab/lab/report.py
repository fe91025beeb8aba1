"""The HTML report: every notebook executed headless, one page each, plus an index.

``simlab report --out reports`` (and ``make report``) runs each notebook in
``notebooks/`` with nbclient, stores the widget state so the sliders render in the
static page, and writes ``<name>.html`` and ``index.html``. The widget and RequireJS
scripts are copied next to the pages from npm packages installed at build time, so the
report works offline instead of loading them from public CDNs. Key figures (the
methods x edits heatmap, robustness curves) are saved as PNG into ``figures/``.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import ReportError, WidgetAssetsMissingError
from ..files import atomic_path

__all__ = ["build_report", "notebook_client", "save_key_figures", "find_widget_assets",
           "NotebookRun",
           "ReportError", "WidgetAssetsMissingError"]

#: npm packages that provide the offline widget renderer and RequireJS.
WIDGET_PACKAGES = ("@jupyter-widgets/html-manager@1.0.15", "requirejs@2.3.8")
STATIC = "_static"
_TEMPLATE = Path(__file__).with_name("templates") / "report.html.j2"


@dataclass(frozen=True)
class NotebookRun:
    """What happened to one notebook: its page, time, and error if any."""

    name: str
    page: str | None
    seconds: float
    error: str | None = None


def find_widget_assets(assets: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """Paths of the html-manager ``dist/`` folder and ``require.js``.

    ``assets`` is a ``node_modules`` folder (default ``$SIMLAB_WIDGET_ASSETS`` or
    ``build/widget-assets/node_modules``).

    Raises
    ------
    WidgetAssetsMissingError
        Saying which npm command installs them.
    """
    root = Path(assets or os.environ.get("SIMLAB_WIDGET_ASSETS")
                or "build/widget-assets/node_modules")
    dist = root / "@jupyter-widgets" / "html-manager" / "dist"
    require = root / "requirejs" / "require.js"
    if not (dist / "embed-amd.js").is_file() or not require.is_file():
        raise WidgetAssetsMissingError(
            "the offline widget scripts are missing; run `make report-assets` or "
            f"`npm install --prefix build/widget-assets {' '.join(WIDGET_PACKAGES)}`",
            str(root))
    return dist, require


def notebook_client(book, *, timeout: int = 600, cwd: str | os.PathLike | None = None):
    """An nbclient ``NotebookClient`` that does not stall on widget-heavy cells.

    With ipywidgets, nbclient's wait for a cell's reply on the shell channel can miss
    the reply and sit until the cell timeout (nbclient issue 312: an asyncio socket
    poll that is not woken). Polling in half-second steps up to the same deadline
    returns as soon as the reply is there.

    Examples
    --------
    >>> import nbformat
    >>> book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    >>> _ = notebook_client(book, timeout=60).execute()
    >>> book.cells[0].outputs[0]["data"]["text/plain"]
    '2'
    """
    from queue import Empty

    from nbclient import NotebookClient

    class PatientClient(NotebookClient):
        async def async_start_new_kernel_client(self):
            client = await super().async_start_new_kernel_client()
            channel = client.shell_channel
            blocking_get = channel.get_msg

            async def get_msg(timeout: float | None = None):
                deadline = None if timeout is None else time.monotonic() + timeout
                while True:
                    remaining = 0.5 if deadline is None else deadline - time.monotonic()
                    try:
                        return await blocking_get(timeout=max(0.0, min(0.5, remaining)))
                    except Empty:
                        if deadline is not None and time.monotonic() >= deadline:
                            raise

            channel.get_msg = get_msg
            return client

    resources = {"metadata": {"path": str(cwd)}} if cwd else {}
    return PatientClient(book, timeout=timeout, kernel_name="python3", resources=resources)


def _copy_assets(out: Path, assets: str | os.PathLike | None) -> None:
    dist, require = find_widget_assets(assets)
    target = out / STATIC / "html-manager"
    if target.exists():
        shutil.rmtree(target)
    # Source maps are 6 MB and only help debugging the renderer itself.
    shutil.copytree(dist, target, ignore=shutil.ignore_patterns("*.map"))
    shutil.copy2(require, out / STATIC / "require.js")


def _exporter():
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", template_file=str(_TEMPLATE))
    exporter.require_js_url = f"{STATIC}/require.js"
    exporter.widget_renderer_url = f"{STATIC}/html-manager/embed-amd.js"
    return exporter


@contextlib.contextmanager
def _environment(**variables: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run_notebook(path: Path, out: Path, *, timeout: int, quick: bool) -> NotebookRun:
    import nbformat
    from nbclient.exceptions import CellExecutionError

    book = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    error = None
    # The kernel inherits these: small work in quick mode, and inline figures even when
    # the caller runs with MPLBACKEND=Agg (as CI and the tests do).
    with _environment(SIMLAB_QUICK="1" if quick else "0",
                      MPLBACKEND="module://matplotlib_inline.backend_inline"):
        try:
            notebook_client(book, timeout=timeout, cwd=path.parent).execute()
        except CellExecutionError as exc:
            # Keep the executed part: the page shows the failing cell and its traceback.
            # The last traceback line names the exception; drop the terminal colours.
            lines = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()
            error = lines[-1] if lines else repr(exc)
        except Exception as exc:  # kernel died, timeout...: report it, go on with the rest
            error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - start
    body, _ = _exporter().from_notebook_node(book)
    page = f"{path.stem}.html"
    with atomic_path(out / page) as temporary:
        temporary.write_text(body, encoding="utf-8")
    return NotebookRun(path.stem, page, round(seconds, 1), error)


def save_key_figures(figures_dir: str | os.PathLike = "figures", *, quick: bool = False
                     ) -> list[Path]:
    """Save the heatmap and robustness curves as PNG; return their paths.

    Examples
    --------
    >>> import tempfile
    >>> [p.name for p in save_key_figures(tempfile.mkdtemp(), quick=True)][:1]
    ['heatmap.png']
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from .demo import plot_heatmap, score_table
    from ..registry import available_methods
    from .robustness import plot_robustness, robustness_curve
    from .samples import sample_image

    folder = Path(figures_dir)
    side = 160 if quick else 384
    methods = [m for m in available_methods()]
    table, _ = score_table(methods, max_side=side, progress=False)
    saved = []
    figures = {"heatmap": plot_heatmap(table)}
    original = sample_image("astronaut", max_side=side)
    strengths = np.linspace(0, 1, 3 if quick else 6)
    for kind in ("crop", "jpeg", "rotate", "hue"):
        figures[f"robustness-{kind}"] = plot_robustness(
            robustness_curve(original, kind, strengths, methods))
    for name, figure in figures.items():
        path = folder / f"{name}.png"
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=110, format="png")
        plt.close(figure)
        saved.append(path)
    return saved


def _index_page(runs: Sequence[NotebookRun], figures: Sequence[Path], out: Path) -> str:
    rows = "\n".join(
        f"<tr><td><a href='{html.escape(run.page)}'>{html.escape(run.name)}</a></td>"
        f"<td>{run.seconds:.1f} s</td><td>{'ok' if run.error is None else 'FAILED: ' + html.escape(run.error)}</td></tr>"
        for run in runs)
    images = "\n".join(
        f"<figure><img src='{html.escape(os.path.relpath(path, out))}' alt='{path.stem}' "
        f"width='640'><figcaption>{path.stem}</figcaption></figure>" for path in figures)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>simlab report</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}
td{{padding:0.2em 1em}} figure{{display:inline-block;margin:0.5em}}</style></head>
<body><h1>simlab report</h1>
<p>Every notebook executed headless on {time.strftime('%Y-%m-%d %H:%M')}. The sliders in
each page show the state the notebook ran with: moving them recomputes nothing (there is no
Python kernel behind a static page); open the notebooks in JupyterLab to explore.</p>
<table><tr><th>notebook</th><th>run time</th><th>status</th></tr>
{rows}
</table>
<h2>Key figures</h2>
{images}
</body></html>
"""


def build_report(out: str | os.PathLike = "reports", *,
                 notebooks: str | os.PathLike | Sequence[str | os.PathLike] = "notebooks",
                 figures_dir: str | os.PathLike | None = "figures",
                 assets: str | os.PathLike | None = None, quick: bool = False,
                 timeout: int = 900, progress: bool = True) -> list[NotebookRun]:
    """Execute notebooks and write one HTML page each plus ``index.html`` into ``out``.

    Every notebook is run even when an earlier one fails; the failures are listed on
    the index page and raised together at the end as :class:`ReportError`.

    Parameters
    ----------
    out : path
        Output folder (``reports/`` is git-ignored).
    notebooks : path or list of paths
        A folder of ``.ipynb`` files, or the notebooks themselves.
    figures_dir : path or None
        Where the key figures go as PNG; None skips them.
    assets : path, optional
        ``node_modules`` folder with the widget scripts (see :func:`find_widget_assets`).
    quick : bool
        Run notebooks with ``SIMLAB_QUICK=1`` (small images; for tests).
    timeout : int
        Seconds a single cell may run before it is stopped.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _copy_assets(out, assets)
    if isinstance(notebooks, (str, os.PathLike)):
        paths = sorted(Path(notebooks).glob("*.ipynb"))
    else:
        paths = [Path(p) for p in notebooks]
    runs = [_run_notebook(path, out, timeout=timeout, quick=quick)
            for path in tqdm(paths, desc="notebooks", disable=not progress)]
    figures = save_key_figures(figures_dir, quick=quick) if figures_dir is not None else []
    with atomic_path(out / "index.html") as temporary:
        temporary.write_text(_index_page(runs, figures, out), encoding="utf-8")
    failed = [run for run in runs if run.error]
    if failed:
        raise ReportError("notebooks failed: " + "; ".join(f"{r.name}: {r.error}"
                                                           for r in failed), str(out))
    return runs
