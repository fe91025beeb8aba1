"""Copy-move: each kind of planted clone is found and outlined; patterns are ruled out."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from simlab import samples
from simlab.bench.integrity import (COPY_MOVE_KINDS, _generated_periodic,
                                    _generated_symmetric, _hits, _plant)
from simlab.duplicates import extract_features, find_copy_move
from simlab.duplicates.find import _gate
from simlab.lab.samples import synthetic_cells

flagged = _gate(None, None, None, 1.0)  # what find() flags by default


def planted(kind: str, host: np.ndarray, seed: int = 0):
    image, truth = _plant(host, kind, np.random.default_rng(seed))
    if kind == "jpeg":
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=85)
        image = np.asarray(Image.open(buffer).convert("RGB"))
    return image, truth


@pytest.mark.parametrize("kind", [k for k in COPY_MOVE_KINDS if k != "low-texture"])
def test_each_kind_of_clone_is_flagged_and_outlined_in_both_places(kind):
    host = samples.sample_image("astronaut", max_side=320)
    image, truth = planted(kind, host)
    match = find_copy_move(extract_features(image, copy_move=True), tests=100)
    assert flagged(match), (kind, match, match.ruled_out)
    assert _hits(match, truth)  # an outline on the pasted copy or on its source
    assert len(match.region_a) >= 3 and len(match.region_b) >= 3
    assert match.log_nfa < 0 and match.reasons and not match.ruled_out
    if kind == "mirror":
        assert match.mirrored
    if kind.startswith("turn"):
        turned = int(kind[4:])
        assert abs(abs(match.rotation_degrees) - min(turned, 360 - turned)) < 2


def test_a_clone_in_a_low_texture_cell_field_is_flagged():
    image, truth = planted("low-texture", synthetic_cells(np.random.default_rng(7)))
    match = find_copy_move(extract_features(image, copy_move=True), tests=100)
    assert flagged(match) and _hits(match, truth)


@pytest.mark.parametrize("index, why", [(0, "symmetric"), (1, "symmetric"),
                                        (2, "symmetric")])
def test_symmetric_designs_are_ruled_out_and_say_why(index, why):
    # Mirrored left-right, turned by 180 degrees, four-fold: each maps onto itself.
    design = _generated_symmetric(np.random.default_rng(index), index)
    match = find_copy_move(extract_features(design, copy_move=True))
    assert not flagged(match)
    assert match.kind == "copy-move" and match.ruled_out.startswith(why)


@pytest.mark.parametrize("name", ["checkerboard", "brick"])
def test_periodic_textures_are_not_flagged(name):
    from skimage import data

    from simlab.io import load_image

    match = find_copy_move(extract_features(load_image(getattr(data, name)()),
                                            copy_move=True))
    assert not flagged(match), (name, match.ruled_out, match.log_nfa)


def test_generated_bricks_tiles_and_grilles_are_not_flagged():
    for index in range(3):
        texture = _generated_periodic(np.random.default_rng(index), index)
        match = find_copy_move(extract_features(texture, copy_move=True))
        assert not flagged(match), (index, match.ruled_out, match.log_nfa)


def test_flat_and_jpeg_blocky_images_are_not_flagged():
    flat = np.full((256, 256, 3), 140, np.uint8)
    gradient = np.repeat(np.linspace(60, 200, 256)[None, :, None], 256, 0).repeat(3, 2)
    for image in (flat, gradient.astype(np.uint8)):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=30)  # 8-px blocks
        blocky = np.asarray(Image.open(buffer).convert("RGB"))
        assert not flagged(find_copy_move(extract_features(blocky, copy_move=True)))


def test_unedited_photographs_are_not_flagged():
    for name in ("astronaut", "camera", "coffee", "chelsea"):
        image = samples.sample_image(name, max_side=320)
        match = find_copy_move(extract_features(image, copy_move=True), tests=4)
        assert not flagged(match), (name, match)


def test_significance_pays_for_the_comparisons_made():
    host = samples.sample_image("astronaut", max_side=320)
    image, _ = planted("shift", host)
    features = extract_features(image, copy_move=True)
    one, many = find_copy_move(features, tests=1), find_copy_move(features, tests=1000)
    assert many.log_nfa == pytest.approx(one.log_nfa + 3, abs=1e-3)
    nothing = find_copy_move(extract_features(np.full((64, 64, 3), 9, np.uint8)))
    assert nothing.kind == "none" and math.isinf(nothing.log_nfa)
