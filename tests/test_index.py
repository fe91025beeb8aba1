"""Reverse image search: build, load, incremental updates, search, CLI, bad indexes."""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simlab import SimlabError, load_image, samples
from simlab.io import load_scaled
from simlab import index as simindex
from simlab.index import (CorruptIndexError, ForeignIndexError, Index, IndexNotFoundError,
                          IndexVersionError, build)
from simlab.cli import add_index_parsers

NAMES = ("astronaut", "coffee", "camera", "chelsea", "rocket", "immunohistochemistry")


def _write_folder(folder: Path, names=NAMES, side: int = 320) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(samples.sample_image(name, max_side=side)).save(folder / f"{name}.png")
    return folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return _write_folder(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="module")
def built(folder, tmp_path_factory) -> Index:
    path = tmp_path_factory.mktemp("ix") / "index"
    return build(folder, path=path, progress=False)


def _name(hit) -> str:
    return Path(hit.path).stem


@pytest.mark.parametrize("edit", ["crop", "jpeg", "flip", "rotation", "combined"])
def test_default_method_finds_the_source_of_an_edited_copy(built, edit):
    source = samples.sample_image("chelsea", max_side=320)
    query = {"crop": lambda: samples.crop(source, 0.4, anchor="top-left"),
             "jpeg": lambda: samples.jpeg(source, 10),
             "flip": lambda: samples.flip(source),
             "rotation": lambda: samples.rotate(source, -12),
             "combined": lambda: samples.jpeg(samples.downscale(
                 samples.crop(source, 0.5), 0.6), 20)}[edit]()
    hits = built.search(query, top=3)
    assert built.method == simindex.DEFAULT_METHOD == "bow-verify"
    assert _name(hits[0]) == "chelsea"
    assert hits[0].details["verified"] and hits[0].details["inliers"] >= 10
    assert hits[0].details["mirrored"] == (edit == "flip")
    assert hits[0].score > hits[1].score
    path, score, details = hits[0]  # a hit unpacks as (path, score, details)
    assert os.path.isabs(path) and 0.0 <= score <= 1.0 and isinstance(details, dict)


def test_unrelated_query_is_not_verified(built):
    hits = built.search(samples.sample_image("moon", max_side=320), top=3)
    assert not any(hit.details["verified"] for hit in hits)
    assert all(hit.score < 0.1 for hit in hits)


def _glow(size: int, centre: tuple[float, float], colour: tuple[int, int, int]) -> np.ndarray:
    """A smooth coloured glow on black, like a sky or a light texture: few keypoints."""
    rows, cols = np.mgrid[0:size, 0:size] / size
    weight = np.exp(-((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / 0.05)
    return (weight[..., None] * np.array(colour)).clip(0, 255).astype(np.uint8)


def test_low_texture_copy_is_found_by_the_global_fallback(folder, tmp_path):
    # Smooth images give SIFT next to nothing to verify; the ordinal thumbnail and the
    # colour histogram must still put the source first, through the rank fusion, and
    # say it is unverified.
    glows = _write_folder(tmp_path / "glows")
    layout = {"red": ((0.5, 0.5), (250, 30, 20)), "blue": ((0.3, 0.6), (40, 90, 250)),
              "green": ((0.7, 0.3), (30, 220, 60)), "amber": ((0.4, 0.4), (250, 170, 20))}
    for name, (centre, colour) in layout.items():
        Image.fromarray(_glow(256, centre, colour)).save(glows / f"glow-{name}.png")
    built = build(glows, progress=False)
    query = samples.jpeg(samples.downscale(_glow(256, *layout["blue"]), 0.5), 15)
    hits = built.search(query, top=3)
    assert _name(hits[0]) == "glow-blue"
    assert not hits[0].details["verified"]
    assert hits[0].details["ordinal"] > 0.9 > hits[1].details["ordinal"]
    assert 0 < hits[0].score < 0.1 and hits[0].score > hits[1].score
    # A darker, grey copy: the histogram no longer agrees, the pixel ranks still do.
    darker = samples.grayscale(samples.brightness_contrast(query, 1.8, contrast=0.8))
    ordinal = {_name(h): h.details["ordinal"] for h in built.search(darker, top=len(built))}
    assert max(ordinal, key=ordinal.get) == "glow-blue"
    assert ordinal["glow-blue"] > 0.8 > max(v for k, v in ordinal.items() if k != "glow-blue")
    # A mirrored copy: its layout matches only when mirroring is allowed.
    flipped = samples.flip(query)
    similarity = {mirror: {_name(h): h.details["ordinal"]
                           for h in built.search(flipped, top=len(built), mirror=mirror)}
                  for mirror in (True, False)}
    assert similarity[True]["glow-blue"] > 0.9 > similarity[False]["glow-blue"]


def test_saved_index_loads_with_the_same_results(built, folder):
    directory = built.path
    manifest = json.loads((directory / "index.json").read_text())
    assert manifest["format"] == "simlab-index" and manifest["version"] == simindex.FORMAT_VERSION
    assert {Path(f["path"]).name for f in manifest["files"]} == {f"{n}.png" for n in NAMES}
    assert all({"size", "mtime_ns"} <= set(f) for f in manifest["files"])
    # One shard of features, which also holds the vocabulary (field 'arrays').
    arrays = sorted(a.name for a in directory.glob("arrays-*.npz"))
    assert arrays == [manifest["arrays"]] == [s["arrays"] for s in manifest["shards"]]
    assert [s["count"] for s in manifest["shards"]] == [len(NAMES)]
    shard = directory / manifest["shards"][0]["arrays"]
    with np.load(shard, allow_pickle=False) as stored:  # no object arrays inside
        assert stored["words"].dtype == np.uint16
    loaded = Index.load(directory)
    query = samples.jpeg(samples.crop(samples.sample_image("rocket", max_side=320), 0.5), 15)
    assert [tuple(h[:2]) for h in loaded.search(query)] == \
        [tuple(h[:2]) for h in built.search(query)]
    assert loaded.vocabulary.words == built.vocabulary.words


def test_rerun_processes_only_new_or_changed_files_and_drops_deleted(folder, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(folder, images)
    path = tmp_path / "index"
    first = build(images, path=path, progress=False)
    assert first.last_update["added"] == len(NAMES)
    again = build(images, path=path, progress=False)
    assert again.last_update["added"] == again.last_update["updated"] == 0
    assert again.last_update["unchanged"] == len(NAMES)

    # New file, changed file (new content and mtime), deleted file.
    Image.fromarray(samples.sample_image("coins", max_side=320)).save(images / "coins.png")
    Image.fromarray(samples.sample_image("hubble_deep_field", max_side=320)) \
        .save(images / "camera.png")
    stat = (images / "camera.png").stat()
    os.utime(images / "camera.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    (images / "astronaut.png").unlink()
    updated = build(images, path=path, progress=False)
    summary = updated.last_update
    assert (summary["added"], summary["updated"], summary["removed"]) == (1, 1, 1)
    assert summary["unchanged"] == len(NAMES) - 2
    names = sorted(Path(p).name for p in Index.load(path).paths)
    assert "astronaut.png" not in names and "coins.png" in names and len(names) == len(NAMES)
    # The changed file is searched by its new content.
    hubble = samples.crop(samples.sample_image("hubble_deep_field", max_side=320), 0.6)
    assert _name(Index.load(path).search(hubble, top=1)[0]) == "camera"
    assert _name(Index.load(path).search(samples.sample_image("coins", max_side=320),
                                         top=1)[0]) == "coins"


def test_add_and_remove_in_memory(folder, tmp_path):
    index = build([folder / "coffee.png", folder / "rocket.png", folder / "camera.png"],
                  progress=False)
    assert len(index) == 3 and index.path is None
    extra = tmp_path / "moon.png"
    Image.fromarray(samples.sample_image("moon", max_side=320)).save(extra)
    summary = index.add([extra], progress=False)
    assert summary["added"] == 1 and len(index) == 4
    assert _name(index.search(samples.jpeg(samples.sample_image("moon", max_side=320), 20),
                              top=1)[0]) == "moon"
    assert index.remove([extra]) == 1 and len(index) == 3


def test_unreadable_files_are_skipped_and_listed(folder, tmp_path):
    images = tmp_path / "images"
    _write_folder(images, ("coffee", "camera", "rocket"))
    (images / "empty.png").write_bytes(b"")
    (images / "notes.jpg").write_text("not an image")
    full = (images / "coffee.png").read_bytes()
    (images / "truncated.png").write_bytes(full[: len(full) // 3])
    index = build(images, path=tmp_path / "index", progress=False)
    skipped = {Path(s["path"]).name: s["reason"] for s in index.skipped}
    assert set(skipped) == {"empty.png", "notes.jpg", "truncated.png"}
    assert "empty" in skipped["empty.png"] and "truncated" in skipped["truncated.png"]
    assert len(index) == 3
    manifest = json.loads((tmp_path / "index" / "index.json").read_text())
    assert {Path(s["path"]).name for s in manifest["skipped"]} == set(skipped)


@pytest.mark.parametrize("method", ["phash", "histogram", "bow", "naive-bow"])
def test_other_methods_find_a_recompressed_copy(folder, method):
    index = build(folder, method=method, progress=False)
    query = samples.jpeg(samples.sample_image("coffee", max_side=320), 30)
    hits = index.search(query, top=len(NAMES))
    assert _name(hits[0]) == "coffee"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(0.0 <= h.score <= 1.0 for h in hits)


def test_naive_bow_baseline_is_named_for_what_it_is(capsys):
    parser = argparse.ArgumentParser(prog="simlab")
    add_index_parsers(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit):
        parser.parse_args(["index", "--help"])
    help_text = capsys.readouterr().out
    assert "naive-bow" in help_text and "seed" not in help_text.lower()
    assert "forum question" in simindex.METHODS["naive-bow"]


def test_phash_index_handles_flips(folder):
    index = build(folder, method="phash", progress=False)
    hit = index.search(samples.flip(samples.sample_image("rocket", max_side=320)), top=1)[0]
    assert _name(hit) == "rocket" and hit.details["mirrored"]


def test_matches_are_drawable_on_full_size_images(built, folder):
    from simlab.plotting import plot_matches

    source = samples.sample_image("coffee", max_side=320)
    query = samples.flip(samples.crop(source, 0.5))
    result = built.matches(query, folder / "coffee.png")
    assert result.details["mirrored"] and result.details["inliers"] >= 10
    inliers = result.visual["inlier_mask"]
    points_query = result.visual["points_a"][inliers]
    points_match = result.visual["points_b"][inliers]
    # A centred half-area crop, mirrored: x_query = w_crop - 1 - (x_source - left).
    height, width = query.shape[:2]
    left, top = (source.shape[1] - width) // 2, (source.shape[0] - height) // 2
    expected_x = width - 1 - (points_match[:, 0] - left)
    assert np.median(np.abs(points_query[:, 0] - expected_x)) < 3
    assert np.median(np.abs(points_query[:, 1] - (points_match[:, 1] - top))) < 3
    figure = plot_matches(query, load_image(folder / "coffee.png"), result)
    assert figure.axes


def _cli(argv: list[str]) -> int:
    """What simlab.cli.main does with these commands: run, SimlabError -> exit 2."""
    parser = argparse.ArgumentParser(prog="simlab")
    add_index_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SimlabError as exc:
        print(f"simlab: error: {exc}")
        return 2


def test_cli_index_then_search_json(folder, tmp_path, capsys):
    images = tmp_path / "images"
    _write_folder(images, ("coffee", "camera", "rocket", "chelsea"))
    path = str(tmp_path / "index")
    assert _cli(["index", str(images), "--index", path, "--method", "phash"]) == 0
    assert "4 images (phash): 4 added" in capsys.readouterr().out
    query_a, query_b = tmp_path / "q1.jpg", tmp_path / "q2.png"
    Image.fromarray(samples.sample_image("rocket", max_side=320)).save(query_a, quality=25)
    Image.fromarray(samples.flip(samples.sample_image("camera", max_side=320))).save(query_b)
    assert _cli(["search", str(query_a), str(query_b), "--index", path, "--top", "2",
                 "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [entry["query"] for entry in payload] == [str(query_a), str(query_b)]
    for entry, expected in zip(payload, ("rocket.png", "camera.png")):
        assert set(entry) == {"query", "matches", "results"}  # matches: new, additive
        assert entry["matches"] == 0  # pHash never claims a match
        assert [r["rank"] for r in entry["results"]] == [1, 2]
        for result in entry["results"]:
            # The documented fields, plus what the text output shows, in "details".
            assert set(result) == {"rank", "path", "score", "match", "region", "details"}
            assert result["match"] is False and result["region"] is None
            assert os.path.isabs(result["path"]) and 0.0 <= result["score"] <= 1.0
            assert set(result["details"]) == {"hamming_distance", "mirrored"}
        assert Path(entry["results"][0]["path"]).name == expected
    # Plain text output names the hit too.
    assert _cli(["search", str(query_a), "--index", path, "--top", "1"]) == 0
    assert "rocket.png" in capsys.readouterr().out


def test_cli_search_json_has_each_hits_details_and_text_paths_are_relative(
        built, tmp_path, capsys, monkeypatch):
    query = tmp_path / "query.jpg"
    Image.fromarray(samples.crop(samples.sample_image("chelsea", max_side=320), 0.5)).save(
        query, quality=40)
    assert _cli(["search", str(query), "--index", str(built.path), "--top", "2",
                 "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    first = payload[0]["results"][0]
    assert Path(first["path"]).name == "chelsea.png" and os.path.isabs(first["path"])
    assert first["details"]["verified"] is True and first["details"]["inliers"] >= 10
    assert {"verified", "inliers"} <= set(payload[0]["results"][1]["details"])
    # Text output: the same details; paths relative to the current directory (as pairs).
    monkeypatch.chdir(Path(first["path"]).parent.parent)
    assert _cli(["search", str(query), "--index", str(built.path), "--top", "1"]) == 0
    text = capsys.readouterr().out
    line = next(line for line in text.splitlines() if "chelsea.png" in line)
    assert f"{Path(first['path']).parent.name}{os.sep}chelsea.png" in line
    assert first["path"] not in line and "verified=True" in line


def test_first_index_run_shows_no_empty_progress_line(tmp_path):
    import subprocess
    import sys

    images = _write_folder(tmp_path / "images", ("coffee", "camera", "rocket"), side=200)
    done = subprocess.run([str(Path(sys.executable).with_name("simlab")), "index",
                           str(images), "--index", str(tmp_path / "ix")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "indexing (vocabulary sample)" in done.stderr  # the bar that did the work
    assert " 0image" not in done.stderr and ": 0image" not in done.stderr


def test_cli_reports_bad_index_and_bad_query_in_one_line(tmp_path, capsys, built):
    assert _cli(["search", str(tmp_path / "q.png"), "--index", str(tmp_path / "none")]) == 2
    assert "no index here" in capsys.readouterr().out
    (tmp_path / "bad.png").write_bytes(b"")
    assert _cli(["search", str(tmp_path / "bad.png"), "--index", str(built.path)]) == 2
    assert "empty" in capsys.readouterr().out


def _copy_index(built: Index, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(built.path, target)
    return target


def test_truncated_arrays_file_is_a_clear_error(built, tmp_path):
    target = _copy_index(built, tmp_path)
    arrays = next(target.glob("arrays-*.npz"))
    arrays.write_bytes(arrays.read_bytes()[: arrays.stat().st_size // 2])
    with pytest.raises(CorruptIndexError, match="truncated or damaged.*rebuild"):
        Index.load(target)


def test_missing_or_mismatched_arrays_are_clear_errors(built, tmp_path):
    target = _copy_index(built, tmp_path)
    manifest = json.loads((target / "index.json").read_text())
    # A shard renamed: its file holds another identity (another generation's file).
    arrays = target / manifest["shards"][0]["arrays"]
    arrays = arrays.rename(target / f"arrays-{'0' * 32}.npz")
    manifest["shards"][0]["arrays"] = manifest["arrays"] = arrays.name
    (target / "index.json").write_text(json.dumps(manifest))
    with pytest.raises(CorruptIndexError, match="does not belong"):
        Index.load(target)
    arrays.unlink()
    with pytest.raises(CorruptIndexError, match="missing"):
        Index.load(target)


def test_bad_json_is_a_clear_error(built, tmp_path):
    target = _copy_index(built, tmp_path)
    (target / "index.json").write_text('{"format": "simlab-index", "vers')
    with pytest.raises(CorruptIndexError, match="not valid JSON"):
        Index.load(target)


def test_foreign_files_are_refused(tmp_path, folder):
    other = tmp_path / "other"
    other.mkdir()
    (other / "index.json").write_text(json.dumps({"name": "some other tool"}))
    with pytest.raises(ForeignIndexError, match="not a simlab index"):
        Index.load(other)
    (tmp_path / "file.npz").write_bytes(b"PK\x03\x04")
    with pytest.raises(ForeignIndexError, match="is a file"):
        Index.load(tmp_path / "file.npz")
    with pytest.raises(IndexNotFoundError):
        Index.load(tmp_path / "nowhere")
    # Never write an index over a folder that holds something else.
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.txt").write_text("precious")
    with pytest.raises(ForeignIndexError, match="not empty"):
        build([folder / "coffee.png"], method="phash", path=busy, progress=False)
    assert (busy / "thesis.txt").read_text() == "precious"


def test_version_mismatch_and_method_mismatch(built, tmp_path, folder):
    target = _copy_index(built, tmp_path)
    manifest = json.loads((target / "index.json").read_text())
    manifest["version"] = 99
    (target / "index.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexVersionError, match="version 99.*rebuild"):
        Index.load(target)
    with pytest.raises(ForeignIndexError, match="built with method 'bow-verify'"):
        build(folder, method="phash", path=built.path, progress=False)


def test_bad_options_are_named():
    with pytest.raises(SimlabError, match="try one of"):
        Index.new("surf")
    with pytest.raises(SimlabError, match="valid options"):
        Index.new("phash", words=10)


def test_vgg16_without_weights_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("SIMLAB_VGG16_WEIGHTS", raising=False)
    with pytest.raises(SimlabError, match="weights"):
        Index.new("vgg16")


def test_image_over_the_pixel_limit_is_skipped_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((300, 400, 3), np.uint8)).save(path)
    monkeypatch.setenv("SIMLAB_MAX_PIXELS", "1000")
    from simlab.errors import ImageTooLargeError

    with pytest.raises(ImageTooLargeError, match="big.png"):
        load_scaled(path, max_side=200)


def test_large_images_skip_the_doubled_octave_and_still_verify(tmp_path):
    # At 512 px (>= fine_octave_below) keypoints come from the image's own resolution up.
    folder = _write_folder(tmp_path / "large", names=NAMES[:4], side=512)
    built = build(folder, progress=False)
    assert built.options["fine_octave_below"] <= 512
    source = samples.sample_image("coffee", max_side=512)
    hits = built.search(samples.jpeg(samples.rotate(samples.crop(source, 0.5), 8), 25), top=2)
    assert _name(hits[0]) == "coffee" and hits[0].details["verified"]
    assert hits[0].details["inliers"] >= 10 and not hits[1].details["verified"]


def test_rank_fusion_lets_ties_share_a_rank_so_file_order_does_not_vote():
    # All-zero cosines (a query without keypoints) must not favour the first file.
    histogram = np.array([0.2, 0.9, 0.5])
    fused = simindex.rank_fusion([np.zeros(3), histogram])
    assert np.argmax(fused) == 1
    assert np.allclose(fused - simindex.rank_fusion([histogram]), 1 / simindex.FUSION_K)
    reversed_order = simindex.rank_fusion([np.zeros(3), histogram[::-1]])
    assert np.allclose(reversed_order, fused[::-1])


def test_few_inliers_among_many_correspondences_are_not_verified(built, monkeypatch):
    # A repetitive texture gives hundreds of same-word correspondences, and RANSAC then
    # lines up a dozen of them by chance: enough inliers, far too small a share.
    query = samples.jpeg(samples.sample_image("coffee", max_side=320), 40)
    assert _name(built.search(query, top=1)[0]) == "coffee"

    from simlab.local import Verification
    from simlab.search.backends import VerifiedWords

    def chance(query_side, stored, pairs, subset, **kwargs):
        many = np.arange(400)
        spread = np.stack([many, many], 1).astype(np.float32)  # 400 distinct places
        return Verification(np.stack([many, many], 1), many < 12, np.eye(3), 12,
                            "similarity", points_a=spread, points_b=spread)

    # The costly half of the verification (RANSAC) lines them up; the screen still runs.
    monkeypatch.setattr(VerifiedWords, "fit", staticmethod(chance))
    hits = built.search(query, top=len(built))
    assert not any(hit.details["verified"] for hit in hits)
    assert all(hit.score < 0.1 for hit in hits)
    # The same evidence counts when the share is not asked for.
    loose = built.search(query, top=len(built), min_inlier_ratio=0.0)
    assert all(hit.details["verified"] and hit.details["inliers"] == 12 for hit in loose)
