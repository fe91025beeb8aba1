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


@pytest.mark.parametrize("host", ["astronaut", "coffee", "chelsea", "rocket"])
@pytest.mark.parametrize("flip", ["left-right", "top-bottom"])
def test_a_mirrored_clone_is_found_densely_and_outlined_in_both_places(host, flip):
    # The dense search alone (keypoints off): a mirrored copy of a 60-px block.
    from simlab.duplicates.copy_move import _dense_match, rule_out_patterns

    image = samples.sample_image(host, max_side=256).copy()
    block = image[20:80, 120:180]
    image[100:160, 10:70] = block[:, ::-1] if flip == "left-right" else block[::-1]
    features = extract_features(image, copy_move=True)
    match = rule_out_patterns(_dense_match(features, "a", 100), features, dense=True)
    assert match.mirrored and not match.ruled_out and match.log_nfa < 0, match
    target = {"target_box": [10, 100, 70, 160],
              "source_polygon": [[120, 20], [180, 20], [180, 80], [120, 80]]}
    assert _hits(match, target)
    centres = sorted(np.asarray(r).mean(0).round().tolist() for r in (match.region_a,
                                                                       match.region_b))
    # one outline on the copy (centre near (40, 130)), one on its source (150, 50)
    assert abs(centres[0][0] - 40) < 12 and abs(centres[0][1] - 130) < 12, centres
    assert abs(centres[1][0] - 150) < 12 and abs(centres[1][1] - 50) < 12, centres
    assert flagged(find_copy_move(features, tests=100))


@pytest.mark.parametrize("host", ["astronaut", "chelsea", "immunohistochemistry"])
@pytest.mark.parametrize("offset", [(0.5, 0.5), (0.3, -0.4)])
def test_a_clone_at_a_fraction_of_a_pixel_is_found_densely(host, offset):
    # Pasted at a fractional offset (resampled, as when a figure is scaled after the
    # edit), a clone equals its source at no whole shift: half-way at the nearest one,
    # which left 0-4 solid grid points before the sub-pixel part was applied.
    import cv2

    from simlab.duplicates.copy_move import _dense_match, rule_out_patterns

    image = samples.sample_image(host, max_side=256).copy()
    move = np.float32([[1, 0, offset[1]], [0, 1, offset[0]]])
    moved = cv2.warpAffine(image, move, image.shape[1::-1], flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT)
    image[100:160, 10:70] = moved[20:80, 120:180]
    features = extract_features(image, copy_move=True)
    match = rule_out_patterns(_dense_match(features, "a", 100), features, dense=True)
    assert flagged(match) and match.inliers >= 10, (match.inliers, match.log_nfa)
    truth = {"target_box": [10, 100, 70, 160],
             "source_polygon": [[120, 20], [180, 20], [180, 80], [120, 80]]}
    assert _hits(match, truth)
    assert abs(match.rotation_degrees) < 1 and not match.mirrored


def test_a_mirrored_clone_is_not_taken_for_a_repeat_of_itself():
    # A mirror's shift and its reflection across the axis pair the same two regions;
    # the dense search keeps one, so the copy is not explained away as periodic.
    from simlab.duplicates.copy_move import dense_copy_move

    grey = samples.sample_image("astronaut", max_side=256)[..., 1].copy()
    grey[100:160, 10:70] = grey[20:80, 120:180][:, ::-1]
    found = dense_copy_move(grey)
    assert float(found["copy_move_share"]) > 0.9 and int(found["copy_move_solid"].sum()) >= 8


def _at_benchmark_size(image):
    from simlab.bench.integrity import _fit

    return _fit(image)


def test_bricks_seen_in_perspective_are_not_flagged():
    # scikit-image's bricks at the benchmark's 384 px match themselves slightly scaled
    # (perspective); the rest of the wall repeats too, so they are ruled out.
    from skimage import data

    image = _at_benchmark_size(data.brick())
    assert image.shape[:2] == (384, 384)
    match = find_copy_move(extract_features(image, copy_move=True), tests=232)
    assert not flagged(match), (match.ruled_out, match.log_nfa, match.inliers)


def test_generated_bricks_at_several_periods_are_not_flagged():
    for seed in range(6):
        texture = _generated_periodic(np.random.default_rng(10 + seed), 0)  # bricks
        match = find_copy_move(extract_features(texture, copy_move=True), tests=100)
        assert not flagged(match), (seed, match.ruled_out, match.log_nfa)


@pytest.mark.parametrize("index", range(6))
def test_mirror_and_rotation_symmetric_designs_are_not_flagged(index):
    design = _generated_symmetric(np.random.default_rng(20 + index), index)
    match = find_copy_move(extract_features(design, copy_move=True), tests=100)
    assert not flagged(match), (index, match.ruled_out, match.log_nfa)


def test_the_phantom_mirror_symmetric_is_not_flagged():
    from simlab.bench.pairs import _load_source

    image = _at_benchmark_size(_load_source("shepp_logan_phantom"))
    match = find_copy_move(extract_features(image, copy_move=True), tests=100)
    assert not flagged(match), (match.ruled_out, match.log_nfa)
    # its strong finding, the mirror, is the one ruled out
    from simlab.duplicates.copy_move import _keypoint_copy_move, rule_out_patterns

    features = extract_features(image, copy_move=True)
    mirror = _keypoint_copy_move(features, 0.75, 4.0, 16.0, "a", mirrored=True)
    assert mirror.inliers >= 10
    assert rule_out_patterns(mirror, features).ruled_out.startswith("symmetric")


def test_a_copy_in_a_cell_field_is_not_taken_for_a_tiled_texture():
    # Cells look alike, but the rest of the field does not repeat at the copy's shift.
    from simlab.duplicates.copy_move import _agreement_outside

    cells = synthetic_cells(np.random.default_rng(3))
    image, truth = planted("shift", cells, seed=4)
    features = extract_features(image, copy_move=True)
    match = find_copy_move(features, tests=100)
    assert flagged(match) and _hits(match, truth), match.ruled_out
    share, chance, outside = _agreement_outside(features, match, np.asarray(match.matrix))
    assert outside >= 12 and share - chance < 0.18


@pytest.mark.parametrize("seed", [0, 2])
def test_a_small_clone_is_significant_by_the_blocks_that_cover_it(seed):
    # A 3-4 % copy in a cell field: the centres of its matched 16-px blocks keep half a
    # block from its edges, and counting their area alone left it with a couple of
    # blocks (log10 NFA above 0); the blocks cover the whole copy.
    from simlab.duplicates.copy_move import _dense_match, rule_out_patterns

    image, truth = _plant(synthetic_cells(np.random.default_rng(seed)), "small",
                          np.random.default_rng(seed))
    features = extract_features(image, copy_move=True)
    match = rule_out_patterns(_dense_match(features, "a", 100), features, dense=True)
    assert flagged(match) and _hits(match, truth), match
    assert match.reasons[0].startswith("dense: ")


def test_a_connected_region_is_more_significant_than_as_many_blocks_anywhere():
    from simlab.local.significance import inlier_chance, log_nfa, log_nfa_region

    chance = inlier_chance(threshold=1.0, area=384 * 384)
    region = [log_nfa_region(blocks=k, cells=576, chance=chance, tests=1000)
              for k in range(2, 12)]
    anywhere = [log_nfa(inliers=k, correspondences=576, threshold=1.0, area=384 * 384,
                        model="none", tests=1000) for k in range(2, 12)]
    assert all(r < a for r, a in zip(region, anywhere))
    assert region == sorted(region, reverse=True)  # each more block is more evidence
    assert math.isinf(log_nfa_region(blocks=1, cells=576, chance=chance))
    # one region of 4 blocks in a 384-px image searched among 1000 tests: significant
    assert region[2] < 0 < region[0]


def test_a_finding_too_small_to_flag_does_not_hide_one_that_can_be(monkeypatch):
    # The search keeps the most significant finding; one with fewer distinct inliers
    # than the gate flags (FEWEST_INLIERS) must come after any it could flag.
    import dataclasses

    from simlab.duplicates import copy_move

    host = samples.sample_image("astronaut", max_side=320)
    image, _ = planted("shift", host)
    features = extract_features(image, copy_move=True)
    real = find_copy_move(features, tests=100)
    assert flagged(real) and real.inliers >= copy_move.FEWEST_INLIERS
    tiny = dataclasses.replace(real, inliers=copy_move.FEWEST_INLIERS - 1,
                               log_nfa=real.log_nfa - 50)
    monkeypatch.setattr(copy_move, "_dense_match", lambda *args, **kwargs: tiny)
    found = find_copy_move(features, tests=100, rule_out=False)
    assert found.inliers == real.inliers and flagged(found)


@pytest.mark.parametrize("seed", [7, 15])
def test_a_clone_in_a_smooth_enlarged_scan_is_flagged(seed):
    # A cell field with a copy, scanned and printed 2.5 times larger (a small micrograph
    # on a large panel): its blocks match about as well 2 px off the copy's shift, and
    # the 2-px uniqueness test alone kept 1-2 of them (nothing flagged).
    import cv2

    from simlab.lab.papers import _scan

    rng = np.random.default_rng(seed)
    cells = cv2.resize(synthetic_cells(rng), (256, 256), interpolation=cv2.INTER_AREA)
    image, truth = _plant(cells, "shift", np.random.default_rng(seed))
    factor = 2.5
    enlarged = cv2.resize(_scan(image, rng), None, fx=factor, fy=factor,
                          interpolation=cv2.INTER_LINEAR)
    scaled = {"target_box": [v * factor for v in truth["target_box"]],
              "source_polygon": (np.asarray(truth["source_polygon"]) * factor).tolist()}
    match = find_copy_move(extract_features(enlarged, copy_move=True), tests=100)
    assert flagged(match) and _hits(match, scaled), (match, match.ruled_out)


def test_keypoints_aligned_by_chance_are_ruled_out_by_the_pixels():
    import cv2
    from sklearn.datasets import load_sample_image

    # scikit-learn's China photograph at the integrity benchmark's 384 px: six distinct
    # keypoints agree on one similarity, significant at 232 images, yet the two regions'
    # pixels correlate 0.78 at it (the benchmark's copies: 0.91 and more).
    china = load_sample_image("china.jpg")
    china = cv2.resize(china, None, fx=384 / 640, fy=384 / 640, interpolation=cv2.INTER_AREA)
    features = extract_features(china, copy_move=True)
    assert flagged(find_copy_move(features, tests=232))  # keypoints alone
    match = find_copy_move(features, tests=232, pixels=lambda: china)
    assert not flagged(match) and match.ruled_out.startswith("chance: the two regions")
    # A pasted copy, its brightness and contrast changed, still agrees with its source.
    image, truth = planted("brightness", samples.sample_image("astronaut", max_side=384), 3)
    match = find_copy_move(extract_features(image, copy_move=True), tests=232,
                           pixels=lambda: image)
    assert flagged(match) and _hits(match, truth | {"path": ""})
    assert match.reasons[-1].startswith("pixels agree")  # found by its keypoints


def test_a_half_turn_copy_is_not_ruled_out_by_its_outline_s_pixels():
    from simlab.bench.pairs import _plant_copy_move

    # A square of a cell field pasted turned by 180 degrees beside its source: a half
    # turn fits either way round, its inliers lie in both copies, and their outline takes
    # in the ground between them too, which correlated under 0.85.
    rng = np.random.default_rng(50)
    host = synthetic_cells(rng)
    image, edit = _plant_copy_move(host, rng)
    assert edit.endswith("rotate 180")
    features = extract_features(image, copy_move=True)
    assert flagged(find_copy_move(features, tests=1000, pixels=lambda: image))
