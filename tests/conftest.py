"""Shared fixtures: built-in images and edited copies with known ground truth."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

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
