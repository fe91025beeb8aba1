"""Shared fixtures: built-in images and edited copies with known ground truth."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

#: Debian's Chromium, driven through the playwright package (never `playwright install`).
CHROMIUM = os.environ.get("SIMLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]

from simlab import samples  # noqa: E402


@pytest.fixture(scope="session")
def original() -> np.ndarray:
    return samples.sample_image("astronaut", max_side=512)


@pytest.fixture(scope="session")
def unrelated() -> np.ndarray:
    return samples.sample_image("coffee", max_side=512)


@pytest.fixture(scope="session")
def flat() -> np.ndarray:
    return np.full((256, 256, 3), 128, np.uint8)


@pytest.fixture(scope="session")
def copies(original) -> dict[str, np.ndarray]:
    """The copies the core issue names, each named for its transformation."""
    return {
        "crop70": samples.crop(original, 0.7),
        "jpeg30": samples.jpeg(original, 30),
        "rotate10": samples.rotate(original, 10),
        "recolour": samples.hue_shift(original, 90),
    }


@pytest.fixture()
def image_files(tmp_path, original, copies):
    """The original and its JPEG copy written to disk, as a user would have them."""
    from PIL import Image

    path_a, path_b = tmp_path / "original.png", tmp_path / "copy.jpg"
    Image.fromarray(original).save(path_a)
    Image.fromarray(copies["jpeg30"]).save(path_b, quality=95)
    return path_a, path_b


def browser_skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None.

    ``SIMLAB_SKIP_BROWSER=1`` skips them on purpose; otherwise they need the
    ``playwright`` package (a dev extra) and Chromium at ``$SIMLAB_CHROMIUM``
    (default /usr/bin/chromium, installed by ``make chromium``).
    """
    if os.environ.get("SIMLAB_SKIP_BROWSER", "0") not in ("", "0"):
        return "SIMLAB_SKIP_BROWSER is set"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (`make chromium` installs Debian's)"
    return None


@pytest.fixture(scope="session")
def chromium_browser():
    """Headless Chromium through playwright; skips with the reason when it cannot run."""
    reason = browser_skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def stop_process_group(process) -> None:
    """Stop a server started with ``start_new_session=True`` and all it started
    (JupyterLab's kernels are in its process group): SIGTERM, then SIGKILL after 20 s."""
    import signal
    import subprocess

    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
