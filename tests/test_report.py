"""The HTML report: pages, index, key figures, offline widgets in a real browser."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from simlab import report

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def assets_or_skip():
    try:
        report.find_widget_assets()
    except report.WidgetAssetsMissingError as exc:
        if os.environ.get("CI"):
            raise  # `make test` installs them; missing in CI is a failure
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    assets_or_skip()
    out = tmp_path_factory.mktemp("report")
    runs = report.build_report(out / "site", notebooks=[ROOT / "notebooks" / "00_quickstart.ipynb"],
                               figures_dir=out / "figures", quick=True, progress=False)
    return out, runs


def test_pages_index_and_figures(built):
    out, runs = built
    site = out / "site"
    assert [run.name for run in runs] == ["00_quickstart"] and runs[0].error is None
    page = (site / "00_quickstart.html").read_text()
    assert "application/vnd.jupyter.widget-state+json" in page  # widget state embedded
    script_sources = re.findall(r'<script[^>]+src="([^"]+)"', page)
    assert "_static/require.js" in script_sources
    assert not [src for src in script_sources if src.startswith("http")]
    assert "_static/html-manager/embed-amd.js" in page
    assert (site / "_static" / "html-manager" / "embed-amd.js").is_file()
    index = (site / "index.html").read_text()
    assert "00_quickstart.html" in index and "FAILED" not in index
    names = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert names == ["heatmap.png", "robustness-crop.png", "robustness-hue.png",
                     "robustness-jpeg.png", "robustness-rotate.png"]


def test_report_renders_widgets_in_headless_chromium(built, tmp_path):
    if os.environ.get("SIMLAB_SKIP_BROWSER", "0") not in ("", "0"):
        pytest.skip("SIMLAB_SKIP_BROWSER is set")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: `make test` installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (make chromium)")
    out, _ = built
    page = (out / "site" / "00_quickstart.html").as_uri()
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=20000", "--dump-dom", page],
        capture_output=True, text=True, timeout=180)
    dom = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    # The html-manager replaced the stored state with live controls...
    assert dom.count("widget-slider") >= 3
    assert "widget-dropdown" in dom
    # ...and the notebook's figures are there as images: inline ones as data URLs, the
    # widget's figure (an ipywidgets.Image) as a blob URL.
    assert len(re.findall(r'<img[^>]+src="data:image/png', dom)) >= 1
    assert len(re.findall(r'<img[^>]+src="blob:', dom)) >= 1


def test_report_page_loads_every_file_and_says_widgets_recompute_nothing(built,
                                                                           chromium_browser):
    out, _ = built
    page = chromium_browser.new_page()
    missing = []
    page.on("requestfailed", lambda request: missing.append(request.url))
    page.on("response", lambda response: missing.append(response.url)
            if response.status >= 400 else None)
    try:
        page.goto((out / "site" / "00_quickstart.html").as_uri())
        page.wait_for_selector(".widget-slider", timeout=60_000)
        page.wait_for_selector(".widget-upload", timeout=30_000)
        page.evaluate("() => document.fonts.ready")
        page.wait_for_timeout(1000)
        fonts = page.evaluate("""() => [...document.fonts]
            .filter((f) => /awesome/i.test(f.family) && f.status !== "unloaded")
            .map((f) => f.status)""")
        note = page.locator(".simlab-static-note").first.inner_text()
    finally:
        page.close()
    assert not missing, f"files the page could not load: {missing}"
    # The upload buttons' icon font was requested and loaded (no box glyph).
    assert fonts and all(status == "loaded" for status in fonts), fonts
    assert "recomputes nothing" in note


def test_failing_notebook_is_reported_and_others_still_run(tmp_path):
    assets_or_skip()
    good = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('fine')")])
    bad = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")])
    for name, book in (("a_bad", bad), ("b_good", good)):
        book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
        nbformat.write(book, tmp_path / f"{name}.ipynb")
    with pytest.raises(report.ReportError, match="a_bad: ZeroDivisionError"):
        report.build_report(tmp_path / "site", notebooks=tmp_path, figures_dir=None,
                            progress=False)
    index = (tmp_path / "site" / "index.html").read_text()
    assert "FAILED" in index and "b_good.html" in index
    assert "ZeroDivisionError" in (tmp_path / "site" / "a_bad.html").read_text()


def test_missing_widget_assets_say_how_to_install(tmp_path):
    with pytest.raises(report.WidgetAssetsMissingError, match="npm install"):
        report.find_widget_assets(tmp_path / "node_modules")
