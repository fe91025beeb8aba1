"""The notebooks' widgets in a real JupyterLab, driven in Chromium: what the page shows.

Setting ``controls[...].value`` in the kernel never shows the bug users saw (a blank or
half-drawn figure kept by the page after a dropdown or slider change): only a browser
talking to JupyterLab does. This test starts a token-less JupyterLab on localhost in a
temporary folder, opens notebooks 00 and 06 in Debian Chromium (through the
``playwright`` package, never ``playwright install``), runs all cells, then changes the
pair dropdown, a slider (keyboard, then a mouse drag) and a method checkbox of
``compare_ui`` (and, in 06, the edit dropdown of ``sweep_ui``). After each change it
checks what the page shows against what the kernel computed: one figure ``<img>`` of the
figure's full pixel size, every panel drawn (not blank), the title present, and the
page's score table equal to the kernel's scores.

Skips when playwright or chromium is missing, or when ``SIMLAB_SKIP_BROWSER=1``.
Screenshots of every step go to the test's tmp dir (and to ``$SIMLAB_BROWSER_SCREENSHOTS``
when set).
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import browser_skip_reason, stop_process_group

pytestmark = pytest.mark.slow

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SETTLE_TIMEOUT = 120  # seconds a widget update may take in quick mode on 2 busy cores


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A token-less JupyterLab on localhost serving copies of notebooks 00 and 06."""
    reason = browser_skip_reason()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    for name in ("00_quickstart.ipynb", "06_side_by_side.ipynb"):
        shutil.copy(NOTEBOOKS / name, root / name)
    settings = base / "settings"
    # Every cell in the DOM (no virtual scrolling) and no news or update toasts.
    _write_json(settings / "@jupyterlab/notebook-extension/tracker.jupyterlab-settings",
                {"windowingMode": "none"})
    _write_json(settings / "@jupyterlab/apputils-extension/notification.jupyterlab-settings",
                {"fetchNews": "false", "checkForUpdates": False})
    port = _free_port()
    env = {**os.environ, "SIMLAB_QUICK": "1", "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
           "JUPYTER_CONFIG_DIR": str(base / "config"),
           "JUPYTER_RUNTIME_DIR": str(base / "runtime"), "IPYTHONDIR": str(base / "ipython"),
           "KERAS_HOME": os.environ.get("KERAS_HOME", str(base / "keras"))}
    env.pop("MPLBACKEND", None)  # the kernel uses the inline backend, as for a user
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
               "--ip=127.0.0.1", f"--ServerApp.root_dir={root}", "--ServerApp.token=",
               "--ServerApp.password=", "--LabApp.expose_app_in_browser=True",
               "--LabApp.news_url=None", "--ServerApp.open_browser=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = open(base / "jupyter.log", "wb")
    server = subprocess.Popen(command, cwd=root, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n"
                                       + (base / "jupyter.log").read_text()[-3000:])
                time.sleep(0.5)
        yield url
    finally:
        stop_process_group(server)  # the kernels too: they are in its process group
        log.close()


# --- what the kernel says -------------------------------------------------------------

# Runs in the notebook's kernel (through the page): the last handle the notebook displayed
# that has a control named __KEY__ ("pair": compare_ui, "kind": sweep_ui; a displayed
# handle is the value of its cell, so it sits in Out), and what it last computed.
KERNEL_QUERY = r"""
import json as _json
_handles = [_v for _v in Out.values() if hasattr(_v, "controls") and "__KEY__" in _v.controls]
_h = _handles[-1]
_fig = _h.figure
_dpi = getattr(_h, "dpi", None) or _fig.dpi
_w, _hh = (_fig.get_size_inches() * _dpi).round().astype(int).tolist()
_boxes = [list(_a.get_position().bounds) for _a in _fig.axes if _a.get_visible()
          and _a.get_label() != "<colorbar>"]
_plain = lambda _v: list(_v) if isinstance(_v, tuple) else _v
print(_json.dumps({
    "updates": _h.updates, "busy": bool(getattr(_h, "busy", False)),
    "error": _h.error, "size": [_w, _hh], "axes": _boxes, "rows": len(_h.frame),
    "title": bool(_fig._suptitle and _fig._suptitle.get_text()),
    "methods": list(dict.fromkeys(_h.frame["method"])),
    "scores": {_m: (None if _s != _s else float(_s))
               for _m, _s in zip(_h.frame["method"], _h.frame["score"])},
    "values": {_k: _plain(_c.value) for _k, _c in _h.controls.items()
               if _k in ("pair", "ratio", "max_keypoints", "methods", "kind", "steps")}}))
"""

# The notebook panel showing ``path`` (not just the current widget: a restored workspace
# may hold other tabs).
PANEL_JS = """const panelFor = (path) => [...window.jupyterapp.shell.widgets("main")]
  .find((w) => w.context && w.context.path === path);"""

EXECUTE_JS = """async ([path, code]) => {
  """ + PANEL_JS + """
  const panel = panelFor(path);
  const kernel = panel.sessionContext.session.kernel;
  const future = kernel.requestExecute({code, silent: false, store_history: false});
  let out = "";
  future.onIOPub = (msg) => {
    if (msg.header.msg_type === "stream") out += msg.content.text;
    if (msg.header.msg_type === "error")
      out += "KERNEL ERROR " + msg.content.ename + ": " + msg.content.evalue;
  };
  await future.done;
  return out;
}"""


def _kernel_state(page, path: str, key: str = "pair") -> dict:
    text = page.evaluate(EXECUTE_JS, [path, KERNEL_QUERY.replace("__KEY__", key)])
    assert "KERNEL ERROR" not in text, text
    return json.loads(text.strip().splitlines()[-1])


# --- what the page shows ---------------------------------------------------------------

FIGURE_JS = """async (cell) => {
  const images = [...cell.querySelectorAll(".jp-OutputArea-output img")]
    .filter((img) => img.offsetParent !== null);
  const shown = [];
  for (const img of images) {
    const blob = await (await fetch(img.src)).blob();
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000)
      binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    shown.push({width: img.naturalWidth, height: img.naturalHeight, png: btoa(binary)});
  }
  return shown;
}"""

TABLE_JS = """(cell) => {
  const tables = [...cell.querySelectorAll("table.dataframe")]
    .filter((t) => t.offsetParent !== null);
  if (tables.length !== 1) return {count: tables.length};
  const table = tables[0];
  const header = [...table.querySelectorAll("thead tr:last-child th")]
    .map((c) => c.innerText.trim());
  const rows = [...table.querySelectorAll("tbody tr")].map(
    (r) => [...r.querySelectorAll("th, td")].map((c) => c.innerText.trim()));
  return {count: 1, header, rows};
}"""


def _page_scores(cell) -> dict[str, float | None] | str:
    table = cell.evaluate(TABLE_JS)
    if table["count"] != 1:
        return f"{table['count']} score tables shown, expected 1"
    header = table["header"]
    if "method" not in header or "score" not in header:
        # pandas puts the column names in the first header row when the index is named
        return f"score table without method/score columns: {header}"
    scores = {}
    for row in table["rows"]:
        cells = row[-len(header):] if len(row) >= len(header) else row
        text = cells[header.index("score")]
        scores[cells[header.index("method")]] = (None if text in ("", "NaN", "nan", "-")
                                                  else float(text))
    return scores


def _blank(region: np.ndarray) -> bool:
    """True when a region is (nearly) all background: nothing was drawn there.

    A flat colour is not blank (the SSIM map of identical images is one yellow);
    white, where the page shows the figure's background, is.
    """
    if region.size == 0:
        return True
    return (region.min(axis=2) < 235).mean() < 0.002


def _as_rgb(png: bytes) -> np.ndarray:
    """The PNG as RGB, transparent pixels on white (as the page shows them)."""
    from PIL import Image

    picture = Image.open(io.BytesIO(png)).convert("RGBA")
    white = Image.new("RGBA", picture.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, picture).convert("RGB"))


def _figure_problems(cell, kernel: dict, expected_panels: int) -> list[str]:
    """Everything wrong with the figure the page shows, compared with the kernel's."""
    shown = cell.evaluate(FIGURE_JS)
    if len(shown) != 1:
        return [f"{len(shown)} figure images shown, expected exactly 1 "
                f"(sizes {[(s['width'], s['height']) for s in shown]})"]
    figure = shown[0]
    problems = []
    width, height = kernel["size"]
    if (figure["width"], figure["height"]) != (width, height):
        problems.append(f"figure image is {figure['width']}x{figure['height']} px, the full "
                        f"figure is {width}x{height} px")
    picture = _as_rgb(base64.b64decode(figure["png"]))
    rows, columns = picture.shape[:2]
    if _blank(picture):
        return problems + ["figure image is blank"]
    if len(kernel["axes"]) < expected_panels:
        problems.append(f"kernel figure has {len(kernel['axes'])} panels, expected "
                        f"{expected_panels}")
    for number, (left, bottom, box_width, box_height) in enumerate(kernel["axes"], 1):
        x0, x1 = int(left * columns), int(math.ceil((left + box_width) * columns))
        y0 = int((1 - bottom - box_height) * rows)
        y1 = int(math.ceil((1 - bottom) * rows))
        if _blank(picture[max(0, y0):y1, max(0, x0):x1]):
            problems.append(f"panel {number} of {len(kernel['axes'])} (pixels x {x0}-{x1}, "
                            f"y {y0}-{y1}) is blank")
    if kernel["title"]:
        top = min(1 - b - h for _, b, _, h in kernel["axes"]) if kernel["axes"] else 0.1
        if _blank(picture[:max(1, int(top * rows * 0.8))]):
            problems.append("the figure's title is missing")
    return problems


def _score_problems(cell, kernel: dict) -> list[str]:
    page = _page_scores(cell)
    if isinstance(page, str):
        return [page]
    problems = []
    if list(page) != kernel["methods"]:
        problems.append(f"page lists methods {list(page)}, kernel computed "
                        f"{kernel['methods']}")
    for method, score in kernel["scores"].items():
        shown = page.get(method, "missing")
        if score is None or shown is None or shown == "missing":
            if shown != score:
                problems.append(f"{method}: page shows {shown}, kernel has {score}")
        elif abs(shown - score) > 6e-4:
            problems.append(f"{method}: page shows {shown}, kernel has {score:.4f}")
    return problems


def _row_problems(cell, kernel: dict) -> list[str]:
    table = cell.evaluate(TABLE_JS)
    if table["count"] != 1:
        return [f"{table['count']} tables shown, expected 1"]
    if len(table["rows"]) != kernel["rows"]:
        return [f"page table has {len(table['rows'])} rows, kernel has {kernel['rows']}"]
    return []


# --- driving JupyterLab -----------------------------------------------------------------

def _wait_idle(page, path: str, timeout: float = SETTLE_TIMEOUT) -> None:
    page.wait_for_function(
        """(path) => {
          """ + PANEL_JS + """
          const panel = window.jupyterapp && panelFor(path);
          const kernel = panel && panel.sessionContext && panel.sessionContext.session
            && panel.sessionContext.session.kernel;
          return kernel && kernel.status === "idle";
        }""", arg=path, timeout=timeout * 1000, polling=250)


def _run_all(page, path: str, timeout: float = 600) -> None:
    page.evaluate("""(path) => {
      """ + PANEL_JS + """
      window.jupyterapp.shell.activateById(panelFor(path).id);
      return window.jupyterapp.commands.execute("notebook:run-all-cells");
    }""", path)
    page.wait_for_function(
        """(path) => {
          """ + PANEL_JS + """
          const panel = panelFor(path);
          const kernel = panel.sessionContext.session.kernel;
          const cells = [...panel.model.cells].filter((c) => c.type === "code");
          return kernel.status === "idle" && cells.every((c) => c.executionCount !== null);
        }""", arg=path, timeout=timeout * 1000, polling=500)


def _settle(page, path: str, cell, before: int | None = None, key: str = "pair") -> dict:
    """Wait until the widget finished updating; return the kernel's state.

    Idle kernel, no "computing" status in the widget, and (when ``before`` is given)
    at least one update since ``before``.
    """
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        _wait_idle(page, path)
        status = cell.locator(".simlab-status")
        busy = status.count() and "computing" in status.first.inner_text().lower()
        if not busy:
            page.wait_for_timeout(1000)  # messages still on the wire
            kernel = _kernel_state(page, path, key)
            if not kernel["busy"] and (before is None or kernel["updates"] > before):
                return kernel
        if time.monotonic() > deadline:
            raise AssertionError("the widget did not finish updating in "
                                 f"{SETTLE_TIMEOUT} s")
        page.wait_for_timeout(500)


class _Steps:
    """Checks each step's page against the kernel; screenshots; collects every failure."""

    def __init__(self, page, cell, name: str, folder: Path):
        self.page, self.cell, self.name, self.folder = page, cell, name, folder
        self.failures: list[str] = []
        self.extra = os.environ.get("SIMLAB_BROWSER_SCREENSHOTS")

    def check(self, step: str, kernel: dict, *, cell=None, sweep: bool = False) -> None:
        cell = cell or self.cell
        if sweep:  # one panel (score against strength); the table is the whole curve
            problems = _figure_problems(cell, kernel, 1) + _row_problems(cell, kernel)
        else:  # the score bars and one panel per method; the table is one row a method
            problems = (_figure_problems(cell, kernel, len(kernel["methods"]) + 1)
                        + _score_problems(cell, kernel))
        if kernel["error"]:
            problems.append(f"widget error: {kernel['error']}")
        shot = self.folder / f"{self.name}-{step}.png"
        cell.scroll_into_view_if_needed()
        cell.screenshot(path=str(shot))
        if self.extra:
            Path(self.extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(self.extra) / shot.name)
        if problems:
            self.failures.append(f"{step} (screenshot {shot}):\n    " + "\n    ".join(problems))


def _slider(cell, label: str):
    return cell.locator(".widget-slider").filter(
        has=cell.page.locator(f"label:text-is('{label}')")).first


@pytest.mark.parametrize("notebook", ["00_quickstart", "06_side_by_side"])
def test_compare_ui_in_jupyterlab(chromium_browser, lab, notebook, tmp_path):
    context = chromium_browser.new_context(viewport={"width": 1600, "height": 2600})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        path = f"{notebook}.ipynb"
        # A workspace of its own, so no tab of another test is restored next to it.
        page.goto(f"{lab}/lab/workspaces/{notebook}/tree/{path}?reset",
                  wait_until="domcontentloaded")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        _wait_idle(page, path, timeout=120)
        _run_all(page, path)
        cell = page.locator(".jp-CodeCell").filter(has_text="compare_ui(").last
        steps = _Steps(page, cell, notebook, tmp_path)
        kernel = _settle(page, path, cell)
        steps.check("0-run-all", kernel)

        # The pair dropdown.
        pair = cell.locator(".widget-dropdown").filter(
            has=page.locator("label:text-is('pair')")).locator("select")
        before = kernel["updates"]
        pair.select_option("jpeg")
        kernel = _settle(page, path, cell, before)
        assert kernel["values"]["pair"] == "jpeg"
        assert kernel["updates"] == before + 1  # one change, one update
        steps.check("1-dropdown", kernel)

        # A slider, with the keyboard: two steps left (ratio 0.75 -> 0.65).
        ratio = _slider(cell, "ratio test")
        before = kernel["updates"]
        ratio.locator(".noUi-handle").focus()
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowLeft")
        kernel = _settle(page, path, cell, before)
        assert kernel["values"]["ratio"] == pytest.approx(0.65)
        assert ratio.locator(".widget-readout").inner_text().strip() == "0.65"
        steps.check("2-slider-keyboard", kernel)

        # The same kind of slider, dragged with the mouse.
        cap = _slider(cell, "keypoint cap")
        handle = cap.locator(".noUi-handle")
        box = handle.bounding_box()
        track = cap.locator(".noUi-target").bounding_box()
        before, old_cap = kernel["updates"], kernel["values"]["max_keypoints"]
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] / 2 - track["width"] * 0.25,
                        box["y"] + box["height"] / 2, steps=8)
        page.mouse.up()
        kernel = _settle(page, path, cell, before)
        assert kernel["values"]["max_keypoints"] < old_cap
        assert kernel["updates"] == before + 1  # released once: one update
        assert int(cap.locator(".widget-readout").inner_text().strip()) == \
            kernel["values"]["max_keypoints"]
        steps.check("3-slider-drag", kernel)

        # A method checkbox: phash is ticked in 06 and not in 00; toggle it.
        box = cell.locator(".widget-checkbox").filter(
            has=page.locator("label:has-text('phash')")).locator("input[type=checkbox]")
        if box.count() != 1:
            steps.failures.append(f"4-method-checkbox: {box.count()} checkboxes for phash")
        else:
            before, was = kernel["updates"], "phash" in kernel["values"]["methods"]
            box.click()
            kernel = _settle(page, path, cell, before)
            assert ("phash" in kernel["values"]["methods"]) is not was
            assert ("phash" in kernel["methods"]) is not was
            assert kernel["updates"] == before + 1
            steps.check("4-method-checkbox", kernel)

        if notebook == "06_side_by_side":
            # sweep_ui, the notebook's other widget: the edit dropdown redraws its curve.
            sweep = page.locator(".jp-CodeCell").filter(has_text="sweep_ui(").last
            kernel = _settle(page, path, sweep, key="kind")
            before = kernel["updates"]
            sweep.locator(".widget-dropdown").filter(
                has=page.locator("label:text-is('edit')")).locator("select").select_option(
                "jpeg")
            kernel = _settle(page, path, sweep, before, key="kind")
            assert kernel["values"]["kind"] == "jpeg" and kernel["updates"] == before + 1
            steps.check("5-sweep-edit-dropdown", kernel, cell=sweep, sweep=True)

        assert not steps.failures, "what the page shows is wrong:\n" + "\n".join(
            steps.failures)
    except Exception:
        page.screenshot(path=str(tmp_path / f"{notebook}-failure.png"))
        raise
    finally:
        context.close()
