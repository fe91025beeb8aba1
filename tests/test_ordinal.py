import numpy as np
import pytest

from simlab import samples
from simlab.methods.ordinal import ORDINAL_SIDE, ordinal_vector


@pytest.fixture(scope="module")
def photo():
    return samples.sample_image("chelsea", max_side=256)


@pytest.mark.parametrize("edit", [
    lambda im: samples.brightness_contrast(im, 0.5, contrast=1.3),
    lambda im: samples.brightness_contrast(im, 2.0, contrast=0.7),
    lambda im: samples.grayscale(im),
    lambda im: samples.jpeg(im, 10),
    lambda im: samples.downscale(im, 0.25),
], ids=["brighter", "darker", "grey", "jpeg10", "quarter-size"])
def test_layout_survives_tone_edits_compression_and_shrinking(photo, edit):
    assert ordinal_vector(photo) @ ordinal_vector(edit(photo)) > 0.9


def test_text_overlay_lowers_but_keeps_the_layout(photo):
    # The caption hides a band of the thumbnail (about 0.89 on this cat), yet stays far
    # above an unrelated image (below 0.3, next test).
    assert ordinal_vector(photo) @ ordinal_vector(
        samples.text_overlay(photo, "simlab (c) 2026", size=0.08)) > 0.8


def test_unrelated_images_mirrors_and_crops_score_low(photo):
    vector = ordinal_vector(photo)
    assert abs(vector @ ordinal_vector(samples.sample_image("coins", max_side=256))) < 0.3
    assert vector @ ordinal_vector(samples.flip(photo)) < 0.6
    assert vector @ ordinal_vector(samples.crop(photo, 0.4)) < 0.6


def test_vector_is_unit_length_zero_mean_and_zero_for_a_flat_image(photo):
    vector = ordinal_vector(photo)
    assert vector.shape == (ORDINAL_SIDE ** 2,) and vector.dtype == np.float32
    assert abs(float(vector.sum())) < 1e-3 and abs(float(vector @ vector) - 1) < 1e-5
    flat = ordinal_vector(np.full((40, 60, 3), 90, np.uint8))
    assert not flat.any()
