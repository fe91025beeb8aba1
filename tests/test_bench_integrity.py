"""`simlab bench integrity`: a small run measures every table the note reports."""

from __future__ import annotations

import json

import numpy as np

from simlab.bench.integrity import (COPY_MOVE_KINDS, IMAGE_KINDS, bench_integrity,
                                    build_integrity_set, fit_calibration, reliability)


def test_the_set_plants_each_kind_where_it_says(tmp_path):
    planted = build_integrity_set(tmp_path, per_kind=1, unedited_per_kind=2)
    edits = [item for item in planted.items if item["edit"]]
    assert sorted(item["edit"] for item in edits) == sorted(COPY_MOVE_KINDS)
    assert {item["image_kind"] for item in planted.items if not item["edit"]} == \
        set(IMAGE_KINDS)
    for item in edits:  # the copy's box lies inside the image, away from its source
        x0, y0, x1, y1 = item["target_box"]
        source = np.asarray(item["source_polygon"])
        gap = max(source[:, 0].min() - x1, x0 - source[:, 0].max(),
                  source[:, 1].min() - y1, y0 - source[:, 1].max())
        assert gap >= 7 and 0.02 < item["area"] < 0.2
    truth = json.loads((tmp_path / "planted.json").read_text())
    assert len(truth["items"]) == len(planted.items)


def test_a_small_run_reports_recall_false_alarms_cross_image_and_calibration(tmp_path):
    report = bench_integrity(per_kind=1, unedited_per_kind=2, cross_images=40,
                             out=tmp_path)
    recall = report["copy_move_recall"].set_index("kind")
    assert list(recall.index) == list(COPY_MOVE_KINDS) + ["all"]
    assert recall.loc["all", "planted"] == len(COPY_MOVE_KINDS)
    assert 0 <= recall.loc["all", "recall"] <= 1
    alarms = report["false_alarms"].set_index("image_kind")
    assert list(alarms.index) == list(IMAGE_KINDS) + ["all"]
    cross = report["cross_image"].set_index("kind")
    assert cross.loc["all", "planted"] > 0
    calibration = report["summary"]["calibration"]
    assert set(calibration) == {"cross-image", "copy-move"}
    assert 0 <= calibration["copy-move"]["ece"] <= 1
    assert (tmp_path / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((tmp_path / "integrity.json").read_text())
    assert saved["summary"]["copy_move_images"] == len(COPY_MOVE_KINDS) + 2 * len(IMAGE_KINDS)


def test_calibration_fit_and_reliability_agree_on_a_calibrated_source():
    rng = np.random.default_rng(0)
    evidence = rng.uniform(-5, 15, 4000)
    truth = rng.random(4000) < 1 / (1 + np.exp(-(0.6 * evidence - 3)))
    fitted = fit_calibration(evidence, truth)
    assert abs(fitted["slope"] - 0.6) < 0.1 and abs(fitted["intercept"] + 3) < 0.4
    predicted = 1 / (1 + np.exp(-(fitted["intercept"] + fitted["slope"] * evidence)))
    table, ece = reliability(predicted, truth)
    assert ece < 0.03 and table["count"].sum() == 4000


def test_a_resaved_repeat_counts_as_its_authors_copy_and_a_chance_alignment_does_not(
        tmp_path):
    import cv2
    from PIL import Image
    from skimage import data
    from sklearn.datasets import load_sample_image

    from simlab.bench.integrity import _exact_repeat
    from simlab.duplicates import extract_features, find_copy_move
    from simlab.io import load_image

    def flagged_in(name, image):
        path = tmp_path / f"{name}.png"
        Image.fromarray(image).save(path)
        return find_copy_move(extract_features(load_image(path), copy_move=True),
                              name=str(path), tests=100)

    # scikit-image's gravel holds one patch twice (see test_duplicates): a few grey
    # levels apart, yet correlating as a copy does, and only at its shift.
    assert _exact_repeat(flagged_in("gravel", load_image(data.gravel())))
    # Six keypoints of the China photograph aligned by chance (no pixel check here).
    china = cv2.resize(load_sample_image("china.jpg"), None, fx=0.6, fy=0.6,
                       interpolation=cv2.INTER_AREA)
    chance = flagged_in("china", china)
    assert chance.kind == "copy-move" and not chance.ruled_out
    assert not _exact_repeat(chance)
