import cv2
import numpy as np
import pytest

from simlab import samples
from simlab.borders import fill_mask
from simlab.duplicates import extract_features


@pytest.fixture(scope="module")
def night():
    """A dark, low-contrast picture, like a night sky: its stretch matters most."""
    return (samples.sample_image("coffee", max_side=256) // 10).astype(np.uint8)


def test_white_corners_of_a_rotated_copy_are_fill(night):
    turned = samples.rotate(night, 12)
    mask = fill_mask(turned)
    assert mask is not None and mask.shape == turned.shape[:2]
    assert mask[0, 0] and mask[-1, -1] and not mask[128, 128]
    # All of the white fill is masked, and beyond it only the blended seam (2 px).
    white = (turned == 255).all(axis=2).astype(np.uint8)
    near_white = cv2.dilate(white, np.ones((3, 3), np.uint8), iterations=2).astype(bool)
    assert mask[white.astype(bool)].all()
    assert not mask[~near_white].any()


def test_black_letterbox_survives_jpeg_and_plain_pictures_have_no_fill():
    picture = samples.sample_image("rocket", max_side=200)
    boxed = np.zeros((picture.shape[0] + 80, picture.shape[1], 3), np.uint8)
    boxed[40:-40] = picture
    mask = fill_mask(samples.jpeg(boxed, 60))
    assert mask is not None
    assert mask[:30].mean() > 0.95 and mask[-30:].mean() > 0.95
    assert mask[50:-50].mean() < 0.05
    assert fill_mask(picture) is None
    # Flat grey corners are picture (a sky), and a blank image has no picture to keep.
    assert fill_mask(np.full((50, 50, 3), 128, np.uint8)) is None
    assert fill_mask(np.full((50, 50, 3), 255, np.uint8)) is None
    # A thin bar on white: once the seam is added, nothing would be left of the
    # picture (and a contrast stretch over no pixels would fail).
    line = np.full((50, 50, 3), 255, np.uint8)
    line[23:27, 5:45] = 0
    assert fill_mask(line, seam=0) is not None
    assert fill_mask(line) is None


def test_rotated_dark_picture_keeps_its_keypoints(night):
    # The white corners (and their blended seam) must not set the contrast stretch;
    # when they did, this copy kept 40 of the original's 455 keypoints.
    original = extract_features(night)
    turned = extract_features(samples.rotate(night, 10))
    assert len(turned["points"]) > 0.8 * len(original["points"]) > 100
