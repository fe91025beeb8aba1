"""Duplicates in a folder: the API, the `simlab pairs` outputs, integrity cases, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from simlab import duplicates, samples
from simlab.cli import main
from simlab.errors import InvalidParameterError
from simlab.lab.samples import synthetic_cells

SIDE = 200  # small panels keep the file fast; every case below still has texture


def save(folder: Path, name: str, image: np.ndarray) -> Path:
    path = folder / name
    Image.fromarray(image).save(path)
    return path


def write_bad_files(folder: Path) -> dict[str, Path]:
    """The four ways a file in a figure folder can fail to be an image."""
    good_jpeg = folder / "tmp.jpg"
    Image.fromarray(samples.sample_image("coffee", max_side=64)).save(good_jpeg)
    data = good_jpeg.read_bytes()
    good_jpeg.unlink()
    bad = {"empty": folder / "empty.png", "text": folder / "legend.png",
           "truncated": folder / "cut.jpg", "tiny": folder / "tiny.png"}
    bad["empty"].write_bytes(b"")
    bad["text"].write_text("Figure 3: western blots\n")
    bad["truncated"].write_bytes(data[: len(data) // 3])
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(bad["tiny"])
    return bad


@pytest.fixture(scope="module")
def panel() -> np.ndarray:
    return samples.sample_image("astronaut", max_side=SIDE)


@pytest.fixture(scope="module")
def figure_folder(tmp_path_factory, panel):
    """A figure's panels: one reused mirrored, one rotated, one unrelated, bad files."""
    folder = tmp_path_factory.mktemp("figure")
    paths = {
        "original": save(folder, "fig1_a.png", panel),
        "mirrored": save(folder, "fig3_d.png", samples.flip(panel)),
        "rotated": save(folder, "fig5_b.png", samples.rotate(panel, 90)),
        "unrelated": save(folder, "fig2_c.png", samples.sample_image("coffee", max_side=SIDE)),
        "grey": save(folder, "fig4_e.png", synthetic_cells(np.random.default_rng(3))),
    }
    return folder, paths, write_bad_files(folder)


def pair_of(frame: pd.DataFrame, a: Path, b: Path) -> pd.Series:
    wanted = {str(a), str(b)}
    rows = frame[[{x, y} == wanted for x, y in zip(frame["a"], frame["b"])]]
    assert len(rows) == 1, f"expected one row for {wanted}, got\n{frame[['a', 'b', 'kind']]}"
    return rows.iloc[0]


# --- the command line -----------------------------------------------------------------

def test_pairs_cli_writes_csv_pictures_html_and_json(figure_folder, tmp_path, capsys):
    folder, paths, bad = figure_folder
    out = tmp_path / "report"
    code = main(["pairs", str(folder), "--out", str(out), "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    # The keys of earlier versions, plus the sections a sleuth reads separately.
    assert {"pairs", "skipped", "cross_image", "copy_move", "ruled_out", "groups",
            "redundant"} <= set(payload)
    assert payload["cross_image"] == payload["pairs"] and payload["copy_move"] == []

    # The three copies of one panel pair up with each other, and with nothing else.
    related = {str(paths[k]) for k in ("original", "mirrored", "rotated")}
    found = [{p["a"], p["b"]} for p in payload["pairs"]]
    assert len(found) == 3 and all(pair <= related for pair in found)
    for pair in payload["pairs"]:
        assert {"a", "b", "score", "inliers", "transform", "log_nfa", "nfa",
                "probability", "reasons"} <= set(pair)
        assert 0.3 <= pair["score"] <= 1 and pair["inliers"] >= 8
        # Flagged by significance: far fewer than one chance finding expected.
        assert pair["log_nfa"] < -10 and pair["nfa"] < 1e-10
        assert 0.5 < pair["probability"] <= 1 and "agree with one" in pair["reasons"][0]
        assert {"rotation_degrees", "scale", "mirrored", "overlap_a",
                "overlap_b"} <= set(pair["transform"])
    by_pair = {frozenset((p["a"], p["b"])): p for p in payload["pairs"]}
    mirrored = by_pair[frozenset((str(paths["original"]), str(paths["mirrored"])))]
    assert mirrored["transform"]["mirrored"] is True and mirrored["kind"] == "mirror"
    rotated = by_pair[frozenset((str(paths["original"]), str(paths["rotated"])))]
    assert rotated["transform"]["mirrored"] is False and rotated["kind"] == "rotation"
    assert abs(abs(rotated["transform"]["rotation_degrees"]) - 90) < 1

    # Bad files are skipped and listed with a reason; the run completed anyway.
    skipped = {item["path"]: item["reason"] for item in payload["skipped"]}
    assert set(skipped) == {str(p) for p in bad.values()}
    assert "empty" in skipped[str(bad["empty"])]
    assert "not a recognised image format" in skipped[str(bad["text"])]
    assert "truncated" in skipped[str(bad["truncated"])].lower()
    assert "too small" in skipped[str(bad["tiny"])]

    # One group of three images; two of them are redundant copies of the third.
    assert [set(group["images"]) for group in payload["groups"]] == [related]
    assert payload["groups"][0]["size"] == 3
    assert len(payload["redundant"]) == 2
    assert {item["path"] for item in payload["redundant"]} | {
        payload["redundant"][0]["keep"]} == related

    # pairs.csv has the same rows, in the same (most significant first) order.
    table = pd.read_csv(out / "pairs.csv")
    assert list(zip(table["a"], table["b"])) == [(p["a"], p["b"]) for p in payload["pairs"]]
    significance = [p["log_nfa"] for p in payload["pairs"]]
    assert significance == sorted(significance)
    assert {"kind", "inliers", "rotation_degrees", "scale", "mirrored", "overlap_a",
            "overlap_b", "picture"} <= set(table.columns)
    # One small JPEG per flagged pair, named in the CSV and shown on the HTML page.
    pictures = sorted((out / "pictures").iterdir())
    assert [p.name for p in pictures] == sorted(table["picture"])
    assert all(p.read_bytes()[:3] == b"\xff\xd8\xff" for p in pictures)
    assert all(Image.open(p).size[0] <= 1200 for p in pictures)
    page = (out / "index.html").read_text()
    assert all(f"pictures/{name}" in page for name in table["picture"])
    assert all(str(path) in page for path in bad.values())
    assert len(pd.read_csv(out / "skipped.csv")) == 4
    # Atomic writes leave no temporary files behind.
    assert not [p for p in out.rglob(".*")]


def test_pairs_report_inside_its_input_is_not_read_back(figure_folder, tmp_path):
    """`simlab pairs . --out pairs-report`, twice, then `simlab index .`: as a user does."""
    import shutil
    import subprocess
    import sys

    folder = tmp_path / "figure"
    shutil.copytree(figure_folder[0], folder)
    simlab = str(Path(sys.executable).with_name("simlab"))

    def pairs(*extra):
        done = subprocess.run([simlab, "pairs", ".", "--out", "pairs-report", *extra],
                              cwd=folder, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done

    first = json.loads(pairs("--json").stdout)
    assert len(first["pairs"]) == 3
    second = pairs()
    assert "3 flagged" in second.stdout and "pairs-report" not in second.stdout.split(
        "wrote")[0]
    # Paths print relative to the current directory, as the user typed the folder.
    assert "fig1_a.png" in second.stdout and str(folder) not in second.stdout
    third = json.loads(pairs("--json").stdout)
    assert [(p["a"], p["b"]) for p in third["pairs"]] == \
        [(p["a"], p["b"]) for p in first["pairs"]]
    assert not [p for p in third["pairs"] if "pairs-report" in p["a"] + p["b"]]

    # An index inside the folder is skipped too, and so is the report when indexing.
    done = subprocess.run([simlab, "index", ".", "--index", "ix", "--method", "phash",
                           "--json"], cwd=folder, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["images"] == 5  # the five good panels, no pictures
    shutil.copy(folder / "fig1_a.png", folder / "ix" / "inside-the-index.png")
    rerun = json.loads(pairs("--json").stdout)
    assert not [p for p in rerun["pairs"] if "inside-the-index" in p["a"] + p["b"]]


def test_pairs_report_removes_pictures_of_an_earlier_run(figure_folder, tmp_path, capsys):
    import shutil

    folder = tmp_path / "figure"
    shutil.copytree(figure_folder[0], folder)
    out = tmp_path / "report"
    assert main(["pairs", str(folder), "--out", str(out)]) == 0
    assert len(list((out / "pictures").glob("*.jpg"))) == 3
    # A picture of an older version (PNG) is stale too.
    (out / "pictures" / "0009_old__older.png").write_bytes(b"")
    (folder / "fig5_b.png").unlink()  # the rotated copy: two of the three pairs go
    (out / "pictures" / "my-notes.png").write_bytes(b"")  # not ours: kept
    assert main(["pairs", str(folder), "--out", str(out)]) == 0
    capsys.readouterr()
    table = pd.read_csv(out / "pairs.csv")
    assert len(table) == 1
    assert sorted(p.name for p in (out / "pictures").iterdir()) == sorted(
        [*table["picture"], "my-notes.png"])


def test_pairs_cli_table_and_bad_threshold(figure_folder, tmp_path, capsys):
    folder, paths, _ = figure_folder
    assert main(["pairs", str(folder), "--out", str(tmp_path / "r")]) == 0
    text = capsys.readouterr().out
    assert "3 flagged" in text and "mirror" in text and "skipped:" in text
    code = main(["pairs", str(folder), "--out", str(tmp_path / "r2"), "--threshold", "2"])
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("simlab: error:") and "threshold" in error and "\n" not in error


def test_picture_draws_only_inliers_and_outlines_the_region(figure_folder):
    from simlab.duplicates.report import draw_pair

    _, paths, _ = figure_folder
    a, b = duplicates.extract_features(np.asarray(Image.open(paths["original"]))), None
    crop = samples.crop(np.asarray(Image.open(paths["original"])), 0.5)
    b = duplicates.extract_features(crop)
    match = duplicates.verify_pair(a, b)
    picture = draw_pair(np.asarray(Image.open(paths["original"])), crop, match, max_lines=20)
    green = np.all(picture == (50, 220, 50), axis=2).sum()
    amber = np.all(picture == (255, 200, 0), axis=2).sum()
    assert green > 0 and amber > 0  # inlier lines and the outlined overlap are drawn
    none = duplicates.verify_pair(a, duplicates.extract_features(
        samples.sample_image("coffee", max_side=SIDE)))
    blank = draw_pair(np.asarray(Image.open(paths["original"])),
                      samples.sample_image("coffee", max_side=SIDE), none)
    assert not np.all(blank == (50, 220, 50), axis=2).any()  # no inliers, no lines


# --- integrity cases --------------------------------------------------------------------

@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_right_angle_rotations_are_found_with_their_angle(panel, degrees):
    a = duplicates.extract_features(panel)
    match = duplicates.verify_pair(a, duplicates.extract_features(samples.rotate(panel,
                                                                                 degrees)))
    assert match.kind == "rotation" and not match.mirrored and match.inliers > 50
    # simlab reports angles in image coordinates (clockwise positive), as compare() does.
    assert abs(((match.rotation_degrees + degrees) + 180) % 360 - 180) < 1
    assert match.scale == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("edit, rotation", [
    (lambda im: samples.flip(im), 0.0),
    (lambda im: samples.flip(im, "vertical"), 180.0),
    (lambda im: samples.rotate(samples.flip(im), 90), -90.0),
])
def test_mirrored_copies_match_against_flipped_descriptors(panel, edit, rotation):
    a = duplicates.extract_features(panel)
    b = duplicates.extract_features(edit(panel))
    plain = duplicates.verify_pair(a, b)
    flipped = duplicates.verify_pair(a, b, mirrored=True)
    assert flipped.inliers > 5 * max(plain.inliers, 1)  # the flipped match wins clearly
    assert flipped.kind == "mirror" and flipped.mirrored
    assert abs(((flipped.rotation_degrees - rotation) + 180) % 360 - 180) < 1


def test_mirror_permutation_equals_extracting_on_the_flipped_image(panel):
    import cv2

    grey = cv2.cvtColor(panel, cv2.COLOR_RGB2GRAY)
    sift = cv2.SIFT_create(nfeatures=300)
    keypoints, descriptors = sift.detectAndCompute(grey, None)
    width = grey.shape[1]
    mirrored_keypoints = [cv2.KeyPoint(width - 1 - k.pt[0], k.pt[1], k.size,
                                       (180 - k.angle) % 360, k.response, k.octave)
                          for k in keypoints]
    _, on_flipped = sift.compute(np.ascontiguousarray(grey[:, ::-1]), mirrored_keypoints)
    permuted = duplicates.mirror_descriptors(descriptors)
    error = np.linalg.norm(permuted - on_flipped, axis=1) / np.linalg.norm(on_flipped, axis=1)
    unpermuted = np.linalg.norm(descriptors - on_flipped, axis=1) / np.linalg.norm(
        on_flipped, axis=1)
    assert np.median(error) < 0.2 < np.median(unpermuted)


def test_contrast_and_colour_changes_and_a_crop(panel):
    a = duplicates.extract_features(panel)
    for edited in (samples.hue_shift(panel, 120), samples.grayscale(panel),
                   samples.brightness_contrast(panel, 1.8, contrast=0.7)):
        match = duplicates.verify_pair(a, duplicates.extract_features(edited))
        assert match.kind == "copy" and match.inliers > 30
        assert min(match.overlap_a, match.overlap_b) > 0.95
    part = samples.crop(panel, 0.4, anchor="top-left")
    match = duplicates.verify_pair(a, duplicates.extract_features(part))
    assert match.kind == "crop" and match.inliers > 20
    assert match.overlap_a == pytest.approx(0.4, abs=0.05)  # the crop covers 40 % of a
    assert match.overlap_b == pytest.approx(1.0, abs=0.02)  # and all of itself
    assert len(match.region_a) >= 4 and len(match.points_a) == len(match.points_b)


def test_copy_move_inside_one_image_is_reported_as_a_pair(tmp_path, panel):
    forged = panel.copy()
    forged[120:190, 110:180] = panel[10:80, 20:90]
    save(tmp_path, "forged.png", forged)
    save(tmp_path, "clean.png", samples.sample_image("camera", max_side=SIDE))
    result = duplicates.find(tmp_path, progress=False)
    assert len(result) == 1
    row = result.table.iloc[0]
    assert row.a == row.b == str(tmp_path / "forged.png") and row.kind == "copy-move"
    assert row.scale == pytest.approx(1.0, abs=0.05) and abs(row.rotation_degrees) < 2
    match = result.matches[(row.a, row.b)]
    shift = np.median(match.points_b - match.points_a, axis=0)
    assert np.abs(np.abs(shift) - [90, 110]).max() < 3  # (110-20, 120-10) either way round
    assert len(duplicates.find(tmp_path, progress=False, copy_move=False)) == 0


def passes_find_gates(match) -> bool:
    """Whether find() would report this match with its default gates (significance, no
    pattern explaining it)."""
    from simlab.duplicates.find import _gate

    return _gate(None, None, None)(match)


def forged_cell_field(seed: int):
    """A synthetic cell field with an 80-px square pasted turned by 90 degrees, and the
    centres (x, y) of the source square and of its copy."""
    image = synthetic_cells(np.random.default_rng(seed))
    side = image.shape[0]
    forged = image.copy()
    forged[side - 90:side - 10, 10:90] = np.rot90(image[10:90, side - 90:side - 10])
    return forged, np.array([side - 50.5, 49.5]), np.array([49.5, side - 50.5])


@pytest.mark.parametrize("seed", [1, 5])
def test_copy_move_turned_90_in_a_smooth_cell_field_is_found_densely(seed):
    # SIFT's keypoints on a smooth field are large: their descriptors also see the
    # surroundings of each copy, which differ, so the keypoint search misses these.
    forged, source, copy = forged_cell_field(seed)
    keypoints = duplicates.find_copy_move(duplicates.extract_features(forged))
    match = duplicates.find_copy_move(duplicates.extract_features(forged, copy_move=True))
    # The dense search gives the stronger evidence (keypoints find a few inliers at most).
    assert match.log_nfa < keypoints.log_nfa
    assert passes_find_gates(match) and match.kind == "copy-move"
    assert abs(match.rotation_degrees) == 90.0 and match.scale == 1.0
    assert not match.mirrored and match.inlier_ratio == 1.0
    # The transform maps one copy onto the other (which one is the source is unknown).
    moved = match.matrix[:2, :2] @ source + match.matrix[:2, 2]
    moved_back = match.matrix[:2, :2] @ copy + match.matrix[:2, 2]
    assert min(np.abs(moved - copy).max(), np.abs(moved_back - source).max()) < 1.0
    # Both copies are outlined: each about the pasted 80 x 80 px.
    area = forged.shape[0] * forged.shape[1]
    assert match.overlap_a == pytest.approx(80 * 80 / area, rel=0.25)
    assert match.overlap_b == pytest.approx(80 * 80 / area, rel=0.25)


def test_repeating_textures_and_patterns_are_not_copy_moves(tmp_path):
    # A wall of bricks repeats itself only approximately; a checkerboard repeats
    # exactly, at every period: no region has one source, so none is a copy. (Not
    # scikit-image's gravel or grass: each holds one region repeated pixel for pixel,
    # see the test below.)
    from skimage import data

    from simlab.io import load_image

    for name in ("brick", "checkerboard"):
        image = load_image(getattr(data, name)())
        save(tmp_path, f"{name}.png", image)
        match = duplicates.find_copy_move(duplicates.extract_features(image, copy_move=True))
        assert not passes_find_gates(match), (name, match)
    forged, _, _ = forged_cell_field(5)
    save(tmp_path, "forged_cells.png", forged)
    result = duplicates.find(tmp_path, progress=False)
    assert [(Path(match.a).name, match.kind) for match in result] == [
        ("forged_cells.png", "copy-move")]


def test_the_region_repeated_in_the_gravel_photograph_is_found_where_it_is():
    # scikit-image's gravel holds one patch of pebbles twice, about (403, 23) and
    # (439, 296), 35.5 px apart across: keypoints find it at 384 px, the dense search at
    # full size once the half pixel is applied. It is a real repeat, not a pattern:
    # moved onto its twin the patch differs by under 4 grey levels, 6 px off by about 40.
    import cv2
    from skimage import data

    from simlab.io import load_image

    image = load_image(data.gravel())
    match = duplicates.find_copy_move(duplicates.extract_features(image, copy_move=True))
    assert passes_find_gates(match) and not match.ruled_out
    centres = sorted(tuple(region.mean(axis=0)) for region in (match.region_a,
                                                               match.region_b))
    assert np.allclose(centres, [(403, 23), (439, 296)], atol=12), centres
    grey = image[..., 0].astype(np.float32)
    x0, y0, x1, y1 = 415, 285, 460, 310  # inside the lower copy

    def difference(shift_x: float, shift_y: float) -> float:
        move = np.float32([[1, 0, shift_x], [0, 1, shift_y]])  # the upper copy moved down
        moved = cv2.warpAffine(grey, move, grey.shape[::-1], flags=cv2.INTER_LINEAR)
        return float(np.abs(moved - grey)[y0:y1, x0:x1].mean())

    assert abs(match.rotation_degrees) < 1 and abs(match.scale - 1) < 0.01
    downwards = match.region_b[:, 1].mean() > match.region_a[:, 1].mean()  # a -> b
    shift_x, shift_y = (1 if downwards else -1) * match.matrix[:2, 2]
    best = min(difference(shift_x + fx, shift_y + fy) for fx in (-0.5, 0, 0.5)
               for fy in (-0.5, 0, 0.5))
    assert best < 5 < 25 < difference(shift_x + 6, shift_y), best


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_turned_coordinates_follow_numpy_rot90(turns):
    image = np.arange(6 * 9).reshape(6, 9)
    turned = np.rot90(image, turns)
    y, x = np.mgrid[0:turned.shape[0], 0:turned.shape[1]]
    source_x, source_y = duplicates.copy_move._from_turned(x, y, turns, image.shape)
    assert (image[source_y, source_x] == turned).all()


def test_grey_low_texture_images_do_not_pair_up(tmp_path):
    from skimage import data

    cell = data.cell()
    for seed in range(6):
        save(tmp_path, f"cells_{seed}.png", synthetic_cells(np.random.default_rng(seed)))
    for i in range(4):  # non-overlapping tiles of a real, grey, low-texture micrograph
        save(tmp_path, f"cell_tile_{i}.png", cell[:264, 132 * i:132 * (i + 1)])
    frame = duplicates.find(tmp_path, progress=False).table
    assert frame.empty, frame[["a", "b", "kind", "inliers", "inlier_ratio", "score"]]
    # Even with the gates open, chance alignments stay far below them: RANSAC inliers
    # must also turn and scale their keypoints as the transform does.
    loose = duplicates.find(tmp_path, progress=False, threshold=0, min_inliers=0,
                            min_inlier_ratio=0).table
    assert (loose["inliers"] < 8).all() and (loose["score"] < 0.3).all()


# --- API contract -------------------------------------------------------------------------

def test_find_frame_contract_and_feature_cache(figure_folder, monkeypatch):
    folder, paths, _ = figure_folder
    cache: dict = {}
    result = duplicates.find(folder, progress=False, features=cache)
    frame = result.table
    assert list(frame.columns) == list(duplicates.COLUMNS)
    assert list(frame["score"]) == sorted(frame["score"], reverse=True)
    assert set(frame["kind"]) <= {"copy", "crop", "rotation", "mirror", "copy-move"}
    assert set(result.matches) == set(zip(frame["a"], frame["b"]))
    assert [(m.a, m.b) for m in result] == list(zip(frame["a"], frame["b"]))
    stats = result.stats
    assert stats["images"] == 5 and stats["skipped"] == 4 and stats["flagged"] == len(frame)
    assert stats["candidates"] <= 6 * stats["images"]
    # The pairs the pruning sent to verification, by path (pairs_bench measures them).
    candidates = result.candidates
    assert len(candidates) == stats["candidates"]
    assert all({a, b} <= set(cache) and a != b for a, b, _, _ in candidates)
    assert set(cache) == {str(p) for p in paths.values()}

    # A second run with the same cache reads no image again (only the bad files are
    # tried again) and finds the same pairs.
    load = duplicates.features._load_and_extract

    def only_uncached(path, *args, **kwargs):
        assert str(path) not in cache, f"{path} was extracted again"
        return load(path, *args, **kwargs)

    monkeypatch.setattr(duplicates.features, "_load_and_extract", only_uncached)
    again = duplicates.find(folder, progress=False, features=cache)
    pd.testing.assert_frame_equal(again.table, frame)


def test_features_save_as_npz_without_pickle(tmp_path, panel):
    features = duplicates.extract_features(panel)
    np.savez(tmp_path / "features.npz", **features)
    with np.load(tmp_path / "features.npz", allow_pickle=False) as loaded:
        restored = {key: loaded[key] for key in loaded.files}
    assert set(restored) == set(features)
    match = duplicates.verify_pair(restored, features)
    assert match.kind == "copy" and match.inliers == match.matches


def test_pruning_keeps_few_candidates_and_the_mirrored_one(panel):
    others = ["camera", "coffee", "coins", "moon", "rocket", "chelsea"]
    sets = [duplicates.extract_features(samples.sample_image(n, max_side=SIDE))["descriptors"]
            for n in others]
    sets.append(duplicates.extract_features(panel)["descriptors"])
    sets.append(duplicates.extract_features(samples.flip(panel))["descriptors"])
    candidates = duplicates.candidate_pairs(sets, neighbours=2)
    assert len(candidates) <= 2 * len(sets)
    assert candidates[0][:3] == (6, 7, True)  # the best candidate is the mirrored copy


def test_pruning_on_threads_gives_the_candidates_of_one_thread(panel):
    """Over 512 images the similarities come in several blocks of rows, computed on
    threads and merged in order: the same pairs, in the same order, as one thread."""
    rng = np.random.default_rng(5)
    sift = duplicates.extract_features(panel, compact=True)["descriptors"]
    sets = [sift[rng.choice(len(sift), 30, replace=False)] for _ in range(700)]
    one = duplicates.candidate_pairs(sets, neighbours=3, workers=1)
    assert len(one) > 700 and one == duplicates.candidate_pairs(sets, neighbours=3, workers=2)


@pytest.mark.parametrize("method", ["rootsift", "sift"])
def test_compact_features_that_are_not_bytes_stay_the_kind_they_name(method, panel,
                                                                     monkeypatch):
    """Descriptors that are not whole numbers 0-255 stay float32: then they must already
    be the kind ``descriptor`` names, since only bytes are expanded where matched."""
    from simlab.local import check_features, extract

    full = duplicates.extract_features(panel, method=method)
    monkeypatch.setattr(extract, "sift_bytes", lambda descriptors: descriptors)
    held = duplicates.extract_features(panel, method=method, compact=True)
    assert held["descriptors"].dtype == np.float32 and str(held["descriptor"]) == method
    assert np.array_equal(check_features(held, job="pairs")["descriptors"],
                          full["descriptors"])


@pytest.mark.parametrize("method", ["rootsift", "sift"])
def test_features_held_as_sift_bytes_give_the_same_answers(method, panel):
    """encode_folder holds SIFT as uint8 (a quarter of float32's memory): every matcher
    expands it to exactly the descriptors extract_features gives, so the candidates,
    the verification and the copy-move search are those of float32 features."""
    from simlab.bow import DescriptorPool, train_vocabulary
    from simlab.duplicates.copy_move import rule_out_patterns
    from simlab.local import check_features
    from simlab.local.extract import matched_descriptors, root_descriptors

    # A copy-move, for the last check: in the rocket photograph, whose copied region's
    # keypoints repeat at 2 other offsets in RootSIFT but at 3 in plain SIFT.
    forged = samples.sample_image("rocket", max_side=SIDE).copy()
    forged[-70:-10, 120:180] = forged[10:70, 20:80]
    images = [samples.sample_image(n, max_side=SIDE) for n in ("camera", "coins")]
    images += [panel, forged, samples.rotate(samples.flip(panel), 90)]
    full = [duplicates.extract_features(image, method=method, copy_move=True)
            for image in images]
    held = [duplicates.extract_features(image, method=method, copy_move=True, compact=True)
            for image in images]
    assert all(h["descriptors"].dtype == np.uint8 for h in held)
    assert all(f["descriptors"].dtype == np.float32 for f in full)
    for f, h in zip(full, held):
        assert np.array_equal(check_features(h, job="pairs")["descriptors"], f["descriptors"])
    # The in-place expansion is RootSIFT bit for bit, empty histograms included.
    noise = np.random.default_rng(0).integers(0, 256, (300, 128)).astype(np.uint8)
    noise[:3] = 0
    assert np.array_equal(matched_descriptors(noise, method), root_descriptors(
        noise.astype(np.float32)) if method == "rootsift" else noise.astype(np.float32))

    # The pruning: the same vocabulary from a pool never concatenated, the same pairs.
    sets = [f["descriptors"] for f in full]
    pool = DescriptorPool([h["descriptors"] for h in held], method)
    assert len(pool) == sum(len(s) for s in sets)
    for size in (len(pool) // 3, 10 ** 6):  # sampled, and taken whole
        a = train_vocabulary(np.concatenate(sets), words=512, sample=size, seed=3)
        b = train_vocabulary(pool, words=512, sample=size, seed=3)
        assert np.array_equal(a.top, b.top) and np.array_equal(a.sub, b.sub)
    assert duplicates.candidate_pairs([h["descriptors"] for h in held], neighbours=3,
                                      kind=method) == \
        duplicates.candidate_pairs(sets, neighbours=3)

    # Verification of the mirrored, turned copy, and the copy-move inside the forgery.
    pair = [duplicates.verify_pair(x[2], x[4], mirrored=True) for x in (full, held)]
    assert pair[0].kind == "mirror" and pair[0].inliers > 20
    assert pair[1].inliers == pair[0].inliers and np.array_equal(pair[1].matrix,
                                                                 pair[0].matrix)
    moved = [duplicates.find_copy_move(x[3], tests=10) for x in (full, held)]
    assert moved[0].kind == "copy-move"
    if method == "rootsift":
        assert "repeats at 2 other offsets" in moved[0].ruled_out
    assert (moved[1].inliers, moved[1].reasons, moved[1].ruled_out, moved[1].log_nfa) == \
        (moved[0].inliers, moved[0].reasons, moved[0].ruled_out, moved[0].log_nfa)
    # The rule-outs called on their own take bytes too.
    found = duplicates.find_copy_move(full[3], tests=10, rule_out=False)
    again = [rule_out_patterns(found, x[3], dense=found.reasons[0].startswith("dense"))
             for x in (full, held)]
    assert again[0].ruled_out.startswith("periodic")
    assert (again[1].ruled_out, again[1].reasons) == (again[0].ruled_out, again[0].reasons)


def test_a_list_of_paths_works_like_a_folder(figure_folder, tmp_path):
    _, paths, _ = figure_folder
    missing = tmp_path / "gone.png"
    frame = duplicates.find([paths["original"], paths["mirrored"], missing,
                             paths["original"]], progress=False)  # a repeat is read once
    assert [(match.a, match.b, match.kind) for match in frame] == [
        (str(paths["original"]), str(paths["mirrored"]), "mirror")]
    assert frame.skipped == [{"path": str(missing), "reason": "no such file; "
                                       "check the path and the working directory"}]


def test_bad_options_and_empty_input(tmp_path):
    with pytest.raises(InvalidParameterError, match="rootsift"):
        duplicates.find(tmp_path, method="akaze", progress=False)
    with pytest.raises(InvalidParameterError, match="threshold"):
        duplicates.find(tmp_path, threshold=1.5, progress=False)
    result = duplicates.find(tmp_path, progress=False)
    assert len(result) == 0 and list(result.table.columns) == list(duplicates.COLUMNS)
    assert result.skipped == []
    flat = duplicates.extract_features(np.full((64, 64, 3), 128, np.uint8))
    assert len(flat["points"]) == 0
    assert duplicates.verify_pair(flat, flat).kind == "none"
    assert duplicates.find_copy_move(flat).kind == "none"


def test_browse_pairs_slider_filters_by_threshold_and_draws_the_chosen_pair(figure_folder):
    from simlab.lab.widgets import browse_pairs

    folder, paths, _ = figure_folder
    result = duplicates.find(folder, progress=False, threshold=0)
    ui = browse_pairs(result, threshold=0.3, rows=2)
    assert len(ui.frame) == min(2, (result.table["score"] >= 0.3).sum()) and ui.figure is not None
    assert list(ui.frame.index) == [1, 2]  # ranks around the pair shown
    ui.controls["rank"].value = 3
    assert list(ui.frame.index) == [2, 3]
    assert ui.figure.axes[0].get_title().count("|") == 1  # two file names in the title
    ui.controls["threshold"].value = 1.0
    assert len(ui.frame) == 0 and ui.figure is None
    assert ui.updates == 3


def test_folder_of_flat_images_gives_no_pairs(tmp_path):
    # No keypoints anywhere: nothing to compare, and no crash while learning words.
    from PIL import Image

    for i, level in enumerate((40, 120, 200)):
        Image.fromarray(np.full((64, 64, 3), level, np.uint8)).save(tmp_path / f"{i}.png")
    frame = duplicates.find(tmp_path, progress=False)
    assert len(frame) == 0


def test_skipping_the_doubled_octave_keeps_keypoints_in_image_pixels():
    from simlab import samples

    image = samples.sample_image("camera", max_side=512)
    full = duplicates.extract_features(image, max_keypoints=5000)  # no cap in the way
    coarse = duplicates.extract_features(image, max_keypoints=5000, fine_octave_below=400)
    height, width = image.shape[:2]
    assert (coarse["points"] >= 0).all()
    assert (coarse["points"] < [width, height]).all()
    # The coarse keypoints are the full extraction's larger ones, at the same places.
    distance = np.linalg.norm(coarse["points"][:, None] - full["points"][None], axis=2)
    assert np.median(distance.min(axis=1)) < 1.0
    assert np.median(coarse["sizes"]) > 1.5 * np.median(full["sizes"])
    assert len(coarse["points"]) < len(full["points"])
    untouched = duplicates.extract_features(image, max_keypoints=5000,
                                            fine_octave_below=1000)
    assert np.array_equal(untouched["points"], full["points"])


# --- significance, sections, groups -----------------------------------------------------

def test_pairs_report_puts_copy_moves_in_their_own_section_with_why(figure_folder, tmp_path,
                                                                     capsys):
    import shutil

    folder = tmp_path / "figure"
    shutil.copytree(figure_folder[0], folder)
    forged, _, _ = forged_cell_field(5)
    save(folder, "fig6_forged.png", forged)
    out = tmp_path / "report"
    assert main(["pairs", str(folder), "--out", str(out), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [Path(p["a"]).name for p in payload["copy_move"]] == ["fig6_forged.png"]
    assert all(p["a"] != p["b"] for p in payload["cross_image"])
    assert len(payload["pairs"]) == len(payload["cross_image"]) + 1
    found = payload["copy_move"][0]
    assert found["log_nfa"] < 0 and any("not periodic" in r for r in found["reasons"])
    page = (out / "index.html").read_text()
    # Cross-image findings come first, then copy-move, then what was ruled out.
    assert page.index('id="cross-image"') < page.index('id="copy-move"') < \
        page.index('id="ruled-out"') < page.index('id="groups"')
    assert "not symmetric" in page and "fig6_forged.png" in page
    groups = pd.read_csv(out / "groups.csv")
    assert list(groups["size"]) == [3]
    assert len(pd.read_csv(out / "redundant.csv")) == 2
    # The copy-move search can be switched off.
    assert main(["pairs", str(folder), "--out", str(tmp_path / "r2"), "--json",
                 "--no-copy-move"]) == 0
    assert json.loads(capsys.readouterr().out)["copy_move"] == []


def test_pairs_threshold_takes_a_significance_and_still_a_score(figure_folder, tmp_path,
                                                                capsys):
    folder, _, _ = figure_folder

    def flagged(*extra):
        assert main(["pairs", str(folder), "--out", str(tmp_path / "r"), "--json",
                     *extra]) == 0
        return json.loads(capsys.readouterr().out)["pairs"]

    default = flagged()
    assert len(default) == 3 and all(p["nfa"] <= 1 for p in default)
    # An absurdly strict bound flags nothing; the score rule of earlier versions works.
    assert flagged("--threshold", "nfa:1e-3000") == []
    assert len(flagged("--threshold", "0.3")) == 3
    assert main(["pairs", str(folder), "--out", str(tmp_path / "r"), "--threshold",
                 "nfa:-1"]) == 2
    assert "NFA bound" in capsys.readouterr().err


def test_a_weak_pair_is_not_flagged_by_default_but_a_weak_copy_move_is(figure_folder,
                                                                         tmp_path):
    """Pairs of images need NFA <= 1e-10 by default (look-alike textures give unrelated
    images a few inliers at NFAs near 0.01); copy-moves keep NFA <= 1; a bound the user
    gives applies to both, and the report says which rule flagged."""
    import dataclasses

    from simlab.duplicates.find import _gate
    from simlab.duplicates.report import write_report
    from simlab.local.significance import MATCH_LOG_NFA

    folder, paths, _ = figure_folder
    result = duplicates.find([paths["original"], paths["mirrored"]], progress=False)
    strong = next(iter(result))
    assert strong.a != strong.b and strong.log_nfa < MATCH_LOG_NFA
    # The chance alarm measured in a generated paper: 4 inliers, log10 NFA -1.88.
    weak = dataclasses.replace(strong, inliers=4, log_nfa=-1.88)
    weak_copy_move = dataclasses.replace(weak, b=weak.a, inliers=6)
    default = _gate(None, None, None)
    assert default(strong) and not default(weak) and default(weak_copy_move)
    given = _gate(None, None, None, max_log_nfa=0.0, cross_image_max_log_nfa=0.0)
    assert given(weak) and given(weak_copy_move)
    options = result.stats["options"]
    assert options["max_log_nfa"] == 0.0 and options["max_nfa"] == 1.0
    assert options["cross_image_max_log_nfa"] == MATCH_LOG_NFA
    stated = duplicates.find([paths["original"], paths["mirrored"]], progress=False,
                             max_nfa=0.01).stats["options"]
    assert stated["max_log_nfa"] == stated["cross_image_max_log_nfa"] == -2.0
    write_report(result, tmp_path / "report", progress=False)
    page = (tmp_path / "report" / "index.html").read_text()
    assert "a pair of images when at most 1e-10" in page


def test_significance_grows_weaker_with_more_comparisons(figure_folder):
    folder, paths, _ = figure_folder
    few = duplicates.find([paths["original"], paths["mirrored"]], progress=False)
    many = duplicates.find(folder, progress=False)
    pair = frozenset((str(paths["original"]), str(paths["mirrored"])))
    log_few = next(m.log_nfa for m in few if frozenset((m.a, m.b)) == pair)
    log_many = next(m.log_nfa for m in many if frozenset((m.a, m.b)) == pair)
    # 1 pair (plain and mirrored: 2 tests) against 10 pairs (20 tests) of the folder.
    assert log_many - log_few == pytest.approx(1.0, abs=1e-3)
    assert all(0.0 <= m.probability <= 1.0 for m in many)


def test_compare_prints_a_verdict_with_its_significance(figure_folder, capsys):
    _, paths, _ = figure_folder
    assert main(["compare", str(paths["original"]), str(paths["mirrored"]), "--method",
                 "phash", "--json"]) == 0
    same = json.loads(capsys.readouterr().out)["verdict"]
    assert same["same_source"] is True and same["kind"] == "mirror"
    assert same["log_nfa"] < -10 and same["probability"] > 0.9
    assert main(["compare", str(paths["original"]), str(paths["unrelated"]), "--method",
                 "phash"]) == 0
    text = capsys.readouterr().out
    assert "verdict: not the same source" in text
