"""Behaviour of every method: invariants, robustness to edits, and documented failures."""

from __future__ import annotations

import numpy as np
import pytest

import simlab
from simlab.local import distinct
from simlab import errors, samples
from simlab.methods.histogram import METRICS

CLASSIC = ["histogram", "ssim", "phash", "sift", "rootsift", "akaze"]
KEYPOINTS = ["sift", "rootsift", "akaze"]

# Where a copy should score above an unrelated image. Missing entries are documented
# failures, tested separately below.
EXPECTED_ROBUST = {
    "histogram": ["crop70", "jpeg30", "rotate10", "recolour"],
    "ssim": ["jpeg30", "recolour", "rotate10"],
    "phash": ["crop70", "jpeg30", "rotate10", "recolour"],
    "sift": ["crop70", "jpeg30", "rotate10", "recolour"],
    "rootsift": ["crop70", "jpeg30", "rotate10", "recolour"],
    "akaze": ["crop70", "jpeg30", "rotate10", "recolour"],
}


@pytest.mark.parametrize("method", CLASSIC)
def test_identical_images_score_one(method, original):
    result = simlab.compare(original, original.copy(), method)
    assert result.score == pytest.approx(1.0)
    assert result.method == method
    assert result.seconds is not None and result.seconds >= 0


@pytest.mark.parametrize("metric", list(METRICS))
@pytest.mark.parametrize("color_space", ["gray", "rgb", "hsv"])
def test_histogram_every_metric_and_space_gives_one_on_identical(metric, color_space, original):
    result = simlab.compare(original, original, "histogram", metric=metric,
                            color_space=color_space)
    assert result.score == pytest.approx(1.0)


@pytest.mark.parametrize("method", CLASSIC)
def test_copies_score_above_unrelated(method, original, copies, unrelated):
    unrelated_score = simlab.compare(original, unrelated, method).score
    for name in EXPECTED_ROBUST[method]:
        copy_score = simlab.compare(original, copies[name], method).score
        assert copy_score > unrelated_score, (method, name, copy_score, unrelated_score)


def test_ssim_fails_under_crop_documented(original, copies):
    # SSIM compares aligned pixels: a crop resized back to full size no longer lines up.
    crop_score = simlab.compare(original, copies["crop70"], "ssim").score
    jpeg_score = simlab.compare(original, copies["jpeg30"], "ssim").score
    assert crop_score < 0.5 < jpeg_score


def test_histogram_is_weakest_on_recolouring(original, copies):
    # Colour histograms count colours, so a hue shift hurts them more than JPEG does.
    scores = {name: simlab.compare(original, copies[name], "histogram").score
              for name in ("jpeg30", "recolour")}
    assert scores["recolour"] < scores["jpeg30"] - 0.1


def test_phash_collapses_on_flip(original, unrelated):
    flipped = simlab.compare(original, samples.flip(original), "phash").score
    assert flipped < 0.7


@pytest.mark.parametrize("method", KEYPOINTS)
def test_keypoints_find_many_inliers_on_copies_and_few_on_unrelated(method, original, copies,
                                                                   unrelated):
    for name, copy in copies.items():
        result = simlab.compare(original, copy, method)
        assert result.details["inliers"] >= 100, (method, name, result.details)
        assert result.raw == result.details["inliers"]
        # Inliers count places (SIFT stacks orientations at one place), on the side
        # with fewer; the drawn lines are every inlier correspondence.
        mask = result.visual["inlier_mask"]
        places = min(distinct(result.visual["points_a"][mask]),
                     distinct(result.visual["points_b"][mask]))
        assert places == result.details["inliers"] <= mask.sum()
    noise = simlab.compare(original, unrelated, method)
    assert noise.details["inliers"] <= 10


@pytest.mark.parametrize("method", KEYPOINTS)
def test_rotation_is_recovered(method, original, copies):
    transform = simlab.compare(original, copies["rotate10"], method).details["transform"]
    # OpenCV's image rotation is counter-clockwise; with y pointing down the matrix
    # angle reads -10 degrees.
    assert abs(abs(transform["rotation_degrees"]) - 10) < 1.5
    assert transform["mirrored"] is False


@pytest.mark.parametrize("method", KEYPOINTS)
def test_flat_image_scores_zero_with_reason(method, original, flat):
    result = simlab.compare(original, flat, method)
    assert result.score == 0.0
    assert "no keypoints" in result.reason and "second" in result.reason


def test_flat_pair_histogram_and_ssim_still_work(flat):
    assert simlab.compare(flat, flat, "ssim").score == pytest.approx(1.0)
    assert simlab.compare(flat, flat, "histogram").score == pytest.approx(1.0)


def test_ignore_white_drops_background():
    panel = np.full((64, 64, 3), 255, np.uint8)
    panel[16:48, 16:48] = (200, 30, 30)
    bigger_margin = np.full((64, 128, 3), 255, np.uint8)
    bigger_margin[16:48, 16:48] = (200, 30, 30)
    plain = simlab.compare(panel, bigger_margin, "histogram", metric="intersection")
    ignoring = simlab.compare(panel, bigger_margin, "histogram", metric="intersection",
                              ignore_white=True)
    assert ignoring.score == pytest.approx(1.0)
    assert plain.score < 0.9


def test_all_white_with_ignore_white_gives_reason():
    white = np.full((32, 32, 3), 255, np.uint8)
    result = simlab.compare(white, white, "histogram", ignore_white=True)
    assert result.score == 0.0 and "no pixel" in result.reason


def test_ssim_size_policies(original, copies):
    small = samples.downscale(original, 0.5)
    resized = simlab.compare(original, small, "ssim")
    assert resized.details["compared_size"] == [512, 512] and "resized" in \
        resized.details["size_note"]
    cropped = simlab.compare(original, small, "ssim", size_policy="crop")
    assert cropped.details["compared_size"] == [256, 256]
    with pytest.raises(errors.SizeMismatchError, match="512x512 and 256x256"):
        simlab.compare(original, small, "ssim", size_policy="error")
    assert simlab.compare(original, original, "ssim", color=True, gaussian=True).score == \
        pytest.approx(1.0)
    assert simlab.compare(original, copies["jpeg30"], "ssim").visual["ssim_map"].shape == \
        (512, 512)


def test_ssim_window_larger_than_image_is_a_clear_error():
    small = np.random.default_rng(0).integers(0, 255, (20, 20, 3), np.uint8)
    with pytest.raises(errors.InvalidParameterError, match="win_size"):
        simlab.compare(small, small, "ssim", win_size=31)


def test_ratio_and_cross_check_change_matching(original, copies):
    strict = simlab.compare(original, copies["jpeg30"], "sift", ratio=0.5)
    loose = simlab.compare(original, copies["jpeg30"], "sift", ratio=0.9)
    assert strict.details["good_matches"] < loose.details["good_matches"]
    crossed = simlab.compare(original, copies["jpeg30"], "akaze", cross_check=True)
    assert crossed.details["cross_check"] is True and crossed.details["inliers"] >= 100


def test_max_keypoints_caps_extraction(original):
    for method in KEYPOINTS:
        assert len(simlab.extract(original, method, max_keypoints=50)["descriptors"]) <= 55


def test_rootsift_descriptors_are_hellinger_normalised(original):
    descriptors = simlab.extract(original, "rootsift")["descriptors"]
    assert np.allclose(np.linalg.norm(descriptors, axis=1), 1.0, atol=1e-3)
    assert descriptors.min() >= 0


def test_akaze_descriptors_are_binary(original):
    features = simlab.extract(original, "akaze")
    assert features["descriptors"].dtype == np.uint8


@pytest.mark.parametrize("model", ["homography", "similarity", "affine", "none"])
def test_every_geometric_model_runs(model, original, copies):
    result = simlab.compare(original, copies["crop70"], "sift", model=model)
    assert result.details["inliers"] >= 100


def test_features_save_without_pickle(tmp_path, original):
    for method in CLASSIC:
        features = simlab.extract(original, method)
        path = tmp_path / f"{method}.npz"
        np.savez(path, **features)
        with np.load(path, allow_pickle=False) as loaded:
            restored = {key: loaded[key] for key in loaded.files}
        spec = simlab.get_method(method)
        again = spec.score(restored, restored, spec.resolve())
        assert again.score == pytest.approx(1.0)


def test_similarity_is_frozen_and_bounded(original):
    result = simlab.compare(original, original, "phash")
    with pytest.raises(AttributeError):
        result.score = 0.5
    with pytest.raises(ValueError):
        simlab.Similarity("x", 1.5, 0)
    assert set(result.to_dict()) == {"method", "score", "raw", "seconds", "details"}
