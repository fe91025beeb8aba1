"""The local-feature engine: one extractor, one mirror, one verifier for every job."""

from __future__ import annotations

import numpy as np
import pytest

import simlab
from simlab import duplicates, errors
from simlab.lab import samples
from simlab.local import (check_features, distinct, extract_local, log_nfa, mirror_features,
                          ratio_matches, verify, word_correspondences)

SIDE = 256


@pytest.fixture(scope="module")
def photo():
    return samples.sample_image("astronaut", max_side=SIDE)


def test_features_from_simlab_extract_work_in_the_pairs_job(photo):
    # README: folder jobs reuse simlab.extract. It used to fail with KeyError: 'scale'.
    turned = samples.rotate(photo, 30)
    match = duplicates.verify_pair(simlab.extract(photo, "rootsift"),
                                   simlab.extract(turned, "rootsift"))
    assert match.inliers > 50 and match.rotation_degrees == pytest.approx(-30, abs=1)


def test_features_of_another_kind_fail_with_a_reason(photo):
    with pytest.raises(errors.InvalidFeaturesError, match="one kind"):
        duplicates.verify_pair(simlab.extract(photo, "sift"), simlab.extract(photo, "rootsift"))
    with pytest.raises(errors.InvalidFeaturesError, match="takes rootsift or sift"):
        duplicates.verify_pair(simlab.extract(photo, "akaze"), simlab.extract(photo, "akaze"))
    with pytest.raises(errors.InvalidFeaturesError, match="needs local features"):
        check_features(simlab.extract(photo, "phash"), job="pairs")


def test_one_extractor_serves_compare_pairs_and_search(photo):
    compare = simlab.extract(photo, "rootsift")
    pairs = duplicates.extract_features(photo)
    for features in (compare, pairs):
        assert set(features) >= {"points", "sizes", "angles", "descriptors", "shape",
                                 "scale", "descriptor"}
        assert str(features["descriptor"]) == "rootsift"
    # The folder jobs stretch contrast and lower SIFT's threshold: more keypoints on a
    # dim image, from the same extractor.
    dim = (photo * 0.3).astype(np.uint8)
    assert len(extract_local(dim, stretch=True, contrast_threshold=0.01)["points"]) > \
        len(extract_local(dim)["points"])


def test_mirror_features_of_sift_equal_extracting_on_the_mirror(photo):
    features = extract_local(photo)
    twice = mirror_features(mirror_features(features))
    for key in ("points", "angles", "descriptors"):
        assert np.allclose(twice[key], features[key], atol=1e-4)
    # Matching the permuted descriptors finds nearly what extracting on the mirror does.
    direct = extract_local(samples.flip(photo))
    pairs = ratio_matches(mirror_features(features)["descriptors"], direct["descriptors"])
    assert len(pairs) > 0.8 * len(features["points"])


@pytest.mark.parametrize("method", ["sift", "rootsift", "akaze"])
def test_compare_finds_a_mirrored_copy(method, photo):
    flipped = samples.flip(photo)
    found = simlab.compare(photo, flipped, method)
    assert found.details["mirrored"] and found.details["inliers"] > 50
    assert found.details["transform"]["mirrored"]
    plain = simlab.compare(photo, flipped, method, mirror=False)
    assert plain.details["inliers"] < found.details["inliers"] / 5
    # The drawn points are on b itself: each inlier's b point is a's point mirrored.
    mask = found.visual["inlier_mask"]
    a, b = found.visual["points_a"][mask], found.visual["points_b"][mask]
    assert np.median(np.abs(b[:, 0] - (photo.shape[1] - 1 - a[:, 0]))) < 2


def test_distinct_inliers_count_places_not_keypoints():
    points = np.array([[10.0, 10.0], [10.2, 9.9], [50.0, 40.0]], np.float32)
    assert distinct(points) == 2
    # Two keypoints (orientations) at one place, matched to one place: one inlier.
    a = {"points": np.concatenate([points, points + [100, 0]])}
    b = {"points": a["points"] * 0.5 + 3}
    found = verify(a, b, np.stack([np.arange(6)] * 2, 1))
    assert found.inliers == 4 and found.mask.sum() == 6


def test_the_chance_guard_drops_matches_whose_keypoints_do_not_turn_with_the_transform():
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 300, (40, 2)).astype(np.float32)
    angles = rng.uniform(0, 360, 40).astype(np.float32)
    sizes = rng.uniform(2, 10, 40).astype(np.float32)
    a = {"points": points, "angles": angles, "sizes": sizes}
    pairs = np.stack([np.arange(40)] * 2, 1)
    true = {"points": points + 5, "angles": angles, "sizes": sizes}
    assert verify(a, true, pairs).inliers == 40
    # The same positions, but orientations and sizes of other patches: look-alikes on a
    # repetitive texture line up by position alone.
    chance = {"points": points + 5, "angles": rng.uniform(0, 360, 40).astype(np.float32),
              "sizes": rng.uniform(2, 10, 40).astype(np.float32)}
    guarded = verify(a, chance, pairs)
    assert guarded.inliers < 10
    assert verify(a, chance, pairs, check_orientation=False).inliers == 40


def test_word_correspondences_skip_bursty_words():
    pairs = word_correspondences(np.array([1, 2, 3]), np.array([1, 2, 2, 2, 2, 3]))
    assert pairs.tolist() == [[0, 0], [2, 5]]  # word 2 occurs 4 times: texture


def test_search_matches_draw_with_plot_similarity(tmp_path):
    from PIL import Image

    from simlab import index
    from simlab.plotting import plot_similarity

    for name in ("astronaut", "coffee"):
        Image.fromarray(samples.sample_image(name, max_side=SIDE)).save(tmp_path / f"{name}.png")
    built = index.build(tmp_path, progress=False)
    query = samples.crop(samples.sample_image("coffee", max_side=SIDE), 0.6)
    found = built.matches(query, tmp_path / "coffee.png")
    assert found.frame == "original" and found.details["inliers"] > 20
    figure = plot_similarity(query, simlab.load_image(tmp_path / "coffee.png"), found)
    assert "inliers" in figure.axes[0].get_title()


def test_match_lines_land_on_full_size_images_after_compare_shrank_them(photo):
    # compare() shrinks to max_side first; drawing on the files at full size must put
    # each line's ends on the same patch (here b is a's crop, shifted by 60 px).
    from simlab.plotting import plot_matches

    large = np.kron(photo, np.ones((5, 5, 1), np.uint8))  # 1280 px
    crop = large[300:, 300:]
    result = simlab.compare(large, crop, "sift", max_side=640)
    figure = plot_matches(large, crop, result)
    offset = large.shape[1] + 8  # side_by_side's gap
    ends = [line.get_data() for line in figure.axes[0].lines if len(line.get_xdata()) == 2]
    assert len(ends) > 20
    shifts = np.array([(x[0] - (x[1] - offset), y[0] - y[1]) for x, y in ends])
    assert np.allclose(np.median(shifts, axis=0), [300, 300], atol=3)


def test_an_index_keeping_every_keypoint_loads_back(tmp_path):
    from PIL import Image

    from simlab import index

    for name in ("astronaut", "coffee"):
        Image.fromarray(samples.sample_image(name, max_side=SIDE)).save(tmp_path / f"{name}.png")
    built = index.build(tmp_path, path=tmp_path / "ix", max_keypoints=0, progress=False)
    assert len(index.Index.load(tmp_path / "ix")) == len(built) == 2


def _random_features(rng, count, side=512.0):
    return {"points": rng.uniform(0, side, (count, 2)).astype(np.float32),
            "angles": rng.uniform(0, 360, count).astype(np.float32),
            "sizes": rng.uniform(2, 20, count).astype(np.float32),
            "shape": np.array([side, side], np.int32)}


def test_chance_correspondences_are_not_significant():
    # The a-contrario promise: among unrelated correspondences, matches with NFA < 1 are
    # expected less than once over all the tests counted.
    rng = np.random.default_rng(7)
    trials, alarms, best = 100, 0, np.inf
    for _ in range(trials):
        a, b = _random_features(rng, 200), _random_features(rng, 200)
        found = verify(a, b, np.stack([np.arange(200)] * 2, 1))
        value = found.log_nfa(tests=trials)
        best = min(best, value)
        alarms += value < 0
    assert alarms <= 1, best


def test_a_real_copy_is_significant_and_more_inliers_are_more_so(photo):
    a = extract_local(photo)
    b = extract_local(samples.rotate(photo, 20))
    found = verify(a, b, ratio_matches(a["descriptors"], b["descriptors"]))
    assert found.max_angle == 20.0  # orientations were checked: they count as evidence
    assert found.log_nfa(tests=10**6) < -50
    few = log_nfa(inliers=8, correspondences=30, threshold=4.0, area=512 * 512)
    many = log_nfa(inliers=16, correspondences=30, threshold=4.0, area=512 * 512)
    assert many < few < 0
    # More comparisons made, less surprising; a looser threshold, less surprising.
    assert log_nfa(inliers=8, correspondences=30, threshold=4.0, area=512 * 512,
                   tests=1000) == pytest.approx(few + 3, abs=1e-3)
    assert log_nfa(inliers=8, correspondences=30, threshold=8.0, area=512 * 512) > few


def test_nothing_verified_has_no_significance():
    a = {"points": np.zeros((1, 2), np.float32)}
    found = verify(a, a, np.zeros((1, 2), np.int64))
    assert found.matrix is None and found.log_nfa() == np.inf


def test_invert_features_equal_extracting_on_the_negative(photo):
    from simlab.local import invert_features

    features = extract_local(photo, max_keypoints=0, contrast_threshold=0.01)
    negative = extract_local(255 - photo, max_keypoints=0, contrast_threshold=0.01)
    inverted = invert_features(features)
    # Same places, orientation turned by 180 degrees, descriptors permuted: the negative's
    # own descriptor is the nearest to the permuted one for nearly every keypoint.
    pairs = ratio_matches(inverted["descriptors"], negative["descriptors"])
    assert len(pairs) > 0.9 * len(features["points"])
    same = np.linalg.norm(features["points"][pairs[:, 0]] - negative["points"][pairs[:, 1]],
                          axis=1) < 0.5
    turn = (negative["angles"][pairs[:, 1]] - inverted["angles"][pairs[:, 0]] + 180) % 360 - 180
    assert same.mean() > 0.95 and (np.abs(turn) < 2).mean() > 0.95
    # Unpermuted, the negative's descriptors are strangers.
    assert len(ratio_matches(features["descriptors"], negative["descriptors"])) \
        < 0.2 * len(features["points"])


def test_guard_window_bounds_what_the_chance_guard_keeps(photo):
    from simlab.local.verification import guard_window

    a = extract_local(photo)
    b = extract_local(samples.rotate(photo, 30))
    pairs = ratio_matches(a["descriptors"], b["descriptors"])
    found = verify(a, b, pairs)
    bound, window = guard_window(a, b, pairs, needed=8)
    assert int(found.mask.sum()) <= bound <= len(pairs)
    assert window[found.mask].all()  # every inlier is where RANSAC may sample
    # Sampling only there verifies the same copy.
    sampled = verify(a, b, pairs, fit_subset=window)
    assert sampled.inliers >= 0.95 * found.inliers
    assert sampled.correspondences == found.correspondences
    # Random correspondences: no rotation and scale keeps more than a few of them.
    rng = np.random.default_rng(0)
    stranger = {"angles": rng.uniform(0, 360, 60), "sizes": rng.uniform(2, 40, 60)}
    assert guard_window(stranger, {"angles": rng.uniform(0, 360, 60),
                                   "sizes": rng.uniform(2, 40, 60)},
                        np.stack([np.arange(60)] * 2, 1), needed=8)[0] < 12


def test_ratio_matches_of_float_descriptors_equal_opencv_brute_force():
    import cv2

    from simlab.local.correspond import _as_pairs, ratio_matches

    rng = np.random.default_rng(1)
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    for trial in range(10):
        a = rng.random((300, 128), np.float32)
        b = np.concatenate([a[:100] + rng.normal(0, 0.02, (100, 128)).astype(np.float32),
                            a[:20], rng.random((200, 128), np.float32)])  # exact ties too
        kept = [p[0] for p in matcher.knnMatch(a, b, k=2)
                if len(p) == 1 or p[0].distance < 0.75 * p[1].distance]
        assert np.array_equal(ratio_matches(a, b), _as_pairs(kept)), trial
    one = rng.random((1, 128), np.float32)
    assert ratio_matches(a, one).shape == (300, 2)  # a lone candidate always passes


def test_word_correspondences_of_a_batch_are_every_shared_word_in_order():
    from simlab.local.correspond import word_correspondences_batch

    rng = np.random.default_rng(0)
    words_a = [rng.integers(0, 30, int(rng.integers(0, 40))) for _ in range(25)]
    words_b = [rng.integers(0, 30, int(rng.integers(0, 40))) for _ in range(25)]
    # A search's batch too: a few query sides, each paired with every candidate (the
    # same arrays, shared by identity), as stored uint16 words.
    sides = [rng.integers(0, 30, int(rng.integers(0, 40))) for _ in range(3)]
    stored = [rng.integers(0, 30, int(rng.integers(0, 40))).astype(np.uint16)
              for _ in range(6)]
    words_a += [side for _ in stored for side in sides]
    words_b += [candidate for candidate in stored for _ in sides]
    for table in (True, False):  # looked up in a table of keys, or by binary search
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("simlab.local.correspond._TABLE_KEYS", (1 << 22) if table else 0)
            found = word_correspondences_batch(words_a, words_b)
        assert len(found) == len(words_a)
        for a, b, pairs in zip(words_a, words_b, found):
            # By definition: a[i] == b[j], the word at most 3 times in b, ordered by i, j.
            expected = [[i, j] for i in range(len(a)) for j in range(len(b))
                        if a[i] == b[j] and (b == a[i]).sum() <= 3]
            assert pairs.tolist() == expected


def test_guard_windows_of_a_batch_equal_each_group_alone():
    from simlab.local.verification import guard_windows

    rng = np.random.default_rng(1)
    a, b, pairs = [], [], []
    for group in range(30):
        count = int(rng.integers(1, 60))
        a.append({"angles": rng.uniform(0, 360, count), "sizes": rng.uniform(1, 30, count)})
        b.append({"angles": rng.uniform(0, 360, count),
                  # Growth ranges differ between groups (rows of the histogram).
                  "sizes": rng.uniform(1, 30, count) * 4.0 ** rng.integers(-3, 4)})
        agree = rng.random(count) < 0.4  # some turn and grow alike
        b[-1]["angles"][agree] = (a[-1]["angles"][agree] + 80.0) % 360.0
        b[-1]["sizes"][agree] = a[-1]["sizes"][agree] * 2.0
        pairs.append(np.stack([np.arange(count)] * 2, 1))
    b[3]["sizes"][0] = 0.0  # a non-finite growth: that group is not guarded
    together = guard_windows(a, b, pairs, needed=6)
    for g, (bound, subset) in enumerate(together):
        alone_bound, alone_subset = guard_windows([a[g]], [b[g]], [pairs[g]], needed=6)[0]
        assert bound == alone_bound and subset.tolist() == alone_subset.tolist()
    assert together[3] == (len(pairs[3]), together[3][1]) and together[3][1].all()
    assert max(bound for bound, _ in together) >= 6
